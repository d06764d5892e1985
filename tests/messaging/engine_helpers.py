"""Support for the execution engine tests: a real SMTP server (aiosmtpd) that refuses some
recipients, a Twilio-style SMS API on loopback, a `beacon worker` process, and factories that
build a published campaign through the services."""

from __future__ import annotations

import asyncio
import base64
import email
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select
from tests.support import BEACON, free_port

from beacon.core.auth import get_or_create_account
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.worker import Worker
from beacon.messaging.audience_schemas import ContactIn, SegmentCreate, TemplateCreate
from beacon.messaging.audiences import contacts, segments
from beacon.messaging.campaign_schemas import CampaignCreate
from beacon.messaging.campaigns import service as campaigns
from beacon.messaging.campaigns.clock import Clock, ManualClock
from beacon.messaging.delivery.pipeline import batch_job_kind
from beacon.messaging.delivery.scheduler import Scheduler
from beacon.messaging.models import Campaign, Execution, Recipient
from beacon.messaging.templates import service as templates

EMAIL_CONTENT = {
    "subject": "Hello {{ contact.firstName }}",
    "html": "<p>Hi {{ contact.firstName }}, code {{ contact.attributes.code }}</p>"
    "<a href='{{ unsubscribe_url }}'>unsubscribe</a>",
    "text": "Hi {{ contact.firstName }}. Unsubscribe: {{ unsubscribe_url }}",
    "fromName": "Beacon News",
    "fromAddress": "news@example.com",
}


# --- SMTP ------------------------------------------------------------------------------------


@dataclass
class Received:
    """One message the SMTP server accepted."""

    rcpt: str
    message_id: str
    message: Message


class Mailbox:
    """aiosmtpd handler: ``bounce*`` addresses get 550, ``tempfail*`` get 451 on their first
    ``tempfail_times`` attempts, ``busy*`` 451 always; everything else is accepted."""

    def __init__(self, *, tempfail_times: int = 2, data_delay: float = 0.0) -> None:
        self.tempfail_times = tempfail_times
        self.data_delay = data_delay
        self.received: list[Received] = []
        self.attempts: Counter[str] = Counter()
        self._lock = threading.Lock()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        local = address.split("@")[0]
        with self._lock:
            self.attempts[address] += 1
            attempt = self.attempts[address]
        if local.startswith("bounce"):
            return "550 5.1.1 No such user"
        if local.startswith("busy") or (
            local.startswith("tempfail") and attempt <= self.tempfail_times
        ):
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        raw = envelope.content if isinstance(envelope.content, bytes) else b""
        message = email.message_from_bytes(raw)
        with self._lock:
            for rcpt in envelope.rcpt_tos:
                message_id = str(message["Message-ID"]).strip("<>")
                self.received.append(Received(rcpt, message_id, message))
        return "250 2.0.0 Message accepted for delivery"

    def message_ids(self) -> list[str]:
        """Message-IDs of every accepted message, duplicates included."""
        with self._lock:
            return [r.message_id for r in self.received]

    def for_rcpt(self, address: str) -> list[Received]:
        """Messages accepted for one address."""
        with self._lock:
            return [r for r in self.received if r.rcpt == address]


@contextmanager
def smtp_server(mailbox: Mailbox) -> Iterator[str]:
    """A real SMTP server on loopback for the block; yields its ``smtp://`` URL."""
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()


def body_text(message: Message, subtype: str = "plain") -> str:
    """The decoded text of a message's ``text/<subtype>`` part."""
    for part in message.walk():
        if part.get_content_type() == f"text/{subtype}":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError(f"no text/{subtype} part")


# --- SMS ---------------------------------------------------------------------------------------


