"""Segment reports (seed 001): delivery totals for the deals a scope resolves to.

Metrics come from SQL sums over delivery rows, never from averaged averages:
``ctr = clicks / impressions`` rounded to 4 decimal places (a percentage to 2 decimals), and
``ecpm = spend / impressions * 1000`` and ``spend`` rounded to cents, all half up; both rates
are 0 without impressions. Four decimals is what seed 001's examples show (37 clicks on 12,400
impressions is ``0.003``, 18 on 8,750 is ``0.0021``); the exact ratio is always recoverable from
``clicks`` and ``impressions``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import orjson
from sqlalchemy.orm import Session

from beacon.activation.deals import repository as deal_repository
from beacon.activation.models import MICROS, SegmentReport, to_micros
from beacon.activation.reports import repository as report_repository
from beacon.activation.reports.schemas import (
    MAX_UNPAGED_REPORT_ROWS,
    ReportCreate,
    ReportOut,
    ReportPagination,
    Summary,
)
from beacon.activation.schemas import MAX_PAGE
from beacon.activation.segments import repository
from beacon.core.errors import InvalidValue, ValidationFailed, not_found, quoted
from beacon.core.jobs import COMPLETE, FAILED, PENDING, JobFailed
from beacon.core.permissions import CREDENTIAL_ROLE, Action, Role, require
from beacon.core.timefmt import MAX_REPORT_DAYS, date_range_problem, utcnow

CENT = Decimal("0.01")
# A stored row's spend before rounding, never on the wire: the console's breakdowns add it,
# as the summary adds the deliveries' (adding rows' rounded spend drifts up to half a cent a row).
SPEND_MICROS = "spend_micros"
STORED_PAGE = 2000
CTR_STEP = Decimal("0.0001")


def _rounded(value: Decimal, step: Decimal) -> float:
    return float(value.quantize(step, rounding=ROUND_HALF_UP))


def metrics(*, impressions: int, clicks: int, spend_micros: int) -> dict[str, Any]:
    """The five metrics of a summary or row, from summed counts."""
    spend = Decimal(spend_micros) / MICROS
    return {
        "impressions": impressions,
        "clicks": clicks,
        "spend": _rounded(spend, CENT),
        "ctr": _rounded(Decimal(clicks) / Decimal(impressions), CTR_STEP) if impressions else 0.0,
        "ecpm": _rounded(spend / impressions * 1000, CENT) if impressions else 0.0,
    }


def create_report(
    *,
    session: Session,
    account_id: int,
    data: ReportCreate,
    role: Role | str = CREDENTIAL_ROLE,
) -> SegmentReport:
    """Validate the scope and queue the report (status ``pending``)."""
    require(role, Action.run_reports)
    # Seed 001 states no longest range; Measure's cap (a year) keeps a report from scanning ten.
    problem = date_range_problem(data.start_date, data.end_date, max_days=MAX_REPORT_DAYS)
    if problem:
        raise InvalidValue("end_date", problem)
    if data.segment_ids:
        found = repository.segments_by_id(
            session, account_id=account_id, segment_ids=data.segment_ids
        )
        missing = [s for s in data.segment_ids if s not in found]
        if missing:
            raise InvalidValue("segment_ids", f"segment {missing[0]} not found")
    if data.deal_ids:
        known = deal_repository.issued_deal_ids(
            session, account_id=account_id, among=set(data.deal_ids)
        )
        unknown = [d for d in data.deal_ids if d not in known]
        if unknown:
            raise InvalidValue("deal_ids", f"deal {quoted(unknown[0])} not found")
    filters = data.filters.model_dump(exclude_none=True) if data.filters else None
    report = SegmentReport(
        account_id=account_id,
        segment_ids=_dump(data.segment_ids),
        requested_deal_ids=_dump(data.deal_ids),
        start_date=data.start_date,
        end_date=data.end_date,
        filters=_dump(filters),
        dimensions=_dump(data.dimensions),
        status=PENDING,
        attempts=0,
        created_date=utcnow(),
    )
    result: SegmentReport = repository.add(session, report)
    return result


def get_report(*, session: Session, account_id: int, report_id: int) -> SegmentReport:
    """The account's report, or ``Report with ID 999 not found``."""
    report = report_repository.get_report(session, account_id=account_id, report_id=report_id)
    if report is None:
        raise not_found("Report", report_id)
    return report


def list_reports(
    *, session: Session, account_id: int, limit: int, offset: int = 0
) -> tuple[list[SegmentReport], int]:
    """A page of the account's reports, newest first, and how many there are."""
    return report_repository.list_reports(
        session, account_id=account_id, limit=limit, offset=offset
    )


def report_out(report: SegmentReport) -> ReportOut:
    """The report object without rows or paging (the creation response)."""
    complete = report.status == COMPLETE
    return ReportOut(
        id=report.id,
        status=report.status,
        segment_ids=_load(report.segment_ids),
        deal_ids=_load(report.deal_ids) if complete else None,
        start_date=report.start_date,
        end_date=report.end_date,
        filters=_load(report.filters),
        dimensions=_load(report.dimensions),
        created_date=report.created_date,
        processed_date=report.processed_date if complete else None,
        summary=Summary(**orjson.loads(report.summary)) if complete and report.summary else None,
        data=[] if complete else None,
        error=report.error if report.status == FAILED else None,
    )


