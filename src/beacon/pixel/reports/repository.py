"""Queries of report job rows and of their stored result rows.

The aggregations over pixel rollups that compute a report are in `aggregation_repository`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Float, cast, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from beacon.core.db import json_text
from beacon.core.jobs import PENDING, PROCESSING
from beacon.pixel.reports.models import PixelReport, PixelReportRow

# --- Report (job) rows -----------------------------------------------------------------------


def get_report(
    session: Session, *, account_id: int, kind: str, report_id: int
) -> PixelReport | None:
    """The account's report of this kind, or None (another account's id is None too)."""
    return session.scalar(
        select(PixelReport).where(
            PixelReport.id == report_id,
            PixelReport.account_id == account_id,
            PixelReport.kind == kind,
        )
    )


def find_active(session: Session, *, account_id: int, request_key: str) -> PixelReport | None:
    """The identical request still pending or processing, if any."""
    return session.scalar(
        select(PixelReport).where(
            PixelReport.account_id == account_id,
            PixelReport.request_key == request_key,
            PixelReport.status.in_((PENDING, PROCESSING)),
        )
    )


def add_report_unless_active(session: Session, report: PixelReport) -> tuple[PixelReport, bool]:
    """Insert ``report``; if an identical one is in flight, return that one instead.

    The partial unique index settles races between concurrent identical requests; the
    savepoint keeps the request's transaction usable after losing one.
    """
    existing = find_active(session, account_id=report.account_id, request_key=report.request_key)
    if existing is not None:
        return existing, False
    try:
        with session.begin_nested():
            session.add(report)
    except IntegrityError:
        winner = find_active(session, account_id=report.account_id, request_key=report.request_key)
        if winner is None:
            raise
        return winner, False
    return report, True


# --- Result rows -----------------------------------------------------------------------------


def delete_rows(session: Session, *, report_id: int) -> None:
    """Drop any rows of an earlier attempt."""
    session.execute(delete(PixelReportRow).where(PixelReportRow.report_id == report_id))


def insert_rows(session: Session, *, report_id: int, first: int, payloads: Sequence[str]) -> None:
    """Store ``payloads`` as rows ``first``, ``first + 1``, ... of the report."""
    if payloads:
        session.execute(
            insert(PixelReportRow),
            [
                {"report_id": report_id, "row_number": first + n, "payload": payload}
                for n, payload in enumerate(payloads)
            ],
        )


def page_rows(session: Session, *, report_id: int, offset: int, limit: int) -> list[str]:
    """Payloads of rows ``offset`` .. ``offset + limit - 1``: a primary-key range, not a scan."""
    return list(
        session.scalars(
            select(PixelReportRow.payload)
            .where(
                PixelReportRow.report_id == report_id,
                PixelReportRow.row_number >= offset,
                PixelReportRow.row_number < offset + limit,
            )
            .order_by(PixelReportRow.row_number)
        )
    )


def list_reports(
    session: Session, *, account_id: int, campaign_id: int | None, limit: int
) -> Sequence[PixelReport]:
    """The account's latest reports (of one campaign when given), newest first."""
    query = select(PixelReport).where(PixelReport.account_id == account_id)
    if campaign_id is not None:
        query = query.where(PixelReport.campaign_id == campaign_id)
    return session.scalars(query.order_by(PixelReport.id.desc()).limit(limit)).all()


def sorted_rows(
    session: Session,
    *,
    report_id: int,
    key: str,
    numeric: bool,
    descending: bool,
    offset: int,
    limit: int,
) -> list[str]:
    """Payloads of one page of the report's rows ordered by the JSON field ``key`` (ties keep
    the report's order). Payloads are JSON in TEXT (`core.db.json_text`)."""
    field = json_text(session, PixelReportRow.payload, key)
    value = cast(field, Float) if numeric else field
    ordered = value.desc() if descending else value.asc()
    return list(
        session.scalars(
            select(PixelReportRow.payload)
            .where(PixelReportRow.report_id == report_id)
            .order_by(ordered.nulls_last(), PixelReportRow.row_number)
            .offset(offset)
            .limit(limit)
        )
    )
