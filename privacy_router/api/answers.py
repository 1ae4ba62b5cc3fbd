"""Delivered answers are analysed after the response, so the next turn finds them in the cache.

A chat client resends the whole conversation on every turn. The findings cache
(detection/cache.py) already holds every earlier user message; the one segment of history the
detector has never seen is the previous assistant answer. Analysing that answer as it was
delivered to the client (placeholders restored), under the client's tenant, once the response is
ready (for a streamed answer: once its stream completed), makes the next request cost about as
much as its newest message alone (docs/performance.md, "Chat cost").

This work is off the request path and best effort: it never delays or fails a response; when
``MAX_PENDING`` analyses are already running (the gateway is busy), it is skipped and the next
request simply analyses the answer itself. Only the findings are cached, under the same key a
request would use (tenant, engine fingerprint, text), so nothing crosses tenants and the result
is exactly what the request would have computed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from privacy_router.gateway import Gateway

log = structlog.get_logger("privacy_router.answers")

# Background analyses in flight at once, per process; beyond this, answers are not pre-analysed.
MAX_PENDING = 2

_tasks: set[asyncio.Task[None]] = set()


def answer_texts(endpoint: str, body: dict[str, Any]) -> list[str]:
    """The assistant texts a chat client will send back as history: each choice's string content."""
    if endpoint != "chat.completions":
        return []
    choices = body.get("choices")
    texts: list[str] = []
    for choice in choices if isinstance(choices, list) else []:
        message = choice.get("message") if isinstance(choice, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str) and content and content not in texts:
            texts.append(content)
    return texts


def remember(gw: Gateway, tenant: str | None, endpoint: str, body: dict[str, Any]) -> None:
    """Schedule the analysis of a delivered (non-streamed) answer; returns at once."""
    remember_texts(gw, tenant, answer_texts(endpoint, body))


def remember_texts(gw: Gateway, tenant: str | None, texts: list[str]) -> None:
    """Schedule the analysis of answer texts as the client got them; returns at once. A streamed
    answer's texts come from the stream restorer (``SSERestorer.answer_texts``) once it completed."""
    if gw.cache is None or tenant is None or len(_tasks) >= MAX_PENDING or not texts:
        return
    task = asyncio.get_running_loop().create_task(_analyze(gw, texts, tenant))
    _tasks.add(task)  # the loop keeps only a weak reference to a task
    task.add_done_callback(_tasks.discard)


async def _analyze(gw: Gateway, texts: list[str], tenant: str) -> None:
    try:
        await gw.analyze(texts, tenant)
    except Exception as exc:
        # Only the type: a message could quote the answer. Nothing is cached on failure.
        log.info("answer_preanalysis_failed", error=type(exc).__name__)
