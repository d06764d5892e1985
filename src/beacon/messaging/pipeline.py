"""The per-recipient pipeline: one batch of an execution, from its rows to the provider.

A batch is a job row (``messaging_batches``) a worker claims with a lease (``core.jobs``); a
worker that dies leaves the lease to expire and another worker runs the batch again. Every
stage move is committed before the next step, so a rerun knows where each row stands:

1. rows a dead worker left ``injected``: asked of the provider when it can tell (print
   files); otherwise the crash policy decides (default: failed, ``unknown_outcome_after_crash``);
2. hydrate the ``scheduled`` rows (channel address, subscription) in one commit;
3. then chunk by chunk: render; in one transaction renew the lease, check for a cancel, record
   render failures and mark the chunk ``composed`` then ``injected``; hand it to the provider;
   record each answer (``sent`` only on the provider's word) in another transaction.

Chunks overlap: while earlier chunks are on the wire, the next one is rendered and claimed,
so the provider is kept busy while the worker does its own work (rendering yields to the
event loop between recipients; database work runs in threads).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from beacon.core.config import Settings
from beacon.core.jobs import JobKind
from beacon.core.timefmt import utcnow
from beacon.messaging import engine
from beacon.messaging import execution_repository as repo
from beacon.messaging.compose import Composer, RecipientRow, hydrate_problem
from beacon.messaging.models import Batch, Campaign, Execution
from beacon.messaging.providers import Delivery, Outcome, OutgoingMessage, Provider, deliver
from beacon.messaging.providers.factory import open_provider, retry_policy
from beacon.messaging.rendering import RenderError

log = logging.getLogger("beacon.messaging.pipeline")
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
# chunks handed over at once: enough to keep the provider busy while the next is prepared
CHUNKS_IN_FLIGHT = 3

Failure = tuple[int, str, str]  # recipient id, the stage it failed to reach, reason


class LeaseLost(Exception):
    """Another worker took the batch over (this one stalled past its lease)."""


class _Stop(Exception):
    """The execution stopped running (cancelled or failed) at a chunk boundary."""

    def __init__(self, status: str, cancelled: bool, error: str | None) -> None:
        super().__init__(status)
        self.status, self.cancelled, self.error = status, cancelled, error


def batch_job_kind(settings: Settings) -> JobKind:
    """The job kind that runs execution batches."""

    def handler(session: Session, batch: Batch) -> None:
        run_batch(session=session, batch=batch, settings=settings)

    return JobKind(
        name="messaging.batch",
        model=Batch,
        handler=handler,
        lease_seconds=settings.job_lease_seconds,
        max_attempts=settings.job_max_attempts,
    )


def run_batch(*, session: Session, batch: Batch, settings: Settings) -> None:
    """Job handler: run one batch; every step commits on its own connection.

    LeaseLost propagates, so the job runner leaves the batch to its new owner.
    """
    bind = session.get_bind()
    assert isinstance(bind, Engine)
    assert batch.lease_owner is not None
    _BatchRun(bind=bind, batch=batch, owner=batch.lease_owner, settings=settings).run()


class _BatchRun:
    def __init__(self, *, bind: Engine, batch: Batch, owner: str, settings: Settings) -> None:
        self.sessions = sessionmaker(bind, expire_on_commit=False)
        self.batch_id = batch.id
        self.execution_id = batch.execution_id
        self.low, self.high = batch.first_recipient_id, batch.last_recipient_id
        self.owner = owner
        self.settings = settings
        self.policy = retry_policy(settings)
        self.channel = ""
        self.halted = False  # the provider became unreachable: the execution failed

    @contextmanager
    def tx(self) -> Iterator[Session]:
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def run(self) -> None:
        with self.tx() as session:
            execution = session.get(Execution, self.execution_id)
            campaign = session.get(Campaign, execution.campaign_id) if execution else None
            if execution is None or campaign is None:
                return
            self.channel = campaign.channel
            content = execution.content
            cancelled = execution.cancel_requested_at is not None
            stop = _Stop(execution.status, cancelled, execution.error)
            if execution.status == "running" and content is None:
                reason = "the execution has no template content"
                engine.fail_execution(
                    session=session, execution_id=self.execution_id, reason=reason, now=utcnow()
                )
                stop = _Stop("failed", cancelled, reason)
        with asyncio.Runner() as loop:
            try:
                provider = loop.run(self._open())
            except ValueError as exc:
                with self.tx() as session:
                    engine.fail_execution(
                        session=session,
                        execution_id=self.execution_id,
                        reason=f"delivery provider misconfigured: {exc}",
                        now=utcnow(),
                    )
                return
            try:
                if stop.status != "running" or stop.cancelled or content is None:
                    self._wind_down(loop, provider, stop)
                else:
                    self._process(loop, provider, content)
            finally:
                loop.run(provider.aclose())
        with self.tx() as session:
            engine.finish_if_done(session=session, execution_id=self.execution_id, now=utcnow())

    async def _open(self) -> Provider:
        return open_provider(self.channel, self.settings)

    def _load(self) -> list[RecipientRow]:
        with self.tx() as session:
            return repo.load_rows(
                session,
                execution_id=self.execution_id,
                low=self.low,
                high=self.high,
                channel=self.channel,
            )

    # --- stopping and crash leftovers -------------------------------------------------------

    def _wind_down(self, loop: asyncio.Runner, provider: Provider, stop: _Stop) -> None:
        """The execution is not running (or was asked to stop): nothing new is handed over."""
        now = utcnow()
        with self.tx() as session:
            if stop.status == "running" and stop.cancelled:
                engine.apply_cancel(session=session, execution_id=self.execution_id, now=now)
            else:
                cancelled = stop.status == "cancelled"
                reason = stop.error or (repo.CANCELLED if cancelled else f"execution {stop.status}")
                repo.fail_unfinished(
                    session,
                    execution_id=self.execution_id,
                    reason=reason,
                    now=now,
                    low=self.low,
                    high=self.high,
                )
        leftovers = [r for r in self._load() if r.stage == "injected"]
        reason = repo.CANCELLED if stop.cancelled else stop.error or f"execution {stop.status}"
        self._settle_injected(loop, provider, leftovers, may_resend=False, not_sent=reason)

    def _settle_injected(
        self,
        loop: asyncio.Runner,
        provider: Provider,
        rows: list[RecipientRow],
        *,
        may_resend: bool,
        not_sent: str | None = None,
    ) -> list[RecipientRow]:
        """Rows a dead worker left ``injected``: confirmed ones become sent; the rest are
        returned for resending when that is known safe or the policy allows it, else failed
        (``not_sent`` is the reason when the provider knows they were never handed over)."""
        if not rows:
            return []
        ids = [r.id for r in rows]
        confirmed = loop.run(provider.confirmed(execution_id=self.execution_id, recipient_ids=ids))
        leftover = [r for r in rows if r.id not in (confirmed or {})]
        resend = may_resend and (confirmed is not None or self.policy.resend_unknown)
        known = confirmed is not None and not_sent is not None
        reason = not_sent if known and not_sent else repo.UNKNOWN_AFTER_CRASH
        with self.tx() as session:
            repo.mark_sent(session, list((confirmed or {}).items()), utcnow())
            if not resend:
                repo.mark_failed(session, [(r.id, "sent", reason) for r in leftover], utcnow())
        log.warning(
            "settled rows left injected by a dead worker",
            extra={"batch_id": self.batch_id, "confirmed": len(confirmed or {}), "resent": resend},
        )
        return leftover if resend else []

    # --- the stages -------------------------------------------------------------------------

    def _process(self, loop: asyncio.Runner, provider: Provider, content: dict[str, Any]) -> None:
        rows = self._load()
        injected = [r for r in rows if r.stage == "injected"]
        resend = self._settle_injected(loop, provider, injected, may_resend=True)
        going = self._hydrate([r for r in rows if r.stage != "injected"])
        try:
            loop.run(self._stream(provider, sorted([*going, *resend], key=lambda r: r.id), content))
        except _Stop as stop:
            self._wind_down(loop, provider, stop)

    def _hydrate(self, rows: list[RecipientRow]) -> list[RecipientRow]:
        """Check the contacts of the ``scheduled`` rows; returns the rows still going."""
        failures: list[Failure] = []
        going: list[RecipientRow] = []
        for row in rows:
            problem = hydrate_problem(self.channel, row) if row.stage == "scheduled" else None
            if problem is not None:
                failures.append((row.id, "hydrated", problem))
                continue
            if row.stage == "scheduled":
                row.stage = "hydrated"
            going.append(row)
        with self.tx() as session:
            repo.mark_failed(session, failures, utcnow())
            repo.advance(
                session,
                execution_id=self.execution_id,
                low=self.low,
                high=self.high,
                from_stage="scheduled",
                now=utcnow(),
            )
        return going

    def _composer(self, content: dict[str, Any]) -> tuple[Composer | None, str]:
        try:
            composer = Composer(
                channel=self.channel,
                content=content,
                execution_id=self.execution_id,
                base_url=self.settings.public_url or DEFAULT_BASE_URL,
                now=utcnow(),
            )
        except RenderError as exc:
            return None, f"template does not compile: {exc}"
        return composer, ""

    async def _stream(
        self, provider: Provider, rows: list[RecipientRow], content: dict[str, Any]
    ) -> None:
        """Render, claim and hand over chunk after chunk, several chunks in flight."""
        composer, broken = self._composer(content)
        # the chunk bounds what a crash can leave unknown; a recoverable provider has no such
        # window, and fewer, larger hand-offs are cheaper (one directory, one commit)
        size = (
            max(1, len(rows)) if provider.recoverable else self.settings.messaging_inject_chunk_size
        )
        window = asyncio.Semaphore(CHUNKS_IN_FLIGHT)
        in_flight: set[asyncio.Task[None]] = set()
        try:
            for start in range(0, len(rows), size):
                if self.halted:
                    break
                chunk = rows[start : start + size]
                messages, failures = await self._render(
                    composer, broken, chunk, share_loop=bool(in_flight)
                )
                await window.acquire()
                try:
                    handing = await asyncio.to_thread(self._claim, chunk, messages, failures)
                except BaseException:
                    window.release()
                    raise
                if not handing:
                    window.release()
                    continue
                task = asyncio.create_task(self._hand_over(provider, handing, window))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
        finally:
            # what is on the wire is always recorded, whatever stopped the stream
            await asyncio.gather(*in_flight)

    async def _render(
        self,
        composer: Composer | None,
        broken: str,
        rows: Sequence[RecipientRow],
        *,
        share_loop: bool,
    ) -> tuple[list[OutgoingMessage], list[Failure]]:
        """Each recipient's message; a render error fails that recipient only. With chunks on
        the wire (``share_loop``) it yields to their connections between two renders."""
        messages: list[OutgoingMessage] = []
        failures: list[Failure] = []
        for row in rows:
            to_stage = repo.NEXT_STAGE.get(row.stage, "sent")
            if composer is None:
                failures.append((row.id, to_stage, broken))
                continue
            try:
                messages.append(composer.compose(row))
            except RenderError as exc:
                failures.append((row.id, to_stage, f"render error: {exc}"))
            if share_loop:
                await asyncio.sleep(0)
        return messages, failures

    def _claim(
        self,
        rows: Sequence[RecipientRow],
        messages: Sequence[OutgoingMessage],
        failures: Sequence[Failure],
    ) -> list[OutgoingMessage]:
        """One transaction before a hand-off: the lease still ours, no cancel, render
        failures recorded, the chunk composed and injected. Returns what may be sent."""
        now = utcnow()
        with self.tx() as session:
            until = now + timedelta(seconds=self.settings.job_lease_seconds)
            if not repo.renew_batch_lease(
                session, batch_id=self.batch_id, owner=self.owner, until=until
            ):
                raise LeaseLost()
            execution = session.get(Execution, self.execution_id)
            assert execution is not None
            if execution.status != "running" or execution.cancel_requested_at is not None:
                cancelled = execution.cancel_requested_at is not None
                raise _Stop(execution.status, cancelled, execution.error)
            repo.mark_failed(session, failures, now)
            repo.advance(
                session,
                execution_id=self.execution_id,
                low=rows[0].id,
                high=rows[-1].id,
                from_stage="hydrated",
                now=now,
            )
            moved = repo.mark_injected(
                session,
                execution_id=self.execution_id,
                ids=[m.recipient_id for m in messages],
                now=now,
            )
        return [m for m in messages if m.recipient_id in moved]

    async def _hand_over(
        self, provider: Provider, messages: Sequence[OutgoingMessage], window: asyncio.Semaphore
    ) -> None:
        try:
            answers = await deliver(
                provider, messages, execution_id=self.execution_id, policy=self.policy
            )
            if not await asyncio.to_thread(self._record, messages, answers):
                self.halted = True
        finally:
            window.release()

    def _record(self, messages: Sequence[OutgoingMessage], answers: Sequence[Delivery]) -> bool:
        """Store the provider's answers; False when it was unreachable (the execution failed)."""
        sent: list[tuple[int, str]] = []
        failures: list[Failure] = []
        bounced: list[uuid.UUID] = []
        unreachable: str | None = None
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
        now = utcnow()
        with self.tx() as session:
            repo.mark_sent(session, sent, now)
            repo.mark_failed(session, failures, now)
            repo.mark_bounced(session, channel=self.channel, contact_ids=bounced, now=now)
            if unreachable is not None:
                engine.fail_execution(
                    session=session, execution_id=self.execution_id, reason=unreachable, now=now
                )
        return unreachable is None
