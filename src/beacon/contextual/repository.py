"""Queries for classification batches, the cursors of the feeds that queue URLs, and the
sites held after a 429 or 503."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from beacon.contextual.models import (
    ITEM_CLASSIFIED,
    ITEM_FAILED,
    ITEM_PENDING,
    ClassificationBatch,
    ClassificationBatchItem,
    ContextualCursor,
    HeldSite,
)
from beacon.core.db import slices, upsert_insert


def add_batch(session: Session, *, account_id: int, urls: Sequence[str]) -> ClassificationBatch:
    """Insert a pending batch and one pending item per URL, in request order."""
    batch = ClassificationBatch(account_id=account_id, url_count=len(urls))
    session.add(batch)
    session.flush()
    session.add_all(
        ClassificationBatchItem(batch_id=batch.id, position=i, url=url, status=ITEM_PENDING)
        for i, url in enumerate(urls)
    )
    session.flush()
    return batch


def account_batch(
    session: Session, *, account_id: int, batch_id: int
) -> ClassificationBatch | None:
    """The batch, if it belongs to ``account_id``."""
    return session.scalar(
        select(ClassificationBatch).where(
            ClassificationBatch.id == batch_id, ClassificationBatch.account_id == account_id
        )
    )


def pending_items(session: Session, *, batch_id: int) -> list[ClassificationBatchItem]:
    """Items of a batch still without an outcome, in request order."""
    return list(
        session.scalars(
            select(ClassificationBatchItem)
            .where(
                ClassificationBatchItem.batch_id == batch_id,
                ClassificationBatchItem.status == ITEM_PENDING,
            )
            .order_by(ClassificationBatchItem.position)
        )
    )


def item_counts(session: Session, *, batch_id: int) -> dict[str, int]:
    """How many items of the batch are classified and failed (counted from the item rows)."""
    rows = session.execute(
        select(ClassificationBatchItem.status, func.count())
        .where(ClassificationBatchItem.batch_id == batch_id)
        .group_by(ClassificationBatchItem.status)
    )
    counts = {status: count for status, count in rows}
    return {"classified": counts.get(ITEM_CLASSIFIED, 0), "failed": counts.get(ITEM_FAILED, 0)}


def item_page(
    session: Session, *, batch_id: int, limit: int, offset: int
) -> list[ClassificationBatchItem]:
    """One page of a batch's items in request order."""
    return list(
        session.scalars(
            select(ClassificationBatchItem)
            .where(ClassificationBatchItem.batch_id == batch_id)
            .order_by(ClassificationBatchItem.position)
            .limit(limit)
            .offset(offset)
        )
    )


def locked_cursor(session: Session, name: str) -> ContextualCursor:
    """The feed cursor ``name`` (created at 0), locked so that concurrent workers do not read
    the same rows of its feed."""
    cursor = session.get(ContextualCursor, name, with_for_update=True)
    if cursor is None:
        cursor = ContextualCursor(name=name, position=0)
        session.add(cursor)
        session.flush()
    return cursor


def hold_sites(
    session: Session, holds: Iterable[tuple[str, datetime, str]], *, now: datetime
) -> None:
    """Hold each ``(origin, until, reason)``; an origin held already keeps the later end (and
    that end's reason). Holds ended by ``now`` are deleted, so the table keeps about the holds
    in force.

    One upsert in origin order, then a delete that skips rows another transaction has
    locked: two processes storing holds at once take the rows' locks in the same order and
    never wait for each other's delete (no deadlock on PostgreSQL)."""
    latest: dict[str, tuple[datetime, str]] = {}
    for origin, until, reason in holds:
        if origin not in latest or latest[origin][0] < until:
            latest[origin] = (until, reason)
    rows = [
        {"origin": origin, "held_until": until, "reason": reason}
        for origin, (until, reason) in sorted(latest.items())
    ]
    for part in slices(rows, 500):
        statement = upsert_insert(session, HeldSite).values(part)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["origin"],
                set_={
                    "held_until": statement.excluded.held_until,
                    "reason": statement.excluded.reason,
                },
                where=HeldSite.held_until < statement.excluded.held_until,
            )
        )
    ended = select(HeldSite.origin).where(HeldSite.held_until <= now)
    session.execute(
        delete(HeldSite)
        .where(HeldSite.origin.in_(ended.with_for_update(skip_locked=True)))
        .execution_options(synchronize_session=False)
    )


def holds_of(
    session: Session, origins: Iterable[str], *, now: datetime
) -> list[tuple[str, datetime, str]]:
    """``(origin, until, reason)`` of the holds in force at ``now`` on ``origins`` (at most one
    each, in origin order), however many other sites are held."""
    found: list[tuple[str, datetime, str]] = []
    for part in slices(sorted(set(origins)), 500):
        rows = session.execute(
            select(HeldSite.origin, HeldSite.held_until, HeldSite.reason)
            .where(HeldSite.origin.in_(part), HeldSite.held_until > now)
            .order_by(HeldSite.origin)
        )
        found += [(origin, until, reason) for origin, until, reason in rows]
    return found
