"""The read models of seed 004: campaign object, summary, status, metrics, executions.

``execution.state`` comes from the latest execution (runs cancelled before they started do not
count): none -> not_scheduled; scheduled in the future -> scheduled; scheduled and due ->
pending_or_overdue; running, completed, failed as they are; a run cancelled while it ran ->
completed (every row ended sent or failed, the unsent ones with reason ``cancelled``; its own
``status`` says ``cancelled``).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from beacon.core.timefmt import utcnow
from beacon.messaging.audiences import repository as audience_repository
from beacon.messaging.audiences import segments
from beacon.messaging.campaign_schemas import (
    AudienceOut,
    AudienceRef,
    CampaignMetrics,
    CampaignOut,
    CampaignStatus,
    CampaignSummary,
    ExecutionOut,
    ExecutionStatus,
    LastExecution,
    LatestExecution,
    Links,
    PipelineCounts,
    PreflightOut,
    Reach,
    RecipientOut,
    ScheduleOut,
    StatusSchedule,
    SummaryAudience,
    SummaryContent,
    SummarySchedule,
    TemplateRef,
)
from beacon.messaging.campaigns import repository
from beacon.messaging.delivery import recipient_repository as recipients
from beacon.messaging.models import Campaign, Contact, Execution, Recipient, Template


def execution_id(execution: Execution) -> str:
    """The public id of an execution (``exec-<uuid>``, as in the seed)."""
    return f"exec-{execution.id}"


def execution_state(execution: Execution | None, *, now: datetime | None = None) -> str:
    """The seed's six-valued ``execution.state`` (``now``: the clock deciding what is due)."""
    if execution is None:
        return "not_scheduled"
    if execution.status == "cancelled":
        return "completed" if execution.started_at is not None else "not_scheduled"
    if execution.status == "scheduled":
        due = execution.scheduled_for <= (now or utcnow())
        return "pending_or_overdue" if due else "scheduled"
    return execution.status


def campaign_out(campaign: Campaign) -> CampaignOut:
    """The campaign object."""
    return CampaignOut(
        campaign_id=campaign.id,
        name=campaign.name,
        channel=campaign.channel,
        campaign_type=campaign.campaign_type,
        authoring_status=campaign.status,
        audience=AudienceOut(
            included=[uuid.UUID(i) for i in campaign.audience_included],
            excluded=[uuid.UUID(i) for i in campaign.audience_excluded],
        ),
        template_id=campaign.template_id,
        schedule=ScheduleOut(
            mode=campaign.schedule_mode, send_at=campaign.send_at, timezone=campaign.timezone
        ),
        created_at=campaign.created_at,
        updated_at=campaign.updated_at,
        archived_at=campaign.archived_at,
    )


def execution_out(execution: Execution, counts: dict[str, int]) -> ExecutionOut:
    """An execution with its pipeline counts."""
    return ExecutionOut(
        execution_id=execution_id(execution),
        campaign_id=execution.campaign_id,
        status=execution.status,
        trigger=execution.trigger,
        scheduled_for=execution.scheduled_for,
        started_at=execution.started_at,
        completed_at=execution.completed_at,
        cancel_requested_at=execution.cancel_requested_at,
        error=execution.error,
        counts=PipelineCounts(**counts),
        created_at=execution.created_at,
    )


def new_execution_out(execution: Execution) -> ExecutionOut:
    """An execution just created: no recipient row has moved yet."""
    return execution_out(execution, repository.empty_counts())


def executions_out(session: Session, executions: Sequence[Execution]) -> list[ExecutionOut]:
    """Executions with their counts, from one GROUP BY."""
    counts = repository.stage_counts(session, [e.id for e in executions])
    return [execution_out(e, counts[e.id]) for e in executions]


def preflight_out(campaign: Campaign) -> PreflightOut:
    """The last preflight result, or ``not_evaluated``."""
    if not campaign.preflight:
        return PreflightOut(status="not_evaluated", checks=[])
    return PreflightOut.model_validate(campaign.preflight)


def _proof_status(campaign: Campaign) -> str:
    for check in (campaign.preflight or {}).get("checks", []):
        if check["id"] == "template_renders":
            # a warning: it rendered, except for some contacts (who are skipped at send)
            return "failed" if check["status"] == "failed" else "rendered"
    return "unavailable"


