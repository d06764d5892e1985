"""Jobs are rows: a worker claims one atomically, holds a lease it renews, and recovers work
left behind by a dead worker. The state a client polls and the queue are the same thing."""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Integer, String, Text, and_, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from beacon.core.db import Database, UTCDateTime, rowcount
from beacon.core.timefmt import utcnow

log = logging.getLogger("beacon.jobs")

PENDING, PROCESSING, COMPLETE, FAILED = "pending", "processing", "complete", "failed"


class JobMixin:
    """Columns every job row carries. ``status`` is what clients see."""

    status: Mapped[str] = mapped_column(String(20), default=PENDING, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    run_after: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_date: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_date: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class JobFailed(Exception):
    """A permanent failure: the job is marked failed with this message, without retrying."""


class JobRow(Protocol):
    id: Any
    status: str
    attempts: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    run_after: datetime | None
    error: str | None
    processed_date: datetime | None


Handler = Callable[[Session, Any], None]


@dataclass(frozen=True)
class JobKind:
    """A table of jobs and the function that does one. The handler fills in the results."""

    name: str
    model: Any
    handler: Handler
    lease_seconds: float = 30.0
    max_attempts: int = 3


@dataclass
class PeriodicTask:
    """Work the worker runs every ``interval`` seconds (e.g. a scheduler tick)."""

    name: str
    interval: float
    run: Callable[[Database], None]
    last_run: float = field(default=0.0)


def new_worker_id() -> str:
    """A worker identity unique across hosts and restarts."""
    return f"{socket.gethostname()}:{secrets.token_hex(4)}"


def claim_next(*, db: Database, kind: JobKind, worker_id: str) -> Any | None:
    """Atomically claim the oldest runnable job of ``kind``; None when there is none.

    Runnable: pending and due, or processing with an expired lease (its worker died). The
    conditional UPDATE makes the claim safe on SQLite; SKIP LOCKED keeps PostgreSQL workers
    from queueing behind each other.
    """
    model = kind.model
    while True:
        now = utcnow()
        runnable = or_(
            and_(model.status == PENDING, or_(model.run_after.is_(None), model.run_after <= now)),
            and_(model.status == PROCESSING, model.lease_expires_at < now),
        )
        with db.transaction() as session:
            job_id = session.scalar(
                select(model.id)
                .where(runnable)
                .order_by(model.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if job_id is None:
                return None
            claimed = rowcount(
                session,
                update(model)
                .where(model.id == job_id, runnable)
                .values(
                    status=PROCESSING,
                    attempts=model.attempts + 1,
                    lease_owner=worker_id,
                    lease_expires_at=now + timedelta(seconds=kind.lease_seconds),
                )
                .execution_options(synchronize_session=False),
            )
            if not claimed:
                continue
            job = session.get(model, job_id, populate_existing=True)
            assert job is not None
            if job.attempts > kind.max_attempts:
                _finish(
                    job,
                    FAILED,
                    f"gave up after {kind.max_attempts} attempts: {job.error or 'worker lost'}",
                )
                continue
            return job_id


def _finish(job: JobRow, status: str, error: str | None) -> None:
    job.status = status
    job.error = error
    job.lease_owner = None
    job.lease_expires_at = None
    if status == COMPLETE:
        job.processed_date = utcnow()


class _Heartbeat:
    """Renews a lease while its job runs; notices when the lease was lost."""

    def __init__(self, db: Database, kind: JobKind, job_id: Any, worker_id: str) -> None:
        self.db, self.kind, self.job_id, self.worker_id = db, kind, job_id, worker_id
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{kind.name}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        model = self.kind.model
        while not self._stop.wait(self.kind.lease_seconds / 3):
            try:
                with self.db.transaction() as session:
                    renewed = rowcount(
                        session,
                        update(model)
                        .where(model.id == self.job_id, model.lease_owner == self.worker_id)
                        .values(
                            lease_expires_at=utcnow() + timedelta(seconds=self.kind.lease_seconds)
                        )
                        .execution_options(synchronize_session=False),
                    )
                if not renewed:
                    self.lost = True
                    return
            except Exception:
                log.warning(
                    "lease renewal failed", extra={"job": self.kind.name, "job_id": self.job_id}
                )


def run_job(*, db: Database, kind: JobKind, job_id: Any, worker_id: str) -> None:
    """Run one claimed job to completion, failure, or a scheduled retry."""
    try:
        with _Heartbeat(db, kind, job_id, worker_id) as heartbeat, db.transaction() as session:
            job = session.get(kind.model, job_id)
            if job is None or job.lease_owner != worker_id:
                return
            kind.handler(session, job)
            if heartbeat.lost:
                raise _LeaseLost()
            _finish(job, COMPLETE, None)
    except _LeaseLost:
        log.warning("lease lost; result discarded", extra={"job": kind.name, "job_id": job_id})
    except JobFailed as exc:
        _record_failure(db, kind, job_id, worker_id, str(exc), retry=False)
    except Exception as exc:
        log.exception("job raised", extra={"job": kind.name, "job_id": job_id})
        _record_failure(db, kind, job_id, worker_id, f"{type(exc).__name__}: {exc}", retry=True)


class _LeaseLost(Exception):
    pass


def _record_failure(
    db: Database, kind: JobKind, job_id: Any, worker_id: str, message: str, *, retry: bool
) -> None:
    with db.transaction() as session:
        job = session.get(kind.model, job_id)
        if job is None or job.lease_owner != worker_id:
            return
        if retry and job.attempts < kind.max_attempts:
            job.status = PENDING
            job.error = message
            job.lease_owner = None
            job.lease_expires_at = None
            job.run_after = utcnow() + timedelta(seconds=min(60, 2**job.attempts))
        else:
            _finish(job, FAILED, message)


class Worker:
    """Claims and runs jobs of the registered kinds, plus periodic tasks, until stopped."""

    def __init__(
        self,
        *,
        db: Database,
        kinds: list[JobKind],
        periodic: list[PeriodicTask] | None = None,
        poll_interval: float = 0.5,
        worker_id: str | None = None,
    ) -> None:
        self.db = db
        self.kinds = kinds
        self.periodic = periodic or []
        self.poll_interval = poll_interval
        self.worker_id = worker_id or new_worker_id()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> bool:
        """Run due periodic tasks and at most one job of each kind; True if any job ran."""
        self._run_periodic()
        ran = False
        for kind in self.kinds:
            if self._stop.is_set():
                break
            job_id = claim_next(db=self.db, kind=kind, worker_id=self.worker_id)
            if job_id is not None:
                run_job(db=self.db, kind=kind, job_id=job_id, worker_id=self.worker_id)
                ran = True
        return ran

    def run_until_idle(self, max_rounds: int = 1000) -> None:
        """Process jobs until none is runnable (used by the CLI and by tests)."""
        for _ in range(max_rounds):
            if not self.run_once():
                return

    def run_forever(self) -> None:
        """The worker loop: poll, run, sleep when idle, exit promptly when stopped."""
        log.info("worker started", extra={"worker_id": self.worker_id})
        while not self._stop.is_set():
            try:
                ran = self.run_once()
            except Exception:
                log.exception("worker loop error (database down?); retrying")
                ran = False
            if not ran:
                self._wake.wait(self.poll_interval)
                self._wake.clear()
        log.info("worker stopped", extra={"worker_id": self.worker_id})

    def wake(self) -> None:
        """Look for work now instead of at the next poll."""
        self._wake.set()

    def start(self) -> None:
        """Run the loop in a background thread."""
        self._thread = threading.Thread(target=self.run_forever, name="beacon-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the loop to exit after the current job and wait for it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run_periodic(self) -> None:
        now = time.monotonic()
        for task in self.periodic:
            if now - task.last_run >= task.interval:
                task.last_run = now
                try:
                    task.run(self.db)
                except Exception:
                    log.exception("periodic task failed", extra={"task": task.name})
