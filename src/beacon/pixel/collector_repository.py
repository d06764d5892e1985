"""Queries of the pixel spool flusher: processed segments and which campaign ids exist."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from beacon.core.db import rowcount, slices
from beacon.core.ids import MAX_ID
from beacon.pixel.collector_models import PixelSpoolSegment
from beacon.pixel.models import PixelCampaign


def is_segment_processed(session: Session, segment_id: str) -> bool:
    """Whether this segment's hits are already in the rollups."""
    found = session.scalar(
        select(PixelSpoolSegment.segment_id).where(PixelSpoolSegment.segment_id == segment_id)
    )
    return found is not None


def record_segment(
    session: Session, *, segment_id: str, hits: int, rejected: int
) -> PixelSpoolSegment:
    """Mark a segment processed; flushed so a concurrent duplicate fails before the increments."""
    row = PixelSpoolSegment(segment_id=segment_id, hits=hits, rejected=rejected)
    session.add(row)
    session.flush()
    return row


def segment_counts(session: Session, segment_ids: Collection[str]) -> dict[str, tuple[int, int]]:
    """(hits, rejected) of each of ``segment_ids`` already processed (by primary key)."""
    found: dict[str, tuple[int, int]] = {}
    for part in slices(sorted(segment_ids), 500):
        rows = session.execute(
            select(
                PixelSpoolSegment.segment_id, PixelSpoolSegment.hits, PixelSpoolSegment.rejected
            ).where(PixelSpoolSegment.segment_id.in_(part))
        )
        found.update((row.segment_id, (row.hits, row.rejected)) for row in rows)
    return found


def existing_campaign_ids(session: Session, ids: Collection[int]) -> set[int]:
    """The subset of ``ids`` that are registered campaigns. An id outside ``1..MAX_ID`` (anyone
    may request /px/2147483648.gif) names none and is not asked for: PostgreSQL's 32-bit ids
    refuse it with an error, which failed the flush of every hit of its spool segment."""
    found: set[int] = set()
    wanted = sorted(i for i in ids if 0 < i <= MAX_ID)
    for part in slices(wanted, 500):
        found.update(session.scalars(select(PixelCampaign.id).where(PixelCampaign.id.in_(part))))
    return found


def prune_segments(session: Session, *, before: datetime) -> int:
    """Forget processed segments older than ``before`` (their files are long gone)."""
    return rowcount(
        session, delete(PixelSpoolSegment).where(PixelSpoolSegment.processed_at < before)
    )
