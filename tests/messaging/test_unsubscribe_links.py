"""Where unsubscribe links point without BEACON_PUBLIC_URL: at the address `beacon serve`
actually listens on; a separate worker, which cannot know it, sends no email."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from tests.messaging.engine_helpers import (
    Mailbox,
    WorkerProcess,
    body_text,
    execution,
    person,
    rows,
    run_execution,
    seed_campaign,
    send_now,
    smtp_server,
    wait_for,
)
from tests.messaging.helpers import make_audience, make_campaign, make_template, post
from tests.support import ALL_SCOPES, LiveServer

from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.messaging.delivery.pipeline import NO_LINK_BASE
from beacon.messaging.oauth import service as oauth

LINK = re.compile(r"Unsubscribe: (\S+)")


def _token(db: Database, base_url: str) -> dict[str, str]:
    with db.transaction() as session:
        issued = oauth.create_client(session=session, account_name="acme", scopes=ALL_SCOPES)
    response = httpx.post(
        f"{base_url}/public/v1/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": issued.client_id,
            "client_secret": issued.client_secret,
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_links_point_at_the_port_beacon_serve_listens_on(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    campaign_id = seed_campaign(db, people=[person(0)])
    mailbox = Mailbox()
    with smtp_server(mailbox) as smtp_url:
        server = LiveServer(
            data_dir=tmp_path / "var", database_url=database_url, env={"BEACON_SMTP_URL": smtp_url}
        )
        server.env.pop("BEACON_PUBLIC_URL", None)
        assert server.port != 8000
        server.start()
        try:
            auth = _token(db, server.base_url)
            campaign = f"{server.base_url}/public/v1/campaigns/{campaign_id}"
            checks = httpx.post(f"{campaign}/preflight", headers=auth, timeout=30).json()
            link_check = next(c for c in checks["data"]["checks"] if c["id"] == "unsubscribe_link")
            assert link_check["status"] == "passed", link_check
            sent = httpx.post(f"{campaign}/send", headers=auth, timeout=30)
            assert sent.status_code in (200, 201, 202), sent.text
            wait_for(lambda: mailbox.for_rcpt("person0@example.com") != [], what="the email")
            message = mailbox.for_rcpt("person0@example.com")[0].message
            match = LINK.search(body_text(message))
            assert match is not None
            link = match.group(1)
            assert link.startswith(f"http://127.0.0.1:{server.port}/u/"), link
            assert httpx.get(link, timeout=10).status_code == 200  # it reaches this very server
        finally:
            assert server.stop() in (0, -15)


def test_preflight_fails_when_separate_workers_cannot_build_links(
    app: FastAPI, client: TestClient, token_for: Callable[..., dict[str, str]]
) -> None:
    auth = token_for()
    app.state.settings = app.state.settings.model_copy(
        update={"public_url": None, "worker_in_process": False}
    )
    segment = make_audience(client, auth)
    template = make_template(client, auth)
    campaign = make_campaign(client, auth, segment_id=segment, template_id=template)
    result = post(client, f"/campaigns/{campaign['campaignId']}/preflight", auth).json()["data"]
    (check,) = [c for c in result["checks"] if c["id"] == "unsubscribe_link"]
    assert check["status"] == "failed" and "BEACON_PUBLIC_URL" in check["message"]
    assert result["status"] == "failed"
    refused = post(client, f"/campaigns/{campaign['campaignId']}/publish", auth)
    assert refused.status_code == 422 and "BEACON_PUBLIC_URL" in refused.text


def test_a_worker_without_public_url_sends_no_email(db: Database, settings: Settings) -> None:
    campaign_id = seed_campaign(db, people=[person(0), person(1)])
    mailbox = Mailbox()
    with smtp_server(mailbox) as smtp_url:
        execution_id = send_now(db, campaign_id)
        config = settings.model_copy(update={"public_url": None, "smtp_url": SecretStr(smtp_url)})
        run_execution(db, config)
    assert execution(db, execution_id).status == "completed"
    assert {(r.stage, r.reason) for r in rows(db, execution_id)} == {("failed", NO_LINK_BASE)}
    assert mailbox.received == []


def test_beacon_worker_says_it_will_not_send_email(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    # ``db``: the worker's rows (its scheduler lease) are wiped after the test
    env = {"BEACON_DATABASE_URL": database_url, "BEACON_PUBLIC_URL": ""}
    worker = WorkerProcess(data_dir=tmp_path / "var", env=env).start()
    try:
        wait_for(lambda: "running" in worker.log_path.read_text(), what="the worker to start")
        time.sleep(0.2)
    finally:
        assert worker.stop() in (0, -15)
    log = worker.log_path.read_text()
    assert "BEACON_PUBLIC_URL is not set: this worker refuses to send email" in log


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:18777"),
        ("0.0.0.0", "http://127.0.0.1:18777"),
        ("::", "http://[::1]:18777"),
        ("beacon.lan", "http://beacon.lan:18777"),
    ],
)
def test_listen_url(host: str, url: str) -> None:
    from beacon.cli import _listen_url

    assert _listen_url(host, 18777) == url
    assert Settings(public_url=None).serving_at(url).link_base_url == url
