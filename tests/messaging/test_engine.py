"""The execution engine over a real SMTP server: stages, counts, retries, cancel, failure."""

from __future__ import annotations

import asyncio
import threading
import uuid
from email.header import decode_header, make_header
from typing import Any, ClassVar

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from tests.messaging.engine_helpers import (
    EMAIL_CONTENT,
    Mailbox,
    body_text,
    engine_worker,
    execution,
    person,
    rows,
    run_execution,
    seed_campaign,
    send_now,
    smtp_server,
)
from tests.support import free_port

from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.messaging.audiences import contacts
from beacon.messaging.campaigns import observability, repository
from beacon.messaging.campaigns import service as campaigns
from beacon.messaging.campaigns.clock import ManualClock
from beacon.messaging.delivery.scheduler import Scheduler
from beacon.messaging.models import Campaign, Contact, Recipient, Template

FAST = {
    "messaging_retry_backoff_seconds": 0.01,
    "messaging_batch_size": 4,
    "messaging_inject_chunk_size": 2,
}


def engine_settings(settings: Settings, **overrides: object) -> Settings:
    """The test settings with fast retries and small batches (several per execution)."""
    return settings.model_copy(update={**FAST, **overrides})


def counts(db: Database, execution_id: uuid.UUID) -> dict[str, int]:
    with db.transaction() as session:
        return repository.stage_counts(session, [execution_id])[execution_id]


def test_every_stage_and_every_outcome(db: Database, settings: Settings) -> None:
    people = [
        person(0),
        person(1, email="tempfail1@example.com"),  # 451 twice, then accepted
        person(2, email="bounce2@example.com"),  # 550: fails, contact bounced
        person(3, email=None, externalId="no-email"),  # fails at hydrated
        person(4, attributes={"list": "t"}),  # no 'code': render error, fails at composed
        person(5, email="busy5@example.com"),  # 451 every time: gives up
        person(6, subscriptions={"email": "unsubscribed"}),  # not in the snapshot
        person(7),
    ]
    del people[3]["email"]
    campaign_id = seed_campaign(db, people=people)
    mailbox = Mailbox()
    with smtp_server(mailbox) as url:
        config = engine_settings(settings, smtp_url=url, public_url="https://beacon.test")
        execution_id = send_now(db, campaign_id)
        run_execution(db, config)
    done = execution(db, execution_id)
    assert done.status == "completed" and done.completed_at is not None
    by_email = {r.contact_id: r for r in rows(db, execution_id)}
    assert len(by_email) == 7
    with db.transaction() as session:
        contacts = {c.id: c for c in session.scalars(select(Contact))}
    outcome = {
        (contacts[cid].email or contacts[cid].external_id): (r.stage, r.failed_stage, r.reason)
        for cid, r in by_email.items()
    }
    assert outcome["person0@example.com"][0] == "sent"
    assert outcome["tempfail1@example.com"][0] == "sent"
    assert outcome["bounce2@example.com"][:2] == ("failed", "sent")
    assert "550" in (outcome["bounce2@example.com"][2] or "")
    assert outcome["no-email"] == ("failed", "hydrated", "contact has no email address")
    assert outcome["person4@example.com"][:2] == ("failed", "composed")
    assert "code" in (outcome["person4@example.com"][2] or "")
    assert outcome["busy5@example.com"][:2] == ("failed", "sent")
    assert "gave up after 5 attempts" in (outcome["busy5@example.com"][2] or "")
    assert outcome["person7@example.com"][0] == "sent"
    bounced = next(c for c in contacts.values() if c.email == "bounce2@example.com")
    assert bounced.email_status == "bounced"
    assert mailbox.attempts["tempfail1@example.com"] == 3

    assert counts(db, execution_id) == {
        "scheduled": 7,
        "hydrated": 6,
        "composed": 5,
        "injected": 5,
        "sent": 3,
        "failed": 4,
    }
    assert sorted(mailbox.message_ids()) == sorted(
        r.provider_message_id for r in by_email.values() if r.stage == "sent"
    )
    message = mailbox.for_rcpt("person0@example.com")[0].message
    assert message["Subject"] == "Hello P0"
    assert message["From"] == "Beacon News <news@example.com>"
    first = next(c for c in contacts.values() if c.email == "person0@example.com")
    link = f"https://beacon.test/u/{first.unsubscribe_token}"
    assert message["List-Unsubscribe"] == f"<{link}>"
    assert link in body_text(message) and "code C0" in body_text(message, "html")

    with db.transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        status = observability.status(session=session, campaign=campaign)
        metrics = observability.metrics(session=session, campaign=campaign)
    assert status.execution.state == "completed"
    assert status.execution.last_execution is not None
    assert status.execution.last_execution.counts.model_dump() == counts(db, execution_id)
    assert metrics.counts.model_dump() == counts(db, execution_id)


