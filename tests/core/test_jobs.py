"""The job system: atomic claims, retries, permanent failures, lease takeover, no double runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Integer, MetaData, String, event, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from beacon.core.db import Database
from beacon.core.jobs import (
    COMPLETE,
    FAILED,
    PENDING,
    PROCESSING,
    JobFailed,
    JobKind,
    JobMixin,
    claim_next,
    run_job,
    runnable_kinds,
    single_transaction,
)
from beacon.core.retry import RetryStrategy
from beacon.core.timefmt import utcnow
from beacon.core.worker import Worker


class _TestBase(DeclarativeBase):
    metadata = MetaData()  # kept out of the application schema on purpose


class Chore(JobMixin, _TestBase):
    __tablename__ = "test_chores"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payload: Mapped[str] = mapped_column(String(50))
    result: Mapped[str | None] = mapped_column(String(50), nullable=True)


@pytest.fixture
def chores(db: Database) -> Iterator[Database]:
    _TestBase.metadata.create_all(db.engine)
    try:
        yield db
    finally:
        _TestBase.metadata.drop_all(db.engine)


def add(db: Database, *payloads: str) -> list[int]:
    with db.transaction() as session:
        rows = [Chore(payload=p) for p in payloads]
        session.add_all(rows)
        session.flush()
        return [r.id for r in rows]


def load(db: Database, chore_id: int) -> Chore:
    with db.transaction() as session:
        chore = session.get(Chore, chore_id)
        assert chore is not None
        session.expunge(chore)
        return chore


def upper(session: Session, job: Any) -> None:
    if job.payload == "bad":
        raise JobFailed("payload 'bad' cannot be processed")
    if job.payload == "flaky":
        raise RuntimeError("transient")
    job.result = job.payload.upper()


KIND = JobKind(
    name="chore",
    model=Chore,
    handler=single_transaction(upper),
    lease_seconds=30,
    retry=RetryStrategy(max_attempts=2),
)


def test_job_completes_with_result(chores: Database) -> None:
    (chore_id,) = add(chores, "hello")
    Worker(db=chores, kinds=[KIND]).run_until_idle()
    chore = load(chores, chore_id)
    assert (chore.status, chore.result, chore.attempts) == (COMPLETE, "HELLO", 1)
    assert chore.processed_date is not None
    assert chore.lease_owner is None


def test_permanent_failure_is_not_retried(chores: Database) -> None:
    (chore_id,) = add(chores, "bad")
    Worker(db=chores, kinds=[KIND]).run_until_idle()
    chore = load(chores, chore_id)
    assert chore.status == FAILED
    assert chore.error == "payload 'bad' cannot be processed"
    assert chore.attempts == 1


def test_transient_failure_retries_with_backoff_then_fails(chores: Database) -> None:
    (chore_id,) = add(chores, "flaky")
    worker = Worker(db=chores, kinds=[KIND])
    worker.run_until_idle()
    chore = load(chores, chore_id)
    assert chore.status == PENDING
    assert chore.attempts == 1
    assert chore.run_after is not None
    assert chore.error == "RuntimeError: transient"
    assert claim_next(db=chores, kind=KIND, worker_id="w") is None, "backoff: not runnable yet"
    with chores.transaction() as session:
        session.get(Chore, chore_id).run_after = None  # type: ignore[union-attr]
    worker.run_until_idle()
    chore = load(chores, chore_id)
    assert chore.status == FAILED
    assert chore.attempts == 2


def test_dead_workers_job_is_taken_over_and_late_result_discarded(chores: Database) -> None:
    short = JobKind(
        name="chore",
        model=Chore,
        handler=single_transaction(upper),
        lease_seconds=0.3,
        retry=RetryStrategy(max_attempts=3),
    )
    (chore_id,) = add(chores, "orphan")
    assert claim_next(db=chores, kind=short, worker_id="dead-worker") == chore_id
    assert load(chores, chore_id).status == PROCESSING
    assert claim_next(db=chores, kind=short, worker_id="other") is None, "lease still valid"
    time.sleep(0.4)
    assert claim_next(db=chores, kind=short, worker_id="rescuer") == chore_id
    run_job(db=chores, kind=short, job_id=chore_id, worker_id="dead-worker")
    assert load(chores, chore_id).status == PROCESSING, (
        "a worker that lost its lease changes nothing"
    )
    run_job(db=chores, kind=short, job_id=chore_id, worker_id="rescuer")
    chore = load(chores, chore_id)
    assert (chore.status, chore.result, chore.attempts) == (COMPLETE, "ORPHAN", 2)


def test_job_whose_workers_keep_dying_is_failed(chores: Database) -> None:
    short = JobKind(
        name="chore",
        model=Chore,
        handler=single_transaction(upper),
        lease_seconds=0.05,
        retry=RetryStrategy(max_attempts=2),
    )
    (chore_id,) = add(chores, "cursed")
    for worker in ("a", "b"):
        assert claim_next(db=chores, kind=short, worker_id=worker) == chore_id
        time.sleep(0.1)
    assert claim_next(db=chores, kind=short, worker_id="c") is None
    chore = load(chores, chore_id)
    assert chore.status == FAILED
    assert chore.error is not None and "gave up after 2 attempts" in chore.error


def test_long_job_keeps_its_lease(chores: Database) -> None:
    def slow(session: Session, job: Any) -> None:
        time.sleep(0.5)
        job.result = "done"

    kind = JobKind(
        name="slow",
        model=Chore,
        handler=single_transaction(slow),
        lease_seconds=0.2,
        retry=RetryStrategy(max_attempts=1),
    )
    (chore_id,) = add(chores, "slow")
    claimed = claim_next(db=chores, kind=kind, worker_id="steady")
    thief: list[Any] = []
    runner = threading.Thread(
        target=run_job,
        kwargs={"db": chores, "kind": kind, "job_id": claimed, "worker_id": "steady"},
    )
    runner.start()
    time.sleep(0.35)
    thief.append(claim_next(db=chores, kind=kind, worker_id="thief"))
    runner.join()
    assert thief == [None], "the heartbeat renewed the lease"
    assert load(chores, chore_id).status == COMPLETE


def test_concurrent_workers_claim_each_job_once(chores: Database) -> None:
    ids = add(chores, *[f"job{i}" for i in range(30)])
    claimed: dict[str, list[int]] = {"a": [], "b": [], "c": []}

    def drain(name: str) -> None:
        while (job_id := claim_next(db=chores, kind=KIND, worker_id=name)) is not None:
            claimed[name].append(job_id)

    threads = [threading.Thread(target=drain, args=(n,)) for n in claimed]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = sorted(i for got in claimed.values() for i in got)
    assert every == ids
    with chores.transaction() as session:
        owners = session.scalars(select(Chore.lease_owner)).all()
    assert all(owner in claimed for owner in owners)


class Errand(JobMixin, _TestBase):
    """A second kind's table, so that a poll has several kinds to ask about."""

    __tablename__ = "test_errands"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payload: Mapped[str] = mapped_column(String(50))
    result: Mapped[str | None] = mapped_column(String(50), nullable=True)


