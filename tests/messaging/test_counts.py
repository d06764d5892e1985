"""Pipeline counts are derived from recipient rows with one GROUP BY, cumulatively."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from beacon.core.auth import get_or_create_account
from beacon.core.db import Database
from beacon.core.timefmt import utcnow
from beacon.messaging.campaigns import observability, repository
from beacon.messaging.models import Campaign, Contact, Execution, Recipient

# (stage, failed_stage) of each recipient row of the first execution
ROWS = [
    ("scheduled", None),
    ("hydrated", None),
    ("composed", None),
    ("injected", None),
    ("sent", None),
    ("sent", None),
    ("failed", "hydrated"),  # dropped before hydration
    ("failed", "composed"),  # hydrated, then failed to compose
    ("failed", "sent"),  # injected, the provider refused it
]


def _seed(db: Database) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    now = utcnow()
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
            for i in range(len(ROWS))
        ]
        session.add_all(contacts)
        session.flush()
        first = Execution(
            account_id=account.id,
            campaign_id=campaign.id,
            status="completed",
            trigger="send_now",
            scheduled_for=now - timedelta(hours=1),
            created_at=now - timedelta(hours=1),
        )
        second = Execution(
            account_id=account.id,
            campaign_id=campaign.id,
            status="running",
            trigger="send_now",
            scheduled_for=now,
            started_at=now,
        )
        session.add_all([first, second])
        session.flush()
        for contact, (stage, failed_stage) in zip(contacts, ROWS, strict=True):
            session.add(
                Recipient(
                    execution_id=first.id,
                    contact_id=contact.id,
                    stage=stage,
                    failed_stage=failed_stage,
                )
            )
        session.add(Recipient(execution_id=second.id, contact_id=contacts[0].id, stage="sent"))
        return campaign.id, first.id, second.id


def test_counts_per_execution_and_per_campaign(db: Database) -> None:
    campaign_id, first, second = _seed(db)
    with db.transaction() as session:
        counts = repository.stage_counts(session, [first, second, uuid.uuid4()])
        assert counts[first] == {
            "scheduled": 9,
            "hydrated": 7,
            "composed": 5,
            "injected": 4,
            "sent": 2,
            "failed": 3,
        }
        assert counts[second] == {k: 1 for k in repository.COUNT_KEYS} | {"failed": 0}
        totals = repository.campaign_stage_counts(session, campaign_id)
        assert totals == {k: counts[first][k] + counts[second][k] for k in repository.COUNT_KEYS}
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        status = observability.status(session=session, campaign=campaign)
        assert status.execution.state == "running"
        assert status.execution.last_execution is not None
        assert status.execution.last_execution.counts.sent == 1
        metrics = observability.metrics(session=session, campaign=campaign)
        assert metrics.execution_count == 2 and metrics.counts.scheduled == 10


def test_execution_state_machine(db: Database) -> None:
    now = utcnow()
    future = Execution(status="scheduled", scheduled_for=now + timedelta(minutes=5))
    due = Execution(status="scheduled", scheduled_for=now - timedelta(seconds=1))
    assert observability.execution_state(None) == "not_scheduled"
    assert observability.execution_state(future) == "scheduled"
    assert observability.execution_state(due) == "pending_or_overdue"
    for status in ("running", "completed", "failed"):
        assert observability.execution_state(Execution(status=status, scheduled_for=now)) == status
    assert observability.execution_state(Execution(status="cancelled", scheduled_for=now)) == (
        "not_scheduled"
    )
