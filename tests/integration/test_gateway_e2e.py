"""End to end over real sockets: the openai SDK -> gateway subprocess -> upstream simulators."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest

from tests.integration.conftest import COMPLIANCE_KEY, EU_KEY, US_KEY, Stack

PLACEHOLDER = re.compile(r"<[A-Z_]+_\d+>")


def client(stack: Stack, key: str = US_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{stack.url}/v1", api_key=key, max_retries=0)


def chat(
    stack: Stack, content: str, key: str = US_KEY, **kw: object
) -> tuple[str, str, openai.types.chat.ChatCompletion]:
    raw = client(stack, key).chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": content}], **kw
    )
    return raw.headers["x-privacy-route"], raw.headers["x-privacy-audit-id"], raw.parse()


def test_public_question_goes_out_unchanged(stack: Stack) -> None:
    question = "Explain how photosynthesis works in two sentences."
    route, _, completion = chat(stack, question)
    assert route == "external"
    assert completion.choices[0].message.content == question
    last = stack.external_bodies()[-1]
    assert last["messages"] == [{"role": "user", "content": question}]
    assert last["model"] == "gpt-4o"


def test_pii_is_scrubbed_before_leaving_and_restored_in_the_answer(stack: Stack) -> None:
    prompt = "Write to Maria Gonzalez at maria.gonzalez@example.com about the invoice."
    route, _, completion = chat(stack, prompt)
    assert route == "external_scrubbed"
    assert completion.choices[0].message.content == prompt
    sent = stack.external_bodies()[-1]["messages"][0]["content"]
    assert "maria.gonzalez@example.com" not in sent
    assert "Maria Gonzalez" not in sent
    assert PLACEHOLDER.search(sent) is not None


def test_phi_goes_onprem_with_the_mapped_model(stack: Stack) -> None:
    note = "Patient MRN 00482913 admitted with chest pain; troponin negative."
    before = len(stack.external_bodies())
    route, _, completion = chat(stack, note)
    assert route == "onprem"
    assert completion.choices[0].message.content == note
    assert len(stack.external_bodies()) == before
    onprem = stack.onprem_bodies()[-1]
    assert onprem["model"] == "llama-3.1-8b"
    assert onprem["messages"][0]["content"] == note
    assert "00482913" not in stack.external_text()


def test_eu_tenant_personal_data_stays_onprem(stack: Stack) -> None:
    route, _, completion = chat(stack, "Reply to Lukas Schneider, lukas.schneider@example.de.", key=EU_KEY)
    assert route == "onprem"
    assert "lukas.schneider@example.de" not in stack.external_text()
    assert completion.choices[0].message.content == "Reply to Lukas Schneider, lukas.schneider@example.de."


def test_stream_restores_placeholders_split_across_chunks(stack: Stack) -> None:
    prompt = "Repeat back: contact Priya Raman at priya.raman@example.com today."
    raw = client(stack).chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": prompt}], stream=True
    )
    assert raw.headers["x-privacy-route"] == "external_scrubbed"
    assert raw.headers["content-type"].startswith("text/event-stream")
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text == prompt
    assert "priya.raman@example.com" not in stack.external_text()


def test_stream_onprem_relays_every_chunk(stack: Stack) -> None:
    note = "Patient MRN 00719355 reports dizziness."
    stream = client(stack).chat.completions.create(
        model="llama-3.1-8b",
        messages=[{"role": "user", "content": note}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == note
    assert chunks[-1].choices == [] and chunks[-1].usage is not None


def test_tool_call_arguments_are_restored_as_valid_json(stack: Stack) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "send_mail",
            "parameters": {
                "type": "object",
                "properties": {"body": {"type": "string"}},
                "required": ["body"],
            },
        },
    }
    prompt = "Email Daniel Okafor at daniel.okafor@example.org."
    route, _, completion = chat(stack, prompt, tools=[tool])
    assert route == "external_scrubbed"
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.name == "send_mail"
    assert json.loads(call.function.arguments) == {"body": prompt}
    assert "daniel.okafor@example.org" not in stack.external_text()


def test_tool_call_history_with_pii_in_arguments_is_scrubbed(stack: Stack) -> None:
    messages = [
        {"role": "user", "content": "Look up the account."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": json.dumps({"email": "kim.lee@example.com"})},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "found"},
    ]
    raw = client(stack).chat.completions.with_raw_response.create(model="gpt-4o", messages=messages)
    assert raw.headers["x-privacy-route"] == "external_scrubbed"
    sent = stack.external_bodies()[-1]["messages"][1]["tool_calls"][0]["function"]["arguments"]
    assert "kim.lee@example.com" not in sent
    assert PLACEHOLDER.fullmatch(json.loads(sent)["email"])


def test_embeddings_and_completions_go_through(stack: Stack) -> None:
    c = client(stack)
    emb = c.embeddings.with_raw_response.create(model="gpt-4o", input=["hello world", "the sky is blue"])
    assert emb.headers["x-privacy-route"] == "external"
    assert len(emb.parse().data) == 2
    comp = c.completions.with_raw_response.create(model="gpt-4o", prompt="SSN 536-90-4399 belongs to")
    assert comp.headers["x-privacy-route"] in ("external_scrubbed", "onprem")
    assert "536-90-4399" not in stack.external_text()


def test_missing_and_unknown_keys_get_401_in_openai_shape(stack: Stack) -> None:
    r = httpx.post(f"{stack.url}/v1/chat/completions", json={"messages": []})
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "authentication_error"
    with pytest.raises(openai.AuthenticationError):
        chat(stack, "hello", key="not-a-key")


def test_compliance_key_cannot_call_models(stack: Stack) -> None:
    with pytest.raises(openai.PermissionDeniedError) as err:
        chat(stack, "hello", key=COMPLIANCE_KEY)
    assert err.value.response.json()["error"]["type"] == "permission_error"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"model":"gpt-4o","model":"llama","messages":[]}', id="duplicate-key"),
        pytest.param(b'{"messages":[{"role":"user","content":"x"}],"temperature":NaN}', id="nan"),
        pytest.param(b'{"messages":[{"role":"user","content":"\\ud800"}]}', id="lone-surrogate"),
        pytest.param(b'{"messages":[{"role":"user","content":"\xff"}]}', id="invalid-utf8"),
        pytest.param(b"[" * 5000 + b"]" * 5000, id="deep-nesting"),
        pytest.param(b"not json", id="not-json"),
        pytest.param(b'{"model":"gpt-4o"}', id="no-messages"),
    ],
)
def test_hostile_json_gets_400_and_is_never_forwarded(stack: Stack, body: bytes) -> None:
    before = (len(stack.external_bodies()), len(stack.onprem_bodies()))
    r = httpx.post(
        f"{stack.url}/v1/chat/completions",
        content=body,
        headers={"authorization": f"Bearer {US_KEY}", "content-type": "application/json"},
    )
    assert r.status_code == 400
    assert set(r.json()["error"]) == {"message", "type", "param", "code"}
    assert (len(stack.external_bodies()), len(stack.onprem_bodies())) == before


def test_oversized_body_gets_413(stack: Stack) -> None:
    big = b'{"messages":[{"role":"user","content":"' + b"a" * (5 * 1024 * 1024) + b'"}]}'
    r = httpx.post(
        f"{stack.url}/v1/chat/completions", content=big, headers={"authorization": f"Bearer {US_KEY}"}
    )
    assert r.status_code == 413


def test_public_classification_hint_cannot_downgrade(stack: Stack) -> None:
    raw = client(stack).chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Patient MRN 00482913 is stable."}],
        extra_headers={"x-data-classification": "public"},
    )
    assert raw.headers["x-privacy-route"] == "onprem"
    strict = client(stack).chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "What is a prime number?"}],
        extra_headers={"x-data-classification": "phi"},
    )
    assert strict.headers["x-privacy-route"] == "onprem"


def test_client_authorization_is_never_forwarded(stack: Stack) -> None:
    chat(stack, "Name three primary colours.")
    headers = {k.lower(): v for k, v in stack.external.records()[-1]["headers"].items()}
    assert headers.get("authorization") is None or US_KEY not in headers["authorization"]


def test_audit_log_verifies_and_detects_an_edited_row(stack: Stack, tmp_path: Path) -> None:
    chat(stack, "What is the boiling point of water?")
    ok = subprocess.run(
        [sys.executable, "-m", "privacy_router", "audit", "verify", "--audit-db", str(stack.audit_db)],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    copy = tmp_path / "tampered.db"
    with sqlite3.connect(stack.audit_db) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    with sqlite3.connect(copy) as conn:
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
            conn.execute(f'DROP TRIGGER "{name}"')
        canon = conn.execute("SELECT canon FROM audit_log WHERE seq = 2").fetchone()[0]
        edited = (
            bytes(canon).replace(b'"external', b'"onpremx', 1)
            if b'"external' in bytes(canon)
            else bytes(canon) + b" "
        )
        conn.execute("UPDATE audit_log SET canon = ? WHERE seq = 2", (edited,))
    bad = subprocess.run(
        [sys.executable, "-m", "privacy_router", "audit", "verify", "--audit-db", str(copy)],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0
    assert "seq 2" in bad.stdout + bad.stderr


def test_audit_records_hold_no_raw_values(stack: Stack) -> None:
    values = [
        "maria.gonzalez@example.com",
        "Maria Gonzalez",
        "00482913",
        "priya.raman@example.com",
        "lukas.schneider@example.de",
        "536-90-4399",
        "kim.lee@example.com",
    ]
    with sqlite3.connect(stack.audit_db) as conn:
        blob = b"\n".join(bytes(r[0]) for r in conn.execute("SELECT canon FROM audit_log"))
    assert blob
    assert [v for v in values if v.encode() in blob] == []


def test_logs_are_json_with_routes_and_never_content(stack: Stack) -> None:
    prompt = "Send the lab results to Nora Whitfield, nora.whitfield@example.net, MRN 00655321."
    _, audit_id, _ = chat(stack, prompt)
    lines = [json.loads(line) for line in stack.log_path.read_text().splitlines() if line.startswith("{")]
    mine = [e for e in lines if e.get("audit_id") == audit_id]
    assert len(mine) == 1
    assert mine[0]["event"] == "request"
    assert mine[0]["route"] == "onprem"
    assert "MEDICAL_RECORD_NUMBER" in mine[0]["entity_types"]
    assert set(mine[0]["timings_ms"]) >= {"detect", "policy", "audit"}
    text = stack.log_path.read_text()
    assert [v for v in ("Nora Whitfield", "nora.whitfield@example.net", "00655321") if v in text] == []


def test_metrics_count_decisions(stack: Stack) -> None:
    chat(stack, "Give me a haiku about autumn.")
    text = httpx.get(f"{stack.url}/metrics").text
    assert re.search(r'privacy_router_decisions_total\{action="external"\} [1-9]', text)
    assert "privacy_router_step_seconds_bucket" in text


def test_models_lists_configured_names(stack: Stack) -> None:
    ids = sorted(m.id for m in client(stack).models.list())
    assert ids == ["gpt-4o", "llama-3.1-8b"]


def test_a_model_name_the_external_backend_does_not_offer_never_leaves(stack: Stack) -> None:
    """`model` routes and is not scanned, so only an offered model name may travel in it."""
    before = len(stack.external_bodies())
    r = httpx.post(
        f"{stack.url}/v1/chat/completions",
        json={"model": "patient 536-90-4399", "messages": [{"role": "user", "content": "hello"}]},
        headers={"authorization": f"Bearer {US_KEY}"},
    )
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "model"
    assert r.headers["x-privacy-route"] == "blocked"
    assert len(stack.external_bodies()) == before
    assert "536-90-4399" not in stack.external_text()
