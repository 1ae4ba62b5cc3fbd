"""`privacy-router detect`: JSONL in, one JSONL line out per input, errors without tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from privacy_router.detection.commands import detect

# The lead's cli.py registers `detect` the same way on the real `privacy-router` app.
app = typer.Typer()
app.command()(detect)
runner = CliRunner()

LINES = [
    {"id": "a", "text": "Patient MRN: 00482913 admitted"},
    {"id": 2, "text": "Explain how photosynthesis works in two sentences."},
]
EXPECTED = [
    {
        "id": "a",
        "entities": [{"type": "MEDICAL_RECORD_NUMBER", "start": 13, "end": 21, "score": 0.95}],
        "sensitive": True,
    },
    {"id": 2, "entities": [], "sensitive": False},
]


def _jsonl(rows: list[dict[str, object]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def _outputs(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_detect_reads_stdin_and_writes_one_line_per_input() -> None:
    result = runner.invoke(app, [], input=_jsonl(LINES))
    assert result.exit_code == 0
    assert _outputs(result.stdout) == EXPECTED


def test_detect_reads_input_file(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(_jsonl(LINES), encoding="utf-8")
    result = runner.invoke(app, ["--input", str(path)])
    assert result.exit_code == 0
    assert _outputs(result.stdout) == EXPECTED


def test_malformed_lines_get_an_error_line_and_exit_code_1() -> None:
    stdin = (
        _jsonl([LINES[0]])
        + "{not json 536-90-4399\n"
        + '["a list"]\n'
        + '{"id": "no-text"}\n'
        + '{"id": {"x": 1}, "text": "hi"}\n'
        + "\n"
        + _jsonl([LINES[1]])
    )
    result = runner.invoke(app, [], input=stdin)
    assert result.exit_code == 1
    assert _outputs(result.stdout) == [
        EXPECTED[0],
        {
            "id": None,
            "error": "line 2: invalid JSON (Expecting property name enclosed in double quotes at column 2)",
        },
        {"id": None, "error": "line 3: expected a JSON object with 'id' and 'text'"},
        {"id": "no-text", "error": "line 4: 'text' must be a string"},
        {"id": None, "error": "line 5: 'id' must be a string or an integer"},
        EXPECTED[1],
    ]
    assert "536-90-4399" not in result.output
    assert "Traceback" not in result.output


def test_bad_config_is_reported_without_traceback(tmp_path: Path) -> None:
    config = tmp_path / "router.yaml"
    config.write_text("detection:\n  spacy_model: en_core_web_trf\n", encoding="utf-8")
    result = runner.invoke(app, ["--config", str(config)], input=_jsonl(LINES))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(
        "error: config key 'detection.spacy_model': spaCy pipeline 'en_core_web_trf'"
    )
