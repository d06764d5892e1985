"""The worker: claims jobs of the registered kinds and runs them through the job runner
(``core.jobs.run_context``) on N handler threads, runs the periodic ticks, and on shutdown
gives back the leases of the jobs it still holds."""

from __future__ import annotations

import logging
import threading
import time

from beacon.core.db import Database
from beacon.core.jobs import (
    JobContext,
    JobKind,
    PeriodicTask,
    claim_next,
    new_worker_id,
    run_context,
    runnable_kinds,
)
from beacon.core.signals import StopSignal

log = logging.getLogger("beacon.jobs")

_STOP_POLL_SECONDS = 0.1


class Worker:
    """Claims and runs jobs of the registered kinds, plus periodic ticks, on ``concurrency``
    handler threads until stopped; on stop it gives back the leases of jobs still running."""

    def __init__(
        self,
        *,
        db: Database,
        kinds: list[JobKind],
        periodic: list[PeriodicTask] | None = None,
        poll_interval: float = 0.5,
        worker_id: str | None = None,
        concurrency: int = 1,
        shutdown_grace: float = 5.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError("a worker needs at least one handler thread")
        self.db = db
        self.kinds = kinds
        self.periodic = periodic or []
        self.poll_interval = poll_interval
        self.worker_id = worker_id or new_worker_id()
        self.concurrency = concurrency
        self.shutdown_grace = shutdown_grace
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._running: dict[int, JobContext] = {}
        self._ticking: set[str] = set()
        # When, and by which handler thread, a probe last found no job (None: found one, or
        # woken since): the other threads skip theirs until a poll interval has passed.
        self._quiet: tuple[float, int] | None = None

    def run_once(self) -> bool:
        """Run due periodic ticks and at most one job of each kind; True if any job ran."""
        self._run_periodic()
        return self._claim_each(runnable_kinds(db=self.db, kinds=self.kinds))

    def _poll(self) -> bool:
        """`run_once` for a handler thread of the background loop, whose threads share their
        idle probes: when another thread's probe found no job less than a poll interval ago,
        and no wake-up or periodic tick came since, this thread does not ask again (an idle
        worker of N threads probes once an interval, not N times)."""
        ticked = self._run_periodic()
        me = threading.get_ident()
        with self._lock:
            quiet = self._quiet
        if (
            not ticked
            and quiet is not None
            and quiet[1] != me  # a thread's own last probe never holds it back
            and time.monotonic() - quiet[0] < self.poll_interval
        ):
            return False
        kinds = runnable_kinds(db=self.db, kinds=self.kinds)
        with self._lock:
            self._quiet = None if kinds else (time.monotonic(), me)
        return self._claim_each(kinds)

    def _claim_each(self, kinds: list[JobKind]) -> bool:
        ran = False
        for kind in kinds:
            if self._stop.is_set():
                break
            ran = self._claim_and_run(kind) or ran
        return ran

    def run_until_idle(self, max_rounds: int = 1000) -> None:
        """Process jobs in this thread until none is runnable (used by the CLI and by tests)."""
        for _ in range(max_rounds):
            if not self.run_once():
                return

    def run_forever(self, stop_signal: StopSignal | None = None) -> None:
        """Run the handler threads until stopped (``stop``, or ``stop_signal`` polled every
        0.1 s); then wait up to ``shutdown_grace`` seconds for their jobs and give back the
        leases of those still running."""
        log.info(
            "worker started", extra={"worker_id": self.worker_id, "concurrency": self.concurrency}
        )
        threads = [
            threading.Thread(target=self._loop, name=f"beacon-worker-{n}", daemon=True)
            for n in range(self.concurrency)
        ]

        def signalled() -> bool:
            return stop_signal is not None and stop_signal.requested

        if signalled():  # asked before we started: no thread claims anything
            self._stop.set()
        for thread in threads:
            thread.start()
        # With a stop signal to poll, every 0.1 s; without one only ``stop`` ends the wait.
        poll = _STOP_POLL_SECONDS if stop_signal is not None else 1.0
        while not self._stop.wait(poll):
            if signalled():
                self._stop.set()
                self._wake.set()
        deadline = time.monotonic() + self.shutdown_grace
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.give_back()
        with self._lock:
            ticking = bool(self._ticking)
        if not ticking:
            # A tick still running past the grace would act without the lease: it expires.
            self._release_periodic()
        log.info("worker stopped", extra={"worker_id": self.worker_id})

    def give_back(self) -> None:
        """Return the jobs this worker is still running to the queue (their handlers lose
        their leases), so another worker starts them without waiting for the leases to expire."""
        with self._lock:
            running = list(self._running.values())
        for context in running:
            try:
                context.give_back()
                log.info(
                    "lease given back", extra={"job": context.kind.name, "job_id": context.job_id}
                )
            except Exception:
                log.exception("could not give back a lease", extra={"job_id": context.job_id})

    def _release_periodic(self) -> None:
        """Let each periodic task give back what it holds across ticks (a leader's lease)."""
        for task in self.periodic:
            if task.release is None:
                continue
            try:
                task.release(self.db)
            except Exception:
                log.exception("periodic task could not release", extra={"task": task.name})

    def wake(self) -> None:
        """Look for work now instead of at the next poll."""
        with self._lock:
            self._quiet = None
        self._wake.set()

    def start(self) -> None:
        """Run the worker in a background thread."""
        self._thread = threading.Thread(target=self.run_forever, name="beacon-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the handler threads to exit after their current jobs, and wait for the worker."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran = self._poll()
            except Exception:
                log.exception("worker loop error (database down?); retrying")
                ran = False
            if not ran and not self._stop.is_set():
                self._wake.wait(self.poll_interval)
                self._wake.clear()

    def _claim_and_run(self, kind: JobKind) -> bool:
        job_id = claim_next(db=self.db, kind=kind, worker_id=self.worker_id)
        if job_id is None:
            return False
        context = JobContext(db=self.db, kind=kind, job_id=job_id, worker_id=self.worker_id)
        me = threading.get_ident()
        with self._lock:
            self._running[me] = context
        try:
            if self._stop.is_set():
                context.give_back()
            else:
                run_context(context)
        finally:
            with self._lock:
                self._running.pop(me, None)
        return True

    def _due_ticks(self) -> list[PeriodicTask]:
        now = time.monotonic()
        with self._lock:
            due = [
                task
                for task in self.periodic
                if task.name not in self._ticking and now - task.last_run >= task.interval
            ]
            for task in due:
                task.last_run = now
                self._ticking.add(task.name)
        return due

    def _run_periodic(self) -> bool:
        """Run the due ticks; whether any ran (a tick may have queued jobs)."""
        due = self._due_ticks()
        for task in due:
            try:
                task.run(self.db)
            except Exception:
                log.exception("periodic task failed", extra={"task": task.name})
            finally:
                with self._lock:
                    self._ticking.discard(task.name)
        return bool(due)
