"""What reaches a real SMTP server (aiosmtpd) from the provider: the greeting before MAIL on
every kind of connection, and each message's bytes exactly, whether it goes to the wire as
built (CRLF throughout, no line starting with a dot) or through aiosmtplib's rewriting."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from tests.support import free_port

from beacon.messaging.providers import Outcome, OutgoingMessage, RateLimiter
from beacon.messaging.providers.email import SmtpConfig, SmtpProvider


class _Raw:
    """Keeps each message's content as the server decoded it (dots un-stuffed)."""

    def __init__(self) -> None:
        self.contents: list[bytes] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.original_content, bytes)
        self.contents.append(envelope.original_content)
        return "250 2.0.0 accepted"


def _send(url: str, bodies: list[bytes]) -> list[Any]:
    async def run() -> list[Any]:
        provider = SmtpProvider(
            SmtpConfig.from_url(url), concurrency=1, timeout=5.0, limiter=RateLimiter(0)
        )
        messages = [
            OutgoingMessage(
                i, uuid.uuid4(), f"p{i}@example.com", body, "news@acme.example", f"m{i}"
            )
            for i, body in enumerate(bodies)
        ]
        try:
            return await provider.send(messages, execution_id=uuid.uuid4())
        finally:
            await provider.aclose()

    return asyncio.run(run())


@pytest.fixture
def raw_server() -> Any:
    handler = _Raw()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()


def test_a_connection_without_starttls_greets_before_mail(raw_server: Any) -> None:
    # connect() says EHLO only on its way to STARTTLS or a login; aiosmtpd answers MAIL
    # without a greeting with 503
    handler, url = raw_server
    answers = _send(url + "?starttls=false", [b"Subject: hi\r\n\r\nhello\r\n"])
    assert [a.outcome for a in answers] == [Outcome.SENT]
    assert handler.contents == [b"Subject: hi\r\n\r\nhello\r\n"]


@pytest.mark.parametrize(
    ("body", "received"),
    [
        # as built by templates.mime: sent as it is
        (b"Subject: a\r\n\r\nline one\r\nline two\r\n", None),
        # a line starting with a dot: doubled on the wire, single again at the server
        (b"Subject: b\r\n\r\n.hidden\r\n..two\r\n", None),
        (b".starts\r\n\r\nbody\r\n", None),
        # a line that is only a dot would end DATA early unless doubled
        (b"Subject: c\r\n\r\nbefore\r\n.\r\nafter\r\n", None),
        # bare LF, bare CR and no final line ending: rewritten to CRLF
        (b"Subject: d\n\nunix\nlines", b"Subject: d\r\n\r\nunix\r\nlines\r\n"),
        (b"Subject: e\r\n\r\nold\rmac\r\n", b"Subject: e\r\n\r\nold\r\nmac\r\n"),
    ],
)
def test_every_message_arrives_byte_for_byte(
    raw_server: Any, body: bytes, received: bytes | None
) -> None:
    handler, url = raw_server
    answers = _send(url, [body, b"Subject: next\r\n\r\nthe connection is still in step\r\n"])
    assert [a.outcome for a in answers] == [Outcome.SENT, Outcome.SENT]
    assert handler.contents == [
        received if received is not None else body,
        b"Subject: next\r\n\r\nthe connection is still in step\r\n",
    ]