def report_page(
    *, session: Session, account_id: int, report_id: int, limit: int | None, offset: int
) -> ReportOut:
    """The report with its ``data`` once complete: every row from ``offset`` on without a
    ``limit`` (up to ``MAX_UNPAGED_REPORT_ROWS``, else a 422 that says to page), or one page."""
    report = get_report(session=session, account_id=account_id, report_id=report_id)
    out = report_out(report)
    if report.status != COMPLETE:
        return out
    total = report.row_count or 0
    if limit is None and total - offset > MAX_UNPAGED_REPORT_ROWS:
        raise ValidationFailed(
            f"Report {report.id} has {total:,} rows, more than the {MAX_UNPAGED_REPORT_ROWS:,} "
            f"returned without paging: page through them with ?limit= (at most {MAX_PAGE:,}) "
            f"and ?offset="
        )
    rows = report_repository.report_rows(session, report_id=report.id, limit=limit, offset=offset)
    out.data = [_wire_row(orjson.loads(r)) for r in rows]
    out.pagination = ReportPagination(limit=limit, offset=offset, total=total)
    return out


def stored_rows(*, session: Session, account_id: int, report_id: int) -> Iterator[dict[str, Any]]:
    """A complete report's rows as stored (``spend_micros`` included), in order, read a page at
    a time: any number of them, without the API's unpaged maximum."""
    report = get_report(session=session, account_id=account_id, report_id=report_id)
    if report.status != COMPLETE:
        return
    offset = 0
    while offset < (report.row_count or 0):
        page = report_repository.report_rows(
            session, report_id=report.id, limit=STORED_PAGE, offset=offset
        )
        if not page:
            return
        for payload in page:
            yield orjson.loads(payload)
        offset += len(page)


def breakdowns(
    rows: Iterable[dict[str, Any]], dimensions: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """A complete report's rows (`stored_rows`) summed per value of each of ``dimensions`` (the
    console's time series and device, format and domain tables), metrics recomputed from the
    sums of the unrounded spend."""
    sums: dict[str, dict[Any, list[int]]] = {dimension: {} for dimension in dimensions}
    for row in rows:
        micros = row.get(SPEND_MICROS)
        if micros is None:  # a row stored before its spend was kept unrounded
            micros = to_micros(row["spend"])
        for dimension in dimensions:
            acc = sums[dimension].setdefault(row.get(dimension), [0, 0, 0])
            acc[0] += int(row["impressions"])
            acc[1] += int(row["clicks"])
            acc[2] += int(micros)
    return {
        dimension: [
            {dimension: key, **metrics(impressions=i, clicks=c, spend_micros=s)}
            for key, (i, c, s) in by_value.items()
        ]
        for dimension, by_value in sums.items()
    }


def resolve_deal_ids(*, session: Session, report: SegmentReport) -> list[str]:
    """The issued deals the report's scope covers: the segments' deals, the listed deals (both
    given: deals in both), or every deal of the account."""
    segment_ids = _load(report.segment_ids)
    requested = _load(report.requested_deal_ids)
    if segment_ids:
        deals = deal_repository.deal_ids_for_segments(
            session, account_id=report.account_id, segment_ids=segment_ids
        )
        if requested:
            deals &= set(requested)
    else:
        deals = deal_repository.issued_deal_ids(
            session, account_id=report.account_id, among=requested
        )
    return sorted(deals)


def run_report(*, session: Session, report: SegmentReport, max_rows: int) -> None:
    """Compute the summary and rows (the job handler's work); JobFailed when the report would
    have more than ``max_rows`` rows (they are built in memory)."""
    deal_ids = resolve_deal_ids(session=session, report=report)
    filters: dict[str, list[str]] = _load(report.filters) or {}
    dimensions: list[str] = _load(report.dimensions) or []

    def totals(by: list[str], limit: int | None = None) -> list[tuple[Any, ...]]:
        return report_repository.delivery_totals(
            session,
            account_id=report.account_id,
            deal_ids=deal_ids,
            start_date=report.start_date,
            end_date=report.end_date,
            filters=filters,
            dimensions=by,
            limit=limit,
        )

    ((impressions, clicks, spend),) = totals([])
    summary = metrics(impressions=int(impressions), clicks=int(clicks), spend_micros=int(spend))
    rows: list[str] = []
    if dimensions:
        grouped = totals(dimensions, limit=max_rows + 1)
        if len(grouped) > max_rows:
            raise JobFailed(
                f"The report has more than {max_rows:,} rows; "
                "narrow the date range, the filters or the dimensions"
            )
        for values in grouped:
            keys = {d: _wire(v) for d, v in zip(dimensions, values, strict=False)}
            imp, clk, spd = values[len(dimensions) :]
            row = {**keys, **metrics(impressions=int(imp), clicks=int(clk), spend_micros=int(spd))}
            rows.append(orjson.dumps({**row, SPEND_MICROS: _json_int(int(spd))}).decode())
    report_repository.add_report_rows(session, report_id=report.id, rows=rows)
    report.deal_ids = _dump(deal_ids)
    report.summary = orjson.dumps(summary).decode()
    report.row_count = len(rows)


def _json_int(value: int) -> int | str:
    """``value`` as orjson writes it: an integer within 64 bits, else its digits (twenty rows of
    the most spend a row takes sum past 2**64 micros); readers take ``int()`` of either."""
    return value if -(2**63) <= value < 2**64 else str(value)


def _wire_row(row: dict[str, Any]) -> dict[str, Any]:
    row.pop(SPEND_MICROS, None)
    return row


def _wire(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def _dump(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _load(value: str | None) -> Any:
    return None if value is None else orjson.loads(value)
