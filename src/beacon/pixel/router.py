"""HTTP endpoints of pixel campaigns (seed 002), pixel code and server-side events. Thin."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from beacon.core.deps import AppSettings, CurrentCaller, DbSession, require_json
from beacon.core.ids import id_path
from beacon.core.jsonbody import StrictJSONRoute
from beacon.core.openapi import v1_errors
from beacon.pixel import code as pixel_code
from beacon.pixel import events as pixel_events
from beacon.pixel import service
from beacon.pixel.schemas import Campaign, CampaignCreate, CampaignUpdate

router = APIRouter(prefix="/v1/pixel", tags=["Pixel campaigns"], route_class=StrictJSONRoute)

CampaignId = Annotated[int, id_path("The campaign ID")]


@router.post(
    "/campaigns",
    status_code=201,
    response_model=Campaign,
    responses=v1_errors(400, 401, 415, 422, 429),
    dependencies=[Depends(require_json)],
    summary="Register a campaign",
)
def create_campaign(body: CampaignCreate, caller: CurrentCaller, session: DbSession) -> Campaign:
    campaign = service.create_campaign(session=session, account_id=caller.account_id, data=body)
    return Campaign.model_validate(campaign)


@router.get(
    "/campaigns",
    response_model=list[Campaign],
    responses=v1_errors(401, 429),
    summary="List campaigns",
)
def list_campaigns(caller: CurrentCaller, session: DbSession) -> list[Campaign]:
    campaigns = service.list_campaigns(session=session, account_id=caller.account_id)
    return [Campaign.model_validate(c) for c in campaigns]


@router.get(
    "/campaigns/{campaign_id}",
    response_model=Campaign,
    responses=v1_errors(400, 401, 404, 429),
    summary="Get a campaign",
)
def get_campaign(campaign_id: CampaignId, caller: CurrentCaller, session: DbSession) -> Campaign:
    campaign = service.get_campaign(
        session=session, account_id=caller.account_id, campaign_id=campaign_id
    )
    return Campaign.model_validate(campaign)


@router.put(
    "/campaigns/{campaign_id}",
    response_model=Campaign,
    responses=v1_errors(400, 401, 404, 415, 422, 429),
    dependencies=[Depends(require_json)],
    summary="Update a campaign",
)
def update_campaign(
    campaign_id: CampaignId, body: CampaignUpdate, caller: CurrentCaller, session: DbSession
) -> Campaign:
    campaign = service.update_campaign(
        session=session, account_id=caller.account_id, campaign_id=campaign_id, data=body
    )
    return Campaign.model_validate(campaign)


@router.get(
    "/campaigns/{campaign_id}/code",
    response_model=pixel_code.PixelCode,
    responses=v1_errors(400, 401, 404, 422, 429),
    summary="Get pixel code",
)
def get_pixel_code(
    campaign_id: CampaignId,
    caller: CurrentCaller,
    session: DbSession,
    settings: AppSettings,
    request: Request,
    dsp: Annotated[
        str | None, Query(max_length=100, description="A supported DSP name, exactly.")
    ] = None,
    ad_server: Annotated[
        str | None, Query(max_length=20, description="`gam` or `cm360` instead of a DSP.")
    ] = None,
) -> pixel_code.PixelCode:
    return pixel_code.pixel_code(
        session=session,
        account_id=caller.account_id,
        campaign_id=campaign_id,
        base_url=settings.public_url or str(request.base_url),
        dsp=dsp,
        ad_server=ad_server,
    )


@router.post(
    "/events",
    status_code=202,
    response_model=pixel_events.EventsAccepted,
    responses=v1_errors(400, 401, 404, 413, 415, 422, 429, 503),
    dependencies=[Depends(require_json)],
    summary="Ingest server-side events",
)
def ingest_events(
    body: pixel_events.EventBatch, caller: CurrentCaller, session: DbSession, request: Request
) -> pixel_events.EventsAccepted:
    pipeline = request.app.state.pixel
    return pixel_events.ingest_events(
        session=session,
        account_id=caller.account_id,
        batch=body,
        spool=pipeline.spool if pipeline is not None else None,
        metrics=request.app.state.pixel_collector.metrics,
    )
