"""The vendored chart library is the pinned upstream file, byte for byte (static/vendor/README.md)."""

from __future__ import annotations

import hashlib
from importlib import resources

from privacy_router.ui.routes import CHART_JS_VERSION

CHART_JS_SHA256 = "48444a82d4edcb5bec0f1965faacdde18d9c17db3063d042abada2f705c9f54a"


def test_vendored_chart_js_is_the_pinned_release() -> None:
    data = (resources.files("privacy_router.ui") / "static" / "vendor" / "chart.umd.min.js").read_bytes()
    assert hashlib.sha256(data).hexdigest() == CHART_JS_SHA256
    assert data.startswith(f"/*!\n * Chart.js v{CHART_JS_VERSION}\n".encode())
