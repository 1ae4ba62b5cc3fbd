"""Line coverage of Rego policies by their tests (``privacy-router policy test --coverage``).

regopy 1.5.2 has no coverage API (OPA's ``opa test --coverage`` has no equivalent in it), but two
things it does have are enough to compute coverage without changing the policy:

* the compiled bundle, saved as JSON, is an OPA IR plan: every rule is a function made of blocks of
  statements, and most statements carry the ``file`` and ``row`` (0-based) of the Rego expression
  they were compiled from;
* at log level ``DEBUG`` the rego-cpp virtual machine writes every statement it executes to the
  process's standard output, as ``NN  Name(...)`` (NN: the statement's index in its block), with
  ``++`` / ``--`` around every block it enters and leaves, indented by depth.

``trace_lines`` walks that trace alongside the plan: a ``++`` at depth k opens the next block of
whatever the last statement at depth k was (a call to a plan function opens that function's
blocks in order; a ``BlockStmt`` its blocks in order; a scan, ``not`` or ``with`` its one block),
and each statement line is the statement at that index of the open block. A policy line is
*reached* when a statement compiled from it was executed: evaluated, whether it then succeeded or
not, as in OPA's report. Lines of rules that no test references are not in the plan at all; they
are reported by their rule head. When the trace does not match the plan (a statement name differs,
or a block is opened by a statement that has none), coverage is reported as unavailable rather
than guessed.

The tests run once, traced, in a child process (``measure``), which reports their results and the
coverage: the trace goes to file descriptor 1, which the child points at a temporary file (one test
at a time, read line by line), and regopy's ``save_bundle`` crashes in a process that has loaded
spaCy. Compiling the suite is the costly part (regopy spends hundreds of MB on test modules that
use ``with``), so it is compiled once, in the child, and the compiler is freed before the plan is
saved. It costs about as much memory as a plain test run (policies/README.md has the measurement).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import gc
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regopy

_OPEN = re.compile(r"^( *)\+\+$")
_STMT = re.compile(r"^( *)(\d+)  ([A-Za-z]+)\(")
# A rule head at the start of a line: a name followed by a rule keyword or operator.
_RULE_HEAD = re.compile(r"^(?!package\b|import\b|default\b)([a-z_][a-z0-9_]*)\b(?=[\s(\[.]|$)", re.MULTILINE)


class CoverageUnavailable(Exception):
    """The trace could not be matched to the plan: report no coverage instead of a wrong one."""


@dataclass
class Coverage:
    covered: dict[str, set[int]] = field(default_factory=dict)  # file -> 1-based lines reached
    coverable: dict[str, set[int]] = field(default_factory=dict)  # file -> lines with statements
    unplanned_rules: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # never referenced

    @property
    def not_reached(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for rel in sorted(self.coverable):
            missing = sorted(self.coverable[rel] - self.covered.get(rel, set()))
            missing += [line for line, _ in self.unplanned_rules.get(rel, [])]
            if missing:
                out[rel] = sorted(set(missing))
        return out

    @property
    def percent(self) -> float:
        total = sum(len(v) for v in self.coverable.values()) + sum(
            len(v) for v in self.unplanned_rules.values()
        )
        hit = sum(len(self.covered.get(k, set()) & v) for k, v in self.coverable.items())
        return 100.0 * hit / total if total else 100.0

    def lines(self) -> Iterator[str]:
        """The report: one summary line, then one line per file with the lines never reached."""
        yield f"coverage: {self.percent:.1f}% of policy lines reached by the tests"
        for rel, missing in self.not_reached.items():
            yield f"  not reached: {rel}: {_ranges(missing)}"


def _ranges(lines: list[int]) -> str:
    parts: list[str] = []
    start = prev = lines[0]
    for n in [*lines[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(parts)


class _Sequential:
    """Opens the blocks of a plan, a function or a ``BlockStmt`` one after the other."""

    def __init__(self, blocks: list[dict[str, Any]]) -> None:
        self._blocks = blocks
        self._next = 0

    def open(self) -> list[dict[str, Any]]:
        if self._next >= len(self._blocks):
            raise CoverageUnavailable("trace opens more blocks than the plan has")
        block = self._blocks[self._next]
        self._next += 1
        stmts: list[dict[str, Any]] = block["stmts"]
        return stmts


class _Repeated:
    """The single block of a scan (once per element), a ``not`` or a ``with``."""

    def __init__(self, block: dict[str, Any]) -> None:
        self._stmts: list[dict[str, Any]] = block["stmts"]

    def open(self) -> list[dict[str, Any]]:
        return self._stmts


class PlanWalker:
    """Maps the VM's statement trace to the ``(file, line)`` of the statements of a saved plan."""

    def __init__(
        self, plan: dict[str, Any], policy_files: set[str], names: dict[str, str] | None = None
    ) -> None:
        """``names``: the module name the plan gives a file -> its path in the policy folder."""
        files = [f["value"] for f in plan["static"].get("files", [])]
        rel_of = names or {}
        self._file_of = {
            i: rel_of.get(name, name)
            for i, name in enumerate(files)
            if rel_of.get(name, name) in policy_files
        }
        self._plans = {p["name"]: p["blocks"] for p in plan["plans"]["plans"]}
        self._funcs = {f["name"]: f["blocks"] for f in (plan.get("funcs") or {}).get("funcs", [])}
        self.func_names = set(self._funcs)

    def coverable(self) -> dict[str, set[int]]:
        out: dict[str, set[int]] = {}
        for blocks in [*self._plans.values(), *self._funcs.values()]:
            for stmt in _all_stmts(blocks):
                where = self._where(stmt)
                if where is not None:
                    out.setdefault(where[0], set()).add(where[1])
        return out

    def _where(self, stmt: dict[str, Any]) -> tuple[str, int] | None:
        body = stmt["stmt"]
        rel = self._file_of.get(body.get("file", -1))
        if rel is None or not isinstance(body.get("row"), int):
            return None
        return rel, body["row"] + 1

    def walk(self, entrypoint: str, trace: Iterable[str], covered: dict[str, set[int]]) -> None:
        if entrypoint not in self._plans:
            raise CoverageUnavailable(f"no plan for {entrypoint}")
        owners: dict[int, Any] = {0: _Sequential(self._plans[entrypoint])}
        blocks: dict[int, list[dict[str, Any]]] = {}
        for line in trace:
            opened = _OPEN.match(line)
            if opened:
                depth = len(opened.group(1))
                owner = owners.get(depth)
                if owner is None:
                    raise CoverageUnavailable("trace opens a block no statement owns")
                blocks[depth + 1] = owner.open()
                continue
            found = _STMT.match(line)
            if not found:
                continue  # "--", VM notes, the printed input
            depth, index, name = len(found.group(1)), int(found.group(2)), found.group(3)
            stmts = blocks.get(depth)
            if stmts is None or index >= len(stmts) or not stmts[index]["type"].startswith(name):
                raise CoverageUnavailable(f"trace statement {name} does not match the plan")
            stmt = stmts[index]
            where = self._where(stmt)
            if where is not None:
                covered.setdefault(where[0], set()).add(where[1])
            owners[depth] = self._owner_of(stmt)

    def _owner_of(self, stmt: dict[str, Any]) -> Any:
        body = stmt["stmt"]
        if stmt["type"] == "CallStmt":
            func = self._funcs.get(body.get("func", ""))
            return _Sequential(func) if func is not None else None
        if "blocks" in body:
            return _Sequential(body["blocks"])
        if "block" in body:
            return _Repeated(body["block"])
        return None


