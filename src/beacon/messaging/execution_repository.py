"""Queries of the execution engine: the audience snapshot, batches, and recipient stage moves.

Every stage move is a conditional UPDATE on the row's current stage, so two workers that
somehow hold the same rows (a lease lost to a long pause) cannot both hand a row over: only
the one whose ``composed -> injected`` UPDATE returned the row sends it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    Uuid,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from beacon.core.db import UTCDateTime, is_postgres, rowcount
from beacon.core.jobs import COMPLETE, PENDING, PROCESSING
from beacon.messaging.audience_repository import CHANNEL_STATUS
from beacon.messaging.compose import RecipientRow
from beacon.messaging.models import Batch, Contact, Execution, Recipient, SchedulerLease

UNFINISHED = ("scheduled", "hydrated", "composed", "injected")
NOT_HANDED_OVER = ("scheduled", "hydrated", "composed")
NEXT_STAGE = {"scheduled": "hydrated", "hydrated": "composed", "composed": "injected"}
UNKNOWN_AFTER_CRASH = "unknown_outcome_after_crash"
CANCELLED = "cancelled"

_recipients: Table = Recipient.__table__  # type: ignore[assignment]


# --- executions ----------------------------------------------------------------------------


def due_executions(session: Session, *, now: datetime, limit: int = 100) -> list[Execution]:
    """Scheduled executions whose time has come, oldest first."""
    return list(
        session.scalars(
            select(Execution)
            .where(Execution.status == "scheduled", Execution.scheduled_for <= now)
            .order_by(Execution.scheduled_for, Execution.id)
            .limit(limit)
        )
    )


def running_executions(session: Session) -> list[Execution]:
    """Every execution in progress."""
    return list(session.scalars(select(Execution).where(Execution.status == "running")))


def campaign_is_running(session: Session, *, campaign_id: uuid.UUID) -> bool:
    """Whether another execution of the campaign is in progress."""
    return bool(
        session.scalar(
            select(
                exists().where(Execution.campaign_id == campaign_id, Execution.status == "running")
            )
        )
    )


def claim_start(
    session: Session, *, execution_id: uuid.UUID, now: datetime, content: dict[str, Any] | None
) -> bool:
    """Move a scheduled execution to running with the template content it will send; False
    when someone else moved it first."""
    return bool(
        rowcount(
            session,
            update(Execution)
            .where(Execution.id == execution_id, Execution.status == "scheduled")
            .values(
                status="running",
                started_at=now,
                content=content,
                attempts=Execution.attempts + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False),
        )
    )


def close_execution(
    session: Session,
    *,
    execution_id: uuid.UUID,
    status: str,
    now: datetime,
    error: str | None = None,
) -> bool:
    """Set the final status of a running execution; False when it was not running."""
    return bool(
        rowcount(
            session,
            update(Execution)
            .where(Execution.id == execution_id, Execution.status == "running")
            .values(status=status, completed_at=now, updated_at=now, error=error)
            .execution_options(synchronize_session=False),
        )
    )


# --- snapshot and batches ------------------------------------------------------------------


def snapshot(
    session: Session, *, execution_id: uuid.UUID, condition: ColumnElement[bool], now: datetime
) -> int:
    """One ``scheduled`` row per matching contact, inside the database (INSERT ... SELECT)."""
    rows = select(
        literal(execution_id, Uuid()),
        Contact.id,
        literal("scheduled"),
        literal(now, UTCDateTime()),
        literal(now, UTCDateTime()),
    ).where(condition)
    return rowcount(
        session,
        insert(Recipient).from_select(
            ["execution_id", "contact_id", "stage", "created_at", "updated_at"],
            rows.order_by(Contact.created_at, Contact.id),
        ),
    )


def create_batches(session: Session, *, execution_id: uuid.UUID, size: int, now: datetime) -> int:
    """Cut the execution's rows into id ranges of ``size`` rows, one batch job each."""
    numbered = (
        select(
            Recipient.id.label("rid"),
            ((func.row_number().over(order_by=Recipient.id) - 1) // size).label("grp"),
        )
        .where(Recipient.execution_id == execution_id)
        .subquery()
    )
    grouped = select(
        literal(execution_id, Uuid()),
        numbered.c.grp,
        func.min(numbered.c.rid),
        func.max(numbered.c.rid),
        literal(PENDING),
        literal(0),
        literal(now, UTCDateTime()),
    ).group_by(numbered.c.grp)
    return rowcount(
        session,
        insert(Batch).from_select(
            [
                "execution_id",
                "seq",
                "first_recipient_id",
                "last_recipient_id",
                "status",
                "attempts",
                "created_date",
            ],
            grouped,
        ),
    )


def renew_batch_lease(session: Session, *, batch_id: int, owner: str, until: datetime) -> bool:
    """Extend our lease on a batch; False when another worker took it over."""
    return bool(
        rowcount(
            session,
            update(Batch)
            .where(Batch.id == batch_id, Batch.lease_owner == owner, Batch.status == PROCESSING)
            .values(lease_expires_at=until)
            .execution_options(synchronize_session=False),
        )
    )


def close_pending_batches(session: Session, *, execution_id: uuid.UUID, now: datetime) -> int:
    """Retire the batches nobody started (the execution ended without them)."""
    return rowcount(
        session,
        update(Batch)
        .where(Batch.execution_id == execution_id, Batch.status == PENDING)
        .values(status=COMPLETE, processed_date=now)
        .execution_options(synchronize_session=False),
    )


def open_batches(session: Session, *, execution_id: uuid.UUID) -> int:
    """Batches still pending or held by a worker."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Batch)
            .where(Batch.execution_id == execution_id, Batch.status.in_([PENDING, PROCESSING]))
        )
        or 0
    )


def last_batch_error(session: Session, *, execution_id: uuid.UUID) -> str | None:
    """The error of a batch that was given up on, if any."""
    return session.scalar(
        select(Batch.error)
        .where(Batch.execution_id == execution_id, Batch.error.is_not(None))
        .order_by(Batch.id.desc())
        .limit(1)
    )


# --- recipient rows ------------------------------------------------------------------------


def load_rows(
    session: Session, *, execution_id: uuid.UUID, low: int, high: int, channel: str
) -> list[RecipientRow]:
    """The unfinished rows of an id range with their contacts, in id order."""
    status_column = CHANNEL_STATUS[channel][1]
    result = session.execute(
        select(
            Recipient.id,
            Recipient.stage,
            Contact.id,
            Contact.external_id,
            Contact.email,
            Contact.phone,
            Contact.first_name,
            Contact.last_name,
            Contact.address,
            Contact.attributes,
            status_column,
            Contact.unsubscribe_token,
        )
        .join(Contact, Contact.id == Recipient.contact_id)
        .where(
            Recipient.execution_id == execution_id,
            Recipient.id.between(low, high),
            Recipient.stage.in_(UNFINISHED),
        )
        .order_by(Recipient.id)
    )
    return [RecipientRow(*row) for row in result]


def advance(
    session: Session,
    *,
    execution_id: uuid.UUID,
    low: int,
    high: int,
    from_stage: str,
    now: datetime,
) -> int:
    """Move every row of the range still at ``from_stage`` to the next stage."""
    return rowcount(
        session,
        update(Recipient)
        .where(
            Recipient.execution_id == execution_id,
            Recipient.id.between(low, high),
            Recipient.stage == from_stage,
        )
        .values(stage=NEXT_STAGE[from_stage], updated_at=now)
        .execution_options(synchronize_session=False),
    )


def mark_injected(
    session: Session, *, execution_id: uuid.UUID, ids: Sequence[int], now: datetime
) -> set[int]:
    """Claim rows for hand-off (composed, or injected ones being resent); the ids moved."""
    if not ids:
        return set()
    moved = session.execute(
        update(Recipient)
        .where(
            Recipient.execution_id == execution_id,
            Recipient.id.in_(list(ids)),
            Recipient.stage.in_(["composed", "injected"]),
        )
        .values(stage="injected", updated_at=now)
        .returning(Recipient.id)
        .execution_options(synchronize_session=False)
    )
    return {row[0] for row in moved}


def mark_failed(session: Session, failures: Sequence[tuple[int, str, str]], now: datetime) -> None:
    """Fail rows: (id, the stage each failed to reach, reason). Finished rows are left alone."""
    if not failures:
        return
    session.execute(
        update(_recipients)
        .where(
            _recipients.c.id == bindparam("rid"),
            # plain comparisons: IN lists cannot be used with executemany
            _recipients.c.stage != "sent",
            _recipients.c.stage != "failed",
        )
        .values(
            stage="failed",
            failed_stage=bindparam("to_stage"),
            reason=bindparam("why"),
            updated_at=now,
        ),
        [{"rid": rid, "to_stage": stage, "why": reason[:2000]} for rid, stage, reason in failures],
    )


def mark_sent(session: Session, sent: Sequence[tuple[int, str]], now: datetime) -> None:
    """Rows the provider accepted: (id, provider message id).

    A row already failed as ``unknown_outcome_after_crash`` (its worker was presumed dead but
    was only slow) becomes sent too: the provider's confirmation is the truth.
    """
    if not sent:
        return
    c = _recipients.c
    session.execute(
        update(_recipients)
        .where(
            c.id == bindparam("rid"),
            or_(
                c.stage == "injected",
                and_(c.stage == "failed", c.reason == UNKNOWN_AFTER_CRASH),
            ),
        )
        .values(
            stage="sent",
            failed_stage=None,
            reason=None,
            provider_message_id=bindparam("pmid"),
            sent_at=now,
            updated_at=now,
        ),
        [{"rid": rid, "pmid": pmid[:255]} for rid, pmid in sent],
    )


def mark_bounced(
    session: Session, *, channel: str, contact_ids: Sequence[uuid.UUID], now: datetime
) -> None:
    """The provider refused these addresses for good: stop sending to them on the channel."""
    if not contact_ids:
        return
    status_column = CHANNEL_STATUS[channel][1]
    session.execute(
        update(Contact)
        .where(Contact.id.in_(list(contact_ids)))
        .values({status_column: "bounced", Contact.updated_at: now})
        .execution_options(synchronize_session=False)
    )


def fail_unfinished(
    session: Session,
    *,
    execution_id: uuid.UUID,
    reason: str,
    now: datetime,
    stages: Sequence[str] = NOT_HANDED_OVER,
    low: int | None = None,
    high: int | None = None,
) -> int:
    """Fail the rows at ``stages`` (whole execution or an id range), each at its next stage."""
    where: list[Any] = [Recipient.execution_id == execution_id, Recipient.stage.in_(stages)]
    if low is not None and high is not None:
        where.append(Recipient.id.between(low, high))
    next_stage = case(
        *((Recipient.stage == stage, target) for stage, target in NEXT_STAGE.items()),
        else_="sent",
    )
    return rowcount(
        session,
        update(Recipient)
        .where(*where)
        .values(stage="failed", failed_stage=next_stage, reason=reason[:2000], updated_at=now)
        .execution_options(synchronize_session=False),
    )


def has_unfinished(session: Session, *, execution_id: uuid.UUID) -> bool:
    """Whether any row of the execution is neither sent nor failed."""
    return bool(
        session.scalar(
            select(
                exists().where(
                    Recipient.execution_id == execution_id, Recipient.stage.in_(UNFINISHED)
                )
            )
        )
    )


def has_cancelled_rows(session: Session, *, execution_id: uuid.UUID) -> bool:
    """Whether a cancel request stopped any row of the execution."""
    return bool(
        session.scalar(
            select(
                exists().where(
                    Recipient.execution_id == execution_id,
                    Recipient.stage == "failed",
                    Recipient.reason == CANCELLED,
                )
            )
        )
    )


# --- the scheduler lease -------------------------------------------------------------------


def acquire_lease(
    session: Session, *, name: str, owner: str, now: datetime, ttl_seconds: float
) -> bool:
    """Take or renew a named lease; False while another owner holds an unexpired one."""
    until = now + timedelta(seconds=ttl_seconds)
    taken = rowcount(
        session,
        update(SchedulerLease)
        .where(
            SchedulerLease.name == name,
            or_(SchedulerLease.owner == owner, SchedulerLease.expires_at < now),
        )
        .values(owner=owner, expires_at=until)
        .execution_options(synchronize_session=False),
    )
    if taken:
        return True
    dialect_insert = pg_insert if is_postgres(session) else sqlite_insert
    created = session.execute(
        dialect_insert(SchedulerLease)
        .values(name=name, owner=owner, expires_at=until)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(SchedulerLease.name)
    ).first()
    return created is not None
