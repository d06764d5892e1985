"""The recipient statements of a hand-over take a whole print-file chunk: a recoverable
provider (SMS or direct mail to the outbox) claims a whole batch at once, and
BEACON_MESSAGING_BATCH_SIZE allows 100,000 rows. Statements binding one parameter a row went
past the drivers' caps (PostgreSQL 65,535 parameters a statement, SQLite 32,766), so every
such batch failed at its claim."""

from __future__ import annotations

import uuid

from sqlalchemy import insert, select
from tests.messaging.engine_helpers import person, seed_campaign, send_now

from beacon.core.db import Database
from beacon.core.timefmt import utcnow
from beacon.messaging.delivery import recipient_repository as recipients
from beacon.messaging.models import Campaign, Contact, Execution, HandoverClaim, Recipient

ROWS = 66_000  # past 65,535


def _bulk_rows(db: Database, execution_id: uuid.UUID, account_id: int) -> list[int]:
    """``ROWS`` rendered recipient rows of the execution (each with a contact of its own, an
    address claimed), inserted in a few bulk statements; their ids in order."""
    contact_ids = [uuid.uuid4() for _ in range(ROWS)]
    with db.transaction() as session:
        session.execute(
            insert(Contact),
            [
                {"id": cid, "account_id": account_id, "unsubscribe_token": cid.hex}
                for cid in contact_ids
            ],
        )
        session.execute(
            insert(Recipient),
            [
                {"execution_id": execution_id, "contact_id": cid, "stage": "composed"}
                for cid in contact_ids
            ],
        )
        ids = list(
            session.scalars(
                select(Recipient.id)
                .where(Recipient.execution_id == execution_id, Recipient.stage == "composed")
                .order_by(Recipient.id)
            )
        )
        session.execute(
            insert(HandoverClaim),
            [
                {"execution_id": execution_id, "address": f"+1{rid:010d}", "recipient_id": rid}
                for rid in ids
            ],
        )
    return ids


def test_a_print_file_chunk_past_65535_rows_is_claimed_and_released(db: Database) -> None:
    campaign_id = seed_campaign(db, people=[person(0)], channel="email")
    execution_id = send_now(db, campaign_id)
    with db.transaction() as session:
        account_id = session.scalars(
            select(Campaign.account_id)
            .join(Execution, Execution.campaign_id == Campaign.id)
            .where(Execution.id == execution_id)
        ).one()
    ids = _bulk_rows(db, execution_id, account_id)
    now = utcnow()
    with db.transaction() as session:
        statuses = recipients.channel_statuses(session, channel="email", ids=ids)
        assert len(statuses) == ROWS and set(statuses.values()) == {"subscribed"}
        assert recipients.mark_injected(
            session, execution_id=execution_id, ids=ids, now=now
        ) == set(ids)
        recipients.release_claims(session, execution_id=execution_id, ids=ids)
        contact_ids = list(
            session.scalars(
                select(Recipient.contact_id).where(Recipient.execution_id == execution_id)
            )
        )
        recipients.mark_bounced(session, channel="email", contact_ids=contact_ids, now=now)
    with db.transaction() as session:
        stages = session.scalars(
            select(Recipient.stage).where(Recipient.id.in_(ids[:1] + ids[-1:]))
        ).all()
        assert stages == ["injected", "injected"]
        assert session.scalar(select(HandoverClaim.address).limit(1)) is None
        bounced = session.scalars(
            select(Contact.email_status).where(Contact.id.in_(contact_ids[:1] + contact_ids[-1:]))
        ).all()
        assert bounced == ["bounced", "bounced"]
