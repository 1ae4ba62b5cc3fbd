"""The team-owned folders travel inside the wheel, and the router finds them there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_build_py_bundles_detectors_policies_and_audit(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    bundled = tmp_path / "privacy_router" / "_bundled"
    for name in ("detectors", "policies", "audit"):
        source = sorted(p.relative_to(ROOT / name) for p in (ROOT / name).rglob("*") if p.is_file())
        shipped = sorted(p.relative_to(bundled / name) for p in (bundled / name).rglob("*") if p.is_file())
        assert shipped == source, name
    assert (bundled / "policies" / ".manifest").is_file()


def test_resource_dir_prefers_the_bundled_copy(tmp_path: Path) -> None:
    code = "import privacy_router.resources as r; from pathlib import Path;print(r.resource_dir('policies'))"
    subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    ).stdout.strip()
    assert out == str(tmp_path / "privacy_router" / "_bundled" / "policies")
