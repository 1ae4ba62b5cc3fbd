"""Put the original values back into a non-streamed answer from an external backend.

Fields restored (protocol.md 7, "Response side"):

* chat completions: ``choices[].message.content``, ``reasoning``, ``reasoning_content``, ``refusal``,
  ``audio.transcript``, and ``tool_calls[].function.arguments`` (plus legacy ``function_call``);
  arguments are a JSON document in a string, so values are JSON-escaped on the way in and the
  arguments stay valid JSON.
* completions: ``choices[].text``.
* Anthropic messages: ``content[].text``, ``content[].thinking`` and the leaves of ``tool_use.input``.
* embeddings: nothing (vectors carry no text).

Deliberately NOT restored: ``logprobs`` (tokens, bytes, top_logprobs) and vLLM's ``prompt_text``,
``prompt_logprobs``, ``token_ids``. They show the placeholders the backend saw, never an original
value; restoring them token by token is not possible (a placeholder spans several tokens). Whether
to strip them or refuse the parameters that enable them is the pipeline's decision.
"""

from __future__ import annotations

import copy
from typing import Any

from privacy_router.transform.vault import Vault

_MESSAGE_TEXT_FIELDS = ("content", "reasoning", "reasoning_content", "refusal")


def _restore_leaves(node: Any, vault: Vault) -> Any:
    if isinstance(node, str):
        return vault.restore(node)
    if isinstance(node, dict):
        return {k: _restore_leaves(v, vault) for k, v in node.items()}
    if isinstance(node, list):
        return [_restore_leaves(v, vault) for v in node]
    return node


def _restore_function(fn: Any, vault: Vault) -> None:
    if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
        fn["arguments"] = vault.restore_json_string_fragment(fn["arguments"])


def _restore_chat_message(msg: dict[str, Any], vault: Vault) -> None:
    for name in _MESSAGE_TEXT_FIELDS:
        if isinstance(msg.get(name), str):
            msg[name] = vault.restore(msg[name])
    audio = msg.get("audio")
    if isinstance(audio, dict) and isinstance(audio.get("transcript"), str):
        audio["transcript"] = vault.restore(audio["transcript"])
    calls = msg.get("tool_calls")
    if isinstance(calls, list):
        for call in calls:
            if isinstance(call, dict):
                _restore_function(call.get("function"), vault)
    _restore_function(msg.get("function_call"), vault)


def restore_response(endpoint: str, body: dict[str, Any], vault: Vault) -> dict[str, Any]:
    """A copy of ``body`` with this request's placeholders replaced by their original values."""
    out = copy.deepcopy(body)
    if not vault.placeholders:
        return out
    if endpoint in ("chat.completions", "completions"):
        for choice in out.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            if endpoint == "completions" and isinstance(choice.get("text"), str):
                choice["text"] = vault.restore(choice["text"])
            msg = choice.get("message")
            if endpoint == "chat.completions" and isinstance(msg, dict):
                _restore_chat_message(msg, vault)
    elif endpoint == "messages":
        for block in out.get("content") or ():
            if not isinstance(block, dict):
                continue
            for name in ("text", "thinking"):
                if isinstance(block.get(name), str):
                    block[name] = vault.restore(block[name])
            if block.get("type") == "tool_use" and "input" in block:
                block["input"] = _restore_leaves(block["input"], vault)
    return out
