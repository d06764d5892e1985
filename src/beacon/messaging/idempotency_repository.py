"""Queries over stored ``Idempotency-Key`` responses (``messaging.idempotency`` holds the logic)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from beacon.core.db import is_postgres
from beacon.messaging.models import IdempotencyRecord


def lock_key(session: Session, *, account_id: int, key: str, expired_before: datetime) -> None:
    """Hold the account's ``key`` until the transaction ends, and drop its expired response.

    Requests repeating one key then run one after the other: each reads the stored response
    only once the previous one has committed it (or failed and stored nothing). On PostgreSQL
    a transaction-scoped advisory lock on a hash of the key (a collision only serialises two
    keys); on SQLite the DELETE itself, which takes the single writer's lock whether or not it
    removes a row, before the read."""
    if is_postgres(session):
        name = f"messaging-idempotency:{account_id}:{key}"
        session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(name, 0))))
    session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.account_id == account_id,
            IdempotencyRecord.key == key,
            IdempotencyRecord.created_at <= expired_before,
        )
    )


def record_for(session: Session, *, account_id: int, key: str) -> IdempotencyRecord | None:
    """The account's stored response for ``key``, or None."""
    return session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.account_id == account_id, IdempotencyRecord.key == key
        )
    )
