"""Queries over campaigns, executions and recipient rows. Every read is scoped to an account.

Pipeline counts are derived from ``messaging_recipients`` with one GROUP BY, cumulatively:
a row counts for every stage it has reached. ``scheduled`` counts every row; ``hydrated``,
``composed``, ``injected`` and ``sent`` count the rows whose stage is that one or a later one,
plus the failed rows whose ``failed_stage`` lies beyond it (a row that failed to reach
``composed`` was hydrated); ``failed`` counts the rows whose stage is ``failed``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select, update
from sqlalchemy.orm import Session

from beacon.core.db import fetch_page, hold_rows
from beacon.messaging.models import Campaign, Execution, Recipient, Template

STAGES = ("scheduled", "hydrated", "composed", "injected", "sent")
COUNT_KEYS = (*STAGES, "failed")

SORT_COLUMNS = {
    "createdAt": Campaign.created_at,
    "updatedAt": Campaign.updated_at,
    "name": Campaign.name,
}


def empty_counts() -> dict[str, int]:
    """All six pipeline counts at zero."""
    return dict.fromkeys(COUNT_KEYS, 0)


def _reached_level() -> ColumnElement[int]:
    """How far along ``STAGES`` a row got: its stage, or the stage before the one it failed at."""
    whens: list[tuple[ColumnElement[bool], int]] = [
        (Recipient.stage == stage, level) for level, stage in enumerate(STAGES)
    ]
    whens += [
        (and_(Recipient.stage == "failed", Recipient.failed_stage == stage), level - 1)
        for level, stage in enumerate(STAGES)
        if level > 0
    ]
    return case(*whens, else_=0)


def _count_columns() -> list[Any]:
    level = _reached_level()
    columns: list[Any] = [func.count().label("scheduled")]
    columns += [
        func.sum(case((level >= index, 1), else_=0)).label(stage)
        for index, stage in enumerate(STAGES)
        if index > 0
    ]
    columns.append(func.sum(case((Recipient.stage == "failed", 1), else_=0)).label("failed"))
    return columns


def _as_counts(row: Any) -> dict[str, int]:
    return {key: int(getattr(row, key) or 0) for key in COUNT_KEYS}


def stage_counts(
    session: Session, execution_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, int]]:
    """Pipeline counts of each execution (executions without rows get zeros)."""
    result = {execution_id: empty_counts() for execution_id in execution_ids}
    if not execution_ids:
        return result
    rows = session.execute(
        select(Recipient.execution_id, *_count_columns())
        .where(Recipient.execution_id.in_(list(execution_ids)))
        .group_by(Recipient.execution_id)
    )
    for row in rows:
        result[row.execution_id] = _as_counts(row)
    return result


def campaign_stage_counts(session: Session, campaign_id: uuid.UUID) -> dict[str, int]:
    """Pipeline counts summed over every execution of a campaign."""
    row = session.execute(
        select(Execution.campaign_id, *_count_columns())
        .join(Execution, Execution.id == Recipient.execution_id)
        .where(Execution.campaign_id == campaign_id)
        .group_by(Execution.campaign_id)
    ).first()
    return _as_counts(row) if row is not None else empty_counts()


# --- campaigns ---------------------------------------------------------------------------


def get_campaign(
    session: Session, *, account_id: int, campaign_id: uuid.UUID, lock: bool = False
) -> Campaign | None:
    """The account's campaign, or None (another account's id is None too).

    ``lock`` serialises the actions on one campaign until the transaction ends, so that what
    an action reads (its status, its executions) is still true when it writes
    (``core.db.hold_rows``)."""
    where = (Campaign.id == campaign_id, Campaign.account_id == account_id)
    query = select(Campaign).where(*where)
    if not lock:
        return session.scalar(query)
    hold_rows(session, Campaign, *where)
    # the row as it is now, not as this session may have loaded it before the lock
    return session.scalar(query.execution_options(populate_existing=True))


def list_campaigns(
    session: Session,
    *,
    account_id: int,
    status: str | None,
    channel: str | None,
    campaign_type: str | None,
    sort_by: str,
    descending: bool,
    limit: int,
    offset: int,
) -> tuple[Sequence[Campaign], int]:
    """One page of the account's campaigns and the total matching the filters."""
    query = select(Campaign).where(Campaign.account_id == account_id)
    if status:
        query = query.where(Campaign.status == status)
    if channel:
        query = query.where(Campaign.channel == channel)
    if campaign_type:
        query = query.where(Campaign.campaign_type == campaign_type)
    column = SORT_COLUMNS[sort_by]
    order = [column.desc(), Campaign.id.desc()] if descending else [column.asc(), Campaign.id]
    return fetch_page(session, query, order_by=order, limit=limit, offset=offset)


def get_template(
    session: Session, *, account_id: int, template_id: uuid.UUID, lock: bool = False
) -> Template | None:
    """The account's template, or None (another account's id is None too).

    ``lock`` holds it until the transaction ends (``core.db.hold_rows``), so that a change
    merged into what was read is not lost to another change made meanwhile."""
    where = (Template.id == template_id, Template.account_id == account_id)
    query = select(Template).where(*where)
    if not lock:
        return session.scalar(query)
    hold_rows(session, Template, *where)
    return session.scalar(query.execution_options(populate_existing=True))


