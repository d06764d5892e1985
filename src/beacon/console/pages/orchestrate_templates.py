"""Orchestrate → Templates: the account's message templates, an editor per channel with a live
preview for a sample contact (htmx, debounced; ``templates.render_proof``, the same guarded
render as ``POST /public/v1/templates/{id}/render``), save and publish."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from beacon.console import web
from beacon.console.pages import NavItem
from beacon.console.pages import _forms as forms
from beacon.core.deps import AppSettings, DbSession
from beacon.core.errors import NotFound, ServiceUnavailable, ValidationFailed
from beacon.core.permissions import Action, require
from beacon.messaging import contacts, templates
from beacon.messaging.audience_schemas import (
    ContactIn,
    RenderRequest,
    TemplateCreate,
    TemplateUpdate,
)
from beacon.messaging.router_campaigns import base_url

router = APIRouter(prefix="/orchestrate/templates")
NAV = (NavItem("Orchestrate", "Templates", web.PREFIX + "/orchestrate/templates", order=10),)
TemplateId = Annotated[uuid.UUID, Path(description="The template ID")]
CHANNELS = ("email", "sms", "direct_mail")
# The editable parts per channel: (form field / content key, label, textarea?).
PARTS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "email": (
        ("subject", "Subject", False),
        ("fromName", "From name", False),
        ("fromAddress", "From address", False),
        ("html", "HTML body", True),
        ("text", "Text body", True),
    ),
    "sms": (("body", "Message", True),),
    "direct_mail": (("html", "HTML", True), ("addressBlock", "Address block", True)),
}
SAMPLE = ContactIn.model_validate(
    {
        "email": "ada@example.com",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "phone": "+14155550123",
        "attributes": {"plan": "pro", "city": "London"},
    }
)
SAMPLE_CONTACTS = 20
LABELS = {"name": "a name", "channel": "a channel"}


def _content(channel: str, form: FormData) -> dict[str, Any]:
    """The channel's content from the editor (empty parts left out)."""
    values = {key: forms.text(form, key) for key, _, _ in PARTS[channel]}
    return {key: value for key, value in values.items() if value}


def _samples(session: DbSession, account_id: int) -> list[Any]:
    found, _ = contacts.list_contacts(
        session=session, account_id=account_id, limit=SAMPLE_CONTACTS, offset=0
    )
    return found


@router.get("")
def list_page(request: Request, viewer: web.CurrentViewer, session: DbSession) -> Response:
    found, total = templates.list_templates(
        session=session, account_id=viewer.member.account_id, channel=None, limit=200, offset=0
    )
    return web.render(
        request,
        "orchestrate/templates.html",
        {"items": found, "total": total, "channels": CHANNELS, "errors": {}, "values": {}},
        viewer=viewer,
    )


@router.post("")
def create(
    request: Request, viewer: web.CurrentViewer, session: DbSession, form: forms.PostedForm
) -> Response:
    values = {"name": forms.text(form, "name"), "channel": forms.text(form, "channel")}
    try:
        data = TemplateCreate.model_validate({**values, "content": {}})
        template = templates.create_template(
            session=session,
            account_id=viewer.member.account_id,
            data=data,
            role=viewer.member.role,
        )
    except ValidationError as exc:
        found, total = templates.list_templates(
            session=session, account_id=viewer.member.account_id, channel=None, limit=200, offset=0
        )
        context = {
            "items": found,
            "total": total,
            "channels": CHANNELS,
            "errors": web.form_errors(exc, LABELS),
            "values": values,
        }
        return web.render(request, "orchestrate/templates.html", context, viewer=viewer, status=422)
    return web.redirect(f"{web.PREFIX}/orchestrate/templates/{template.id}")


