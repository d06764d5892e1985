"""Jobs v2: handlers own phases through a JobContext, every commit and every finish is fenced
on the lease, retries follow the kind's strategy, and N handler threads run each job once."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import update
from tests.core.test_jobs import Chore, add, load
from tests.core.test_jobs import chores as chores

from beacon.core.db import Database
from beacon.core.jobs import (
    COMPLETE,
    FAILED,
    PENDING,
    JobContext,
    JobKind,
    LeaseLost,
    claim_next,
    run_job,
)
from beacon.core.retry import RetryLater, RetryStrategy
from beacon.core.worker import Worker

# A budget for a thread to get somewhere, not a speed target: a loaded two-CPU CI machine
# running Chromium beside the suite has stalled a handler thread's start for over 10 s.
WAIT = 30.0


def _steal(db: Database, chore_id: int, owner: str) -> None:
    with db.transaction() as session:
        session.execute(update(Chore).where(Chore.id == chore_id).values(lease_owner=owner))


def test_a_handler_that_lost_its_lease_writes_nothing_more(chores: Database) -> None:
    phases: list[str] = []

    def two_phases(ctx: JobContext) -> None:
        with ctx.transaction() as session:
            ctx.load(session).result = "phase 1"
        phases.append("one")
        _steal(ctx.db, ctx.job_id, "usurper")  # another worker takes the job over
        try:
            with ctx.transaction() as session:
                ctx.load(session).result = "phase 2"
        except LeaseLost:
            phases.append("lost")
            raise

    kind = JobKind(name="phases", model=Chore, handler=two_phases)
    (chore_id,) = add(chores, "x")
    assert claim_next(db=chores, kind=kind, worker_id="me") == chore_id
    run_job(db=chores, kind=kind, job_id=chore_id, worker_id="me")
    chore = load(chores, chore_id)
    assert phases == ["one", "lost"]
    assert chore.result == "phase 1", "the second phase was rolled back"
    assert (chore.lease_owner, chore.status) == ("usurper", "processing")


def test_a_commit_without_the_lease_rolls_back_even_without_loading_the_job(
    chores: Database,
) -> None:
    def write_other_row(ctx: JobContext) -> None:
        _steal(ctx.db, ctx.job_id, "usurper")
        with ctx.transaction() as session:
            session.add(Chore(payload="side effect"))

    kind = JobKind(name="fenced", model=Chore, handler=write_other_row)
    (chore_id,) = add(chores, "x")
    claim_next(db=chores, kind=kind, worker_id="me")
    run_job(db=chores, kind=kind, job_id=chore_id, worker_id="me")
    with chores.transaction() as session:
        assert session.query(Chore).filter_by(payload="side effect").count() == 0


def test_completion_after_a_takeover_is_refused(chores: Database) -> None:
    def finish_late(ctx: JobContext) -> None:
        _steal(ctx.db, ctx.job_id, "rescuer")  # the lease moved while this handler ran

    kind = JobKind(name="late", model=Chore, handler=finish_late)
    (chore_id,) = add(chores, "x")
    claim_next(db=chores, kind=kind, worker_id="stalled")
    run_job(db=chores, kind=kind, job_id=chore_id, worker_id="stalled")
    chore = load(chores, chore_id)
    assert (chore.status, chore.lease_owner, chore.processed_date) == (
        "processing",
        "rescuer",
        None,
    )


def test_a_failure_after_a_takeover_is_refused(chores: Database) -> None:
    def fail_late(ctx: JobContext) -> None:
        _steal(ctx.db, ctx.job_id, "rescuer")
        raise RuntimeError("boom")

    kind = JobKind(name="late", model=Chore, handler=fail_late)
    (chore_id,) = add(chores, "x")
    claim_next(db=chores, kind=kind, worker_id="stalled")
    run_job(db=chores, kind=kind, job_id=chore_id, worker_id="stalled")
    chore = load(chores, chore_id)
    assert (chore.status, chore.lease_owner, chore.error) == ("processing", "rescuer", None)


def test_retry_later_requeues_without_spending_an_attempt(chores: Database) -> None:
    def wait(ctx: JobContext) -> None:
        with ctx.transaction() as session:
            ctx.load(session).result = "discarded"
            raise RetryLater("inventory not classified yet", after=30)

    kind = JobKind(name="wait", model=Chore, handler=wait, retry=RetryStrategy(max_attempts=1))
    (chore_id,) = add(chores, "x")
    Worker(db=chores, kinds=[kind]).run_until_idle()
    chore = load(chores, chore_id)
    assert (chore.status, chore.attempts, chore.result, chore.lease_owner) == (
        PENDING,
        0,
        None,
        None,
    )
    assert chore.run_after is not None and chore.run_after > chore.created_date
    assert claim_next(db=chores, kind=kind, worker_id="w") is None, "not due for 30 s"


@pytest.mark.parametrize(
    ("strategy", "waits"),
    [
        (RetryStrategy(max_attempts=4), [2.0, 4.0, 8.0, None]),
        (RetryStrategy(max_attempts=4, wait_seconds=5, max_wait_seconds=12), [10.0, 12.0, 12.0]),
        (RetryStrategy(max_attempts=3, wait_seconds=7, exponential=False), [7.0, 7.0, None]),
    ],
)
def test_retry_strategy_waits(strategy: RetryStrategy, waits: list[float | None]) -> None:
    error = RuntimeError("transient")
    assert [strategy.next_wait(attempts=n, error=error) for n in range(1, len(waits) + 1)] == waits


def test_errors_outside_the_strategy_fail_at_once(chores: Database) -> None:
    strategy = RetryStrategy(max_attempts=5, retry_exceptions=(TimeoutError,))

    def raises(ctx: JobContext) -> None:
        raise ValueError("bad input") if ctx.job_id % 2 else TimeoutError("slow")

    kind = JobKind(name="picky", model=Chore, handler=raises, retry=strategy)
    odd, even = add(chores, "odd", "even")
    Worker(db=chores, kinds=[kind]).run_until_idle()
    first, second = load(chores, odd), load(chores, even)
    by_parity = {c.id % 2: c for c in (first, second)}
    assert (by_parity[1].status, by_parity[1].error) == (FAILED, "ValueError: bad input")
    assert (by_parity[0].status, by_parity[0].error) == (PENDING, "TimeoutError: slow")
    assert by_parity[0].run_after is not None


def test_n_handler_threads_run_each_job_exactly_once(chores: Database) -> None:
    if chores.engine.dialect.name != "postgresql":
        pytest.skip("concurrent claims with SKIP LOCKED are a PostgreSQL feature")
    runs: list[tuple[int, str]] = []
    lock = threading.Lock()

    def record(ctx: JobContext) -> None:
        time.sleep(0.01)  # long enough for the threads to overlap
        with ctx.transaction() as session:
            ctx.load(session).result = threading.current_thread().name
        with lock:
            runs.append((ctx.job_id, threading.current_thread().name))

    kind = JobKind(name="many", model=Chore, handler=record)
    ids = add(chores, *[f"job{i}" for i in range(40)])
    worker = Worker(db=chores, kinds=[kind], concurrency=4, poll_interval=0.05)
    worker.start()
    deadline = time.monotonic() + 30
    while len(runs) < len(ids) and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.stop()
    assert sorted(job_id for job_id, _ in runs) == ids, "each job ran once"
    assert len({name for _, name in runs}) > 1, "more than one handler thread did work"
    assert all(load(chores, i).status == COMPLETE for i in ids)


def test_stopping_gives_back_the_leases_of_running_jobs(chores: Database) -> None:
    started, release = threading.Event(), threading.Event()
    outcome: list[str] = []

    def slow(ctx: JobContext) -> None:
        started.set()
        release.wait(WAIT)
        try:
            with ctx.transaction() as session:
                ctx.load(session).result = "too late"
        except LeaseLost:
            outcome.append("lost")
            raise

    kind = JobKind(name="slow", model=Chore, handler=slow)
    (chore_id,) = add(chores, "x")
    worker = Worker(db=chores, kinds=[kind], shutdown_grace=0.1, poll_interval=0.05)
    worker.start()
    assert started.wait(WAIT)
    worker.stop()  # SIGTERM in `beacon worker` does this
    chore = load(chores, chore_id)
    assert (chore.status, chore.lease_owner, chore.attempts) == (PENDING, None, 0)
    release.set()
    deadline = time.monotonic() + WAIT
    while not outcome and time.monotonic() < deadline:
        time.sleep(0.02)
    assert outcome == ["lost"]
    assert load(chores, chore_id).result is None
    assert claim_next(db=chores, kind=kind, worker_id="next") == chore_id, "runnable at once"


def test_periodic_ticks_run_on_the_handler_threads_one_at_a_time(chores: Database) -> None:
    from beacon.core.jobs import PeriodicTask

    active, peak, ticks = [0], [0], [0]
    lock = threading.Lock()

    def tick(_db: Database) -> None:
        with lock:
            active[0] += 1
            ticks[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.1)
        with lock:
            active[0] -= 1

    task = PeriodicTask(name="tick", interval=0.0, run=tick)
    worker = Worker(db=chores, kinds=[], periodic=[task], concurrency=3, poll_interval=0.01)
    worker.start()
    time.sleep(0.5)
    worker.stop()
    assert ticks[0] >= 2
    assert peak[0] == 1, "a tick still running is not started again"


def test_concurrency_is_bounded_in_settings() -> None:
    from pydantic import ValidationError

    from beacon.core.config import Settings

    assert Settings(database_url="sqlite://").worker_concurrency == 2
    with pytest.raises(ValidationError):
        Settings(database_url="sqlite://", worker_concurrency=0)
    with pytest.raises(ValidationError):
        Settings(database_url="sqlite://", worker_concurrency=1000)


def test_a_stopping_worker_releases_its_periodic_tasks_once_their_ticks_are_done(
    chores: Database,
) -> None:
    """A tick that outlives the shutdown grace keeps acting: its task's lease is not given
    back under it (it expires); a worker whose ticks are done gives it back."""
    from beacon.core.jobs import PeriodicTask

    started, finish = threading.Event(), threading.Event()
    released: list[str] = []

    def slow_tick(_db: Database) -> None:
        started.set()
        finish.wait(WAIT)

    slow = PeriodicTask(
        name="slow", interval=0.0, run=slow_tick, release=lambda _db: released.append("slow")
    )
    worker = Worker(db=chores, kinds=[], periodic=[slow], shutdown_grace=0.1, poll_interval=0.05)
    worker.start()
    assert started.wait(WAIT)
    worker.stop()
    assert released == []
    finish.set()

    quick = PeriodicTask(
        name="quick",
        interval=0.0,
        run=lambda _db: started.set(),
        release=lambda _db: released.append("quick"),
    )
    started.clear()
    worker = Worker(db=chores, kinds=[], periodic=[quick], shutdown_grace=5.0, poll_interval=0.05)
    worker.start()
    assert started.wait(WAIT)
    worker.stop()
    assert released == ["quick"]
