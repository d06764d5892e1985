"""HTTP endpoints of delivery data and segment reports (seed 001). Thin: parse, call the service,
shape."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response

from beacon.activation.reports import deliveries
from beacon.activation.reports import service as reports
from beacon.activation.reports.schemas import (
    DELIVERY_CSV_PATTERN,
    MAX_BATCH_ID,
    MAX_UNPAGED_REPORT_ROWS,
    DeliveryReceipt,
    DeliveryUpload,
    ReportCreate,
    ReportOut,
)
from beacon.activation.schemas import MAX_PAGE
from beacon.activation.uploads import RawBody, content_kind, upload_body
from beacon.core.deps import CurrentCaller, DbSession, require_json, wake_worker
from beacon.core.ids import id_path
from beacon.core.jsonbody import StrictJSONRoute
from beacon.core.openapi import v1_errors
from beacon.core.paging import Offset

router = APIRouter(prefix="/v1/clsfy", route_class=StrictJSONRoute)

ReportId = Annotated[int, id_path("The report ID")]


# --- Deliveries ----------------------------------------------------------------------------


@router.post(
    "/deliveries",
    status_code=201,
    response_model=DeliveryReceipt,
    tags=["Deliveries"],
    responses={
        200: {"model": DeliveryReceipt, "description": "Batch replaced (batch_id posted before)"},
        **v1_errors(400, 401, 413, 415, 422, 429),
    },
    openapi_extra=upload_body(
        DeliveryUpload,
        "text/csv",
        "A CSV export with a header row (batch_id as a query param)",
        DELIVERY_CSV_PATTERN,
    ),
    summary="Ingest delivery rows (JSON or CSV)",
)
def ingest_deliveries(
    request: Request,
    response: Response,
    body: RawBody,
    caller: CurrentCaller,
    session: DbSession,
    batch_id: Annotated[
        str | None,
        Query(min_length=1, max_length=MAX_BATCH_ID, description="Batch id for CSV uploads"),
    ] = None,
) -> DeliveryReceipt:
    if content_kind(request, text_types=("text/csv",)) == "json":
        upload = deliveries.upload_from_json(body)
        rows = deliveries.rows_from_json(upload)
        batch_id = upload.batch_id or batch_id
    else:
        rows = deliveries.rows_from_csv(deliveries.decode_csv(body))
    receipt = deliveries.ingest(
        session=session, account_id=caller.account_id, batch_id=batch_id, rows=rows
    )
    if receipt.replaced_rows:
        response.status_code = 200
    return receipt


# --- Segment reports -----------------------------------------------------------------------


@router.post(
    "/reports",
    status_code=201,
    response_model=ReportOut,
    tags=["Segment reports"],
    responses=v1_errors(400, 401, 415, 422, 429),
    dependencies=[Depends(require_json)],
    summary="Request a segment report",
)
def create_report(
    body: ReportCreate,
    caller: CurrentCaller,
    session: DbSession,
    request: Request,
    background: BackgroundTasks,
) -> ReportOut:
    report = reports.create_report(session=session, account_id=caller.account_id, data=body)
    background.add_task(wake_worker, request)
    return reports.report_out(report)


@router.get(
    "/reports/{report_id}",
    response_model=ReportOut,
    tags=["Segment reports"],
    responses=v1_errors(400, 401, 404, 422, 429),
    summary="Get a segment report (poll until complete)",
)
def get_report(
    report_id: ReportId,
    caller: CurrentCaller,
    session: DbSession,
    limit: Annotated[
        int | None,
        Query(
            ge=1,
            le=MAX_PAGE,
            description=f"Rows per page (max {MAX_PAGE}); without it every row "
            f"(reports of at most {MAX_UNPAGED_REPORT_ROWS} rows)",
        ),
    ] = None,
    offset: Offset = 0,
) -> ReportOut:
    return reports.report_page(
        session=session,
        account_id=caller.account_id,
        report_id=report_id,
        limit=limit,
        offset=offset,
    )
