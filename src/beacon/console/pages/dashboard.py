"""Measure: a campaign's dashboard (the publisher view for publisher use cases), its pixel code
and the live "test this tag" panel. Numbers come from the stats service the API uses."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from beacon.console import web
from beacon.core.deps import AppSettings, DbSession
from beacon.core.dsps import SUPPORTED_DSPS
from beacon.core.errors import ValidationFailed
from beacon.core.ids import id_path
from beacon.core.timefmt import utcnow
from beacon.pixel import code as pixel_code
from beacon.pixel import macros as pixel_macros
from beacon.pixel import service as pixel_service
from beacon.pixel.schemas import PUBLISHER_USE_CASES
from beacon.pixel.stats import service as stats_service
from beacon.pixel.stats.schemas import HOURLY_UNAVAILABLE, Stats, StatsQuery

router = APIRouter(prefix="/pixel/campaigns")

CampaignId = Annotated[int, id_path("The campaign ID")]
DEVICES = ("desktop", "mobile", "tablet", "ctv")
FILTER_LABELS = {
    "start_date": "the first day",
    "end_date": "the last day",
    "domain": "a domain",
    "device": "a device",
    "country": "a two-letter country code",
}
RECENT_HITS = 10
PRESET_DAYS = (7, 30, 90)
AD_SERVERS = (("gam", "Google Ad Manager"), ("cm360", "Campaign Manager 360"))
TEST_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"


def _filter_values(request: Request) -> dict[str, str]:
    """The dashboard's GET form as the person typed it (one value per field)."""
    params = request.query_params
    return {name: params.get(name, "").strip() for name in FILTER_LABELS}


def _stats_query(values: dict[str, str]) -> StatsQuery:
    query: dict[str, Any] = {k: v for k, v in values.items() if v}
    for name in ("domain", "device", "country"):
        if name in query:
            query[name] = [query[name]]
    return StatsQuery.model_validate(query)


@router.get("/{campaign_id}")
def dashboard(
    request: Request, campaign_id: CampaignId, viewer: web.CurrentViewer, session: DbSession
) -> Response:
    account_id = viewer.member.account_id
    campaign = pixel_service.get_campaign(
        session=session, account_id=account_id, campaign_id=campaign_id
    )
    values = _filter_values(request)
    errors: dict[str, str] = {}
    try:
        query = _stats_query(values)
    except ValidationError as exc:
        errors = web.form_errors(exc, FILTER_LABELS)
        query = StatsQuery()
    stats = stats_service.campaign_stats(
        session=session, account_id=account_id, campaign_id=campaign_id, query=query
    )
    return web.render(
        request,
        "measure/dashboard.html",
        {
            "campaign": campaign,
            "publisher": campaign.use_case in PUBLISHER_USE_CASES,
            "stats": stats,
            "values": values,
            "errors": errors,
            "devices": DEVICES,
            "chart": _chart_data(stats),
            "hourly_note": HOURLY_UNAVAILABLE,
            "filtered": bool(values["domain"] or values["device"] or values["country"]),
            "presets": _presets(campaign_id, values, stats),
        },
        viewer=viewer,
        status=422 if errors else 200,
    )


def _presets(campaign_id: int, values: dict[str, str], stats: Stats) -> list[dict[str, Any]]:
    """Links to the last 7, 30 and 90 days that keep the filters; the shown one is current."""
    today = utcnow().date()
    filters = {k: v for k, v in values.items() if v and k not in ("start_date", "end_date")}
    presets = []
    for days in PRESET_DAYS:
        start = today - dt.timedelta(days=days - 1)
        query = urlencode({"start_date": start, "end_date": today, **filters})
        presets.append(
            {
                "label": f"Last {days} days",
                "href": f"{web.PREFIX}/pixel/campaigns/{campaign_id}?{query}",
                "current": stats.start_date == start and stats.end_date == today,
            }
        )
    return presets


def _chart_data(stats: Stats) -> str:
    """The daily series as the chart script reads it from a data-* attribute."""
    return orjson.dumps(
        {
            "days": [point.period for point in stats.series],
            "human": [point.human for point in stats.series],
            "bot": [point.bot for point in stats.series],
            "ai_agent": [point.ai_agent for point in stats.series],
        }
    ).decode()


@router.get("/{campaign_id}/code")
def code_page(
    request: Request,
    campaign_id: CampaignId,
    viewer: web.CurrentViewer,
    session: DbSession,
    settings: AppSettings,
    dsp: str = "",
    ad_server: str = "",
) -> Response:
    account_id = viewer.member.account_id
    campaign = pixel_service.get_campaign(
        session=session, account_id=account_id, campaign_id=campaign_id
    )
    base_url = settings.public_url or str(request.base_url)
    chosen = dsp.strip()[:100] or None
    server = ad_server.strip()[:20] or None
    errors: dict[str, str] = {}
    try:
        code = pixel_code.pixel_code(
            session=session,
            account_id=account_id,
            campaign_id=campaign_id,
            base_url=base_url,
            dsp=chosen,
            ad_server=server,
        )
    except ValidationFailed as exc:
        errors = web.service_error(exc, "dsp")
        code = pixel_code.pixel_code(
            session=session,
            account_id=account_id,
            campaign_id=campaign_id,
            base_url=base_url,
            dsp=None,
            ad_server=None,
        )
    hits = pixel_service.recent_hits(
        session=session, account_id=account_id, campaign_id=campaign_id, limit=RECENT_HITS
    )
    test_url = f"{code.beacon_url}.gif?url=https%3A%2F%2Fexample.com%2Ftag-test"
    return web.render(
        request,
        "measure/code.html",
        {
            "campaign": campaign,
            "code": code,
            "dsp": dsp.strip(),
            "ad_server": ad_server.strip(),
            "ad_servers": AD_SERVERS,
            "dsps": SUPPORTED_DSPS,
            "verified": sorted(pixel_macros.DSP_MACRO_SETS),
            "errors": errors,
            "hits": hits,
            "test_command": f'curl -A "{TEST_UA}" "{test_url}"',
            "created": request.query_params.get("created"),
        },
        viewer=viewer,
        status=422 if errors else 200,
    )


@router.get("/{campaign_id}/hits")
def recent_hits(
    request: Request, campaign_id: CampaignId, viewer: web.CurrentViewer, session: DbSession
) -> Response:
    """The "test this tag" table alone: what htmx polls."""
    hits = pixel_service.recent_hits(
        session=session,
        account_id=viewer.member.account_id,
        campaign_id=campaign_id,
        limit=RECENT_HITS,
    )
    return web.render(
        request, "measure/_hits.html", {"hits": hits, "campaign_id": campaign_id}, viewer=viewer
    )
