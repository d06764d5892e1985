"""Handing a batch's messages to the provider, chunk by chunk: composed, injected, sent.

For each chunk: render; in one transaction renew the batch lease, record the answers of the
chunks handed over since the last such transaction (``sent`` only on the provider's word: a
group commit, one transaction per chunk rather than two), check for a cancel, record render
failures, read the contacts' subscriptions again (an unsubscribe or a bounce committed since
the batch began is honoured), claim each SMS number for the run (one message per number) and
mark the rendered rows ``injected`` (composed and injected commit together); only then hand the
chunk to the provider. The answers no later claim takes (the last chunks', a
provider found unreachable) commit in a transaction of their own.

``injected`` says only that a row may have been handed over. A provider that cannot tell
afterwards what it accepted (SMTP, the SMS API) also writes each hand-over's start and answer
to a journal file (``handover_journal``: one ``write()`` each, no database work per message),
so the worker that takes a dead worker's batch over can tell the rows that were on the wire
(at most one per connection: their outcome is unknown) from those never handed over (sent
normally) and those accepted (recorded, never sent again): ``settle_leftovers``.

Chunks overlap: while earlier chunks are on the wire the next one is rendered and claimed, so
the provider is kept busy while the worker does its own work (rendering happens in a render
process, database work in threads).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from beacon.core.config import Settings
from beacon.core.jobs import JobContext
from beacon.core.timefmt import utcnow
from beacon.messaging.delivery import engine
from beacon.messaging.delivery import recipient_repository as recipients
from beacon.messaging.delivery import repository as repo
from beacon.messaging.delivery.compose import Composer, RecipientRow, status_problem
from beacon.messaging.delivery.handover_journal import DeadJournals, HandoverJournal
from beacon.messaging.providers import (
    Delivery,
    Outcome,
    OutgoingMessage,
    Provider,
    RetryPolicy,
    deliver,
)

log = logging.getLogger("beacon.messaging.handover")

# chunks handed over at once: enough to keep the provider busy while the next is prepared
CHUNKS_IN_FLIGHT = 3

# a chunk renders in up to this many slices at once, each of at least MIN_RENDER_SLICE rows
RENDER_SLICES = 2
MIN_RENDER_SLICE = 10

Failure = tuple[int, str, str]  # recipient id, the stage it failed to reach, reason
Answered = tuple[Sequence[OutgoingMessage], Sequence[Delivery]]  # a chunk and its answers


class Stop(Exception):
    """The execution stopped running (cancelled or failed) at a chunk boundary."""

    def __init__(self, status: str, cancelled: bool, error: str | None) -> None:
        super().__init__(status)
        self.status, self.cancelled, self.error = status, cancelled, error


@dataclass
class BatchContext:
    """What every step of a batch needs: its identity, its job (lease and transactions)."""

    job: JobContext
    batch_id: int
    execution_id: uuid.UUID
    channel: str
    settings: Settings
    policy: RetryPolicy

    def tx(self) -> AbstractContextManager[Session]:
        """A transaction of the batch's job: it commits only while the lease is ours
        (``LeaseLost`` otherwise), and renews it."""
        return self.job.transaction()

    @property
    def journal_dir(self) -> Path:
        """Where the hand-over journals of every batch live."""
        return self.settings.data_dir / "handover"


@dataclass
class Settlement:
    """What becomes of the rows a dead worker left ``injected``."""

    sent: list[tuple[int, str]]  # accepted by the provider: recorded, never sent again
    failed: list[Failure]
    resend: list[RecipientRow]


def settle_leftovers(
    batch: BatchContext,
    rows: Sequence[RecipientRow],
    confirmed: dict[int, str] | None,
    *,
    may_resend: bool,
    not_sent: str | None = None,
) -> Settlement:
    """Record what is known of rows a dead worker left ``injected``; returns the rows to
    send (again). ``confirmed`` is the provider's own account (None: it cannot tell, and the
    dead worker's journals are read instead). A row never handed over is sent when
    ``may_resend``, else fails with ``not_sent``; a row whose outcome is unknown fails with
    ``unknown_outcome_after_crash`` unless the policy resends it."""
    dead: DeadJournals | None = None
    if confirmed is None:
        dead = DeadJournals(
            batch.journal_dir, execution_id=batch.execution_id, batch_id=batch.batch_id
        )
        found = dead.findings(r.id for r in rows)
        known, safe = found.accepted, found.unstarted
    else:
        known, safe = confirmed, {r.id for r in rows} - confirmed.keys()
    try:
        settled = _settle(batch, rows, known, safe, may_resend=may_resend, not_sent=not_sent)
        now = utcnow()
        with batch.tx() as session:
            recipients.mark_sent(session, settled.sent, now)
            recipients.mark_failed(session, settled.failed, now)
    except BaseException:
        if dead is not None:
            dead.release()
        raise
    if dead is not None:
        dead.discard()  # what they say is committed; rows to resend get this run's journal
    return settled


def _settle(
    batch: BatchContext,
    rows: Sequence[RecipientRow],
    known: dict[int, str],
    safe: set[int],
    *,
    may_resend: bool,
    not_sent: str | None,
) -> Settlement:
    settled = Settlement(sent=[(rid, pmid) for rid, pmid in known.items()], failed=[], resend=[])
    for row in rows:
        if row.id in known:
            continue
        if row.id in safe:
            resend, reason = may_resend, not_sent or recipients.UNKNOWN_AFTER_CRASH
        else:
            resend = may_resend and batch.policy.resend_unknown
            reason = recipients.UNKNOWN_AFTER_CRASH
        if resend:
            settled.resend.append(row)
        else:
            settled.failed.append((row.id, "sent", reason))
    return settled


class ChunkStream:
    """Renders, claims and hands over a batch's rows, several chunks in flight."""

    def __init__(self, batch: BatchContext, provider: Provider, composer: Composer) -> None:
        self.batch = batch
        self.provider = provider
        self.composer = composer
        self.halted = False  # the provider became unreachable: the execution failed
        self.journal: HandoverJournal | None = None
        self._unrecorded = 0  # rows handed over whose answers are not committed yet
        self._answered: list[Answered] = []  # answers waiting for the next claim's commit

    async def run(self, rows: list[RecipientRow]) -> None:
        """Hand every row over; raises Stop at a chunk boundary when the execution stopped."""
        if not self.provider.recoverable:
            self.journal = self._open_journal()
        finished = False  # every answer committed: the journal has nothing left to tell
        try:
            await self._run(rows)
            finished = True
        except Stop:
            finished = True
            raise
        finally:
            if self.journal is not None:
                self.journal.close(keep=not finished or self._unrecorded > 0)

    def _open_journal(self) -> HandoverJournal | None:
        batch = self.batch
        try:
            return HandoverJournal.create(
                batch.journal_dir, execution_id=batch.execution_id, batch_id=batch.batch_id
            )
        except OSError as exc:
            # still safe without it: a crash then leaves every injected row unknown
            log.warning(
                "no hand-over journal: a crash leaves the chunks in flight unknown",
                extra={"batch_id": batch.batch_id, "error": str(exc)},
            )
            return None

    async def _run(self, rows: list[RecipientRow]) -> None:
        # a chunk is claimed in one commit; a recoverable provider can take a whole batch,
        # and fewer, larger hand-offs are cheaper for it (one directory, one commit)
        size = self.batch.settings.messaging_inject_chunk_size
        if self.provider.recoverable:
            size = max(1, len(rows))
        window = asyncio.Semaphore(CHUNKS_IN_FLIGHT)
        in_flight: set[asyncio.Task[None]] = set()
        try:
            for start in range(0, len(rows), size):
                if self.halted:
                    break
                chunk = rows[start : start + size]
                messages, failures = await self._render(chunk)
                await window.acquire()
                answered, self._answered = self._answered, []
                try:
                    handing, stop = await asyncio.to_thread(
                        self._claim, chunk, messages, failures, answered
                    )
                except BaseException:
                    window.release()
                    raise
                self._unrecorded -= _count(answered)  # committed with the claim
                if stop is not None:
                    window.release()
                    raise stop
                if not handing:
                    window.release()
                    continue
                self._unrecorded += len(handing)
                task = asyncio.create_task(self._hand_over(handing, window))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
        finally:
            # what is on the wire is always recorded, whatever stopped the stream
            await asyncio.gather(*in_flight)
            await self._record_answered()

    async def _record_answered(self) -> None:
        """Commit the answers no claim has taken (the last chunks', or a halt's)."""
        answered, self._answered = self._answered, []
        if not answered or self.batch.job.lost:
            return  # a lost lease: the journal is kept for the worker that took the batch
        if not await asyncio.to_thread(self._record, answered):
            self.halted = True
        self._unrecorded -= _count(answered)

    async def _render(
        self, rows: Sequence[RecipientRow]
    ) -> tuple[list[OutgoingMessage], list[Failure]]:
        """Each recipient's message; a render error fails that recipient only. The chunk is
        rendered in slices by render processes working at once (``render_pool``: they run at
        a lower priority, and one alone renders more slowly than the connections send) while
        this loop keeps the chunks on the wire moving."""
        # slices only go to processes already running: a chunk never waits for several to
        # start (the pool starts the rest after its first render)
        slices = min(RENDER_SLICES, len(self.composer.pool.pids()))
        pieces = max(1, min(slices, len(rows) // MIN_RENDER_SLICE))
        step = -(-len(rows) // pieces)
        done = await asyncio.gather(
            *(
                asyncio.to_thread(self.composer.compose_chunk, rows[start : start + step])
                for start in range(0, len(rows), step)
            )
        )
        messages = [message for rendered, _ in done for message in rendered]
        failures = [
            (row.id, recipients.NEXT_STAGE.get(row.stage, "sent"), reason)
            for _, failed in done
            for row, reason in failed
        ]
        return messages, failures

    def _claim(
        self,
        rows: Sequence[RecipientRow],
        messages: Sequence[OutgoingMessage],
        failures: Sequence[Failure],
        answered: Sequence[Answered],
    ) -> tuple[list[OutgoingMessage], Stop | None]:
        """One transaction before a hand-off: the lease still ours, the answers of chunks
        handed over since the last claim recorded (group commit: the hand-over journal holds
        them until then), and, unless the execution stopped, render failures recorded, the
        rows of contacts no longer subscribed failed, SMS numbers claimed and the other
        rendered rows injected. Returns what may be sent, or the Stop (raised by the caller
        once the answers are committed)."""
        batch = self.batch
        now = utcnow()
        with batch.tx() as session:
            batch.job.hold(session)
            _write_answers(session, batch, answered, now)
            status, cancel, error = repo.execution_status(session, execution_id=batch.execution_id)
            if status != "running" or cancel is not None:
                return [], Stop(status, cancel is not None, error)
            stages = {row.id: row.stage for row in rows}
            messages, unsubscribed = _still_subscribed(session, batch, messages, stages)
            failed = [*failures, *unsubscribed]
            going, duplicates = _one_per_number(session, batch, messages, failed, stages, now)
            recipients.mark_failed(session, [*failed, *duplicates], now)
            if self.journal is not None:
                self.journal.claimed(m.recipient_id for m in going)  # before the commit
            moved = recipients.mark_injected(
                session,
                execution_id=batch.execution_id,
                ids=[m.recipient_id for m in going],
                now=now,
            )
        return [m for m in going if m.recipient_id in moved], None

    async def _hand_over(
        self, messages: Sequence[OutgoingMessage], window: asyncio.Semaphore
    ) -> None:
        try:
            answers = await deliver(
                self.provider,
                messages,
                execution_id=self.batch.execution_id,
                policy=self.batch.policy,
                handover=self.journal,
            )
            self._answered.append((messages, answers))
            # without a journal an answer waits for no claim (a crash would leave it unknown),
            # and an unreachable provider fails the execution now, not at the next claim
            if self.journal is None or any(a.outcome is Outcome.UNREACHABLE for a in answers):
                await self._record_answered()
        finally:
            window.release()

    def _record(self, answered: Sequence[Answered]) -> bool:
        """Store the provider's answers; False when it was unreachable (the execution failed)."""
        with self.batch.tx() as session:
            return _write_answers(session, self.batch, answered, utcnow())


def _not_reached(stages: Mapping[int, str], rid: int) -> str:
    # a rendered row fails to reach injected; one resent after a crash (injected) to be sent
    return "sent" if stages.get(rid) == "injected" else "injected"


def _still_subscribed(
    session: Session,
    batch: BatchContext,
    messages: Sequence[OutgoingMessage],
    stages: Mapping[int, str],
) -> tuple[list[OutgoingMessage], list[Failure]]:
    """The messages whose contact is still subscribed on the channel as committed now, read
    in the transaction that marks them ``injected`` (one query per chunk), and a failure for
    each of the others (``contact is unsubscribed for <channel>``, or ``bounced``): an
    unsubscribe committed while the batch ran, before its chunk's claim, is honoured."""
    statuses = recipients.channel_statuses(
        session, channel=batch.channel, ids=[m.recipient_id for m in messages]
    )
    going: list[OutgoingMessage] = []
    failures: list[Failure] = []
    for message in messages:
        rid = message.recipient_id
        problem = status_problem(batch.channel, statuses.get(rid, "subscribed"))
        if problem is None:
            going.append(message)
        else:
            failures.append((rid, _not_reached(stages, rid), problem))
    return going, failures


def release_claims(
    session: Session, batch: BatchContext, failures: Sequence[Failure], stages: Mapping[int, str]
) -> None:
    """Rows failing before their hand-over give up the address they may have claimed: only a
    row resent after a crash (``injected`` again) can hold one, and the address must not stay
    claimed by a row that never handed anything to it."""
    resent = [rid for rid, _, _ in failures if stages.get(rid) == "injected"]
    recipients.release_claims(session, execution_id=batch.execution_id, ids=resent)


def duplicate_number(holder: int | None) -> str:
    """The reason of a row not sent to because another row of the run has its SMS number."""
    who = f"recipient {holder}" if holder is not None else "another recipient"
    return f"duplicate phone number: {who} of this run has it (one SMS per number per run)"


def _one_per_number(
    session: Session,
    batch: BatchContext,
    messages: Sequence[OutgoingMessage],
    failed: Sequence[Failure],
    stages: Mapping[int, str],
    now: datetime,
) -> tuple[list[OutgoingMessage], list[Failure]]:
    """SMS: each message's row claims its number for the run (``messaging_handover_claims``,
    in the transaction that marks it ``injected``); the messages whose number another row
    holds are not handed over and fail at ``injected`` (at ``sent`` when resent after a
    crash) with ``duplicate phone number``. The ``failed`` rows give up the numbers they held
    (``release_claims``), to this chunk's messages too. Numbers are stored in E.164: equal
    numbers are equal strings. Other channels pass: an email address belongs to one
    contact."""
    if batch.channel != "sms":
        release_claims(session, batch, failed, stages)
        return list(messages), []
    wanted: dict[str, int] = {}
    for message in messages:
        held = wanted.get(message.to)
        if held is None or message.recipient_id < held:
            wanted[message.to] = message.recipient_id
    # claims first, in number order, the releases (deletes) only then: a release first waits
    # for nobody but makes a concurrent claim of its number wait, and that claim holds the
    # lower numbers it took already, which this one then waits for (a PostgreSQL deadlock)
    holders = recipients.claim_addresses(
        session, execution_id=batch.execution_id, wanted=wanted, now=now
    )
    release_claims(session, batch, failed, stages)
    giving_up = {rid for rid, _, _ in failed if stages.get(rid) == "injected"}
    freed = {address: wanted[address] for address, rid in holders.items() if rid in giving_up}
    if freed:  # numbers only this transaction holds now (its own deletes): no wait
        holders.update(
            recipients.claim_addresses(
                session, execution_id=batch.execution_id, wanted=freed, now=now
            )
        )
    going: list[OutgoingMessage] = []
    duplicates: list[Failure] = []
    for message in messages:
        holder = holders[message.to]
        if holder == message.recipient_id:
            going.append(message)
            continue
        rid = message.recipient_id
        duplicates.append((rid, _not_reached(stages, rid), duplicate_number(holder)))
    return going, duplicates


def _count(answered: Sequence[Answered]) -> int:
    return sum(len(messages) for messages, _ in answered)


def _write_answers(
    session: Session, batch: BatchContext, answered: Sequence[Answered], now: datetime
) -> bool:
    """Record the provider's answers (``sent`` only on its word); False when it was
    unreachable, and then the execution fails in the same transaction."""
    sent: list[tuple[int, str]] = []
    failures: list[Failure] = []
    bounced: list[uuid.UUID] = []
    unreachable: str | None = None
    for messages, answers in answered:
        for message, answer in zip(messages, answers, strict=True):
            if answer.outcome is Outcome.SENT:
                sent.append((message.recipient_id, answer.provider_message_id or ""))
                continue
            reason = answer.reason or answer.outcome.value
            if answer.outcome is Outcome.UNKNOWN:
                reason = f"unknown outcome: {reason}"
            if answer.outcome is Outcome.UNREACHABLE:
                reason = unreachable = f"delivery provider unreachable: {reason}"
            failures.append((message.recipient_id, "sent", reason))
            if answer.bounce:
                bounced.append(message.contact_id)
    recipients.mark_sent(session, sent, now)
    recipients.mark_failed(session, failures, now)
    recipients.mark_bounced(session, channel=batch.channel, contact_ids=bounced, now=now)
    if unreachable is not None:
        engine.fail_execution(
            session=session, execution_id=batch.execution_id, reason=unreachable, now=now
        )
    return unreachable is None
