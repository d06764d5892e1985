"""Counting what a `beacon ingest-log` run spooled (`pixel.ingest_log` reads the log).

The events go through the spool `beacon serve` shares: when a server runs beside, its flusher
may count some of them first. `flush_spooled` flushes exactly the segments this run wrote,
waiting a bounded time for those a flusher holds, and reports what they counted, whoever
counted them, and which were not counted (failed, still held, quarantined). Then
`flush_leftovers` flushes what else is in the spool without waiting (segments of an earlier
run whose flush failed, of a dead writer), reported apart: a site that runs only
`ingest-log`, from cron, has no server to count them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from beacon.core.db import Database
from beacon.pixel import collector_repository
from beacon.pixel.consumer import SpoolConsumer
from beacon.pixel.spool import QUARANTINE_DIR, SealedSegment
from beacon.pixel.tally import FlushResult


@dataclass(frozen=True)
class Flushed:
    """What the segments of one run came to: hits counted and rejected (whoever counted
    them), and the segments not counted: still in the spool because this process's flush of
    them failed (``failed``) or another flusher held them past the wait (``held``: it counts
    them), moved to the quarantine (``quarantined``: nobody counts them), or gone from the
    spool uncounted (``missing``: removed by hand)."""

    counted: int = 0
    rejected: int = 0
    failed: int = 0
    held: int = 0
    quarantined: int = 0
    missing: int = 0


def flush_spooled(
    *,
    consumer: SpoolConsumer,
    db: Database,
    segments: list[SealedSegment],
    wait: float,
    on_wait: Callable[[], object] = lambda: None,
) -> Flushed:
    """Flush ``segments`` (sealed by this run), waiting up to ``wait`` seconds in all for
    those another flusher holds, and total what they came to, whether this process or a
    running server's flusher counted them."""
    result = consumer.flush_segments([s.path for s in segments], wait=wait, on_wait=on_wait)
    # Where each segment is first, then whether it is counted: one a flusher counts meanwhile
    # has its row by then, so a segment seen nowhere was not deleted by a flusher.
    aside = consumer.spool.directory / QUARANTINE_DIR
    places = {s.segment_id: _place(s.path, aside) for s in segments}
    with db.transaction() as session:
        counts = collector_repository.segment_counts(session, list(places))
    uncounted = Counter(place for sid, place in places.items() if sid not in counts)
    # The segments this process failed to flush are still in the spool, unless another
    # flusher counted them since; any other segment left there was held past the wait.
    failed = min(result.failed, uncounted["spool"])
    return Flushed(
        counted=sum(hits for hits, _ in counts.values()),
        rejected=sum(rejected for _, rejected in counts.values()),
        failed=failed,
        held=uncounted["spool"] - failed,
        quarantined=uncounted["quarantine"],
        missing=uncounted["nowhere"],
    )


def _place(path: Path, aside: Path) -> str:
    if path.exists():
        return "spool"
    return "quarantine" if (aside / path.name).exists() else "nowhere"


def flush_leftovers(*, consumer: SpoolConsumer, own: list[SealedSegment]) -> FlushResult:
    """Flush, without waiting for any, the sealed segments in the spool that are not this
    run's: those an earlier run failed to flush (its lines are already marked ingested),
    those of writers that died (sealed when the spool was opened), a server's."""
    mine = {s.path for s in own}
    leftovers = [path for path in consumer.spool.sealed_segments() if path not in mine]
    return consumer.flush_segments(leftovers) if leftovers else FlushResult()
