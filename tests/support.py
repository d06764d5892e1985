"""Test support: a real ``beacon`` server process on a free loopback port, and the repository's
scripts (bench/, scripts/) imported as modules."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import func, select

from beacon.core.db import Database
from beacon.messaging.oauth import service as oauth
from beacon.pixel.models import PixelRollup

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

BEACON = [sys.executable, "-m", "beacon.cli"]
ROOT = Path(__file__).resolve().parents[1]


def load_script(path: Path) -> ModuleType:
    """Import a script of the repository that is not part of the package (``bench/...``,
    ``scripts/...``) as the module named by its file stem; its directory goes on ``sys.path``
    so the imports of its siblings (``from train_features import ...``) resolve."""
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def counted_hits(db: Database, campaign_id: int) -> int:
    """Pixel hits of a campaign counted in its rollups."""
    with db.transaction() as session:
        total = session.scalar(
            select(func.sum(PixelRollup.hits)).where(PixelRollup.campaign_id == campaign_id)
        )
    return int(total or 0)


ALL_SCOPES = " ".join(oauth.SCOPES)


def bearer_token(
    client: TestClient, db: Database, account: str = "acme", scopes: str = ALL_SCOPES
) -> str:
    """A new OAuth client of ``account`` exchanged for an access token at the token endpoint."""
    with db.transaction() as session:
        issued = oauth.create_client(session=session, account_name=account, scopes=scopes)
    response = client.post(
        "/public/v1/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": issued.client_id,
            "client_secret": issued.client_secret,
        },
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """``beacon serve`` (or any beacon command) as a child process, for end-to-end tests."""

    def __init__(
        self,
        *,
        data_dir: Path,
        database_url: str,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        self.data_dir = data_dir
        self.args = args
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "BEACON_DATABASE_URL": database_url,
            "BEACON_DATA_DIR": str(data_dir),
            "BEACON_WORKER_POLL_INTERVAL": "0.2",
            **(env or {}),
        }
        self.process: subprocess.Popen[str] | None = None
        self.first_key: str | None = None
        self.banner: list[str] = []  # first-start lines after the key
        self.log_path = data_dir.parent / f"server-{self.port}.log"

    def start(self, timeout: float = 60.0) -> LiveServer:
        """Start the process and wait until /healthz answers; capture the first-start key."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                [*BEACON, "serve", "--port", str(self.port), *self.args],
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if "X-API-Key:" in line:
                self.first_key = line.split("X-API-Key:", 1)[1].strip()
                for banner in self.process.stdout:  # the banner ends with the key's export line
                    self.banner.append(banner)
                    if "export BEACON=" in banner:
                        break
                break
            if "keys create --account" in line:  # the hint of a database with accounts
                break
        deadline = time.monotonic() + timeout
        # one client for the polls: each new one builds a TLS context (~20 ms of CPU), which
        # ten polls a second made a few percent of the whole suite's CPU
        with httpx.Client(timeout=1) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"server exited with {self.process.returncode}: {self.log_path.read_text()}"
                    )
                try:
                    if http.get(f"{self.base_url}/healthz").status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        # A server that is still starting would live on and its worker would take later tests'
        # jobs: end it before failing.
        self.kill()
        raise TimeoutError(f"server did not start: {self.log_path.read_text()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Send ``sig`` and wait for the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()  # never leave a server behind for the next test
            self.process.wait()
            raise
        finally:
            if self.process.stdout:
                self.process.stdout.close()

    def kill(self) -> int:
        """``kill -9``."""
        return self.stop(signal.SIGKILL)


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a ``beacon`` command to completion."""
    return subprocess.run(
        [*BEACON, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )


def slowed(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, seconds: float = 0.15) -> None:
    """Make ``module.name`` sleep after it returns: a race test widens the window between a
    request's read and its write, so that without a lock every thread reads the same state."""
    original = getattr(module, name)

    def slow(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        time.sleep(seconds)
        return result

    monkeypatch.setattr(module, name, slow)


def in_parallel(call: Callable[[], httpx.Response], n: int) -> list[httpx.Response]:
    """``call`` from ``n`` threads at once (the app serves each in its own thread)."""
    with ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(call) for _ in range(n)]
        return [future.result() for future in futures]
