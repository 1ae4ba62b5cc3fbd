"""`make demo`: the whole product on one machine, through the real openai SDK.

Starts two upstream simulators on loopback (an on-prem vLLM and an external OpenAI-compatible
API), starts the gateway, sends six kinds of request, prints where each went, verifies the audit
log, and proves that the external simulator never received a sensitive value. Exits 0 only if
every expectation holds.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import yaml
from rich.console import Console
from rich.table import Table

from privacy_router.testing import RunningGateway, RunningSimulator

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "demo-out"
US_KEY = "demo-key-acme-health"
EU_KEY = "demo-key-euro-clinic"

console = Console()


@dataclass
class Case:
    name: str
    key: str
    expect_route: str
    kwargs: dict[str, Any]
    sensitive: tuple[str, ...] = ()
    stream: bool = False


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "lookup_patient_weather",
        "description": "Weather at the patient's home city.",
        "parameters": {
            "type": "object",
            "properties": {"question": {"type": "string"}},
            "required": ["question"],
        },
    },
}

CASES = [
    Case(
        "public question",
        US_KEY,
        "external",
        {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "Explain how photosynthesis works in two sentences."}],
        },
    ),
    Case(
        "prompt with PII",
        US_KEY,
        "external_scrubbed",
        {
            "model": "gpt-4o",
            "messages": [
                {
                    "role": "user",
                    "content": "Write a two-line thank-you note to Maria Gonzalez, "
                    "email maria.gonzalez@example.com, phone 212-555-0187.",
                }
            ],
        },
        sensitive=("Maria Gonzalez", "maria.gonzalez@example.com", "212-555-0187"),
    ),
    Case(
        "clinical note with PHI",
        US_KEY,
        "onprem",
        {
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "You summarise clinical notes."},
                {
                    "role": "user",
                    "content": "Patient John Carter, MRN 00482913, NPI of attending 1245319599, "
                    "admitted with chest pain; troponin negative. Summarise for discharge.",
                },
            ],
        },
        sensitive=("John Carter", "00482913", "1245319599"),
    ),
    Case(
        "EU tenant with PII",
        EU_KEY,
        "onprem",
        {
            "model": "gpt-4o",
            "messages": [
                {
                    "role": "user",
                    "content": "Draft a reply to Lukas Schneider (lukas.schneider@example.de) "
                    "confirming his appointment.",
                }
            ],
        },
        sensitive=("Lukas Schneider", "lukas.schneider@example.de"),
    ),
    Case(
        "streamed answer with PII",
        US_KEY,
        "external_scrubbed",
        {
            "model": "gpt-4o",
            "messages": [
                {"role": "user", "content": "Repeat back: contact Priya Raman at priya.raman@example.com."}
            ],
        },
        sensitive=("Priya Raman", "priya.raman@example.com"),
        stream=True,
    ),
    Case(
        "tool call with PII",
        US_KEY,
        "external_scrubbed",
        {
            "model": "gpt-4o",
            "tools": [WEATHER_TOOL],
            "messages": [
                {
                    "role": "user",
                    "content": "Is it raining where Daniel Okafor (daniel.okafor@example.org) lives?",
                }
            ],
        },
        sensitive=("Daniel Okafor", "daniel.okafor@example.org"),
    ),
]


def write_config(onprem_url: str, external_url: str) -> Path:
    import hashlib

    def sha(k: str) -> str:
        return hashlib.sha256(k.encode()).hexdigest()

    config = {
        "server": {"host": "127.0.0.1"},
        "audit": {"sqlite_path": str(OUT / "audit.db")},
        "backends": {
            "onprem": [
                {"name": "vllm-onprem", "url": onprem_url, "region": "us-east", "models": ["llama-3.1-8b"]}
            ],
            "external": [
                {
                    "name": "openai-external",
                    "url": external_url,
                    "region": "us",
                    "models": ["gpt-4o"],
                    "api_key_env": "DEMO_EXTERNAL_API_KEY",
                    "zero_data_retention": True,
                }
            ],
        },
        "model_map": {"gpt-4o": "llama-3.1-8b"},
        "api_keys": [
            {
                "key_sha256": sha(US_KEY),
                "service": "claims-bot",
                "tenant": "acme-health",
                "jurisdiction": "US",
            },
            {
                "key_sha256": sha(EU_KEY),
                "service": "patient-portal",
                "tenant": "euro-clinic",
                "jurisdiction": "DE",
            },
        ],
    }
    path = OUT / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_case(base_url: str, case: Case) -> tuple[str, str, str]:
    """Returns (route, audit id, answer text) for one case, through the real openai SDK."""
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=case.key, max_retries=0)
    if case.stream:
        raw_resp = client.chat.completions.with_raw_response.create(**case.kwargs, stream=True)
        route, audit_id = raw_resp.headers["x-privacy-route"], raw_resp.headers["x-privacy-audit-id"]
        answer = "".join(chunk.choices[0].delta.content or "" for chunk in raw_resp.parse() if chunk.choices)
        return route, audit_id, answer
    raw_resp = client.chat.completions.with_raw_response.create(**case.kwargs)
    completion = raw_resp.parse()
    message = completion.choices[0].message
    answer = message.content or ""
    if message.tool_calls:
        answer = (
            f"tool call {message.tool_calls[0].function.name}({message.tool_calls[0].function.arguments})"
        )
    return raw_resp.headers["x-privacy-route"], raw_resp.headers["x-privacy-audit-id"], answer


def audit_records(db: Path) -> dict[str, dict[str, Any]]:
    out = subprocess.run(
        [sys.executable, "-m", "privacy_router", "audit", "query", "--audit-db", str(db), "--jsonl"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    return {r["record_id"]: r for r in records}


def main() -> int:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    failures: list[str] = []
    with (
        RunningSimulator("vllm", record_path=OUT / "onprem-received.jsonl") as onprem,
        RunningSimulator("openai", record_path=OUT / "external-received.jsonl") as external,
    ):
        config = write_config(onprem.url, external.url)
        console.print(
            f"[bold]on-prem vLLM simulator[/] {onprem.url}   [bold]external API simulator[/] {external.url}"
        )
        with RunningGateway(
            config, log_path=OUT / "gateway.log", env={"DEMO_EXTERNAL_API_KEY": "sk-demo-external"}
        ) as gw:
            console.print(f"[bold]gateway[/] {gw.url}\n")
            results = []
            for case in CASES:
                route, audit_id, answer = run_case(gw.url, case)
                results.append((case, route, audit_id, answer))
                if route != case.expect_route:
                    failures.append(f"{case.name}: expected route {case.expect_route}, got {route}")
                for value in case.sensitive:
                    if (
                        case.expect_route == "external_scrubbed"
                        and value not in answer
                        and not case.kwargs.get("tools")
                    ):
                        failures.append(f"{case.name}: the answer was not restored")
            records = audit_records(config.parent / "audit.db")

        table = Table(title="privacy-router demo: where each request went")
        for col in ("request", "detected entity types", "route", "backend", "audit id"):
            table.add_column(col)
        for case, route, audit_id, _answer in results:
            rec = records.get(audit_id, {})
            types = ", ".join(e["type"] for e in rec.get("entities", [])) or "-"
            table.add_row(
                case.name + (" (stream)" if case.stream else ""),
                types,
                route,
                str(rec.get("backend")),
                audit_id[:12],
            )
        console.print(table)
        for case, _route, _id, answer in results:
            console.print(f"[dim]{case.name}:[/] {answer[:110]}")

        verify = subprocess.run(
            [sys.executable, "-m", "privacy_router", "audit", "verify", "--audit-db", str(OUT / "audit.db")],
            capture_output=True,
            text=True,
        )
        console.print(f"\n[bold]$ privacy-router audit verify[/]\n{verify.stdout.strip()}")
        if verify.returncode != 0:
            failures.append("audit verify failed")

        received = (
            (OUT / "external-received.jsonl").read_text()
            if (OUT / "external-received.jsonl").exists()
            else ""
        )
        leaked = [v for case in CASES for v in case.sensitive if v in received]
        n_received = len(received.splitlines())
        console.print(
            f"\nexternal simulator received {n_received} requests; sensitive values among them: {len(leaked)}"
        )
        if leaked:
            failures.append(f"sensitive values reached the external simulator: {len(leaked)}")
    if failures:
        console.print("[bold red]DEMO FAILED[/]")
        for f in failures:
            console.print(f"  - {f}")
        return 1
    console.print("[bold green]demo OK[/]: every sensitive value stayed inside; the audit chain verifies.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
