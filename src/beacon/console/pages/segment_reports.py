"""Activate → Segment reports: what the deals of segments delivered — impressions, clicks,
spend, CTR and eCPM per day (a uPlot chart) and by device, format and domain — and the rows as
CSV. The list page shows every report asked for (newest first). One report job per view (``reports.create_report``, as ``POST /v1/clsfy/reports``), broken
down by date, device, format and domain; the tables are sums of its rows."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from fastapi import APIRouter, BackgroundTasks, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from beacon.activation.reports import service as reports
from beacon.activation.reports.schemas import ReportCreate
from beacon.activation.segments import service as segments
from beacon.console import web
from beacon.console.pages import NavItem
from beacon.console.pages import _forms as forms
from beacon.core.deps import DbSession, wake_worker
from beacon.core.errors import ValidationFailed
from beacon.core.ids import id_path
from beacon.core.jobs import COMPLETE, FAILED
from beacon.core.paging import MAX_OFFSET
from beacon.core.timefmt import utcnow
from beacon.people import form_nonces

if TYPE_CHECKING:  # what the services return
    from beacon.activation.models import SegmentReport

router = APIRouter(prefix="/activate/reports")
NAV = (NavItem("Activate", "Segment reports", web.PREFIX + "/activate/reports", order=40),)

ReportId = Annotated[int, id_path("The report ID")]
DIMENSIONS = ["date", "device", "format", "domain"]
CSV_COLUMNS = (*DIMENSIONS, "impressions", "clicks", "spend", "ctr", "ecpm")
CSV_PAGE = 2000
LIST_PAGE = 50
LABELS = {"segment_ids": "a segment", "start_date": "the first day", "end_date": "the last day"}


def _form(
    request: Request,
    viewer: web.Viewer,
    session: Any,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    found = segments.list_segments(session=session, account_id=viewer.member.account_id)
    return web.render(
        request,
        "activate/report_form.html",
        {"values": values, "errors": errors, "segments": found, "form_nonce": form_nonces.new()},
        viewer=viewer,
        status=status,
    )


@router.get("")
def report_list(
    request: Request,
    viewer: web.CurrentViewer,
    session: DbSession,
    page: Annotated[int, Query(ge=1, le=MAX_OFFSET // LIST_PAGE)] = 1,
) -> Response:
    """Every report of the account, newest first: what was asked, when, its state."""
    account_id = viewer.member.account_id
    found, total = reports.list_reports(
        session=session, account_id=account_id, limit=LIST_PAGE, offset=(page - 1) * LIST_PAGE
    )
    names = {s.id: s.name for s in segments.list_segments(session=session, account_id=account_id)}
    items = [{"r": reports.report_out(report), "rows": report.row_count} for report in found]
    return web.render(
        request,
        "activate/reports.html",
        {
            "items": items,
            "total": total,
            "page": page,
            "pages": max(1, -(-total // LIST_PAGE)),
            "segment_names": names,
        },
        viewer=viewer,
    )


@router.get("/new")
def report_form(request: Request, viewer: web.CurrentViewer, session: DbSession) -> Response:
    today = utcnow().date()
    values = {
        "segment_ids": [request.query_params.get("segment_id", "")],
        "start_date": (today - dt.timedelta(days=29)).isoformat(),
        "end_date": today.isoformat(),
    }
    return _form(request, viewer, session, values, {})


@router.post("")
def create(
    request: Request,
    viewer: web.CurrentViewer,
    session: DbSession,
    background: BackgroundTasks,
    form: forms.PostedForm,
) -> Response:
    values = {
        "segment_ids": [v for v in forms.texts(form, "segment_ids") if v],
        "start_date": forms.text(form, "start_date"),
        "end_date": forms.text(form, "end_date"),
    }
    body: dict[str, Any] = {
        "start_date": values["start_date"] or None,
        "end_date": values["end_date"] or None,
        "dimensions": DIMENSIONS,
    }
    if values["segment_ids"]:
        body["segment_ids"] = [_id_or_text(v) for v in values["segment_ids"]]

    def create_report() -> SegmentReport:
        data = ReportCreate.model_validate(body)
        return reports.create_report(
            session=session, account_id=viewer.member.account_id, data=data, role=viewer.member.role
        )

    try:
        # posted again (a double click, the back button): open the report the first post made
        made = forms.once(
            session=session,
            viewer=viewer,
            nonce=forms.text(form, "form_nonce"),
            create=create_report,
            describe=lambda report: str(report.id),
        )
    except ValidationError as exc:
        errors = web.form_errors(exc, LABELS)
        return _form(request, viewer, session, values, errors, status=422)
    except ValidationFailed as exc:
        errors = web.service_error(exc, "segment_ids")
        return _form(request, viewer, session, values, errors, status=422)
    if isinstance(made, form_nonces.NotCreated):
        if not made.earlier:
            return _form(request, viewer, session, values, {"form": forms.STALE_FORM}, status=422)
        return web.redirect(f"{web.PREFIX}/activate/reports/{made.earlier}")
    background.add_task(wake_worker, request)
    return web.redirect(f"{web.PREFIX}/activate/reports/{made.id}")


@router.get("/{report_id}")
def report_page(
    request: Request, report_id: ReportId, viewer: web.CurrentViewer, session: DbSession
) -> Response:
    account_id = viewer.member.account_id
    report = reports.get_report(session=session, account_id=account_id, report_id=report_id)
    out = reports.report_out(report)
    context: dict[str, Any] = {"r": out, "done": out.status in (COMPLETE, FAILED)}
    if out.status == COMPLETE:
        rows = reports.stored_rows(session=session, account_id=account_id, report_id=report_id)
        by = reports.breakdowns(rows, DIMENSIONS)
        by["date"].sort(key=lambda row: str(row["date"]))
        for name in ("device", "format", "domain"):
            by[name].sort(key=lambda row: (-row["impressions"], str(row[name])))
        context["by"] = by
        context["chart"] = orjson.dumps(
            {
                "days": [row["date"] for row in by["date"]],
                "impressions": [row["impressions"] for row in by["date"]],
                "clicks": [row["clicks"] for row in by["date"]],
                "spend": [row["spend"] for row in by["date"]],
                "ctr": [row["ctr"] for row in by["date"]],
                "ecpm": [row["ecpm"] for row in by["date"]],
            }
        ).decode()
        names = {
            s.id: s.name for s in segments.list_segments(session=session, account_id=account_id)
        }
        context["segment_names"] = names
    else:
        context["segment_names"] = {}
    template = (
        "activate/_report_body.html"
        if request.headers.get("hx-request") == "true"
        else "activate/report.html"
    )
    return web.render(request, template, context, viewer=viewer)


@router.get("/{report_id}/csv")
def report_csv(
    request: Request, report_id: ReportId, viewer: web.CurrentViewer, session: DbSession
) -> Response:
    """Every row of a complete report, read a page at a time."""
    account_id = viewer.member.account_id
    report = reports.get_report(session=session, account_id=account_id, report_id=report_id)
    if report.status != COMPLETE:
        raise ValidationFailed(f"Report {report_id} is not complete yet (status: {report.status})")

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        offset = 0
        while True:
            page = reports.report_page(
                session=session,
                account_id=account_id,
                report_id=report_id,
                limit=CSV_PAGE,
                offset=offset,
            )
            for row in page.data or []:
                writer.writerow([row.get(c, "") for c in CSV_COLUMNS])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            offset += CSV_PAGE
            if offset >= (page.pagination.total if page.pagination else 0):
                return

    return web.download(
        request, lines(), media_type="text/csv", filename=f"segment-report-{report_id}.csv"
    )


def _id_or_text(value: str) -> int | str:
    # a value that is not a whole number goes to validation as it is: a form error naming it
    number = web.whole_number(value)
    return value if number is None else number
