"""Messaging campaigns: authoring (drafts, publish, archive) and the actions that create
executions. The execution engine (part 2) picks executions up from ``messaging_executions``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from beacon.core.config import Settings
from beacon.core.errors import InvalidValue, not_found
from beacon.core.permissions import CREDENTIAL_ROLE, Action, Role, require
from beacon.core.timefmt import utcnow
from beacon.messaging.audiences import repository as audience_repository
from beacon.messaging.audiences import segments
from beacon.messaging.campaign_schemas import (
    AudienceIn,
    CampaignCreate,
    CampaignUpdate,
    ScheduleRequest,
    local_to_utc,
)
from beacon.messaging.campaigns import preflight, repository
from beacon.messaging.errors import bad_uuid, conflict, type_unsupported
from beacon.messaging.models import Campaign, Execution, Template

SUPPORTED_TYPE = "broadcast"
ACTIVE = ("scheduled", "running")


def get_campaign(
    *, session: Session, account_id: int, campaign_id: uuid.UUID, lock: bool = False
) -> Campaign:
    """The account's campaign, or a 404 identical for missing and foreign ids."""
    campaign = repository.get_campaign(
        session, account_id=account_id, campaign_id=campaign_id, lock=lock
    )
    if campaign is None:
        raise not_found("Campaign", campaign_id)
    return campaign


def get_broadcast(
    *,
    session: Session,
    account_id: int,
    campaign_id: uuid.UUID,
    summary: bool = False,
    lock: bool = False,
) -> Campaign:
    """The campaign, or 409 (``TYPE_UNSUPPORTED``) when the public v1 does not operate its type.

    ``lock`` holds the campaign until the transaction ends (``repository.get_campaign``): the
    actions that check a state and then change it take it, so two concurrent requests cannot
    both pass the check."""
    campaign = get_campaign(
        session=session, account_id=account_id, campaign_id=campaign_id, lock=lock
    )
    if campaign.campaign_type != SUPPORTED_TYPE:
        raise type_unsupported(campaign.campaign_type, summary=summary)
    return campaign


def _check_audience(session: Session, account_id: int, audience: AudienceIn) -> None:
    ids = [*audience.included, *audience.excluded]
    known = audience_repository.segments_by_id(session, account_id=account_id, segment_ids=ids)
    for side in ("included", "excluded"):
        for index, segment_id in enumerate(getattr(audience, side)):
            if segment_id not in known:
                field = f"audience.{side}[{index}]"
                raise InvalidValue(field, f"no segment {segment_id}")


def _check_template(
    session: Session, account_id: int, template_id: uuid.UUID | None, channel: str
) -> None:
    if template_id is None:
        return
    template = session.get(Template, template_id)
    if template is None or template.account_id != account_id:
        raise InvalidValue("templateId", f"no template {template_id}")
    if template.channel != channel:
        raise InvalidValue(
            "templateId",
            f"a {template.channel} template cannot be used by a {channel} campaign",
        )


def _set_audience(session: Session, campaign: Campaign, audience: AudienceIn) -> None:
    # a segment listed twice is kept once, at its first place (as a static segment's
    # contactIds are): stored twice, the summary and the console showed it twice
    campaign.audience_included = list(dict.fromkeys(str(i) for i in audience.included))
    campaign.audience_excluded = list(dict.fromkeys(str(i) for i in audience.excluded))
    campaign.audience_updated_at = utcnow()
    if audience.included:
        session.flush()
        segments.queue_evaluation(
            session=session, account_id=campaign.account_id, campaign_id=campaign.id
        )


def create_campaign(
    *,
    session: Session,
    account_id: int,
    data: CampaignCreate,
    role: Role | str = CREDENTIAL_ROLE,
) -> Campaign:
    """Create a draft campaign and queue its audience's reach evaluation."""
    require(role, Action.manage_campaigns)
    _check_audience(session, account_id, data.audience)
    _check_template(session, account_id, data.template_id, data.channel)
    now = utcnow()
    campaign = Campaign(
        account_id=account_id,
        name=data.name,
        channel=data.channel,
        campaign_type=data.campaign_type,
        status="draft",
        template_id=data.template_id,
        schedule_mode=data.schedule.mode,
        send_at=data.schedule.send_at,
        timezone=data.schedule.timezone,
        created_at=now,
        updated_at=now,
    )
    session.add(campaign)
    _set_audience(session, campaign, data.audience)
    session.flush()
    return campaign


