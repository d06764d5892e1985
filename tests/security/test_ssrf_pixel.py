"""SSRF: page URLs that pixel hits (or API callers) report are fetched by the classifier, so a
URL on a private address must never be fetched. A real local server records every request."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from beacon.app import create_app
from beacon.contextual import service
from beacon.contextual.models import ERROR, UrlClassification
from beacon.contextual.tasks import batch_job_kind
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.worker import Worker
from beacon.pixel.classification import classify_due

PAGE = (
    b"<html><head><title>Internal admin</title></head><body><article>"
    + b"<p>The football club won the league match after a late goal by the striker.</p>" * 20
    + b"</article></body></html>"
)


class RecordingServer:
    """An HTTP server on 127.0.0.1 that answers every GET with a page and records the path."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        recorded = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recorded.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(PAGE)))
                self.end_headers()
                self.wfile.write(PAGE)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def internal() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


@pytest.fixture
def guarded(settings: Settings) -> Settings:
    """Production's SSRF policy (whatever the environment says), short timeouts."""
    return settings.model_copy(
        update={
            "fetch_allow_private_networks": False,
            "fetch_connect_timeout": 1.0,
            "fetch_read_timeout": 1.0,
            "fetch_total_timeout": 3.0,
            "pixel_flush_interval": 3600.0,
        }
    )


@pytest.fixture
def pixel_client(guarded: Settings, db: Database) -> Iterator[tuple[TestClient, FastAPI]]:
    application = create_app(guarded, run_worker=False)
    application.state.db.dispose()
    application.state.db = db
    with TestClient(application) as client:
        yield client, application


def private_urls(port: int) -> list[str]:
    """The same internal page, spelled the ways an attacker would try."""
    return [
        f"http://127.0.0.1:{port}/admin",
        f"http://localhost:{port}/admin",
        f"http://127.1:{port}/admin",
        f"http://2130706433:{port}/admin",
        f"http://0.0.0.0:{port}/admin",
        f"http://[::ffff:127.0.0.1]:{port}/admin",
    ]


def test_pixel_page_on_a_private_address_is_never_fetched(
    pixel_client: tuple[TestClient, FastAPI],
    db: Database,
    guarded: Settings,
    headers: dict[str, str],
    internal: RecordingServer,
) -> None:
    client, application = pixel_client
    campaign = client.post(
        "/v1/pixel/campaigns", json={"name": "c", "use_case": "campaign_reporting"}, headers=headers
    ).json()["id"]
    urls = private_urls(internal.port)
    for url in urls:
        assert client.get(f"/px/{campaign}.gif", params={"url": url}).status_code == 200
    client.get(f"/px/{campaign}.gif", headers={"Referer": urls[0] + "?from=referer"})
    assert application.state.pixel.flush().counted == len(urls) + 1

    # The periodic classifier queues the pixel URLs and tries every one of them.
    assert classify_due(db=db, settings=guarded) == len(urls) + 1
    with db.transaction() as session:
        rows = session.scalars(select(UrlClassification)).all()
        outcomes = {row.url: (row.status, row.error) for row in rows}
    assert len(outcomes) == len(urls) + 1, outcomes
    for status, error in outcomes.values():
        assert status == ERROR and "refused to connect to non-public address" in (error or "")

    # Asked directly, and as a batch job: refused the same way.
    answer = client.post("/v1/clsfy/classify", json={"url": urls[1]}, headers=headers)
    assert answer.status_code == 422 and "non-public address" in answer.json()["message"]
    batch = client.post("/v1/clsfy/classify/batch", json={"urls": urls}, headers=headers).json()
    Worker(db=db, kinds=[batch_job_kind(guarded)]).run_until_idle()
    done = client.get(f"/v1/clsfy/classify/batch/{batch['id']}", headers=headers).json()
    assert done["status"] == "complete" and done["summary"]["failed"] == len(urls), done
    inventory = client.post("/v1/clsfy/inventory", json={"urls": urls}, headers=headers)
    assert inventory.status_code in (200, 422) and inventory.json().get("queued", 0) == 0
    assert classify_due(db=db, settings=guarded) == 0

    assert internal.requests == [], "the classifier reached the internal server"
    # Control: the same server is reachable when private networks are allowed.
    opened = guarded.model_copy(update={"fetch_allow_private_networks": True})
    assert (
        service.classify_pages(urls=[urls[0] + "?control"], settings=opened, transaction=None)[
            0
        ].error
        is None
    )
    assert internal.requests
