"""POST /v1/chat/completions (streamed and not)."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from privacy_router.api.proxy import handle

router = APIRouter()


@router.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    return await handle(request, "chat.completions", "/chat/completions")
