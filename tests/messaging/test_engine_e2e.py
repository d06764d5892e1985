"""End to end over HTTP against a real ``beacon serve`` process: contacts -> segment ->
template -> campaign -> preflight -> publish -> scheduled a minute ahead in New York ->
scheduled -> running -> completed, with every count checked against a real SMTP server's
mailbox; the unsubscribe link; a second run that leaves the contact out and is cancelled
mid-run.

The engine (scheduler and batch worker) runs in the test process on a ``ManualClock``, so the
minute until the send time passes by ``clock.advance`` instead of sleeping; the server runs
no worker of its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from pydantic import SecretStr
from tests.messaging.engine_helpers import Mailbox, body_text, engine_worker, smtp_server
from tests.support import LiveServer

from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.messaging.campaigns.clock import ManualClock
from beacon.messaging.delivery.scheduler import Scheduler
from beacon.messaging.oauth import service as oauth

SCOPES = " ".join(oauth.SCOPES)
GOOD = [
    {"externalId": "ann", "email": "ann@example.com", "firstName": "Ann"},
    {"externalId": "tmp", "email": "tempfail@example.com", "firstName": "Tim"},  # 451, 451, 250
    {"externalId": "bad", "email": "bounce@example.com", "firstName": "Bo"},  # 550
    {"externalId": "cy", "email": "cy@example.com", "firstName": "Cy"},
    {"externalId": "dee", "email": "dee@example.com", "firstName": "Dee"},
]
AWKWARD = [
    {"externalId": "no-email", "phone": "+14155550123", "firstName": "Ned"},  # fails: hydrated
    {"externalId": "no-code", "email": "nocode@example.com", "firstName": "Nia"},  # composed
    {"externalId": "out", "email": "out@example.com", "subscriptions": {"email": "unsubscribed"}},
]
TEMPLATE = {
    "subject": "Spring offer for {{ contact.firstName }}",
    "fromName": "Acme",
    "fromAddress": "news@acme.example",
    "html": "<p>Hi {{ contact.firstName }}: {{ contact.attributes.code }}</p>"
    "<a href='{{ unsubscribe_url }}'>Unsubscribe</a>",
    "text": "Hi {{ contact.firstName }}: {{ contact.attributes.code }}\n"
    "Unsubscribe: {{ unsubscribe_url }}",
}


class Api:
    """A bearer-token client of the live server's /public/v1."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base = f"{base_url}/public/v1"
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str) -> Any:
        response = requests.get(f"{self.base}{path}", headers=self.headers, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def post(self, path: str, body: Any = None, status: int = 200) -> Any:
        response = requests.post(
            f"{self.base}{path}", headers=self.headers, json=body or {}, timeout=10
        )
        assert response.status_code == status, response.text
        return response.json()["data"]


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def smtp_url(mailbox: Mailbox) -> Iterator[str]:
    with smtp_server(mailbox) as url:
        yield url


@pytest.fixture
def server(database_url: str, db: Database, tmp_path: Path, smtp_url: str) -> Iterator[LiveServer]:
    live = LiveServer(
        data_dir=tmp_path / "var",
        database_url=database_url,
        env={"BEACON_WORKER_IN_PROCESS": "false", "BEACON_SMTP_URL": smtp_url},
    )
    # separate workers send: only BEACON_PUBLIC_URL tells them where unsubscribe links point
    live.env["BEACON_PUBLIC_URL"] = live.base_url
    live.start()
    yield live
    assert live.stop() in (0, -15)


def _token(db: Database, base_url: str) -> str:
    with db.transaction() as session:
        issued = oauth.create_client(session=session, account_name="acme", scopes=SCOPES)
    response = requests.post(
        f"{base_url}/public/v1/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": issued.client_id,
            "client_secret": issued.client_secret,
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _contacts(api: Api) -> None:
    codes = {"ann": "A1", "tmp": "T1", "bad": "B1", "cy": "C1", "dee": "D1"}
    good = [{**c, "attributes": {"list": "spring", "code": codes[c["externalId"]]}} for c in GOOD]
    # preflight renders the template for every contact: "no-code" makes it a warning
    awkward = [{**c, "attributes": {"list": "spring"}} for c in AWKWARD]
    awkward[0]["attributes"]["code"] = "N1"
    api.post("/contacts", {"contacts": good})
    api.post("/contacts", {"contacts": awkward})


def _counts(api: Api, campaign_id: str) -> dict[str, int]:
    status = api.get(f"/campaigns/{campaign_id}/status")
    summary = api.get(f"/campaigns/{campaign_id}/summary")
    metrics = api.get(f"/campaigns/{campaign_id}/metrics")
    counts = status["execution"]["lastExecution"]["counts"]
    assert summary["latestExecution"]["counts"] == counts
    executions = api.get(f"/campaigns/{campaign_id}/executions")
    assert executions[0]["counts"] == counts
    totals = {k: sum(e["counts"][k] for e in executions) for k in counts}
    assert metrics["counts"] == totals
    return dict(counts)


def test_campaign_end_to_end_over_http(
    server: LiveServer, db: Database, settings: Settings, mailbox: Mailbox, smtp_url: str
) -> None:
    api = Api(server.base_url, _token(db, server.base_url))
    _contacts(api)
    segment = api.post(
        "/segments",
        {
            "name": "Spring",
            "rules": {"field": "attributes.list", "op": "equals", "value": "spring"},
        },
        status=201,
    )
    template = api.post(
        "/templates",
        {"name": "Spring", "channel": "email", "status": "published", "content": TEMPLATE},
        status=201,
    )
    new_york = ZoneInfo("America/New_York")
    send_at = (datetime.now(new_york) + timedelta(minutes=1)).replace(tzinfo=None, microsecond=0)
    campaign = api.post(
        "/campaigns",
        {
            "name": "Spring",
            "channel": "email",
            "audience": {"included": [segment["id"]]},
            "templateId": template["id"],
            "schedule": {"mode": "at", "sendAt": send_at.isoformat(), "timezone": str(new_york)},
        },
        status=201,
    )
    cid = campaign["campaignId"]
    preflight = api.post(f"/campaigns/{cid}/preflight")
    assert preflight["status"] == "warning", preflight
    checks = {c["id"]: c for c in preflight["checks"]}
    assert {c["status"] for i, c in checks.items() if i != "template_renders"} == {"passed"}
    renders = checks["template_renders"]
    assert renders["status"] == "warning", renders
    assert "'contact.attributes.code' is undefined" in renders["message"]  # no-code, skipped
    api.post(f"/campaigns/{cid}/publish")
    status = api.get(f"/campaigns/{cid}/status")
    assert status["execution"]["state"] == "scheduled" and status["schedule"]["active"] is True

    config = settings.model_copy(
        update={
            "smtp_url": SecretStr(smtp_url),
            "public_url": server.base_url,
            "messaging_retry_backoff_seconds": 0.01,
            "messaging_batch_size": 4,
            "messaging_inject_chunk_size": 2,
        }
    )
    clock = ManualClock()
    scheduler = Scheduler(settings=config, clock=clock)
    worker = engine_worker(db, config)
    assert scheduler.tick(db).started == []  # a minute early
    clock.advance(61)
    assert len(scheduler.tick(db).started) == 1
    running = api.get(f"/campaigns/{cid}/status")["execution"]
    assert running["state"] == "running" and running["lastExecution"]["counts"]["scheduled"] == 7
    worker.run_until_idle()
    scheduler.tick(db)

    status = api.get(f"/campaigns/{cid}/status")
    assert status["execution"]["state"] == "completed"
    assert status["execution"]["lastExecution"]["completedAt"] is not None
    counts = _counts(api, cid)
    assert counts == {
        "scheduled": 7,  # 'out' is unsubscribed: not in the snapshot
        "hydrated": 6,  # no-email fails here
        "composed": 5,  # no-code fails to render
        "injected": 5,
        "sent": 4,  # bounce@ is refused with 550
        "failed": 3,
    }
    delivered = sorted(r.rcpt for r in mailbox.received)
    assert len(delivered) == counts["sent"]
    assert delivered == [
        "ann@example.com",
        "cy@example.com",
        "dee@example.com",
        "tempfail@example.com",
    ]
    contacts = {c["externalId"]: c for c in api.get("/contacts?limit=100")}
    assert contacts["bad"]["subscriptions"]["email"] == "bounced"

    # the unsubscribe link in Ann's email works, and leaves her out of the next run
    message = mailbox.for_rcpt("ann@example.com")[0].message
    assert message["Subject"] == "Spring offer for Ann"
    match = re.search(r"Unsubscribe: (\S+)", body_text(message))
    assert match is not None and match.group(1).startswith(f"{server.base_url}/u/")
    page = requests.get(match.group(1), timeout=10)  # a page asking to confirm (RFC 8058)
    assert page.status_code == 200 and "<form" in page.text
    # opening it changed nothing
    opened = {c["externalId"]: c for c in api.get("/contacts?limit=100")}
    assert opened["ann"]["subscriptions"]["email"] == "subscribed"
    page = requests.post(match.group(1), timeout=10)  # its button
    assert page.status_code == 200 and "You are unsubscribed" in page.text
    contacts = {c["externalId"]: c for c in api.get("/contacts?limit=100")}
    assert contacts["ann"]["subscriptions"]["email"] == "unsubscribed"

    # run again, cancelled after the first batch
    second = api.post(f"/campaigns/{cid}/send", status=202)
    assert len(scheduler.tick(db).started) == 1
    assert worker.run_once()
    api.post(f"/campaigns/{cid}/cancel")
    worker.run_until_idle()
    scheduler.tick(db)
    again = api.get(f"/campaigns/{cid}/executions/{second['executionId']}")
    assert again["status"] == "cancelled" and again["cancelRequestedAt"] is not None
    assert again["counts"]["scheduled"] == 5  # neither Ann (unsubscribed) nor Bo (bounced)
    assert again["counts"]["failed"] >= 1
    assert api.get(f"/campaigns/{cid}/status")["execution"]["state"] == "completed"
    assert len(mailbox.for_rcpt("ann@example.com")) == 1
    assert len(mailbox.received) == counts["sent"] + again["counts"]["sent"]
    _counts(api, cid)
