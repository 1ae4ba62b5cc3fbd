"""One SIGHUP handler per process; each reloadable part subscribes to it.

``kill -HUP <pid>`` asks the gateway to re-read what operators edit live: the API keys file
(auth/keys.py) and the policy folder (policy/lifecycle.py). A signal handler must return at once,
so each subscriber runs in its own short-lived thread; a subscriber that raises is logged and the
others still run. Python delivers signals to the main thread only, and ``signal.signal`` works
only there: an app served from another thread (the tests' ServerThread) is not subscribed and
reloads by polling or by direct calls instead.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import Any

import structlog

log = structlog.get_logger("privacy_router.signals")

_subscribers: dict[str, Callable[[], object]] = {}
_previous: Any = None
_installed = False
_lock = threading.Lock()


def can_subscribe() -> bool:
    return os.name == "posix" and threading.current_thread() is threading.main_thread()


def subscribe(name: str, callback: Callable[[], object]) -> bool:
    """Run ``callback`` on every SIGHUP until ``unsubscribe(name)``. False where signals cannot be used."""
    global _previous, _installed
    if not can_subscribe():
        return False
    with _lock:
        _subscribers[name] = callback
        if not _installed:
            _previous = signal.getsignal(signal.SIGHUP)
            signal.signal(signal.SIGHUP, _on_sighup)
            _installed = True
    return True


def unsubscribe(name: str) -> None:
    """Forget ``name``; the last one out restores the handler that was there before."""
    global _previous, _installed
    with _lock:
        _subscribers.pop(name, None)
        if _installed and not _subscribers and can_subscribe():
            signal.signal(signal.SIGHUP, _previous if _previous is not None else signal.SIG_DFL)
            _previous, _installed = None, False


def _on_sighup(signum: int, frame: object) -> None:
    with _lock:
        callbacks = list(_subscribers.items())
    log.info("sighup", subscribers=[name for name, _ in callbacks])
    for name, callback in callbacks:
        threading.Thread(target=_run, args=(name, callback), name=f"sighup-{name}", daemon=True).start()


def _run(name: str, callback: Callable[[], object]) -> None:
    try:
        callback()
    except Exception:
        log.exception("sighup_reload_failed", subscriber=name)
