"""Message templates per channel, validated at write time, and their proofs."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from beacon.core.errors import InvalidValue, ValidationFailed, error_from_validation, not_found
from beacon.core.permissions import CREDENTIAL_ROLE, Action, Role, require
from beacon.core.timefmt import utcnow
from beacon.messaging.audience_schemas import (
    CONTENT_MODELS,
    RenderedOut,
    RenderRequest,
    TemplateCreate,
    TemplateOut,
    TemplateUpdate,
)
from beacon.messaging.audiences import repository as audience_repository
from beacon.messaging.audiences.contacts import contact_out
from beacon.messaging.campaigns import repository
from beacon.messaging.models import Template
from beacon.messaging.templates import render_pool
from beacon.messaging.templates.rendering import (
    TEMPLATED_PARTS,
    RenderError,
    RenderLimitExceeded,
    check_syntax,
    fields_used,
    variables,
)

# What a template needs before it can be published, per channel.
REQUIRED_TO_PUBLISH = {
    "email": (("subject",), ("fromAddress",), ("html", "text")),
    "sms": (("body",),),
    "direct_mail": (("html",),),
}


def validate_content(channel: str, content: dict[str, Any]) -> dict[str, Any]:
    """The channel's content, checked field by field and compiled; camelCase keys."""
    try:
        model = CONTENT_MODELS[channel].model_validate(content)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", "content", *e["loc"])} for e in exc.errors()]
        raise error_from_validation(errors) from None
    clean = model.model_dump(by_alias=True, exclude_none=True)
    for part in TEMPLATED_PARTS[channel]:
        if part in clean:
            try:
                check_syntax(part=part, source=clean[part])
            except RenderError as exc:
                raise InvalidValue(
                    f"content.{part}",
                    exc.message,
                    code="TEMPLATE_SYNTAX_ERROR",
                ) from None
    return clean


def missing_for_publish(channel: str, content: dict[str, Any]) -> list[str]:
    """Required content fields that are empty (alternatives joined with '|')."""
    return [
        "|".join(options)
        for options in REQUIRED_TO_PUBLISH[channel]
        if not any(content.get(o) for o in options)
    ]


def _check_publishable(channel: str, content: dict[str, Any]) -> None:
    missing = missing_for_publish(channel, content)
    if missing:
        raise InvalidValue(
            "status",
            f"a published {channel} template needs content.{', content.'.join(missing)}",
            details={"missing": [f"content.{m}" for m in missing]},
        )


def create_template(
    *, session: Session, account_id: int, data: TemplateCreate, role: Role | str = CREDENTIAL_ROLE
) -> Template:
    """Create a template (draft unless asked otherwise)."""
    require(role, Action.manage_campaigns)
    content = validate_content(data.channel, data.content)
    if data.status == "published":
        _check_publishable(data.channel, content)
    now = utcnow()
    template = Template(
        account_id=account_id,
        name=data.name,
        channel=data.channel,
        status=data.status,
        content=content,
        created_at=now,
        updated_at=now,
    )
    session.add(template)
    session.flush()
    return template


def get_template(
    *, session: Session, account_id: int, template_id: uuid.UUID, lock: bool = False
) -> Template:
    """The account's template or 404 (``lock``: held until the transaction ends)."""
    template = repository.get_template(
        session, account_id=account_id, template_id=template_id, lock=lock
    )
    if template is None:
        raise not_found("Template", template_id)
    return template


def list_templates(
    *, session: Session, account_id: int, channel: str | None, limit: int, offset: int
) -> tuple[Sequence[Template], int]:
    """A page of the account's templates, newest first."""
    return repository.list_templates(
        session, account_id=account_id, channel=channel, limit=limit, offset=offset
    )


def update_template(
    *,
    session: Session,
    account_id: int,
    template_id: uuid.UUID,
    data: TemplateUpdate,
    role: Role | str = CREDENTIAL_ROLE,
) -> Template:
    """Change name, status or content (content keys merge; a null removes a key)."""
    require(role, Action.manage_campaigns)
    # locked: two changes at once each merged into the content as it was before the other
    template = get_template(
        session=session, account_id=account_id, template_id=template_id, lock=True
    )
    if data.name is not None:
        template.name = data.name
    if data.content is not None:
        merged = {**template.content, **data.content}
        template.content = validate_content(
            template.channel, {k: v for k, v in merged.items() if v is not None}
        )
    if data.status is not None:
        template.status = data.status
    if template.status == "published":
        _check_publishable(template.channel, template.content)
    if data.content is not None or data.status is not None:
        # the campaigns' last preflight read this template as it was (docs/orchestrate.md)
        repository.forget_preflights(session, account_id=account_id, template_id=template.id)
    template.updated_at = utcnow()
    session.flush()
    return template


