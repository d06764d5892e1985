"""One SMS per phone number per run: contacts sharing a number (a family phone) each got the
run's SMS, so the handset got it once per contact. The row handed over claims its number in
the transaction that marks it ``injected``; the others fail with ``duplicate phone number``.
Over the loopback SMS API, on both databases, with workers racing and after a crash."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from tests.messaging.engine_helpers import (
    SmsApi,
    WorkerProcess,
    engine_worker,
    execution,
    person,
    rows,
    run_execution,
    seed_campaign,
    send_now,
    sms_server,
    wait_for,
)

from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.timefmt import utcnow
from beacon.core.worker import Worker
from beacon.messaging.campaigns import repository as campaign_repository
from beacon.messaging.campaigns.clock import ManualClock
from beacon.messaging.delivery import recipient_repository as recipients
from beacon.messaging.delivery.handover import BatchContext, _one_per_number, duplicate_number
from beacon.messaging.delivery.handover_journal import HandoverJournal
from beacon.messaging.delivery.pipeline import batch_job_kind
from beacon.messaging.delivery.scheduler import Scheduler
from beacon.messaging.models import Batch, Contact, HandoverClaim, Recipient
from beacon.messaging.providers import OutgoingMessage, RetryPolicy

SMS = {"body": "Hi {{ contact.firstName }} {{ contact.attributes.code }}. Reply STOP"}
SHARED, OTHER = "+14155550101", "+14155550102"


def sms_settings(settings: Settings, url: str, api: SmsApi, **overrides: Any) -> Settings:
    return settings.model_copy(
        update={
            "sms_api_base_url": url,
            "sms_account_sid": api.account,
            "sms_auth_token": SecretStr(api.token),
            "sms_from_number": "+15005550006",
            "messaging_retry_backoff_seconds": 0.01,
            **overrides,
        }
    )


def by_name(db: Database, execution_id: uuid.UUID) -> dict[str, Recipient]:
    with db.transaction() as session:
        names = {c.id: c.first_name for c in session.scalars(select(Contact))}
    return {str(names[r.contact_id]): r for r in rows(db, execution_id)}


def counts(db: Database, execution_id: uuid.UUID) -> dict[str, int]:
    with db.transaction() as session:
        return campaign_repository.stage_counts(session, [execution_id])[execution_id]


def test_contacts_sharing_a_number_get_one_sms_per_run(db: Database, settings: Settings) -> None:
    people = [
        person(0, phone=SHARED),
        person(1, phone="+1 415 555 0101"),  # the same number, stored in E.164
        person(2, phone=OTHER),
        person(3, phone=SHARED),  # in another batch than P0's
    ]
    campaign_id = seed_campaign(db, people=people, channel="sms", content=SMS)
    api = SmsApi()
    with sms_server(api) as url:
        config = sms_settings(
            settings, url, api, messaging_batch_size=2, messaging_inject_chunk_size=1
        )
        execution_id = send_now(db, campaign_id)
        scheduler = run_execution(db, config)
        assert execution(db, execution_id).status == "completed"
        assert sorted(s["To"] for s in api.sent) == [SHARED, OTHER]
        outcome = by_name(db, execution_id)
        assert outcome["P2"].stage == "sent"
        # the run's first row with the number has it (contacts created together: by id)
        sharing = sorted((outcome[name] for name in ("P0", "P1", "P3")), key=lambda r: r.id)
        assert sharing[0].stage == "sent"
        for row in sharing[1:]:
            assert (row.stage, row.failed_stage) == ("failed", "injected")
            assert row.reason == duplicate_number(sharing[0].id)
            assert (row.reason or "").startswith("duplicate phone number: recipient ")
        # rendered, not handed over: counted composed, not injected
        assert counts(db, execution_id) == {
            "scheduled": 4,
            "hydrated": 4,
            "composed": 4,
            "injected": 2,
            "sent": 2,
            "failed": 2,
        }
        # one per run: the next run sends the number its SMS again
        again = send_now(db, campaign_id)
        scheduler.tick(db)
        engine_worker(db, config).run_until_idle()
        scheduler.tick(db)
        assert execution(db, again).status == "completed"
        assert sorted(s["To"] for s in api.sent) == [SHARED, SHARED, OTHER, OTHER]


def test_a_contact_failing_on_its_own_leaves_the_number_to_the_next(
    db: Database, settings: Settings
) -> None:
    # the reverted rule (40efaa6) kept one contact per number at the run's start, so a render
    # error or an unsubscribe of that contact dropped the number: claims are taken at hand-over
    people = [
        person(0, phone=SHARED),  # unsubscribes once the run has started
        person(1, phone=SHARED, attributes={"list": "t"}),  # no code: a render error
        person(2, phone=SHARED),
        person(3, phone=SHARED),
    ]
    campaign_id = seed_campaign(db, people=people, channel="sms", content=SMS)
    api = SmsApi()
    with sms_server(api) as url:
        config = sms_settings(settings, url, api, messaging_inject_chunk_size=1)
        execution_id = send_now(db, campaign_id)
        Scheduler(settings=config, clock=ManualClock()).tick(db)
        with db.transaction() as session:
            session.execute(
                update(Contact).where(Contact.first_name == "P0").values(sms_status="unsubscribed")
            )
        engine_worker(db, config).run_until_idle()
    outcome = by_name(db, execution_id)
    assert outcome["P0"].reason == "contact is unsubscribed for sms"
    assert (outcome["P1"].reason or "").startswith("render error")
    first, second = sorted((outcome["P2"], outcome["P3"]), key=lambda r: r.id)
    name = "P2" if first is outcome["P2"] else "P3"
    assert [s["Body"] for s in api.sent] == [f"Hi {name} C{name[1]}. Reply STOP"]
    assert first.stage == "sent"
    assert second.reason == duplicate_number(first.id)


def test_racing_claims_of_one_number_have_one_holder(db: Database, settings: Settings) -> None:
    """Transactions claiming one number at once (each for its own row, committing late):
    exactly one holds it, and every one of them is told which."""
    people = [person(i, phone=SHARED) for i in range(6)]
    campaign_id = seed_campaign(db, people=people, channel="sms", content=SMS)
    execution_id = send_now(db, campaign_id)
    Scheduler(settings=settings, clock=ManualClock()).tick(db)
    ids = [r.id for r in rows(db, execution_id)]
    start = threading.Barrier(len(ids))
    told: dict[int, int | None] = {}

    def claim(rid: int) -> None:
        start.wait()
        with db.transaction() as session:
            holders = recipients.claim_addresses(
                session, execution_id=execution_id, wanted={SHARED: rid}, now=execution_time
            )
            threading.Event().wait(0.05)  # commit late: the others wait for this one
        told[rid] = holders[SHARED]

    execution_time = execution(db, execution_id).started_at
    assert execution_time is not None
    threads = [threading.Thread(target=claim, args=(rid,)) for rid in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    with db.transaction() as session:
        stored = list(session.scalars(select(HandoverClaim)))
    assert [(c.address, c.execution_id) for c in stored] == [(SHARED, execution_id)]
    assert set(told.values()) == {stored[0].recipient_id}
    assert len(told) == len(ids)


def test_workers_running_batches_at_once_send_each_number_once(
    db: Database, settings: Settings
) -> None:
    numbers = [f"+1415555{n:04d}" for n in (201, 202, 203)]
    people = [person(i, phone=numbers[i % 3]) for i in range(18)]
    campaign_id = seed_campaign(db, people=people, channel="sms", content=SMS)
    api = SmsApi()
    with sms_server(api) as url:
        config = sms_settings(
            settings, url, api, messaging_batch_size=2, messaging_inject_chunk_size=1
        )
        execution_id = send_now(db, campaign_id)
        scheduler = Scheduler(settings=config, clock=ManualClock())
        scheduler.tick(db)
        workers = [
            Worker(db=db, kinds=[batch_job_kind(config)], worker_id=f"racer-{i}") for i in range(4)
        ]
        threads = [threading.Thread(target=w.run_until_idle) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        scheduler.tick(db)
    assert execution(db, execution_id).status == "completed"
    assert Counter(s["To"] for s in api.sent) == Counter(numbers)
    final = rows(db, execution_id)
    assert sum(r.stage == "sent" for r in final) == 3
    assert all(
        (r.failed_stage, (r.reason or "")[:22]) == ("injected", "duplicate phone number")
        for r in final
        if r.stage == "failed"
    )


def crashed_run(
    db: Database, config: Settings, *, holder_unsubscribed: bool
) -> tuple[uuid.UUID, Recipient, Recipient]:
    """A run whose worker died after claiming the shared number for its first row and marking
    it ``injected``, before its hand-over began (its journal says so); the second row shares
    the number. The execution and the two rows."""
    campaign_id = seed_campaign(
        db, people=[person(0, phone=SHARED), person(1, phone=SHARED)], channel="sms", content=SMS
    )
    execution_id = send_now(db, campaign_id)
    Scheduler(settings=config, clock=ManualClock()).tick(db)
    first, second = rows(db, execution_id)
    with db.transaction() as session:
        batch_id = session.scalar(select(Batch.id).where(Batch.execution_id == execution_id))
        session.execute(update(Recipient).where(Recipient.id == first.id).values(stage="injected"))
        recipients.claim_addresses(
            session, execution_id=execution_id, wanted={SHARED: first.id}, now=first.created_at
        )
        if holder_unsubscribed:
            session.execute(
                update(Contact)
                .where(Contact.id == first.contact_id)
                .values(sms_status="unsubscribed")
            )
    assert batch_id is not None
    journal = HandoverJournal.create(
        config.data_dir / "handover", execution_id=execution_id, batch_id=batch_id
    )
    journal.claimed([first.id])  # the dead worker never began its hand-over
    journal.close(keep=True)
    return execution_id, first, second


def test_a_claim_left_by_a_dead_worker_is_kept_by_its_row(db: Database, settings: Settings) -> None:
    api = SmsApi()
    with sms_server(api) as url:
        config = sms_settings(settings, url, api)
        execution_id, first, second = crashed_run(db, config, holder_unsubscribed=False)
        engine_worker(db, config).run_until_idle()
    final = {r.id: r for r in rows(db, execution_id)}
    assert len(api.sent) == 1
    assert final[first.id].stage == "sent"
    assert final[first.id].provider_message_id == api.sent[0]["sid"]
    assert final[second.id].reason == duplicate_number(first.id)


def test_a_claim_whose_row_fails_after_a_crash_is_given_up(
    db: Database, settings: Settings
) -> None:
    # the first row's contact unsubscribed before its batch was taken over: it is not sent
    # to, and the number it claimed but never handed anything to goes to the second row
    api = SmsApi()
    with sms_server(api) as url:
        config = sms_settings(settings, url, api)
        execution_id, first, second = crashed_run(db, config, holder_unsubscribed=True)
        engine_worker(db, config).run_until_idle()
    final = {r.id: r for r in rows(db, execution_id)}
    assert (final[first.id].stage, final[first.id].reason) == (
        "failed",
        "contact is unsubscribed for sms",
    )
    assert final[second.id].stage == "sent"
    assert [s["sid"] for s in api.sent] == [final[second.id].provider_message_id]


class SlowSmsApi(SmsApi):
    """The SMS API taking 20 ms per message, so that a run can be killed mid-way."""

    def answer(
        self, path: str, auth: str | None, form: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        time.sleep(0.02)
        return super().answer(path, auth, form)


def test_kill_9_mid_run_leaves_each_number_at_most_one_sms(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    """A real `beacon worker` killed mid-run, another taking its batches over: each number
    still gets at most one SMS, and one exactly unless its claimed row's outcome is unknown."""
    numbers = [f"+1415555{n:04d}" for n in range(300, 320)]
    people = [person(i, phone=numbers[i % len(numbers)]) for i in range(60)]
    campaign_id = seed_campaign(db, people=people, channel="sms", content=SMS)
    api = SlowSmsApi()
    data_dir = tmp_path / "var"
    with sms_server(api) as url:
        env = {
            "BEACON_DATABASE_URL": database_url,
            "BEACON_SMS_API_BASE_URL": url,
            "BEACON_SMS_ACCOUNT_SID": api.account,
            "BEACON_SMS_AUTH_TOKEN": api.token,
            "BEACON_SMS_FROM_NUMBER": "+15005550006",
            "BEACON_JOB_LEASE_SECONDS": "2",
            "BEACON_WORKER_POLL_INTERVAL": "0.1",
            "BEACON_MESSAGING_SCHEDULER_INTERVAL_SECONDS": "0.2",
            "BEACON_MESSAGING_BATCH_SIZE": "10",
            "BEACON_MESSAGING_INJECT_CHUNK_SIZE": "2",
            "BEACON_MESSAGING_PROVIDER_CONCURRENCY": "2",
            "BEACON_LOG_LEVEL": "WARNING",
        }
        execution_id = send_now(db, campaign_id)
        first = WorkerProcess(data_dir=data_dir, env=env).start()
        try:
            wait_for(lambda: len(api.sent) >= 6, what="the first worker to send some SMS")
        finally:
            assert first.kill() == -9
        assert len(api.sent) < len(numbers), "the run finished before the kill"
        second = WorkerProcess(data_dir=data_dir, env=env).start()
        try:
            wait_for(
                lambda: execution(db, execution_id).status != "running",
                timeout=90,
                what="the second worker to finish the execution",
            )
        finally:
            second.stop()

    assert execution(db, execution_id).status == "completed"
    final = rows(db, execution_id)
    with db.transaction() as session:
        phone = {c.id: c.phone for c in session.scalars(select(Contact))}
    received = Counter(s["To"] for s in api.sent)
    assert max(received.values()) == 1  # no number got two
    sent = [phone[r.contact_id] for r in final if r.stage == "sent"]
    assert len(sent) == len(set(sent)) and set(sent) <= set(received)
    unknown = {phone[r.contact_id] for r in final if r.reason == recipients.UNKNOWN_AFTER_CRASH}
    assert set(numbers) - set(sent) <= unknown  # a number without a sent row was in flight
    assert all(
        r.reason == recipients.UNKNOWN_AFTER_CRASH
        or (r.reason or "").startswith("duplicate phone number")
        for r in final
        if r.stage == "failed"
    )


