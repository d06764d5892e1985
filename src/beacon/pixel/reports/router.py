"""HTTP endpoints of campaign reports (seed 000) and publisher reports. Thin: parse, call, shape."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response

from beacon.core.deps import CurrentCaller, DbSession, require_json, wake_worker
from beacon.core.ids import id_path
from beacon.core.jsonbody import StrictJSONRoute
from beacon.core.openapi import v1_errors
from beacon.core.paging import Offset
from beacon.pixel.reports import service
from beacon.pixel.reports.models import CAMPAIGN, PUBLISHER, PixelReport
from beacon.pixel.reports.schemas import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    CampaignReport,
    CampaignReportCreate,
    Pagination,
    PublisherReport,
    PublisherReportCreate,
)

router = APIRouter(prefix="/v1/pixel/reports", tags=["Pixel reports"], route_class=StrictJSONRoute)

ReportId = Annotated[int, id_path("The report ID")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Results per page. Max {MAX_LIMIT}.")]
_DEDUP: dict[int | str, dict[str, Any]] = {
    200: {"description": "An identical report is already pending or processing: that one"}
}


def _fields(page: service.ReportPage) -> dict[str, Any]:
    report = page.report
    fields: dict[str, Any] = {
        "id": report.id,
        "status": report.status,
        "campaign_id": report.campaign_id,
        "start_date": report.start_date,
        "end_date": report.end_date,
        "dimensions": None if report.dimensions is None else orjson.loads(report.dimensions),
        "include_classification": report.include_classification,
        "created_date": report.created_date,
        "processed_date": report.processed_date,
        "summary": page.summary,
        "data": page.rows,
    }
    if page.rows is not None:
        fields["pagination"] = Pagination(
            limit=page.limit, offset=page.offset, total=report.row_count or 0
        )
    if report.status == "failed":
        fields["error"] = report.error
    return fields


def _created(report: PixelReport) -> service.ReportPage:
    return service.ReportPage(report, None, None, DEFAULT_LIMIT, 0)


@router.post(
    "/campaign",
    status_code=201,
    response_model=CampaignReport,
    responses=_DEDUP | v1_errors(400, 401, 404, 415, 422, 429),
    dependencies=[Depends(require_json)],
    summary="Create a campaign report",
)
def create_campaign_report(
    body: CampaignReportCreate,
    caller: CurrentCaller,
    session: DbSession,
    request: Request,
    response: Response,
    background: BackgroundTasks,
) -> CampaignReport:
    report, created = service.create_campaign_report(
        session=session, account_id=caller.account_id, data=body
    )
    if created:
        background.add_task(wake_worker, request)
    else:
        response.status_code = 200
    return CampaignReport(**_fields(_created(report)))


@router.get(
    "/campaign/{report_id}",
    response_model=CampaignReport,
    responses=v1_errors(400, 401, 404, 422, 429),
    summary="Get a campaign report",
)
def get_campaign_report(
    report_id: ReportId,
    caller: CurrentCaller,
    session: DbSession,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> CampaignReport:
    page = service.get_report(
        session=session,
        account_id=caller.account_id,
        kind=CAMPAIGN,
        report_id=report_id,
        limit=limit,
        offset=offset,
    )
    return CampaignReport(**_fields(page))


@router.post(
    "/publisher",
    status_code=201,
    response_model=PublisherReport,
    responses=_DEDUP | v1_errors(400, 401, 404, 415, 422, 429),
    dependencies=[Depends(require_json)],
    summary="Create a publisher report",
)
def create_publisher_report(
    body: PublisherReportCreate,
    caller: CurrentCaller,
    session: DbSession,
    request: Request,
    response: Response,
    background: BackgroundTasks,
) -> PublisherReport:
    report, created = service.create_publisher_report(
        session=session, account_id=caller.account_id, data=body
    )
    if created:
        background.add_task(wake_worker, request)
    else:
        response.status_code = 200
    return _publisher(_created(report))


@router.get(
    "/publisher/{report_id}",
    response_model=PublisherReport,
    responses=v1_errors(400, 401, 404, 422, 429),
    summary="Get a publisher report",
)
def get_publisher_report(
    report_id: ReportId,
    caller: CurrentCaller,
    session: DbSession,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> PublisherReport:
    page = service.get_report(
        session=session,
        account_id=caller.account_id,
        kind=PUBLISHER,
        report_id=report_id,
        limit=limit,
        offset=offset,
    )
    return _publisher(page)


def _publisher(page: service.ReportPage) -> PublisherReport:
    fields = _fields(page)
    del fields["include_classification"]
    return PublisherReport(**fields)
