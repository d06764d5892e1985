"""Queries over delivery rows and segment reports."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from beacon.activation.models import (
    MICROS,
    Delivery,
    DeliveryBatch,
    SegmentReport,
    SegmentReportRow,
)
from beacon.core.db import hold_rows, slices

CHUNK = 1000

# --- Deliveries ----------------------------------------------------------------------------


def batch_for_update(session: Session, *, account_id: int, batch_id: str) -> DeliveryBatch | None:
    """The account's batch called ``batch_id``, locked until commit (``hold_rows``)."""
    where = (DeliveryBatch.account_id == account_id, DeliveryBatch.batch_id == batch_id)
    # On SQLite a plain read runs outside any transaction, and the savepoint that creates a
    # new batch was the outermost one, so its release committed the batch with no rows yet:
    # an overlapping post of the same new batch_id read row_count 0 (201, replaced_rows 0).
    # Holding the writer's lock first makes overlapping posts take turns, as PostgreSQL's
    # row lock and unique index make them.
    hold_rows(session, DeliveryBatch, *where)
    return session.scalar(select(DeliveryBatch).where(*where))


def clear_batch(session: Session, *, batch_pk: int) -> None:
    """Remove the rows an earlier post of this batch stored."""
    session.execute(delete(Delivery).where(Delivery.batch_pk == batch_pk))


def add_deliveries(session: Session, rows: list[dict[str, Any]]) -> None:
    """Bulk insert delivery rows."""
    for part in slices(rows, CHUNK):
        session.execute(insert(Delivery), part)


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
    limit: int | None = None,
) -> list[tuple[Any, ...]]:
    """Sums of impressions, clicks and spend (micros) grouped by ``dimensions``, in order; the
    first ``limit`` groups when given."""
    keys = [_DIMENSION_COLUMNS[d] for d in dimensions]
    # Spend is summed as whole units and micros apart, joined here in Python: a row's spend
    # may be 10**18 micros (MAX_ROW_COUNT units), so ten rows overflow SQLite's 64-bit SUM()
    # ("integer overflow"), while each part's sum stays inside it for as many rows as the
    # counts' sums do. TOTAL() would not overflow but is a float, inexact past 2**53 micros.
    query = select(
        *keys,
        func.coalesce(func.sum(Delivery.impressions), 0),
        func.coalesce(func.sum(Delivery.clicks), 0),
        func.coalesce(func.sum(Delivery.spend_micros // MICROS), 0),
        func.coalesce(func.sum(Delivery.spend_micros % MICROS), 0),
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
    if limit is not None:
        query = query.limit(limit)
    return [
        (*row, int(units) * MICROS + int(micros))
        for *row, units, micros in session.execute(query).all()
    ]


def add_report_rows(session: Session, *, report_id: int, rows: list[str]) -> None:
    """Store a completed report's rows (JSON), numbered from 0."""
    session.execute(delete(SegmentReportRow).where(SegmentReportRow.report_id == report_id))
    payload = [{"report_id": report_id, "position": i, "values": v} for i, v in enumerate(rows)]
    for part in slices(payload, CHUNK):
        session.execute(insert(SegmentReportRow), part)


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
