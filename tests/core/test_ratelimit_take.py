"""``RateLimiter.take`` and ``give_back``: an event given back is uncounted from the window it
was counted in, never from the next (a slow check straddling a window's end freed a place in
the new window: 4 of a 3-per-window quota)."""

from __future__ import annotations

import time

from beacon.core.ratelimit import RateLimiter


def test_give_back_uncounts_in_the_same_window() -> None:
    limiter = RateLimiter()
    taken = [limiter.take(key="k", limit="2/minute") for _ in range(2)]
    refused = limiter.take(key="k", limit="2/minute")  # counted too, as every take
    assert all(taken) and not refused
    limiter.give_back(refused)
    limiter.give_back(taken[0])
    assert limiter.take(key="k", limit="2/minute")


def test_give_back_after_the_window_ended_frees_nothing_in_the_next() -> None:
    limiter = RateLimiter()
    first = limiter.take(key="k", limit="3/second")
    assert first
    time.sleep(first.window_end - time.time() + 0.05)  # the window ends; a new one starts
    fresh = [limiter.take(key="k", limit="3/second") for _ in range(3)]
    assert all(fresh) and fresh[0].window_end != first.window_end
    limiter.give_back(first)  # its check took longer than its window
    assert not limiter.take(key="k", limit="3/second")
