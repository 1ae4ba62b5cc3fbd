"""POST /v1/messages with the real anthropic SDK, and chat completions to an Anthropic backend.

Every backend combination goes over real sockets: Anthropic surface -> on-prem vLLM and external
OpenAI (translated to chat completions and back) or an external Anthropic backend (native); OpenAI
surface -> external Anthropic backend (translated to Messages and back).
"""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.api.conftest import CLAUDE, CLEAN, PHI, PII, Running, Sims, sdk
from tests.api.test_proxy_streaming import posts
from tests.integration.conftest import US_KEY

SECRETS = ("Maria Gonzalez", "maria.gonzalez@example.com", "00482913")
TOOLS = [
    {
        "name": "lookup_customer",
        "description": "Find a customer record.",
        "input_schema": {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
        },
    }
]
# (content, route, gateway fixture, simulator that must receive it, its wire format)
CASES = [
    pytest.param(CLEAN, "external", "gateway", "external", "chat", id="external-openai"),
    pytest.param(PII, "external_scrubbed", "gateway", "external", "chat", id="scrubbed-openai"),
    pytest.param(PHI, "onprem", "gateway", "onprem", "chat", id="onprem-vllm"),
    pytest.param(CLEAN, "external", "anthropic_gateway", "anthropic", "messages", id="external-anthropic"),
    pytest.param(
        PII, "external_scrubbed", "anthropic_gateway", "anthropic", "messages", id="scrubbed-anthropic"
    ),
]

pytestmark = pytest.mark.slow

per_case = pytest.mark.parametrize(("content", "route", "fixture", "sim", "wire"), CASES)
both_modes = pytest.mark.parametrize("mode", ["sync", "async"])


async def parsed(raw: Any) -> Any:
    """``AsyncAPIResponse.parse`` is a coroutine for plain answers; for a stream some SDK versions
    hand back the stream object itself."""
    value = raw.parse()
    return await value if inspect.isawaitable(value) else value


def model_for(fixture: str) -> str:
    return CLAUDE if fixture == "anthropic_gateway" else "gpt-4o"


def client_for(gw: Running) -> anthropic.Anthropic:
    client: anthropic.Anthropic = sdk(anthropic.Anthropic, base_url=gw.url, api_key=US_KEY)
    return client


def terse_request(fixture: str, content: str) -> dict[str, Any]:
    """The Messages request of the per-case tests: a system prompt and one user message."""
    return {
        "model": model_for(fixture),
        "max_tokens": 256,
        "system": "You are terse.",
        "messages": [{"role": "user", "content": content}],
    }


def assert_no_secrets(body: Any) -> None:
    text = json.dumps(body, ensure_ascii=False)
    assert not any(s in text for s in SECRETS)


def assert_usage_recorded(gw: Running, request_id: str) -> None:
    """The completion record holds the backend's token counts (Anthropic's or OpenAI's names)."""
    usage = gw.completion(request_id)["usage"]
    assert usage.get("input_tokens", usage.get("prompt_tokens", 0)) > 0
    assert usage.get("output_tokens", usage.get("completion_tokens", 0)) > 0


def last_body(sims: Sims, sim: str) -> dict[str, Any]:
    records = [r for r in getattr(sims, sim).records() if r["method"] == "POST"]
    body: dict[str, Any] = records[-1]["body"]
    return body


def assert_wire(body: dict[str, Any], wire: str, route: str) -> None:
    if route == "external_scrubbed":
        assert_no_secrets(body)
    if wire == "chat":
        assert body["messages"][0] == {"role": "system", "content": "You are terse."}
        assert "max_tokens" in body and "system" not in body
    else:
        assert body["system"] == "You are terse." and body["max_tokens"] == 256


@per_case
@both_modes
def test_messages_non_stream(
    request: pytest.FixtureRequest,
    sims: Sims,
    content: str,
    route: str,
    fixture: str,
    sim: str,
    wire: str,
    mode: str,
) -> None:
    gw: Running = request.getfixturevalue(fixture)
    kwargs = terse_request(fixture, content)
    if mode == "sync":
        raw = client_for(gw).messages.with_raw_response.create(**kwargs)
        headers, message = raw.headers, raw.parse()
    else:

        async def run() -> tuple[httpx.Headers, Any]:
            async with anthropic.AsyncAnthropic(base_url=gw.url, api_key=US_KEY, max_retries=0) as client:
                raw = await client.messages.with_raw_response.create(**kwargs)
                return raw.headers, await parsed(raw)

        headers, message = asyncio.run(run())
    assert headers["x-privacy-route"] == route
    assert headers["x-privacy-audit-id"]
    assert [(b.type, b.text) for b in message.content] == [("text", content)]
    assert (message.role, message.stop_reason) == ("assistant", "end_turn")
    assert message.usage.output_tokens > 0
    assert_wire(last_body(sims, sim), wire, route)
    assert gw.completion(headers["x-request-id"])["outcome"] == "ok"
    assert_usage_recorded(gw, headers["x-request-id"])


