"""`GET /v1/pixel/campaigns/{id}/stats`: synchronous campaign stats. Thin."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from beacon.core.deps import CurrentCaller, DbSession
from beacon.core.ids import id_path
from beacon.core.jsonbody import StrictJSONRoute
from beacon.core.openapi import v1_errors
from beacon.pixel.stats import service
from beacon.pixel.stats.schemas import Stats, StatsQuery

router = APIRouter(prefix="/v1/pixel", tags=["Pixel campaigns"], route_class=StrictJSONRoute)


@router.get(
    "/campaigns/{campaign_id}/stats",
    response_model=Stats,
    responses=v1_errors(400, 401, 404, 422, 429),
    summary="Get campaign stats",
    description=(
        "Totals, a daily series and top-N breakdowns of a campaign over a date range (UTC), "
        "read from the rollups. Filters: `domain`, `device`, `country` (repeated or "
        "comma-separated). Hourly series are not kept: `interval=hour` is a 422."
    ),
)
def get_campaign_stats(
    campaign_id: Annotated[int, id_path("The campaign ID")],
    query: Annotated[StatsQuery, Query()],
    caller: CurrentCaller,
    session: DbSession,
) -> Stats:
    return service.campaign_stats(
        session=session, account_id=caller.account_id, campaign_id=campaign_id, query=query
    )
