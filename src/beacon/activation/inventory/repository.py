"""Queries over the inventory of URLs. Every read is scoped to the caller's account."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from beacon.activation.models import InventorySync, InventoryUrl
from beacon.contextual.published import OK, PENDING, StoredClassification
from beacon.contextual.published import classification_store as store
from beacon.core.db import rowcount, slices, upsert_insert

CHUNK = 500


def known_inventory_hashes(session: Session, *, account_id: int, hashes: Sequence[str]) -> set[str]:
    """Which of ``hashes`` the account's inventory already holds."""
    known: set[str] = set()
    for part in slices(hashes, CHUNK):
        known.update(
            session.scalars(
                select(InventoryUrl.url_hash).where(
                    InventoryUrl.account_id == account_id,
                    InventoryUrl.url_hash.in_(part),
                )
            )
        )
    return known


def add_inventory(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert inventory rows the account does not hold yet; returns how many were new.

    Callers pass the rows they did not find, but another request may store one meanwhile
    (parallel uploads, or a pixel sync, sharing a URL): that row is skipped, not a unique-key
    error."""
    added = 0
    for part in slices(rows, CHUNK):
        statement = (
            upsert_insert(session, InventoryUrl)
            .values(part)
            .on_conflict_do_nothing(index_elements=["account_id", "url_hash"])
        )
        added += rowcount(session, statement)
    return added


def inventory_page(
    session: Session, *, account_id: int, limit: int, offset: int
) -> tuple[list[tuple[InventoryUrl, str | None, str | None]], int]:
    """One page of the account's inventory with each URL's classification status and error,
    and the total."""
    total = session.scalar(
        select(func.count()).select_from(InventoryUrl).where(InventoryUrl.account_id == account_id)
    )
    rows = session.execute(
        select(InventoryUrl, store.c.status, store.c.error)
        .outerjoin(store, store.c.url_hash == InventoryUrl.url_hash)
        .where(InventoryUrl.account_id == account_id)
        .order_by(InventoryUrl.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return [(inv, status, error) for inv, status, error in rows], int(total or 0)


def inventory_browse(
    session: Session,
    *,
    account_id: int,
    status: str | None,
    domain: str | None,
    category: str | None,
    limit: int,
    offset: int,
) -> tuple[list[tuple[InventoryUrl, StoredClassification | None]], int]:
    """A filtered page of the inventory with each URL's store row (None while unknown), and
    the filtered total. ``category`` matches a code or, for a tier-1 code, its children."""
    query = (
        select(
            InventoryUrl,
            store.c.status,
            store.c.error,
            store.c.classification,
            store.c.classified_at,
        )
        .outerjoin(store, store.c.url_hash == InventoryUrl.url_hash)
        .where(InventoryUrl.account_id == account_id)
    )
    if status == PENDING:
        query = query.where(store.c.status.is_(None) | (store.c.status == PENDING))
    elif status:
        query = query.where(store.c.status == status)
    if domain:
        query = query.where(InventoryUrl.domain == domain)
    if category:
        # The stored JSON is orjson's compact form: "id":"IAB19-6".
        query = query.where(
            store.c.classification.like(f'%"id":"{category}"%')
            | store.c.classification.like(f'%"id":"{category}-%')
        )
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.execute(query.order_by(InventoryUrl.id).limit(limit).offset(offset)).all()
    page = [
        (inv, StoredClassification(*stored) if stored[0] is not None else None)
        for inv, *stored in rows
    ]
    return page, int(total or 0)


def inventory_status_counts(session: Session, *, account_id: int) -> dict[str, int]:
    """How many of the account's inventory URLs are ok, error or pending (unknown = pending)."""
    rows = session.execute(
        select(store.c.status, func.count())
        .select_from(InventoryUrl)
        .outerjoin(store, store.c.url_hash == InventoryUrl.url_hash)
        .where(InventoryUrl.account_id == account_id)
        .group_by(store.c.status)
    ).all()
    counts: dict[str, int] = {}
    for status, count in rows:
        key = str(status or PENDING)
        counts[key] = counts.get(key, 0) + int(count)
    return counts


def inventory_domains(session: Session, *, account_id: int, limit: int) -> list[str]:
    """The account's inventory domains, alphabetically (for a filter)."""
    return list(
        session.scalars(
            select(InventoryUrl.domain)
            .where(InventoryUrl.account_id == account_id)
            .distinct()
            .order_by(InventoryUrl.domain)
            .limit(limit)
        )
    )


def inventory_url(session: Session, *, account_id: int, url_hash: str) -> InventoryUrl | None:
    """One of the account's inventory URLs by its hash."""
    return session.scalar(
        select(InventoryUrl).where(
            InventoryUrl.account_id == account_id, InventoryUrl.url_hash == url_hash
        )
    )


def sync_watermark(session: Session, *, account_id: int) -> InventorySync:
    """The account's pixel-sync position, created (at 0) on first use, locked until commit."""
    # Two segment builds of one account (or a build and an inventory read) may sync at once:
    # a get-then-INSERT made the second fail with a duplicate key, so insert-if-absent.
    session.execute(
        upsert_insert(session, InventorySync)
        .values(account_id=account_id, last_rollup_id=0)
        .on_conflict_do_nothing(index_elements=["account_id"])
    )
    row = session.get(InventorySync, account_id, with_for_update=True, populate_existing=True)
    assert row is not None
    return row


def classified_inventory(
    session: Session, *, account_id: int, after_id: int, limit: int
) -> list[tuple[int, str, str, str, str]]:
    """(inventory id, url hash, url, domain, classification JSON) of classified URLs, by id."""
    rows = session.execute(
        select(
            InventoryUrl.id,
            InventoryUrl.url_hash,
            InventoryUrl.url,
            InventoryUrl.domain,
            store.c.classification,
        )
        .join(store, store.c.url_hash == InventoryUrl.url_hash)
        .where(
            InventoryUrl.account_id == account_id,
            InventoryUrl.id > after_id,
            store.c.status == OK,
            store.c.classification.is_not(None),
        )
        .order_by(InventoryUrl.id)
        .limit(limit)
    ).all()
    return [(int(i), h, u, d, str(c)) for i, h, u, d, c in rows]


def has_unclassified_inventory(session: Session, *, account_id: int) -> bool:
    """Whether any of the account's URLs is still queued for classification."""
    waiting = (
        select(InventoryUrl.id)
        .outerjoin(store, store.c.url_hash == InventoryUrl.url_hash)
        .where(
            InventoryUrl.account_id == account_id,
            (store.c.status.is_(None)) | (store.c.status == PENDING),
        )
        .limit(1)
    )
    return session.scalar(waiting) is not None
