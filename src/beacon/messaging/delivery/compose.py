"""The hydrate and compose stages for one recipient: what a channel needs from a contact, and
the message built from the rendered template (MIME for email, text for SMS, a print document
for direct mail).

An email's MIME bytes are built in the render process that rendered it (``templates.mime``),
so the worker's thread, which also drives the SMTP connections, does not spend its time on
them.
"""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from beacon.messaging.audiences.repository import REQUIRED_ADDRESS_KEYS
from beacon.messaging.providers import OutgoingMessage
from beacon.messaging.templates import render_pool
from beacon.messaging.templates.mime import Envelope, header, message_id, smtp_address
from beacon.messaging.templates.rendering import RenderError, RenderLimitExceeded
from beacon.messaging.templates.service import unsubscribe_url

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
ADDRESS_KEYS = ("line1", "line2", "city", "region", "postalCode", "country")


@dataclass(slots=True)
class RecipientRow:
    """A recipient row joined with its contact, as the pipeline reads it."""

    id: int
    stage: str
    contact_id: uuid.UUID
    external_id: str | None
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    # the contact's JSON documents as stored text: an email or SMS never needs them decoded
    # in the worker (the render process decodes them), only a letter's address does
    address_json: str | None
    attributes_json: str | None
    status: str  # the contact's subscription status on the campaign's channel
    unsubscribe_token: str

    def address(self) -> dict[str, Any]:
        """The postal address, decoded ({} when there is none)."""
        address = json.loads(self.address_json) if self.address_json else None
        return address if isinstance(address, dict) else {}


def status_problem(channel: str, status: str) -> str | None:
    """Why a contact whose subscription on ``channel`` is ``status`` takes no message there
    (unsubscribed, bounced), or None."""
    if status != "subscribed":
        return f"contact is {status} for {channel}"
    return None


def subscription_problem(channel: str, row: RecipientRow) -> str | None:
    """Why the contact no longer takes messages on ``channel`` (as the row was loaded), or
    None: checked at hydrate and again before anything a crash left half done is sent (and
    once more, as committed then, when a chunk is handed over: ``handover``)."""
    return status_problem(channel, row.status)


def hydrate_problem(channel: str, row: RecipientRow) -> str | None:
    """Why the contact cannot receive on ``channel`` now, or None."""
    if (unsubscribed := subscription_problem(channel, row)) is not None:
        return unsubscribed
    if channel == "email" and not row.email:
        return "contact has no email address"
    if channel == "sms" and not (row.phone and E164.match(row.phone)):
        return "contact has no E.164 phone number"
    if channel == "direct_mail":
        address = row.address()
        missing = [k for k in REQUIRED_ADDRESS_KEYS if not str(address.get(k) or "").strip()]
        if missing:
            return f"postal address lacks {', '.join(missing)}"
    return None


def _wire(row: RecipientRow) -> dict[str, Any]:
    return {
        "id": str(row.contact_id),
        "externalId": row.external_id,
        "email": row.email,
        "phone": row.phone,
        "firstName": row.first_name,
        "lastName": row.last_name,
        "address": row.address_json,  # decoded by the render process (contact_context)
        "attributes": row.attributes_json,
    }


# where a letter written as a whole document gets its address block: after the body's start
# tag, else after the head (a body's tags may be left out), else after the html start tag
_ADDRESS_AFTER = (
    re.compile(r"<body\b[^>]*>", re.IGNORECASE),
    re.compile(r"</head\s*>", re.IGNORECASE),
    re.compile(r"<html\b[^>]*>", re.IGNORECASE),
)


def _letter(address_block: str, body: str, recipient_id: int, *, own_block: bool) -> str:
    """The print document: a fragment is wrapped in a page that starts with the address
    block; a whole document gets the template's own ``addressBlock`` (``own_block``) after
    its body's start tag (without one, it lays the address out itself)."""
    lines = "<br>".join(html.escape(line) for line in address_block.splitlines() if line.strip())
    if body.lstrip()[:14].lower().startswith(("<!doctype", "<html")):
        if not own_block:
            return body
        for tag in _ADDRESS_AFTER:
            if found := tag.search(body):
                at = found.end()
                return f'{body[:at]}<address class="recipient">{lines}</address>\n{body[at:]}'
        return body
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>Letter {recipient_id}</title></head>\n"
        f'<body><address class="recipient">{lines}</address>\n{body}\n</body></html>\n'
    )


