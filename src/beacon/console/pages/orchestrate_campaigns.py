"""Orchestrate → Campaigns: the account's messaging campaigns with their execution state (the
same ``observability.status`` as ``GET /public/v1/campaigns/{id}/status``); a draft's setup
(audience segments → template → schedule, timezone-aware) saved with its preflight checklist,
then publish, send now, and the execution funnel (polled while the run is active) with the
failed recipients' stage and reason; cancel an active run."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from beacon.console import web
from beacon.console.pages import NavItem
from beacon.console.pages import _forms as forms
from beacon.core.deps import AppSettings, DbSession
from beacon.core.errors import Conflict, ValidationFailed
from beacon.core.permissions import Action, require
from beacon.messaging.audiences import segments
from beacon.messaging.campaign_schemas import CampaignCreate, CampaignUpdate
from beacon.messaging.campaigns import observability, preflight
from beacon.messaging.campaigns import service as campaigns
from beacon.messaging.campaigns.router import base_url
from beacon.messaging.templates import service as templates
from beacon.people import form_nonces

if TYPE_CHECKING:  # what the services return; the pages read nothing else of the models
    from beacon.messaging.models import Campaign

router = APIRouter(prefix="/orchestrate/campaigns")
NAV = (
    NavItem("Orchestrate", "Messaging campaigns", web.PREFIX + "/orchestrate/campaigns", order=5),
)
CampaignId = Annotated[uuid.UUID, Path(description="The campaign ID")]
CHANNELS = ("email", "sms", "direct_mail")
STAGES = ("scheduled", "hydrated", "composed", "injected", "sent", "failed")
ACTIVE_STATES = ("scheduled", "pending_or_overdue", "running")
LABELS = {
    "name": "a name",
    "channel": "a channel",
    "campaign_type": "a campaign type",
    "schedule": "the schedule",
}
CAMPAIGN_TYPES = (
    ("broadcast", "Broadcast"),
    ("triggered", "Triggered"),
    ("journey", "Journey"),
)
FAILED_SHOWN = 50
LISTED = 200  # segments and templates offered by the setup form, newest first
PAGE = 50  # campaigns a page of the list shows, newest first
CHART_WIDTH, CHART_HEIGHT = 300, 60
NOTICES = {
    "created": "Campaign created. Choose its audience, template and schedule.",
    "saved": "Campaign saved and preflight run.",
    "channel": "Campaign saved with its new channel: choose a template of that channel.",
    "published": "Campaign published.",
    "sent": "Send queued.",
    "cancelled": "Cancel requested.",
}


def _list(
    request: Request,
    viewer: web.Viewer,
    session: DbSession,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    offset = web.offset_param(request)
    items, total = campaigns.list_campaigns(
        session=session,
        account_id=viewer.member.account_id,
        status=None,
        channel=None,
        campaign_type=None,
        sort_by="createdAt",
        descending=True,
        limit=PAGE,
        offset=offset,
    )
    rows = [(c, observability.status(session=session, campaign=c)) for c in items]
    context = {
        "rows": rows,
        "total": total,
        "offset": offset,
        "page_size": PAGE,
        "channels": CHANNELS,
        "errors": errors or {},
        "values": values or {},
        "form_nonce": form_nonces.new(),
    }
    return web.render(request, "orchestrate/campaigns.html", context, viewer=viewer, status=status)


@router.get("")
def list_page(request: Request, viewer: web.CurrentViewer, session: DbSession) -> Response:
    return _list(request, viewer, session)


@router.post("")
def create(
    request: Request, viewer: web.CurrentViewer, session: DbSession, form: forms.PostedForm
) -> Response:
    values = {"name": forms.text(form, "name"), "channel": forms.text(form, "channel")}
    try:
        # posted again (a double click, the back button): open the campaign the first post made
        made = forms.once(
            session=session,
            viewer=viewer,
            nonce=forms.text(form, "form_nonce"),
            create=lambda: campaigns.create_campaign(
                session=session,
                account_id=viewer.member.account_id,
                data=CampaignCreate.model_validate(values),
                role=viewer.member.role,
            ),
            describe=lambda campaign: str(campaign.id),
        )
    except ValidationError as exc:
        errors = web.form_errors(exc, LABELS)
        return _list(request, viewer, session, errors=errors, values=values, status=422)
    if isinstance(made, form_nonces.NotCreated):
        if not made.earlier:
            errors = {"form": forms.STALE_FORM}
            return _list(request, viewer, session, errors=errors, values=values, status=422)
        return web.redirect(f"{web.PREFIX}/orchestrate/campaigns/{made.earlier}")
    return web.redirect(f"{web.PREFIX}/orchestrate/campaigns/{made.id}?done=created")


def _in_zone(value: datetime | None, tz: str) -> datetime | None:
    return None if value is None else value.astimezone(ZoneInfo(tz))


def _local_input(value: datetime | None, tz: str) -> str:
    """The send time as the form's ``datetime-local`` field shows it (to the minute)."""
    local = _in_zone(value, tz)
    return local.strftime("%Y-%m-%dT%H:%M") if local else ""