@per_case
@both_modes
def test_messages_stream(
    request: pytest.FixtureRequest,
    sims: Sims,
    content: str,
    route: str,
    fixture: str,
    sim: str,
    wire: str,
    mode: str,
) -> None:
    gw: Running = request.getfixturevalue(fixture)
    kwargs = terse_request(fixture, content)
    if mode == "sync":
        with client_for(gw).messages.stream(**kwargs) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
            headers = stream.response.headers
    else:

        async def run() -> tuple[str, Any, httpx.Headers]:
            async with (
                anthropic.AsyncAnthropic(base_url=gw.url, api_key=US_KEY, max_retries=0) as client,
                client.messages.stream(**kwargs) as stream,
            ):
                text = "".join([t async for t in stream.text_stream])
                return text, await stream.get_final_message(), stream.response.headers

        text, final, headers = asyncio.run(run())
    assert headers["x-privacy-route"] == route
    assert text == content
    assert [(b.type, b.text) for b in final.content] == [("text", content)]
    assert final.stop_reason == "end_turn"
    assert last_body(sims, sim)["stream"] is True
    assert_wire(last_body(sims, sim), wire, route)
    assert gw.completion(headers["x-request-id"])["outcome"] == "ok"
    assert_usage_recorded(gw, headers["x-request-id"])


@pytest.mark.parametrize(
    ("fixture", "sim"),
    [
        pytest.param("gateway", "external", id="openai-backend"),
        pytest.param("anthropic_gateway", "anthropic", id="anthropic-backend"),
    ],
)
@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_tool_use_round_trip_restores_inside_input_and_scrubs_history(
    request: pytest.FixtureRequest, sims: Sims, fixture: str, sim: str, stream: bool
) -> None:
    gw: Running = request.getfixturevalue(fixture)
    client = client_for(gw)
    model = model_for(fixture)
    first_turn = [{"role": "user", "content": PII}]

    def ask(messages: list[dict[str, Any]]) -> Any:
        if stream:
            with client.messages.stream(model=model, max_tokens=256, messages=messages, tools=TOOLS) as s:
                return s.get_final_message()
        return client.messages.create(model=model, max_tokens=256, messages=messages, tools=TOOLS)

    first = ask(first_turn)
    assert first.stop_reason == "tool_use"
    [call] = first.content
    assert (call.type, call.name, call.input) == ("tool_use", "lookup_customer", {"query": PII})
    assert_no_secrets(last_body(sims, sim))
    result = f"Customer Maria Gonzalez, maria.gonzalez@example.com, id {call.id[-4:]}"
    second = ask(
        [
            *first_turn,
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": call.id, "name": call.name, "input": call.input}],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": result}]},
        ]
    )
    assert [(b.type, b.text) for b in second.content] == [("text", "Tool said: " + result)]
    assert_no_secrets(last_body(sims, sim))
    assert call.id in json.dumps(last_body(sims, sim))


@pytest.mark.parametrize(
    ("fault", "upstream_end"),
    [
        pytest.param("drop:4", "dropped", id="drop"),
        pytest.param("error-event:4", "completed", id="error-event"),
    ],
)
@pytest.mark.parametrize(
    ("fixture", "sim", "content"),
    [
        pytest.param("gateway", "onprem", PHI, id="vllm"),
        pytest.param("anthropic_gateway", "anthropic", PII, id="anthropic"),
    ],
)
def test_messages_stream_failure_is_an_error_event_without_message_stop(
    request: pytest.FixtureRequest,
    sims: Sims,
    fixture: str,
    sim: str,
    content: str,
    fault: str,
    upstream_end: str,
) -> None:
    gw: Running = request.getfixturevalue(fixture)
    body = {
        "model": model_for(fixture),
        "max_tokens": 256,
        "messages": [{"role": "user", "content": content}],
        "stream": True,
        "sim_fault": dict([fault.split(":")]),
    }
    with httpx.stream("POST", f"{gw.v1}/messages", json=body, headers={"x-api-key": US_KEY}, timeout=30) as r:
        r.read()
    blocks = [b for b in r.content.split(b"\n\n") if b]
    assert blocks[-1].startswith(b"event: error\ndata: ")
    assert b"event: message_stop" not in r.content
    assert json.loads(blocks[-1].split(b"data: ", 1)[1])["type"] == "error"
    assert gw.completion(r.headers["x-request-id"])["outcome"] == "truncated"
    with (
        pytest.raises(anthropic.APIStatusError),
        client_for(gw).messages.stream(
            model=model_for(fixture),
            max_tokens=256,
            messages=[{"role": "user", "content": content}],
            extra_body={"sim_fault": dict([fault.split(":")])},
        ) as s,
    ):
        "".join(s.text_stream)
    del upstream_end