class SmsApi:
    """A Twilio-style Messages resource: numbers ending 0000 are invalid (400, code 21211),
    ending 4290 are throttled (429) on the first attempt; the rest get a sid. Messages from
    INVALID_FROM are refused (400, code 21212)."""

    INVALID_FROM = "+15005550001"

    def __init__(self, *, account: str = "AC123", token: str = "secret") -> None:
        self.account, self.token = account, token
        self.sent: list[dict[str, str]] = []
        self.attempts: Counter[str] = Counter()
        self.lock = threading.Lock()

    def answer(
        self, path: str, auth: str | None, form: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        """Status and JSON body for one request."""
        expected = base64.b64encode(f"{self.account}:{self.token}".encode()).decode()
        if auth != f"Basic {expected}":
            return 401, {"code": 20003, "message": "Authenticate", "status": 401}
        if path != f"/2010-04-01/Accounts/{self.account}/Messages.json":
            return 404, {"code": 20404, "message": "Not found", "status": 404}
        to = form.get("To", "")
        if form.get("From") == self.INVALID_FROM:
            return 400, {"code": 21212, "message": f"Invalid From Number: {self.INVALID_FROM}"}
        with self.lock:
            self.attempts[to] += 1
            attempt = self.attempts[to]
            if to.endswith("0000"):
                return 400, {"code": 21211, "message": f"Invalid 'To' Phone Number: {to}"}
            if to.endswith("4290") and attempt == 1:
                return 429, {"code": 20429, "message": "Too Many Requests", "status": 429}
            sid = f"SM{uuid.uuid4().hex}"
            self.sent.append({**form, "sid": sid})
        return 201, {"sid": sid, "status": "queued", "to": to}


@contextmanager
def sms_server(api: SmsApi) -> Iterator[str]:
    """The SMS API on loopback for the block; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if len(raw) < length:  # the client died mid-request (a worker killed): no provider
                return  # sends a message it never fully received
            form = {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
            status, body = api.answer(self.path, self.headers.get("Authorization"), form)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# --- campaigns -------------------------------------------------------------------------------


def person(i: int, **overrides: Any) -> dict[str, Any]:
    """A contact in the test audience (attribute ``list`` = ``t``)."""
    return {
        "externalId": f"p{i}",
        "email": f"person{i}@example.com",
        "firstName": f"P{i}",
        "attributes": {"list": "t", "code": f"C{i}"},
        **overrides,
    }


def seed_campaign(
    db: Database,
    *,
    people: list[dict[str, Any]],
    channel: str = "email",
    content: dict[str, Any] | None = None,
    account: str = "acme",
) -> uuid.UUID:
    """Contacts, a segment of them, a published template and a published broadcast."""
    with db.transaction() as session:
        account_id = get_or_create_account(session=session, name=account).id
        contacts.upsert_contacts(
            session=session,
            account_id=account_id,
            contacts=[ContactIn.model_validate(p) for p in people],
        )
        segment = segments.create_segment(
            session=session,
            account_id=account_id,
            data=SegmentCreate.model_validate(
                {
                    "name": "Test list",
                    "rules": {"field": "attributes.list", "op": "equals", "value": "t"},
                }
            ),
        )
        template = templates.create_template(
            session=session,
            account_id=account_id,
            data=TemplateCreate.model_validate(
                {
                    "name": "Test template",
                    "channel": channel,
                    "status": "published",
                    "content": content or EMAIL_CONTENT,
                }
            ),
        )
        campaign = campaigns.create_campaign(
            session=session,
            account_id=account_id,
            data=CampaignCreate.model_validate(
                {
                    "name": "Engine test",
                    "channel": channel,
                    "audience": {"included": [str(segment.id)]},
                    "templateId": str(template.id),
                }
            ),
        )
        campaigns.publish_campaign(session=session, campaign=campaign)
        return campaign.id


def send_now(db: Database, campaign_id: uuid.UUID) -> uuid.UUID:
    """``POST /send`` through the service; the new execution's id."""
    with db.transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        execution = campaigns.send_campaign(
            session=session, account_id=campaign.account_id, campaign_id=campaign_id
        )
        return execution.id


def engine_worker(db: Database, settings: Settings) -> Worker:
    """A worker running only the batch jobs (the scheduler is ticked by the test)."""
    return Worker(db=db, kinds=[batch_job_kind(settings)], worker_id="test-worker")


def run_execution(db: Database, settings: Settings, clock: Clock | None = None) -> Scheduler:
    """Tick the scheduler (start what is due) and work every batch until none is left."""
    scheduler = Scheduler(settings=settings, clock=clock or ManualClock())
    scheduler.tick(db)
    engine_worker(db, settings).run_until_idle()
    scheduler.tick(db)
    return scheduler


def rows(db: Database, execution_id: uuid.UUID) -> list[Recipient]:
    """Every recipient row of an execution, in id order."""
    with db.transaction() as session:
        return list(
            session.scalars(
                select(Recipient)
                .where(Recipient.execution_id == execution_id)
                .order_by(Recipient.id)
            )
        )


def execution(db: Database, execution_id: uuid.UUID) -> Execution:
    """The execution row."""
    with db.transaction() as session:
        found = session.get(Execution, execution_id)
        assert found is not None
        return found


# --- a worker process ---------------------------------------------------------------------------


class WorkerProcess:
    """``beacon worker`` as a child process, to be killed with SIGKILL mid-run."""

    def __init__(self, *, data_dir: Path, env: dict[str, str]) -> None:
        self.log_path = data_dir.parent / f"worker-{free_port()}.log"
        self.env = {**os.environ, "BEACON_DATA_DIR": str(data_dir), **env}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        """Start the process."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*BEACON, "worker"], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def kill(self) -> int:
        """``kill -9`` and reap."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        return self.process.wait(10)

    def stop(self) -> int:
        """SIGTERM and reap (SIGKILL if it hangs)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(5)


def wait_for(predicate: Callable[[], bool], *, timeout: float = 30.0, what: str = "") -> None:
    """Poll a condition that depends on another process (not on time passing)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)
