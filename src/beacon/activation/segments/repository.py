"""Queries over segments. Every read is scoped to the caller's account."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from beacon.activation.models import Activation, ActivationSegment, Segment, SegmentUrl
from beacon.core.db import slices

CHUNK = 500


def get_segment(session: Session, *, account_id: int, segment_id: int) -> Segment | None:
    """The account's segment with this id, or None (another account's id is None too)."""
    return session.scalar(
        select(Segment).where(Segment.id == segment_id, Segment.account_id == account_id)
    )


def segments_by_id(
    session: Session, *, account_id: int, segment_ids: Iterable[int]
) -> dict[int, Segment]:
    """The account's segments among ``segment_ids``."""
    found = session.scalars(
        select(Segment).where(Segment.account_id == account_id, Segment.id.in_(set(segment_ids)))
    )
    return {s.id: s for s in found}


def list_segments(session: Session, *, account_id: int) -> Sequence[Segment]:
    """The account's segments, oldest first."""
    return session.scalars(
        select(Segment).where(Segment.account_id == account_id).order_by(Segment.id)
    ).all()


def add(session: Session, row: Any) -> Any:
    """Insert and flush so the id is assigned."""
    session.add(row)
    session.flush()
    return row


def replace_members(session: Session, *, segment_id: int, members: list[dict[str, Any]]) -> None:
    """Swap the segment's members for ``members`` (atomic with the caller's transaction)."""
    session.execute(delete(SegmentUrl).where(SegmentUrl.segment_id == segment_id))
    for part in slices(members, CHUNK):
        session.execute(insert(SegmentUrl), part)


def member_urls(
    session: Session, *, segment_id: int, limit: int | None, offset: int
) -> tuple[list[tuple[str, str]], int]:
    """One page (``limit`` None: all) of member URLs by domain then URL, and the total."""
    total = session.scalar(
        select(func.count()).select_from(SegmentUrl).where(SegmentUrl.segment_id == segment_id)
    )
    query = (
        select(SegmentUrl.url, SegmentUrl.domain)
        .where(SegmentUrl.segment_id == segment_id)
        .order_by(SegmentUrl.domain, SegmentUrl.url)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    return [(u, d) for u, d in session.execute(query).all()], int(total or 0)


def member_domains(
    session: Session, *, segment_id: int, limit: int | None, offset: int = 0
) -> tuple[list[tuple[str, int]], int]:
    """Member domains with their URL counts, most URLs first, and how many domains there are."""
    count = func.count(SegmentUrl.id)
    total = session.scalar(
        select(func.count(func.distinct(SegmentUrl.domain))).where(
            SegmentUrl.segment_id == segment_id
        )
    )
    query = (
        select(SegmentUrl.domain, count)
        .where(SegmentUrl.segment_id == segment_id)
        .group_by(SegmentUrl.domain)
        .order_by(count.desc(), SegmentUrl.domain)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    return [(d, int(n)) for d, n in session.execute(query).all()], int(total or 0)


def activations_using(session: Session, *, segment_id: int) -> Sequence[Activation]:
    """Every activation that includes the segment."""
    return session.scalars(
        select(Activation)
        .join(ActivationSegment, ActivationSegment.activation_id == Activation.id)
        .where(ActivationSegment.segment_id == segment_id)
        .order_by(Activation.id)
    ).all()


def delete_segment(session: Session, segment: Segment) -> None:
    """Delete the segment; its members and deal links go with it (ON DELETE CASCADE)."""
    session.execute(delete(SegmentUrl).where(SegmentUrl.segment_id == segment.id))
    session.execute(delete(ActivationSegment).where(ActivationSegment.segment_id == segment.id))
    session.delete(segment)
    session.flush()