def forget_preflights(session: Session, *, account_id: int, template_id: uuid.UUID) -> None:
    """Clear the last preflight of every campaign using ``template_id``: it described the
    template as it was (published, rendering), and reads ``not_evaluated`` until run again."""
    session.execute(
        update(Campaign)
        .where(Campaign.account_id == account_id, Campaign.template_id == template_id)
        .values(preflight=None)
    )


def list_templates(
    session: Session, *, account_id: int, channel: str | None, limit: int, offset: int
) -> tuple[Sequence[Template], int]:
    """A page of the account's templates, newest first, and their total."""
    query = select(Template).where(Template.account_id == account_id)
    if channel:
        query = query.where(Template.channel == channel)
    return fetch_page(
        session,
        query,
        order_by=[Template.created_at.desc(), Template.id],
        limit=limit,
        offset=offset,
    )


def add(session: Session, row: Any) -> Any:
    """Insert and flush."""
    session.add(row)
    session.flush()
    return row


# --- executions --------------------------------------------------------------------------


def list_executions(
    session: Session, *, campaign_id: uuid.UUID, limit: int, offset: int
) -> tuple[Sequence[Execution], int]:
    """A page of a campaign's executions, newest first, and their total."""
    return fetch_page(
        session,
        select(Execution).where(Execution.campaign_id == campaign_id),
        order_by=[Execution.created_at.desc(), Execution.id],
        limit=limit,
        offset=offset,
    )


def get_execution(
    session: Session, *, campaign_id: uuid.UUID, execution_id: uuid.UUID
) -> Execution | None:
    """One execution of the campaign."""
    return session.scalar(
        select(Execution).where(Execution.id == execution_id, Execution.campaign_id == campaign_id)
    )


def latest_execution(session: Session, *, campaign_id: uuid.UUID) -> Execution | None:
    """The most recent execution, leaving out runs cancelled before they started.

    Recent by when it started, or was created if it has not started: a run scheduled earlier
    that starts after a later-created run finished is the latest once it starts (ordered by
    creation alone, /status read the finished run's ``completed`` while it ran)."""
    return session.scalar(
        select(Execution)
        .where(
            Execution.campaign_id == campaign_id,
            or_(Execution.status != "cancelled", Execution.started_at.is_not(None)),
        )
        .order_by(
            func.coalesce(Execution.started_at, Execution.created_at).desc(),
            Execution.created_at.desc(),
            Execution.id,
        )
        .limit(1)
    )


def executions_in(
    session: Session, *, campaign_id: uuid.UUID, statuses: Sequence[str]
) -> Sequence[Execution]:
    """The campaign's executions in any of ``statuses``."""
    return session.scalars(
        select(Execution).where(
            Execution.campaign_id == campaign_id, Execution.status.in_(list(statuses))
        )
    ).all()


def pending_schedule(session: Session, *, campaign_id: uuid.UUID) -> Sequence[Execution]:
    """The campaign's armed schedule: executions a schedule created that have not started."""
    return session.scalars(
        select(Execution).where(
            Execution.campaign_id == campaign_id,
            Execution.status == "scheduled",
            Execution.trigger == "schedule",
        )
    ).all()


def pending_send(session: Session, *, campaign_id: uuid.UUID) -> Execution | None:
    """The campaign's run sent now that has not started (at most one: a unique index)."""
    return session.scalar(
        select(Execution).where(
            Execution.campaign_id == campaign_id,
            Execution.trigger == "send_now",
            Execution.status == "scheduled",
        )
    )


def execution_count(session: Session, *, campaign_id: uuid.UUID) -> int:
    """How many executions the campaign has had (cancelled ones included)."""
    return int(
        session.scalar(
            select(func.count()).select_from(Execution).where(Execution.campaign_id == campaign_id)
        )
        or 0
    )


def sent_per_interval(
    session: Session, *, execution_id: uuid.UUID, edges: Sequence[datetime]
) -> list[int]:
    """How many of the execution's messages were sent in each interval ending at ``edges``
    (ascending; the last interval also takes anything later), in one GROUP BY."""
    if not edges:
        return []
    interval = (
        case(
            *((Recipient.sent_at < edge, index) for index, edge in enumerate(edges[:-1])),
            else_=len(edges) - 1,
        )
        if len(edges) > 1
        else literal(0)  # a CASE needs a WHEN
    ).label("interval")
    rows = session.execute(
        select(interval, func.count())
        .where(Recipient.execution_id == execution_id, Recipient.sent_at.is_not(None))
        .group_by(interval)
    )
    counts = [0] * len(edges)
    for index, count in rows:
        counts[int(index)] = int(count)
    return counts


def sent_since(session: Session, *, execution_id: uuid.UUID, since: datetime) -> int:
    """How many of the execution's messages were sent at or after ``since``."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Recipient)
            .where(Recipient.execution_id == execution_id, Recipient.sent_at >= since)
        )
        or 0
    )