def _all_stmts(blocks: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for block in blocks:
        for stmt in block["stmts"]:
            yield stmt
            body = stmt["stmt"]
            if "blocks" in body:
                yield from _all_stmts(body["blocks"])
            if "block" in body:
                yield from _all_stmts([body["block"]])


def _package(source: str) -> str | None:
    found = re.search(r"^\s*package\s+([A-Za-z_][\w.]*)", source, re.MULTILINE)
    return found.group(1) if found else None


def unplanned_rules(modules: dict[str, str], func_names: set[str]) -> dict[str, list[tuple[int, str]]]:
    """Rule heads of policy modules whose rule has no function in the plan: no test reaches them."""
    planned = {name.split(".", 1)[1] for name in func_names if "." in name}  # "g0.data.p.rule"
    out: dict[str, list[tuple[int, str]]] = {}
    for rel, source in modules.items():
        package = _package(source)
        if package is None:
            continue
        for m in _RULE_HEAD.finditer(source):
            path = f"data.{package}.{m.group(1)}"
            if path not in planned:
                line = source.count("\n", 0, m.start()) + 1
                out.setdefault(rel, []).append((line, m.group(1)))
    return out


@contextlib.contextmanager
def _captured_stdout(target: int) -> Iterator[None]:
    """Point file descriptors 1 and 2 at ``target`` (the VM writes its trace there)."""
    libc = ctypes.CDLL(None)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    os.dup2(target, 1)
    os.dup2(target, 2)
    try:
        yield
    finally:
        libc.fflush(None)  # C stdio buffers (C++ streams are synced with them) before restoring
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


@dataclass
class TracedRun:
    """What the child reports: every test's ``(package, name, passed, error)``, and the coverage
    (None, with ``note`` saying why, when the trace could not be matched to the plan)."""

    results: list[tuple[str, str, bool, str | None]]
    coverage: Coverage | None
    note: str = ""


def _traced(policy_dir: Path) -> TracedRun:
    """Compile the folder with its tests, run every test traced and walk the traces (child process)."""
    from privacy_router.policy.loader import new_interpreter, read_policy_dir
    from privacy_router.policy.regotest import discover_tests, run_test

    files = read_policy_dir(policy_dir, include_tests=True)
    policy_modules = {rel: src for rel, src in files.modules.items() if not rel.endswith("_test.rego")}
    # rego-cpp keeps only the last part of a module's name in the plan ("privacy_router/a.rego"
    # becomes "a.rego"), so modules are added under flat names that are unique and mapped back.
    flat = {f"m{i}_{Path(rel).name}": rel for i, rel in enumerate(sorted(files.modules))}
    by_rel = {rel: name for name, rel in flat.items()}
    compiler = new_interpreter(
        dataclasses.replace(files, modules={by_rel[rel]: src for rel, src in files.modules.items()})
    )
    tests = discover_tests(files.modules)
    entrypoints = [f"{pkg.replace('.', '/')}/{name}" for pkg, name in tests]
    try:
        bundle = compiler.build(None, entrypoints)
    except regopy.RegoError:
        raise _CompileError from None
    if not bundle.ok():
        raise _CompileError
    # The compiled bundle holds its data and runs in any interpreter. Freeing the compiler first
    # lets saving the plan and the traced run reuse its memory: the compilation is the costly part
    # (about 0.9 GB for the shipped suite), and saving the plan beside it costs 0.65 GB more.
    interp = regopy.Interpreter()
    del compiler
    gc.collect()
    run = TracedRun(results=[], coverage=None)
    with tempfile.TemporaryDirectory(prefix="rego-coverage-") as tmp:
        interp.save_bundle(str(Path(tmp) / "bundle"), bundle)
        plan = json.loads((Path(tmp) / "bundle" / "plan.json").read_text("utf-8"))
        walker = PlanWalker(plan, set(policy_modules), flat)
        del plan
        cov = Coverage(coverable=walker.coverable())
        cov.unplanned_rules = unplanned_rules(policy_modules, walker.func_names)
        if not cov.coverable and not cov.unplanned_rules:
            run.note = "the compiled plan names none of the policy files"
        trace_path = Path(tmp) / "trace.txt"
        for (package, name), entrypoint in zip(tests, entrypoints, strict=True):
            if run.note:  # coverage is lost: the remaining tests still run, untraced
                interp.log_level = regopy.LogLevel.NONE
                result = run_test(interp, bundle, package, name)
            else:
                interp.log_level = regopy.LogLevel.DEBUG
                # One test's trace at a time, in a file walked line by line (the matrix tests
                # write tens of MB of trace).
                fd = os.open(trace_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                try:
                    with _captured_stdout(fd):
                        result = run_test(interp, bundle, package, name)
                finally:
                    os.close(fd)
                try:
                    with trace_path.open("r", encoding="utf-8", errors="replace") as trace:
                        walker.walk(entrypoint, trace, cov.covered)
                except CoverageUnavailable as exc:
                    run.note = str(exc)
            run.results.append((result.package, result.name, result.passed, result.error))
    if not run.note:
        run.coverage = cov
    return run


class _CompileError(Exception):
    """The suite does not compile: the parent compiles it again itself to report the error."""


def measure(policy_dir: Path, timeout_s: float = 3600) -> TracedRun:
    """Run the tests of ``policy_dir`` traced, in a child process, and return their results and the
    coverage of its modules. The child is needed because the trace is written to file descriptor 1,
    and regopy 1.5.2's ``save_bundle`` crashes (``free(): invalid size``) in a process that has loaded
    spaCy, as the gateway and the test suite have. ``CoverageUnavailable`` when the child fails."""
    with tempfile.TemporaryDirectory(prefix="rego-coverage-") as tmp:
        out = Path(tmp) / "coverage.json"
        cmd = [sys.executable, "-m", "privacy_router.policy.coverage", str(policy_dir), str(out)]
        try:
            done = subprocess.run(
                cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired:
            raise CoverageUnavailable(f"the traced run took longer than {timeout_s:.0f} s") from None
        if done.returncode != 0 or not out.is_file():
            last = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
            raise CoverageUnavailable(f"the traced run failed ({last[0][:200]})")
        doc = json.loads(out.read_text("utf-8"))
    if "compile_error" in doc:
        raise CoverageUnavailable("the tests do not compile")
    results = [(str(p), str(n), bool(ok), e) for p, n, ok, e in doc["results"]]
    if "unavailable" in doc:
        return TracedRun(results, None, str(doc["unavailable"]))
    coverage = Coverage(
        covered={k: set(v) for k, v in doc["covered"].items()},
        coverable={k: set(v) for k, v in doc["coverable"].items()},
        unplanned_rules={k: [(n, r) for n, r in v] for k, v in doc["unplanned_rules"].items()},
    )
    return TracedRun(results, coverage)


def _main(argv: list[str]) -> int:
    policy_dir, out = Path(argv[0]), Path(argv[1])
    doc: dict[str, Any]
    try:
        run = _traced(policy_dir)
    except _CompileError:
        doc = {"compile_error": True}
    else:
        doc = {"results": run.results}
        if run.coverage is None:
            doc["unavailable"] = run.note
        else:
            doc["covered"] = {k: sorted(v) for k, v in run.coverage.covered.items()}
            doc["coverable"] = {k: sorted(v) for k, v in run.coverage.coverable.items()}
            doc["unplanned_rules"] = run.coverage.unplanned_rules
    out.write_text(json.dumps(doc), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
