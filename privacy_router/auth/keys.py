"""API keys -> principals, stored as SHA-256 digests, reloadable without a restart.

Two sources: ``api_keys`` in the configuration (fixed for the life of the process) and the optional
``auth.keys_file`` (the same entries, re-read when its mtime, size or inode changes, checked at most
once per ``reload_interval_s``). Revoking a key means deleting its entry from the keys file; the
next request after the check sees it gone.

A keys file that cannot be read or does not validate never replaces the keys in force: the last good
set stays, the failure is logged (without the file's content) and counted in
``privacy_router_auth_keys_reload_total{result="error"}``. Failing open here would mean "no keys";
failing to the empty set would lock every client out on a typo; keeping the last good set is what
OPA does with a bundle that fails to activate (threats.md 4.5).

Why a plain digest and a dict lookup: API keys are long random secrets, not passwords, so a fast
hash is enough (no dictionary attack to slow down), and a lookup keyed by the digest leaks nothing
useful through timing (the attacker does not control the digest's prefix).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import structlog
import yaml
from prometheus_client import Counter, Gauge
from pydantic import TypeAdapter, ValidationError

from privacy_router.config import ApiKeySettings
from privacy_router.errors import ConfigError
from privacy_router.types import Principal

log = structlog.get_logger("privacy_router.auth")

KEYS_RELOAD = Counter(
    "privacy_router_auth_keys_reload_total", "Keys-file reloads, by result (ok|error).", ["result"]
)
KEYS_LOADED = Gauge("privacy_router_auth_keys", "API keys in force, by source.", ["source"])

_ENTRIES = TypeAdapter(tuple[ApiKeySettings, ...])


def hash_key(key: str) -> str:
    """The hex SHA-256 stored in ``key_sha256`` (``privacy-router keys hash KEY`` prints the same)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _principals(entries: Iterable[ApiKeySettings]) -> dict[str, Principal]:
    out: dict[str, Principal] = {}
    for e in entries:
        out[e.key_sha256] = Principal(
            e.service, e.tenant, e.jurisdiction, tuple(e.roles), key_id=e.key_sha256[:12]
        )
    return out


def parse_keys_file(text: str) -> tuple[ApiKeySettings, ...]:
    """A YAML list of ``api_keys`` entries, or a mapping whose ``api_keys`` key holds that list.

    Raises ValueError with a message that names the entry index and field, never a value.
    """
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ValueError("not valid YAML") from None
    if isinstance(data, dict) and set(data) == {"api_keys"}:
        data = data["api_keys"]
    if data is None:
        data = []
    if not isinstance(data, list):
        raise ValueError("must hold a list of api_keys entries (or a mapping with 'api_keys')")
    try:
        entries = _ENTRIES.validate_python(data)
    except ValidationError as exc:
        where = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors(include_input=False)
        )
        raise ValueError(f"invalid entries: {where}") from None
    digests = [e.key_sha256 for e in entries]
    if len(set(digests)) != len(digests):
        raise ValueError("the same key_sha256 appears twice")
    return entries


class KeyStore:
    """Look up the principal of an API key; re-reads ``keys_file`` when it changes."""

    def __init__(
        self,
        static: Sequence[ApiKeySettings],
        keys_file: Path | None = None,
        *,
        reload_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._static = _principals(static)
        self._file = keys_file
        self._interval = reload_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._from_file: dict[str, Principal] = {}
        self._stamp: tuple[int, int, int] | None = None
        self._checked_at = float("-inf")
        KEYS_LOADED.labels(source="config").set(len(self._static))
        if keys_file is not None:
            # At start-up a broken keys file is a configuration error: refuse to start, name the key.
            try:
                self._load(self._stat())
            except (OSError, ValueError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else str(exc)
                raise ConfigError(f"config key 'auth.keys_file': {keys_file}: {reason}") from None
            self._checked_at = self._clock()

    @property
    def keys_file(self) -> Path | None:
        return self._file

    def count(self) -> int:
        return len(self._static.keys() | self._from_file.keys())

    def lookup(self, key: str) -> Principal | None:
        self.maybe_reload()
        digest = hash_key(key)
        # The keys file wins over the config for the same digest: it is the one operators edit live.
        return self._from_file.get(digest) or self._static.get(digest)

    def maybe_reload(self) -> bool:
        """Re-read the keys file if it changed and the last check is older than the interval.

        Returns True when a new set of keys was installed.
        """
        if self._file is None:
            return False
        now = self._clock()
        if now - self._checked_at < self._interval:
            return False
        with self._lock:
            if now - self._checked_at < self._interval:
                return False
            self._checked_at = now
            return self._reload_if_changed()

    def reload(self) -> bool:
        """Re-read the keys file now, whatever its stamp (e.g. on SIGHUP)."""
        if self._file is None:
            return False
        with self._lock:
            self._stamp = None
            self._checked_at = self._clock()
            return self._reload_if_changed()

    def _stat(self) -> tuple[int, int, int]:
        if self._file is None:
            raise RuntimeError("no keys file configured")
        st = os.stat(self._file)
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _reload_if_changed(self) -> bool:
        try:
            stamp = self._stat()
            if stamp == self._stamp:
                return False
            # Remember the stamp even if the content is bad: one error per change, not per second.
            self._stamp = stamp
            self._load(stamp)
        except (OSError, ValueError) as exc:
            KEYS_RELOAD.labels(result="error").inc()
            reason = type(exc).__name__ if isinstance(exc, OSError) else str(exc)
            # The reason names entries and fields (pydantic errors without input), never a value.
            log.error("keys_file_reload_failed", path=str(self._file), reason=reason, kept=self.count())
            return False
        KEYS_RELOAD.labels(result="ok").inc()
        log.info("keys_file_reloaded", path=str(self._file), keys=len(self._from_file))
        return True

    def _load(self, stamp: tuple[int, int, int]) -> None:
        if self._file is None:
            raise RuntimeError("no keys file configured")
        entries = parse_keys_file(self._file.read_text(encoding="utf-8"))
        self._from_file = _principals(entries)
        self._stamp = stamp
        KEYS_LOADED.labels(source="file").set(len(self._from_file))