def test_a_chunk_with_more_numbers_than_one_statement_takes(
    db: Database, settings: Settings
) -> None:
    """A recoverable provider (SMS to the outbox, without an SMS API) takes a whole batch as
    one chunk (up to BEACON_MESSAGING_BATCH_SIZE, 100,000): its claims went in one INSERT of
    four parameters a number, past PostgreSQL's 65,535 parameters a statement from 16,384
    numbers on, so every such batch failed at its claim."""
    campaign_id = seed_campaign(db, people=[person(0, phone=SHARED)], channel="sms", content=SMS)
    execution_id = send_now(db, campaign_id)
    Scheduler(settings=settings, clock=ManualClock()).tick(db)
    (row,) = rows(db, execution_id)
    wanted = {f"+1415{n:07d}": row.id for n in range(17_000)}
    with db.transaction() as session:
        holders = recipients.claim_addresses(
            session, execution_id=execution_id, wanted=wanted, now=utcnow()
        )
    assert holders == wanted


def test_a_released_number_and_a_claim_racing_for_it_do_not_deadlock(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Worker A's claim transaction gives up X (its row resent after a crash is unsubscribed
    now) and claims its chunk's numbers, Y among them; worker B claims Y and X in number order
    at the same moment. With the release (a delete) first, B's insert of X waited for A's
    delete and A's insert of Y for B's: a PostgreSQL deadlock, one claim transaction aborted
    (its batch retried as a failed job). Claims first, releases after: no wait cycle."""
    x, y = "+14155550109", "+14155550101"  # y < x: inserted first
    people = [person(0, phone=x), person(1, phone=y), person(2, phone=x)]
    campaign_id = seed_campaign(db, people=people, channel="sms", content=SMS)
    execution_id = send_now(db, campaign_id)
    Scheduler(settings=settings, clock=ManualClock()).tick(db)
    resent, mine, theirs = rows(db, execution_id)
    with db.transaction() as session:
        recipients.claim_addresses(
            session, execution_id=execution_id, wanted={x: resent.id}, now=utcnow()
        )
    started = threading.Event()
    errors: list[BaseException] = []
    told: dict[str, int | None] = {}
    claim = recipients.claim_addresses

    def slow_claim(session: Session, **kwargs: Any) -> dict[str, int | None]:
        if threading.current_thread() is threading.main_thread() and not started.is_set():
            session.flush()
            started.set()  # what A wrote before its claim is in the database: B goes
            time.sleep(1.0)  # B has inserted Y and waits on X if A deleted it
        return claim(session, **kwargs)

    monkeypatch.setattr(recipients, "claim_addresses", slow_claim)

    def worker_b() -> None:
        started.wait(10)
        try:
            with db.transaction() as session:
                told.update(
                    claim(
                        session,
                        execution_id=execution_id,
                        wanted={y: theirs.id, x: theirs.id},
                        now=utcnow(),
                    )
                )
        except BaseException as exc:
            errors.append(exc)

    other = threading.Thread(target=worker_b)
    other.start()
    batch = BatchContext(
        job=None,  # type: ignore[arg-type]  # the claim uses no job
        batch_id=0,
        execution_id=execution_id,
        channel="sms",
        settings=settings,
        policy=RetryPolicy(attempts=1, backoff_seconds=0),
    )
    message = OutgoingMessage(recipient_id=mine.id, contact_id=mine.contact_id, to=y, body=b"")
    unsubscribed = (resent.id, "sent", "contact is unsubscribed for sms")
    try:
        with db.transaction() as session:
            going, duplicates = _one_per_number(
                session,
                batch,
                [message],
                [unsubscribed],
                {resent.id: "injected", mine.id: "hydrated"},
                utcnow(),
            )
    except BaseException as exc:
        errors.append(exc)
    finally:
        other.join(60)
    assert not errors, errors
    # B claimed Y first (A waited for it); X was still held when B came to it (the case
    # docs/orchestrate.md states: a duplicate whose turn came while the crashed row held it)
    assert told == {y: theirs.id, x: resent.id}
    assert (going, [d[0] for d in duplicates]) == ([], [mine.id])


def test_a_number_given_up_in_a_claim_goes_to_that_chunks_row_sharing_it(
    db: Database, settings: Settings
) -> None:
    """A row resent after a crash holds X and fails at its chunk's claim (unsubscribed since
    hydrate): a row of the same chunk sharing X gets it in that transaction."""
    x = "+14155550109"
    people = [person(0, phone=x), person(1, phone=x)]
    campaign_id = seed_campaign(db, people=people, channel="sms", content=SMS)
    execution_id = send_now(db, campaign_id)
    Scheduler(settings=settings, clock=ManualClock()).tick(db)
    resent, sibling = rows(db, execution_id)
    batch = BatchContext(
        job=None,  # type: ignore[arg-type]  # the claim uses no job
        batch_id=0,
        execution_id=execution_id,
        channel="sms",
        settings=settings,
        policy=RetryPolicy(attempts=1, backoff_seconds=0),
    )
    with db.transaction() as session:
        recipients.claim_addresses(
            session, execution_id=execution_id, wanted={x: resent.id}, now=utcnow()
        )
    message = OutgoingMessage(
        recipient_id=sibling.id, contact_id=sibling.contact_id, to=x, body=b""
    )
    with db.transaction() as session:
        going, duplicates = _one_per_number(
            session,
            batch,
            [message],
            [(resent.id, "sent", "contact is unsubscribed for sms")],
            {resent.id: "injected", sibling.id: "hydrated"},
            utcnow(),
        )
    assert (going, duplicates) == ([message], [])
    with db.transaction() as session:
        assert session.scalars(select(HandoverClaim.recipient_id)).all() == [sibling.id]
