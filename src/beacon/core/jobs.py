"""Jobs are rows: a worker claims one atomically, holds a lease it renews, and recovers work
left behind by a dead worker. The state a client polls and the queue are the same thing.

The runner owns every job transaction: a handler gets a ``JobContext`` and opens each phase's
transaction from it; each commit renews the lease fenced on ``lease_owner`` (``LeaseLost``
when another worker holds it now), and completion, failure and retries are fenced the same
way. ``single_transaction`` adapts a handler whose work is atomic with its completion.
"""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    Text,
    and_,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from beacon.core.db import Database, UTCDateTime, rowcount
from beacon.core.retry import RetryLater, RetryStrategy
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


class LeaseLost(Exception):
    """This worker no longer holds the job's lease (another worker took it over, or it was
    given back): the transaction that noticed is rolled back and the handler must stop."""


class JobRow(Protocol):
    id: Any
    status: str
    attempts: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    run_after: datetime | None
    error: str | None
    processed_date: datetime | None


Handler = Callable[["JobContext"], None]
RowHandler = Callable[[Session, Any], None]


@dataclass(frozen=True)
class JobKind:
    """A table of jobs, the function that does one, and how it retries."""

    name: str
    model: Any
    handler: Handler
    lease_seconds: float = 30.0
    retry: RetryStrategy = field(default_factory=RetryStrategy)

    @property
    def max_attempts(self) -> int:
        """Runs of one job before it is marked failed."""
        return self.retry.max_attempts


@dataclass
class PeriodicTask:
    """Work the worker runs every ``interval`` seconds (e.g. a scheduler tick), on one of its
    handler threads; a tick still running is not started again."""

    name: str
    interval: float
    run: Callable[[Database], None]
    # What a worker stopping cleanly calls once its threads are done (the scheduler gives back
    # its lease there, so another worker acts at its next tick rather than at the lease's end).
    release: Callable[[Database], None] | None = None
    last_run: float = field(default=0.0)


_FINISHING = "beacon.jobs.finishing"
_HELD = "beacon.jobs.held"


def new_worker_id() -> str:
    """A worker identity unique across hosts and restarts."""
    return f"{socket.gethostname()}:{secrets.token_hex(4)}"


class JobContext:
    """What a handler receives: its job's identity, and ``transaction()``, the only way it
    gets a session. Every write the handler makes is fenced on the lease this worker holds."""

    def __init__(self, *, db: Database, kind: JobKind, job_id: Any, worker_id: str) -> None:
        self.db, self.kind, self.job_id, self.worker_id = db, kind, job_id, worker_id
        self.finished = False
        self._lost = threading.Event()

    @property
    def lost(self) -> bool:
        """Whether this worker is known to have lost the job's lease."""
        return self._lost.is_set()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A transaction of this job. Before it commits, the lease is renewed with
        ``UPDATE ... WHERE id = :id AND lease_owner = :me``; when no row matches, the
        transaction rolls back and ``LeaseLost`` is raised, so a worker that lost its job
        writes nothing more."""
        if self.lost:
            raise LeaseLost(f"{self.kind.name} {self.job_id}: lease lost")
        with self.db.transaction() as session:
            yield session
            finishing = bool(session.info.get(_FINISHING))
            if not finishing and not self._held_recently(session):
                self._fence(session, lease_expires_at=self._lease_end())
        # Per session, not per context: a handler may run transactions on several threads.
        if finishing:
            self.finished = True

    def load(self, session: Session) -> Any:
        """The job row in ``session``; LeaseLost when it is gone or no longer this worker's."""
        job = session.get(self.kind.model, self.job_id, populate_existing=True)
        if job is None or job.lease_owner != self.worker_id:
            self._lost.set()
            raise LeaseLost(f"{self.kind.name} {self.job_id}: lease lost")
        return job

    def hold(self, session: Session) -> None:
        """Renew the lease now, in ``session``'s transaction (LeaseLost when it is lost): the
        job row stays locked until commit, so what follows runs while the lease is ours."""
        self._fence(session, lease_expires_at=self._lease_end())
        session.info[_HELD] = time.monotonic()

    def _held_recently(self, session: Session) -> bool:
        # a transaction that began with ``hold`` renewed the lease and locked the job row: a
        # second renewal before its commit adds nothing unless the transaction ran long
        held = session.info.get(_HELD)
        return held is not None and time.monotonic() - held < self.kind.lease_seconds / 4

    def complete(self, session: Session) -> None:
        """Mark the job complete in this transaction (fenced), so the handler's last writes
        and the completion commit together."""
        self._finish(session, COMPLETE, None)

    def _finish(self, session: Session, status: str, error: str | None) -> None:
        processed = utcnow() if status == COMPLETE else None
        self._fence(
            session,
            status=status,
            error=error,
            lease_owner=None,
            lease_expires_at=None,
            processed_date=processed,
        )
        session.info[_FINISHING] = True

    def _release(
        self, session: Session, *, after: float, error: str | None, count_attempt: bool
    ) -> None:
        model = self.kind.model
        self._fence(
            session,
            status=PENDING,
            error=error,
            lease_owner=None,
            lease_expires_at=None,
            run_after=utcnow() + timedelta(seconds=after),
            attempts=model.attempts if count_attempt else model.attempts - 1,
        )
        session.info[_FINISHING] = True

    def _fence(self, session: Session, **values: Any) -> None:
        model = self.kind.model
        session.flush()
        matched = rowcount(
            session,
            update(model)
            .where(model.id == self.job_id, model.lease_owner == self.worker_id)
            .values(**values)
            .execution_options(synchronize_session=False),
        )
        if not matched:
            self._lost.set()
            raise LeaseLost(f"{self.kind.name} {self.job_id}: lease lost")

    def _lease_end(self) -> datetime:
        return utcnow() + timedelta(seconds=self.kind.lease_seconds)

    def renew(self) -> None:
        """Renew the lease in a transaction of its own (the heartbeat between transactions)."""
        with self.db.transaction() as session:
            self._fence(session, lease_expires_at=self._lease_end())

    def give_back(self) -> None:
        """Return the job to the queue at once, not counted as an attempt (worker shutdown);
        the handler, if still running, loses its lease at its next commit."""
        if self.finished:
            return
        self._lost.set()
        # Finished or taken over meanwhile (LeaseLost, rolled back): nothing of ours to give back.
        with suppress(LeaseLost), self.db.transaction() as session:
            self._release(session, after=0.0, error=None, count_attempt=False)


