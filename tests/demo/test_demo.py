"""`beacon serve --demo` (what `make run` starts): the demo account is filled through the
public APIs, and the three printed commands show real, consistent data."""

from __future__ import annotations

import mailbox
import queue
import re
import threading
from pathlib import Path

import httpx
import pytest
from tests.support import LiveServer

pytestmark = pytest.mark.e2e


def _lines_until(server: LiveServer, marker: str, timeout: float) -> list[str]:
    """Read the server's stdout until a line containing ``marker`` (and the block after it)."""
    assert server.process is not None and server.process.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    stdout = server.process.stdout

    def pump() -> None:
        for line in stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(
                f"no {marker!r} in {timeout} s: {seen}\n{server.log_path.read_text()[-3000:]}"
            ) from None
        seen.append(line)
        if "could not fill the demo account" in line:
            raise AssertionError(line)
        if marker in line:
            break
    while True:
        try:
            seen.append(lines.get(timeout=2))
        except queue.Empty:
            return seen


def test_demo_fills_an_account_and_prints_working_commands(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    server = LiveServer(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'beacon.db'}",
        args=("--demo",),
    ).start(timeout=60)
    try:
        output = "\n".join(_lines_until(server, "Demo account ready", timeout=150))
        key = re.search(r"export BEACON_KEY=(\S+)", output)
        assert key, output
        headers = {"X-API-Key": key.group(1)}
        base = server.base_url

        report_path = re.search(r"(/v1/pixel/reports/campaign/\d+)", output)
        assert report_path, output
        report = httpx.get(base + report_path.group(1), headers=headers).json()
        assert report["status"] == "complete"
        summary = report["summary"]
        assert summary["impressions"] > 5000
        assert summary["invalid_traffic"]["bot"] > 0
        assert summary["invalid_traffic"]["ai_agent"] > 0
        assert summary["misrepresented_impressions"] > 0
        assert summary["unique_domains"] == 7
        assert {row["device"] for row in report["data"]} >= {"desktop", "mobile"}

        segment_id = re.search(r'"segment_ids": \[(\d+)\]', output)
        assert segment_id, output
        segment = httpx.get(f"{base}/v1/clsfy/segments/{segment_id.group(1)}", headers=headers)
        assert segment.json()["status"] == "complete"
        assert segment.json()["url_count"] > 0
        activations = httpx.get(f"{base}/v1/clsfy/activations", headers=headers).json()
        assert activations and activations[0]["deal_id"]

        client_id = re.search(r"export BEACON_CLIENT_ID=(\S+)", output)
        secret = re.search(r"export BEACON_CLIENT_SECRET=(\S+)", output)
        assert client_id and secret
        token = httpx.post(
            f"{base}/public/v1/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id.group(1),
                "client_secret": secret.group(1),
            },
        ).json()["access_token"]
        status_path = re.search(r"(/public/v1/campaigns/[0-9a-f-]+/status)", output)
        assert status_path, output
        status = httpx.get(
            base + status_path.group(1), headers={"Authorization": f"Bearer {token}"}
        ).json()["data"]
        assert status["execution"]["state"] == "completed"
        counts = status["execution"]["lastExecution"]["counts"]
        delivered = len(mailbox.Maildir(data_dir / "demo-mailbox", create=False))
        assert counts["sent"] == delivered > 0
        assert counts["failed"] == 1  # the contact without an email address
    finally:
        server.stop()
