"""Measure: pixel campaigns — list with impressions, create, edit, archive."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from pydantic import ValidationError
from starlette.responses import Response

from beacon.console import web
from beacon.console.pages import NavItem
from beacon.console.pages import _forms as forms
from beacon.core.deps import DbSession
from beacon.core.ids import id_path
from beacon.core.permissions import Action, require
from beacon.people import form_nonces
from beacon.pixel import service as pixel_service
from beacon.pixel.schemas import CampaignCreate, CampaignUpdate, UseCase

router = APIRouter(prefix="/pixel/campaigns")
NAV = (NavItem("Measure", "Pixel campaigns", web.PREFIX + "/pixel/campaigns", order=10),)

CampaignId = Annotated[int, id_path("The campaign ID")]
FormText = Annotated[str, Form(max_length=5000)]

USE_CASES = (
    (UseCase.campaign_optimization, "Campaign optimization",
     "Tracking delivery of a Classify curation deal or segment for optimization."),
    (UseCase.campaign_reporting, "Campaign reporting",
     "Post-delivery reporting for any programmatic campaign."),
    (UseCase.publisher_bot_detection, "Publisher bot detection",
     "Detecting bot, agent and non-human traffic on a publisher property."),
    (UseCase.publisher_agent_targeting, "Publisher agent targeting",
     "Monitoring AI agent access patterns for monetization or content strategy."),
    (UseCase.other, "Other", "Any other use."),
)  # fmt: skip
USE_CASE_LABELS = {value.value: label for value, label, _ in USE_CASES}
LABELS = {"name": "a campaign name", "use_case": "a use case", "description": "the description"}
MESSAGES = {"use_case": "Choose how this pixel will be used"}


@router.get("")
def campaign_list(
    request: Request, viewer: web.CurrentViewer, session: DbSession, archived: bool = False
) -> Response:
    campaigns = pixel_service.list_campaigns(session=session, account_id=viewer.member.account_id)
    shown = [c for c in campaigns if (c.archived_at is not None) == archived]
    impressions = pixel_service.campaign_impressions(
        session=session, campaign_ids=[c.id for c in shown]
    )
    return web.render(
        request,
        "campaigns/list.html",
        {
            "campaigns": shown,
            "impressions": impressions,
            "archived": archived,
            "archived_count": sum(1 for c in campaigns if c.archived_at is not None),
            "use_case_labels": USE_CASE_LABELS,
            "created": request.query_params.get("created"),
        },
        viewer=viewer,
    )


@router.get("/new")
def new_campaign(request: Request, viewer: web.CurrentViewer) -> Response:
    require(viewer.member.role, Action.manage_campaigns)
    return _form(request, viewer, values={"name": "", "use_case": "", "description": ""}, errors={})


@router.post("")
def create_campaign(
    request: Request,
    viewer: web.CurrentViewer,
    session: DbSession,
    name: FormText = "",
    use_case: FormText = "",
    description: FormText = "",
    form_nonce: FormText = "",
) -> Response:
    values = {"name": name, "use_case": use_case, "description": description}
    try:
        data = CampaignCreate.model_validate(_payload(values))
    except ValidationError as exc:
        require(viewer.member.role, Action.manage_campaigns)
        return _form(request, viewer, values=values, errors=web.form_errors(exc, LABELS, MESSAGES))
    # posted again (a double click, the back button): open the campaign the first post made
    made = forms.once(
        session=session,
        viewer=viewer,
        nonce=form_nonce,
        create=lambda: pixel_service.create_campaign(
            session=session, account_id=viewer.member.account_id, data=data, role=viewer.member.role
        ),
        describe=lambda campaign: str(campaign.id),
    )
    if isinstance(made, form_nonces.NotCreated):
        if not made.earlier:
            return _form(request, viewer, values=values, errors={"form": forms.STALE_FORM})
        return web.redirect(f"{web.PREFIX}/pixel/campaigns/{made.earlier}/code")
    return web.redirect(f"{web.PREFIX}/pixel/campaigns/{made.id}/code?created=1")


@router.get("/{campaign_id}/edit")
def edit_campaign(
    request: Request, campaign_id: CampaignId, viewer: web.CurrentViewer, session: DbSession
) -> Response:
    campaign = pixel_service.get_campaign(
        session=session, account_id=viewer.member.account_id, campaign_id=campaign_id
    )
    require(viewer.member.role, Action.manage_campaigns)
    values = {
        "name": campaign.name,
        "use_case": campaign.use_case,
        "description": campaign.description or "",
    }
    return _form(request, viewer, values=values, errors={}, campaign=campaign)


@router.post("/{campaign_id}/edit")
def update_campaign(
    request: Request,
    campaign_id: CampaignId,
    viewer: web.CurrentViewer,
    session: DbSession,
    name: FormText = "",
    use_case: FormText = "",
    description: FormText = "",
) -> Response:
    campaign = pixel_service.get_campaign(
        session=session, account_id=viewer.member.account_id, campaign_id=campaign_id
    )
    values = {"name": name, "use_case": use_case, "description": description}
    try:
        data = CampaignUpdate.model_validate(
            {**_payload(values), "description": description.strip() or None}
        )
    except ValidationError as exc:
        require(viewer.member.role, Action.manage_campaigns)
        errors = web.form_errors(exc, LABELS, MESSAGES)
        return _form(request, viewer, values=values, errors=errors, campaign=campaign)
    pixel_service.update_campaign(
        session=session,
        account_id=viewer.member.account_id,
        campaign_id=campaign_id,
        data=data,
        role=viewer.member.role,
    )
    return web.redirect(f"{web.PREFIX}/pixel/campaigns?updated={campaign_id}")


@router.post("/{campaign_id}/archive")
def archive_campaign(
    request: Request, campaign_id: CampaignId, viewer: web.CurrentViewer, session: DbSession
) -> Response:
    return _set_archived(request, campaign_id, viewer, session, archived=True)


@router.post("/{campaign_id}/restore")
def restore_campaign(
    request: Request, campaign_id: CampaignId, viewer: web.CurrentViewer, session: DbSession
) -> Response:
    return _set_archived(request, campaign_id, viewer, session, archived=False)


def _set_archived(
    request: Request, campaign_id: int, viewer: web.Viewer, session: DbSession, *, archived: bool
) -> Response:
    pixel_service.set_archived(
        session=session,
        account_id=viewer.member.account_id,
        campaign_id=campaign_id,
        archived=archived,
        role=viewer.member.role,
    )
    suffix = "" if archived else "?archived=1"
    return web.redirect(f"{web.PREFIX}/pixel/campaigns{suffix}", request=request)


def _payload(values: dict[str, str]) -> dict[str, object]:
    payload: dict[str, object] = {"name": values["name"]}
    if values["use_case"]:
        payload["use_case"] = values["use_case"]
    if values["description"].strip():
        payload["description"] = values["description"].strip()
    return payload


def _form(
    request: Request,
    viewer: web.Viewer,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    campaign: object = None,
) -> Response:
    return web.render(
        request,
        "campaigns/form.html",
        {
            "values": values,
            "errors": errors,
            "campaign": campaign,
            "use_cases": USE_CASES,
            "form_nonce": form_nonces.new(),
        },
        viewer=viewer,
        status=422 if errors else 200,
    )