def _send_at(form: Any, campaign: Campaign, timezone: str) -> str | None:
    """The form's send time; the stored instant itself when the field still shows it, since
    the field cannot say which 01:30 of a night clocks fall back (re-reading it took the first,
    an hour earlier) nor the seconds (cut off)."""
    text = forms.text(form, "send_at") or None
    unchanged = (
        campaign.schedule_mode == "at"
        and campaign.send_at is not None
        and timezone == campaign.timezone
        and text == _local_input(campaign.send_at, campaign.timezone)
    )
    return campaign.send_at.isoformat() if unchanged and campaign.send_at else text


SEND_AGAIN_REQUIRED = (
    'This campaign has sent already: tick "Send to the whole audience again" to send it again'
)


def _messages_sent(session: DbSession, campaign: Campaign) -> int:
    """How many messages the campaign's runs have sent, all of them (Send now then sends
    again): a later run that sent nothing, failed or cancelled, does not make it a first."""
    return observability.metrics(session=session, campaign=campaign).counts.sent


def _execution(session: DbSession, campaign: Campaign) -> dict[str, Any]:
    """The latest run's funnel and failed recipients, and whether the page should poll."""
    state = observability.status(session=session, campaign=campaign)
    last = state.execution.last_execution
    failed: list[Any] = []
    throughput = None
    if last is not None:
        execution = campaigns.get_execution(
            session=session,
            account_id=campaign.account_id,
            campaign_id=campaign.id,
            execution_id=last.execution_id,
        )
        throughput = observability.throughput(session=session, execution=execution)
    if last is not None and last.counts.failed:
        failed, _ = observability.recipients_page(
            session=session,
            campaign=campaign,
            execution=execution,
            status="failed",
            reveal_addresses=False,
            limit=FAILED_SHOWN,
            offset=0,
        )
    counts = last.counts.model_dump() if last else dict.fromkeys(STAGES, 0)
    return {
        "state": state,
        "funnel": [(stage, counts.get(stage, 0)) for stage in STAGES],
        "failed": failed,
        "throughput": throughput,
        "chart": _chart(throughput) if throughput else None,
        "polling": state.execution.state in ACTIVE_STATES,
    }


def _chart(throughput: observability.Throughput) -> dict[str, Any]:
    """The bars of the messages/s chart in SVG user units (CHART_WIDTH x CHART_HEIGHT)."""
    peak = max(throughput.rates, default=0) or 1
    width = CHART_WIDTH / max(len(throughput.rates), 1)
    bars = []
    for index, rate in enumerate(throughput.rates):
        height = CHART_HEIGHT * rate / peak
        bars.append(
            {
                "x": round(index * width, 2),
                "y": round(CHART_HEIGHT - height, 2),
                "width": round(max(width - 1, 0.5), 2),
                "height": round(height, 2),
                "rate": rate,
                "from": round(index * throughput.interval_seconds, 1),
            }
        )
    return {"bars": bars, "peak": peak, "width": CHART_WIDTH, "height": CHART_HEIGHT}


def _shown(campaign: Campaign, posted: FormData | None) -> dict[str, Any]:
    """What the setup form shows: the stored draft, or the posted setup when it was refused
    (so that a typo in one field does not undo every other change)."""
    if posted is None:
        return {
            "name": campaign.name,
            "channel": campaign.channel,
            "campaign_type": campaign.campaign_type,
            "included": set(campaign.audience_included),
            "excluded": set(campaign.audience_excluded),
            "template": str(campaign.template_id or ""),
            "mode": campaign.schedule_mode,
            "send_at": _local_input(campaign.send_at, campaign.timezone),
            "timezone": campaign.timezone,
        }
    return {
        "name": forms.text(posted, "name"),
        "channel": forms.text(posted, "channel") or campaign.channel,
        "campaign_type": forms.text(posted, "campaign_type") or campaign.campaign_type,
        "included": set(forms.texts(posted, "segment")),
        "excluded": set(forms.texts(posted, "exclude")),
        "template": forms.text(posted, "template"),
        "mode": forms.text(posted, "mode") or "now",
        "send_at": forms.text(posted, "send_at"),
        "timezone": forms.text(posted, "timezone"),
    }


