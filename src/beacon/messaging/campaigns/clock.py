"""The clock the campaign scheduler reads to decide what is due, and local send times.

Production uses the system clock; tests hand the scheduler a ``ManualClock`` and move it
forward instead of sleeping until a send time.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from beacon.core.timefmt import as_utc, utcnow


class Clock(Protocol):
    """Something that tells the current UTC time."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        return utcnow()


class ManualClock:
    """A clock tests control: frozen at ``start`` (or following the system clock when no
    start is given) plus whatever ``advance`` added."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = as_utc(start) if start is not None else None
        self._offset = timedelta()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The controlled current time."""
        with self._lock:
            base = self._start if self._start is not None else utcnow()
            return base + self._offset

    def advance(self, delta: timedelta | float) -> datetime:
        """Move the clock forward (seconds or a timedelta); returns the new time."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        with self._lock:
            self._offset += step
        return self.now()

    def set(self, when: datetime) -> None:
        """Freeze the clock at ``when``."""
        with self._lock:
            self._start = as_utc(when)
            self._offset = timedelta()


SYSTEM_CLOCK = SystemClock()


def resolve_local_time(local: datetime, timezone: str) -> datetime:
    """The UTC instant of a wall-clock time in an IANA timezone, across DST changes.

    A time that does not exist (skipped when clocks spring forward, e.g. 02:30 on the night
    of the change) is moved forward by the gap (03:30 local); a time that happens twice
    (clocks fall back) means its first occurrence. An aware datetime is converted as is.
    """
    if local.tzinfo is not None:
        return as_utc(local)
    # fold=0 takes the offset in force before the transition: forward for gaps, first for folds
    return as_utc(local.replace(tzinfo=ZoneInfo(timezone), fold=0))