ERRAND = JobKind(name="errand", model=Errand, handler=single_transaction(upper))


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """The SQL statements ``db`` sends while the block runs."""
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def test_an_idle_poll_is_one_query_whatever_the_number_of_kinds(chores: Database) -> None:
    worker = Worker(db=chores, kinds=[KIND, ERRAND])
    with statements(chores) as sent:
        assert worker.run_once() is False
    assert len(sent) == 1, sent
    assert "test_chores" in sent[0] and "test_errands" in sent[0]


def test_a_poll_claims_only_the_kinds_that_have_a_job_to_run(chores: Database) -> None:
    (chore_id,) = add(chores, "hello")
    worker = Worker(db=chores, kinds=[KIND, ERRAND])
    with statements(chores) as sent:
        assert worker.run_once() is True
    assert load(chores, chore_id).status == COMPLETE
    assert not any("test_errands" in s for s in sent[1:])  # after the probe, chores only


def test_the_poll_finds_jobs_as_a_claim_would(chores: Database) -> None:
    now = utcnow()
    with chores.transaction() as session:
        session.add(Chore(payload="later", run_after=now + timedelta(hours=1)))
        session.add(
            Chore(payload="held", status=PROCESSING, lease_expires_at=now + timedelta(hours=1))
        )
        session.add(Errand(payload="done", status=COMPLETE))
    assert runnable_kinds(db=chores, kinds=[KIND, ERRAND]) == []
    with chores.transaction() as session:  # a dead worker's job, and one due now
        session.add(
            Chore(payload="orphan", status=PROCESSING, lease_expires_at=now - timedelta(seconds=1))
        )
        session.add(Errand(payload="due", run_after=now - timedelta(seconds=1)))
    assert runnable_kinds(db=chores, kinds=[KIND, ERRAND]) == [KIND, ERRAND]
    assert runnable_kinds(db=chores, kinds=[ERRAND]) == [ERRAND]
    assert runnable_kinds(db=chores, kinds=[]) == []


def test_an_idle_workers_threads_share_their_probes(chores: Database) -> None:
    """Four idle handler threads probe about once a poll interval between them, not four
    times; a job then written and announced with wake() still runs at once."""
    interval = 0.05
    worker = Worker(db=chores, kinds=[KIND, ERRAND], poll_interval=interval, concurrency=4)
    with statements(chores) as sent:
        worker.start()
        started = time.monotonic()
        time.sleep(0.6)
        probes = sum("test_errands" in s for s in sent)
        elapsed = time.monotonic() - started
        (chore_id,) = add(chores, "hello")
        worker.wake()
        deadline = time.monotonic() + 5
        while load(chores, chore_id).status != COMPLETE and time.monotonic() < deadline:
            time.sleep(0.02)
    worker.stop()
    assert load(chores, chore_id).status == COMPLETE
    # one thread probing every interval makes elapsed / interval probes; four on their own, 4x
    assert 1 <= probes <= 2 * elapsed / interval + 2, (probes, elapsed)