def _detail(
    request: Request,
    viewer: web.Viewer,
    session: DbSession,
    campaign_id: uuid.UUID,
    *,
    errors: dict[str, str] | None = None,
    notice: str = "",
    posted: FormData | None = None,
    status: int = 200,
) -> Response:
    account_id = viewer.member.account_id
    campaign = campaigns.get_campaign(
        session=session, account_id=account_id, campaign_id=campaign_id
    )
    found_segments, _ = segments.list_segments(
        session=session, account_id=account_id, limit=LISTED, offset=0
    )
    found, _ = templates.list_templates(
        session=session, account_id=account_id, channel=campaign.channel, limit=LISTED, offset=0
    )
    # The campaign's own segments and template are always offered, also beyond the newest
    # LISTED: the form posts only what it shows, and saving dropped them from the draft.
    listed = {str(s.id) for s in found_segments}
    found_segments = [
        *found_segments,
        *(
            segments.get_segment(session=session, account_id=account_id, segment_id=uuid.UUID(raw))
            for raw in dict.fromkeys((*campaign.audience_included, *campaign.audience_excluded))
            if raw not in listed
        ),
    ]
    if campaign.template_id is not None and all(t.id != campaign.template_id for t in found):
        own = templates.get_template(
            session=session, account_id=account_id, template_id=campaign.template_id
        )
        found = [*found, own] if own.channel == campaign.channel else list(found)
    context = {
        "c": observability.campaign_out(campaign),
        "form": _shown(campaign, posted),
        "segments": found_segments,
        "channels": CHANNELS,
        "campaign_types": CAMPAIGN_TYPES,
        "supported_type": campaigns.SUPPORTED_TYPE,
        "templates": found,
        "send_at_local": _in_zone(campaign.send_at, campaign.timezone),
        "preflight": campaign.preflight,
        "errors": errors or {},
        "notice": notice,
        **_execution(session, campaign),
        "sent_before": _messages_sent(session, campaign),
    }
    return web.render(request, "orchestrate/campaign.html", context, viewer=viewer, status=status)


@router.get("/{campaign_id}")
def detail(
    request: Request, campaign_id: CampaignId, viewer: web.CurrentViewer, session: DbSession
) -> Response:
    notice = NOTICES.get(request.query_params.get("done", ""), "")
    return _detail(request, viewer, session, campaign_id, notice=notice)


@router.get("/{campaign_id}/execution")
def execution(
    request: Request, campaign_id: CampaignId, viewer: web.CurrentViewer, session: DbSession
) -> Response:
    """The execution panel alone (htmx polls it every 2 s while the run is active)."""
    campaign = campaigns.get_campaign(
        session=session, account_id=viewer.member.account_id, campaign_id=campaign_id
    )
    context = {"c": observability.campaign_out(campaign), **_execution(session, campaign)}
    return web.render(request, "orchestrate/_campaign_execution.html", context, viewer=viewer)


def _update(form: Any, campaign: Campaign) -> CampaignUpdate:
    """Every field of the setup form as a partial update (the API's ``PATCH`` body)."""
    mode = forms.text(form, "mode") or "now"
    schedule: dict[str, Any] = {"mode": mode, "timezone": forms.text(form, "timezone") or "UTC"}
    if mode == "at":
        schedule["sendAt"] = _send_at(form, campaign, schedule["timezone"])
    channel = forms.text(form, "channel") or campaign.channel
    # the template list showed the old channel's templates: a new channel starts without one
    template = forms.text(form, "template") if channel == campaign.channel else ""
    return CampaignUpdate.model_validate(
        {
            "name": forms.text(form, "name"),
            "channel": channel,
            "campaignType": forms.text(form, "campaign_type") or campaign.campaign_type,
            "audience": {
                "included": forms.texts(form, "segment"),
                "excluded": forms.texts(form, "exclude"),
            },
            "templateId": template or None,
            "schedule": schedule,
        }
    )


