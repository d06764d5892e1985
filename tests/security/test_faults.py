"""Faults: request bodies over the limit, an unusable data directory or a full disk at start,
and a database outage while the collector takes hits."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import PIPE
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from tests.support import BEACON, LiveServer, counted_hits, free_port, wait_for

from beacon.app import create_app
from beacon.core.config import Settings
from beacon.core.db import Database

LIMIT = 16 * 1024
CHUNK = 64 * 1024
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)


# --- Request bodies over the limit -------------------------------------------------------------


@pytest.fixture
def small_app(settings: Settings, db: Database) -> Iterator[FastAPI]:
    application = create_app(
        settings.model_copy(update={"max_body_bytes": LIMIT}), run_worker=False
    )
    application.state.db.dispose()
    application.state.db = db
    with TestClient(application):  # runs the lifespan
        yield application


def targets(key: str, bearer: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    """A JSON endpoint of each family, and an upload read by hand (CSV import)."""
    return [
        ("/v1/pixel/campaigns", {"x-api-key": key, "content-type": "application/json"}),
        ("/public/v1/contacts", {**bearer, "content-type": "application/json"}),
        ("/public/v1/contacts/import", {**bearer, "content-type": "text/csv"}),
    ]


def assert_413_envelope(path: str, status: int, payload: Any) -> None:
    assert status == 413, payload
    if path.startswith("/public/"):
        assert payload["success"] is False
        assert payload["error"]["code"] == "PAYLOAD_TOO_LARGE"
    else:
        assert set(payload) == {"error", "message"}
        assert payload["error"] == "payload_too_large"


def test_declared_body_over_the_limit_is_413(
    small_app: FastAPI, api_key: str, bearer_for: Callable[..., dict[str, str]]
) -> None:
    client = TestClient(small_app)
    for path, headers in targets(api_key, bearer_for("acme")):
        response = client.post(path, headers=headers, content=b"x" * (LIMIT + 1))
        assert_413_envelope(path, response.status_code, response.json())
        fits = client.post(path, headers=headers, content=b"{}" if "json" in str(headers) else b"")
        assert fits.status_code != 413


def test_streamed_body_over_the_limit_is_refused_unread(
    small_app: FastAPI, api_key: str, bearer_for: Callable[..., dict[str, str]]
) -> None:
    """A chunked body with no Content-Length: reading stops at the limit, memory stays flat."""
    total = 256 * 1024 * 1024
    for path, headers in targets(api_key, bearer_for("acme")):
        status, payload, pulled = asyncio.run(stream(small_app, path, headers, total))
        assert_413_envelope(path, status, payload)
        assert pulled <= LIMIT + CHUNK, f"{path} read {pulled} bytes of a body over the limit"


async def stream(
    app: FastAPI, path: str, headers: dict[str, str], total: int
) -> tuple[int, Any, int]:
    """POST ``total`` bytes in chunks straight to the ASGI app; returns status, JSON, bytes read."""
    chunk = b"x" * CHUNK
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += CHUNK
        return {"type": "http.request", "body": chunk, "more_body": pulled < total}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"transfer-encoding", b"chunked"),
            *((k.lower().encode(), v.encode()) for k, v in headers.items()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, orjson.loads(body), pulled


# --- An unusable data directory or a full disk at start ---------------------------------------


def _full_disk_probe(root: Path) -> Path:
    data = root / "var"
    data.mkdir(parents=True)
    (data / ".write-test").symlink_to("/dev/full")  # every write fails with ENOSPC
    return data


def _spool_blocked(root: Path) -> Path:
    data = root / "var"
    data.mkdir(parents=True)
    (data / "spool").write_text("a file where the pixel spool directory goes")
    return data


def _database_on_full_disk(root: Path) -> Path:
    data = root / "var"
    data.mkdir(parents=True)
    (data / "beacon.db").symlink_to("/dev/full")
    return data


STARTUP_FAULTS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "disk full": (
        _full_disk_probe,
        "data directory {data} is not writable: No space left on device",
    ),
    "spool unwritable": (
        _spool_blocked,
        "pixel spool directory {data}/spool/pixel is not writable",
    ),
    "database on a full disk": (_database_on_full_disk, "cannot prepare the database"),
}


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_serve_refuses_to_start_with_a_clear_message(tmp_path: Path) -> None:
    started = {}
    for name, (make, message) in STARTUP_FAULTS.items():  # in parallel: each is a cold start
        data = make(tmp_path / name.replace(" ", "-"))
        env = {**os.environ, "BEACON_DATA_DIR": str(data), "BEACON_DATABASE_URL": ""}
        command = [*BEACON, "serve", "--port", str(free_port())]
        process = subprocess.Popen(command, env=env, stdout=PIPE, stderr=PIPE, text=True)
        started[name] = (process, message.format(data=data))
    for name, (process, message) in started.items():
        out, err = process.communicate(timeout=120)
        assert process.returncode == 2, (name, err)
        assert message in err, (name, err)
        assert "Traceback" not in out + err, name
        assert "X-API-Key" not in out, name


# --- The database goes away while hits arrive -------------------------------------------------


@contextlib.contextmanager
def database_outage(url: str) -> Iterator[None]:
    """Refuse new connections to the test database and cut the open ones; then allow again.

    The shared PostgreSQL server keeps running: only this database becomes unreachable.
    """
    name = make_url(url).database
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
        yield
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()


def send_hits(http: httpx.Client, campaign: int, count: int) -> int:
    """Pixel hits; returns how many the collector acknowledged (200 with the GIF)."""
    acknowledged = 0
    for i in range(count):
        response = http.get(
            f"/px/{campaign}.gif",
            params={"url": f"https://news.example/story-{i}"},
            headers={"User-Agent": CHROME},
        )
        acknowledged += response.status_code == 200
    return acknowledged


@pytest.mark.e2e
def test_database_outage_is_survived_without_losing_a_hit(
    database_url: str, db: Database, tmp_path: Path
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the outage is simulated on PostgreSQL")
    server = LiveServer(
        data_dir=tmp_path / "var",
        database_url=database_url,
        env={
            "BEACON_PIXEL_FLUSH_INTERVAL": "0.2",
            "BEACON_CLASSIFICATION_INTERVAL_SECONDS": "3600",
        },
    ).start()
    try:
        assert server.first_key
        auth = {"X-API-Key": server.first_key}
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            campaign = http.post(
                "/v1/pixel/campaigns",
                json={"name": "outage", "use_case": "campaign_reporting"},
                headers=auth,
            ).json()["id"]
            acknowledged = send_hits(http, campaign, 10)
            with database_outage(database_url):
                wait_for(lambda: http.get("/readyz").status_code == 503, "/readyz to fail")
                assert http.get("/readyz").json()["error"] == "unavailable"
                assert http.get("/healthz").status_code == 200
                during = send_hits(http, campaign, 25)
                assert during == 25, "the collector must keep acknowledging hits"
                acknowledged += during
                down = http.get("/v1/pixel/campaigns", headers=auth)
                assert down.status_code == 503, down.text
                assert down.json()["error"] == "unavailable"
            wait_for(lambda: http.get("/readyz").status_code == 200, "/readyz to recover")
            acknowledged += send_hits(http, campaign, 5)
            wait_for(lambda: counted_hits(db, campaign) >= acknowledged, "every hit to be flushed")
            assert counted_hits(db, campaign) == acknowledged

            today = dt.datetime.now(dt.UTC).date().isoformat()
            report = http.post(
                "/v1/pixel/reports/campaign",
                json={"campaign_id": campaign, "start_date": today, "end_date": today},
                headers=auth,
            ).json()

            def complete() -> bool:
                report.update(
                    http.get(f"/v1/pixel/reports/campaign/{report['id']}", headers=auth).json()
                )
                return bool(report["status"] == "complete")

            wait_for(complete, "the report")
            assert report["summary"]["impressions"] == acknowledged
    finally:
        assert server.stop() in (0, -15)
