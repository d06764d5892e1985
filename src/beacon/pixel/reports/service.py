"""Campaign and publisher reports as the API sees them: request (with dedup), then poll."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.orm import Session

from beacon.core.errors import InvalidValue, ValidationFailed, not_found, quoted
from beacon.core.jobs import COMPLETE
from beacon.core.permissions import CREDENTIAL_ROLE, Action, Role, require
from beacon.pixel import service as campaign_service
from beacon.pixel.reports import repository
from beacon.pixel.reports.build import present_row
from beacon.pixel.reports.models import CAMPAIGN, PUBLISHER, PixelReport
from beacon.pixel.reports.schemas import CampaignReportCreate, PublisherReportCreate
from beacon.pixel.schemas import CAMPAIGN_USE_CASES, PUBLISHER_USE_CASES

_TITLES = {CAMPAIGN: "Campaign report", PUBLISHER: "Publisher report"}
# Keys a page of rows may be sorted by, and whether they compare as numbers.
SORT_KEYS: dict[str, bool] = {
    **{
        d: False
        for d in ("date", "domain", "url", "device", "geo", "traffic_type", "agent", "ivt_reason")
    },
    **{m: True for m in ("impressions", "loads", "human", "bot", "ai_agent")},
}
EXPORT_PAGE = 2000


@dataclass(frozen=True)
class ReportPage:
    """A report and, once complete, one page of its rows."""

    report: PixelReport
    summary: dict[str, Any] | None
    rows: list[dict[str, Any]] | None
    limit: int
    offset: int


def create_campaign_report(
    *,
    session: Session,
    account_id: int,
    data: CampaignReportCreate,
    role: Role = CREDENTIAL_ROLE,
) -> tuple[PixelReport, bool]:
    """Queue a campaign report, or return the identical one in flight (``created`` False)."""
    require(role, Action.run_reports)
    _check_campaign(
        session=session, account_id=account_id, campaign_id=data.campaign_id, kind=CAMPAIGN
    )
    return _queue(
        session=session,
        account_id=account_id,
        kind=CAMPAIGN,
        data=data,
        include_classification=data.include_classification,
    )


def create_publisher_report(
    *,
    session: Session,
    account_id: int,
    data: PublisherReportCreate,
    role: Role = CREDENTIAL_ROLE,
) -> tuple[PixelReport, bool]:
    """Queue a publisher report, or return the identical one in flight (``created`` False)."""
    require(role, Action.run_reports)
    _check_campaign(
        session=session, account_id=account_id, campaign_id=data.campaign_id, kind=PUBLISHER
    )
    return _queue(
        session=session,
        account_id=account_id,
        kind=PUBLISHER,
        data=data,
        include_classification=False,
    )


def report_filters(report: PixelReport) -> dict[str, Any]:
    """The filters ``report`` was requested with, as stored (normalised; empty when none)."""
    stored = orjson.loads(report.filters or "{}")
    return stored if isinstance(stored, dict) else {}


def get_report(
    *,
    session: Session,
    account_id: int,
    kind: str,
    report_id: int,
    limit: int,
    offset: int,
    sort: str | None = None,
    descending: bool = False,
) -> ReportPage:
    """The account's report of ``kind`` with rows ``offset`` .. ``offset + limit - 1``, in the
    report's order or sorted by ``sort`` (a key of ``SORT_KEYS``)."""
    report = _report(session=session, account_id=account_id, kind=kind, report_id=report_id)
    if report.status != COMPLETE:
        return ReportPage(report, None, None, limit, offset)
    if sort is None:
        payloads = repository.page_rows(session, report_id=report.id, offset=offset, limit=limit)
    else:
        if sort not in SORT_KEYS:
            allowed = ", ".join(SORT_KEYS)
            raise InvalidValue("sort", f"{quoted(sort)}. Allowed values: {allowed}")
        payloads = repository.sorted_rows(
            session,
            report_id=report.id,
            key=sort,
            numeric=SORT_KEYS[sort],
            descending=descending,
            offset=offset,
            limit=limit,
        )
    summary = orjson.loads(report.summary) if report.summary else {}
    rows = [present_row(orjson.loads(p)) for p in payloads]
    return ReportPage(report, summary, rows, limit, offset)