def single_transaction(handler: RowHandler) -> Handler:
    """Adapt ``handler(session, job)`` for work atomic with its completion: it runs in one
    transaction of the job, which also marks the job complete."""

    @wraps(handler)
    def run(context: JobContext) -> None:
        with context.transaction() as session:
            handler(session, context.load(session))
            context.complete(session)

    return run


def _runnable(model: Any, now: datetime) -> ColumnElement[bool]:
    """Pending and due, or processing with an expired lease (its worker died)."""
    return or_(
        and_(model.status == PENDING, or_(model.run_after.is_(None), model.run_after <= now)),
        and_(model.status == PROCESSING, model.lease_expires_at < now),
    )


def runnable_kinds(*, db: Database, kinds: Sequence[JobKind]) -> list[JobKind]:
    """The kinds with a job to claim now, in order, asked in one statement: an idle worker's
    poll is one query instead of a claim transaction for each kind (three round trips each on
    PostgreSQL)."""
    if not kinds:
        return []
    now = utcnow()
    probes = [
        select(literal(number)).where(
            select(kind.model.id).where(_runnable(kind.model, now)).exists()
        )
        for number, kind in enumerate(kinds)
    ]
    with db.transaction() as session:
        found = set(session.scalars(union_all(*probes)))
    return [kind for number, kind in enumerate(kinds) if number in found]


def claim_next(*, db: Database, kind: JobKind, worker_id: str) -> Any | None:
    """Atomically claim the oldest runnable job of ``kind``; None when there is none.

    Runnable: pending and due, or processing with an expired lease (its worker died). The
    conditional UPDATE makes the claim safe on SQLite; SKIP LOCKED keeps PostgreSQL workers
    from queueing behind each other.
    """
    model = kind.model
    while True:
        now = utcnow()
        runnable = _runnable(model, now)
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
                _give_up(job, f"gave up after {kind.max_attempts} attempts: ", job.error)
                continue
            return job_id


def _give_up(job: JobRow, prefix: str, error: str | None) -> None:
    job.status = FAILED
    job.error = prefix + (error or "worker lost")
    job.lease_owner = None
    job.lease_expires_at = None


class _Heartbeat:
    """Renews a lease while its job runs (between the handler's own transactions, which renew
    it as they commit); stops when the lease is lost."""

    def __init__(self, context: JobContext) -> None:
        self.context = context
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"lease-{context.kind.name}", daemon=True
        )

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        context = self.context
        while not self._stop.wait(context.kind.lease_seconds / 3) and not context.lost:
            try:
                context.renew()
            except LeaseLost:
                return
            except Exception:
                log.warning(
                    "lease renewal failed",
                    extra={"job": context.kind.name, "job_id": context.job_id},
                )


def run_job(*, db: Database, kind: JobKind, job_id: Any, worker_id: str) -> None:
    """Run one claimed job to completion, failure, or a scheduled retry."""
    run_context(JobContext(db=db, kind=kind, job_id=job_id, worker_id=worker_id))


def run_context(context: JobContext) -> None:
    """Run the handler of ``context``'s job, then settle the job, every step fenced."""
    kind, job_id = context.kind, context.job_id
    try:
        with _Heartbeat(context):
            kind.handler(context)
        if not context.finished:
            with context.transaction() as session:
                context.complete(session)
    except LeaseLost:
        log.warning("lease lost; result discarded", extra={"job": kind.name, "job_id": job_id})
    except RetryLater as exc:
        after = exc.after
        _settle(
            context,
            lambda session, _job: context._release(
                session, after=after, error=None, count_attempt=False
            ),
        )
    except JobFailed as exc:
        message = str(exc)
        _settle(context, lambda session, _job: context._finish(session, FAILED, message))
    except Exception as exc:
        log.exception("job raised", extra={"job": kind.name, "job_id": job_id})
        error = exc
        _settle(context, lambda session, job: _fail_or_retry(context, session, job, error))


def _fail_or_retry(context: JobContext, session: Session, job: JobRow, exc: Exception) -> None:
    message = f"{type(exc).__name__}: {exc}"
    wait = context.kind.retry.next_wait(attempts=job.attempts, error=exc)
    if wait is None:
        context._finish(session, FAILED, message)
    else:
        context._release(session, after=wait, error=message, count_attempt=True)


def _settle(context: JobContext, settle: Callable[[Session, Any], None]) -> None:
    try:
        with context.transaction() as session:
            settle(session, context.load(session))
    except LeaseLost:
        log.warning(
            "lease lost; outcome discarded",
            extra={"job": context.kind.name, "job_id": context.job_id},
        )
