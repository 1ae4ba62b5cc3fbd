"""Ship the team-owned top-level folders inside the wheel.

detectors/, policies/ and audit/ sit at the top of the repository because privacy engineers,
security teams and compliance own them; the router must still find them after a plain
``pip install .``. build_py copies them into ``privacy_router/_bundled/`` of the build tree,
and ``privacy_router.resources`` looks there first.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

BUNDLED = ("detectors", "policies", "audit")


class BuildWithBundledData(build_py):
    def run(self) -> None:
        super().run()
        root = Path(__file__).parent
        for name in BUNDLED:
            target = Path(self.build_lib) / "privacy_router" / "_bundled" / name
            shutil.copytree(root / name, target, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildWithBundledData})
