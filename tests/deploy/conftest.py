"""deploy/validate.py is a script beside the files it checks, not part of the package: load it by path."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

VALIDATE = Path(__file__).resolve().parents[2] / "deploy" / "validate.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_validate", VALIDATE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["deploy_validate"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def validate() -> ModuleType:
    return _load()
