"""The campaign scheduler: starts executions when they are due and closes abandoned ones.

Every worker runs the scheduler tick, but only the holder of the ``messaging.scheduler``
lease (a row renewed on each tick, valid for five ticks) acts, so exactly one is active at a
time; when its worker dies the lease expires and the next worker to tick takes over (a worker
that stops cleanly gives the lease back, so another takes over at its next tick). Starting
an execution is itself a conditional UPDATE (scheduled -> running), so even two schedulers
could never start one run twice.

Send times are stored in UTC, converted from the campaign's IANA timezone when the campaign
is scheduled (``clock.resolve_local_time``), so "09:00 America/New_York" is 13:00Z in July and
14:00Z in January. A due execution that cannot start yet (another run of the campaign is
still going, or no worker was alive at its time) stays ``scheduled``; ``/status`` reports it
``pending_or_overdue`` from the moment its time passes.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.jobs import PeriodicTask, new_worker_id
from beacon.core.timefmt import utcnow
from beacon.messaging.campaigns.clock import SYSTEM_CLOCK, Clock
from beacon.messaging.delivery import engine
from beacon.messaging.delivery import repository as repo
from beacon.messaging.models import Execution

log = logging.getLogger("beacon.messaging.scheduler")
LEASE_NAME = "messaging.scheduler"
WAITING = "waiting"
LEASE_TICKS = 5
MIN_LEASE_SECONDS = 2.0


@dataclass
class TickResult:
    """What one tick did (for logs and tests)."""

    leader: bool
    started: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)


class Scheduler:
    """One worker's scheduler; ``tick`` does nothing unless this worker holds the lease."""

    def __init__(
        self, *, settings: Settings, clock: Clock = SYSTEM_CLOCK, owner: str | None = None
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.owner = owner or new_worker_id()
        # a live leader renews every tick; a dead one is replaced within a few ticks
        self.lease_seconds = max(
            LEASE_TICKS * settings.messaging_scheduler_interval_seconds, MIN_LEASE_SECONDS
        )

    def tick(self, db: Database) -> TickResult:
        """Take or renew the lease; if held, start due executions and close abandoned ones."""
        with db.transaction() as session:
            leader = repo.acquire_lease(
                session,
                name=LEASE_NAME,
                owner=self.owner,
                now=utcnow(),
                ttl_seconds=self.lease_seconds,
            )
        result = TickResult(leader=leader)
        if not leader:
            return result
        now = self.clock.now()
        with db.transaction() as session:
            due = [e.id for e in repo.due_executions(session, now=now)]
        for execution_id in due:
            status = self._start(db, execution_id, now)
            if status is not None:
                (result.waiting if status == WAITING else result.started).append(str(execution_id))
        with db.transaction() as session:
            for execution in repo.running_executions(session):
                if engine.sweep(session=session, execution=execution, now=utcnow()):
                    result.closed.append(str(execution.id))
        return result

    def release(self, db: Database) -> None:
        """Give back the lease if this scheduler holds it (its worker is stopping), so that
        another worker's next tick takes over instead of waiting for the lease to expire."""
        with db.transaction() as session:
            if repo.release_lease(session, name=LEASE_NAME, owner=self.owner):
                log.info("scheduler lease given back", extra={"owner": self.owner})

    def _start(self, db: Database, execution_id: uuid.UUID, now: datetime) -> str | None:
        """Start one due execution in its own transaction, so that one that cannot start does
        not hold back the others; one that keeps failing to start fails."""
        try:
            with db.transaction() as session:
                execution = session.get(Execution, execution_id)
                if execution is None or execution.status != "scheduled":
                    return None
                status = engine.start_execution(
                    session=session,
                    execution=execution,
                    now=now,
                    batch_size=self.settings.messaging_batch_size,
                )
        except Exception as exc:
            log.exception("execution did not start", extra={"execution_id": str(execution_id)})
            with db.transaction() as session:
                engine.record_start_failure(
                    session=session,
                    execution_id=execution_id,
                    error=f"{type(exc).__name__}: {exc}",
                    max_attempts=self.settings.job_max_attempts,
                    now=utcnow(),
                )
            return None
        if status is None:
            log.info("due execution waits", extra={"execution_id": str(execution_id)})
            return WAITING
        return status


def scheduler_task(settings: Settings, clock: Clock = SYSTEM_CLOCK) -> PeriodicTask:
    """The periodic task each worker runs; one of them holds the lease and acts."""
    scheduler = Scheduler(settings=settings, clock=clock)

    def run(db: Database) -> None:
        scheduler.tick(db)

    return PeriodicTask(
        name="messaging.scheduler",
        interval=settings.messaging_scheduler_interval_seconds,
        run=run,
        release=scheduler.release,
    )