def schedule_armed(*, session: Session, campaign: Campaign, now: datetime | None = None) -> bool:
    """Whether the campaign will send on its own at ``sendAt``: the one truth behind the
    summary's ``schedule.scheduled`` and the status' ``schedule.active``.

    A published campaign is scheduled while a run its schedule created has not started; a
    draft whose schedule is ``at`` a future time is scheduled in intent (publishing arms it).
    """
    if campaign.status == "draft":
        return (
            campaign.schedule_mode == "at"
            and campaign.send_at is not None
            and campaign.send_at > (now or utcnow())
        )
    return bool(repository.pending_schedule(session, campaign_id=campaign.id))


def summary(*, session: Session, campaign: Campaign, reach_max_age_seconds: int) -> CampaignSummary:
    """``GET /campaigns/:id/summary``: the setup snapshot."""
    ids = [uuid.UUID(i) for i in (*campaign.audience_included, *campaign.audience_excluded)]
    known = audience_repository.segments_by_id(
        session, account_id=campaign.account_id, segment_ids=ids
    )

    def ref(raw: str) -> AudienceRef:
        segment = known.get(uuid.UUID(raw))
        return AudienceRef(id=uuid.UUID(raw), name=segment.name if segment else None)

    if campaign.audience_included:
        reach = Reach.model_validate(
            segments.reach_out(
                session=session,
                account_id=campaign.account_id,
                max_age_seconds=reach_max_age_seconds,
                campaign=campaign,
            ).model_dump()
        )
    else:
        reach = Reach(
            status="not_evaluated", evaluated_count=None, evaluated_at=None, is_stale=None
        )
    template = session.get(Template, campaign.template_id) if campaign.template_id else None
    latest = repository.latest_execution(session, campaign_id=campaign.id)
    counts = repository.stage_counts(session, [latest.id])[latest.id] if latest else None
    return CampaignSummary(
        campaign_id=campaign.id,
        name=campaign.name,
        campaign_type=campaign.campaign_type,
        channel=campaign.channel,
        authoring_status=campaign.status,
        created_at=campaign.created_at,
        updated_at=campaign.updated_at,
        schedule=SummarySchedule(
            mode=campaign.schedule_mode,
            send_at=campaign.send_at,
            timezone=campaign.timezone,
            scheduled=schedule_armed(session=session, campaign=campaign),
        ),
        audience=SummaryAudience(
            included=[ref(i) for i in campaign.audience_included],
            excluded=[ref(i) for i in campaign.audience_excluded],
            reach=reach,
        ),
        content=SummaryContent(
            template=TemplateRef(
                id=template.id, name=template.name, status=template.status, channel=template.channel
            )
            if template
            else None,
            proof_status=_proof_status(campaign),
        ),
        preflight=preflight_out(campaign),
        latest_execution=LatestExecution(
            status=execution_state(latest),
            last_execution_at=(latest.started_at or latest.scheduled_for) if latest else None,
            counts=PipelineCounts(**counts) if counts is not None else None,
        ),
        links=Links(self_link=f"/public/v1/campaigns/{campaign.id}/summary"),
    )


def status(*, session: Session, campaign: Campaign) -> CampaignStatus:
    """``GET /campaigns/:id/status``: the execution state machine and the last run's counts."""
    latest = repository.latest_execution(session, campaign_id=campaign.id)
    last = None
    if latest is not None:
        counts = repository.stage_counts(session, [latest.id])[latest.id]
        last = LastExecution(
            execution_id=execution_id(latest),
            started_at=latest.started_at,
            completed_at=latest.completed_at,
            status=latest.status,
            counts=PipelineCounts(**counts),
        )
    return CampaignStatus(
        campaign_id=campaign.id,
        name=campaign.name,
        authoring_status=campaign.status,
        schedule=StatusSchedule(
            schedule_id=f"sch-{campaign.schedule_id}" if campaign.schedule_id else None,
            send_at=campaign.send_at,
            timezone=campaign.timezone,
            active=schedule_armed(session=session, campaign=campaign),
        ),
        execution=ExecutionStatus(state=execution_state(latest), last_execution=last),
    )


def metrics(*, session: Session, campaign: Campaign) -> CampaignMetrics:
    """``GET /campaigns/:id/metrics``: pipeline counts summed over every execution."""
    latest = repository.latest_execution(session, campaign_id=campaign.id)
    return CampaignMetrics(
        campaign_id=campaign.id,
        name=campaign.name,
        channel=campaign.channel,
        execution_count=repository.execution_count(session, campaign_id=campaign.id),
        last_execution_id=execution_id(latest) if latest else None,
        counts=PipelineCounts(**repository.campaign_stage_counts(session, campaign.id)),
        computed_at=utcnow(),
    )


