"""The spool flusher: child processes of `beacon serve`.

Enrichment (User-Agent parsing, public-suffix and country lookups) and the rollup upserts
are CPU-bound Python. In a thread of the server they share the GIL with the event loop, and
every flush then stalls the hot path: measured on 2 CPUs, one process took ~10,000 hits/s
with a 55 ms p99 with the flusher as a thread, and ~22,000 hits/s with a 5 ms p99 without
it. So the server only appends and seals, and a child process does the rest:

- the server keeps a ``SpoolSealer`` thread: every ``interval`` it seals the open segment
  (so the child can take it) and publishes the backlog to the collector (back-pressure);
- the child runs an ordinary ``SpoolConsumer`` on the same spool directory at a lower CPU
  priority (nice +10), so under overload the machine serves hits first and flushes with
  what is left — the backlog (on disk, bounded by ``pixel_spool_max_backlog_bytes``) absorbs
  the difference;
- there are ``pixel_flushers`` such children (default 1): segments are independent, each is
  claimed by one child at a time (``Spool.claim``), so a backlog drains on several cores
  (enrichment is CPU-bound Python: one process uses one core at most);
- the child reports what it flushed over a pipe, so the server's ``/metrics`` shows it;
- on stop the server seals its segment, asks the child to finish (SIGTERM: it flushes
  everything sealed, then exits) and flushes whatever is still left itself; segments are
  counted exactly once whoever flushes them (``consumer``), so the two never double count;
- a child whose server died (``kill -9``) stops within a second; the next server's child
  replays the spool.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from beacon.core.config import Settings
from beacon.core.signals import StopSignal
from beacon.pixel.consumer import SpoolConsumer
from beacon.pixel.metrics import PixelMetrics
from beacon.pixel.spool import Spool

log = logging.getLogger("beacon.pixel.flusher")

NICENESS = 10
_STOP_POLL_SECONDS = 0.1  # how soon a SIGTERM or the server's death is noticed
_STOP_TIMEOUT_SECONDS = 60.0


class SpoolSealer:
    """Thread of the server process: seals the open segment, publishes the backlog, and
    keeps the flushers running: it starts them on its first tick (their first flush would
    come no sooner: a consumer waits an interval before it flushes, replay included) and
    starts a new one for any that died (so the backlog never waits for a restart)."""

    def __init__(
        self,
        consumer: SpoolConsumer,
        interval: float,
        flushers: Sequence[FlusherProcess] = (),
    ) -> None:
        self.consumer = consumer  # used for its seal and backlog steps only
        self.interval = interval
        self.flushers = flushers
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pixel-sealer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.consumer.seal()
                self.consumer.publish_backlog()
            except OSError:
                log.exception("sealing the pixel spool failed")
            for flusher in self.flushers:
                if not self._stopping.is_set():
                    flusher.keep_running()


class FlusherProcess:
    """A child process flushing the spool, and the server-side end of its metrics pipe."""

    def __init__(self, settings: Settings, metrics: PixelMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self._process: multiprocessing.process.BaseProcess | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> FlusherProcess:
        context = multiprocessing.get_context("spawn")
        receiving, sending = context.Pipe(duplex=False)
        self._process = context.Process(
            target=run_child,
            args=(self.settings, sending, os.getpid()),
            name="beacon-pixel-flusher",
            daemon=True,
        )
        self._process.start()
        sending.close()  # the child holds the only sending end: EOF when it exits
        self._reader = threading.Thread(
            target=self._relay, args=(receiving,), name="pixel-flusher-metrics", daemon=True
        )
        self._reader.start()
        return self

    def ask_to_stop(self) -> None:
        """Send the child SIGTERM: it flushes what it can claim, then exits (see ``stop``)."""
        process = self._process
        if process is not None and process.is_alive() and process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)

    def stop(self) -> int | None:
        """Ask the child to flush everything and exit; its exit code (None if killed)."""
        process = self._process
        if process is None:
            return None
        self.ask_to_stop()
        process.join(_STOP_TIMEOUT_SECONDS)
        if process.is_alive():
            log.error("pixel flusher did not stop in time; killing it")
            process.kill()
            process.join(5)
        if self._reader is not None:
            self._reader.join(5)
        self._process = None
        return process.exitcode

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def keep_running(self) -> bool:
        """Start the child if it is not running: the first time, or again after it died
        (crash, OOM kill); True when it replaced a dead one."""
        process = self._process
        if process is None:
            self.start()
            return False
        if process.is_alive():
            return False
        log.error("pixel flusher exited with %s; starting a new one", process.exitcode)
        if self._reader is not None:
            self._reader.join(5)
        self.metrics.flusher_restarts.inc()
        self.start()
        return True

    def _relay(self, receiving: Connection) -> None:
        with receiving:
            while True:
                try:
                    event = receiving.recv()
                except (EOFError, OSError):
                    return
                apply_event(self.metrics, event)


def apply_event(metrics: PixelMetrics, event: tuple[Any, ...]) -> None:
    """Apply one metrics event sent by a child's ``RelayedMetrics``."""
    name = event[0]
    if name == "reject":
        metrics.reject(str(event[1]), int(event[2]))
    elif name == "flush_seconds":
        metrics.flush_seconds.observe(float(event[1]))
    elif name in (
        "flushed",
        "segments",
        "flush_errors",
        "segments_quarantined",
        "hits_quarantined",
    ):
        getattr(metrics, name).inc(float(event[1]))


class _RelayedCounter:
    def __init__(self, name: str, sending: Connection) -> None:
        self.name, self.sending = name, sending

    def inc(self, amount: float = 1) -> None:
        _send(self.sending, (self.name, amount))


class _RelayedHistogram:
    def __init__(self, sending: Connection) -> None:
        self.sending = sending

    def observe(self, amount: float) -> None:
        _send(self.sending, ("flush_seconds", amount))


class RelayedMetrics:
    """The consumer's metrics in the child: every update goes to the server over a pipe."""

    def __init__(self, sending: Connection) -> None:
        self.sending = sending
        self.flushed = _RelayedCounter("flushed", sending)
        self.segments = _RelayedCounter("segments", sending)
        self.flush_errors = _RelayedCounter("flush_errors", sending)
        self.segments_quarantined = _RelayedCounter("segments_quarantined", sending)
        self.hits_quarantined = _RelayedCounter("hits_quarantined", sending)
        self.flush_seconds = _RelayedHistogram(sending)

    def reject(self, reason: str, count: int = 1) -> None:
        _send(self.sending, ("reject", reason, count))


def _send(sending: Connection, event: tuple[Any, ...]) -> None:
    # the server may be gone: the counts themselves are in the database
    with contextlib.suppress(OSError):
        sending.send(event)


def run_child(settings: Settings, sending: Connection, parent_pid: int) -> None:
    """Entry point of the child process."""
    from beacon.core.db import Database
    from beacon.core.http import configure_logging
    from beacon.pixel.factory import make_consumer, open_spool

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C reaches the server, which stops us
    stop = StopSignal()  # records SIGTERM without a lock; the loop below polls it
    stop.install(signal.SIGTERM)
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    configure_logging(settings.log_level)
    db = Database(settings.effective_database_url)
    spool: Spool = open_spool(settings)
    consumer = make_consumer(settings=settings, db=db, spool=spool, metrics=RelayedMetrics(sending))
    consumer.start()
    try:
        while not stop.requested:
            time.sleep(_STOP_POLL_SECONDS)
            if os.getppid() != parent_pid:
                log.warning("the server is gone; the pixel flusher stops")
                break
    finally:
        consumer.stop()
        spool.close()
        db.dispose()
        sending.close()
