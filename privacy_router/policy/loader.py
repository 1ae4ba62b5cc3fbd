"""Reading a policy folder: Rego modules, data documents, the manifest and the files hash.

Layout (policies/README.md): ``**/*.rego`` are modules (``*_test.rego`` only for the test runner),
``data/<stem>.json`` is mounted at ``data.<stem>`` (``data/residency.json`` -> ``data.residency``),
``.manifest`` holds ``{"revision": "..."}``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import regopy

from privacy_router.errors import ConfigError

UNVERSIONED = "unversioned"


@dataclass(frozen=True)
class PolicyFiles:
    """The files of one policy folder, read once."""

    root: Path
    modules: dict[str, str]  # relative posix path -> Rego source
    data: dict[str, Any]  # merged base document
    revision: str
    files_hash: str


def _is_test(path: Path) -> bool:
    return path.name.endswith("_test.rego")


def read_policy_dir(root: Path, *, include_tests: bool = False) -> PolicyFiles:
    """Read modules, data and manifest under ``root``; raise ``ConfigError`` naming the bad file."""
    if not root.is_dir():
        raise ConfigError(f"policy.dir {str(root)!r} is not a directory; point it at a folder of .rego files")
    rego_paths = sorted(p for p in root.rglob("*.rego") if include_tests or not _is_test(p))
    if not any(not _is_test(p) for p in rego_paths):
        raise ConfigError(f"policy.dir {str(root)!r} holds no .rego policy module")
    data_dir = root / "data"
    json_paths = sorted(data_dir.glob("*.json")) if data_dir.is_dir() else []

    digest = hashlib.sha256()
    modules: dict[str, str] = {}
    data: dict[str, Any] = {}
    # The hash covers exactly what the engine loads, in a stable order, with the relative path so a
    # rename changes it too. Test files are left out: they do not change decisions.
    for path in sorted([*rego_paths, *json_paths], key=lambda p: p.relative_to(root).as_posix()):
        rel = path.relative_to(root).as_posix()
        raw = path.read_bytes()
        if not (include_tests and _is_test(path)):
            digest.update(rel.encode() + b"\0" + raw)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"policy file {rel!r} is not UTF-8") from exc
        if path.suffix == ".rego":
            modules[rel] = text
            continue
        try:
            data[path.stem] = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"policy data file {rel!r} is not valid JSON (line {exc.lineno})") from exc

    revision = UNVERSIONED
    manifest = root / ".manifest"
    if manifest.is_file():
        try:
            doc = json.loads(manifest.read_text("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"policy manifest {str(manifest)!r} is not valid JSON") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("revision"), str):
            raise ConfigError(f'policy manifest {str(manifest)!r} must be {{"revision": "<string>"}}')
        revision = doc["revision"]
    return PolicyFiles(root, modules, data, revision, digest.hexdigest())


def new_interpreter(files: PolicyFiles) -> regopy.Interpreter:
    """An interpreter holding the modules and data of ``files``; load errors become ``ConfigError``."""
    interp = regopy.Interpreter()
    try:
        for rel, source in files.modules.items():
            interp.add_module(rel, source)
        interp.add_data_json(json.dumps(files.data))
    except regopy.RegoError as exc:
        raise ConfigError(f"policy in {str(files.root)!r} failed to load: {_first_line(exc)}") from exc
    return interp


# rego-cpp reports errors as an s-expression: ``(error 10:m.rego|35|2 (errormsg 16:this is unclosed) ...)``
# where ``10:`` is the byte length of the token. Pull out file and message for a one-line summary.
_ERROR_RE = re.compile(r"\(error \d+:(?P<file>[^|\s]+)\|[^(]*\(errormsg \d+:(?P<msg>[^)]*)\)")


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    found = [f"{m['file']}: {m['msg']}" for m in _ERROR_RE.finditer(text)]
    if found:
        return "; ".join(found)[:300]
    text = text.strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def engine_error_text(interp: regopy.Interpreter) -> str:
    """The interpreter's last error (compile errors quote policy source, never input values)."""
    from regopy.rego_shared import rego_get_error

    try:
        return " ".join(str(rego_get_error(interp._impl)).split())[:500]
    except Exception:  # the error text is a diagnostic only; its absence is not a second failure
        return "no error text"
