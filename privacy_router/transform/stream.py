"""Restore placeholders in an OpenAI-style SSE stream, chunk by chunk, without ever splitting one.

Framing (protocol.md 1.4): events are ``data: <json>`` lines ended by a blank line; keep-alive
comments (``: keep-alive``) may appear; the stream ends with ``data: [DONE]``, also after an error
event ``{"error": ...}``. The byte stream is cut anywhere by the network, so events are re-assembled
first (LF, CRLF and CR line ends, per the WHATWG SSE parsing rules), and only whole events are
decoded, which also keeps multi-byte UTF-8 characters whole.

A placeholder can be split across events (protocol.md 7, "Streaming restore"). Each text stream is
keyed by (choice index, field, tool-call index), because with ``n > 1`` choices are interleaved and
each tool call's arguments arrive as separate fragments. For each key the restorer holds back ONLY a
suffix that is a proper prefix of a placeholder minted for this request (at most the longest
placeholder's length minus one). Held text is released with the next fragment of the same key, or
as is when the choice finishes, before the usage chunk (``choices: []``), before an error event,
before ``[DONE]`` and at ``finish()``. Nothing is emitted after ``[DONE]``.

Tool-call arguments are fragments of a JSON text. Placeholders contain no character that JSON
escapes, so they appear literally in the fragments and no partial-escape holdback is needed; the
restored value is JSON-escaped so the concatenated arguments stay valid JSON.

Events the restorer does not change are passed through byte for byte; changed events are
re-serialised compactly with every other field kept.

The gateway also runs every relayed stream through this class without a vault (no restoration), to
learn where the stream ends: ``done`` is true once ``[DONE]`` went by (the relay then closes at
once: openai-python before 2.7 kept reading after ``[DONE]`` until EOF, protocol.md §5), and
``errored`` once an in-band error event went by. With ``drop_done_after_error`` the ``[DONE]``
that vLLM sends after an error event (protocol.md §1.5) is swallowed: a stream that failed must
not look complete to a client (issue 7: "no [DONE]" after an upstream error).

Usage and the answer text (issue 11, issue 4): ``usage`` is the last ``usage`` object the stream
carried (the backend's own count). The gateway asks every backend that can for usage, so with
``strip_usage`` (the client did not ask for it) the usage chunk (``choices: []``) is dropped and the
``usage`` key is removed from ordinary chunks (OpenAI sends ``"usage": null`` on each): the client
gets the stream it would have got without the gateway's question (``keep_null_usage``: the backend
puts ``"usage": null`` on every chunk anyway, as TGI does, so that key stays). With ``keep_text`` the restorer
keeps, per choice, the ``content`` text it emitted (placeholders restored), for
``answer_texts()``.
"""

from __future__ import annotations

import json
from typing import Any

from privacy_router.transform.vault import Vault

# (choice index, field name, tool-call index or -1)
Key = tuple[int, str, int]

_CHAT_TEXT_FIELDS = ("content", "reasoning", "reasoning_content", "refusal")
_ARGUMENTS = "arguments"


