"""The campaign endpoints of /public/v1 (seed 004's 16, and the recipients of a run). Thin: parse, call a service, shape the envelope."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from beacon.core.deps import AppSettings, DbSession, require_json
from beacon.core.jsonbody import StrictJSONRoute
from beacon.core.paging import Offset
from beacon.messaging.campaign_schemas import (
    AuthoringStatus,
    CampaignCreate,
    CampaignMetrics,
    CampaignOut,
    CampaignStatus,
    CampaignSummary,
    CampaignType,
    CampaignUpdate,
    ExecutionOut,
    PreflightOut,
    RecipientOut,
    RecipientState,
    ScheduleRequest,
)
from beacon.messaging.campaigns import observability, preflight
from beacon.messaging.campaigns import service as campaigns
from beacon.messaging.idempotency import Idempotency, respond
from beacon.messaging.oauth.deps import AnalyticsRead, CampaignsRead, CampaignsWrite
from beacon.messaging.openapi import public_errors
from beacon.messaging.schemas import Channel, Envelope, PageEnvelope, ok, page

router = APIRouter(
    prefix="/public/v1/campaigns", tags=["Orchestrate: campaigns"], route_class=StrictJSONRoute
)

EXECUTION_ID_PATTERN = "^(exec-)?[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$"
CampaignId = Annotated[uuid.UUID, Path(alias="campaignId", description="The campaign's UUID")]
Limit = Annotated[int, Query(ge=1, le=100, description="Page size (1-100)")]
ExecutionId = Annotated[
    str,
    Path(
        alias="executionId",
        description="exec-<uuid> (or the bare UUID)",
        json_schema_extra={"pattern": EXECUTION_ID_PATTERN},
    ),
]
JSON_BODY = [Depends(require_json)]


def base_url(request: Request, settings: AppSettings) -> str:
    """The URL links in rendered messages point at."""
    return settings.link_base_url or str(request.base_url)


@router.get(
    "",
    response_model=PageEnvelope[CampaignOut],
    responses=public_errors(400, 401, 403, 422, 429),
    summary="List campaigns",
)
def list_campaigns(
    caller: CampaignsRead,
    session: DbSession,
    status: AuthoringStatus | None = None,
    channel: Channel | None = None,
    campaign_type: Annotated[CampaignType | None, Query(alias="campaignType")] = None,
    limit: Limit = 20,
    offset: Offset = 0,
    sort_by: Annotated[
        Literal["createdAt", "updatedAt", "name"], Query(alias="sortBy")
    ] = "createdAt",
    sort_direction: Annotated[Literal["asc", "desc"], Query(alias="sortDirection")] = "desc",
) -> JSONResponse:
    items, total = campaigns.list_campaigns(
        session=session,
        account_id=caller.account_id,
        status=status,
        channel=channel,
        campaign_type=campaign_type,
        sort_by=sort_by,
        descending=sort_direction == "desc",
        limit=limit,
        offset=offset,
    )
    return page(
        [observability.campaign_out(c) for c in items], total=total, limit=limit, offset=offset
    )


@router.post(
    "",
    status_code=201,
    response_model=Envelope[CampaignOut],
    responses=public_errors(400, 401, 403, 409, 415, 422, 429),
    dependencies=JSON_BODY,
    summary="Create a draft campaign",
)
def create_campaign(
    body: CampaignCreate, caller: CampaignsWrite, session: DbSession, idem: Idempotency
) -> JSONResponse:
    return respond(
        session=session,
        account_id=caller.account_id,
        idem=idem,
        status_code=201,
        produce=lambda: observability.campaign_out(
            campaigns.create_campaign(session=session, account_id=caller.account_id, data=body)
        ),
    )


@router.get(
    "/{campaignId}",
    response_model=Envelope[CampaignOut],
    responses=public_errors(400, 401, 403, 404, 429),
    summary="Get a campaign",
)
def get_campaign(
    campaign_id: CampaignId, caller: CampaignsRead, session: DbSession
) -> JSONResponse:
    campaign = campaigns.get_campaign(
        session=session, account_id=caller.account_id, campaign_id=campaign_id
    )
    return ok(observability.campaign_out(campaign))


@router.patch(
    "/{campaignId}",
    response_model=Envelope[CampaignOut],
    responses=public_errors(400, 401, 403, 404, 409, 415, 422, 429),
    dependencies=JSON_BODY,
    summary="Change a draft campaign",
)
def update_campaign(
    campaign_id: CampaignId, body: CampaignUpdate, caller: CampaignsWrite, session: DbSession
) -> JSONResponse:
    campaign = campaigns.update_campaign(
        session=session, account_id=caller.account_id, campaign_id=campaign_id, data=body
    )
    return ok(observability.campaign_out(campaign))


@router.delete(
    "/{campaignId}",
    response_model=Envelope[CampaignOut],
    responses=public_errors(400, 401, 403, 404, 409, 429),
    summary="Archive a campaign",
)
def archive_campaign(
    campaign_id: CampaignId, caller: CampaignsWrite, session: DbSession
) -> JSONResponse:
    campaign = campaigns.archive_campaign(
        session=session, account_id=caller.account_id, campaign_id=campaign_id
    )
    return ok(observability.campaign_out(campaign))


@router.get(
    "/{campaignId}/summary",
    response_model=Envelope[CampaignSummary],
    responses=public_errors(400, 401, 403, 404, 409, 429),
    summary="Setup snapshot",
)
def get_summary(
    campaign_id: CampaignId, caller: CampaignsRead, session: DbSession, settings: AppSettings
) -> JSONResponse:
    campaign = campaigns.get_broadcast(
        session=session, account_id=caller.account_id, campaign_id=campaign_id, summary=True
    )
    return ok(
        observability.summary(
            session=session,
            campaign=campaign,
            reach_max_age_seconds=settings.messaging_reach_max_age_seconds,
        )
    )


@router.get(
    "/{campaignId}/status",
    response_model=Envelope[CampaignStatus],
    responses=public_errors(400, 401, 403, 404, 409, 429),
    summary="Execution state and the last run's counts",
)
def get_status(campaign_id: CampaignId, caller: CampaignsRead, session: DbSession) -> JSONResponse:
    campaign = campaigns.get_broadcast(
        session=session, account_id=caller.account_id, campaign_id=campaign_id
    )
    return ok(observability.status(session=session, campaign=campaign))


@router.get(
    "/{campaignId}/metrics",
    response_model=Envelope[CampaignMetrics],
    responses=public_errors(400, 401, 403, 404, 409, 429),
    summary="Aggregated pipeline counts",
)
def get_metrics(campaign_id: CampaignId, caller: AnalyticsRead, session: DbSession) -> JSONResponse:
    campaign = campaigns.get_broadcast(
        session=session, account_id=caller.account_id, campaign_id=campaign_id
    )
    return ok(observability.metrics(session=session, campaign=campaign))


@router.post(
    "/{campaignId}/preflight",
    response_model=Envelope[PreflightOut],
    responses=public_errors(400, 401, 403, 404, 409, 429, 503),
    summary="Check readiness to send",
)
def run_preflight(
    request: Request,
    campaign_id: CampaignId,
    caller: CampaignsRead,
    session: DbSession,
    settings: AppSettings,
    idem: Idempotency,
) -> JSONResponse:
    def produce() -> Any:
        campaign = campaigns.get_broadcast(
            session=session, account_id=caller.account_id, campaign_id=campaign_id
        )
        return preflight.run_preflight(
            session=session,
            campaign=campaign,
            settings=settings,
            base_url=base_url(request, settings),
        )

    return respond(
        session=session, account_id=caller.account_id, idem=idem, status_code=200, produce=produce
    )


@router.post(
    "/{campaignId}/publish",
    response_model=Envelope[CampaignOut],
    responses=public_errors(400, 401, 403, 404, 409, 422, 429),
    summary="Publish a draft (preflight must pass)",
)
def publish(
    request: Request,
    campaign_id: CampaignId,
    caller: CampaignsWrite,
    session: DbSession,
    settings: AppSettings,
    idem: Idempotency,
) -> JSONResponse:
    def produce() -> Any:
        campaign = campaigns.publish(
            session=session,
            account_id=caller.account_id,
            campaign_id=campaign_id,
            settings=settings,
            base_url=base_url(request, settings),
        )
        return observability.campaign_out(campaign)

    return respond(
        session=session, account_id=caller.account_id, idem=idem, status_code=200, produce=produce
    )


@router.post(
    "/{campaignId}/schedule",
    status_code=201,
    response_model=Envelope[ExecutionOut],
    responses=public_errors(400, 401, 403, 404, 409, 415, 422, 429),
    dependencies=JSON_BODY,
    summary="Schedule the send",
)
def schedule(
    campaign_id: CampaignId,
    body: ScheduleRequest,
    caller: CampaignsWrite,
    session: DbSession,
    idem: Idempotency,
) -> JSONResponse:
    def produce() -> Any:
        execution = campaigns.schedule_campaign(
            session=session, account_id=caller.account_id, campaign_id=campaign_id, data=body
        )
        return observability.new_execution_out(execution)

    return respond(
        session=session, account_id=caller.account_id, idem=idem, status_code=201, produce=produce
    )


@router.delete(
    "/{campaignId}/schedule",
    response_model=Envelope[CampaignStatus],
    responses=public_errors(400, 401, 403, 404, 409, 429),
    summary="Remove the scheduled send",
)
def unschedule(campaign_id: CampaignId, caller: CampaignsWrite, session: DbSession) -> JSONResponse:
    campaign = campaigns.unschedule_campaign(
        session=session, account_id=caller.account_id, campaign_id=campaign_id
    )
    return ok(observability.status(session=session, campaign=campaign))


@router.post(
    "/{campaignId}/send",
    status_code=202,
    response_model=Envelope[ExecutionOut],
    responses=public_errors(400, 401, 403, 404, 409, 429),
    summary="Send now",
)
def send(
    campaign_id: CampaignId, caller: CampaignsWrite, session: DbSession, idem: Idempotency
) -> JSONResponse:
    def produce() -> Any:
        execution = campaigns.send_campaign(
            session=session, account_id=caller.account_id, campaign_id=campaign_id
        )
        return observability.new_execution_out(execution)

    return respond(
        session=session, account_id=caller.account_id, idem=idem, status_code=202, produce=produce
    )


@router.post(
    "/{campaignId}/cancel",
    response_model=Envelope[CampaignStatus],
    responses=public_errors(400, 401, 403, 404, 409, 429),
    summary="Cancel scheduled or running executions",
)
def cancel(
    campaign_id: CampaignId, caller: CampaignsWrite, session: DbSession, idem: Idempotency
) -> JSONResponse:
    def produce() -> Any:
        campaign = campaigns.cancel_campaign(
            session=session, account_id=caller.account_id, campaign_id=campaign_id
        )
        return observability.status(session=session, campaign=campaign)

    return respond(
        session=session, account_id=caller.account_id, idem=idem, status_code=200, produce=produce
    )


@router.get(
    "/{campaignId}/executions",
    response_model=PageEnvelope[ExecutionOut],
    responses=public_errors(400, 401, 403, 404, 409, 422, 429),
    summary="List executions",
)
def list_executions(
    campaign_id: CampaignId,
    caller: CampaignsRead,
    session: DbSession,
    limit: Limit = 20,
    offset: Offset = 0,
) -> JSONResponse:
    items, total = campaigns.list_executions(
        session=session,
        account_id=caller.account_id,
        campaign_id=campaign_id,
        limit=limit,
        offset=offset,
    )
    return page(
        observability.executions_out(session, items), total=total, limit=limit, offset=offset
    )


@router.get(
    "/{campaignId}/executions/{executionId}",
    response_model=Envelope[ExecutionOut],
    responses=public_errors(400, 401, 403, 404, 409, 429),
    summary="Get an execution",
)
def get_execution(
    campaign_id: CampaignId,
    execution_id: ExecutionId,
    caller: CampaignsRead,
    session: DbSession,
) -> JSONResponse:
    execution = campaigns.get_execution(
        session=session,
        account_id=caller.account_id,
        campaign_id=campaign_id,
        execution_id=execution_id,
    )
    return ok(observability.executions_out(session, [execution])[0])


@router.get(
    "/{campaignId}/executions/{executionId}/recipients",
    response_model=PageEnvelope[RecipientOut],
    responses=public_errors(400, 401, 403, 404, 409, 422, 429),
    summary="List an execution's recipients, with the stage and reason of failures",
    description="Addresses are masked unless the token also holds `audiences:read`.",
)
def list_recipients(
    campaign_id: CampaignId,
    execution_id: ExecutionId,
    caller: CampaignsRead,
    session: DbSession,
    status: Annotated[
        RecipientState | None, Query(description="Only recipients in this state")
    ] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> JSONResponse:
    execution = campaigns.get_execution(
        session=session,
        account_id=caller.account_id,
        campaign_id=campaign_id,
        execution_id=execution_id,
    )
    items, total = observability.recipients_page(
        session=session,
        campaign=campaigns.get_broadcast(
            session=session, account_id=caller.account_id, campaign_id=campaign_id
        ),
        execution=execution,
        status=status,
        reveal_addresses="audiences:read" in caller.scopes,
        limit=limit,
        offset=offset,
    )
    return page(items, total=total, limit=limit, offset=offset)
