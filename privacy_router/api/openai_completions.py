"""POST /v1/completions (streamed and not)."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from privacy_router.api.proxy import handle

router = APIRouter()


@router.post("/v1/completions")
async def completions(request: Request) -> Response:
    return await handle(request, "completions", "/completions")