class SSERestorer:
    """Per-request adapter: ``feed`` upstream bytes, get bytes for the client; then ``finish``."""

    def __init__(
        self,
        vault: Vault | None,
        endpoint: str,
        *,
        drop_done_after_error: bool = False,
        strip_usage: bool = False,
        keep_null_usage: bool = False,
        keep_text: bool = False,
    ) -> None:
        if endpoint not in ("chat.completions", "completions"):
            raise ValueError("SSERestorer handles chat.completions and completions streams")
        self._vault = vault if vault is not None else Vault()
        self._drop_done_after_error = drop_done_after_error
        self._strip_usage = strip_usage
        self._keep_null_usage = keep_null_usage
        self._keep_text = keep_text
        self._texts: dict[int, list[str]] = {}  # choice index -> content pieces the client got
        self.usage: dict[str, Any] | None = None
        self._errored = False
        self._saw_done = False
        self._chat = endpoint == "chat.completions"
        self._buf = bytearray()
        self._scan_from = 0  # bytes of _buf already searched for line ends
        self._event_lines: list[bytes] = []
        self._event_start = 0
        self._held: dict[Key, str] = {}
        self._envelope: dict[str, Any] = {}  # id/object/created/model of the last chunk
        self._done = False

    # -- public ---------------------------------------------------------------------------------
    def feed(self, chunk: bytes) -> bytes:
        if self._done:
            return b""
        self._buf += chunk
        return self._drain(final=False)

    def finish(self) -> bytes:
        """End of the upstream stream: emit a trailing event without its blank line, then held text."""
        if self._done:
            return b""
        out = bytearray(self._drain(final=True))
        if not self._done:
            rest = bytes(self._buf[self._event_start :])
            if rest.strip():
                out += self._event(self._event_lines_of(rest), rest + b"\n\n")
            self._buf.clear()
            if not self._done:
                out += self._flush_all()
        self._done = True
        return bytes(out)

    @property
    def done(self) -> bool:
        """``[DONE]`` has been seen: nothing more will be emitted."""
        return self._saw_done

    @property
    def errored(self) -> bool:
        """An in-band error event (``{"error": ...}``) has been relayed."""
        return self._errored

    def held_lengths(self) -> dict[Key, int]:
        """Characters currently held back per key (for tests and metrics; never the text)."""
        return {k: len(v) for k, v in self._held.items() if v}

    def answer_texts(self) -> list[str]:
        """With ``keep_text``: each choice's content as the client got it, in choice order, without
        empty or repeated texts (what ``api/answers.py`` reads from a non-streamed answer)."""
        texts: list[str] = []
        for index in sorted(self._texts):
            text = "".join(self._texts[index])
            if text and text not in texts:
                texts.append(text)
        return texts

    # -- framing --------------------------------------------------------------------------------
    @staticmethod
    def _event_lines_of(raw: bytes) -> list[bytes]:
        return raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")

    def _drain(self, final: bool) -> bytes:
        out = bytearray()
        buf = self._buf
        i = self._scan_from
        line_start = i
        while i < len(buf) and not self._done:
            c = buf[i]
            if c not in (0x0A, 0x0D):
                i += 1
                continue
            if c == 0x0D and i + 1 == len(buf) and not final:
                break  # a CR at the end may be the first half of CRLF: wait for the next byte
            line = bytes(buf[line_start:i])
            i += 2 if (c == 0x0D and i + 1 < len(buf) and buf[i + 1] == 0x0A) else 1
            if line:
                self._event_lines.append(line)
            elif self._event_lines or i - self._event_start > 0:
                raw = bytes(buf[self._event_start : i])
                if self._event_lines:
                    out += self._event(self._event_lines, raw)
                else:
                    out += raw  # stray blank line: pass it on
                self._event_lines = []
                self._event_start = i
            line_start = i
        # Keep only the unfinished event; restart the scan at the unfinished line.
        if self._done:
            buf.clear()
            self._event_start = self._scan_from = 0
            self._event_lines = []
            return bytes(out)
        del buf[: self._event_start]
        self._scan_from = line_start - self._event_start
        self._event_start = 0
        return bytes(out)

    # -- events ---------------------------------------------------------------------------------
    def _event(self, lines: list[bytes], raw: bytes) -> bytes:
        data_parts: list[bytes] = []
        other: list[bytes] = []
        for line in lines:
            if not line:
                continue
            if line.startswith(b"data:"):
                value = line[5:]
                data_parts.append(value[1:] if value.startswith(b" ") else value)
            else:
                other.append(line)  # comments (": keep-alive") and any other field, kept as is
        if not data_parts:
            return raw
        data = b"\n".join(data_parts)
        if data.strip() == b"[DONE]":
            self._done = self._saw_done = True
            if self._errored and self._drop_done_after_error:
                return self._flush_all()
            return self._flush_all() + raw
        if (
            not self._vault.placeholders
            and not self._keep_text
            and b'"error"' not in data
            and b'"usage"' not in data
        ):
            return raw  # nothing to restore, keep or strip, and not an error: relay without parsing
        try:
            obj = json.loads(data)
        except ValueError:
            return raw  # not JSON: nothing we can restore; the client sees what upstream sent
        if not isinstance(obj, dict):
            return raw
        if "error" in obj:
            self._errored = True
            return self._flush_all() + raw
        choices = obj.get("choices")
        if not isinstance(choices, list):
            return raw
        if isinstance(obj.get("usage"), dict):
            self.usage = obj["usage"]
        self._envelope = {k: v for k, v in obj.items() if k in ("id", "object", "created", "model")}
        if not choices:
            if self._strip_usage and "usage" in obj:
                return self._flush_all()  # the usage chunk the client did not ask for
            return self._flush_all() + raw  # usage chunk: release everything before it
        changed = False
        if self._strip_usage and "usage" in obj and not (self._keep_null_usage and obj["usage"] is None):
            del obj["usage"]
            changed = True
        for choice in choices:
            if isinstance(choice, dict):
                changed |= self._choice(choice)
        if not changed:
            return raw
        body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return b"".join(line + b"\n" for line in other) + b"data: " + body + b"\n\n"

    def _choice(self, choice: dict[str, Any]) -> bool:
        index = choice.get("index", 0)
        idx = index if isinstance(index, int) else 0
        final = choice.get("finish_reason") is not None
        changed = False
        if not self._chat:
            if isinstance(choice.get("text"), str):
                new = self._text((idx, "text", -1), choice["text"], final)
                changed |= new != choice["text"]
                choice["text"] = new
            elif final and self._held.get((idx, "text", -1)):
                choice["text"] = self._held.pop((idx, "text", -1))
                changed = True
            return changed
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            if not final or not self._has_held(idx):
                return False
            delta = choice["delta"] = {}
        seen: set[Key] = set()
        for name in _CHAT_TEXT_FIELDS:
            if isinstance(delta.get(name), str):
                key = (idx, name, -1)
                new = self._text(key, delta[name], final)
                changed |= new != delta[name]
                delta[name] = new
                seen.add(key)
        calls = delta.get("tool_calls")
        if isinstance(calls, list):
            for call in calls:
                fn = call.get("function") if isinstance(call, dict) else None
                if isinstance(fn, dict) and isinstance(fn.get(_ARGUMENTS), str):
                    t = call.get("index", 0)
                    key = (idx, _ARGUMENTS, t if isinstance(t, int) else 0)
                    new = self._text(key, fn[_ARGUMENTS], final)
                    changed |= new != fn[_ARGUMENTS]
                    fn[_ARGUMENTS] = new
                    seen.add(key)
        if final:
            for key in [k for k in self._held if k[0] == idx and k not in seen]:
                self._put(delta, key, self._kept(key, self._held.pop(key)))
                changed = True
        return changed

    def _has_held(self, idx: int) -> bool:
        return any(k[0] == idx and v for k, v in self._held.items())

    def _text(self, key: Key, fragment: str, final: bool) -> str:
        pending = self._held.pop(key, "") + fragment
        keep = 0 if final else self._vault.pending_prefix_len(pending)
        ready, hold = pending[: len(pending) - keep], pending[len(pending) - keep :]
        if hold:
            self._held[key] = hold
        if key[1] == _ARGUMENTS:
            return self._vault.restore_json_string_fragment(ready)
        return self._kept(key, self._vault.restore(ready))

    def _kept(self, key: Key, text: str) -> str:
        """``text`` as it goes to the client; with ``keep_text``, chat content is also kept."""
        if self._keep_text and key[1] == "content" and text:
            self._texts.setdefault(key[0], []).append(text)
        return text

    @staticmethod
    def _put(delta: dict[str, Any], key: Key, text: str) -> None:
        _, name, tool_index = key
        if name == _ARGUMENTS:
            calls = delta.get("tool_calls")
            if not isinstance(calls, list):
                calls = delta["tool_calls"] = []
            calls.append({"index": tool_index, "function": {_ARGUMENTS: text}})
        else:
            delta[name] = text

    def _flush_all(self) -> bytes:
        """One synthetic chunk per choice carrying its held text, as is (it is not a placeholder)."""
        held = {k: v for k, v in self._held.items() if v}
        self._held.clear()
        out = bytearray()
        for idx in sorted({k[0] for k in held}):
            choice: dict[str, Any]
            if self._chat:
                delta: dict[str, Any] = {}
                for key in sorted(k for k in held if k[0] == idx):
                    self._put(delta, key, self._kept(key, held[key]))
                choice = {"index": idx, "delta": delta, "logprobs": None, "finish_reason": None}
            else:
                text = held[(idx, "text", -1)]
                choice = {"index": idx, "text": text, "logprobs": None, "finish_reason": None}
            event = {**self._envelope, "choices": [choice]}
            body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            out += b"data: " + body + b"\n\n"
        return bytes(out)