def test_non_ascii_content_is_encoded(db: Database, settings: Settings) -> None:
    content = {**EMAIL_CONTENT, "subject": "Grüße {{ contact.firstName }} ✓", "fromName": "Café"}
    campaign_id = seed_campaign(db, people=[person(0, firstName="Zoë")], content=content)
    mailbox = Mailbox()
    with smtp_server(mailbox) as url:
        execution_id = send_now(db, campaign_id)
        run_execution(db, engine_settings(settings, smtp_url=url))
    assert execution(db, execution_id).status == "completed"
    message = mailbox.received[0].message
    assert str(make_header(decode_header(message["Subject"]))) == "Grüße Zoë ✓"
    assert str(make_header(decode_header(message["From"]))) == "Café <news@example.com>"
    assert "Hi Zoë" in body_text(message)


def test_an_internationalised_sender_domain_is_sent(db: Database, settings: Settings) -> None:
    """A fromAddress or replyTo at an IDN domain goes in its ASCII form (formataddr refused
    it raw, and every message failed at composed: 'the message could not be built')."""
    content = {
        **EMAIL_CONTENT,
        "fromAddress": "news@bücher.example",
        "replyTo": "help@bücher.example",
    }
    campaign_id = seed_campaign(db, people=[person(0)], content=content)
    mailbox = Mailbox()
    with smtp_server(mailbox) as url:
        execution_id = send_now(db, campaign_id)
        run_execution(db, engine_settings(settings, smtp_url=url))
    assert [(r.stage, r.reason) for r in rows(db, execution_id)] == [("sent", None)]
    message = mailbox.received[0].message
    assert message["From"] == "Beacon News <news@xn--bcher-kva.example>"
    assert message["Reply-To"] == "help@xn--bcher-kva.example"
    assert str(message["Message-ID"]).endswith("@xn--bcher-kva.example>")


def test_a_non_ascii_sender_mailbox_is_refused_at_save(
    client: TestClient, auth: dict[str, str]
) -> None:
    """No header can carry it: the template was stored, and every message then failed."""
    content = {**EMAIL_CONTENT, "fromAddress": "jöran@example.com"}
    body = {"name": "t", "channel": "email", "content": content}
    refused = client.post("/public/v1/templates", headers=auth, json=body)
    assert refused.status_code == 422, refused.text
    assert "'content.fromAddress'" in refused.json()["error"]["message"]


def test_stored_documents_reach_the_template_as_stored(db: Database, settings: Settings) -> None:
    # a send reads address and attributes as JSON text and the render process decodes them:
    # integers past 64 bits, nesting, non-ASCII and a missing address come through unchanged
    attributes = {"list": "t", "code": 123456789012345678901234567890, "tags": {"a": [1, 2.5]}}
    content = {
        **EMAIL_CONTENT,
        "text": "{{ contact.attributes.code }}|{{ contact.attributes.tags.a[1] }}|"
        "{{ contact.address.city | default('-') }}|{{ contact.address.zip | default('none') }}\n",
    }
    people = [
        person(0, attributes=attributes, address={"city": "Zürich", "line1": "x"}),
        person(1, attributes={**attributes, "code": -7}, address=None),
    ]
    campaign_id = seed_campaign(db, people=people, content=content)
    mailbox = Mailbox()
    with smtp_server(mailbox) as url:
        execution_id = send_now(db, campaign_id)
        run_execution(db, engine_settings(settings, smtp_url=url))
    assert execution(db, execution_id).status == "completed"
    texts = {r.rcpt: body_text(r.message).strip() for r in mailbox.received}
    assert texts == {
        "person0@example.com": "123456789012345678901234567890|2.5|Zürich|none",
        "person1@example.com": "-7|2.5|-|none",
    }


