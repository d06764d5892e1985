"""Queries for classification batches and for finding URLs the store should learn about."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from beacon.contextual import store
from beacon.contextual.models import (
    ITEM_CLASSIFIED,
    ITEM_FAILED,
    ITEM_PENDING,
    ClassificationBatch,
    ClassificationBatchItem,
    ContextualCursor,
)
from beacon.pixel.models import PixelRollup

ROLLUP_CURSOR = "pixel_rollups"


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


def queue_campaign_urls(session: Session, campaign_id: int) -> int:
    """Queue every URL a pixel campaign has seen for classification; returns how many are new."""
    pairs = session.execute(
        select(PixelRollup.url, PixelRollup.domain)
        .where(PixelRollup.campaign_id == campaign_id, PixelRollup.url != "")
        .distinct()
    )
    return store.request_classification(session, [(url, domain) for url, domain in pairs])


def queue_new_rollup_urls(session: Session, *, limit: int) -> int:
    """Queue URLs from pixel rollup rows added since the last scan (at most ``limit`` rows).

    A cursor on the rollup id keeps each tick bounded and incremental; the cursor row is
    locked so that concurrent workers do not scan the same rows.
    """
    cursor = session.get(ContextualCursor, ROLLUP_CURSOR, with_for_update=True)
    if cursor is None:
        cursor = ContextualCursor(name=ROLLUP_CURSOR, position=0)
        session.add(cursor)
        session.flush()
    rows = session.execute(
        select(PixelRollup.id, PixelRollup.url, PixelRollup.domain)
        .where(PixelRollup.id > cursor.position, PixelRollup.url != "")
        .order_by(PixelRollup.id)
        .limit(limit)
    ).all()
    if not rows:
        return 0
    cursor.position = rows[-1].id
    return store.request_classification(session, [(row.url, row.domain) for row in rows])
