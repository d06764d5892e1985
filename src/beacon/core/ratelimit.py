"""Per-caller request quotas with the ``limits`` library (memory, or Redis when configured)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from beacon.core.errors import RateLimited


@dataclass(frozen=True)
class RateState:
    limit: int
    remaining: int
    reset_at: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        """``X-RateLimit-*`` headers describing this window."""
        return [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", str(self.reset_at).encode()),
        ]


@dataclass(frozen=True)
class Taken:
    """One event ``RateLimiter.take`` counted: whether it fit, and the window it was counted
    in (``give_back`` uncounts it only while that window lasts)."""

    key: str
    limit: str
    allowed: bool
    window_end: int

    def __bool__(self) -> bool:
        return self.allowed


class RateLimiter:
    """Fixed-window counters keyed by caller; shared across processes through Redis if set."""

    def __init__(self, redis_url: str | None = None) -> None:
        uri = redis_url if redis_url else "memory://"
        self._limiter = FixedWindowRateLimiter(storage_from_string(uri))
        self._items: dict[str, RateLimitItem] = {}

    def _item(self, limit: str) -> RateLimitItem:
        item = self._items.get(limit)
        if item is None:
            item = self._items[limit] = parse(limit)
        return item

    def check(self, *, key: str, limit: str) -> None:
        """Raise ``RateLimited`` when ``key`` has no request left in this window, without
        counting one (for quotas that count only some outcomes, such as failures)."""
        item = self._item(limit)
        if not self._limiter.test(item, key):
            stats = self._limiter.get_window_stats(item, key)
            retry_after = max(1, math.ceil(stats.reset_time) - int(time.time()))
            raise RateLimited(
                f"Rate limit of {limit} exceeded; retry in {retry_after} seconds",
                headers={"retry-after": str(retry_after)},
            )

    def hit(self, *, key: str, limit: str) -> RateState:
        """Count one request for ``key``; raise ``RateLimited`` (with headers) when over quota."""
        item = self._item(limit)
        allowed = self._limiter.hit(item, key)
        stats = self._limiter.get_window_stats(item, key)
        state = RateState(item.amount, max(0, stats.remaining), math.ceil(stats.reset_time))
        if not allowed:
            retry_after = max(1, state.reset_at - int(time.time()))
            headers = {k.decode(): v.decode() for k, v in state.headers()}
            headers["retry-after"] = str(retry_after)
            raise RateLimited(
                f"Rate limit of {limit} exceeded; retry in {retry_after} seconds", headers=headers
            )
        return state

    def has_room(self, *, key: str, limit: str) -> bool:
        """Whether ``key`` has an event left in this window, counting none."""
        return bool(self._limiter.test(self._item(limit), key))

    def take(self, *, key: str, limit: str) -> Taken:
        """Count one event for ``key``; the result is true when it fits in the window. Counting
        and checking are one step, so of concurrent callers only as many as the limit get true
        (reading first and counting after a slow check let every concurrent caller through)."""
        item = self._item(limit)
        allowed = bool(self._limiter.hit(item, key))
        return Taken(key, limit, allowed, self._window_end(item, key))

    def _window_end(self, item: RateLimitItem, key: str) -> int:
        return math.ceil(self._limiter.get_window_stats(item, key).reset_time)

    def reset_in(self, *, key: str, limit: str) -> int:
        """Seconds until ``key``'s current window ends (at least 1)."""
        stats = self._limiter.get_window_stats(self._item(limit), key)
        return max(1, math.ceil(stats.reset_time) - int(time.time()))

    def give_back(self, taken: Taken) -> None:
        """Uncount an event ``take`` counted that turned out not to be one (a sign-in that
        succeeded, or one refused without a check), if its window still runs: once it ended,
        the count ended with it, and uncounting would free a place in the next window."""
        item = self._item(taken.limit)
        if self._window_end(item, taken.key) == taken.window_end:
            self._limiter.hit(item, taken.key, cost=-1)
