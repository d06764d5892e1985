"""SMTP commands are timed by the provider (one ``asyncio.timeout`` per command, not
aiosmtplib's per reply): a server that goes silent before DATA gives a retryable answer on a
dropped connection; one that goes silent after the message's body leaves its outcome unknown."""

from __future__ import annotations

import asyncio
import time
import uuid

from beacon.messaging.providers import Outcome, OutgoingMessage, RateLimiter
from beacon.messaging.providers.email import SmtpConfig, SmtpProvider


class _Silent(asyncio.Protocol):
    """Answers like a server until a line starts with ``stall``; then says nothing."""

    def __init__(self, stall: bytes) -> None:
        self.stall, self.buffer, self.in_data, self.silent = stall, b"", False, False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
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


async def _send_to_silent(stall: bytes) -> tuple[Outcome, float]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Silent(stall), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    provider = SmtpProvider(
        SmtpConfig(hostname="127.0.0.1", port=port, start_tls=False),
        concurrency=1,
        timeout=0.3,
        limiter=RateLimiter(0),
    )
    message = OutgoingMessage(
        1, uuid.uuid4(), "p@example.com", b"Subject: hi\r\n\r\nhello\r\n", "news@acme.example", "m1"
    )
    started = time.monotonic()
    try:
        [answer] = await provider.send([message], execution_id=uuid.uuid4())
    finally:
        await provider.aclose()
        server.close()
    return answer.outcome, time.monotonic() - started


def test_a_server_silent_before_data_gives_a_retryable_answer() -> None:
    outcome, seconds = asyncio.run(_send_to_silent(b"MAIL"))
    assert outcome is Outcome.TRANSIENT  # nothing was handed over: safe to send again
    assert seconds < 3  # two tries (the second on a fresh connection), 0.3 s each


def test_a_server_silent_after_the_body_leaves_the_outcome_unknown() -> None:
    outcome, seconds = asyncio.run(_send_to_silent(b"."))
    assert outcome is Outcome.UNKNOWN
    assert seconds < 3  # DATA's two replies share twice the timeout