class Composer:
    """Renders one execution's template for its recipients, a chunk per call to a render
    process (which compiles the template once and keeps it), and builds each message."""

    def __init__(
        self,
        *,
        channel: str,
        content: Mapping[str, Any],
        execution_id: uuid.UUID,
        base_url: str,
        now: datetime,
    ) -> None:
        self.channel = channel
        self.content = dict(content)
        self.pool = render_pool.shared()  # after a shutdown, calls fail instead of respawning
        self.execution_id = execution_id
        self.base_url = base_url
        self.date = format_datetime(now)
        # an internationalised domain in its ASCII form: the envelope, From and Message-ID
        # take it as is (raw, formataddr refused it and every message failed to build)
        sender = smtp_address(str(content.get("fromAddress") or ""))
        self.sender = sender
        self.domain = sender.rpartition("@")[2] or "beacon.invalid"
        reply_to = content.get("replyTo")
        self.reply_to = header(smtp_address(str(reply_to))) if reply_to else None
        self.tag = execution_id.hex[:12]
        self.broken: str | None = None  # set once the template went past a limit

    def compose_chunk(
        self, rows: Sequence[RecipientRow]
    ) -> tuple[list[OutgoingMessage], list[tuple[RecipientRow, str]]]:
        """The messages of the rows the template renders for, and (row, reason) for the rest.

        Blocks while a render process works (run it in a thread). Once the template went past
        a time or memory limit, the rest of the batch fails with that reason without another
        render: a template that exhausts a process for one contact is not tried on thousands.
        """
        if self.broken is not None:
            return [], [(row, self.broken) for row in rows]
        links = [unsubscribe_url(self.base_url, row.unsubscribe_token) for row in rows]
        email = self.channel == "email"
        items = [
            (_wire(row), link if email else None) for row, link in zip(rows, links, strict=True)
        ]
        envelope = self._envelope(rows) if email else None
        try:
            results = self.pool.render(
                channel=self.channel,
                content=self.content,
                items=items,
                wait=True,
                envelope=envelope,
            )
        except RenderError as exc:
            return [], [(row, f"render error: {exc}") for row in rows]
        messages: list[OutgoingMessage] = []
        failures: list[tuple[RecipientRow, str]] = []
        for row, result in zip(rows, results, strict=True):
            if isinstance(result, RenderError):
                failures.append((row, f"render error: {result}"))
                if isinstance(result, RenderLimitExceeded) and self.broken is None:
                    self.broken = f"render error: {result}"
            else:
                messages.append(self._message(row, result))
        return messages, failures

    def _envelope(self, rows: Sequence[RecipientRow]) -> Envelope:
        return Envelope(
            sender=self.sender,
            domain=self.domain,
            date=self.date,
            execution_tag=self.tag,
            reply_to=self.reply_to,
            recipient_ids=tuple(row.id for row in rows),
        )

    def _message(self, row: RecipientRow, result: render_pool.Rendered | bytes) -> OutgoingMessage:
        if isinstance(result, bytes):  # an email, built by the render process
            assert row.email is not None
            mid = message_id(row.id, self.tag, self.domain)
            to = smtp_address(row.email)
            return OutgoingMessage(row.id, row.contact_id, to, result, self.sender, mid)
        if self.channel == "sms":
            assert row.phone is not None
            body = (result.get("body") or "").encode()
            return OutgoingMessage(row.id, row.contact_id, row.phone, body)
        return self._direct_mail(row, result)

    def _direct_mail(self, row: RecipientRow, parts: Mapping[str, str | None]) -> OutgoingMessage:
        stored = row.address()
        address = {k: str(stored.get(k) or "") for k in ADDRESS_KEYS}
        name = " ".join(p for p in (row.first_name, row.last_name) if p)
        block = own = parts.get("addressBlock")
        if not block:
            city_line = " ".join(p for p in (address["postalCode"], address["city"]) if p)
            lines = (name, address["line1"], address["line2"], city_line, address["region"])
            block = "\n".join(p for p in (*lines, address["country"]) if p)
        document = _letter(block, parts.get("html") or "", row.id, own_block=bool(own))
        one_line = ", ".join(p for p in block.splitlines() if p.strip())
        manifest = {"name": name} | {
            "postal_code" if k == "postalCode" else k: v for k, v in address.items()
        }
        return OutgoingMessage(
            row.id, row.contact_id, one_line, document.encode(), manifest=manifest
        )
