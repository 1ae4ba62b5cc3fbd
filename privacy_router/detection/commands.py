"""``privacy-router detect`` and ``privacy-router eval detection``, for privacy engineers.

``detect``: JSONL in, findings out, for privacy engineers and batch jobs.

Input lines are ``{"id": ..., "text": ...}``; each gives exactly one output line
``{"id": ..., "entities": [{"type", "start", "end", "score"}], "sensitive": bool}`` in input order,
with offsets into the original text. A malformed line gives ``{"id": <id or null>, "error": "..."}``
and the command exits 1 after the last line. Errors never quote the input text.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from privacy_router.config import load_settings
from privacy_router.detection.engine import DetectionEngine, is_sensitive
from privacy_router.detection.evaluate import (
    DatasetError,
    Format,
    Report,
    load_dataset,
    ours,
    render,
    run_detector,
    score,
    stock_presidio,
)
from privacy_router.errors import ConfigError, DetectionError

# Lines analysed per engine call: large enough for nlp.pipe to amortise, small enough that output
# keeps flowing for long inputs.
CHUNK = 64


def _parse(line_no: int, line: str) -> tuple[Any, str | None, str | None]:
    """Return (id, text, error) for one input line."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        # exc.msg and the column never contain the document itself.
        return None, None, f"line {line_no}: invalid JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(obj, dict):
        return None, None, f"line {line_no}: expected a JSON object with 'id' and 'text'"
    ident = obj.get("id")
    if ident is not None and not isinstance(ident, str | int):
        return None, None, f"line {line_no}: 'id' must be a string or an integer"
    text = obj.get("text")
    if not isinstance(text, str):
        return ident, None, f"line {line_no}: 'text' must be a string"
    return ident, text, None


def _chunks(stream: TextIO) -> Iterator[list[tuple[Any, str | None, str | None]]]:
    chunk: list[tuple[Any, str | None, str | None]] = []
    for line_no, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        chunk.append(_parse(line_no, line))
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run(engine: DetectionEngine, stream: TextIO, out: TextIO) -> bool:
    """Process every line of ``stream``; return True when all lines were well formed."""
    ok = True
    for chunk in _chunks(stream):
        texts = [text for _, text, error in chunk if error is None and text is not None]
        results = iter(engine.analyze(texts))
        for ident, text, error in chunk:
            if error is not None or text is None:
                ok = False
                out.write(json.dumps({"id": ident, "error": error}) + "\n")
                continue
            findings = next(results)
            entities = [
                {"type": f.entity_type, "start": f.start, "end": f.end, "score": round(f.score, 4)}
                for f in findings
            ]
            record = {"id": ident, "entities": entities, "sensitive": is_sensitive(findings)}
            out.write(json.dumps(record) + "\n")
        out.flush()
    return ok


def detect(
    input: Annotated[
        Path | None,
        typer.Option("--input", help="JSONL file of {id, text} lines (default: stdin).", dir_okay=False),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="privacy-router YAML config file.", dir_okay=False)
    ] = None,
) -> None:
    """Scan JSONL {"id", "text"} lines and print the findings of each as one JSONL line."""
    try:
        settings = load_settings(config)
        engine = DetectionEngine.from_settings(settings.detection)
    except ConfigError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(code=2) from None
    try:
        if input is None:
            ok = run(engine, sys.stdin, sys.stdout)
        else:
            with input.open(encoding="utf-8") as stream:
                ok = run(engine, stream, sys.stdout)
    except OSError as exc:
        typer.echo(f"error: cannot read {input}: {exc.strerror}", err=True)
        raise typer.Exit(code=2) from None
    except UnicodeDecodeError:
        typer.echo("error: input is not UTF-8", err=True)
        raise typer.Exit(code=2) from None
    except DetectionError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(code=2) from None
    if not ok:
        raise typer.Exit(code=1)


eval_app = typer.Typer(no_args_is_help=True, help="Measure detection accuracy on labelled datasets.")


@eval_app.command("detection")
def eval_detection(
    dataset: Annotated[
        list[Path],
        typer.Option(
            "--dataset",
            help="Labelled file (repeat for several): presidio-research .json, WNUT .conll, deidgate .jsonl.",
            exists=True,
            dir_okay=False,
        ),
    ],
    format: Annotated[
        str | None,
        typer.Option("--format", help="presidio, conll or deidgate (default: from the file suffix)."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="privacy-router YAML config file.", dir_okay=False)
    ] = None,
    stock: Annotated[bool, typer.Option(help="Also run stock Presidio side by side.")] = True,
    show_leaks: Annotated[
        int, typer.Option(help="Print the first N leaked spans (values!) per detector.")
    ] = 0,
    output: Annotated[
        Path | None,
        typer.Option("--output", help="Also write the tables to this Markdown file.", dir_okay=False),
    ] = None,
) -> None:
    """Per-type P/R/F2, leak rate, document recall and clean-document flag rate: ours vs stock Presidio."""
    if format is not None and format not in ("presidio", "conll", "deidgate"):
        typer.echo("error: --format must be presidio, conll or deidgate", err=True)
        raise typer.Exit(code=2)
    fmt: Format | None = format  # type: ignore[assignment]  # checked just above
    try:
        settings = load_settings(config)
        engine = DetectionEngine.from_settings(settings.detection)
        detectors = {"ours": ours(engine)}
        if stock:
            detectors["stock"] = stock_presidio(settings.detection.spacy_model)
        datasets = [load_dataset(path, fmt) for path in dataset]
    except ConfigError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(code=2) from None
    except (DatasetError, OSError, UnicodeDecodeError, ValueError) as exc:
        typer.echo(f"error: cannot load the dataset: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(code=2) from None
    chunks = [
        f"detector configuration: ours = {engine.spacy_model}, packs {engine.pack_versions}, "
        f"score threshold {settings.detection.score_threshold}; stock = Presidio default recognizers, "
        "same spaCy pipeline, score threshold 0\n"
    ]
    typer.echo(chunks[0])
    for data in datasets:
        reports: dict[str, Report] = {
            name: score(data, run_detector(detector, data)) for name, detector in detectors.items()
        }
        table = render(data, reports, show_leaks=show_leaks)
        typer.echo(table)
        chunks.append(table)
    if output is not None:
        output.write_text("\n".join(chunks), encoding="utf-8")


if __name__ == "__main__":
    typer.run(detect)