def test_messages_errors_use_the_anthropic_shape(gateway: Running, sims: Sims) -> None:
    client = client_for(gateway)
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(model="gpt-4o", max_tokens=10, messages="not a list")  # type: ignore[arg-type]
    assert bad.value.body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "field 'messages' has the wrong type"},
    }
    before = posts(sims.external)
    with pytest.raises(anthropic.InternalServerError) as failed:
        client.messages.create(
            model="gpt-4o",
            max_tokens=10,
            messages=[{"role": "user", "content": PHI}],
            extra_body={"sim_fault": {"fail": 503}},
        )
    assert failed.value.status_code == 503
    assert failed.value.body["type"] == "error"  # type: ignore[index]
    assert failed.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert failed.value.response.headers["x-privacy-route"] == "onprem"
    assert posts(sims.external) == before


@pytest.mark.parametrize(
    ("content", "route"),
    [pytest.param(CLEAN, "external", id="external"), pytest.param(PII, "external_scrubbed", id="scrubbed")],
)
@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
@both_modes
def test_openai_chat_to_anthropic_backend(
    anthropic_gateway: Running, sims: Sims, content: str, route: str, stream: bool, mode: str
) -> None:
    kwargs: dict[str, Any] = {
        "model": CLAUDE,
        "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": content}],
        "stream": stream,
    }
    if stream:
        kwargs["stream_options"] = {"include_usage": True}

    async def arun() -> tuple[httpx.Headers, Any]:
        async with openai.AsyncOpenAI(base_url=anthropic_gateway.v1, api_key=US_KEY, max_retries=0) as client:
            raw = await client.chat.completions.with_raw_response.create(**kwargs)
            result = await parsed(raw)
            return raw.headers, [c async for c in result] if stream else result

    if mode == "sync":
        client = sdk(openai.OpenAI, base_url=anthropic_gateway.v1, api_key=US_KEY)
        raw = client.chat.completions.with_raw_response.create(**kwargs)
        headers, result = raw.headers, (list(raw.parse()) if stream else raw.parse())
    else:
        headers, result = asyncio.run(arun())
    assert headers["x-privacy-route"] == route
    if stream:
        assert "".join(c.choices[0].delta.content or "" for c in result if c.choices) == content
        assert [c.choices[0].finish_reason for c in result if c.choices][-1] == "stop"
        assert result[-1].choices == [] and result[-1].usage.total_tokens > 0
    else:
        assert result.choices[0].message.content == content
        assert result.choices[0].finish_reason == "stop"
    body = last_body(sims, "anthropic")
    assert (body["system"], body["max_tokens"]) == ("You are terse.", 4096)
    assert body["messages"][0]["role"] == "user"
    assert (
        body["messages"][0]["content"] == [{"type": "text", "text": content}] or route == "external_scrubbed"
    )
    assert_no_secrets(body)


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_openai_tool_calls_through_anthropic_backend(
    anthropic_gateway: Running, sims: Sims, stream: bool
) -> None:
    client = sdk(openai.OpenAI, base_url=anthropic_gateway.v1, api_key=US_KEY)
    tools: list[Any] = [
        {
            "type": "function",
            "function": {"name": "lookup_customer", "parameters": TOOLS[0]["input_schema"]},
        }
    ]
    messages: list[Any] = [{"role": "user", "content": PII}]
    if stream:
        with client.chat.completions.stream(model=CLAUDE, messages=messages, tools=tools) as s:
            completion = s.get_final_completion()
    else:
        completion = client.chat.completions.create(model=CLAUDE, messages=messages, tools=tools)
    [call] = completion.choices[0].message.tool_calls or []
    assert completion.choices[0].finish_reason == "tool_calls"
    assert (call.function.name, json.loads(call.function.arguments)) == ("lookup_customer", {"query": PII})
    sent = last_body(sims, "anthropic")
    assert sent["tools"][0]["input_schema"] == TOOLS[0]["input_schema"]
    assert_no_secrets(sent)
    follow = client.chat.completions.create(
        model=CLAUDE,
        messages=[
            *messages,
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "Found Maria Gonzalez."},
        ],
        tools=tools,
    )
    assert follow.choices[0].message.content == "Tool said: Found Maria Gonzalez."
    sent = last_body(sims, "anthropic")
    assert sent["messages"][-1]["content"][0]["type"] == "tool_result"
    assert "Maria Gonzalez" not in json.dumps(sent)
