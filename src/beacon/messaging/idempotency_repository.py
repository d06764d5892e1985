"""Queries over stored ``Idempotency-Key`` responses (``messaging.idempotency`` holds the logic)."""

from __future__ import annotations

import time
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from beacon.core.db import is_postgres
from beacon.messaging.models import IdempotencyRecord


def lock_key(
    session: Session, *, account_id: int, key: str, expired_before: datetime, wait_seconds: float
) -> bool:
    """Hold the account's ``key`` until the transaction ends, and drop its expired response.

    Requests repeating one key then run one after the other: each reads the stored response
    only once the previous one has committed it (or failed and stored nothing). On PostgreSQL
    a transaction-scoped advisory lock on a hash of the key (a collision only serialises two
    keys), tried until ``wait_seconds`` have passed: False when another transaction still holds
    it then (nothing else done). On SQLite the DELETE itself, which takes the single writer's
    lock whether or not it removes a row, before the read; the wait there is the database's
    busy timeout."""
    if is_postgres(session):
        name = f"messaging-idempotency:{account_id}:{key}"
        lock = select(func.pg_try_advisory_xact_lock(func.hashtextextended(name, 0)))
        deadline = time.monotonic() + wait_seconds
        delay = 0.01
        while not session.scalar(lock):
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 0.25)
    session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.account_id == account_id,
            IdempotencyRecord.key == key,
            IdempotencyRecord.created_at <= expired_before,
        )
    )
    return True


def record_for(session: Session, *, account_id: int, key: str) -> IdempotencyRecord | None:
    """The account's stored response for ``key``, or None."""
    return session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.account_id == account_id, IdempotencyRecord.key == key
        )
    )
