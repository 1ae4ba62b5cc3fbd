"""Payload -> every text-bearing value, and the inverse: put new text back at the same places.

The rule is "every string leaf is scanned" (threats.md 4.1 rule 4, "Splitting"; DESIGN.md step 3),
with two kinds of exceptions, both decided by *position* in the payload, never by the value:

* routing strings that are not content (top-level ``model``, message ``role``, part/block ``type``,
  tool-call and tool-use ids, ``encoding_format``, a plain-string ``tool_choice``); and
* opaque data the text scanner cannot read, which is *counted* in ``Extraction.unscannable`` so the
  policy can route it on-prem: ``image_url``/``input_audio``/``file``/``audio_url``/``video_url`` parts
  and vLLM's ``*_embeds`` parts (protocol.md 1.2), Anthropic ``image``/``document`` sources that are
  not plain text (protocol.md 6), and token-id arrays (protocol.md 2 and 3).

Assistant ``tool_calls[].function.arguments`` is a JSON *string* (protocol.md 1.2): it is parsed
strictly and each leaf (strings and numbers) becomes its own segment with ``inner`` set, because a
scrubber that edits the raw text can corrupt the JSON and vLLM then silently drops the tool history
(V33 chat_message.py:733-771). Unknown top-level fields (vLLM extras arrive there, protocol.md 1.1)
are scanned as user data: strings AND numbers, because an extra can carry an identifier as a number.

Display paths never embed an object key that could itself be a sensitive value: keys that are not
short identifiers are shown by position (``metadata{2}``), so a key such as ``"536-90-4399"`` does not
reach the policy input or the audit log. Object keys are not scanned: a key cannot be replaced by a
placeholder without changing the payload's shape (a documented limitation).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

from privacy_router import strictjson
from privacy_router.errors import BadRequest
from privacy_router.types import Extraction, Loc, Segment

ENDPOINTS: tuple[str, ...] = ("chat.completions", "completions", "embeddings", "messages")

# Top-level fields each endpoint defines. Anything else is an "extra" (vLLM extras, protocol.md 1.1)
# and is scanned as user data, numbers included. Sources: V33 chat_completion/protocol.py:235-560,
# completion/protocol.py:49-760, pooling/embed/protocol.py:35-186; Anthropic message_create_params.py.
_SAMPLING = frozenset(
    {
        "model", "stream", "stream_options", "n", "temperature", "top_p", "seed", "stop", "user",
        "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "max_tokens", "metadata",
        "response_format", "service_tier", "store", "priority", "request_id",
        # vLLM sampling extras whose numbers are parameters, not content (V33 sampling_params.py)
        "top_k", "min_p", "repetition_penalty", "length_penalty", "min_tokens", "stop_token_ids",
        "ignore_eos", "skip_special_tokens", "spaces_between_special_tokens", "use_beam_search",
        "include_stop_str_in_output", "truncate_prompt_tokens", "prompt_logprobs", "allowed_token_ids",
        "return_token_ids", "return_tokens_as_token_ids", "add_special_tokens", "echo",
    }
)  # fmt: skip
_KNOWN_TOP: dict[str, frozenset[str]] = {
    "chat.completions": _SAMPLING
    | {
        "messages", "tools", "tool_choice", "parallel_tool_calls", "top_logprobs",
        "max_completion_tokens", "reasoning_effort", "functions", "function_call", "modalities",
        "audio", "prediction", "web_search_options", "safety_identifier", "prompt_cache_key",
        "verbosity", "add_generation_prompt", "continue_final_message", "chat_template_kwargs",
    },
    "completions": _SAMPLING | {"prompt", "suffix", "best_of"},
    "embeddings": _SAMPLING | {"input", "encoding_format", "dimensions", "embed_dtype", "endianness"},
    "messages": _SAMPLING
    | {"messages", "system", "tools", "tool_choice", "stop_sequences", "thinking", "max_tokens"},
}  # fmt: skip

# Top-level routing strings that are not content.
_TOP_ROUTING = frozenset({"model", "encoding_format", "embed_dtype", "endianness", "service_tier"})

# Content parts whose payload is opaque bytes or a URL to bytes: the value under the key named like
# the part type is unscannable (protocol.md 1.2, V33 chat_message.py:98-121; OpenAI `file` part).
_OPAQUE_PARTS = frozenset(
    {"image_url", "input_audio", "file", "audio_url", "video_url", "image_embeds", "audio_embeds",
     "video_embeds", "image_pil", "input_image", "input_file"}
)  # fmt: skip
# Inside an opaque part, these strings are still readable text (a file name can be a patient name).
_TEXT_IN_OPAQUE = frozenset({"filename"})
# Anthropic blocks whose ``source`` may be opaque (protocol.md 6).
_SOURCE_BLOCKS = frozenset({"image", "document"})
# Keys that route a content part, block, tool call or message rather than carry content.
_PART_ROUTING = frozenset({"type", "id", "tool_use_id", "tool_call_id"})
_MESSAGE_ROUTING = frozenset({"role", "tool_call_id"})

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def _key_repr(key: str, position: int) -> str:
    # A key that is not a short identifier is shown by its position, so neither a value used as a
    # key nor a key with "." or "[" can leak into, or make ambiguous, the display path.
    return f".{key}" if _IDENT.fullmatch(key) else f"{{{position}}}"


def _is_token_ids(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) > 0
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    )


def _number_text(value: int | float) -> str:
    return json.dumps(value)


class _Walker:
    def __init__(self) -> None:
        self.segments: list[Segment] = []
        self.unscannable: list[str] = []

    # -- leaves --------------------------------------------------------------------------------
    def emit(self, text: str, loc: Loc, path: str, inner: Loc | None = None) -> None:
        self.segments.append(Segment(path=path, text=text, loc=loc, inner=inner))

    # -- generic structure: strings scanned, numbers not (they are sampling parameters) ---------
    def struct(self, node: Any, loc: Loc, path: str, skip: frozenset[str] = frozenset()) -> None:
        if isinstance(node, str):
            self.emit(node, loc, path)
        elif isinstance(node, dict):
            for pos, (key, value) in enumerate(node.items()):
                if key in skip and isinstance(value, str):
                    continue
                self.struct(value, (*loc, key), path + _key_repr(key, pos), skip)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                self.struct(value, (*loc, i), f"{path}[{i}]", skip)

    # -- user data: strings and numbers both scanned -------------------------------------------
    def data(self, node: Any, loc: Loc, path: str, inner: Loc | None = None) -> None:
        # When ``inner`` is not None we are inside a parsed JSON string: ``loc`` stays on the
        # outer string and ``inner`` grows.
        if isinstance(node, str) or (isinstance(node, int | float) and not isinstance(node, bool)):
            text = node if isinstance(node, str) else _number_text(node)
            self.emit(text, loc, path, inner)
        elif isinstance(node, dict | list):
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for pos, (key, value) in enumerate(items):
                step = _key_repr(key, pos) if isinstance(key, str) else f"[{key}]"
                if inner is None:
                    self.data(value, (*loc, key), path + step)
                else:
                    self.data(value, loc, path + step, (*inner, key))

    def json_string(self, text: str, loc: Loc, path: str) -> None:
        """A string that holds JSON (tool-call arguments): scan its leaves, or the raw text."""
        try:
            parsed = strictjson.loads(text)
        except BadRequest:
            # Not JSON (or duplicate keys / NaN / too deep): the whole string is one segment, so
            # nothing is skipped; the detection step still decodes escapes inside it.
            self.emit(text, loc, path)
            return
        self.data(parsed, loc, path + ".$", ())

    # -- chat messages -------------------------------------------------------------------------
    def messages(self, node: Any, loc: Loc, path: str) -> None:
        if not isinstance(node, list):
            self.struct(node, loc, path)
            return
        for i, msg in enumerate(node):
            self.message(msg, (*loc, i), f"{path}[{i}]")

    def message(self, msg: Any, loc: Loc, path: str) -> None:
        if not isinstance(msg, dict):
            self.struct(msg, loc, path)
            return
        for pos, (key, value) in enumerate(msg.items()):
            kloc, kpath = (*loc, key), path + _key_repr(key, pos)
            if key in _MESSAGE_ROUTING and isinstance(value, str):
                continue
            if key == "content":
                self.content(value, kloc, kpath)
            elif key == "tool_calls" and isinstance(value, list):
                for j, call in enumerate(value):
                    self.tool_call(call, (*kloc, j), f"{kpath}[{j}]")
            elif key == "function_call" and isinstance(value, dict):
                self.function(value, kloc, kpath)  # legacy assistant function_call
            else:
                self.struct(value, kloc, kpath)

    def tool_call(self, call: Any, loc: Loc, path: str) -> None:
        if not isinstance(call, dict):
            self.struct(call, loc, path)
            return
        for pos, (key, value) in enumerate(call.items()):
            kloc, kpath = (*loc, key), path + _key_repr(key, pos)
            if key in _PART_ROUTING and isinstance(value, str):
                continue
            if key == "function" and isinstance(value, dict):
                self.function(value, kloc, kpath)
            else:
                self.struct(value, kloc, kpath)

    def function(self, fn: dict[str, Any], loc: Loc, path: str) -> None:
        for pos, (key, value) in enumerate(fn.items()):
            kloc, kpath = (*loc, key), path + _key_repr(key, pos)
            if key == "arguments" and isinstance(value, str):
                self.json_string(value, kloc, kpath)
            else:
                self.struct(value, kloc, kpath)

    def content(self, node: Any, loc: Loc, path: str) -> None:
        if isinstance(node, list):
            for i, part in enumerate(node):
                self.part(part, (*loc, i), f"{path}[{i}]")
        else:
            self.struct(node, loc, path)

    def part(self, part: Any, loc: Loc, path: str) -> None:
        """One content part (OpenAI) or content block (Anthropic)."""
        if not isinstance(part, dict):
            self.struct(part, loc, path)
            return
        ptype = part.get("type")
        # vLLM also accepts a part without "type" and infers it from the key (chat_message.py).
        opaque = {ptype} & _OPAQUE_PARTS if isinstance(ptype, str) else set()
        if ptype is None:
            opaque = set(part) & _OPAQUE_PARTS
        for pos, (key, value) in enumerate(part.items()):
            kloc, kpath = (*loc, key), path + _key_repr(key, pos)
            if key in _PART_ROUTING and isinstance(value, str):
                continue
            if key in opaque:
                self.unscannable.append(kpath)
                if isinstance(value, dict):
                    for k2, v2 in value.items():
                        if k2 in _TEXT_IN_OPAQUE and isinstance(v2, str):
                            self.emit(v2, (*kloc, k2), f"{kpath}.{k2}")
            elif key == "source" and ptype in _SOURCE_BLOCKS:
                self.source(value, kloc, kpath)
            elif key == "input" and ptype in ("tool_use", "server_tool_use"):
                self.data(value, kloc, kpath)  # Anthropic tool_use.input is an object, not a string
            elif key == "content":
                self.content(value, kloc, kpath)  # tool_result content: str or nested blocks
            else:
                self.struct(value, kloc, kpath)

    def source(self, src: Any, loc: Loc, path: str) -> None:
        # Anthropic document sources of type "text" carry plain text in ``data`` and "content" carries
        # blocks; base64, url and file sources are opaque (Anthropic document/image source types).
        if isinstance(src, dict) and src.get("type") == "text":
            self.struct(src, loc, path, frozenset({"type", "media_type"}))
        elif isinstance(src, dict) and src.get("type") == "content":
            for pos, (key, value) in enumerate(src.items()):
                if key == "content":
                    self.content(value, (*loc, key), path + _key_repr(key, pos))
        else:
            self.unscannable.append(path)

    # -- tools and schemas ---------------------------------------------------------------------
    def tools(self, node: Any, loc: Loc, path: str) -> None:
        # JSON-schema "type" values are structure; descriptions, enums, titles and examples are text.
        self.struct(node, loc, path, frozenset({"type"}))

    # -- prompts and inputs that may be token ids ----------------------------------------------
    def prompt(self, node: Any, loc: Loc, path: str) -> None:
        if _is_token_ids(node):
            self.unscannable.append(path)
        elif isinstance(node, list):
            for i, item in enumerate(node):
                if _is_token_ids(item):
                    self.unscannable.append(f"{path}[{i}]")
                elif isinstance(item, dict) and "role" in item:
                    self.message(item, (*loc, i), f"{path}[{i}]")  # vLLM embeddings input as messages
                else:
                    self.struct(item, (*loc, i), f"{path}[{i}]")
        else:
            self.struct(node, loc, path)


def extract(endpoint: str, payload: dict[str, Any]) -> Extraction:
    """Every text-bearing value of ``payload`` as a Segment, in request order, plus unscannable parts.

    Raises UnsupportedPayload-style BadRequest only for an unknown endpoint (a programming error at
    the call site would otherwise skip the scan).
    """
    if endpoint not in _KNOWN_TOP:
        raise BadRequest("unknown endpoint for extraction", code="unsupported_endpoint")
    known = _KNOWN_TOP[endpoint]
    w = _Walker()
    for pos, (key, value) in enumerate(payload.items()):
        loc: Loc = (key,)
        path = _key_repr(key, pos).lstrip(".")
        handler: Callable[[Any, Loc, str], None] | None = None
        if key in _TOP_ROUTING and isinstance(value, str):
            continue
        if key == "tool_choice" and isinstance(value, str):
            continue  # "none" | "auto" | "required" | "any": routing, not content
        if key not in known:
            if key == "prompt_embeds":  # vLLM: base64 tensor, opaque
                w.unscannable.append(path)
                continue
            w.data(value, loc, path)
            continue
        if key == "messages":
            handler = w.messages
        elif key in ("tools", "functions"):
            handler = w.tools
        elif key in ("tool_choice", "response_format"):
            handler = w.tools  # {"type": ...} objects and JSON schemas
        elif key in ("prompt", "input") and endpoint in ("completions", "embeddings"):
            handler = w.prompt
        elif key == "system" and isinstance(value, list):
            handler = w.content  # Anthropic system as text blocks
        elif key == "function_call" and isinstance(value, dict):
            handler = w.tools
        else:
            handler = w.struct
        handler(value, loc, path)
    return Extraction(segments=w.segments, unscannable=w.unscannable)


# --- apply_replacements --------------------------------------------------------------------------


def _get(node: Any, loc: Loc) -> Any:
    for step in loc:
        node = node[step]
    return node


def _set(node: Any, loc: Loc, value: Any) -> Any:
    """Set ``value`` at ``loc`` and return the (possibly new) root."""
    if not loc:
        return value
    parent = _get(node, loc[:-1])
    parent[loc[-1]] = value
    return node


def _dump_like(original: str, parsed: Any) -> Callable[[Any], str]:
    """A serialiser that reproduces ``original``'s layout when it is one of json.dumps' own layouts."""
    layouts = [(seps, a) for seps in ((", ", ": "), (",", ":")) for a in (False, True)]
    layout = next(
        (lay for lay in layouts if json.dumps(parsed, separators=lay[0], ensure_ascii=lay[1]) == original),
        layouts[0],
    )

    def dump(value: Any) -> str:
        return json.dumps(value, separators=layout[0], ensure_ascii=layout[1])

    return dump


def apply_replacements(payload: dict[str, Any], replacements: dict[Segment, str]) -> dict[str, Any]:
    """A deep copy of ``payload`` where each segment's value is replaced by the given text.

    Segments inside a JSON string (``inner`` set) are replaced in the parsed document, which is then
    re-serialised so the string stays valid JSON; a number leaf replaced by text becomes a JSON string.
    The input payload is never mutated.
    """
    out = copy.deepcopy(payload)
    nested: dict[Loc, list[tuple[Loc, str]]] = {}
    for seg, text in replacements.items():
        if seg.inner is None:
            out = _set(out, seg.loc, text)
        else:
            nested.setdefault(seg.loc, []).append((seg.inner, text))
    for loc, edits in nested.items():
        original = _get(payload, loc)
        if not isinstance(original, str):
            raise TypeError("segment location does not address a JSON string")
        doc = strictjson.loads(original)
        dump = _dump_like(original, doc)
        for inner, text in edits:
            doc = _set(doc, inner, text)
        out = _set(out, loc, dump(doc))
    return out
