"""The collector in a real `beacon serve` process: kill -9 loses no acknowledged hit, SIGTERM
flushes everything before exiting."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from tests.support import LiveServer, counted_hits

from beacon.core.db import Database

pytestmark = pytest.mark.e2e

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"
# A long flush interval: the counts must come from replay and shutdown, not from the timer.
ENV = {"BEACON_PIXEL_FLUSH_INTERVAL": "3600", "BEACON_WORKER_IN_PROCESS": "false"}


def _fire(server: LiveServer, campaign_id: int, count: int, *, start: int = 0) -> int:
    acknowledged = 0
    with httpx.Client(base_url=server.base_url, headers={"User-Agent": UA}) as client:
        for i in range(start, start + count):
            response = client.get(
                f"/px/{campaign_id}.gif",
                params={"url": f"https://www.example.com/page/{i % 7}", "creative_id": str(i % 3)},
            )
            acknowledged += response.status_code == 200
    return acknowledged


def test_kill_minus_9_loses_nothing_and_sigterm_flushes(
    tmp_path: Path, database_url: str, db: Database, key_for: Callable[[str], str]
) -> None:
    key = key_for("live")
    data_dir = tmp_path / "data"
    server = LiveServer(data_dir=data_dir, database_url=database_url, env=ENV).start()
    try:
        created = httpx.post(
            f"{server.base_url}/v1/pixel/campaigns",
            json={"name": "live", "use_case": "campaign_reporting"},
            headers={"X-API-Key": key},
        )
        campaign_id = int(created.json()["id"])
        first = _fire(server, campaign_id, 400)
        assert server.kill() == -signal.SIGKILL  # right after the last 200
    finally:
        server.stop(signal.SIGKILL)
    assert first == 400
    assert counted_hits(db, campaign_id) == 0  # nothing was flushed before the kill

    restarted = LiveServer(data_dir=data_dir, database_url=database_url, env=ENV).start()
    try:
        second = _fire(restarted, campaign_id, 150, start=first)
        assert restarted.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    finally:
        restarted.stop(signal.SIGKILL)
    # Replayed on start, and everything else flushed on SIGTERM: exactly what was acknowledged.
    assert counted_hits(db, campaign_id) == first + second
    assert not list((data_dir / "spool" / "pixel").glob("*.seg"))
    assert not list((data_dir / "spool" / "pixel").glob("*.open"))
