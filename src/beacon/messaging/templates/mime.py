"""An email's wire form, built from its rendered parts.

It runs where the parts are rendered, in the render processes (``render_pool``): a send gets
each message's bytes from there and the worker's own thread, which also drives every SMTP
connection, only hands them over. Built directly rather than through ``email.message``: at
campaign volumes the stdlib builder costs milliseconds per message. The body parts are
quoted-printable, which never contains ``=_``, so the boundary cannot clash.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr

import idna


@dataclass(frozen=True, slots=True)
class Envelope:
    """What every message of one send request shares, and each one's recipient row id (the
    Message-ID and the boundary are made from it), in the order of the request's items."""

    sender: str
    domain: str
    date: str
    execution_tag: str
    reply_to: str | None
    recipient_ids: tuple[int, ...]


def message_id(recipient_id: int, execution_tag: str, domain: str) -> str:
    """The Message-ID (without brackets) of a recipient's message."""
    return f"{recipient_id}.{execution_tag}@{domain}"


def smtp_address(address: str) -> str:
    """``address`` as it goes on the wire: an internationalised domain in its ASCII (IDNA)
    form, which every SMTP server takes; a non-ASCII local part stays as it is (it needs
    SMTPUTF8, which the provider then declares)."""
    if address.isascii():
        return address
    local, _, domain = address.rpartition("@")
    if not local.isascii() or not domain:
        return address
    try:
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except idna.IDNAError:
        return address


def one_line(value: str | None) -> str:
    """``value`` on one line: rendered values may carry line breaks, which must never start
    a new header."""
    return " ".join((value or "").splitlines()).strip()


def header(value: str | None) -> str:
    """A header value, RFC 2047-encoded when it is not short ASCII."""
    text = one_line(value)
    if text.isascii() and len(text) < 900:
        return text
    return Header(text, "utf-8", maxlinelen=76).encode().replace("\n", "\r\n")


def from_header(name: str | None, sender: str) -> str:
    """The From header's value: the sender, after its name when there is one. A name that is
    not short ASCII is encoded on its own, in folded words, and the address left readable
    (encoding the whole ``Name <address>`` hid the address inside the words)."""
    text = one_line(name)
    plain = formataddr((text, sender))
    if text.isascii() and len(plain) < 900:
        return plain
    return f"{Header(text, 'utf-8', maxlinelen=76).encode()} <{sender}>".replace("\n", "\r\n")


def _qp_part(text: str, subtype: str) -> tuple[list[str], bytes]:
    """The headers and quoted-printable body of one text part."""
    data = text.replace("\r\n", "\n").replace("\r", "\n").encode()
    encoded = binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")
    headers = [
        f'Content-Type: text/{subtype}; charset="utf-8"',
        "Content-Transfer-Encoding: quoted-printable",
    ]
    return headers, encoded


def _part(text: str, subtype: str) -> bytes:
    headers, encoded = _qp_part(text, subtype)
    return "\r\n".join(headers).encode() + b"\r\n\r\n" + encoded


class EmailBuilder:
    """Builds the messages of one envelope (a chunk of a send)."""

    def __init__(self, envelope: Envelope) -> None:
        self.envelope = envelope
        self._from: tuple[str | None, str] | None = None  # the last From line, reused

    def build(
        self, parts: Mapping[str, str | None], *, recipient_id: int, to: str, link: str
    ) -> bytes:
        """The whole message: headers and a text, HTML or multipart/alternative body."""
        envelope = self.envelope
        name = parts.get("fromName")
        if self._from is None or self._from[0] != name:  # usually the same for every contact
            self._from = (name, from_header(name, envelope.sender))
        headers = [
            f"From: {self._from[1]}",
            f"To: {smtp_address(to)}",
            f"Subject: {header(parts.get('subject'))}",
            f"Date: {envelope.date}",
            f"Message-ID: <{message_id(recipient_id, envelope.execution_tag, envelope.domain)}>",
            "MIME-Version: 1.0",
            f"List-Unsubscribe: <{link}>",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        ]
        if envelope.reply_to:
            headers.append(f"Reply-To: {envelope.reply_to}")
        text, markup = parts.get("text"), parts.get("html")
        if text and markup:
            boundary = f"=_beacon_{recipient_id}"
            headers.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
            body = (
                f"--{boundary}\r\n".encode()
                + _part(text, "plain")
                + f"\r\n--{boundary}\r\n".encode()
                + _part(markup, "html")
                + f"\r\n--{boundary}--\r\n".encode()
            )
        else:
            part_headers, body = (
                _qp_part(markup, "html") if markup else _qp_part(text or "", "plain")
            )
            headers += part_headers
        return "\r\n".join(headers).encode() + b"\r\n\r\n" + body
