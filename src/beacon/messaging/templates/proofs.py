"""Test sends ("send a test"): a template — or an unsaved draft of it — rendered for a sample or
stored contact and sent to one address through the configured email provider, as the pipeline
would build and hand the message over. Nothing is stored: no execution, no recipient row."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from beacon.core.config import Settings
from beacon.core.emails import normalise_email
from beacon.core.errors import InvalidValue, ServiceUnavailable, ValidationFailed
from beacon.core.permissions import CREDENTIAL_ROLE, Action, Role, require
from beacon.core.timefmt import utcnow
from beacon.messaging.audience_schemas import RenderRequest
from beacon.messaging.audiences import contacts
from beacon.messaging.delivery.compose import Composer, RecipientRow
from beacon.messaging.providers import Outcome, OutgoingMessage
from beacon.messaging.providers.factory import describe, open_provider
from beacon.messaging.templates import service as templates


class NoEmailProvider(ServiceUnavailable):
    """No SMTP server is configured, so nothing can be sent for real."""

    code = "no_email_provider"


@dataclass(frozen=True)
class ProofSent:
    """Where a test message went."""

    to: str
    via: str  # "SMTP server host:port"
    message_id: str


def send_test(
    *,
    session: Session,
    settings: Settings,
    account_id: int,
    template_id: uuid.UUID,
    to: str,
    data: RenderRequest,
    base_url: str,
    draft: dict[str, Any] | None = None,
    role: Role | str = CREDENTIAL_ROLE,
) -> ProofSent:
    """Render the template (or ``draft``) for the contact of ``data`` and send it to ``to``.

    Raises ValidationFailed for a bad address, a non-email template or a template that does not
    render; NoEmailProvider when no SMTP server is configured; ServiceUnavailable when the
    server refuses or cannot be reached (its reason in the message).
    """
    require(role, Action.manage_campaigns)
    try:
        address = normalise_email(to.strip())
    except ValueError as exc:
        raise InvalidValue("to", str(exc)) from None
    template = templates.get_template(
        session=session, account_id=account_id, template_id=template_id
    )
    if template.channel != "email":
        raise ValidationFailed(
            f"Test sends are for email templates; this one is {template.channel}",
            details={"field": "to"},
        )
    real, where = describe("email", settings)
    if not real:
        raise NoEmailProvider(
            "No email provider is configured, so a test cannot be sent: set BEACON_SMTP_URL "
            f"to an SMTP server (until then campaign {where})."
        )
    # Rendered as the proof is (the same checks, for the same contact), then built as the
    # pipeline builds a message, addressed to ``address``.
    proof = templates.render_proof(
        session=session,
        account_id=account_id,
        template_id=template_id,
        data=data,
        base_url=base_url,
        draft=draft,
    )
    content = template.content if draft is None else templates.validate_content("email", draft)
    composer = Composer(
        channel="email",
        content=content,
        execution_id=uuid.uuid4(),
        base_url=base_url,
        now=utcnow(),
    )
    if data.contact_id is not None:
        stored = contacts.get_contact(
            session=session, account_id=account_id, contact_id=data.contact_id
        )
        wire = contacts.contact_out(stored).model_dump(mode="json", by_alias=True)
    else:
        assert data.contact is not None
        wire = data.contact.model_dump(mode="json", by_alias=True)
    messages, failures = composer.compose_chunk([_contact_row(data, wire, address)])
    if failures or proof.rendered is None:
        raise ValidationFailed(f"Template does not render: {failures[0][1] if failures else ''}")
    return _deliver(settings, messages[0], where)


def _contact_row(data: RenderRequest, contact: dict[str, Any], address: str) -> RecipientRow:
    """The contact as the pipeline reads a recipient, addressed to ``address``."""
    return RecipientRow(
        id=0,
        stage="composed",
        contact_id=data.contact_id or uuid.UUID(int=0),
        external_id=contact.get("externalId"),
        email=address,
        phone=contact.get("phone"),
        first_name=contact.get("firstName"),
        last_name=contact.get("lastName"),
        address_json=_json_text(contact.get("address")),
        attributes_json=_json_text(contact.get("attributes")),
        status="subscribed",
        unsubscribe_token=templates.PREVIEW_UNSUBSCRIBE_TOKEN,
    )


def _json_text(document: Any) -> str | None:
    return None if document is None else json.dumps(document)


def _deliver(settings: Settings, message: OutgoingMessage, where: str) -> ProofSent:
    async def hand_over() -> list[Any]:
        provider = open_provider("email", settings)
        try:
            return await provider.send([message], execution_id=uuid.uuid4())
        finally:
            await provider.aclose()

    try:
        [delivery] = asyncio.run(hand_over())
    except ValueError as exc:  # a malformed BEACON_SMTP_URL
        raise ServiceUnavailable(f"The email provider is misconfigured: {exc}") from None
    if delivery.outcome is not Outcome.SENT:
        reason = delivery.reason or delivery.outcome.value
        raise ServiceUnavailable(f"The {where} did not take the test message: {reason}")
    return ProofSent(to=message.to, via=where, message_id=message.message_id)