def list_reports(
    *, session: Session, account_id: int, campaign_id: int | None = None, limit: int = 50
) -> Sequence[PixelReport]:
    """The account's latest reports of both kinds (of one campaign when given), newest first."""
    return repository.list_reports(
        session, account_id=account_id, campaign_id=campaign_id, limit=limit
    )


def export_rows(
    *, session: Session, account_id: int, kind: str, report_id: int
) -> tuple[PixelReport, Iterator[dict[str, Any]]]:
    """A complete report and its rows as the API presents them, in order, read a page at a
    time so that a large report never sits in memory (404 for another account's report,
    422 while it is not complete)."""
    report = _report(session=session, account_id=account_id, kind=kind, report_id=report_id)
    if report.status != COMPLETE:
        raise ValidationFailed(
            f"{_TITLES[kind]} {report_id} is {report.status}; rows can be exported once complete"
        )

    def rows() -> Iterator[dict[str, Any]]:
        offset = 0
        while offset < (report.row_count or 0):
            payloads = repository.page_rows(
                session, report_id=report.id, offset=offset, limit=EXPORT_PAGE
            )
            if not payloads:
                return
            for payload in payloads:
                yield present_row(orjson.loads(payload))
            offset += len(payloads)

    return report, rows()


def _report(*, session: Session, account_id: int, kind: str, report_id: int) -> PixelReport:
    report = repository.get_report(session, account_id=account_id, kind=kind, report_id=report_id)
    if report is None:
        raise not_found(_TITLES[kind], report_id)
    return report


def _check_campaign(*, session: Session, account_id: int, campaign_id: int, kind: str) -> None:
    campaign = campaign_service.get_campaign(
        session=session, account_id=account_id, campaign_id=campaign_id
    )
    use_case = campaign.use_case
    if kind == CAMPAIGN and use_case in CAMPAIGN_USE_CASES:
        return
    if kind == PUBLISHER and use_case in PUBLISHER_USE_CASES:
        return
    prefix = f"campaign {campaign_id} has use case '{use_case}'"
    if use_case in PUBLISHER_USE_CASES:
        hint = "publisher campaigns get publisher reports: POST /v1/pixel/reports/publisher"
    elif use_case in CAMPAIGN_USE_CASES:
        hint = "campaign use cases get campaign reports: POST /v1/pixel/reports/campaign"
    else:
        hint = (
            "reports need a campaign use case (campaign_optimization, campaign_reporting) or a "
            "publisher use case (publisher_bot_detection, publisher_agent_targeting)"
        )
    raise InvalidValue("campaign_id", f"{prefix}; {hint}")


def _queue(
    *,
    session: Session,
    account_id: int,
    kind: str,
    data: CampaignReportCreate | PublisherReportCreate,
    include_classification: bool,
) -> tuple[PixelReport, bool]:
    filters = data.filters.normalized()
    identity = {
        "kind": kind,
        "campaign_id": data.campaign_id,
        "start_date": data.start_date.isoformat(),
        "end_date": data.end_date.isoformat(),
        # In the order asked: the report echoes its dimensions, so ["domain", "date"] answered
        # with a report reading ["date", "domain"] would not be the request the client sent.
        "dimensions": data.dimensions,
        "filters": filters,
        "include_classification": include_classification,
    }
    request_key = hashlib.sha256(orjson.dumps(identity, option=orjson.OPT_SORT_KEYS)).hexdigest()
    report = PixelReport(
        kind=kind,
        account_id=account_id,
        campaign_id=data.campaign_id,
        start_date=data.start_date,
        end_date=data.end_date,
        dimensions=None if data.dimensions is None else orjson.dumps(data.dimensions).decode(),
        filters=orjson.dumps(filters, option=orjson.OPT_SORT_KEYS).decode(),
        include_classification=include_classification,
        request_key=request_key,
    )
    return repository.add_report_unless_active(session, report)