def list_campaigns(
    *,
    session: Session,
    account_id: int,
    status: str | None,
    channel: str | None,
    campaign_type: str | None,
    sort_by: str,
    descending: bool,
    limit: int,
    offset: int,
) -> tuple[Sequence[Campaign], int]:
    """A filtered, sorted page of the account's campaigns and the total."""
    return repository.list_campaigns(
        session,
        account_id=account_id,
        status=status,
        channel=channel,
        campaign_type=campaign_type,
        sort_by=sort_by,
        descending=descending,
        limit=limit,
        offset=offset,
    )


def update_campaign(
    *,
    session: Session,
    account_id: int,
    campaign_id: uuid.UUID,
    data: CampaignUpdate,
    role: Role | str = CREDENTIAL_ROLE,
) -> Campaign:
    """Change a draft; published and archived campaigns are refused with 409."""
    require(role, Action.manage_campaigns)
    campaign = get_campaign(
        session=session, account_id=account_id, campaign_id=campaign_id, lock=True
    )
    if campaign.status != "draft":
        raise conflict(
            f"Only draft campaigns can be changed; this one is {campaign.status}",
            authoringStatus=campaign.status,
        )
    fields = data.model_fields_set
    channel = data.channel if data.channel is not None else campaign.channel
    template_id = data.template_id if "template_id" in fields else campaign.template_id
    _check_template(session, account_id, template_id, channel)
    if data.audience is not None:
        _check_audience(session, account_id, data.audience)
    if data.name is not None:
        campaign.name = data.name
    if data.campaign_type is not None:
        campaign.campaign_type = data.campaign_type
    if data.channel is not None and data.channel != campaign.channel:
        campaign.channel = data.channel
        campaign.audience_updated_at = utcnow()
    campaign.template_id = template_id
    if data.schedule is not None:
        campaign.schedule_mode = data.schedule.mode
        campaign.send_at = data.schedule.send_at
        campaign.timezone = data.schedule.timezone
    if data.audience is not None:
        _set_audience(session, campaign, data.audience)
    campaign.preflight = None  # the last preflight described the campaign before this change
    campaign.updated_at = utcnow()
    session.flush()
    return campaign


def archive_campaign(*, session: Session, account_id: int, campaign_id: uuid.UUID) -> Campaign:
    """Archive a campaign (its pending executions are cancelled); refused while it runs."""
    campaign = get_campaign(
        session=session, account_id=account_id, campaign_id=campaign_id, lock=True
    )
    if campaign.status == "archived":
        raise conflict("The campaign is already archived", authoringStatus="archived")
    running = repository.executions_in(session, campaign_id=campaign.id, statuses=["running"])
    if running:
        raise conflict(
            "A running campaign cannot be archived; cancel it first",
            executionId=f"exec-{running[0].id}",
        )
    _cancel_scheduled(session, campaign)
    now = utcnow()
    campaign.status = "archived"
    campaign.archived_at = now
    campaign.updated_at = now
    session.flush()
    return campaign


def publish(
    *,
    session: Session,
    account_id: int,
    campaign_id: uuid.UUID,
    settings: Settings,
    base_url: str,
    role: Role | str = CREDENTIAL_ROLE,
) -> Campaign:
    """Publish a draft whose preflight passes: 409 unless it is a draft, 422
    ``PREFLIGHT_FAILED`` listing the failing checks. Concurrent publishes of one draft
    serialise on the campaign's lock: one publishes, the others see it published (409)."""
    require(role, Action.manage_campaigns)
    campaign = get_broadcast(
        session=session, account_id=account_id, campaign_id=campaign_id, lock=True
    )
    if campaign.status != "draft":
        raise conflict(
            f"Only drafts can be published; this campaign is {campaign.status}",
            authoringStatus=campaign.status,
        )
    result = preflight.run_preflight(
        session=session, campaign=campaign, settings=settings, base_url=base_url
    )
    preflight.require_passing(result)
    return publish_campaign(session=session, campaign=campaign)


