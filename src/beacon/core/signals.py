"""Stop requests delivered by signals, recorded without taking a lock.

A Python signal handler runs in the main thread between two bytecodes, possibly inside code
that holds a lock. A handler that takes a lock itself (``threading.Event.set``, a worker's
``stop``) can therefore deadlock: when the main thread is inside ``Event.wait`` or
``Event.set`` holding the event's lock, or when a second SIGTERM runs the handler inside the
first one's ``set``, the handler blocks on a lock its own thread holds, and the process never
stops (seen in CI with the pixel flusher). So a handler here only stores the signal's number
in an attribute (one store, no lock), and the process's main loop polls ``requested``.
"""

from __future__ import annotations

import signal
from types import FrameType


class StopSignal:
    """Records that a stop was asked for; safe to call from a signal handler."""

    def __init__(self) -> None:
        self.signum: int | None = None  # the last signal received, if any

    def install(self, *signums: signal.Signals) -> None:
        """Make each of ``signums`` request a stop (main thread only, as ``signal.signal``)."""
        for signum in signums:
            signal.signal(signum, self.record)

    def record(self, signum: int, frame: FrameType | None = None) -> None:
        """The handler: one attribute store, which takes no lock a thread could already hold."""
        self.signum = signum

    @property
    def requested(self) -> bool:
        return self.signum is not None
