"""Orchestrate → Templates: the account's message templates, an editor per channel with a live
preview for a sample contact (htmx, debounced; ``templates.render_proof``, the same guarded
render as ``POST /public/v1/templates/{id}/render``), save and publish. An email's HTML is also
shown as a mail client would, in a sandboxed frame at desktop or phone width; the editor lists
the variables the template uses, shows a render error at its line, and sends a test message
(``proofs.send_test``) through the configured email provider."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, Response

from beacon.console import web
from beacon.console.pages import NavItem
from beacon.console.pages import _forms as forms
from beacon.core.deps import AppSettings, DbSession
from beacon.core.errors import NotFound, ServiceUnavailable, ValidationFailed
from beacon.core.permissions import Action, require
from beacon.messaging.audience_schemas import (
    ContactIn,
    RenderRequest,
    TemplateCreate,
    TemplateUpdate,
)
from beacon.messaging.audiences import contacts
from beacon.messaging.campaigns.router import base_url
from beacon.messaging.providers.factory import describe
from beacon.messaging.templates import proofs
from beacon.messaging.templates import service as templates
from beacon.messaging.templates.rendering import CONTACT_FIELDS
from beacon.people import form_nonces

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
PAGE = 50  # templates a page of the list shows, newest first (as Campaigns)
LABELS = {"name": "a name", "channel": "a channel"}
WIDTHS = ("desktop", "phone")
_LINE = re.compile(r"\(line (\d+)\)$")
# The frame shows the tenant's HTML as a mail client would: its own inline styles and remote
# images, never scripts (CSP and the iframe's sandbox), framed only by the console itself.
FRAME_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data: https: http:; "
        "font-src data: https:; sandbox; frame-ancestors 'self'"
    ),
    "x-frame-options": "SAMEORIGIN",
}


def _content(channel: str, form: FormData) -> dict[str, Any]:
    """The channel's content from the editor (empty parts left out)."""
    values = {key: forms.text(form, key) for key, _, _ in PARTS[channel]}
    return {key: value for key, value in values.items() if value}


def _samples(session: DbSession, account_id: int) -> list[Any]:
    found, _ = contacts.list_contacts(
        session=session, account_id=account_id, limit=SAMPLE_CONTACTS, offset=0
    )
    return found


def _listing(request: Request, session: DbSession, account_id: int) -> dict[str, Any]:
    """A page of the templates list (``?offset=``) and what its pager needs."""
    offset = web.offset_param(request)
    found, total = templates.list_templates(
        session=session, account_id=account_id, channel=None, limit=PAGE, offset=offset
    )
    return {"items": found, "total": total, "offset": offset, "page_size": PAGE}


@router.get("")
def list_page(request: Request, viewer: web.CurrentViewer, session: DbSession) -> Response:
    listing = _listing(request, session, viewer.member.account_id)
    return web.render(
        request,
        "orchestrate/templates.html",
        {
            **listing,
            "channels": CHANNELS,
            "errors": {},
            "values": {},
            "form_nonce": form_nonces.new(),
        },
        viewer=viewer,
    )


@router.post("")
def create(
    request: Request, viewer: web.CurrentViewer, session: DbSession, form: forms.PostedForm
) -> Response:
    values = {"name": forms.text(form, "name"), "channel": forms.text(form, "channel")}
    try:
        # posted again (a double click, the back button): open the template the first post made
        made = forms.once(
            session=session,
            viewer=viewer,
            nonce=forms.text(form, "form_nonce"),
            create=lambda: templates.create_template(
                session=session,
                account_id=viewer.member.account_id,
                data=TemplateCreate.model_validate({**values, "content": {}}),
                role=viewer.member.role,
            ),
            describe=lambda template: str(template.id),
        )
    except ValidationError as exc:
        return _create_refused(request, viewer, session, values, web.form_errors(exc, LABELS))
    if isinstance(made, form_nonces.NotCreated):
        if not made.earlier:
            return _create_refused(request, viewer, session, values, {"form": forms.STALE_FORM})
        return web.redirect(f"{web.PREFIX}/orchestrate/templates/{made.earlier}")
    return web.redirect(f"{web.PREFIX}/orchestrate/templates/{made.id}")


def _create_refused(
    request: Request,
    viewer: web.Viewer,
    session: DbSession,
    values: dict[str, str],
    errors: dict[str, str],
) -> Response:
    context = {
        **_listing(request, session, viewer.member.account_id),
        "channels": CHANNELS,
        "errors": errors,
        "values": values,
        "form_nonce": form_nonces.new(),
    }
    return web.render(request, "orchestrate/templates.html", context, viewer=viewer, status=422)


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
    extra: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    template = templates.get_template(
        session=session, account_id=viewer.member.account_id, template_id=template_id
    )
    out = templates.template_out(template)
    shown = out.content if content is None else content
    samples = _samples(session, viewer.member.account_id)
    context = {
        "t": out,
        "name": out.name if name is None else name,
        "content": shown,
        "parts": PARTS[out.channel],
        "samples": samples,
        "errors": errors or {},
        "notice": notice,
        "missing": templates.missing_for_publish(out.channel, out.content),
        "preview": preview,
        "sample": "",
        "width": "desktop",
        "test_to": "",
        "test_result": None,
        "email_provider": describe("email", viewer.settings),
        **_variables(out.channel, shown, samples),
        **(preview or {}),
        **(extra or {}),
    }
    return web.render(request, "orchestrate/template.html", context, viewer=viewer, status=status)


