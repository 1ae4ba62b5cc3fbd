"""FastAPI app factory. The middleware order is declared here, once.

Request flow: HeaderLimits (431) -> InFlightLimit (503 overloaded) -> BodySizeLimit (413 before
buffering) -> BodyReadTimeout (408) -> router -> api/proxy.handle -> pipeline. The head's read
deadline is in serving.py (uvicorn level).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from privacy_router import tracing, ui
from privacy_router.api import (
    anthropic_messages,
    audit,
    embeddings,
    health,
    models,
    openai_chat,
    openai_completions,
    route_explain,
)
from privacy_router.api.responses import error_body, error_response
from privacy_router.errors import RouterError
from privacy_router.gateway import Gateway
from privacy_router.middleware import BodyReadTimeout, BodySizeLimit, HeaderLimits, InFlightLimit


def create_app(gateway: Gateway) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tracing.setup()  # a no-op unless the otel extra is installed and an OTLP endpoint is set
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()
            tracing.shutdown()

    app = FastAPI(
        title="privacy-router",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.gateway = gateway
    for module in (
        openai_chat,
        openai_completions,
        anthropic_messages,
        embeddings,
        models,
        health,
        audit,
        ui,
        route_explain,
    ):
        app.include_router(module.router)

    @app.exception_handler(RouterError)
    async def _router_error(request: Request, exc: RouterError) -> Response:
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = {404: "no such endpoint", 405: "method not allowed"}.get(exc.status_code, "request refused")
        return JSONResponse(error_body(message, "invalid_request_error", code), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        return JSONResponse(
            error_body("invalid request", "invalid_request_error", "invalid_request"), status_code=400
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # Never a traceback and never the message (it may hold content): a generic 500.
        return error_response(exc)

    # Plain ASGI middleware only (STYLE.md). Starlette makes the LAST add_middleware the outermost,
    # so these read innermost first:
    # HeaderLimits -> InFlightLimit -> BodySizeLimit -> BodyReadTimeout -> router.
    server = gateway.settings.server
    app.add_middleware(BodyReadTimeout, timeout_s=server.body_timeout_s)
    app.add_middleware(BodySizeLimit, max_bytes=server.max_body_bytes)
    app.add_middleware(InFlightLimit, limit=server.max_in_flight)
    app.add_middleware(HeaderLimits, max_count=server.max_header_count, max_bytes=server.max_header_bytes)
    return app