def publish_campaign(*, session: Session, campaign: Campaign) -> Campaign:
    """Mark a draft published (preflight already passed); its ``at`` schedule is armed.

    Preflight found the send time ahead. Should it pass before this line (a slow request, a
    lock wait), the run is armed all the same and is due at once: a published campaign whose
    time passed unarmed was never sent."""
    campaign.status = "published"
    campaign.updated_at = utcnow()
    if campaign.schedule_mode == "at" and campaign.send_at is not None:
        _create_schedule(session, campaign, campaign.send_at, campaign.timezone)
    session.flush()
    return campaign


def _require_published(campaign: Campaign) -> None:
    if campaign.status != "published":
        raise conflict(
            f"Only published campaigns can be sent or scheduled; this one is {campaign.status}",
            authoringStatus=campaign.status,
        )


def _new_execution(campaign: Campaign, *, trigger: str, scheduled_for: datetime) -> Execution:
    now = utcnow()
    return Execution(
        id=uuid.uuid4(),
        account_id=campaign.account_id,
        campaign_id=campaign.id,
        status="scheduled",
        trigger=trigger,
        schedule_id=campaign.schedule_id if trigger == "schedule" else None,
        scheduled_for=scheduled_for,
        created_at=now,
        updated_at=now,
    )


def _cancel_scheduled(session: Session, campaign: Campaign) -> int:
    return _cancel_runs(
        repository.executions_in(session, campaign_id=campaign.id, statuses=["scheduled"])
    )


def _cancel_runs(pending: Sequence[Execution]) -> int:
    now = utcnow()
    for execution in pending:
        execution.status = "cancelled"
        execution.completed_at = now
        execution.updated_at = now
    return len(pending)


def _create_schedule(session: Session, campaign: Campaign, send_at: datetime, tz: str) -> Execution:
    # the new schedule replaces the armed one; a run sent now and not yet started stays due
    _cancel_runs(repository.pending_schedule(session, campaign_id=campaign.id))
    campaign.schedule_mode = "at"
    campaign.send_at = send_at
    campaign.timezone = tz
    campaign.schedule_id = uuid.uuid4()
    execution = _new_execution(campaign, trigger="schedule", scheduled_for=send_at)
    session.add(execution)
    return execution


def schedule_campaign(
    *, session: Session, account_id: int, campaign_id: uuid.UUID, data: ScheduleRequest
) -> Execution:
    """Schedule (or reschedule) a published campaign's send at a future time."""
    campaign = get_broadcast(
        session=session, account_id=account_id, campaign_id=campaign_id, lock=True
    )
    _require_published(campaign)
    tz = data.timezone or campaign.timezone
    try:
        send_at = local_to_utc(data.send_at, tz)
    except ValueError as exc:
        raise InvalidValue("sendAt", str(exc)) from None
    assert send_at is not None
    if send_at <= utcnow():
        raise InvalidValue("sendAt", "must be in the future")
    if repository.executions_in(session, campaign_id=campaign.id, statuses=["running"]):
        raise conflict("The campaign is running; wait for it or cancel it first")
    execution = _create_schedule(session, campaign, send_at, tz)
    campaign.updated_at = utcnow()
    session.flush()
    return execution


def unschedule_campaign(*, session: Session, account_id: int, campaign_id: uuid.UUID) -> Campaign:
    """Remove the pending scheduled send; 409 when there is none."""
    campaign = get_broadcast(
        session=session, account_id=account_id, campaign_id=campaign_id, lock=True
    )
    pending = repository.pending_schedule(session, campaign_id=campaign.id)
    if not pending:
        raise conflict("The campaign has no active schedule")
    _cancel_runs(pending)
    # the schedule is gone, not paused: the campaign now sends when POST /send is called
    campaign.schedule_mode = "now"
    campaign.send_at = None
    campaign.schedule_id = None
    campaign.updated_at = utcnow()
    session.flush()
    return campaign


