"""The default flusher: a child process of `beacon serve` that flushes the spool, reports to
the server's /metrics, runs at a lower CPU priority and never outlives its server."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from tests.support import LiveServer, counted_hits, wait_for

from beacon.core.db import Database
from beacon.pixel.flusher import NICENESS

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc"),
]

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"
ENV = {"BEACON_PIXEL_FLUSH_INTERVAL": "0.2", "BEACON_WORKER_IN_PROCESS": "false"}


def _stat_fields(pid: int) -> list[str]:
    # after the ")" closing the command name: state, ppid, ... (field 3 onwards)
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _exited(pid: int) -> bool:
    """Gone, or a zombie waiting for whoever adopted it to reap it."""
    try:
        return _stat_fields(pid)[0] in ("Z", "X")
    except OSError:
        return True


def _children(pid: int) -> list[int]:
    """Child processes of ``pid`` started by multiprocessing (not its resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int(_stat_fields(int(entry.name))[1])
                command = (entry / "cmdline").read_bytes()
            except (OSError, IndexError):
                continue
            if parent == pid and b"spawn_main" in command:
                found.append(int(entry.name))
    return found


def _metric(server: LiveServer, series: str) -> float:
    text = httpx.get(f"{server.base_url}/metrics").text
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


def test_child_flushes_reports_metrics_and_dies_with_its_server(
    tmp_path: Path, database_url: str, db: Database, key_for: Callable[[str], str]
) -> None:
    key = key_for("flusher")
    server = LiveServer(data_dir=tmp_path / "data", database_url=database_url, env=ENV).start()
    assert server.process is not None
    server_pid = server.process.pid
    try:
        wait_for(lambda: len(_children(server_pid)) == 1, "the flusher process")
        (flusher,) = _children(server_pid)
        wanted = min(os.nice(0) + NICENESS, 19)
        wait_for(
            lambda: int(_stat_fields(flusher)[16]) == wanted, "the flusher to lower its priority"
        )

        created = httpx.post(
            f"{server.base_url}/v1/pixel/campaigns",
            json={"name": "flusher", "use_case": "campaign_reporting"},
            headers={"X-API-Key": key},
        )
        campaign_id = int(created.json()["id"])
        with httpx.Client(base_url=server.base_url, headers={"User-Agent": UA}) as client:
            for i in range(120):
                response = client.get(
                    f"/px/{campaign_id}.gif", params={"url": f"https://www.example.com/{i % 5}"}
                )
                assert response.status_code == 200
            assert client.get("/px/999999.gif").status_code == 200  # unknown: not counted

        # Flushed by the child while the server runs on, and visible on the server.
        wait_for(lambda: counted_hits(db, campaign_id) == 120, "the child to flush")
        wait_for(lambda: _metric(server, "beacon_pixel_hits_flushed_total") == 120, "metrics")
        assert _metric(server, 'beacon_pixel_hits_accepted_total{source="gif"}') == 121
        unknown = 'beacon_pixel_hits_rejected_total{reason="unknown_campaign"}'
        wait_for(lambda: _metric(server, unknown) == 1, "the rejection in the metrics")
        assert _metric(server, "beacon_pixel_segments_flushed_total") >= 1
        assert re.search(r"^beacon_pixel_flush_seconds_count [1-9]", _text(server), re.M)

        # A flusher that dies (OOM killer, crash) is replaced within a flush interval.
        os.kill(flusher, signal.SIGKILL)
        wait_for(lambda: _children(server_pid) not in ([], [flusher]), "a new flusher")
        (flusher,) = _children(server_pid)
        with httpx.Client(base_url=server.base_url, headers={"User-Agent": UA}) as client:
            for i in range(30):
                assert client.get(f"/px/{campaign_id}.gif", params={"u": str(i)}).status_code == 200
        wait_for(lambda: counted_hits(db, campaign_id) == 150, "the new flusher to flush")
        assert _metric(server, "beacon_pixel_flusher_restarts_total") == 1

        assert server.kill() == -signal.SIGKILL
        # An orphaned flusher stops by itself; the next server's flusher replays the spool.
        # (niced, it can take a while on a loaded machine: the bound is generous)
        wait_for(lambda: _exited(flusher), "the orphaned flusher to exit", 30)
    finally:
        server.stop(signal.SIGKILL)


def _text(server: LiveServer) -> str:
    return httpx.get(f"{server.base_url}/metrics").text


def test_two_flusher_children_share_the_spool_and_count_each_hit_once(
    tmp_path: Path, database_url: str, db: Database, key_for: Callable[[str], str]
) -> None:
    key = key_for("flushers")
    env = {**ENV, "BEACON_PIXEL_FLUSHERS": "2"}
    server = LiveServer(data_dir=tmp_path / "data", database_url=database_url, env=env).start()
    assert server.process is not None
    server_pid = server.process.pid
    try:
        wait_for(lambda: len(_children(server_pid)) == 2, "two flusher processes")
        first, second = _children(server_pid)
        created = httpx.post(
            f"{server.base_url}/v1/pixel/campaigns",
            json={"name": "flushers", "use_case": "campaign_reporting"},
            headers={"X-API-Key": key},
        )
        campaign_id = int(created.json()["id"])
        with httpx.Client(base_url=server.base_url, headers={"User-Agent": UA}) as client:
            for i in range(200):
                response = client.get(
                    f"/px/{campaign_id}.gif", params={"url": f"https://www.example.com/{i}"}
                )
                assert response.status_code == 200
        wait_for(lambda: counted_hits(db, campaign_id) == 200, "the flushers to flush")
        flushed = "beacon_pixel_hits_flushed_total"
        wait_for(lambda: _metric(server, flushed) == 200, "both flushers' metrics")

        # One of them dies: the other goes on, and the server starts a replacement.
        os.kill(first, signal.SIGKILL)
        wait_for(
            lambda: len(_children(server_pid)) == 2 and first not in _children(server_pid),
            "a replacement flusher",
        )
        assert second in _children(server_pid)
        with httpx.Client(base_url=server.base_url, headers={"User-Agent": UA}) as client:
            for i in range(50):
                assert client.get(f"/px/{campaign_id}.gif", params={"u": str(i)}).status_code == 200
        wait_for(lambda: counted_hits(db, campaign_id) == 250, "the flushers to flush again")
        wait_for(lambda: _metric(server, flushed) == 250, "the metrics")
        assert _metric(server, "beacon_pixel_flusher_restarts_total") == 1
    finally:
        server.stop(signal.SIGTERM)
    # SIGTERM: both flushers finish and nothing is counted twice.
    assert counted_hits(db, campaign_id) == 250


def test_a_burst_of_sigterms_stops_the_flusher(
    tmp_path: Path, database_url: str, db: Database
) -> None:
    # The flusher stops on SIGTERM, also on many at once. (Its handler once took a lock and
    # deadlocked when a second SIGTERM ran it inside itself; that interleaving cannot be forced
    # from outside, so this checks the behaviour, not the race.)
    server = LiveServer(data_dir=tmp_path / "data", database_url=database_url, env=ENV).start()
    assert server.process is not None
    try:
        wait_for(lambda: len(_children(server.process.pid)) == 1, "the flusher process")  # type: ignore[union-attr]
        (flusher,) = _children(server.process.pid)
        for _ in range(300):
            os.kill(flusher, signal.SIGTERM)
        wait_for(lambda: _exited(flusher), "the flusher to stop", 20)
    finally:
        server.stop(signal.SIGKILL)
