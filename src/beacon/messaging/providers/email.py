"""Email over SMTP with aiosmtplib: a few reused connections, each message as MAIL/RCPT/DATA.

Replies map to outcomes: 2xx accepted; 4xx transient (retried); 5xx permanent, and a 5xx to
RCPT that refuses the address itself also marks it bounced (``refuses_address``). A connection lost before DATA is retried on a fresh
connection (nothing was handed over); one lost during DATA leaves the outcome unknown.

Commands are timed by a deadline per connection (DATA's two replies share twice the
timeout), set when a command starts and checked by one watchdog task a few times per timeout:
a connection whose command is past its deadline is closed, and the command then fails as on a
lost connection, with the same outcome. aiosmtplib's ``wait_for`` around every reply, or an
``asyncio.timeout`` per command, costs a timer handle (created, pushed on the loop's heap,
cancelled) each: three or four per message, a sixth of the worker's CPU at campaign rates. A
deadline is a float stored.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
import uuid
from collections.abc import Sequence

import aiosmtplib

from beacon.core.smtp import SmtpConfig
from beacon.messaging.providers import (
    Delivery,
    Handover,
    Outcome,
    OutgoingMessage,
    RateLimiter,
)

log = logging.getLogger("beacon.messaging.email")

_CONNECTION_ERRORS = (
    aiosmtplib.SMTPServerDisconnected,
    aiosmtplib.SMTPTimeoutError,
    ConnectionError,
    OSError,
)


class PlaintextLoginRefused(aiosmtplib.SMTPException):
    """The connection is not encrypted and the operator did not allow a login on it."""


async def _mail_from(smtp: aiosmtplib.SMTP, sender: str, *, utf8: bool = False) -> None:
    # aiosmtplib's mail() re-parses the address with email.utils on every message; addresses
    # here were validated when stored, so plain ASCII ones go straight to the wire (timed by
    # the caller: no timeout of aiosmtplib's own). ``utf8``: the recipient's address is not
    # ASCII, which a server takes only in a transaction that declared SMTPUTF8 (RFC 6531)
    if utf8 or not sender.isascii():
        await smtp.mail(sender, encoding="utf-8", options=["SMTPUTF8"], timeout=None)
        return
    response = await smtp.execute_command(b"MAIL", b"FROM:<" + sender.encode() + b">", timeout=None)
    if response.code != 250:
        raise aiosmtplib.SMTPSenderRefused(response.code, response.message, sender)


async def _send_data(smtp: aiosmtplib.SMTP, message: bytes) -> None:
    # aiosmtplib's data() rewrites every message with two regular expressions (line endings to
    # CRLF, a dot doubled at the start of a line). Messages built by templates.mime are CRLF
    # throughout, and most have no line starting with a dot: those are checked by byte counts
    # and searches (C loops, no copies) and go to the wire as they are. The rest take data().
    protocol = smtp.protocol
    if (
        protocol is None
        or not message.endswith(b"\r\n")
        or message.startswith(b".")
        or b"\n." in message
        or message.count(b"\n") != message.count(b"\r\n")
        or message.count(b"\r") != message.count(b"\r\n")
    ):
        await smtp.data(message, timeout=None)
        return
    start = await smtp.execute_command(b"DATA", timeout=None)
    if start.code != 354:
        raise aiosmtplib.SMTPDataError(start.code, start.message)
    try:
        protocol.write(message + b".\r\n")
        response = await protocol.read_response(timeout=None)
    except aiosmtplib.SMTPServerDisconnected:
        smtp.close()
        raise
    if response.code != 250:
        raise aiosmtplib.SMTPDataError(response.code, response.message)


async def _rcpt_to(smtp: aiosmtplib.SMTP, recipient: str) -> None:
    if not recipient.isascii():
        await smtp.rcpt(recipient, encoding="utf-8", timeout=None)
        return
    response = await smtp.execute_command(
        b"RCPT", b"TO:<" + recipient.encode() + b">", timeout=None
    )
    if response.code not in (250, 251):
        raise aiosmtplib.SMTPRecipientRefused(response.code, response.message, recipient)


_ENHANCED_STATUS = re.compile(r"^\s*5\.(\d{1,3})\.(\d{1,3})\b")
# RFC 3463 codes of a 5xx to RCPT that are not about the recipient's address: security and
# policy (5.7.x: relay denied, authentication required, DMARC), the receiving system (5.3.x),
# the message's content (5.6.x, such as SMTPUTF8 required), the protocol (5.5.x but 5.5.0,
# which Outlook.com answers for a mailbox that does not exist), a full mailbox or a message
# too long (5.2.2, 5.2.3), the sender's address (5.1.7, 5.1.8). A relay that refuses every
# recipient so must not bounce the whole list; the other codes (5.1.1 no such user, 5.2.1
# disabled, 5.4.1 as Microsoft 365 refuses an unknown recipient, ...) bounce.
_NOT_THE_ADDRESS = ("7", "3", "6")
_NOT_THE_ADDRESS_DETAILS = {("2", "2"), ("2", "3"), ("1", "7"), ("1", "8")}
# without an enhanced code: mailbox unavailable, user not local, mailbox name not allowed
_ADDRESS_REPLY_CODES = (550, 551, 553)


def refuses_address(code: int, message: str) -> bool:
    """Whether a 5xx reply to RCPT refuses the recipient's address itself (a bounce)."""
    if not 500 <= code < 600:
        return False
    enhanced = _ENHANCED_STATUS.match(message)
    if enhanced is None:
        return code in _ADDRESS_REPLY_CODES
    subject, detail = enhanced.groups()
    if subject in _NOT_THE_ADDRESS or (subject, detail) in _NOT_THE_ADDRESS_DETAILS:
        return False
    return subject != "5" or detail == "0"


