"""Retry decisions of the job runner: a per-kind strategy for failures, and ``RetryLater``
for a handler that asks to run again later (procrastinate's ``RetryStrategy`` and
``RetryLater``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class RetryStrategy:
    """How a kind of job retries: at most ``max_attempts`` runs, waiting ``wait_seconds``
    (doubled per attempt when ``exponential``, capped at ``max_wait_seconds``) after an error
    that is one of ``retry_exceptions``; any other error fails the job at once."""

    max_attempts: int = 3
    wait_seconds: float = 1.0
    exponential: bool = True
    max_wait_seconds: float = 60.0
    retry_exceptions: tuple[type[BaseException], ...] = (Exception,)

    def next_wait(self, *, attempts: int, error: BaseException) -> float | None:
        """Seconds until the next attempt after ``error`` ended attempt ``attempts``; None when
        the job should fail now."""
        if attempts >= self.max_attempts or not isinstance(error, self.retry_exceptions):
            return None
        wait = self.wait_seconds * 2**attempts if self.exponential else self.wait_seconds
        return min(self.max_wait_seconds, wait)


class RetryLater(Exception):
    """Raised by a handler: give the job back to the queue, due again ``after`` seconds from
    now. Nothing the handler's open transaction wrote is kept, and the run does not count as
    an attempt (the job waits for something, it did not fail)."""

    def __init__(self, reason: str = "", *, after: float | timedelta) -> None:
        super().__init__(reason or "retry later")
        self.after = after.total_seconds() if isinstance(after, timedelta) else float(after)
