"""Dashboard sign-in sessions: opaque ids in a cookie, everything else in this process's memory.

The cookie holds only a random id (``secrets.token_urlsafe(32)``, 256 bits); the API key, the
principal and the CSRF token stay server-side, so a stolen cookie file holds no key and a restart
signs everyone out. The key is kept (in memory only) because every page view authenticates it again
through ``Authenticator``: a key removed from the keys file, or one over its rate limit, stops
working on the dashboard at the next click, exactly as on the API.

Cookie attributes (OWASP Session Management Cheat Sheet): ``HttpOnly`` (no script can read it),
``SameSite=Strict`` (no cross-site request carries it, the first CSRF defence), ``Path=/ui``,
``Secure`` when the request came over HTTPS. Sessions end after ``IDLE_S`` without a page view or
``ABSOLUTE_S`` after sign-in, whichever is first.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from privacy_router.types import Principal

COOKIE = "pr_ui_session"
LOGIN_COOKIE = "pr_ui_login"  # pre-session CSRF token of the sign-in form (double submit)
IDLE_S = 30 * 60
ABSOLUTE_S = 8 * 60 * 60
MAX_SESSIONS = 1000


@dataclass
class Session:
    sid: str
    key: str = field(repr=False)
    principal: Principal
    csrf: str = field(repr=False)
    created: float
    seen: float


class SessionStore:
    """Thread-safe map of session id -> Session, with idle and absolute expiry."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    def create(self, key: str, principal: Principal) -> Session:
        now = self._clock()
        session = Session(
            sid=secrets.token_urlsafe(32),
            key=key,
            principal=principal,
            csrf=secrets.token_urlsafe(32),
            created=now,
            seen=now,
        )
        with self._lock:
            self._expire(now)
            if len(self._sessions) >= MAX_SESSIONS:
                # Bounded memory: the least recently used session goes first.
                oldest = min(self._sessions.values(), key=lambda s: s.seen)
                del self._sessions[oldest.sid]
            self._sessions[session.sid] = session
        return session

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        now = self._clock()
        with self._lock:
            session = self._sessions.get(sid)
            if session is None:
                return None
            if now - session.seen > IDLE_S or now - session.created > ABSOLUTE_S:
                del self._sessions[sid]
                return None
            session.seen = now
            return session

    def drop(self, sid: str | None) -> None:
        if sid:
            with self._lock:
                self._sessions.pop(sid, None)

    def __len__(self) -> int:
        return len(self._sessions)

    def _expire(self, now: float) -> None:
        for sid in [
            s.sid for s in self._sessions.values() if now - s.seen > IDLE_S or now - s.created > ABSOLUTE_S
        ]:
            del self._sessions[sid]


def same_token(expected: str, given: str | None) -> bool:
    """Constant-time comparison of CSRF tokens."""
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())
