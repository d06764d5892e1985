"""Queries over recipient rows: loading a batch with its contacts, and every stage move.

Each move is a conditional UPDATE on the row's current stage, so two workers that somehow
hold the same rows (a lease lost to a long pause) cannot both hand a row over: only the one
whose UPDATE to ``injected`` returned the row sends it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Table,
    Text,
    and_,
    bindparam,
    case,
    cast,
    delete,
    exists,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from beacon.core.db import executemany, fetch_page, rowcount, slices, upsert_insert
from beacon.messaging.audiences.repository import CHANNEL_STATUS
from beacon.messaging.delivery.compose import RecipientRow
from beacon.messaging.models import Contact, HandoverClaim, Recipient

UNFINISHED = ("scheduled", "hydrated", "composed", "injected")
STATES = (*UNFINISHED, "sent", "failed")
NOT_HANDED_OVER = ("scheduled", "hydrated", "composed")
NEXT_STAGE = {"scheduled": "hydrated", "hydrated": "composed", "composed": "injected"}
UNKNOWN_AFTER_CRASH = "unknown_outcome_after_crash"
CANCELLED = "cancelled"

_recipients: Table = Recipient.__table__  # type: ignore[assignment]


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
            cast(Contact.address, Text),  # as stored: see RecipientRow
            cast(Contact.attributes, Text),
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
    return [RecipientRow(*tuple(row)) for row in result]


def page_of_rows(
    session: Session, *, execution_id: uuid.UUID, stage: str | None, limit: int, offset: int
) -> tuple[Sequence[Recipient], int]:
    """A page of an execution's rows (those in ``stage`` when given) in id order, and the total."""
    query = select(Recipient).where(Recipient.execution_id == execution_id)
    if stage is not None:
        query = query.where(Recipient.stage == stage)
    return fetch_page(session, query, order_by=[Recipient.id], limit=limit, offset=offset)


def contacts_by_id(session: Session, contact_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Contact]:
    """The contacts behind a page of rows."""
    found = session.scalars(select(Contact).where(Contact.id.in_(set(contact_ids))))
    return {contact.id: contact for contact in found}


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
    """Claim rendered rows for hand-off; the ids moved. Rows pass ``composed`` on the way
    (rendered, still hydrated in the table) or are being resent (already injected). One
    statement a slice of ids (a print-file chunk is a whole batch), in id order, so two
    workers updating overlapping rows lock them in one order."""
    moved: set[int] = set()
    for part in slices(sorted(set(ids))):
        moved.update(
            session.scalars(
                update(Recipient)
                .where(
                    Recipient.execution_id == execution_id,
                    Recipient.id.in_(part),
                    Recipient.stage.in_(["hydrated", "composed", "injected"]),
                )
                .values(stage="injected", updated_at=now)
                .returning(Recipient.id)
                .execution_options(synchronize_session=False)
            )
        )
    return moved


def channel_statuses(session: Session, *, channel: str, ids: Sequence[int]) -> dict[int, str]:
    """The subscription status on ``channel`` of each row's contact as committed now (one
    query per slice of ids, read in the transaction that hands the rows over)."""
    status_column = CHANNEL_STATUS[channel][1]
    statuses: dict[int, str] = {}
    for part in slices(list(ids)):
        found = session.execute(
            select(Recipient.id, status_column)
            .join(Contact, Contact.id == Recipient.contact_id)
            .where(Recipient.id.in_(part))
        )
        statuses.update({rid: status for rid, status in found})
    return statuses


def claim_addresses(
    session: Session, *, execution_id: uuid.UUID, wanted: Mapping[str, int], now: datetime
) -> dict[str, int | None]:
    """Claim each address of ``wanted`` for its recipient row, unless a row of the run holds
    it already; returns each address's holder (None: a concurrent claim this transaction
    cannot see). Addresses are inserted in order (in slices, still in that order), so two
    workers claiming overlapping addresses on PostgreSQL wait for each other in one order and
    never deadlock."""
    if not wanted:
        return {}
    ordered = sorted(wanted.items())
    holders: dict[str, int] = {}
    # four parameters a number: slices of 5,000 stay well below PostgreSQL's 65,535
    for part in slices(ordered):
        session.execute(
            upsert_insert(session, HandoverClaim)
            .values(
                [
                    {
                        "execution_id": execution_id,
                        "address": address,
                        "recipient_id": rid,
                        "created_at": now,
                    }
                    for address, rid in part
                ]
            )
            .on_conflict_do_nothing(index_elements=["execution_id", "address"])
        )
    for part in slices(ordered):
        addresses = [address for address, _ in part]
        held = session.execute(
            select(HandoverClaim.address, HandoverClaim.recipient_id).where(
                HandoverClaim.execution_id == execution_id,
                HandoverClaim.address.in_(addresses),
            )
        )
        holders.update({address: rid for address, rid in held})
    return {address: holders.get(address) for address in wanted}


def release_claims(session: Session, *, execution_id: uuid.UUID, ids: Sequence[int]) -> None:
    """Give up the addresses these rows claimed: they fail without being handed over (again),
    so another row of the run sharing the address may have it."""
    for part in slices(sorted(set(ids))):
        session.execute(
            delete(HandoverClaim)
            .where(HandoverClaim.execution_id == execution_id, HandoverClaim.recipient_id.in_(part))
            .execution_options(synchronize_session=False)
        )


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


_MARK_SENT = (
    update(_recipients)
    .where(
        _recipients.c.id == bindparam("rid", type_=_recipients.c.id.type),
        or_(
            _recipients.c.stage == "injected",
            and_(_recipients.c.stage == "failed", _recipients.c.reason == UNKNOWN_AFTER_CRASH),
        ),
    )
    .values(
        stage="sent",
        failed_stage=None,
        reason=None,
        sent_at=bindparam("now", type_=_recipients.c.sent_at.type),
        updated_at=bindparam("now", type_=_recipients.c.sent_at.type),
        provider_message_id=bindparam("pmid", type_=_recipients.c.provider_message_id.type),
    )
)


def mark_sent(session: Session, sent: Sequence[tuple[int, str]], now: datetime) -> None:
    """Rows the provider accepted: (id, provider message id).

    A row already failed as ``unknown_outcome_after_crash`` (its worker was presumed dead but
    was only slow) becomes sent too: the provider's confirmation is the truth.
    """
    # one executemany: a row each, the stage move and the message id together, through the
    # driver (a send's hottest statement: SQLAlchemy's per-row conversion cost more than it)
    executemany(
        session, _MARK_SENT, [{"rid": rid, "pmid": pmid[:255]} for rid, pmid in sent], now=now
    )


def mark_bounced(
    session: Session, *, channel: str, contact_ids: Sequence[uuid.UUID], now: datetime
) -> None:
    """The provider refused these addresses for good: stop sending to them on the channel."""
    status_column = CHANNEL_STATUS[channel][1]
    for part in slices(sorted(set(contact_ids))):
        session.execute(
            update(Contact)
            .where(Contact.id.in_(part))
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
