"""Operator endpoints: liveness, readiness, Prometheus metrics. No authentication, no content."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from privacy_router.gateway import Gateway

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    gw: Gateway | None = getattr(request.app.state, "gateway", None)
    if gw is None:
        return JSONResponse({"status": "not ready", "reason": "starting"}, status_code=503)
    ok, reason = gw.ready()
    return JSONResponse(
        {"status": "ready" if ok else "not ready", "reason": reason}, status_code=200 if ok else 503
    )


@router.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
