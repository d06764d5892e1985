"""Queries for classification batches and for the cursors of the feeds that queue URLs."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from beacon.contextual.models import (
    ITEM_CLASSIFIED,
    ITEM_FAILED,
    ITEM_PENDING,
    ClassificationBatch,
    ClassificationBatchItem,
    ContextualCursor,
)


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
