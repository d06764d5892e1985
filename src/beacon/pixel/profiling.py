"""Where the flusher's time goes: an optional cProfile of its flush loop, and its summary.

With ``BEACON_PIXEL_FLUSHER_PROFILE_DIR`` set, each flush loop (a flusher process's, or the
server's flusher thread) profiles itself and writes ``flusher-<pid>.prof`` there when it stops (the collector benchmark reads them).
cProfile slows the profiled code down, so this is for measuring, never for production.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# SQLAlchemy compiles a statement here on every execution that misses its cache.
_COMPILE_ENTRY = ("sqlalchemy/sql/elements.py", "_compile_w_cache")


def profiled(directory: Path | None, run: Callable[[], T]) -> T:
    """``run()``, profiled into ``directory/flusher-<pid>.prof`` when a directory is given."""
    if directory is None:
        return run()
    directory.mkdir(parents=True, exist_ok=True)
    # CPU time, not wall time: a niced flusher on a busy machine waits for a core, and that
    # wait is not the code's cost.
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    try:
        return run()
    finally:
        profiler.disable()
        profiler.dump_stats(directory / f"flusher-{os.getpid()}.prof")


def load_profiles(paths: Iterable[Path]) -> pstats.Stats | None:
    """The profiles of several flusher processes merged into one, or None if there are none."""
    found = [str(path) for path in paths]
    return pstats.Stats(*found) if found else None


def total_seconds(stats: pstats.Stats) -> float:
    """Profiled time spent flushing (`SpoolConsumer.flush`), the idle loop left out."""
    return cumulative_seconds(stats, "beacon/pixel/consumer.py", "flush")


def cumulative_seconds(stats: pstats.Stats, filename: str, function: str) -> float:
    """Time in ``function`` of ``filename`` (a path suffix) and everything it called."""
    return sum(
        entry[3]
        for (name, _line, func), entry in stats.stats.items()  # type: ignore[attr-defined]
        if func == function and name.endswith(filename)
    )


def compile_share(stats: pstats.Stats) -> float:
    """Share of the profiled time spent compiling SQL statements (0 when nothing ran)."""
    total = total_seconds(stats)
    return cumulative_seconds(stats, *_COMPILE_ENTRY) / total if total else 0.0
