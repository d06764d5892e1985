"""What reaches a real SMTP server (aiosmtpd) from the provider: the greeting before MAIL on
every kind of connection, and each message's bytes exactly, whether it goes to the wire as
built (CRLF throughout, no line starting with a dot) or through aiosmtplib's rewriting."""

from __future__ import annotations

import asyncio
import ssl
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from pydantic import SecretStr
from tests.support import free_port

from beacon.core.config import Settings
from beacon.core.smtp import SmtpConfig
from beacon.messaging.providers import Outcome, OutgoingMessage, RateLimiter
from beacon.messaging.providers.email import SmtpProvider
from beacon.people import mail


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
            SmtpConfig.from_url(url), concurrency=1, timeout=30.0, limiter=RateLimiter(0)
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


class _Logins:
    """Accepts any login offered in clear text and remembers who logged in."""

    def __init__(self) -> None:
        self.logins: list[bytes] = []

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append(data.login)
        return AuthResult(success=True)


@pytest.fixture
def plaintext_auth_server() -> Any:
    """An SMTP server that offers AUTH without STARTTLS, as one whose STARTTLS a man in the
    middle stripped would look."""
    handler, logins = _Raw(), _Logins()
    port = free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, authenticator=logins, auth_require_tls=False
    )
    controller.start()
    try:
        yield handler, logins, f"smtp://beacon:s3cret@127.0.0.1:{port}"
    finally:
        controller.stop()


def test_credentials_are_not_sent_without_encryption(plaintext_auth_server: Any) -> None:
    # without starttls=true, connect() logged in over the plain connection when the server
    # offered no STARTTLS: the password went out in clear text
    handler, logins, url = plaintext_auth_server
    for refused_url in (url, url + "?starttls=false"):
        [answer] = _send(refused_url, [b"Subject: hi\r\n\r\nhello\r\n"])
        assert answer.outcome is Outcome.UNREACHABLE
        assert answer.reason is not None and "plaintext_login=true" in answer.reason
    assert logins.logins == [] and handler.contents == []
    [allowed] = _send(url + "?plaintext_login=true", [b"Subject: hi\r\n\r\nhello\r\n"])
    assert allowed.outcome is Outcome.SENT
    assert logins.logins == [b"beacon"] and len(handler.contents) == 1


def test_invitations_do_not_send_credentials_without_encryption(
    plaintext_auth_server: Any,
) -> None:
    handler, logins, url = plaintext_auth_server
    message = mail.invitation_message(
        settings=Settings(),
        to="new@example.com",
        link="https://b.test/i/x",
        account_name="acme",
        inviter="Ann",
        role="editor",
    )
    with pytest.raises(mail.MailFailed, match="plaintext_login=true"):
        mail.send(settings=Settings(smtp_url=SecretStr(url)), message=message)
    assert logins.logins == [] and handler.contents == []
    mail.send(settings=Settings(smtp_url=SecretStr(url + "?plaintext_login=true")), message=message)
    assert logins.logins == [b"beacon"] and len(handler.contents) == 1


def test_credentials_go_over_starttls_when_the_server_offers_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    certificates = Path(__file__).parent / "tls"  # a self-signed pair made for these tests
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates / "cert.pem"))
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(certificates / "cert.pem", certificates / "key.pem")
    handler, logins = _Raw(), _Logins()
    port = free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, authenticator=logins, tls_context=tls
    )  # AUTH is offered only after STARTTLS (aiosmtpd's default)
    controller.start()
    try:
        url = f"smtp://beacon:s3cret@127.0.0.1:{port}"
        [answer] = _send(url, [b"Subject: hi\r\n\r\nhello\r\n"])
        assert answer.outcome is Outcome.SENT, answer.reason
        message = mail.invitation_message(
            settings=Settings(),
            to="new@example.com",
            link="https://b.test/i/x",
            account_name="acme",
            inviter="Ann",
            role="editor",
        )
        mail.send(settings=Settings(smtp_url=SecretStr(url)), message=message)
    finally:
        controller.stop()
    assert logins.logins == [b"beacon", b"beacon"] and len(handler.contents) == 2
