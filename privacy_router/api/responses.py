"""The one place where an exception becomes an HTTP answer in the OpenAI error shape.

Never echoes request content (an exception message in this product can hold the very value
being protected): only the router's own messages, which are written without values.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi.responses import JSONResponse

from privacy_router.errors import Overloaded, RateLimited, RequestBlocked, RouterError


def error_body(
    message: str, error_type: str, code: str | None, param: str | None = None
) -> dict[str, object]:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def error_response(exc: Exception, headers: Mapping[str, str] | None = None) -> JSONResponse:
    hdrs = dict(headers or {})
    if isinstance(exc, RouterError):
        body = error_body(exc.message, exc.error_type, exc.code, exc.param)
        if isinstance(exc, RequestBlocked):
            body["error"]["reasons"] = exc.reasons  # type: ignore[index]
        if isinstance(exc, RateLimited | Overloaded):
            hdrs["retry-after"] = str(exc.retry_after_s)
        if isinstance(exc, Overloaded):
            # Shed before any work: resending later (or to another replica) is the right move.
            hdrs["x-should-retry"] = "true"
        if exc.status_code in (403,) or exc.status_code >= 500:
            # A policy refusal or a fail-closed 5xx is deterministic for this request: tell the
            # openai SDK not to resend it (protocol.md §5, x-should-retry).
            hdrs.setdefault("x-should-retry", "false")
        return JSONResponse(body, status_code=exc.status_code, headers=hdrs)
    hdrs.setdefault("x-should-retry", "false")
    return JSONResponse(
        error_body("internal error", "internal_error", "internal_error"), status_code=500, headers=hdrs
    )
