"""CLI command ``privacy-router simulate-upstream`` (registered by ``privacy_router.cli``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from privacy_router.upstream.simulator import DEFAULT_MODELS, FLAVORS, Faults, serve


def simulate_upstream(
    flavor: Annotated[
        str,
        typer.Option(
            "--flavor",
            help="Wire format to speak: vllm, openai, anthropic, azure, gemini, bedrock, tgi or trtllm.",
        ),
    ] = "vllm",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port to listen on.")] = 8001,
    record: Annotated[
        Path | None,
        typer.Option("--record", help="Append every request (path, headers, body) as a JSONL line to FILE."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Served model id(s), comma-separated. Default: llama-3.1-8b / gpt-4o."),
    ] = None,
    fault: Annotated[
        str | None,
        typer.Option(
            "--fault",
            help=(
                "Fault for every request: fail:STATUS, stall:SECONDS, drop:K, truncate:K,"
                " slow:MS, error-event:K (comma-separated)."
            ),
        ),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            help=(
                "Require this key (Bearer; azure: api-key header). bedrock: KEYID:SECRET, and every"
                " SigV4 signature is verified with it."
            ),
        ),
    ] = None,
) -> None:
    """Run a GPU-free vLLM/OpenAI simulator that records every request it receives (the leak oracle)."""
    if flavor not in FLAVORS:
        raise typer.BadParameter(f"use one of {', '.join(FLAVORS)}", param_hint="--flavor")
    try:
        Faults.parse(fault)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--fault") from None
    serve(flavor, port, record, model or DEFAULT_MODELS[flavor], fault, host, api_key)
