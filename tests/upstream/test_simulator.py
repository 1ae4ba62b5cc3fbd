"""The upstream simulator, driven by the real ``openai`` SDK over real sockets, in both flavors."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from privacy_router.upstream.simulator import RunningSimulator, embedding_for

pytestmark = pytest.mark.slow

ECHO = 'Call <PERSON_1> at "<PHONE_NUMBER_1>" today, please'
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TOOL_ID_PREFIX = {"vllm": "chatcmpl-tool-", "openai": "call_"}


@pytest.fixture
def oai(sim: RunningSimulator) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=sim.url, api_key="sk-client-secret", max_retries=0) as c:
        yield c


def user(text: Any) -> list[dict[str, Any]]:
    return [{"role": "system", "content": "Be terse."}, {"role": "user", "content": text}]


def sse_events(raw: bytes) -> list[str]:
    """Split an SSE body into its ``data:`` payloads (the simulator sends one line per event)."""
    assert raw.endswith(b"\n\n") or raw == b""
    events = [e for e in raw.decode().split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    return [e.removeprefix("data: ") for e in events]


def raw_post(sim: RunningSimulator, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(sim.url + path, json=body, headers=headers, timeout=10)


# -- chat, non-streaming -----------------------------------------------------------------------


def test_chat_echoes_the_last_user_message_with_placeholders_intact(
    sim: RunningSimulator, oai: openai.OpenAI
) -> None:
    reply = oai.chat.completions.create(model=sim.model, messages=user(ECHO))
    assert reply.choices[0].message.content == ECHO
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model == sim.model


def test_chat_echo_concatenates_text_parts(sim: RunningSimulator, oai: openai.OpenAI) -> None:
    parts = [{"type": "text", "text": "Hello "}, {"type": "text", "text": "<PERSON_1>"}]
    reply = oai.chat.completions.create(model=sim.model, messages=user(parts))
    assert reply.choices[0].message.content == "Hello <PERSON_1>"


def test_vllm_non_stream_body_carries_vllm_only_keys_as_null(vllm_sim: RunningSimulator) -> None:
    body = raw_post(
        vllm_sim, "/chat/completions", {"messages": user("hi")}, **{"X-Request-Id": "req-42"}
    ).json()
    assert body["id"] == "chatcmpl-req-42"  # X-Request-Id becomes part of the id (protocol.md §4)
    for key in ("prompt_logprobs", "prompt_token_ids", "kv_transfer_params", "ec_transfer_params", "metrics"):
        assert key in body
        assert body[key] is None
    assert body["choices"][0]["stop_reason"] is None
    assert "tool_calls" not in body["choices"][0]["message"]
    assert body["usage"] == {
        "prompt_tokens": 4,  # ceil(9/4) + ceil(2/4)
        "total_tokens": 5,
        "completion_tokens": 1,
        "prompt_tokens_details": None,
        "completion_tokens_details": None,
    }


def test_openai_non_stream_body_has_openai_shape(openai_sim: RunningSimulator) -> None:
    response = raw_post(openai_sim, "/chat/completions", {"model": "gpt-4o", "messages": user("hi")})
    body = response.json()
    assert response.headers["x-request-id"].startswith("req_")
    assert "kv_transfer_params" not in body
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "hi",
        "refusal": None,
        "annotations": [],
    }
    assert body["service_tier"] == "default"


def test_answer_to_a_tool_result_quotes_it(sim: RunningSimulator, oai: openai.OpenAI) -> None:
    messages = [
        *user("weather?"),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C, cloudy"},
    ]
    reply = oai.chat.completions.create(model=sim.model, messages=messages, tools=[WEATHER_TOOL])
    assert reply.choices[0].message.content == "Tool said: 18C, cloudy"
    assert reply.choices[0].message.tool_calls is None


def test_tools_give_one_call_to_the_first_tool_with_the_user_text(
    sim: RunningSimulator, oai: openai.OpenAI
) -> None:
    reply = oai.chat.completions.create(model=sim.model, messages=user(ECHO), tools=[WEATHER_TOOL])
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None
    assert len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.id.startswith(TOOL_ID_PREFIX[sim.flavor])
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": ECHO}


def test_tool_choice_none_answers_with_text(sim: RunningSimulator, oai: openai.OpenAI) -> None:
    reply = oai.chat.completions.create(
        model=sim.model, messages=user("plain"), tools=[WEATHER_TOOL], tool_choice="none"
    )
    assert reply.choices[0].message.content == "plain"
    assert reply.choices[0].message.tool_calls is None


# -- chat, streaming ---------------------------------------------------------------------------


def test_stream_reassembles_to_the_echo_in_small_pieces(sim: RunningSimulator, oai: openai.OpenAI) -> None:
    chunks = list(oai.chat.completions.create(model=sim.model, messages=user(ECHO), stream=True))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(pieces) == ECHO
    assert all(1 <= len(p) <= 4 for p in pieces)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_vllm_stream_framing_role_chunk_and_done(vllm_sim: RunningSimulator) -> None:
    raw = raw_post(vllm_sim, "/chat/completions", {"messages": user("abc"), "stream": True}).content
    events = sse_events(raw)
    assert events[-1] == "[DONE]"
    first = json.loads(events[0])
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all("usage" not in json.loads(e) for e in events[:-1])  # vLLM omits "usage": null


def test_openai_stream_chunks_carry_usage_null_with_include_usage(openai_sim: RunningSimulator) -> None:
    body = {
        "model": "gpt-4o",
        "messages": user("abc"),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    events = [json.loads(e) for e in sse_events(raw_post(openai_sim, "/chat/completions", body).content)[:-1]]
    assert [e["usage"] for e in events[:-1]] == [None] * (len(events) - 1)
    assert events[-1]["choices"] == []


def test_streamed_tool_call_accumulates_by_index_to_valid_json(
    sim: RunningSimulator, oai: openai.OpenAI
) -> None:
    stream = oai.chat.completions.create(
        model=sim.model, messages=user(ECHO), tools=[WEATHER_TOOL], stream=True
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    fragments = 0
    for chunk in stream:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        finish = chunk.choices[0].finish_reason or finish
        for tc in delta.tool_calls or []:
            acc = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
            acc["id"] += tc.id or ""
            if tc.function is not None:
                acc["name"] += tc.function.name or ""
                if tc.function.arguments:
                    fragments += 1
                    assert 1 <= len(tc.function.arguments) <= 5
                    acc["arguments"] += tc.function.arguments
    assert list(calls) == [0]
    assert calls[0]["id"].startswith(TOOL_ID_PREFIX[sim.flavor])
    assert calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["arguments"]) == {"city": ECHO}
    assert fragments >= len(json.dumps({"city": ECHO})) // 5
    assert finish == "tool_calls"


def test_vllm_streamed_tool_call_first_entry_has_no_arguments_key(vllm_sim: RunningSimulator) -> None:
    body = {"messages": user("Paris"), "tools": [WEATHER_TOOL], "stream": True}
    events = [json.loads(e) for e in sse_events(raw_post(vllm_sim, "/chat/completions", body).content)[:-1]]
    head = events[1]["choices"][0]["delta"]
    assert head["content"] is None
    assert head["tool_calls"][0]["function"] == {"name": "get_weather"}
    assert head["tool_calls"][1]["index"] == 0  # two entries, same index (Hermes parser)


def test_n2_stream_is_interleaved_and_demultiplexes_by_index(
    sim: RunningSimulator, oai: openai.OpenAI
) -> None:
    chunks = list(oai.chat.completions.create(model=sim.model, messages=user(ECHO), stream=True, n=2))
    texts = {0: "", 1: ""}
    order = []
    for chunk in chunks:
        assert len(chunk.choices) == 1
        choice = chunk.choices[0]
        order.append(choice.index)
        texts[choice.index] += choice.delta.content or ""
    assert texts == {0: ECHO, 1: ECHO}
    assert order[:4] == [0, 1, 0, 1]


def test_include_usage_adds_a_final_usage_chunk(sim: RunningSimulator, oai: openai.OpenAI) -> None:
    chunks = list(
        oai.chat.completions.create(
            model=sim.model,
            messages=user("Hello there"),
            stream=True,
            n=2,
            stream_options={"include_usage": True},
        )
    )
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    # prompt: ceil(9/4) + ceil(11/4) = 6; completion: 2 choices x ceil(11/4) = 6
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (6, 6, 12)
    assert all(c.choices for c in chunks[:-1])


# -- completions, embeddings, models -----------------------------------------------------------


def test_completions_echo_each_prompt_with_vllm_indices(sim: RunningSimulator, oai: openai.OpenAI) -> None:
    reply = oai.completions.create(model=sim.model, prompt=["first <X>", "second"], n=2)
    assert [(c.index, c.text) for c in reply.choices] == [
        (0, "first <X>"),
        (1, "first <X>"),
        (2, "second"),
        (3, "second"),
    ]
    assert reply.object == "text_completion"


def test_completions_stream_reassembles(sim: RunningSimulator, oai: openai.OpenAI) -> None:
    chunks = list(oai.completions.create(model=sim.model, prompt="stream me please", stream=True))
    assert "".join(c.choices[0].text for c in chunks) == "stream me please"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_embeddings_sdk_default_base64_decodes_to_the_hash_vector(
    sim: RunningSimulator, oai: openai.OpenAI
) -> None:
    reply = oai.embeddings.create(model=sim.model, input=["alpha", "beta"])
    assert sim.records()[-1]["body"]["encoding_format"] == "base64"  # what the SDK sends (protocol.md §3)
    assert [d.embedding for d in reply.data] == [embedding_for("alpha"), embedding_for("beta")]
    assert len(reply.data[0].embedding) == 8


def test_embeddings_float_format(sim: RunningSimulator, oai: openai.OpenAI) -> None:
    reply = oai.embeddings.create(model=sim.model, input="alpha", encoding_format="float")
    assert reply.data[0].embedding == embedding_for("alpha")
    assert all(-1.0 <= v < 1.0 for v in reply.data[0].embedding)
    assert not math.isnan(sum(reply.data[0].embedding))


def test_models_lists_the_served_model(sim: RunningSimulator, oai: openai.OpenAI) -> None:
    models = oai.models.list()
    assert [m.id for m in models.data] == [sim.model]


def test_unknown_model_is_404_in_the_flavor_shape(sim: RunningSimulator, oai: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        oai.chat.completions.create(model="no-such-model", messages=user("x"))
    expected_code = 404 if sim.flavor == "vllm" else "model_not_found"
    assert isinstance(info.value.body, dict)
    assert info.value.body["code"] == expected_code


def test_vllm_health_is_an_empty_200(vllm_sim: RunningSimulator) -> None:
    response = httpx.get(vllm_sim.root_url + "/health")
    assert (response.status_code, response.content) == (200, b"")


# -- faults ------------------------------------------------------------------------------------


def test_fail_503_raises_internal_server_error_with_flavor_body(
    sim: RunningSimulator, oai: openai.OpenAI
) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        oai.chat.completions.create(
            model=sim.model, messages=user("x"), extra_headers={"x-sim-fault": "fail:503"}
        )
    assert info.value.status_code == 503
    expected = (
        {"message": "simulated failure 503", "type": "ServiceUnavailableError", "param": None, "code": 503}
        if sim.flavor == "vllm"
        else {"message": "simulated failure 503", "type": "server_error", "param": None, "code": None}
    )
    assert info.value.body == expected
    assert len(sim.records()) == 1  # max_retries=0: one attempt reached the upstream


def test_drop_3_aborts_the_connection_after_three_chunks(sim: RunningSimulator, oai: openai.OpenAI) -> None:
    got = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in oai.chat.completions.create(
            model=sim.model, messages=user(ECHO), stream=True, extra_headers={"x-sim-fault": "drop:3"}
        ):
            got.append(chunk)
    assert len(got) == 3


def test_drop_3_raw_bytes_have_three_events_and_no_done(sim: RunningSimulator) -> None:
    received = b""
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream(
            "POST",
            sim.url + "/chat/completions",
            json={"model": sim.model, "messages": user(ECHO), "stream": True},
            headers={"x-sim-fault": "drop:3"},
        ) as response,
    ):
        for part in response.iter_bytes():
            received += part
    assert len(sse_events(received)) == 3
    assert b"[DONE]" not in received


def test_truncate_3_ends_cleanly_without_done(sim: RunningSimulator, oai: openai.OpenAI) -> None:
    chunks = list(
        oai.chat.completions.create(
            model=sim.model, messages=user(ECHO), stream=True, extra_headers={"x-sim-fault": "truncate:3"}
        )
    )
    assert len(chunks) == 3
    assert chunks[-1].choices[0].finish_reason is None


def test_error_event_after_two_chunks_then_done(sim: RunningSimulator, oai: openai.OpenAI) -> None:
    body = {"model": sim.model, "messages": user(ECHO), "stream": True}
    events = sse_events(raw_post(sim, "/chat/completions", body, **{"x-sim-fault": "error-event:2"}).content)
    assert len(events) == 4
    assert events[-1] == "[DONE]"
    error = json.loads(events[2])["error"]
    assert error["code"] == (500 if sim.flavor == "vllm" else None)

    got = []
    with pytest.raises(openai.APIError) as info:
        for chunk in oai.chat.completions.create(
            model=sim.model, messages=user(ECHO), stream=True, extra_headers={"x-sim-fault": "error-event:2"}
        ):
            got.append(chunk)
    assert len(got) == 2
    assert info.value.message == error["message"]


def test_slow_fault_still_delivers_the_whole_stream(sim: RunningSimulator, oai: openai.OpenAI) -> None:
    chunks = list(
        oai.chat.completions.create(
            model=sim.model, messages=user("slow one"), stream=True, extra_headers={"x-sim-fault": "slow:5"}
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "slow one"


def test_bad_fault_header_is_a_400(sim: RunningSimulator) -> None:
    response = raw_post(
        sim, "/chat/completions", {"model": sim.model, "messages": user("x")}, **{"x-sim-fault": "zap:1"}
    )
    assert response.status_code == 400


# -- recording (the leak oracle) ---------------------------------------------------------------


def test_record_holds_path_headers_and_exact_body_but_no_authorization(
    sim: RunningSimulator, oai: openai.OpenAI
) -> None:
    oai.chat.completions.create(model=sim.model, messages=user(ECHO), temperature=0.5)
    (entry,) = sim.records()
    assert entry["path"] == "/v1/chat/completions"
    assert entry["method"] == "POST"
    assert entry["body"] == {"model": sim.model, "messages": user(ECHO), "temperature": 0.5}
    assert "authorization" not in entry["headers"]
    assert "sk-client-secret" not in json.dumps(entry)
    assert entry["headers"]["x-stainless-lang"] == "python"


def test_health_probes_are_not_recorded(sim: RunningSimulator) -> None:
    httpx.get(sim.root_url + "/health")
    assert sim.records() == []


def test_api_key_is_required_when_configured() -> None:
    with RunningSimulator("vllm", api_key="upstream-key") as sim:
        denied = httpx.get(sim.url + "/models", headers={"Authorization": "Bearer wrong"})
        allowed = httpx.get(sim.url + "/models", headers={"Authorization": "Bearer upstream-key"})
        assert (denied.status_code, denied.json()) == (401, {"error": "Unauthorized"})
        assert allowed.status_code == 200
        assert [r["headers"].get("authorization") for r in sim.records()] == [None, None]
