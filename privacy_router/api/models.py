"""GET /v1/models: the model names a client may ask for (on-prem, external, and mapped aliases)."""

from typing import Any

from fastapi import APIRouter, Request

from privacy_router.api.proxy import authenticated_principal
from privacy_router.gateway import Gateway

router = APIRouter()


@router.get("/v1/models")
async def list_models(request: Request) -> dict[str, Any]:
    gw: Gateway = request.app.state.gateway
    await authenticated_principal(request)
    names: dict[str, str] = {}
    for b in gw.settings.backends.onprem:
        for m in b.models:
            names.setdefault(m, b.name)
    for b in gw.settings.backends.external:
        for m in b.models:
            names.setdefault(m, b.name)
    for alias in gw.settings.model_map:
        names.setdefault(alias, "privacy-router")
    return {
        "object": "list",
        "data": [
            {"id": m, "object": "model", "created": 0, "owned_by": owner}
            for m, owner in sorted(names.items())
        ],
    }
