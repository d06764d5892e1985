"""What counting spool segments comes to: a segment counted in memory (`Tally`, before its
transaction) and what a flush did (`FlushResult`, after it). Below both the consumer, which
counts, and `refusals`, which finds the records behind a refused key."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from beacon.pixel import viewability
from beacon.pixel.rollups import RollupKey


@dataclass
class FlushResult:
    """What one flush did: hits counted, hits rejected by reason, segments processed, failed
    (left for a retry) and quarantined."""

    counted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    segments: int = 0
    failed: int = 0
    quarantined: int = 0

    def add(self, other: FlushResult) -> None:
        """Accumulate another result into this one."""
        self.counted += other.counted
        self.rejected.update(other.rejected)
        self.segments += other.segments
        self.failed += other.failed
        self.quarantined += other.quarantined


@dataclass
class Tally:
    """A segment counted in memory: hits per rollup key, rejections by reason, viewability,
    and what each record became, in order (its key, its impression id for a viewability
    event, None when rejected), to find the records behind a refused key."""

    counts: Counter[RollupKey] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    views: viewability.SegmentViews = field(default_factory=viewability.SegmentViews)
    units: list[object] = field(default_factory=list)