def fields_by_part(channel: str, content: Mapping[str, Any]) -> dict[str, list[str]]:
    """The variables each templated part of ``content`` uses, as dotted paths
    (``contact.attributes.plan``); parts that use none are left out."""
    found = {}
    for part in TEMPLATED_PARTS[channel]:
        source = content.get(part)
        if isinstance(source, str) and (used := fields_used(part=part, source=source)):
            found[part] = used
    return found


def template_out(template: Template) -> TemplateOut:
    """The wire form of a template, with the variables it uses."""
    used: set[str] = set()
    for part in TEMPLATED_PARTS[template.channel]:
        source = template.content.get(part)
        if isinstance(source, str):
            used |= variables(part=part, source=source)
    return TemplateOut(
        id=template.id,
        name=template.name,
        channel=template.channel,
        status=template.status,
        content=template.content,
        variables=sorted(used),
        created_at=template.created_at,
        updated_at=template.updated_at,
    )


# What ``{{ unsubscribe_url }}`` renders to in everything that is not a real send (proofs,
# previews, preflight, test sends): a link that names no contact. A contact's own token is a
# credential that unsubscribes them, and a proof is readable with a read-only token.
PREVIEW_UNSUBSCRIBE_TOKEN = "preview-placeholder"


def unsubscribe_url(base_url: str, token: str) -> str:
    """The link an email's ``{{ unsubscribe_url }}`` renders to."""
    return f"{base_url.rstrip('/')}/u/{token}"


def render_for_contacts(
    *,
    template: Template,
    contacts: Sequence[Mapping[str, Any]],
    base_url: str,
    content: Mapping[str, Any] | None = None,
) -> list[render_pool.Result]:
    """Render a template (or a draft ``content`` of it) for contacts in wire form in one call
    to a render process, with the placeholder unsubscribe link (never a contact's own): each
    contact's parts or its RenderError. Raises RenderError when the template fails for
    everyone, RendererBusy when every render process is busy."""
    link = unsubscribe_url(base_url, PREVIEW_UNSUBSCRIBE_TOKEN)
    email = template.channel == "email"
    items = [(contact, link if email else None) for contact in contacts]
    return render_pool.render_many(
        channel=template.channel,
        content=template.content if content is None else content,
        items=items,
    )


def render_for_contact(
    *,
    template: Template,
    contact: Mapping[str, Any],
    base_url: str,
    content: Mapping[str, Any] | None = None,
) -> dict[str, str | None]:
    """Render a template for one contact in wire form; raises RenderError (RendererBusy when
    every render process is busy)."""
    [result] = render_for_contacts(
        template=template,
        contacts=[contact],
        base_url=base_url,
        content=content,
    )
    if isinstance(result, RenderError):
        raise result
    return result


def render_failed(exc: RenderError) -> ValidationFailed:
    """The 422 ``TEMPLATE_RENDER_FAILED`` for a render error (``limit`` set when a time or
    memory limit stopped it)."""
    details: dict[str, Any] = {
        "field": f"content.{exc.part}" if exc.part else "content",
        "error": exc.message,
    }
    if isinstance(exc, RenderLimitExceeded):
        details["limit"] = exc.limit
    return ValidationFailed(
        f"Template does not render: {exc}", code="TEMPLATE_RENDER_FAILED", details=details
    )


def render_proof(
    *,
    session: Session,
    account_id: int,
    template_id: uuid.UUID,
    data: RenderRequest,
    base_url: str,
    draft: dict[str, Any] | None = None,
) -> RenderedOut:
    """Render the template for a stored or inline contact (the proof), with the placeholder
    unsubscribe link; with ``draft``, that unsaved content of the template instead (checked
    like a save, nothing stored)."""
    template = get_template(session=session, account_id=account_id, template_id=template_id)
    content = None if draft is None else validate_content(template.channel, draft)
    if data.contact_id is not None:
        stored = audience_repository.get_contact(
            session, account_id=account_id, contact_id=data.contact_id
        )
        if stored is None:
            raise not_found("Contact", data.contact_id)
        wire = contact_out(stored).model_dump(mode="json", by_alias=True)
    else:
        assert data.contact is not None
        wire = data.contact.model_dump(mode="json", by_alias=True)
    try:
        rendered = render_for_contact(
            template=template,
            contact=wire,
            base_url=base_url,
            content=content,
        )
    except RenderError as exc:
        raise render_failed(exc) from None
    return RenderedOut(
        template_id=template.id,
        channel=template.channel,
        contact_id=data.contact_id,
        rendered=rendered,
    )
