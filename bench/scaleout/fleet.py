"""The scale-out run's machinery: beacon processes, the local SMTP sink and deal webhook, the
database helpers and the fault-injection gates (run.py drives them)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiosmtpd.controller import Controller
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Connection, Engine, create_engine, make_url, text

BEACON = [sys.executable, "-m", "beacon.cli"]
T = TypeVar("T")


class RunFailed(RuntimeError):
    """A step of the run could not be carried out (the message says which)."""


def wait_for(what: str, probe: Callable[[], T | None], *, timeout: float, every: float = 0.1) -> T:
    """Poll ``probe`` until it returns something other than None or False."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise RunFailed(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the database ------------------------------------------------------------------------------


def ensure_database(url: str) -> None:
    """Create the URL's database when missing (connecting to the server's ``postgres`` db)."""
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            found = conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
            )
            if not found:
                conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        admin.dispose()


def reset_schema(engine: Engine) -> None:
    """Drop everything in the public schema; the first beacon command migrates it again."""
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))


class ReportRowsGate:
    """A SHARE lock on ``pixel_report_rows``: report jobs block on their first write."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.conn: Connection | None = None

    def close(self) -> None:
        self.conn = self.engine.connect()
        self.conn.begin()
        self.conn.execute(text("LOCK TABLE pixel_report_rows IN SHARE MODE"))

    def open(self) -> None:
        if self.conn is not None:
            self.conn.rollback()
            self.conn.close()
            self.conn = None


# --- the local sinks ---------------------------------------------------------------------------

_MESSAGE_ID = re.compile(rb"^message-id:\s*<([^>]+)>", re.IGNORECASE | re.MULTILINE)


class SmtpSink:
    """aiosmtpd on loopback keeping (recipient, Message-ID) of every message it received.

    A message counts as received once its DATA arrived, before the reply: that is when a
    real mail server has it. After ``hold_after(n)``, DATA commands past the n-th message wait
    for ``release`` (their senders learn nothing): the window a worker is killed in.
    """

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        self.port = free_port()
        self.holding = 0
        self._hold_after: int | None = None
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self.release()
        with suppress(Exception):
            self._controller.stop()

    def hold_after(self, count: int) -> None:
        self._released.clear()
        self._hold_after = count

    def release(self) -> None:
        self._released.set()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content or b""
        raw = content if isinstance(content, bytes) else content.encode()
        found = _MESSAGE_ID.search(raw)
        message_id = found.group(1).decode() if found else ""
        with self._lock:
            for rcpt in envelope.rcpt_tos:
                self.received.append((rcpt.lower(), message_id))
            hold = self._hold_after is not None and len(self.received) > self._hold_after
            self.holding += hold
        while hold and not self._released.is_set():
            await asyncio.sleep(0.01)
        with self._lock:
            self.holding -= hold
        return "250 Message accepted for delivery"


class DealWebhook:
    """The operator's endpoint for deal definitions: checks the HMAC, keeps every push."""

    def __init__(self, secret: str) -> None:
        from beacon.activation.deals.providers import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

        self.pushes: list[tuple[int, str]] = []
        self.bad_signatures = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                timestamp = self.headers.get(TIMESTAMP_HEADER, "")
                if self.headers.get(SIGNATURE_HEADER) != f"sha256={sign(secret, timestamp, body)}":
                    sink.bad_signatures += 1
                    self.send_response(401)
                else:
                    deal = json.loads(body)
                    sink.pushes.append((int(deal["activation_id"]), str(deal["deal_id"])))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the run prints its own summary

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/deals"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self.server.shutdown()
        self.server.server_close()


# --- the processes -----------------------------------------------------------------------------


