"""Measure: campaign and publisher reports — create, watch, page, sort, download as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from fastapi import APIRouter, BackgroundTasks, Depends, Form, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from beacon.console import idn, web
from beacon.console.pages import NavItem
from beacon.console.pages import _forms as forms
from beacon.contextual import brand_safety
from beacon.core.db import Database
from beacon.core.deps import DbSession, get_database, wake_worker
from beacon.core.errors import NotFound
from beacon.core.ids import MAX_ID, id_path
from beacon.core.jobs import COMPLETE, FAILED
from beacon.core.paging import Offset
from beacon.core.permissions import Action, require
from beacon.core.timefmt import utcnow
from beacon.people import form_nonces
from beacon.pixel import service as pixel_service
from beacon.pixel.reports import service as report_service
from beacon.pixel.reports.build import DIMENSION_ORDER
from beacon.pixel.reports.schemas import CampaignReportCreate, PublisherReportCreate
from beacon.pixel.reports.service import CAMPAIGN, PUBLISHER
from beacon.pixel.schemas import CAMPAIGN_USE_CASES, PUBLISHER_USE_CASES

if TYPE_CHECKING:  # what the services return; the pages read nothing else of the models
    from beacon.pixel.models import PixelCampaign
    from beacon.pixel.reports.models import PixelReport

router = APIRouter(prefix="/pixel/reports")
NAV = (NavItem("Measure", "Reports", web.PREFIX + "/pixel/reports", order=20),)

ReportId = Annotated[int, id_path("The report ID")]
FormText = Annotated[str, Form(max_length=20_000)]
FormList = Annotated[list[str], Form(max_length=20)]
PAGE_SIZES = (25, 100, 500)
PUBLISHER_ONLY = ("traffic_type", "agent", "ivt_reason")
DEVICES = ("desktop", "mobile", "tablet", "ctv")
TRAFFIC_TYPES = ("human", "bot", "ai_agent")
# the filter keeps pages at most at a level: the top level keeps every classified page
RISK_LEVELS = {level: f"{level.capitalize()} or less" for level in brand_safety.LEVELS}
RISK_LEVELS[brand_safety.LEVELS[0]] = "None: no brand-safety signal"
RISK_LEVELS[brand_safety.LEVELS[-1]] = "Any classified page"
LABELS = {
    "campaign_id": "a campaign",
    "start_date": "the first day",
    "end_date": "the last day",
    "dimensions": "the breakdown",
    "filters": "the filters",
}
DIMENSION_LABELS = {
    "date": "Day",
    "domain": "Domain",
    "url": "URL",
    "device": "Device",
    "geo": "Country",
    "traffic_type": "Traffic type",
    "agent": "Agent",
    "ivt_reason": "Invalid-traffic reason",
}


def _kind(value: str) -> str:
    if value not in (CAMPAIGN, PUBLISHER):
        raise NotFound(f"No {value} reports")
    return value


@router.get("")
def report_list(
    request: Request,
    viewer: web.CurrentViewer,
    session: DbSession,
    campaign_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    account_id = viewer.member.account_id
    campaigns = {
        c.id: c for c in pixel_service.list_campaigns(session=session, account_id=account_id)
    }
    reports = report_service.list_reports(
        session=session, account_id=account_id, campaign_id=campaign_id
    )
    return web.render(
        request,
        "measure/reports.html",
        {
            "reports": reports,
            "campaigns": campaigns,
            "campaign": campaigns.get(campaign_id) if campaign_id else None,
            "has_campaigns": bool(campaigns),
        },
        viewer=viewer,
    )


@router.get("/new")
def new_report(
    request: Request,
    viewer: web.CurrentViewer,
    session: DbSession,
    campaign_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    require(viewer.member.role, Action.run_reports)
    today = utcnow().date()
    values: dict[str, Any] = {
        "campaign_id": str(campaign_id or ""),
        "start_date": today.replace(day=1).isoformat(),
        "end_date": today.isoformat(),
        "dimensions": ["date", "domain"],
        "domains": "",
        "geo": "",
        "devices": [],
        "traffic_types": [],
        "brand_safety_max_risk": "",
        "include_classification": False,
    }
    return _form(request, viewer, session, values=values, errors={})


@router.post("")
def create_report(
    request: Request,
    viewer: web.CurrentViewer,
    session: DbSession,
    background: BackgroundTasks,
    campaign_id: FormText = "",
    start_date: FormText = "",
    end_date: FormText = "",
    dimensions: FormList = [],  # noqa: B006 - FastAPI copies defaults
    domains: FormText = "",
    geo: FormText = "",
    devices: FormList = [],  # noqa: B006
    traffic_types: FormList = [],  # noqa: B006
    brand_safety_max_risk: FormText = "",
    include_classification: FormText = "",
    form_nonce: FormText = "",
) -> Response:
    values: dict[str, Any] = {
        "campaign_id": campaign_id,
        "start_date": start_date,
        "end_date": end_date,
        "dimensions": dimensions,
        "domains": domains,
        "geo": geo,
        "devices": devices,
        "traffic_types": traffic_types,
        "brand_safety_max_risk": brand_safety_max_risk,
        "include_classification": bool(include_classification),
    }
    account_id = viewer.member.account_id
    campaign = _campaign(session, account_id, campaign_id)
    kind = PUBLISHER if campaign and campaign.use_case in PUBLISHER_USE_CASES else CAMPAIGN
    errors = _unoffered(values, include_classification)
    if campaign is None:
        errors["campaign_id"] = "Choose a campaign"
    elif kind == CAMPAIGN and set(dimensions) & set(PUBLISHER_ONLY):
        errors.setdefault(
            "dimensions",
            "Traffic type, agent and invalid-traffic reason break down publisher reports only",
        )
    payload: dict[str, Any] = {
        "campaign_id": campaign.id if campaign else 1,
        "start_date": start_date or None,
        "end_date": end_date or None,
        "dimensions": [d for d in DIMENSION_ORDER if d in dimensions] or None,
        "filters": _filters(values, kind),
    }
    data: CampaignReportCreate | PublisherReportCreate | None = None
    try:
        if kind == CAMPAIGN:
            payload["include_classification"] = values["include_classification"]
            payload["dimensions"] = [
                d for d in payload["dimensions"] or [] if d not in PUBLISHER_ONLY
            ] or None
            data = CampaignReportCreate.model_validate(payload)
        else:
            data = PublisherReportCreate.model_validate(payload)
    except ValidationError as exc:
        errors = {**web.form_errors(exc, LABELS), **errors}
    if errors or data is None or campaign is None:
        require(viewer.member.role, Action.run_reports)
        return _form(request, viewer, session, values=values, errors=errors)
    role = viewer.member.role
    asked = data

    def create() -> tuple[PixelReport, bool]:
        if isinstance(asked, CampaignReportCreate):
            return report_service.create_campaign_report(
                session=session, account_id=account_id, data=asked, role=role
            )
        return report_service.create_publisher_report(
            session=session, account_id=account_id, data=asked, role=role
        )

    # posted again (a double click, the back button): open the report the first post made
    made = forms.once(
        session=session,
        viewer=viewer,
        nonce=form_nonce,
        create=create,
        describe=lambda made: f"{made[0].kind}/{made[0].id}",
    )
    if isinstance(made, form_nonces.NotCreated):
        if not made.earlier:
            errors = {"form": forms.STALE_FORM}
            return _form(request, viewer, session, values=values, errors=errors)
        return web.redirect(f"{web.PREFIX}/pixel/reports/{made.earlier}")
    report, created = made
    if created:
        background.add_task(wake_worker, request)
    return web.redirect(f"{web.PREFIX}/pixel/reports/{report.kind}/{report.id}")


def _unoffered(values: dict[str, Any], include_classification: str) -> dict[str, str]:
    """Errors for values the form never offers (a crafted or stale post): refused at their
    field rather than dropped, so that a report is never made of other choices than those
    sent."""
    errors: dict[str, str] = {}
    offered = {
        "dimensions": DIMENSION_LABELS,
        "devices": DEVICES,
        "traffic_types": TRAFFIC_TYPES,
        "brand_safety_max_risk": RISK_LEVELS,
    }
    for name, choices in offered.items():
        chosen = values[name] if isinstance(values[name], list) else [values[name]]
        unknown = [value for value in chosen if value and value not in choices]
        if unknown:
            field = "dimensions" if name == "dimensions" else "filters"
            shown = ", ".join(f"“{value[:40]}”" for value in unknown[:3])
            errors.setdefault(
                field, f"Choose {_OFFERED[name]} from the list (not offered: {shown})"
            )
    if include_classification not in ("", "true"):
        errors["include_classification"] = "Tick the box to include classification, or leave it"
    return errors


_OFFERED = {
    "dimensions": "the breakdown",
    "devices": "the devices",
    "traffic_types": "the traffic types",
    "brand_safety_max_risk": "the highest brand-safety risk",
}


def _campaign(session: DbSession, account_id: int, value: str) -> PixelCampaign | None:
    campaign_id = web.whole_number(value.strip())
    if campaign_id is None:
        return None
    campaigns = _reportable(session, account_id)
    return next((c for c in campaigns if c.id == campaign_id), None)


def _reportable(session: DbSession, account_id: int) -> list[PixelCampaign]:
    """Campaigns whose use case has reports (``other`` has none), archived ones too."""
    kinds = {u.value for u in CAMPAIGN_USE_CASES | PUBLISHER_USE_CASES}
    campaigns = pixel_service.list_campaigns(session=session, account_id=account_id)
    return [c for c in campaigns if c.use_case in kinds]


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


def _filters(values: dict[str, Any], kind: str) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    if _split(values["domains"]):
        filters["domains"] = _split(values["domains"])
    if _split(values["geo"]):
        filters["geo"] = _split(values["geo"])
    if values["devices"]:
        filters["devices"] = list(values["devices"])
    if kind == PUBLISHER and values["traffic_types"]:
        filters["traffic_types"] = list(values["traffic_types"])
    if kind == CAMPAIGN and values["brand_safety_max_risk"]:
        filters["brand_safety_max_risk"] = values["brand_safety_max_risk"]
    return filters


def _form(
    request: Request,
    viewer: web.Viewer,
    session: DbSession,
    *,
    values: dict[str, Any],
    errors: dict[str, str],
) -> Response:
    campaigns = _reportable(session, viewer.member.account_id)
    return web.render(
        request,
        "measure/report_form.html",
        {
            "values": values,
            "errors": errors,
            "campaigns": [
                c for c in campaigns if c.archived_at is None or str(c.id) == values["campaign_id"]
            ],
            "publisher_use_cases": {u.value for u in PUBLISHER_USE_CASES},
            "dimension_labels": DIMENSION_LABELS,
            "publisher_only": PUBLISHER_ONLY,
            "devices": DEVICES,
            "traffic_types": TRAFFIC_TYPES,
            "risk_levels": RISK_LEVELS,
            "form_nonce": form_nonces.new(),
        },
        viewer=viewer,
        status=422 if errors else 200,
    )


@router.get("/{kind}/{report_id}")
def report_page(
    request: Request,
    kind: str,
    report_id: ReportId,
    viewer: web.CurrentViewer,
    session: DbSession,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=max(PAGE_SIZES))] = PAGE_SIZES[0],
    sort: Annotated[str | None, Query(max_length=40)] = None,
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "asc",
) -> Response:
    page = report_service.get_report(
        session=session,
        account_id=viewer.member.account_id,
        kind=_kind(kind),
        report_id=report_id,
        limit=limit,
        offset=offset,
        sort=sort or None,
        descending=order == "desc",
    )
    report = page.report
    campaign = pixel_service.get_campaign(
        session=session, account_id=viewer.member.account_id, campaign_id=report.campaign_id
    )
    template = (
        "measure/_report_body.html"
        if request.headers.get("hx-request") == "true"
        else "measure/report.html"
    )
    return web.render(
        request,
        template,
        {
            "page": page,
            "report": report,
            "campaign": campaign,
            "columns": columns(report),
            "sortable": set(report_service.SORT_KEYS),
            "sort": sort or "",
            "order": order,
            "page_sizes": PAGE_SIZES,
            "done": report.status in (COMPLETE, FAILED),
            "summary_items": _summary_items(report, page.summary),
            "filter_items": _filter_items(report_service.report_filters(report)),
        },
        viewer=viewer,
    )


_FILTER_LABELS = (
    ("domains", "Domains"),
    ("geo", "Countries"),
    ("devices", "Devices"),
    ("traffic_types", "Traffic types"),
    ("brand_safety_max_risk", "Highest brand-safety risk"),
)


def _filter_items(filters: dict[str, Any]) -> list[tuple[str, str]]:
    """What narrowed a report, in words: its numbers are of these rows only."""
    items = []
    for key, label in _FILTER_LABELS:
        value = filters.get(key)
        if value:
            shown = [idn.unicode_domain(v) for v in value] if key == "domains" else value
            items.append((label, ", ".join(shown) if isinstance(shown, list) else str(shown)))
    return items


def _summary_items(report: PixelReport, summary: dict[str, Any] | None) -> list[tuple[str, int]]:
    if not summary:
        return []
    if report.kind == PUBLISHER:
        keys = (("Loads", "loads"), ("Human", "human"), ("Bot", "bot"), ("AI agent", "ai_agent"),
                ("Agents", "unique_agents"))  # fmt: skip
        return [(label, int(summary.get(key, 0))) for label, key in keys]
    invalid = summary.get("invalid_traffic", {})
    return [
        ("Impressions", int(summary.get("impressions", 0))),
        ("Domains", int(summary.get("unique_domains", 0))),
        ("URLs", int(summary.get("unique_urls", 0))),
        ("Bot loads", int(invalid.get("bot", 0))),
        ("AI agent loads", int(invalid.get("ai_agent", 0))),
        # The invalid loads by reason (docs/measure.md), the ones that occurred.
        *(
            (f"Invalid: {reason.replace('_', ' ')}", int(count))
            for reason, count in (invalid.get("by_reason") or {}).items()
            if count
        ),
        ("Misrepresented", int(summary.get("misrepresented_impressions", 0))),
        ("Measurable", int(summary.get("measurable_impressions", 0))),
        ("Viewable", int(summary.get("viewable_impressions", 0))),
        # Present when the report has the brand-safety filter.
        *(
            (label, int(summary[key]))
            for label, key in (
                ("Left out by brand safety", "brand_safety_excluded_impressions"),
                ("Of those, not classified", "brand_safety_unclassified_impressions"),
            )
            if key in summary
        ),
    ]


def columns(report: PixelReport) -> list[str]:
    """The keys a row of ``report`` may carry, in the order of the table and the CSV."""
    requested = orjson.loads(report.dimensions or "[]")
    dimensions = [d for d in DIMENSION_ORDER if d in requested]
    if report.kind == PUBLISHER:
        agent = ["operator", "function"] if "agent" in dimensions else []
        return [*dimensions, *agent, "loads", "human", "bot", "ai_agent", "macros"]
    classification = ["classification"] if report.include_classification else []
    return [
        *dimensions,
        "impressions",
        "macros",
        "misrepresented",
        "misrepresented_impressions",
        "measurable_impressions",
        "viewable_impressions",
        "viewability_rate",
        *classification,
    ]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return str(value)


def csv_lines(header: list[str], rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    """The header and one CSV line per row (nested values as JSON), a line at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(row.get(key)) for key in header])
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


@router.get("/{kind}/{report_id}/csv")
def report_csv(
    request: Request,
    kind: str,
    report_id: ReportId,
    viewer: web.CurrentViewer,
    db: Annotated[Database, Depends(get_database)],
) -> Response:
    account_id = viewer.member.account_id
    with db.transaction() as session:  # fail before streaming: 404, or 422 when not complete
        report, _ = report_service.export_rows(
            session=session, account_id=account_id, kind=_kind(kind), report_id=report_id
        )
        header = columns(report)

    def body() -> Iterator[str]:
        # The request's session is closed once the handler returns; streaming reads rows in
        # a transaction of its own, a page at a time.
        with db.transaction() as session:
            _, rows = report_service.export_rows(
                session=session, account_id=account_id, kind=kind, report_id=report_id
            )
            yield from csv_lines(header, rows)

    return web.download(
        request,
        body(),
        media_type="text/csv; charset=utf-8",
        filename=f"beacon-{kind}-report-{report_id}.csv",
    )
