"""``privacy-router policy ...``: run the Rego tests, evaluate one input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from privacy_router.errors import ConfigError, PolicyUnavailable
from privacy_router.policy.embedded import EmbeddedPolicyEngine
from privacy_router.policy.regotest import run_tests
from privacy_router.resources import resource_dir

app = typer.Typer(help="Test and evaluate Rego routing policies.", no_args_is_help=True)


@app.command("test")
def test_command(
    directory: Annotated[
        Path | None, typer.Argument(help="Policy folder (default: the bundled policies/)")
    ] = None,
) -> None:
    """Run every test_* rule in the *_test.rego files; exit 1 on any failure."""
    root = directory if directory is not None else resource_dir("policies")
    try:
        report = run_tests(root)
    except ConfigError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    for r in report.results:
        line = f"{'PASS' if r.passed else 'FAIL'} {r.package}.{r.name}"
        typer.echo(line if r.passed else f"{line}: {r.error}")
    typer.echo(report.coverage)
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
