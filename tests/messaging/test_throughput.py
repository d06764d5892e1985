"""A run's throughput (messages/s) derived from its recipient rows' ``sent_at``: on average,
per interval from its start, and now while it runs."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

import pytest

from beacon.core.auth import get_or_create_account
from beacon.core.db import Database
from beacon.core.timefmt import utcnow
from beacon.messaging.campaigns import observability
from beacon.messaging.models import Campaign, Contact, Execution, Recipient


def _run(db: Database, *, status: str, seconds: float, sent_after: list[float]) -> uuid.UUID:
    """A run started ``seconds`` ago (completed now unless running) whose rows were sent
    ``sent_after`` seconds after its start, plus one row never sent."""
    now = utcnow()
    start = now - timedelta(seconds=seconds)
    with db.transaction() as session:
        account = get_or_create_account(session=session, name="acme")
        campaign = Campaign(
            account_id=account.id, name="c", channel="email", campaign_type="broadcast"
        )
        session.add(campaign)
        contacts = [
            Contact(
                account_id=account.id, email=f"p{i}@x.io", unsubscribe_token=secrets.token_hex(8)
            )
            for i in range(len(sent_after) + 1)
        ]
        session.add_all(contacts)
        session.flush()
        run = Execution(
            account_id=account.id,
            campaign_id=campaign.id,
            status=status,
            trigger="send_now",
            scheduled_for=start,
            started_at=start,
            completed_at=None if status == "running" else now,
        )
        session.add(run)
        session.flush()
        for contact, after in zip(contacts, sent_after, strict=False):
            session.add(
                Recipient(
                    execution_id=run.id,
                    contact_id=contact.id,
                    stage="sent",
                    sent_at=start + timedelta(seconds=after),
                )
            )
        session.add(Recipient(execution_id=run.id, contact_id=contacts[-1].id, stage="injected"))
        return run.id


def test_a_finished_run(db: Database) -> None:
    # 60 s run: 30 intervals of 2 s; 4 sent in the first interval, 2 in the last
    run_id = _run(db, status="completed", seconds=60, sent_after=[0, 0.5, 1, 1.9, 59, 59.5])
    with db.transaction() as session:
        run = session.get(Execution, run_id)
        assert run is not None
        got = observability.throughput(session=session, execution=run)
    assert got is not None
    assert got.sent == 6 and got.current is None
    assert got.seconds == pytest.approx(60, abs=0.01)
    assert got.average == pytest.approx(0.1, abs=0.001)
    assert got.interval_seconds == pytest.approx(2, abs=0.001)
    assert len(got.rates) == 30
    assert got.rates[0] == pytest.approx(2.0, abs=0.01)
    assert got.rates[-1] == pytest.approx(1.0, abs=0.01)
    assert sum(got.rates[1:-1]) == 0


def test_a_running_run_has_a_current_rate(db: Database) -> None:
    # running for 20 s: 5 sent long ago, 3 in the last 10 s
    run_id = _run(db, status="running", seconds=20, sent_after=[1, 1, 2, 2, 3, 15, 16, 17])
    with db.transaction() as session:
        run = session.get(Execution, run_id)
        assert run is not None
        got = observability.throughput(session=session, execution=run)
        run.started_at = None
        assert observability.throughput(session=session, execution=run) is None
    assert got is not None
    assert got.sent == 8 and len(got.rates) in (20, 21)  # 1 s intervals; time passes
    assert got.current == pytest.approx(0.3)
    assert got.average == pytest.approx(8 / 20, abs=0.01)


def test_a_run_of_no_duration_is_one_interval_and_has_no_average(db: Database) -> None:
    # It was rated as if it had lasted a second: no rate is measurable over no time.
    run_id = _run(db, status="completed", seconds=0, sent_after=[0, 0])
    with db.transaction() as session:
        run = session.get(Execution, run_id)
        assert run is not None
        got = observability.throughput(session=session, execution=run)
    assert got is not None and got.rates == [2.0] and got.sent == 2
    assert got.average is None and got.seconds == 0


def test_a_run_shorter_than_a_second_is_rated_over_its_real_time(db: Database) -> None:
    # The average divided by the elapsed time rounded up to a whole second: 2 messages sent
    # in a 0.4 s run read 2.0 messages/s instead of 5.0.
    run_id = _run(db, status="completed", seconds=0.4, sent_after=[0.1, 0.3])
    with db.transaction() as session:
        run = session.get(Execution, run_id)
        assert run is not None
        got = observability.throughput(session=session, execution=run)
    assert got is not None
    assert got.sent == 2
    assert got.seconds == pytest.approx(0.4, abs=0.01)
    assert got.average == pytest.approx(5.0, rel=0.05)
    assert got.rates == [pytest.approx(5.0, rel=0.05)]


def test_a_last_interval_of_a_few_milliseconds_is_not_rated_over_them(db: Database) -> None:
    # A steady 2 messages/s run of 60.002 s: its 31st 2-second interval lasts 2 ms and holds
    # the message sent at 60.0 s; rated over those 2 ms it read 500 messages/s, and the chart,
    # scaled to its highest bar, flattened every other one (found by review).
    run_id = _run(db, status="completed", seconds=60.002, sent_after=[i * 0.5 for i in range(121)])
    with db.transaction() as session:
        run = session.get(Execution, run_id)
        assert run is not None
        got = observability.throughput(session=session, execution=run)
    assert got is not None and got.sent == 121
    assert got.average == pytest.approx(2.0, rel=0.02)
    assert got.rates[-1] <= 2 * got.rates[0]  # 1 message over at least half an interval
    assert max(got.rates) <= 2 * 2.0
