"""The compliance dashboard (issue 10): server-rendered pages under ``/ui``, served by the gateway.

Templates in ``templates/`` (Jinja2, autoescaped), static files in ``static/`` with Chart.js vendored
at a pinned version (``static/vendor/README.md``). See ``routes.py`` for the pages and guarantees
and ``docs/dashboard.md`` for what an officer sees.
"""

from privacy_router.ui.routes import router

__all__ = ["router"]