def _refusal(exc: aiosmtplib.SMTPResponseException, step: str, *, bounce: bool) -> Delivery:
    reason = f"SMTP {exc.code} at {step}: {exc.message}".strip()
    if 400 <= exc.code < 500:
        return Delivery(Outcome.TRANSIENT, reason=reason)
    return Delivery(
        Outcome.PERMANENT, reason=reason, bounce=bounce and refuses_address(exc.code, exc.message)
    )


class SmtpProvider:
    """Sends through ``concurrency`` SMTP connections kept open for the provider's lifetime
    (one batch), each carrying one message at a time."""

    channel = "email"
    recoverable = False

    def __init__(
        self, config: SmtpConfig, *, concurrency: int, timeout: float, limiter: RateLimiter
    ) -> None:
        self.config = config
        self.timeout = timeout
        self.limiter = limiter
        self._slots: list[aiosmtplib.SMTP | None] = [None] * concurrency
        # connections free to take the next message; several chunks may be sending at once
        self._free: asyncio.Queue[int] = asyncio.Queue()
        for slot in range(concurrency):
            self._free.put_nowait(slot)
        # set when a connection cannot be opened: the rest of the chunk is not tried again
        self._down: str | None = None
        # when each connection's command in flight times out (inf: none in flight)
        self._deadlines = [math.inf] * concurrency
        self._expired: set[int] = set()  # connections the watchdog closed
        self._watchdog: asyncio.Task[None] | None = None

    async def send(
        self,
        messages: Sequence[OutgoingMessage],
        *,
        execution_id: uuid.UUID,
        handover: Handover | None = None,
    ) -> list[Delivery]:
        """Send every message; each free connection takes the next one until none is left."""
        results: list[Delivery | None] = [None] * len(messages)
        cursor = iter(range(len(messages)))
        self._down = None
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.create_task(self._watch())

        async def lane() -> None:
            # several chunks may be sending at once: a lane holds one connection while it works
            slot = await self._free.get()
            try:
                for index in cursor:
                    if self._down is not None:
                        results[index] = Delivery(Outcome.UNREACHABLE, reason=self._down)
                        continue
                    await self.limiter.acquire()
                    results[index] = await self._send_one(slot, messages[index], handover)
            finally:
                self._free.put_nowait(slot)

        await asyncio.gather(*(lane() for _ in range(min(len(self._slots), len(messages)))))
        return [r if r is not None else Delivery(Outcome.UNREACHABLE) for r in results]

    async def confirmed(
        self, *, execution_id: uuid.UUID, recipient_ids: Sequence[int]
    ) -> dict[int, str] | None:
        """SMTP cannot tell afterwards whether a message was accepted."""
        return None

    async def aclose(self) -> None:
        """QUIT every open connection."""
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None and not watchdog.done():
            watchdog.cancel()
            await asyncio.gather(watchdog, return_exceptions=True)
        for slot, smtp in enumerate(self._slots):
            self._slots[slot] = None
            if smtp is not None and smtp.is_connected:
                try:
                    await smtp.quit()
                except aiosmtplib.SMTPException:
                    smtp.close()

    async def _connection(self, slot: int) -> aiosmtplib.SMTP:
        smtp = self._slots[slot]
        if smtp is not None and smtp.is_connected:
            return smtp
        config = self.config
        # no credentials for connect(): it would log in even where STARTTLS was not offered
        # (a man in the middle strips it); the login below happens only on an encrypted one
        smtp = aiosmtplib.SMTP(
            hostname=config.hostname,
            port=config.port,
            use_tls=config.use_tls,
            start_tls=config.start_tls,
            timeout=self.timeout,
        )
        await smtp.connect()
        if smtp.is_ehlo_or_helo_needed:
            # connect() greets only on its way to STARTTLS: without it (smtps://,
            # starttls=false) MAIL would come first, which servers refuse (503)
            try:
                await smtp.ehlo()
            except aiosmtplib.SMTPHeloError:
                await smtp.helo()
        if config.username is not None:
            encrypted = config.use_tls or smtp.get_transport_info("sslcontext") is not None
            if not encrypted and not config.plaintext_login:
                smtp.close()
                raise PlaintextLoginRefused(config.refuse_plaintext_login())
            await smtp.login(config.username, config.password or "")
        self._slots[slot] = smtp
        return smtp

    async def _watch(self) -> None:
        # a few checks per timeout: a silent server is given up on within 1.25 timeouts
        interval = max(0.02, self.timeout / 4)
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for slot, deadline in enumerate(self._deadlines):
                if deadline < now:
                    self._deadlines[slot] = math.inf
                    self._expired.add(slot)
                    try:
                        self._drop(slot, abort=True)  # the command in flight fails as lost
                    except Exception:  # the watchdog must outlive any one connection
                        log.exception("could not drop a timed-out SMTP connection")

    def _arm(self, slot: int, seconds: float) -> None:
        self._deadlines[slot] = time.monotonic() + seconds

    def _lost(self, slot: int, exc: BaseException) -> str:
        """Why a command failed on a lost connection: its deadline, or what the socket said."""
        if slot in self._expired:
            self._expired.discard(slot)
            return f"no reply from the SMTP server within {self.timeout:g} s"
        return str(exc)

    def _drop(self, slot: int, *, abort: bool = False) -> None:
        """Forget a connection. ``abort`` for a silent server: a TLS connection's close()
        first waits up to 30 s for the server's close_notify, and the command waiting on it
        fails only then; an abort ends it at once."""
        smtp, self._slots[slot] = self._slots[slot], None
        if smtp is None:
            return
        transport = smtp.transport
        if abort and transport is not None and isinstance(transport, asyncio.WriteTransport):
            transport.abort()
        smtp.close()

    async def _reset(self, slot: int) -> None:
        smtp = self._slots[slot]
        if smtp is None:
            return
        self._deadlines[slot] = math.inf  # RSET is timed by aiosmtplib itself
        try:
            await smtp.rset()
        except aiosmtplib.SMTPException:
            self._drop(slot)

    async def _begin(self, slot: int, sender: str, *, utf8: bool) -> Delivery | None:
        """MAIL FROM on a live connection, reconnecting once when a kept connection went stale."""
        for attempt in (1, 2):
            self._deadlines[slot] = math.inf  # connecting is timed by aiosmtplib itself
            try:
                smtp = await self._connection(slot)
            except aiosmtplib.SMTPResponseException as exc:
                self._drop(slot)
                self._down = f"SMTP server refused the session: {exc.code} {exc.message}"
                return Delivery(Outcome.UNREACHABLE, reason=self._down)
            except (aiosmtplib.SMTPException, OSError) as exc:
                self._drop(slot)
                self._down = f"cannot connect to the SMTP server: {exc}"
                return Delivery(Outcome.UNREACHABLE, reason=self._down)
            try:
                self._arm(slot, self.timeout)
                await _mail_from(smtp, sender, utf8=utf8)
                return None
            except aiosmtplib.SMTPResponseException as exc:
                if exc.code == 421:
                    self._drop(slot)
                else:
                    await self._reset(slot)
                return _refusal(exc, "MAIL FROM", bounce=False)
            except _CONNECTION_ERRORS as exc:
                self._drop(slot)
                why = self._lost(slot, exc)
                if attempt == 2:
                    return Delivery(Outcome.TRANSIENT, reason=f"connection lost: {why}")
        return Delivery(Outcome.TRANSIENT, reason="connection lost")

    async def _send_one(
        self, slot: int, message: OutgoingMessage, handover: Handover | None
    ) -> Delivery:
        try:
            return await self._commands(slot, message, handover)
        finally:
            self._deadlines[slot] = math.inf  # between messages nothing is in flight
            self._expired.discard(slot)

    async def _commands(
        self, slot: int, message: OutgoingMessage, handover: Handover | None
    ) -> Delivery:
        refused = await self._begin(slot, message.sender, utf8=not message.to.isascii())
        if refused is not None:
            return refused
        smtp = self._slots[slot]
        if smtp is None:  # MAIL's reply came as the watchdog dropped the connection
            return Delivery(Outcome.TRANSIENT, reason="connection lost before DATA")
        try:
            self._arm(slot, self.timeout)
            await _rcpt_to(smtp, message.to)
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset(slot)
            return _refusal(exc, "RCPT TO", bounce=True)
        except _CONNECTION_ERRORS as exc:
            self._drop(slot)  # nothing was handed over yet: safe to retry
            why = self._lost(slot, exc)
            return Delivery(Outcome.TRANSIENT, reason=f"connection lost before DATA: {why}")
        if self._slots[slot] is not smtp:  # RCPT's reply came as the watchdog dropped it
            return Delivery(Outcome.TRANSIENT, reason="connection lost before DATA")
        if handover is None:
            return await self._data(slot, smtp, message)
        handover.started(message)  # before the message's first byte: see handover_journal
        answer = await self._data(slot, smtp, message)
        handover.finished(message, answer)
        return answer

    async def _data(self, slot: int, smtp: aiosmtplib.SMTP, message: OutgoingMessage) -> Delivery:
        try:
            self._arm(slot, 2 * self.timeout)  # the 354, then the final reply
            await _send_data(smtp, message.body)
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset(slot)
            return _refusal(exc, "DATA", bounce=False)
        except _CONNECTION_ERRORS as exc:
            self._drop(slot)
            why = self._lost(slot, exc)
            return Delivery(Outcome.UNKNOWN, reason=f"connection lost during DATA: {why}")
        return Delivery.sent(message.message_id)