def _editor(
    request: Request,
    viewer: web.Viewer,
    session: DbSession,
    template_id: uuid.UUID,
    *,
    content: dict[str, Any] | None = None,
    name: str | None = None,
    errors: dict[str, str] | None = None,
    notice: str = "",
    preview: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    template = templates.get_template(
        session=session, account_id=viewer.member.account_id, template_id=template_id
    )
    out = templates.template_out(template)
    context = {
        "t": out,
        "name": out.name if name is None else name,
        "content": out.content if content is None else content,
        "parts": PARTS[out.channel],
        "samples": _samples(session, viewer.member.account_id),
        "errors": errors or {},
        "notice": notice,
        "missing": templates.missing_for_publish(out.channel, out.content),
        "preview": preview,
        "sample": "",
        **(preview or {}),
    }
    return web.render(request, "orchestrate/template.html", context, viewer=viewer, status=status)


@router.get("/{template_id}")
def editor(
    request: Request, template_id: TemplateId, viewer: web.CurrentViewer, session: DbSession
) -> Response:
    notice = {"saved": "Template saved.", "published": "Template published."}.get(
        request.query_params.get("done", ""), ""
    )
    return _editor(request, viewer, session, template_id, notice=notice)


@router.post("/{template_id}/preview")
def preview(
    request: Request,
    template_id: TemplateId,
    viewer: web.CurrentViewer,
    session: DbSession,
    settings: AppSettings,
    form: forms.PostedForm,
) -> Response:
    """The editor's unsaved content rendered for the chosen sample contact (nothing stored);
    render errors are messages, never a 500."""
    account_id = viewer.member.account_id
    template = templates.get_template(
        session=session, account_id=account_id, template_id=template_id
    )
    sample = forms.text(form, "sample")
    try:
        contact_id = uuid.UUID(sample) if sample else None
    except ValueError:
        contact_id = None
    data = RenderRequest.model_construct(
        contact_id=contact_id, contact=None if contact_id else SAMPLE
    )
    rendered: dict[str, str | None] | None = None
    error = ""
    try:
        rendered = templates.render_proof(
            session=session,
            account_id=account_id,
            template_id=template_id,
            data=data,
            base_url=base_url(request, settings),
            draft=_content(template.channel, form),
        ).rendered
    except (ValidationFailed, ServiceUnavailable, NotFound) as exc:
        error = exc.message
    result = {"rendered": rendered, "error": error, "channel": template.channel, "sample": sample}
    if request.headers.get("hx-request") == "true":
        return web.render(request, "orchestrate/_template_preview.html", result, viewer=viewer)
    # Without JavaScript: the editor again, with what was typed and its preview.
    name = forms.text(form, "name") or None
    content = _content(template.channel, form)
    return _editor(
        request, viewer, session, template_id, content=content, name=name, preview=result
    )


@router.post("/{template_id}")
def save(
    request: Request,
    template_id: TemplateId,
    viewer: web.CurrentViewer,
    session: DbSession,
    form: forms.PostedForm,
) -> Response:
    """Save the editor's content (and name); ``action=publish`` publishes it too."""
    require(viewer.member.role, Action.manage_campaigns)
    account_id = viewer.member.account_id
    template = templates.get_template(
        session=session, account_id=account_id, template_id=template_id
    )
    content = _content(template.channel, form)
    name = forms.text(form, "name")
    publish = forms.text(form, "action") == "publish"
    # Parts left empty are removed (null), the others replace the stored ones.
    change = {key: content.get(key) for key, _, _ in PARTS[template.channel]}
    try:
        data = TemplateUpdate.model_validate(
            {"name": name, "content": change, **({"status": "published"} if publish else {})}
        )
        templates.update_template(
            session=session,
            account_id=account_id,
            template_id=template_id,
            data=data,
            role=viewer.member.role,
        )
    except ValidationError as exc:
        errors = web.form_errors(exc, LABELS)
        return _editor(
            request,
            viewer,
            session,
            template_id,
            content=content,
            name=name,
            errors=errors,
            status=422,
        )
    except ValidationFailed as exc:
        session.rollback()
        field = str((exc.details or {}).get("field", "content")).removeprefix("content.")
        return _editor(
            request,
            viewer,
            session,
            template_id,
            content=content,
            name=name,
            errors={field: exc.message},
            status=422,
        )
    done = "published" if publish else "saved"
    return web.redirect(f"{web.PREFIX}/orchestrate/templates/{template_id}?done={done}")
