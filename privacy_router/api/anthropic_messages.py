"""POST /v1/messages: Anthropic's Messages API (streamed and not), through the same pipeline.

Detection, policy, scrub/restore and audit are the same as for chat completions (endpoint
``messages``); errors use Anthropic's shape (protocol.md §6). A backend of kind ``openai`` (vLLM,
OpenAI) gets the request translated to chat completions and its answer translated back
(upstream/translate.py); a backend of kind ``anthropic`` gets it as is.
"""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from privacy_router.api.proxy import handle

router = APIRouter()


@router.post("/v1/messages")
async def messages(request: Request) -> Response:
    return await handle(request, "messages", "/messages", surface="anthropic")
