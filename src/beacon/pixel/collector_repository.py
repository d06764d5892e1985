"""Queries of the pixel spool flusher: processed segments and which campaign ids exist."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from beacon.core.db import rowcount, slices
from beacon.pixel.collector_models import PixelSpoolSegment
from beacon.pixel.models import PixelCampaign


def is_segment_processed(session: Session, segment_id: str) -> bool:
    """Whether this segment's hits are already in the rollups."""
    found = session.scalar(
        select(PixelSpoolSegment.segment_id).where(PixelSpoolSegment.segment_id == segment_id)
    )
    return found is not None


def record_segment(session: Session, *, segment_id: str, hits: int, rejected: int) -> None:
    """Mark a segment processed; flushed so a concurrent duplicate fails before the increments."""
    session.add(PixelSpoolSegment(segment_id=segment_id, hits=hits, rejected=rejected))
    session.flush()


def segment_counts(session: Session, *, stem: str) -> tuple[int, int] | None:
    """(hits, rejected) of the processed segment whose file was ``stem``.seg; None before."""
    row = session.execute(
        select(PixelSpoolSegment.hits, PixelSpoolSegment.rejected).where(
            PixelSpoolSegment.segment_id.startswith(f"{stem}.", autoescape=True)
        )
    ).first()
    return None if row is None else (row.hits, row.rejected)


def existing_campaign_ids(session: Session, ids: Collection[int]) -> set[int]:
    """The subset of ``ids`` that are registered campaigns."""
    found: set[int] = set()
    wanted = sorted(ids)
    for part in slices(wanted, 500):
        found.update(session.scalars(select(PixelCampaign.id).where(PixelCampaign.id.in_(part))))
    return found


def prune_segments(session: Session, *, before: datetime) -> int:
    """Forget processed segments older than ``before`` (their files are long gone)."""
    return rowcount(
        session, delete(PixelSpoolSegment).where(PixelSpoolSegment.processed_at < before)
    )
