"""Every exception the router raises on purpose, and how each becomes an HTTP answer.

    RouterError                      base; carries an HTTP status and an OpenAI error ``type``/``code``
    ├── ConfigError                  bad configuration at start-up (names the key and the fix)
    ├── BadRequest (400)             the client sent something we will not parse or forward
    │   ├── PayloadTooLarge (413)
    │   └── UnsupportedPayload       a shape we cannot scan (fails closed: nothing is forwarded)
    ├── Unauthorized (401) / Forbidden (403)
    ├── RateLimited (429)            a key's or tenant's token bucket is empty; carries Retry-After
    ├── Overloaded (503)             too many requests already wait for detection; carries Retry-After
    ├── RequestBlocked (403)         control flow: the policy said ``block``; stops the pipeline
    ├── DetectionError (503)         detector raised or timed out: treated as "sensitive"
    ├── PolicyUnavailable (503)      engine error, timeout, undefined or malformed decision
    ├── ScrubError (503)             residual finding after scrubbing: nothing goes out
    ├── AuditWriteError (503)        the write-ahead record could not be made durable
    └── UpstreamError (502/503/504)  backend refused, failed, or timed out

Foreign exceptions are translated at exactly one boundary each: httpx errors in ``upstream/``,
regopy/OPA errors in ``policy/``, sqlite3/psycopg errors in ``audit/``. Messages never contain
request content: in this product an exception message can hold the very value being protected.
"""

from __future__ import annotations


class RouterError(Exception):
    status_code: int = 500
    error_type: str = "internal_error"
    code: str | None = None

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.param = param


class ConfigError(RouterError):
    error_type = "config_error"


class BadRequest(RouterError):
    status_code = 400
    error_type = "invalid_request_error"
    code = "invalid_request"


class PayloadTooLarge(BadRequest):
    status_code = 413
    code = "payload_too_large"


class UnsupportedPayload(BadRequest):
    code = "unsupported_payload"


class Unauthorized(RouterError):
    status_code = 401
    error_type = "authentication_error"
    code = "invalid_api_key"


class Forbidden(RouterError):
    status_code = 403
    error_type = "permission_error"
    code = "forbidden"


class RateLimited(RouterError):
    """A per-key or per-tenant token bucket is empty. OpenAI answers 429 with this type/code."""

    status_code = 429
    error_type = "requests"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Overloaded(RouterError):
    """Load shedding: the replica has ``server.max_pending_detections`` requests waiting already.

    Refused before any work is done (nothing scanned, nothing audited, nothing forwarded); the
    client may retry after ``retry_after_s``, on this replica or another.
    """

    status_code = 503
    error_type = "server_error"
    code = "overloaded"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RequestBlocked(RouterError):
    """Control flow, not a fault: the policy decided ``block``. Raised by the decide step."""

    status_code = 403
    error_type = "policy_violation"
    code = "request_blocked"

    def __init__(self, message: str, *, reasons: list[str] | None = None) -> None:
        super().__init__(message)
        self.reasons = list(reasons or [])


class DetectionError(RouterError):
    status_code = 503
    error_type = "service_unavailable"
    code = "detection_unavailable"


class PolicyUnavailable(RouterError):
    status_code = 503
    error_type = "service_unavailable"
    code = "policy_unavailable"


class ScrubError(RouterError):
    status_code = 503
    error_type = "service_unavailable"
    code = "scrub_failed"


class AuditWriteError(RouterError):
    status_code = 503
    error_type = "service_unavailable"
    code = "audit_unavailable"


class UpstreamError(RouterError):
    status_code = 502
    error_type = "upstream_error"
    code = "upstream_error"

    def __init__(self, message: str, *, status_code: int = 502, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.status_code = status_code