@router.post("/{campaign_id}")
def save(
    request: Request,
    campaign_id: CampaignId,
    viewer: web.CurrentViewer,
    session: DbSession,
    settings: AppSettings,
    form: forms.PostedForm,
) -> Response:
    """Save the draft's audience, template and schedule, then run its preflight."""
    require(viewer.member.role, Action.manage_campaigns)  # before the form's own checks
    account_id = viewer.member.account_id
    before = campaigns.get_campaign(session=session, account_id=account_id, campaign_id=campaign_id)
    old_channel = before.channel
    try:
        campaign = campaigns.update_campaign(
            session=session,
            account_id=account_id,
            campaign_id=campaign_id,
            data=_update(form, before),
            role=viewer.member.role,
        )
    except ValidationError as exc:
        errors = web.form_errors(exc, LABELS)
        return _detail(
            request, viewer, session, campaign_id, errors=errors, posted=form, status=422
        )
    except (ValidationFailed, Conflict) as exc:
        session.rollback()
        errors = {"form": exc.message}
        return _detail(
            request, viewer, session, campaign_id, errors=errors, posted=form, status=422
        )
    if campaign.campaign_type == campaigns.SUPPORTED_TYPE:
        preflight.run_preflight(
            session=session,
            campaign=campaign,
            settings=settings,
            base_url=base_url(request, settings),
        )
    done = "channel" if campaign.channel != old_channel else "saved"
    return web.redirect(f"{web.PREFIX}/orchestrate/campaigns/{campaign_id}?done={done}")


@router.post("/{campaign_id}/publish")
def publish(
    request: Request,
    campaign_id: CampaignId,
    viewer: web.CurrentViewer,
    session: DbSession,
    settings: AppSettings,
    form: forms.PostedForm,
) -> Response:
    """Publish the draft (its preflight runs again and must pass)."""
    try:
        campaigns.publish(
            session=session,
            account_id=viewer.member.account_id,
            campaign_id=campaign_id,
            settings=settings,
            base_url=base_url(request, settings),
            role=viewer.member.role,
        )
    except (ValidationFailed, Conflict) as exc:
        # the handler returns normally: the failed preflight stays stored for the checklist
        return _detail(
            request, viewer, session, campaign_id, errors={"form": exc.message}, status=422
        )
    return web.redirect(f"{web.PREFIX}/orchestrate/campaigns/{campaign_id}?done=published")


@router.post("/{campaign_id}/send")
def send(
    request: Request,
    campaign_id: CampaignId,
    viewer: web.CurrentViewer,
    session: DbSession,
    form: forms.PostedForm,
) -> Response:
    """Queue a send now; once a run has sent, only with "send again" ticked (the whole
    audience gets the message a second time: one press too many is not undone)."""
    campaign = campaigns.get_campaign(
        session=session, account_id=viewer.member.account_id, campaign_id=campaign_id
    )
    if _messages_sent(session, campaign) and forms.text(form, "again") != "yes":
        return _detail(
            request,
            viewer,
            session,
            campaign_id,
            errors={"again": SEND_AGAIN_REQUIRED},
            status=422,
        )
    try:
        campaigns.send_campaign(
            session=session,
            account_id=viewer.member.account_id,
            campaign_id=campaign_id,
            role=viewer.member.role,
        )
    except Conflict as exc:
        return _detail(
            request, viewer, session, campaign_id, errors={"form": exc.message}, status=409
        )
    return web.redirect(f"{web.PREFIX}/orchestrate/campaigns/{campaign_id}?done=sent")


@router.post("/{campaign_id}/cancel")
def cancel(
    request: Request,
    campaign_id: CampaignId,
    viewer: web.CurrentViewer,
    session: DbSession,
    form: forms.PostedForm,
) -> Response:
    """Cancel the scheduled run or ask the running one to stop."""
    try:
        campaigns.cancel_campaign(
            session=session,
            account_id=viewer.member.account_id,
            campaign_id=campaign_id,
            role=viewer.member.role,
        )
    except Conflict as exc:
        return _detail(
            request, viewer, session, campaign_id, errors={"form": exc.message}, status=409
        )
    return web.redirect(f"{web.PREFIX}/orchestrate/campaigns/{campaign_id}?done=cancelled")