def _variables(channel: str, content: dict[str, Any], samples: list[Any]) -> dict[str, Any]:
    """The variables the content uses (per part) and those a template can use."""
    attributes = sorted({key for c in samples for key in (c.attributes or {})} | {"plan", "city"})
    available = [f"contact.{name}" for name in CONTACT_FIELDS if name != "id"]
    available += [f"contact.attributes.{key}" for key in attributes]
    available += [f"contact.address.{k}" for k in ("line1", "city", "postalCode", "country")]
    if channel == "email":
        available.append("unsubscribe_url")
    labels = {key: label for key, label, _ in PARTS[channel]}
    used = templates.fields_by_part(channel, content)
    return {
        "used": [(labels.get(part, part), names) for part, names in used.items()],
        "available": available,
    }


def _render_error(exc: ValidationFailed, channel: str, draft: dict[str, Any]) -> dict[str, Any]:
    """Where a render error is: the part's label, the line and the lines around it."""
    details = exc.details or {}
    part = str(details.get("field", "")).removeprefix("content.").removeprefix("content")
    found = _LINE.search(str(details.get("error", exc.message)))
    line = int(found.group(1)) if found else None
    labels = {key: label for key, label, _ in PARTS[channel]}
    excerpt: list[tuple[int, str, bool]] = []
    source = draft.get(part)
    if line is not None and isinstance(source, str):
        lines = source.splitlines() or [""]
        for number in range(max(1, line - 1), min(len(lines), line + 1) + 1):
            excerpt.append((number, lines[number - 1], number == line))
    return {"part": part, "label": labels.get(part, part), "line": line, "excerpt": excerpt}


def _sample_request(sample: str) -> RenderRequest:
    try:
        contact_id = uuid.UUID(sample) if sample else None
    except ValueError:
        contact_id = None
    return RenderRequest.model_construct(
        contact_id=contact_id, contact=None if contact_id else SAMPLE
    )


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
    draft = _content(template.channel, form)
    rendered: dict[str, str | None] | None = None
    error = ""
    where: dict[str, Any] | None = None
    try:
        rendered = templates.render_proof(
            session=session,
            account_id=account_id,
            template_id=template_id,
            data=_sample_request(sample),
            base_url=base_url(request, settings),
            draft=draft,
        ).rendered
    except ValidationFailed as exc:
        error, where = exc.message, _render_error(exc, template.channel, draft)
    except (ServiceUnavailable, NotFound) as exc:
        error = exc.message
    width = forms.text(form, "preview_width")
    result = {
        "rendered": rendered,
        "error": error,
        "error_at": where,
        "channel": template.channel,
        "sample": sample,
        "width": width if width in WIDTHS else "desktop",
        "test_to": forms.text(form, "test_to"),
        **_variables(template.channel, draft, _samples(session, account_id)),
    }
    if request.headers.get("hx-request") == "true":
        return web.render(request, "orchestrate/_template_preview.html", result, viewer=viewer)
    # Without JavaScript: the editor again, with what was typed and its preview.
    name = forms.text(form, "name") or None
    return _editor(request, viewer, session, template_id, content=draft, name=name, preview=result)


@router.post("/{template_id}/frame")
def frame(
    request: Request,
    template_id: TemplateId,
    viewer: web.CurrentViewer,
    session: DbSession,
    settings: AppSettings,
    form: forms.PostedForm,
) -> Response:
    """The editor's email HTML rendered for the sample contact, as the document of the preview
    frame (its own CSP: the message's inline styles and images, no scripts)."""
    account_id = viewer.member.account_id
    template = templates.get_template(
        session=session, account_id=account_id, template_id=template_id
    )
    try:
        rendered = templates.render_proof(
            session=session,
            account_id=account_id,
            template_id=template_id,
            data=_sample_request(forms.text(form, "sample")),
            base_url=base_url(request, settings),
            draft=_content(template.channel, form),
        ).rendered
        html = web.templates.get_template("orchestrate/_template_frame.html").render(
            rendered=rendered, error=""
        )
    except (ValidationFailed, ServiceUnavailable, NotFound) as exc:
        html = web.templates.get_template("orchestrate/_template_frame.html").render(
            rendered=None, error=exc.message
        )
    response = HTMLResponse(html, headers=FRAME_HEADERS)
    return web.with_headers(response)


@router.post("/{template_id}/test")
def send_test(
    request: Request,
    template_id: TemplateId,
    viewer: web.CurrentViewer,
    session: DbSession,
    settings: AppSettings,
    form: forms.PostedForm,
) -> Response:
    """Send the editor's content, rendered for the chosen sample contact, to one address."""
    account_id = viewer.member.account_id
    template = templates.get_template(
        session=session, account_id=account_id, template_id=template_id
    )
    to = forms.text(form, "test_to")
    draft = _content(template.channel, form)
    result: dict[str, Any]
    try:
        sent = proofs.send_test(
            session=session,
            settings=settings,
            account_id=account_id,
            template_id=template_id,
            to=to,
            data=_sample_request(forms.text(form, "sample")),
            base_url=base_url(request, settings),
            draft=draft,
            role=viewer.member.role,
        )
        result = {"ok": True, "message": f"Test sent to {sent.to} through the {sent.via}."}
    except (ValidationFailed, ServiceUnavailable) as exc:
        missing = isinstance(exc, proofs.NoEmailProvider)
        result = {"ok": False, "message": exc.message, "no_provider": missing}
    if request.headers.get("hx-request") == "true":
        return web.render(
            request, "orchestrate/_template_test.html", {"test_result": result}, viewer=viewer
        )
    # Without JavaScript: the editor again, with what was typed and the outcome.
    return _editor(
        request,
        viewer,
        session,
        template_id,
        content=draft,
        name=forms.text(form, "name") or None,
        extra={"test_result": result, "test_to": to},
        status=200 if result["ok"] else 422,
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
