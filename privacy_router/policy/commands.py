"""``privacy-router policy ...``: run the Rego tests, evaluate one input, check a policy over a
generated matrix, replay the audit log against a candidate policy (policies/README.md)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from privacy_router.config import AuditSettings, load_settings
from privacy_router.errors import ConfigError, PolicyUnavailable, RouterError
from privacy_router.policy.embedded import EmbeddedPolicyEngine
from privacy_router.policy.regotest import run_tests
from privacy_router.policy.replay import check_policy, replay, transition_lines
from privacy_router.resources import resource_dir

app = typer.Typer(help="Test and evaluate Rego routing policies.", no_args_is_help=True)


@app.command("test")
def test_command(
    directory: Annotated[
        Path | None, typer.Argument(help="Policy folder (default: the bundled policies/)")
    ] = None,
    coverage: Annotated[
        bool,
        typer.Option(
            "--coverage", help="Run the tests traced, in a child process; list the lines never reached"
        ),
    ] = False,
) -> None:
    """Run every test_* rule in the *_test.rego files; exit 1 on any failure."""
    root = directory if directory is not None else resource_dir("policies")
    try:
        report = run_tests(root, coverage=coverage)
    except ConfigError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    for r in report.results:
        line = f"{'PASS' if r.passed else 'FAIL'} {r.package}.{r.name}"
        typer.echo(line if r.passed else f"{line}: {r.error}")
    for line in report.coverage_lines():
        typer.echo(line)
    typer.echo(f"{report.passed} passed, {report.failed} failed")
    if not report.ok:
        raise typer.Exit(1)


@app.command("eval")
def eval_command(
    input_file: Annotated[Path, typer.Option("--input", help="JSON file holding one policy input")],
    policy: Annotated[
        Path | None, typer.Option("--policy", help="Policy folder (default: the bundled policies/)")
    ] = None,
) -> None:
    """Evaluate one policy input and print the validated decision as JSON."""
    try:
        policy_input: Any = json.loads(input_file.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        typer.echo(f"error: cannot read {str(input_file)!r} as JSON ({type(exc).__name__})", err=True)
        raise typer.Exit(1) from exc
    if not isinstance(policy_input, dict):
        typer.echo("error: the policy input must be a JSON object", err=True)
        raise typer.Exit(1)
    try:
        engine = EmbeddedPolicyEngine(policy)
        decision = engine.evaluate(policy_input)
    except (ConfigError, PolicyUnavailable) as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    out = {
        "action": decision.action,
        "backend": decision.backend,
        "scrub_entities": list(decision.scrub_entities),
        "reasons": list(decision.reasons),
        "policy_id": decision.policy_id,
        "policy_revision": engine.info.revision,
        "policy_hash": engine.info.files_hash,
    }
    typer.echo(json.dumps(out, indent=2))


@app.command("check")
def check_command(
    directory: Annotated[
        Path | None, typer.Argument(help="Policy folder (default: the bundled policies/)")
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="A covering subset (~300 inputs) instead of the full matrix")
    ] = False,
) -> None:
    """Compile the policy and validate its decision, and the preference step's order, for every
    generated input; exit 1 on any error."""
    root = directory if directory is not None else resource_dir("policies")
    try:
        report = check_policy(root, quick=quick)
    except ConfigError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    if report.preference_active:
        typer.echo("preference step: on (each decision's backends in the order the preference answers)")
    else:
        typer.echo("preference step: off (preference.active is false: the decision's own order)")
    for message, cases in sorted(report.errors.items()):
        shown = ", ".join(cases[:3]) + (f" (+{len(cases) - 3} more)" if len(cases) > 3 else "")
        typer.echo(f"ERROR {message}: {len(cases)} input(s), e.g. {shown}")
    counts = ", ".join(f"{action} {n}" for action, n in sorted(report.actions.items()))
    bad = sum(len(c) for c in report.errors.values())
    typer.echo(f"{report.inputs} inputs checked: {counts or 'no valid decision'}; {bad} error(s)")
    if not report.ok:
        raise typer.Exit(1)


# "7d", "12h": relative to now, for "replay last week" without date arithmetic in the shell.
_RELATIVE = re.compile(r"(\d{1,4})([dh])")


def _when(value: str | None, *, end_of_day: bool) -> datetime | None:
    """ISO date or datetime, or a duration back from now (``7d``, ``12h``). Naive values are UTC;
    a bare date means its start for --since and the end of that day for --until."""
    if value is None:
        return None
    relative = _RELATIVE.fullmatch(value)
    if relative:
        n, unit = int(relative[1]), relative[2]
        return datetime.now(UTC) - (timedelta(days=n) if unit == "d" else timedelta(hours=n))
    try:
        if len(value) == 10:
            start = datetime.fromisoformat(value).replace(tzinfo=UTC)
            return start + timedelta(days=1) if end_of_day else start
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO date/datetime or a duration like 7d") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@app.command("replay")
def replay_command(
    policy: Annotated[Path, typer.Option("--policy", help="Candidate policy folder")],
    since: Annotated[str | None, typer.Option("--since", help="ISO date/datetime or 7d, 12h")] = None,
    until: Annotated[str | None, typer.Option("--until", help="ISO date/datetime (exclusive)")] = None,
    audit_db: Annotated[
        Path | None, typer.Option("--audit-db", help="SQLite audit file (default: --config's audit section)")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="privacy-router YAML configuration")] = None,
    examples: Annotated[int, typer.Option("--examples", help="Audit record ids shown per change")] = 5,
) -> None:
    """Re-evaluate the recorded policy inputs against a candidate policy, as the router would (the
    preference step included); print old -> new counts, a changed backend order counting as a change."""
    from privacy_router.audit.factory import open_raw
    from privacy_router.audit.query import query_records

    settings = load_settings(config).audit if config is not None else AuditSettings()
    if audit_db is not None:
        if not audit_db.is_file():
            typer.echo(f"error: no audit database at {audit_db}", err=True)
            raise typer.Exit(2)
        settings = settings.model_copy(update={"store": "sqlite", "sqlite_path": audit_db})
    elif config is None:
        typer.echo("error: give --audit-db FILE or --config FILE", err=True)
        raise typer.Exit(2)
    start, end = _when(since, end_of_day=False), _when(until, end_of_day=True)
    try:
        candidate = EmbeddedPolicyEngine(policy)
        store = open_raw(settings)
    except RouterError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    try:
        records = query_records(store, since=start, until=end, record_type="decision")
    finally:
        store.close()
    report = replay(records, candidate, examples=examples)
    typer.echo(
        f"candidate {candidate.info.revision} ({candidate.info.files_hash[:12]}): "
        f"{report.records} decision(s) replayed, {report.changed} would change "
        f"({report.changed_action} action, {report.changed - report.changed_action} backend order only), "
        f"{report.skipped} without a recorded policy input"
    )
    for line in transition_lines(report):
        typer.echo(line)
