"""The webhook deal provider against a real local HTTP server, and no double issue."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import update
from tests.activation.helpers import (
    API,
    PAGES,
    built_segment,
    classify_pages,
    run_jobs,
    upload_inventory,
)

from beacon.activation.deals.providers import BuiltInProvider, DealDefinition
from beacon.activation.models import Activation
from beacon.activation.tasks import job_kinds
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.jobs import JobContext, claim_next
from beacon.core.timefmt import utcnow
from beacon.core.worker import Worker

SECRET = "whsec-test"
Headers = dict[str, str]


class DealEndpoint:
    """A DSP-side endpoint: answers the queued statuses in turn (then 200), checks signatures."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[dict[str, Any]] = []
        self.signatures_valid: list[bool] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                timestamp = self.headers["X-Beacon-Timestamp"]
                expected = hmac.new(
                    SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256
                ).hexdigest()
                endpoint.signatures_valid.append(
                    hmac.compare_digest(self.headers["X-Beacon-Signature"], f"sha256={expected}")
                )
                endpoint.received.append(json.loads(body))
                status = endpoint.statuses.pop(0) if endpoint.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/deals"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> DealEndpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def segment(
    client: TestClient, headers: Headers, db: Database, settings: Settings
) -> dict[str, Any]:
    classify_pages(db)
    upload_inventory(client, headers, list(PAGES))
    return built_segment(client, headers, db, settings, {"iab_categories": ["IAB19"]})


@pytest.fixture
def endpoint() -> Iterator[DealEndpoint]:
    with DealEndpoint([500, 502]) as server:
        yield server


def _webhook_settings(settings: Settings, url: str, attempts: int = 3) -> Settings:
    return settings.model_copy(
        update={
            "activation_webhook_url": url,
            "activation_webhook_secret": SecretStr(SECRET),
            "activation_webhook_attempts": attempts,
            "activation_webhook_backoff_seconds": 0.01,
        }
    )


def _activate(client: TestClient, headers: Headers, segment_id: int) -> int:
    body = {
        "segment_ids": [segment_id],
        "dsp": "The Trade Desk",
        "buyer_seat": "seat-abc123",
        "geo": ["US"],
        "start_date": "2026-01-15",
    }
    response = client.post(f"{API}/activations", headers=headers, json=body)
    assert response.status_code == 201
    return int(response.json()["id"])


def test_webhook_fails_twice_then_succeeds_with_a_signed_definition(
    client: TestClient,
    headers: Headers,
    db: Database,
    settings: Settings,
    segment: dict[str, Any],
    endpoint: DealEndpoint,
) -> None:
    activation_id = _activate(client, headers, segment["id"])
    run_jobs(db, _webhook_settings(settings, endpoint.url))
    activation = client.get(f"{API}/activations/{activation_id}", headers=headers).json()
    assert activation["status"] == "complete"
    assert len(endpoint.received) == 3 and all(endpoint.signatures_valid)
    assert {r["deal_id"] for r in endpoint.received} == {activation["deal_id"]}
    payload = endpoint.received[-1]
    assert payload["event"] == "deal.issue"
    assert payload["dsp"] == "The Trade Desk" and payload["dsp_code"] == "ttd"
    assert payload["buyer_seat"] == "seat-abc123" and payload["ttl_hours"] == 720
    assert payload["start_date"] == "2026-01-15" and payload["end_date"] is None
    assert payload["targeting"] == {"geo": ["US"], "formats": None, "devices": None}
    assert payload["segments"] == [
        {
            "id": segment["id"],
            "name": "AI chips",
            "domains": ["nytimes.com", "theguardian.com"],
            "urls": [
                "https://www.nytimes.com/2026/01/ev-batteries",
                "https://www.nytimes.com/2026/01/gpu-shortage",
                "https://www.theguardian.com/tech/chips",
                "https://www.theguardian.com/world/war-report",
            ],
        }
    ]


def test_webhook_that_keeps_failing_fails_the_activation_with_the_reason(
    client: TestClient, headers: Headers, db: Database, settings: Settings, segment: dict[str, Any]
) -> None:
    activation_id = _activate(client, headers, segment["id"])
    with DealEndpoint([503] * 10) as server:
        run_jobs(db, _webhook_settings(settings, server.url, attempts=2))
    activation = client.get(f"{API}/activations/{activation_id}", headers=headers).json()
    assert activation["status"] == "failed"
    assert activation["deal_id"] is None and activation["processed_date"] is None
    assert activation["error"] == "webhook failed after 2 attempts: HTTP 503 Service Unavailable"
    assert len(server.received) == 2


def test_unreachable_webhook_and_missing_secret_fail_clearly(
    client: TestClient, headers: Headers, db: Database, settings: Settings, segment: dict[str, Any]
) -> None:
    first = _activate(client, headers, segment["id"])
    run_jobs(db, _webhook_settings(settings, "http://127.0.0.1:9/deals", attempts=1))
    error = client.get(f"{API}/activations/{first}", headers=headers).json()["error"]
    assert error.startswith("webhook failed after 1 attempts: ConnectError")
    second = _activate(client, headers, segment["id"])
    unsigned = _webhook_settings(settings, "http://127.0.0.1:9/deals").model_copy(
        update={"activation_webhook_secret": None}
    )
    run_jobs(db, unsigned)
    error = client.get(f"{API}/activations/{second}", headers=headers).json()["error"]
    assert "BEACON_ACTIVATION_WEBHOOK_SECRET" in error


class _Crash(Exception):
    pass


class RecordingProvider(BuiltInProvider):
    """Records every pushed deal id; the first push 'crashes' after it was sent."""

    def __init__(self) -> None:
        super().__init__(prefix="classify")
        self.pushed: list[str] = []

    def push(self, deal: DealDefinition) -> None:
        self.pushed.append(deal.deal_id)
        if len(self.pushed) == 1:
            raise _Crash("worker died after sending")


def test_a_takeover_resends_the_same_deal_id(
    client: TestClient, headers: Headers, db: Database, settings: Settings, segment: dict[str, Any]
) -> None:
    activation_id = _activate(client, headers, segment["id"])
    provider = RecordingProvider()
    (kind,) = [k for k in job_kinds(settings, provider=provider) if k.name == "activation-deal"]
    assert claim_next(db=db, kind=kind, worker_id="doomed") == activation_id
    with pytest.raises(_Crash):  # the worker dies mid-push
        kind.handler(JobContext(db=db, kind=kind, job_id=activation_id, worker_id="doomed"))
    with db.transaction() as session:
        session.execute(
            update(Activation)
            .where(Activation.id == activation_id)
            .values(lease_expires_at=utcnow())
        )
    Worker(db=db, kinds=[kind]).run_until_idle()
    activation = client.get(f"{API}/activations/{activation_id}", headers=headers).json()
    assert activation["status"] == "complete"
    assert provider.pushed == [activation["deal_id"], activation["deal_id"]]