def recipients_page(
    *,
    session: Session,
    campaign: Campaign,
    execution: Execution,
    status: str | None,
    reveal_addresses: bool,
    limit: int,
    offset: int,
) -> tuple[list[RecipientOut], int]:
    """A page of an execution's recipients (in ``status`` when given), with stage and reason."""
    rows, total = recipients.page_of_rows(
        session, execution_id=execution.id, stage=status, limit=limit, offset=offset
    )
    contacts = recipients.contacts_by_id(session, [row.contact_id for row in rows])
    return [
        _recipient_out(row, contacts.get(row.contact_id), campaign.channel, reveal_addresses)
        for row in rows
    ], total


def _recipient_out(
    row: Recipient, contact: Contact | None, channel: str, reveal: bool
) -> RecipientOut:
    return RecipientOut(
        recipient_id=row.id,
        contact_id=row.contact_id,
        channel=channel,
        address=_address(contact, channel, reveal) if contact else None,
        address_masked=not reveal,
        status=row.stage,
        stage=(row.failed_stage or row.stage) if row.stage == "failed" else row.stage,
        reason=row.reason,
        updated_at=row.updated_at,
    )


def _address(contact: Contact, channel: str, reveal: bool) -> str | None:
    """The contact's address on the channel; masked, it still tells two recipients apart."""
    if channel == "email" and contact.email:
        local, _, domain = contact.email.partition("@")
        return contact.email if reveal else f"{local[:1]}***@{domain}"
    if channel == "sms" and contact.phone:
        phone = contact.phone
        return phone if reveal else phone[:3] + "*" * max(len(phone) - 5, 0) + phone[-2:]
    if channel == "direct_mail" and contact.address:
        keys = ("line1", "line2", "postalCode", "city", "region", "country")
        shown = keys if reveal else ("city", "country")
        return ", ".join(str(contact.address[k]) for k in shown if contact.address.get(k)) or None
    return None


THROUGHPUT_INTERVALS = 30
CURRENT_RATE_WINDOW = timedelta(seconds=10)


@dataclass(frozen=True)
class Throughput:
    """Messages sent per second in a run: on average over its real elapsed time, now (over
    the last ``CURRENT_RATE_WINDOW``, running runs only), and in each of up to
    ``THROUGHPUT_INTERVALS`` intervals of whole seconds from its start to its end (or now;
    the last interval takes the rest)."""

    sent: int
    seconds: float
    average: float | None  # None for a run of no measurable duration
    current: float | None
    interval_seconds: float
    rates: list[float]


def throughput(
    *, session: Session, execution: Execution, now: datetime | None = None
) -> Throughput | None:
    """A run's throughput, derived from its recipient rows' ``sent_at``; None before it starts."""
    if execution.started_at is None:
        return None
    now = now or utcnow()
    start = execution.started_at
    elapsed = max(((execution.completed_at or now) - start).total_seconds(), 0.0)
    span = max(elapsed, 1.0)  # the chart's intervals are whole seconds
    width = max(1, math.ceil(span / THROUGHPUT_INTERVALS))  # whole seconds per interval
    count = min(THROUGHPUT_INTERVALS, math.ceil(span / width))
    edges = [start + timedelta(seconds=width * (i + 1)) for i in range(count)]
    sent = repository.sent_per_interval(session, execution_id=execution.id, edges=edges)
    current = None
    if execution.status == "running":
        recent = repository.sent_since(
            session, execution_id=execution.id, since=now - CURRENT_RATE_WINDOW
        )
        current = recent / CURRENT_RATE_WINDOW.total_seconds()
    # The last interval lasts what is left of the run: a 0.4 s run sent its messages in 0.4 s.
    # Behind other intervals it is rated over at least half of one: the messages of its last
    # few milliseconds would otherwise read hundreds a second, a bar dwarfing the rest.
    last = elapsed - width * (count - 1)
    if count > 1:
        last = max(last, width / 2)
    lengths = [float(width)] * (count - 1) + [last if last > 0 else float(width)]
    return Throughput(
        sent=sum(sent),
        seconds=elapsed,
        average=sum(sent) / elapsed if elapsed > 0 else None,
        current=current,
        interval_seconds=width,
        rates=[n / length for n, length in zip(sent, lengths, strict=True)],
    )
