"""Queries over activations (deals), delivery rows and segment reports."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Select, delete, func, insert, select
from sqlalchemy.orm import Session

from beacon.activation.models import (
    Activation,
    ActivationSegment,
    Delivery,
    DeliveryBatch,
    SegmentReport,
    SegmentReportRow,
)
from beacon.core.jobs import COMPLETE

CHUNK = 1000

# --- Activations ---------------------------------------------------------------------------


def get_activation(session: Session, *, account_id: int, activation_id: int) -> Activation | None:
    """The account's activation with this id, or None."""
    return session.scalar(
        select(Activation).where(
            Activation.id == activation_id, Activation.account_id == account_id
        )
    )


def list_activations(session: Session, *, account_id: int) -> Sequence[Activation]:
    """The account's activations, oldest first."""
    return session.scalars(
        select(Activation).where(Activation.account_id == account_id).order_by(Activation.id)
    ).all()


def link_segments(session: Session, *, activation_id: int, segment_ids: Sequence[int]) -> None:
    """Record which segments an activation includes."""
    session.execute(
        insert(ActivationSegment),
        [{"activation_id": activation_id, "segment_id": s} for s in segment_ids],
    )


def deal_id_taken(session: Session, deal_id: str) -> bool:
    """Whether any activation already carries ``deal_id``."""
    return session.scalar(select(Activation.id).where(Activation.deal_id == deal_id)) is not None


def _issued(account_id: int) -> Select[Any]:
    # A deal exists once its activation completed; expiry does not erase its history.
    return select(Activation.deal_id).where(
        Activation.account_id == account_id,
        Activation.status == COMPLETE,
        Activation.deal_id.is_not(None),
    )


def issued_deal_ids(
    session: Session, *, account_id: int, among: Collection[str] | None = None
) -> set[str]:
    """The account's issued deal ids (only those in ``among`` when given)."""
    query = _issued(account_id)
    if among is None:
        return {d for d in session.scalars(query) if d}
    found: set[str] = set()
    wanted = list(among)
    for start in range(0, len(wanted), CHUNK):
        found.update(
            d
            for d in session.scalars(
                query.where(Activation.deal_id.in_(wanted[start : start + CHUNK]))
            )
            if d
        )
    return found


def deal_ids_for_segments(
    session: Session, *, account_id: int, segment_ids: Collection[int]
) -> set[str]:
    """Issued deal ids of the account whose activation includes any of ``segment_ids``."""
    query = (
        _issued(account_id)
        .join(ActivationSegment, ActivationSegment.activation_id == Activation.id)
        .where(ActivationSegment.segment_id.in_(list(segment_ids)))
    )
    return {d for d in session.scalars(query) if d}


# --- Deliveries ----------------------------------------------------------------------------


def batch_for_update(session: Session, *, account_id: int, batch_id: str) -> DeliveryBatch | None:
    """The account's batch called ``batch_id``, row-locked until commit."""
    return session.scalar(
        select(DeliveryBatch)
        .where(DeliveryBatch.account_id == account_id, DeliveryBatch.batch_id == batch_id)
        .with_for_update()
    )


def clear_batch(session: Session, *, batch_pk: int) -> None:
    """Remove the rows an earlier post of this batch stored."""
    session.execute(delete(Delivery).where(Delivery.batch_pk == batch_pk))


def add_deliveries(session: Session, rows: list[dict[str, Any]]) -> None:
    """Bulk insert delivery rows."""
    for start in range(0, len(rows), CHUNK):
        session.execute(insert(Delivery), rows[start : start + CHUNK])


# --- Reports -------------------------------------------------------------------------------


def get_report(session: Session, *, account_id: int, report_id: int) -> SegmentReport | None:
    """The account's report with this id, or None."""
    return session.scalar(
        select(SegmentReport).where(
            SegmentReport.id == report_id, SegmentReport.account_id == account_id
        )
    )


def list_reports(
    session: Session, *, account_id: int, limit: int, offset: int
) -> tuple[list[SegmentReport], int]:
    """A page of the account's reports, newest first, and how many it has in all."""
    total = session.scalar(
        select(func.count())
        .select_from(SegmentReport)
        .where(SegmentReport.account_id == account_id)
    )
    rows = session.scalars(
        select(SegmentReport)
        .where(SegmentReport.account_id == account_id)
        .order_by(SegmentReport.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total or 0)


_DIMENSION_COLUMNS = {
    "date": Delivery.date,
    "device": Delivery.device,
    "format": Delivery.format,
    "domain": Delivery.domain,
}


def delivery_totals(
    session: Session,
    *,
    account_id: int,
    deal_ids: Sequence[str],
    start_date: dt.date,
    end_date: dt.date,
    filters: dict[str, list[str]],
    dimensions: Sequence[str],
) -> list[tuple[Any, ...]]:
    """Sums of impressions, clicks and spend (micros) grouped by ``dimensions``, in order."""
    keys = [_DIMENSION_COLUMNS[d] for d in dimensions]
    query = select(
        *keys,
        func.coalesce(func.sum(Delivery.impressions), 0),
        func.coalesce(func.sum(Delivery.clicks), 0),
        func.coalesce(func.sum(Delivery.spend_micros), 0),
    ).where(
        Delivery.account_id == account_id,
        Delivery.deal_id.in_(list(deal_ids)),
        Delivery.date >= start_date,
        Delivery.date <= end_date,
    )
    for name, column in (
        ("devices", Delivery.device),
        ("formats", Delivery.format),
        ("geo", Delivery.geo),
    ):
        if filters.get(name):
            query = query.where(column.in_(filters[name]))
    if keys:
        query = query.group_by(*keys).order_by(*keys)
    return [tuple(row) for row in session.execute(query).all()]


def add_report_rows(session: Session, *, report_id: int, rows: list[str]) -> None:
    """Store a completed report's rows (JSON), numbered from 0."""
    session.execute(delete(SegmentReportRow).where(SegmentReportRow.report_id == report_id))
    payload = [{"report_id": report_id, "position": i, "values": v} for i, v in enumerate(rows)]
    for start in range(0, len(payload), CHUNK):
        session.execute(insert(SegmentReportRow), payload[start : start + CHUNK])


def report_rows(session: Session, *, report_id: int, limit: int | None, offset: int) -> list[str]:
    """One page of a report's rows (JSON), in order; every row from ``offset`` without a limit."""
    return list(
        session.scalars(
            select(SegmentReportRow.values)
            .where(SegmentReportRow.report_id == report_id)
            .order_by(SegmentReportRow.position)
            .limit(limit)
            .offset(offset)
        )
    )
