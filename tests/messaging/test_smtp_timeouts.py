"""SMTP commands are timed by the provider (a deadline per connection, checked by one
watchdog task, not aiosmtplib's timer per reply): a server that goes silent before DATA gives a
retryable answer on a dropped connection; one that goes silent after the message's body leaves
its outcome unknown; a connection idle between messages is not a silent one."""

from __future__ import annotations

import asyncio
import ssl
import time
import uuid
from pathlib import Path
from typing import ClassVar

import pytest

from beacon.core.smtp import SmtpConfig
from beacon.messaging.providers import Delivery, Outcome, OutgoingMessage, RateLimiter
from beacon.messaging.providers.email import SmtpProvider


class _Silent(asyncio.Protocol):
    """Answers like a server until a line starts with ``stall``; then says nothing."""

    connections = 0
    transports: ClassVar[list[asyncio.Transport]] = []

    def __init__(self, stall: bytes) -> None:
        self.stall, self.buffer, self.in_data, self.silent = stall, b"", False, False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        _Silent.connections += 1
        _Silent.transports.append(transport)
        self.transport = transport
        transport.write(b"220 test ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while not self.silent:
            end = self.buffer.find(b"\r\n.\r\n" if self.in_data else b"\r\n")
            if end < 0:
                return
            line, self.buffer = self.buffer[:end], self.buffer[end + (5 if self.in_data else 2) :]
            if line.upper().startswith(self.stall) or (self.in_data and self.stall == b"."):
                self.silent = True
                self.transport.pause_reading()  # a hung server reads nothing, not even TLS's goodbye
                return
            if self.in_data:
                self.in_data = False
                self.transport.write(b"250 queued\r\n")
            elif line[:4].upper() in (b"EHLO", b"HELO"):
                self.transport.write(b"250-test\r\n250 8BITMIME\r\n")
            elif line[:4].upper() == b"DATA":
                self.in_data = True
                self.buffer = b"\r\n" + self.buffer
                self.transport.write(b"354 go on\r\n")
            else:
                self.transport.write(b"250 ok\r\n")


async def _send_to_silent(
    stall: bytes, *, messages: int = 1, rate: float = 0, tls: ssl.SSLContext | None = None
) -> tuple[list[Delivery], float]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Silent(stall), "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    provider = SmtpProvider(
        SmtpConfig(hostname="127.0.0.1", port=port, use_tls=tls is not None, start_tls=False),
        concurrency=1,
        timeout=0.3,
        limiter=RateLimiter(rate),
    )
    batch = [
        OutgoingMessage(
            i, uuid.uuid4(), "p@example.com", b"Subject: hi\r\n\r\nhello\r\n", "n@acme.example", "m"
        )
        for i in range(messages)
    ]
    _Silent.connections = 0
    started = time.monotonic()
    try:
        answers = await provider.send(batch, execution_id=uuid.uuid4())
    finally:
        await provider.aclose()
        server.close()
        while _Silent.transports:  # a paused one would never see the client go
            _Silent.transports.pop().abort()
    return answers, time.monotonic() - started


def test_a_server_silent_before_data_gives_a_retryable_answer() -> None:
    [answer], seconds = asyncio.run(_send_to_silent(b"MAIL"))
    assert answer.outcome is Outcome.TRANSIENT  # nothing was handed over: safe to send again
    assert answer.reason == "connection lost: no reply from the SMTP server within 0.3 s"
    assert _Silent.connections == 2  # the second try on a fresh connection
    assert seconds < 3  # two tries, each given up on within 1.25 x 0.3 s


def test_a_server_silent_after_the_body_leaves_the_outcome_unknown() -> None:
    [answer], seconds = asyncio.run(_send_to_silent(b"."))
    assert answer.outcome is Outcome.UNKNOWN
    assert "no reply from the SMTP server within 0.3 s" in str(answer.reason)
    assert seconds < 3  # DATA's two replies share twice the timeout


def test_a_connection_idle_between_messages_is_kept() -> None:
    # two sends a second apart, with a 0.3 s timeout: the wait is no command in flight
    answers, seconds = asyncio.run(_send_to_silent(b"NEVER", messages=3, rate=2))
    assert [a.outcome for a in answers] == [Outcome.SENT] * 3
    assert _Silent.connections == 1
    assert seconds >= 0.9


def test_a_silent_server_over_tls_is_given_up_on_as_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    # closing a TLS connection waits up to 30 s for the server's close_notify: the watchdog
    # aborts it instead, so the command fails within the timeout here too
    certificates = Path(__file__).parent / "tls"  # a self-signed pair made for these tests
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates / "cert.pem"))
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(certificates / "cert.pem", certificates / "key.pem")
    [answer], seconds = asyncio.run(_send_to_silent(b"MAIL", tls=tls))
    assert answer.outcome is Outcome.TRANSIENT
    assert answer.reason == "connection lost: no reply from the SMTP server within 0.3 s"
    assert seconds < 3