def test_cancel_stops_at_the_next_batch_and_keeps_what_was_sent(
    db: Database, settings: Settings
) -> None:
    campaign_id = seed_campaign(db, people=[person(i) for i in range(10)])
    mailbox = Mailbox()
    with smtp_server(mailbox) as url:
        config = engine_settings(settings, smtp_url=url)
        execution_id = send_now(db, campaign_id)
        scheduler = Scheduler(settings=config, clock=ManualClock())
        scheduler.tick(db)
        worker = engine_worker(db, config)
        assert worker.run_once()  # the first batch of 4
        with db.transaction() as session:
            campaign = session.get(Campaign, campaign_id)
            assert campaign is not None
            campaigns.cancel_campaign(
                session=session, account_id=campaign.account_id, campaign_id=campaign_id
            )
        worker.run_until_idle()
        scheduler.tick(db)
    done = execution(db, execution_id)
    assert done.status == "cancelled" and done.cancel_requested_at is not None
    assert counts(db, execution_id) == {
        "scheduled": 10,
        "hydrated": 4,
        "composed": 4,
        "injected": 4,
        "sent": 4,
        "failed": 6,
    }
    assert {r.reason for r in rows(db, execution_id) if r.stage == "failed"} == {"cancelled"}
    assert len(mailbox.received) == 4
    with db.transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        assert observability.status(session=session, campaign=campaign).execution.state == (
            "completed"
        )


def test_unreachable_provider_fails_the_execution(db: Database, settings: Settings) -> None:
    campaign_id = seed_campaign(db, people=[person(i) for i in range(6)])
    config = engine_settings(
        settings, smtp_url=f"smtp://127.0.0.1:{free_port()}", messaging_send_attempts=2
    )
    execution_id = send_now(db, campaign_id)
    run_execution(db, config)
    done = execution(db, execution_id)
    assert done.status == "failed"
    assert done.error is not None and "cannot connect" in done.error
    assert {r.stage for r in rows(db, execution_id)} == {"failed"}
    assert all("unreachable" in (r.reason or "") for r in rows(db, execution_id))


@pytest.mark.parametrize("policy", ["fail", "resend"])
def test_rows_left_injected_by_a_dead_worker_follow_the_policy(
    db: Database, settings: Settings, policy: str
) -> None:
    campaign_id = seed_campaign(db, people=[person(i) for i in range(3)])
    mailbox = Mailbox()
    with smtp_server(mailbox) as url:
        config = engine_settings(settings, smtp_url=url, messaging_unknown_outcome_policy=policy)
        execution_id = send_now(db, campaign_id)
        scheduler = Scheduler(settings=config, clock=ManualClock())
        scheduler.tick(db)
        # a worker died after marking the first two rows injected (hand-off in flight)
        first = rows(db, execution_id)[:2]
        with db.transaction() as session:
            session.execute(
                update(Recipient)
                .where(Recipient.id.in_([r.id for r in first]))
                .values(stage="injected")
            )
        engine_worker(db, config).run_until_idle()
    final = {r.id: r for r in rows(db, execution_id)}
    if policy == "fail":
        assert [final[r.id].reason for r in first] == ["unknown_outcome_after_crash"] * 2
        assert len(mailbox.received) == 1
    else:
        assert all(final[r.id].stage == "sent" for r in first)
        assert len(mailbox.received) == 3
    assert execution(db, execution_id).status == "completed"


def test_rows_a_dead_worker_left_are_not_sent_to_a_contact_who_unsubscribed_since(
    db: Database, settings: Settings
) -> None:
    # the subscription was checked only at hydrate: rows a crashed worker left hydrated,
    # composed or injected skipped it when the batch ran again, so a contact who unsubscribed
    # in between still got the message
    campaign_id = seed_campaign(db, people=[person(i) for i in range(4)])
    mailbox = Mailbox()
    with smtp_server(mailbox) as url:
        config = engine_settings(settings, smtp_url=url, messaging_unknown_outcome_policy="resend")
        execution_id = send_now(db, campaign_id)
        Scheduler(settings=config, clock=ManualClock()).tick(db)
        left = rows(db, execution_id)[:3]
        with db.transaction() as session:
            for row, stage in zip(left, ("hydrated", "composed", "injected"), strict=True):
                session.execute(update(Recipient).where(Recipient.id == row.id).values(stage=stage))
            # meanwhile, those three contacts unsubscribed
            session.execute(
                update(Contact)
                .where(Contact.id.in_([r.contact_id for r in left]))
                .values(email_status="unsubscribed")
            )
        engine_worker(db, config).run_until_idle()
    final = {r.id: r for r in rows(db, execution_id)}
    assert [(final[r.id].stage, final[r.id].failed_stage) for r in left] == [
        ("failed", "composed"),
        ("failed", "injected"),
        ("failed", "sent"),
    ]
    assert {final[r.id].reason for r in left} == {"contact is unsubscribed for email"}
    assert len(mailbox.received) == 1  # only the fourth contact, still subscribed
    assert execution(db, execution_id).status == "completed"


