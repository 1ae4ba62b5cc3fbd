"""`privacy-router`: one command line for every user of the product.

serve               run the gateway (service owners point their SDKs at it; operators run it)
detect              JSONL in, findings out (privacy engineers)
eval detection      accuracy on labelled datasets, ours vs stock Presidio (privacy engineers)
policy test|eval    Rego tests and one-off decisions (security teams)
report economics    cost per route and backend, on-prem share, self-hosting crossover
audit query|verify  read and check the audit log (compliance officers)
simulate-upstream   a vLLM/OpenAI-compatible test double that records what it receives
keys hash           the SHA-256 to put in the config for a new API key
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from privacy_router.audit.commands import app as audit_app
from privacy_router.bench.commands import app as bench_app
from privacy_router.detection.commands import detect, eval_app
from privacy_router.errors import ConfigError
from privacy_router.logs import configure_logging
from privacy_router.policy.commands import app as policy_app
from privacy_router.report.commands import app as report_app
from privacy_router.upstream.commands import simulate_upstream

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
app.command("detect")(detect)
app.command("simulate-upstream")(simulate_upstream)
app.add_typer(policy_app, name="policy", help="Test and evaluate Rego policies.")
app.add_typer(audit_app, name="audit", help="Query and verify the audit log.")
app.add_typer(eval_app, name="eval")
app.add_typer(bench_app, name="bench", help="Benchmark: ours vs stock Presidio, gateway overhead.")
app.add_typer(report_app, name="report", help="Reports: the economics of the hybrid.")
keys_app = typer.Typer(no_args_is_help=True)
app.add_typer(keys_app, name="keys", help="API key helpers.")


@keys_app.command("hash")
def keys_hash(key: Annotated[str, typer.Argument(help="The API key to hash (or - to read stdin).")]) -> None:
    """Print the SHA-256 of an API key, for `api_keys[].key_sha256` in the config."""
    value = sys.stdin.readline().strip() if key == "-" else key
    typer.echo(hashlib.sha256(value.encode()).hexdigest())


@app.command()
def serve(
    config: Annotated[Path | None, typer.Option(help="YAML configuration file.")] = None,
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default from config: 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    onprem_url: Annotated[str | None, typer.Option(help="On-prem OpenAI-compatible base URL (…/v1).")] = None,
    onprem_model: Annotated[
        str, typer.Option(help="Model served on-prem (with --onprem-url).")
    ] = "llama-3.1-8b",
    onprem_region: Annotated[str, typer.Option(help="Region of the on-prem backend.")] = "onprem",
    external_url: Annotated[
        str | None, typer.Option(help="External OpenAI-compatible base URL (…/v1).")
    ] = None,
    external_api_key_env: Annotated[
        str | None, typer.Option(help="Environment variable holding the external API key.")
    ] = None,
    external_region: Annotated[str, typer.Option(help="Region of the external backend.")] = "us",
    external_model: Annotated[str, typer.Option(help="Model offered by the external backend.")] = "gpt-4o",
    audit_db: Annotated[Path | None, typer.Option(help="SQLite audit database path.")] = None,
    jurisdiction: Annotated[str | None, typer.Option(help="Jurisdiction of the default principal.")] = None,
    insecure_dev: Annotated[
        bool,
        typer.Option(help="Accept requests without API keys (binds 127.0.0.1 only). Never in production."),
    ] = False,
) -> None:
    """Run the gateway."""
    import uvicorn

    from privacy_router.app import create_app
    from privacy_router.config import load_settings
    from privacy_router.gateway import Gateway

    configure_logging()
    overrides: dict[str, Any] = {"server": {}, "backends": {}}
    if port is not None:
        overrides["server"]["port"] = port
    if host is not None:
        overrides["server"]["host"] = host
    if insecure_dev:
        overrides["server"]["insecure_dev"] = True
    if onprem_url:
        overrides["backends"]["onprem"] = [
            {"name": "onprem", "url": onprem_url, "region": onprem_region, "models": [onprem_model]}
        ]
    if external_url:
        overrides["backends"]["external"] = [
            {
                "name": "external",
                "url": external_url,
                "region": external_region,
                "models": [external_model],
                "api_key_env": external_api_key_env,
            }
        ]
    if audit_db is not None:
        overrides["audit"] = {"sqlite_path": str(audit_db)}
    if jurisdiction is not None:
        overrides["default_principal"] = {"service": "dev", "tenant": "dev", "jurisdiction": jurisdiction}
    overrides = {k: v for k, v in overrides.items() if v}
    try:
        settings = load_settings(config, **overrides)
        if settings.server.insecure_dev:
            if settings.server.host not in ("127.0.0.1", "localhost", "::1"):
                raise ConfigError(
                    "--insecure-dev binds to 127.0.0.1 only; remove --host or drop --insecure-dev"
                )
            typer.secho(
                "WARNING: --insecure-dev: requests WITHOUT API keys are accepted as principal "
                f"'{settings.default_principal.service}/{settings.default_principal.tenant}'. "
                "Bound to 127.0.0.1 only. Never use this in production.",
                fg=typer.colors.RED,
                err=True,
                bold=True,
            )
        elif not settings.api_keys and settings.auth.keys_file is None:
            raise ConfigError(
                "no API keys configured (config keys 'api_keys' or 'auth.keys_file'); add keys, or "
                "pass --insecure-dev for a local trial"
            )
        gateway = Gateway.from_settings(settings)
    except ConfigError as exc:
        typer.secho(f"error: {exc.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    from privacy_router.serving import uvicorn_config

    server = uvicorn.Server(uvicorn_config(create_app(gateway), settings.server))
    server.run()
    if not server.started:  # as uvicorn.run does: a failed start (e.g. port in use) is an error
        raise typer.Exit(3)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