class Process:
    """One ``beacon`` command as a child process, its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name, self.args, self.env, self.log_path = name, args, env, log_path
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                [*BEACON, *self.args], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill9(self) -> None:
        """``kill -9`` and reap."""
        assert self.popen is not None
        os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def signal(self, sig: int) -> None:
        if self.alive:
            assert self.popen is not None
            self.popen.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        """The exit code; None (and the process killed) when it did not exit in time."""
        if self.popen is None:
            return None
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)
            return None


class Server(Process):
    """``beacon serve`` on a free loopback port with a data directory (and spool) of its own."""

    def __init__(self, index: int, work_dir: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        data_dir = work_dir / f"server-{index}"
        args = ["serve", "--port", str(self.port), "--data-dir", str(data_dir)]
        super().__init__(f"server-{index}", args, env, work_dir / f"server-{index}.log")

    def wait_ready(self, timeout: float = 120.0) -> None:
        def ready() -> bool:
            if not self.alive:
                raise RunFailed(f"{self.name} exited:\n{self.log_text()[-3000:]}")
            try:
                return httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(f"{self.name} to be ready", ready, timeout=timeout)


class WorkerProcess(Process):
    """``beacon worker``; its worker id (the lease owner it writes) is read from its output."""

    _ID = re.compile(r"^worker (\S+) running$", re.MULTILINE)

    def __init__(self, name: str, work_dir: Path, env: dict[str, str]) -> None:
        args = ["worker", "--data-dir", str(work_dir / name)]
        super().__init__(name, args, env, work_dir / f"{name}.log")
        self.worker_id = ""

    def read_id(self) -> str:
        """The worker id once the worker printed it, else an empty string."""
        if not self.worker_id:
            found = self._ID.search(self.log_text())
            self.worker_id = found.group(1) if found else ""
        return self.worker_id

    def wait_running(self, timeout: float = 120.0) -> None:
        def running() -> str | None:
            if not self.alive:
                raise RunFailed(f"{self.name} exited:\n{self.log_text()[-3000:]}")
            return self.read_id() or None

        wait_for(f"{self.name} to run", running, timeout=timeout)


class Fleet:
    """The two servers and the workers (a killed worker is replaced by a new process)."""

    def __init__(self, work_dir: Path, env: dict[str, str]) -> None:
        self.work_dir, self.env = work_dir, env
        self.servers = [Server(i, work_dir, env) for i in (1, 2)]
        self.workers: list[WorkerProcess] = []
        self.killed: list[WorkerProcess] = []

    def start(self) -> None:
        """Start the servers and two workers at once (``wait_started`` waits for them)."""
        for server in self.servers:
            server.start()
        for _ in range(2):
            self.add_worker()

    def wait_started(self) -> None:
        """Wait until every worker runs and every server answers."""
        for worker in self.workers:
            if not worker.worker_id and worker not in self.killed:
                worker.wait_running()
        for server in self.servers:
            server.wait_ready()

    def add_worker(self) -> WorkerProcess:
        """Start one more worker (without waiting for it)."""
        worker = WorkerProcess(f"worker-{len(self.workers) + 1}", self.work_dir, self.env)
        worker.start()
        self.workers.append(worker)
        return worker

    def live_worker(self, worker_id: str | None) -> WorkerProcess | None:
        """The running worker that writes ``worker_id`` as its lease owner."""
        return next((w for w in self.workers if w.alive and w.read_id() == worker_id), None)

    def replace(self, victim: WorkerProcess) -> WorkerProcess:
        """Start a new worker in place of one that was killed."""
        self.killed.append(victim)
        return self.add_worker()

    def stop(self) -> dict[str, int | None]:
        """SIGTERM every live process (servers flush their spools); their exit codes."""
        live = [p for p in [*self.servers, *self.workers] if p not in self.killed]
        for process in live:
            process.signal(signal.SIGTERM)
        return {p.name: p.wait(30.0) for p in live}

    def kill_all(self) -> None:
        """Leave nothing running, whatever happened."""
        for process in [*self.servers, *self.workers]:
            if process.alive:
                with suppress(ProcessLookupError, subprocess.TimeoutExpired):
                    process.kill9()


# --- clients -----------------------------------------------------------------------------------


class Api:
    """A JSON client for one server that fails loudly."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=60.0)

    def call(
        self, method: str, path: str, *, expect: tuple[int, ...] = (200, 201), **kw: Any
    ) -> Any:
        response = self.http.request(method, path, **kw)
        if response.status_code not in expect:
            raise RunFailed(f"{method} {path} answered {response.status_code}: {response.text}")
        return response.json() if response.content else None

    def close(self) -> None:
        self.http.close()


def pixel_counters(base_url: str) -> tuple[float, float]:
    """(hits flushed into the rollups, hits rejected) by one server, from its /metrics."""
    flushed = rejected = 0.0
    body = httpx.get(f"{base_url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == "beacon_pixel_hits_flushed_total":
                flushed += sample.value
            elif sample.name == "beacon_pixel_hits_rejected_total":
                rejected += sample.value
    return flushed, rejected


def beacon_cli(*args: str, env: dict[str, str]) -> str:
    """Run a beacon command to completion; its last stdout line."""
    done = subprocess.run([*BEACON, *args], env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RunFailed(f"beacon {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout.strip().splitlines()[-1]
