"""POST /v1/embeddings."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from privacy_router.api.proxy import handle

router = APIRouter()


@router.post("/v1/embeddings")
async def embeddings(request: Request) -> Response:
    return await handle(request, "embeddings", "/embeddings")
