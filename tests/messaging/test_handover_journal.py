"""The hand-over journal: what a dead worker's journal says about each row it left
``injected`` (started without an answer -> unknown; answered -> recorded; never started ->
sent normally), and the worker taking over acting on it against a real SMTP server."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select, update
from tests.messaging.engine_helpers import (
    Mailbox,
    engine_worker,
    execution,
    person,
    rows,
    seed_campaign,
    send_now,
    smtp_server,
)

from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.messaging.campaigns.clock import ManualClock
from beacon.messaging.delivery.handover_journal import (
    DeadJournals,
    HandoverJournal,
    JournalFile,
    boot_id,
    judge,
    parse,
)
from beacon.messaging.delivery.scheduler import Scheduler
from beacon.messaging.models import Batch, Contact, Recipient
from beacon.messaging.providers import Delivery, Outcome, OutgoingMessage

EXECUTION = uuid.UUID(int=7)
UNKNOWN = "unknown_outcome_after_crash"


def message(recipient_id: int) -> OutgoingMessage:
    return OutgoingMessage(recipient_id=recipient_id, contact_id=uuid.uuid4(), to="", body=b"")


def write_journal(directory: Path, *, batch_id: int = 1) -> HandoverJournal:
    """A journal of four rows: 1 accepted, 2 on the wire, 3 refused at DATA, 4 not started."""
    journal = HandoverJournal.create(directory, execution_id=EXECUTION, batch_id=batch_id)
    journal.claimed([1, 2, 3, 4])
    journal.started(message(1))
    journal.started(message(2))
    journal.finished(message(1), Delivery.sent("m1@example.com"))
    journal.started(message(3))
    journal.finished(message(3), Delivery(Outcome.PERMANENT, reason="554"))
    return journal


def test_start_without_answer_is_unknown_answered_is_known_absent_is_safe(
    tmp_path: Path,
) -> None:
    write_journal(tmp_path).close(keep=True)
    dead = DeadJournals(tmp_path, execution_id=EXECUTION, batch_id=1)
    found = dead.findings([1, 2, 3, 4, 5])
    dead.release()
    assert found.accepted == {1: "m1@example.com"}
    assert found.unstarted == {3, 4}  # refused, or never begun: sending is safe
    # 2 began and got no answer; 5 is in no journal (claimed elsewhere): both unknown


def test_an_unknown_answer_is_not_recorded_and_a_retry_restarts(tmp_path: Path) -> None:
    journal = HandoverJournal.create(tmp_path, execution_id=EXECUTION, batch_id=1)
    journal.claimed([1, 2])
    journal.started(message(1))
    journal.finished(message(1), Delivery(Outcome.UNKNOWN, reason="connection lost"))
    journal.started(message(2))
    journal.finished(message(2), Delivery(Outcome.TRANSIENT, reason="451"))
    journal.started(message(2))  # the retry was on the wire at the crash
    journal.close(keep=True)
    found = parse(journal.path.read_bytes(), boot=boot_id())
    assert found.trusted
    assert found.last == {1: "S", 2: "S"}
    assert judge([found], [1, 2]).unstarted == set()


def test_a_live_writers_journal_is_not_read(tmp_path: Path) -> None:
    journal = write_journal(tmp_path)  # still open: its lock says the writer is alive
    dead = DeadJournals(tmp_path, execution_id=EXECUTION, batch_id=1)
    assert dead.journals == []
    assert dead.findings([1, 2, 3, 4]).unstarted == set()
    journal.close(keep=True)
    dead = DeadJournals(tmp_path, execution_id=EXECUTION, batch_id=1)
    assert len(dead.journals) == 1
    dead.discard()
    assert list(tmp_path.iterdir()) == []


def test_other_batches_journals_are_not_read(tmp_path: Path) -> None:
    write_journal(tmp_path, batch_id=2).close(keep=True)
    dead = DeadJournals(tmp_path, execution_id=EXECUTION, batch_id=1)
    assert dead.journals == []
    dead.release()


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data.replace(boot_id().encode(), b"another-boot"),  # written before a reboot
        lambda data: data + b"S 4",  # torn: the last record is incomplete
        lambda data: data.replace(b"C 1 2 3 4", b"C 1 2 x 4"),
    ],
    ids=["earlier-boot", "torn", "garbled"],
)
def test_an_untrusted_journal_makes_nothing_safe(
    tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    journal = write_journal(tmp_path)
    journal.close(keep=True)
    read = parse(damage(journal.path.read_bytes()), boot=boot_id())
    assert not read.trusted
    found = judge([read], [1, 2, 3, 4])
    assert found.unstarted == set()
    assert found.accepted == {1: "m1@example.com"}  # an answer written is still an answer


def test_every_journal_naming_a_row_must_agree_it_was_not_started() -> None:
    first = JournalFile(trusted=True, claimed={1, 2}, last={1: "N"})
    second = JournalFile(trusted=True, claimed={1, 2}, last={1: "S"})
    assert judge([first, second], [1, 2]).unstarted == {2}


def test_no_journal_directory_means_nothing_is_known(tmp_path: Path) -> None:
    dead = DeadJournals(tmp_path / "missing", execution_id=EXECUTION, batch_id=1)
    found = dead.findings([1])
    assert (found.accepted, found.unstarted) == ({}, set())


# --- the worker that takes the batch over ---------------------------------------------------


def email_of(db: Database, ids: list[int]) -> list[str]:
    """The addresses of these recipient rows, in the same order."""
    with db.transaction() as session:
        found = dict(
            session.execute(
                select(Recipient.id, Contact.email)
                .join(Contact, Contact.id == Recipient.contact_id)
                .where(Recipient.id.in_(ids))
            ).all()
        )
    return [str(found[i]) for i in ids]


def test_the_next_worker_settles_rows_by_the_dead_workers_journal(
    db: Database, settings: Settings
) -> None:
    """Rows 1-4 of a batch were injected by a worker that died; its journal says 1 was
    accepted, 2 was on the wire, 3 was refused at DATA and 4 never started; 5 and 6 were not
    reached. Only 2 is unknown; 1 is recorded without a second send; 3-6 are sent now."""
    campaign_id = seed_campaign(db, people=[person(i) for i in range(6)])
    mailbox = Mailbox()
    with smtp_server(mailbox) as url:
        config = settings.model_copy(update={"smtp_url": url, "messaging_batch_size": 10})
        execution_id = send_now(db, campaign_id)
        Scheduler(settings=config, clock=ManualClock()).tick(db)
        ids = [r.id for r in rows(db, execution_id)]
        with db.transaction() as session:
            batch_id = session.scalar(select(Batch.id).where(Batch.execution_id == execution_id))
            session.execute(
                update(Recipient).where(Recipient.id.in_(ids[:4])).values(stage="injected")
            )
        assert batch_id is not None
        directory = config.data_dir / "handover"
        journal = HandoverJournal.create(directory, execution_id=execution_id, batch_id=batch_id)
        journal.claimed(ids[:4])
        for index in range(3):
            journal.started(message(ids[index]))
        journal.finished(message(ids[0]), Delivery.sent("accepted-before-the-crash"))
        journal.finished(message(ids[2]), Delivery(Outcome.TRANSIENT, reason="451"))
        journal.close(keep=True)
        engine_worker(db, config).run_until_idle()

    final = {r.id: r for r in rows(db, execution_id)}
    assert execution(db, execution_id).status == "completed"
    assert final[ids[0]].stage == "sent"
    assert final[ids[0]].provider_message_id == "accepted-before-the-crash"
    assert (final[ids[1]].stage, final[ids[1]].reason) == ("failed", UNKNOWN)
    assert [final[i].stage for i in ids[2:]] == ["sent"] * 4
    delivered = sorted(r.rcpt for r in mailbox.received)
    assert delivered == sorted(email_of(db, ids[2:]))  # each once
    assert list(directory.iterdir()) == []  # the dead journal and the new one are gone


def test_without_a_journal_injected_rows_stay_unknown(db: Database, settings: Settings) -> None:
    """A worker on another host (its journal not here) or from before this change: nothing is
    known, so nothing is sent again (the old, conservative answer)."""
    campaign_id = seed_campaign(db, people=[person(i) for i in range(3)])
    mailbox = Mailbox()
    with smtp_server(mailbox) as url:
        config = settings.model_copy(update={"smtp_url": url, "messaging_batch_size": 10})
        execution_id = send_now(db, campaign_id)
        Scheduler(settings=config, clock=ManualClock()).tick(db)
        ids = [r.id for r in rows(db, execution_id)]
        with db.transaction() as session:
            session.execute(
                update(Recipient).where(Recipient.id.in_(ids[:2])).values(stage="injected")
            )
        engine_worker(db, config).run_until_idle()
    final = {r.id: r for r in rows(db, execution_id)}
    assert [final[i].reason for i in ids[:2]] == [UNKNOWN, UNKNOWN]
    assert [r.rcpt for r in mailbox.received] == email_of(db, ids[2:])


def test_a_data_dir_without_room_for_journals_still_sends(
    db: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """No journal can be created (``handover`` is taken by a file): the batch is sent anyway,
    with the wider crash window, and the worker says so."""
    campaign_id = seed_campaign(db, people=[person(i) for i in range(3)])
    mailbox = Mailbox()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "handover").write_text("not a directory")
    with smtp_server(mailbox) as url:
        config = settings.model_copy(update={"smtp_url": url})
        execution_id = send_now(db, campaign_id)
        Scheduler(settings=config, clock=ManualClock()).tick(db)
        engine_worker(db, config).run_until_idle()
    assert [r.stage for r in rows(db, execution_id)] == ["sent"] * 3
    assert len(mailbox.received) == 3
    assert "no hand-over journal" in caplog.text