class HoldingMailbox(Mailbox):
    """Holds the first message in DATA until ``release`` is set; ``holding`` says it is."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        if not self.holding.is_set():
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.01)
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.parametrize("status", ["unsubscribed", "bounced"])
def test_an_unsubscribe_during_a_run_is_honoured_at_hand_over(
    db: Database, settings: Settings, status: str
) -> None:
    # the subscription was checked at hydrate, for a whole batch (500 rows by default) at once:
    # a contact who unsubscribed (or bounced elsewhere) while the batch was being sent still
    # got the message; the claim of each chunk now reads the subscriptions again
    campaign_id = seed_campaign(db, people=[person(i) for i in range(6)])
    mailbox = HoldingMailbox()
    with smtp_server(mailbox) as url:
        config = engine_settings(
            settings,
            smtp_url=url,
            messaging_batch_size=10,  # one batch: everyone is hydrated before the first send
            messaging_inject_chunk_size=1,
            messaging_provider_concurrency=1,  # chunks queue behind the held message
        )
        execution_id = send_now(db, campaign_id)
        Scheduler(settings=config, clock=ManualClock()).tick(db)
        later = rows(db, execution_id)[4]
        worker = threading.Thread(target=engine_worker(db, config).run_until_idle)
        worker.start()
        try:
            assert mailbox.holding.wait(30), "the first message never reached DATA"
            with db.transaction() as session:
                contact = session.get(Contact, later.contact_id)
                assert contact is not None
                later_email = contact.email
                if status == "unsubscribed":  # the link in an email, as the person clicks it
                    assert contacts.unsubscribe(session=session, token=contact.unsubscribe_token)
                else:
                    contact.email_status = "bounced"
            assert rows(db, execution_id)[4].stage == "hydrated"  # it passed the hydrate check
        finally:
            mailbox.release.set()
            worker.join(60)
    assert not worker.is_alive()
    final = {r.id: r for r in rows(db, execution_id)}
    assert (final[later.id].stage, final[later.id].failed_stage, final[later.id].reason) == (
        "failed",
        "injected",
        f"contact is {status} for email",
    )
    assert later_email is not None and mailbox.for_rcpt(later_email) == []
    assert len(mailbox.received) == 5
    assert sum(r.stage == "sent" for r in final.values()) == 5
    assert execution(db, execution_id).status == "completed"


def test_template_content_is_fixed_when_the_run_starts(db: Database, settings: Settings) -> None:
    campaign_id = seed_campaign(db, people=[person(0)])
    mailbox = Mailbox()
    with smtp_server(mailbox) as url:
        config = engine_settings(settings, smtp_url=url)
        execution_id = send_now(db, campaign_id)
        scheduler = Scheduler(settings=config, clock=ManualClock())
        scheduler.tick(db)
        with db.transaction() as session:
            campaign = session.get(Campaign, campaign_id)
            assert campaign is not None
            template = session.get(Template, campaign.template_id)
            assert template is not None
            template.content = {**template.content, "subject": "Changed"}
        engine_worker(db, config).run_until_idle()
    assert execution(db, execution_id).status == "completed"
    assert mailbox.received[0].message["Subject"] == "Hello P0"


def test_an_empty_audience_completes_at_once(db: Database, settings: Settings) -> None:
    campaign_id = seed_campaign(db, people=[person(0, subscriptions={"email": "unsubscribed"})])
    execution_id = send_now(db, campaign_id)
    result = Scheduler(settings=settings, clock=ManualClock()).tick(db)
    assert result.started == [str(execution_id)]
    done = execution(db, execution_id)
    assert done.status == "completed" and counts(db, execution_id)["scheduled"] == 0


def test_answers_commit_with_the_next_claim(db: Database, settings: Settings) -> None:
    """Group commit: a chunk's answers ride in the next chunk's claim transaction, so a batch
    of six chunks has six claim commits, and fewer commits of answers than chunks."""
    from sqlalchemy import event

    statements: list[str] = []
    commits: list[set[str]] = []

    def seen(conn: object, cursor: object, sql: str, *args: object) -> None:
        if sql.lstrip().upper().startswith("UPDATE MESSAGING_RECIPIENTS"):
            kind = "sent" if "provider_message_id" in sql else "other"
            statements.append("injected" if "RETURNING" in sql.upper() else kind)

    def committed(conn: object) -> None:
        commits.append(set(statements))
        statements.clear()

    campaign_id = seed_campaign(db, people=[person(i) for i in range(12)])
    mailbox = Mailbox()
    with smtp_server(mailbox) as url:
        config = engine_settings(
            settings, smtp_url=url, public_url="https://beacon.test", messaging_batch_size=12
        )
        execution_id = send_now(db, campaign_id)
        event.listen(db.engine, "before_cursor_execute", seen)
        event.listen(db.engine, "commit", committed)
        try:
            run_execution(db, config)
        finally:
            event.remove(db.engine, "before_cursor_execute", seen)
            event.remove(db.engine, "commit", committed)
    assert counts(db, execution_id)["sent"] == 12
    assert sum("injected" in c for c in commits) == 6
    grouped = [c for c in commits if "sent" in c and "injected" in c]
    alone = [c for c in commits if "sent" in c and "injected" not in c]
    # the fourth claim waits for a chunk to be answered, and takes its answers along
    assert len(grouped) >= 1
    # a commit of its own for each chunk's answers was the old way (six here); now only the
    # answers no later claim takes (at most the three chunks still in flight) commit alone
    assert len(alone) <= 3


class PolicyMailbox(Mailbox):
    """Refuses RCPT as servers do: for the address (bounce), or for the sender or the relay
    (not the address's fault: Postfix without relay rights refuses every recipient so)."""

    REPLIES: ClassVar[dict[str, str]] = {
        "relay": "554 5.7.1 Relay access denied",
        "dmarc": "550 5.7.26 Unauthenticated email from example.com is not accepted",
        "sender": "553 5.1.8 Sender address rejected: Domain not found",
        "full": "552 5.2.2 Mailbox full",
        "utf8": "553 5.6.7 Must declare SMTPUTF8 to send unicode address",
        "gone": "550 5.1.1 No such user",
        "disabled": "550 5.2.1 Mailbox disabled",
        "outlook": "550 5.5.0 Requested action not taken: mailbox unavailable",
        "m365": "550 5.4.1 Recipient address rejected: Access denied",
        "plain": "550 Requested action not taken: mailbox unavailable",
    }

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        return self.REPLIES[address.split("@")[0]]


def test_only_refusals_of_the_address_bounce_the_contact(db: Database, settings: Settings) -> None:
    """A 5xx to RCPT about the sender or the relay fails the recipient without marking the
    contact bounced (a relay that denied relaying bounced the whole list)."""
    names = list(PolicyMailbox.REPLIES)
    people = [person(i, email=f"{name}@example.com") for i, name in enumerate(names)]
    campaign_id = seed_campaign(db, people=people)
    with smtp_server(PolicyMailbox()) as url:
        execution_id = send_now(db, campaign_id)
        run_execution(db, engine_settings(settings, smtp_url=url))
    assert {r.stage for r in rows(db, execution_id)} == {"failed"}
    with db.transaction() as session:
        statuses = {
            str(c.email).split("@")[0]: c.email_status for c in session.scalars(select(Contact))
        }
    assert statuses == {
        "relay": "subscribed",
        "dmarc": "subscribed",
        "sender": "subscribed",
        "full": "subscribed",
        "utf8": "subscribed",
        "gone": "bounced",
        "disabled": "bounced",
        "outlook": "bounced",
        "m365": "bounced",
        "plain": "bounced",
    }


class Utf8Mailbox(Mailbox):
    """As Postfix: a non-ASCII address only in a transaction that declared SMTPUTF8."""

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if not address.isascii() and "SMTPUTF8" not in envelope.mail_options:
            return "553 5.6.7 Must declare SMTPUTF8 to send unicode address"
        return await super().handle_RCPT(server, session, envelope, address, options)


def test_internationalised_addresses_are_delivered(db: Database, settings: Settings) -> None:
    """An IDN domain goes in its ASCII form and a non-ASCII mailbox under SMTPUTF8: both were
    sent raw in a transaction without SMTPUTF8, and a Postfix-like server refused them (553)."""
    people = [person(0, email="ann@bücher.example"), person(1, email="jöran@example.com")]
    campaign_id = seed_campaign(db, people=people)
    mailbox = Utf8Mailbox()
    port = free_port()
    server = Controller(mailbox, hostname="127.0.0.1", port=port, enable_SMTPUTF8=True)
    server.start()
    try:
        execution_id = send_now(db, campaign_id)
        run_execution(db, engine_settings(settings, smtp_url=f"smtp://127.0.0.1:{port}"))
    finally:
        server.stop()
    assert [(r.stage, r.reason) for r in rows(db, execution_id)] == [("sent", None)] * 2
    idn = mailbox.for_rcpt("ann@xn--bcher-kva.example")
    assert len(idn) == 1 and idn[0].message["To"] == "ann@xn--bcher-kva.example"
    assert len(mailbox.for_rcpt("jöran@example.com")) == 1
