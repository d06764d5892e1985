"""Queries over stored ``Idempotency-Key`` responses (``messaging.idempotency`` holds the logic)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from beacon.messaging.models import IdempotencyRecord


def record_for(session: Session, *, account_id: int, key: str) -> IdempotencyRecord | None:
    """The account's stored response for ``key`` (expired or not), or None."""
    return session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.account_id == account_id, IdempotencyRecord.key == key
        )
    )


def delete_record(session: Session, record_id: int) -> None:
    """Remove one stored response (an expired one, before its key is reused)."""
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))