# Anthropic delta type -> (field inside the delta, key name). "arguments" keys are JSON-escaped.
_ANTHROPIC_DELTAS = {
    "text_delta": ("text", "text"),
    "thinking_delta": ("thinking", "thinking"),
    "input_json_delta": ("partial_json", _ARGUMENTS),
}
_ANTHROPIC_DELTA_OF_KEY = {key: (dtype, name) for dtype, (name, key) in _ANTHROPIC_DELTAS.items()}


class AnthropicSSERestorer(SSERestorer):
    """The same restorer for an Anthropic Messages stream (protocol.md §6).

    Events carry an ``event:`` line and a ``data:`` line and there is no ``[DONE]``. Text arrives
    per content block index as ``text_delta.text``, ``thinking_delta.thinking`` and
    ``input_json_delta.partial_json`` (fragments of a tool's input JSON, restored JSON-escaped).
    Held text of a block is released before its ``content_block_stop`` (as one extra
    ``content_block_delta``), and everything before ``message_delta``, ``message_stop`` and
    ``error``. ``done`` means ``message_stop`` went by. ``usage`` merges the counts of
    ``message_start`` (input) and ``message_delta`` (cumulative; output, sometimes input too).
    """

    def __init__(self, vault: Vault | None) -> None:
        super().__init__(vault, "chat.completions")

    def _event(self, lines: list[bytes], raw: bytes) -> bytes:
        name = b""
        data_parts: list[bytes] = []
        for line in lines:
            if line.startswith(b"event:"):
                name = line[6:].strip()
            elif line.startswith(b"data:"):
                value = line[5:]
                data_parts.append(value[1:] if value.startswith(b" ") else value)
        if name == b"message_stop":
            self._done = self._saw_done = True
            return self._flush_all() + raw
        if name == b"error":
            self._errored = True
            return self._flush_all() + raw
        if name in (b"message_start", b"message_delta"):
            self._count(name, data_parts)
        if name == b"message_delta":
            return self._flush_all() + raw
        if not self._vault.placeholders or name not in (b"content_block_delta", b"content_block_stop"):
            return raw
        try:
            obj = json.loads(b"\n".join(data_parts))
        except ValueError:
            return raw
        if not isinstance(obj, dict) or not isinstance(obj.get("index"), int):
            return raw
        index: int = obj["index"]
        if name == b"content_block_stop":
            return self._flush_all(index) + raw
        delta = obj.get("delta")
        spec = _ANTHROPIC_DELTAS.get(str(delta.get("type"))) if isinstance(delta, dict) else None
        if not isinstance(delta, dict) or spec is None or not isinstance(delta.get(spec[0]), str):
            return raw
        field_name, key_name = spec
        new = self._text((index, key_name, -1), delta[field_name], final=False)
        if new == delta[field_name]:
            return raw
        delta[field_name] = new
        return _anthropic_event(b"content_block_delta", obj)

    def _count(self, name: bytes, data_parts: list[bytes]) -> None:
        try:
            obj = json.loads(b"\n".join(data_parts))
        except ValueError:
            return
        if isinstance(obj, dict) and name == b"message_start":
            obj = obj.get("message")
        usage = obj.get("usage") if isinstance(obj, dict) else None
        if isinstance(usage, dict):
            reported = {k: v for k, v in usage.items() if v is not None}
            self.usage = {**(self.usage or {}), **reported}

    def _flush_all(self, index: int | None = None) -> bytes:
        out = bytearray()
        for key in sorted(k for k in self._held if index is None or k[0] == index):
            text = self._held.pop(key)
            if not text:
                continue
            dtype, field_name = _ANTHROPIC_DELTA_OF_KEY[key[1]]
            event = {
                "type": "content_block_delta",
                "index": key[0],
                "delta": {"type": dtype, field_name: text},
            }
            out += _anthropic_event(b"content_block_delta", event)
        return bytes(out)


def _anthropic_event(name: bytes, obj: dict[str, Any]) -> bytes:
    body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return b"event: " + name + b"\ndata: " + body + b"\n\n"