def send_campaign(
    *,
    session: Session,
    account_id: int,
    campaign_id: uuid.UUID,
    role: Role | str = CREDENTIAL_ROLE,
) -> Execution:
    """Queue an execution now; 409 while another one is due or running.

    Concurrent sends serialise on the campaign's lock, taken before the executions are read:
    the first creates the run, the others then see it and get the 409."""
    require(role, Action.manage_campaigns)
    campaign = get_broadcast(
        session=session, account_id=account_id, campaign_id=campaign_id, lock=True
    )
    _require_published(campaign)
    now = utcnow()
    for execution in repository.executions_in(session, campaign_id=campaign.id, statuses=ACTIVE):
        if execution.status == "running" or execution.scheduled_for <= now:
            raise conflict(
                f"An execution is already {execution.status if execution.status == 'running' else 'pending'}",
                executionId=f"exec-{execution.id}",
            )
    execution = _new_execution(campaign, trigger="send_now", scheduled_for=now)
    try:
        with session.begin_nested():
            session.add(execution)
    except IntegrityError:
        # uq_messaging_executions_pending_send: a run sent now is already pending (the lock
        # above makes this unreachable; the index guards any path that would skip it)
        pending = repository.pending_send(session, campaign_id=campaign.id)
        if pending is None:
            raise
        raise conflict(
            "An execution is already pending", executionId=f"exec-{pending.id}"
        ) from None
    return execution


def cancel_campaign(
    *,
    session: Session,
    account_id: int,
    campaign_id: uuid.UUID,
    role: Role | str = CREDENTIAL_ROLE,
) -> Campaign:
    """Cancel pending executions and ask running ones to stop; 409 when nothing is active."""
    require(role, Action.manage_campaigns)
    campaign = get_broadcast(
        session=session, account_id=account_id, campaign_id=campaign_id, lock=True
    )
    active = repository.executions_in(session, campaign_id=campaign.id, statuses=ACTIVE)
    if not active:
        raise conflict("The campaign has no scheduled or running execution to cancel")
    now = utcnow()
    for execution in active:
        if execution.status == "scheduled":
            execution.status = "cancelled"
            execution.completed_at = now
        elif execution.cancel_requested_at is None:
            # the engine (part 2) stops at its next checkpoint and marks the run cancelled;
            # a repeated cancel keeps when the run was first asked to stop
            execution.cancel_requested_at = now
        execution.updated_at = now
    campaign.updated_at = now
    session.flush()
    return campaign


def list_executions(
    *, session: Session, account_id: int, campaign_id: uuid.UUID, limit: int, offset: int
) -> tuple[Sequence[Execution], int]:
    """A page of the campaign's executions, newest first, and their total."""
    campaign = get_broadcast(session=session, account_id=account_id, campaign_id=campaign_id)
    return repository.list_executions(session, campaign_id=campaign.id, limit=limit, offset=offset)


def get_execution(
    *, session: Session, account_id: int, campaign_id: uuid.UUID, execution_id: str
) -> Execution:
    """One execution of the campaign by ``exec-<uuid>`` (or the bare UUID); 400 or 404."""
    parsed = _parse_execution_id(execution_id)
    if parsed is None:
        raise bad_uuid("executionId")
    campaign = get_broadcast(session=session, account_id=account_id, campaign_id=campaign_id)
    execution = repository.get_execution(session, campaign_id=campaign.id, execution_id=parsed)
    if execution is None:
        raise not_found("Execution", execution_id)
    return execution


def _parse_execution_id(value: str) -> uuid.UUID | None:
    """``exec-<uuid>`` or a bare UUID; None when malformed."""
    try:
        return uuid.UUID(value.removeprefix("exec-"))
    except ValueError:
        return None
