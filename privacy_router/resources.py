"""Where the team-owned data folders (detectors/, policies/, audit/) are found at run time.

In a source checkout they are the top-level folders; in an installed wheel, setup.py has copied
them into ``privacy_router/_bundled/``.
"""

from pathlib import Path

from privacy_router.errors import ConfigError

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """Return the directory of one bundled data folder: ``detectors``, ``policies`` or ``audit``."""
    for candidate in (_PACKAGE / "_bundled" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise ConfigError(f"bundled folder {name!r} not found; reinstall privacy-router (pip install .)")
