"""One-time values a form hands to the page it redirects to (POST-redirect-GET): a new secret
is shown once after the redirect, and a reload of that page neither creates another nor shows
it again.

Console sessions are database rows without a payload, and a secret must not travel in a URL
or a cookie, so the value is held in this process's memory for ``TTL``, bound to the session
that made it, under a random id the redirect's URL carries; the first GET takes it. A server
restart (or a redirect that lands on another replica) in between loses it: the page then says
the secret was shown once, and the key can be revoked and made again."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

TTL_SECONDS = 300.0
MAX_HELD = 1_000  # values nobody came back for are dropped, oldest first, beyond this


@dataclass(frozen=True)
class _Held:
    session_id: int
    value: Any
    expires: float


_held: dict[str, _Held] = {}
_lock = threading.Lock()


def put(*, session_id: int, value: Any) -> str:
    """Hold ``value`` for the console session ``session_id``; the id to put in the redirect."""
    flash_id = secrets.token_urlsafe(16)
    now = time.monotonic()
    with _lock:
        for stale in [k for k, held in _held.items() if held.expires <= now]:
            del _held[stale]
        while len(_held) >= MAX_HELD:
            del _held[next(iter(_held))]
        _held[flash_id] = _Held(session_id, value, now + TTL_SECONDS)
    return flash_id


def take(*, session_id: int, flash_id: str) -> Any | None:
    """The value held under ``flash_id`` for this session, once; None afterwards, after
    ``TTL_SECONDS``, or for another session (the value stays for its own)."""
    with _lock:
        held = _held.get(flash_id)
        if held is None or held.session_id != session_id:
            return None
        del _held[flash_id]
    return held.value if held.expires > time.monotonic() else None
