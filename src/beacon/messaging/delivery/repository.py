"""Queries of the execution engine about executions, their batches and the scheduler lease:
the audience snapshot is one INSERT ... SELECT, batches are id ranges cut with a window
function, and every state change is a conditional UPDATE.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Uuid,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased

from beacon.core.db import UTCDateTime, rowcount, upsert_insert
from beacon.core.jobs import COMPLETE, PENDING, PROCESSING
from beacon.messaging.models import Batch, Contact, Execution, Recipient, SchedulerLease

# --- executions ----------------------------------------------------------------------------


def due_executions(session: Session, *, now: datetime, limit: int = 100) -> list[Execution]:
    """Scheduled executions whose time has come and whose campaign is not running, oldest
    first. Those that must wait for a run of their campaign are left out: they would fill
    the ``limit`` tick after tick and hold back every other campaign's due runs."""
    running = aliased(Execution)
    campaign_running = exists().where(
        running.campaign_id == Execution.campaign_id, running.status == "running"
    )
    return list(
        session.scalars(
            select(Execution)
            .where(
                Execution.status == "scheduled",
                Execution.scheduled_for <= now,
                ~campaign_running,
            )
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


def execution_status(
    session: Session, *, execution_id: uuid.UUID
) -> tuple[str, datetime | None, str | None]:
    """An execution's status, cancel request and error (a light read at every chunk)."""
    row = session.execute(
        select(Execution.status, Execution.cancel_requested_at, Execution.error).where(
            Execution.id == execution_id
        )
    ).one()
    return row.status, row.cancel_requested_at, row.error


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
    created = session.execute(
        upsert_insert(session, SchedulerLease)
        .values(name=name, owner=owner, expires_at=until)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(SchedulerLease.name)
    ).first()
    return created is not None


def release_lease(session: Session, *, name: str, owner: str) -> bool:
    """Give back a named lease this owner holds; False if another owner holds it."""
    return bool(
        rowcount(
            session,
            delete(SchedulerLease)
            .where(SchedulerLease.name == name, SchedulerLease.owner == owner)
            .execution_options(synchronize_session=False),
        )
    )
