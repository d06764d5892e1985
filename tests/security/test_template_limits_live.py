"""Against a live `beacon serve`: hostile renders in flight do not hold SIGTERM past 5 s, and
the render processes die with the server."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
from tests.support import LiveServer

from beacon.core.db import Database
from beacon.messaging.oauth import service as oauth

HOSTILE = "{{ contact.firstName }}{{ lipsum(200000)|length }}"


def _descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_sigterm_exits_within_5_s_with_hostile_renders_running(
    tmp_path: Path, database_url: str, db: Database
) -> None:
    with db.transaction() as session:
        issued = oauth.create_client(
            session=session, account_name="tenant", scopes=" ".join(oauth.SCOPES)
        )
    server = LiveServer(data_dir=tmp_path / "var", database_url=database_url).start()
    assert server.process is not None
    try:
        token = httpx.post(
            f"{server.base_url}/public/v1/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": issued.client_id,
                "client_secret": issued.client_secret,
            },
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        created = httpx.post(
            f"{server.base_url}/public/v1/templates",
            headers=auth,
            json={"name": "h", "channel": "sms", "status": "draft", "content": {"body": HOSTILE}},
        )
        assert created.status_code == 201, created.text
        url = f"{server.base_url}/public/v1/templates/{created.json()['data']['id']}/render"
        body = {"contact": {"externalId": "c1", "firstName": "Ada"}}
        statuses: list[int] = []

        def render() -> None:
            try:
                statuses.append(httpx.post(url, headers=auth, json=body, timeout=30).status_code)
            except httpx.HTTPError:
                statuses.append(0)

        threads = [threading.Thread(target=render) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        children = _descendants(server.process.pid)
        assert children, "no render process was started"
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(30)
        elapsed = time.monotonic() - started
        for thread in threads:
            thread.join()
    finally:
        server.stop(signal.SIGKILL)
    assert elapsed < 5.0, elapsed
    assert set(statuses) <= {422, 503, 0}, statuses
    deadline = time.monotonic() + 2
    while any(_running(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in children if _running(pid)], "render processes outlived the server"
