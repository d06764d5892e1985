"""The scheduler: IANA timezones across DST, one active scheduler, due and overdue runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from tests.messaging.engine_helpers import (
    execution,
    person,
    run_execution,
    seed_campaign,
    send_now,
    wait_for,
)

from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.worker import Worker
from beacon.messaging.campaign_schemas import ScheduleRequest
from beacon.messaging.campaigns import observability, repository
from beacon.messaging.campaigns import service as campaigns
from beacon.messaging.campaigns.clock import ManualClock, resolve_local_time
from beacon.messaging.delivery import engine
from beacon.messaging.delivery.scheduler import LEASE_NAME, Scheduler, scheduler_task
from beacon.messaging.models import Campaign, Execution, SchedulerLease

NEW_YORK = "America/New_York"


@pytest.mark.parametrize(
    ("local", "zone", "utc"),
    [
        (datetime(2027, 7, 1, 9, 0), NEW_YORK, datetime(2027, 7, 1, 13, 0)),  # EDT
        (datetime(2027, 1, 15, 9, 0), NEW_YORK, datetime(2027, 1, 15, 14, 0)),  # EST
        # 02:30 does not exist on 14 March 2027 (clocks jump 02:00 -> 03:00): 03:30 EDT
        (datetime(2027, 3, 14, 2, 30), NEW_YORK, datetime(2027, 3, 14, 7, 30)),
        # 01:30 happens twice on 7 November 2027: the first one (EDT)
        (datetime(2027, 11, 7, 1, 30), NEW_YORK, datetime(2027, 11, 7, 5, 30)),
        (datetime(2027, 3, 28, 2, 30), "Europe/Berlin", datetime(2027, 3, 28, 1, 30)),
        (datetime(2027, 6, 1, 9, 0), "Asia/Kolkata", datetime(2027, 6, 1, 3, 30)),
    ],
)
def test_local_send_times_across_dst(local: datetime, zone: str, utc: datetime) -> None:
    assert resolve_local_time(local, zone) == utc.replace(tzinfo=UTC)


def _state(db: Database, campaign_id: object, clock: ManualClock) -> str:
    with db.transaction() as session:
        latest = repository.latest_execution(session, campaign_id=campaign_id)  # type: ignore[arg-type]
        return observability.execution_state(latest, now=clock.now())


def test_starts_at_the_local_send_time_and_only_the_lease_holder_acts(
    db: Database, settings: Settings
) -> None:
    campaign_id = seed_campaign(db, people=[person(0), person(1)])
    with db.transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        execution = campaigns.schedule_campaign(
            session=session,
            account_id=campaign.account_id,
            campaign_id=campaign_id,
            data=ScheduleRequest.model_validate(
                {"sendAt": "2027-03-14T02:30:00", "timezone": NEW_YORK}
            ),
        )
        assert execution.scheduled_for == datetime(2027, 3, 14, 7, 30, tzinfo=UTC)
    clock = ManualClock(datetime(2027, 3, 14, 7, 29, 59, tzinfo=UTC))
    leader = Scheduler(settings=settings, clock=clock, owner="worker-a")
    standby = Scheduler(settings=settings, clock=clock, owner="worker-b")

    assert leader.tick(db).started == []
    assert _state(db, campaign_id, clock) == "scheduled"
    clock.advance(1)
    assert _state(db, campaign_id, clock) == "pending_or_overdue"
    # the standby never acts while the lease is held, even with work due
    assert standby.tick(db).leader is False
    assert _state(db, campaign_id, clock) == "pending_or_overdue"
    result = leader.tick(db)
    assert result.leader and result.started == [str(execution.id)]
    assert _state(db, campaign_id, clock) == "running"
    with db.transaction() as session:
        started = session.get(Execution, execution.id)
        assert started is not None and started.started_at == clock.now()
        counts = repository.stage_counts(session, [execution.id])[execution.id]
        assert counts["scheduled"] == 2

    # the leader's worker dies: once its lease expires the standby takes over
    with db.transaction() as session:
        session.execute(
            update(SchedulerLease)
            .where(SchedulerLease.name == LEASE_NAME)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert standby.tick(db).leader is True
    assert leader.tick(db).leader is False


def test_a_worker_that_stops_cleanly_gives_the_lease_back(db: Database, settings: Settings) -> None:
    """A rolling restart: the stopping worker's scheduler gives its lease back, so another
    worker acts at its next tick instead of up to five ticks later (and a standby's release
    leaves the leader's lease alone)."""
    standby = Scheduler(settings=settings, clock=ManualClock(), owner="worker-b")
    worker = Worker(db=db, kinds=[], periodic=[scheduler_task(settings)], poll_interval=0.05)
    worker.start()
    wait_for(lambda: _lease_owner(db) not in (None, "worker-b"), what="the worker's lease")
    standby.release(db)
    assert _lease_owner(db) not in (None, "worker-b")
    assert standby.tick(db).leader is False
    worker.stop()
    assert _lease_owner(db) is None
    assert standby.tick(db).leader is True


def _lease_owner(db: Database) -> str | None:
    with db.transaction() as session:
        lease = session.get(SchedulerLease, LEASE_NAME)
        return None if lease is None else lease.owner


def test_a_due_run_waits_while_the_campaign_is_still_running(
    db: Database, settings: Settings
) -> None:
    campaign_id = seed_campaign(db, people=[person(0)])
    clock = ManualClock()
    first = send_now(db, campaign_id)
    scheduler = Scheduler(settings=settings, clock=clock)
    assert scheduler.tick(db).started == [str(first)]
    with db.transaction() as session:
        # a scheduled run comes due while the first one is still running
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        second = Execution(
            account_id=campaign.account_id,
            campaign_id=campaign_id,
            status="scheduled",
            trigger="schedule",
            scheduled_for=clock.now(),
        )
        session.add(second)
    clock.advance(5)
    result = scheduler.tick(db)
    assert result.started == []  # not even read: its campaign is running
    assert _state(db, campaign_id, clock) == "pending_or_overdue"


def test_an_execution_that_keeps_failing_to_start_fails(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign_id = seed_campaign(db, people=[person(0)])
    execution_id = send_now(db, campaign_id)

    def broken(**_: object) -> str:
        raise RuntimeError("segment rules no longer compile")

    monkeypatch.setattr(engine, "start_execution", broken)
    scheduler = Scheduler(settings=settings, clock=ManualClock())
    for attempt in range(1, settings.job_max_attempts + 1):
        result = scheduler.tick(db)
        assert result.leader, f"the lease is held by {_lease_owner(db)!r}"
        assert result.started == []
        with db.transaction() as session:
            found = session.get(Execution, execution_id)
            assert found is not None and found.attempts == attempt
    assert found.status == "failed" and "no longer compile" in (found.error or "")


def test_a_scheduled_run_that_starts_after_a_later_send_is_the_latest(
    db: Database, settings: Settings
) -> None:
    """The schedule is armed first, a run sent now finishes, then the scheduled run starts:
    /status follows the run going on, not the one created last (it read 'completed')."""
    campaign_id = seed_campaign(db, people=[person(0), person(1)])
    with db.transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        scheduled = campaigns.schedule_campaign(
            session=session,
            account_id=campaign.account_id,
            campaign_id=campaign_id,
            data=ScheduleRequest.model_validate(
                {"sendAt": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}
            ),
        ).id
    sent_now = send_now(db, campaign_id)
    clock = ManualClock()
    scheduler = run_execution(db, settings, clock)
    assert execution(db, sent_now).status == "completed"
    assert _state(db, campaign_id, clock) == "completed"

    clock.advance(timedelta(hours=1, seconds=1))
    assert scheduler.tick(db).started == [str(scheduled)]
    assert _state(db, campaign_id, clock) == "running"
    with db.transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        status = observability.status(session=session, campaign=campaign)
        assert status.execution.last_execution is not None
        assert status.execution.last_execution.execution_id == f"exec-{scheduled}"
        assert observability.metrics(session=session, campaign=campaign).last_execution_id == (
            f"exec-{scheduled}"
        )


def test_runs_waiting_for_their_campaign_do_not_hold_back_other_campaigns(
    db: Database, settings: Settings
) -> None:
    """The scheduler read the 100 oldest due runs and started what it could: with 100 due
    runs waiting for their running campaigns, another campaign's due run never started."""
    busy = seed_campaign(db, people=[person(0)])
    other = seed_campaign(db, people=[person(1)], account="globex")
    clock = ManualClock()
    scheduler = Scheduler(settings=settings, clock=clock)
    assert len(scheduler.tick(db).started) == 0
    first = send_now(db, busy)
    assert scheduler.tick(db).started == [str(first)]  # running: its later runs must wait
    with db.transaction() as session:
        campaign = session.get(Campaign, busy)
        assert campaign is not None
        for minutes in range(100, 0, -1):
            session.add(
                Execution(
                    account_id=campaign.account_id,
                    campaign_id=busy,
                    status="scheduled",
                    trigger="schedule",
                    scheduled_for=clock.now() - timedelta(minutes=minutes),
                )
            )
    waiting_elsewhere = send_now(db, other)
    clock.advance(1)
    result = scheduler.tick(db)
    assert result.started == [str(waiting_elsewhere)]
    assert _state(db, other, clock) == "running"
