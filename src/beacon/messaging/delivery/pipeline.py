"""The per-recipient pipeline: one batch of an execution, from its rows to the provider.

A batch is a job row (``messaging_batches``) a worker claims with a lease (``core.jobs``); a
worker that dies leaves the lease to expire and another worker runs the batch again. Every
stage move is committed before the next step, so a rerun knows where each row stands:

1. rows a dead worker left ``injected``: asked of the provider when it can tell (print
   files), else of the dead worker's hand-over journal; rows it had not begun to hand over
   are sent, and only those on the wire at the crash are left to the crash policy (default:
   failed, ``unknown_outcome_after_crash``);
2. hydrate the ``scheduled`` rows (channel address, subscription) in one commit;
3. compose, inject and send chunk by chunk (``handover``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from beacon.core.config import Settings
from beacon.core.jobs import JobContext, JobKind
from beacon.core.retry import RetryStrategy
from beacon.core.timefmt import utcnow
from beacon.messaging.delivery import engine
from beacon.messaging.delivery import recipient_repository as recipients
from beacon.messaging.delivery.compose import (
    Composer,
    RecipientRow,
    hydrate_problem,
    subscription_problem,
)
from beacon.messaging.delivery.handover import (
    BatchContext,
    ChunkStream,
    Failure,
    Stop,
    release_claims,
    settle_leftovers,
)
from beacon.messaging.models import Batch, Campaign, Execution
from beacon.messaging.providers import Provider
from beacon.messaging.providers.factory import open_provider, retry_policy
from beacon.messaging.templates import render_pool

log = logging.getLogger("beacon.messaging.pipeline")
NO_LINK_BASE = (
    "BEACON_PUBLIC_URL is not set: a worker outside `beacon serve` cannot build unsubscribe "
    "links, so it sends no email"
)


def batch_job_kind(settings: Settings) -> JobKind:
    """The job kind that runs execution batches."""

    def handler(context: JobContext) -> None:
        run_batch(context=context, settings=settings)

    return JobKind(
        name="messaging.batch",
        model=Batch,
        handler=handler,
        lease_seconds=settings.job_lease_seconds,
        retry=RetryStrategy(max_attempts=settings.job_max_attempts),
    )


def run_batch(*, context: JobContext, settings: Settings) -> None:
    """Job handler: run one batch; every step is a transaction of the job, committed only
    while its lease is ours (``LeaseLost`` propagates, and the runner leaves the batch to its
    new owner)."""
    with context.transaction() as session:
        batch: Batch = context.load(session)
        execution_id, low, high = (
            batch.execution_id,
            batch.first_recipient_id,
            batch.last_recipient_id,
        )
    batch_context = BatchContext(
        job=context,
        batch_id=context.job_id,
        execution_id=execution_id,
        channel="",
        settings=settings,
        policy=retry_policy(settings),
    )
    _BatchRun(batch_context, low=low, high=high).run()


class _BatchRun:
    def __init__(self, batch: BatchContext, *, low: int, high: int) -> None:
        self.batch = batch
        self.low, self.high = low, high

    def run(self) -> None:
        batch = self.batch
        render_pool.shared().warm()  # the render processes start while the rows load
        with batch.tx() as session:
            execution = session.get(Execution, batch.execution_id)
            campaign = session.get(Campaign, execution.campaign_id) if execution else None
            if execution is None or campaign is None:
                return
            batch.channel = campaign.channel
            content = execution.content
            cancelled = execution.cancel_requested_at is not None
            stop = Stop(execution.status, cancelled, execution.error)
            if execution.status == "running" and content is None:
                reason = "the execution has no template content"
                engine.fail_execution(
                    session=session, execution_id=batch.execution_id, reason=reason, now=utcnow()
                )
                stop = Stop("failed", cancelled, reason)
        with asyncio.Runner() as loop:
            try:
                provider = loop.run(self._open())
            except ValueError as exc:
                with batch.tx() as session:
                    engine.fail_execution(
                        session=session,
                        execution_id=batch.execution_id,
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
        with batch.tx() as session:
            engine.finish_if_done(session=session, execution_id=batch.execution_id, now=utcnow())

    async def _open(self) -> Provider:
        return open_provider(self.batch.channel, self.batch.settings)

    def _load(self) -> list[RecipientRow]:
        with self.batch.tx() as session:
            return recipients.load_rows(
                session,
                execution_id=self.batch.execution_id,
                low=self.low,
                high=self.high,
                channel=self.batch.channel,
            )

    # --- stopping and crash leftovers -------------------------------------------------------

    def _wind_down(self, loop: asyncio.Runner, provider: Provider, stop: Stop) -> None:
        """The execution is not running (or was asked to stop): nothing new is handed over."""
        execution_id, now = self.batch.execution_id, utcnow()
        reason = recipients.CANCELLED if stop.cancelled else stop.error
        reason = reason or (
            recipients.CANCELLED if stop.status == "cancelled" else f"execution {stop.status}"
        )
        with self.batch.tx() as session:
            if stop.status == "running" and stop.cancelled:
                engine.apply_cancel(session=session, execution_id=execution_id, now=now)
            else:
                recipients.fail_unfinished(
                    session,
                    execution_id=execution_id,
                    reason=reason,
                    now=now,
                    low=self.low,
                    high=self.high,
                )
        leftovers = [r for r in self._load() if r.stage == "injected"]
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
        (``not_sent`` is the reason for those known never handed over)."""
        if not rows:
            return []
        ids = [r.id for r in rows]
        confirmed = loop.run(
            provider.confirmed(execution_id=self.batch.execution_id, recipient_ids=ids)
        )
        settled = settle_leftovers(
            self.batch, rows, confirmed, may_resend=may_resend, not_sent=not_sent
        )
        log.warning(
            "settled rows left injected by a dead worker",
            extra={
                "batch_id": self.batch.batch_id,
                "confirmed": len(settled.sent),
                "resent": len(settled.resend),
                "unknown": sum(r == recipients.UNKNOWN_AFTER_CRASH for _, _, r in settled.failed),
            },
        )
        return settled.resend

    # --- the stages -------------------------------------------------------------------------

    def _process(self, loop: asyncio.Runner, provider: Provider, content: dict[str, Any]) -> None:
        rows = self._load()
        injected = [r for r in rows if r.stage == "injected"]
        resend = self._settle_injected(loop, provider, injected, may_resend=True)
        going = self._hydrate([*resend, *(r for r in rows if r.stage != "injected")])
        stream = ChunkStream(self.batch, provider, self._composer(content))
        try:
            loop.run(stream.run(sorted(going, key=lambda r: r.id)))
        except Stop as stop:
            self._wind_down(loop, provider, stop)

    def _hydrate(self, rows: list[RecipientRow]) -> list[RecipientRow]:
        """Check the contacts of the ``scheduled`` rows, and the subscription of the rows a
        dead worker left further on (hydrated, composed, or injected and to be resent: the
        contact may have unsubscribed since); returns the rows still going."""
        failures: list[Failure] = []
        going: list[RecipientRow] = []
        channel = self.batch.channel
        for row in rows:
            if row.stage == "scheduled":
                problem = hydrate_problem(channel, row)
            else:
                problem = subscription_problem(channel, row)
            if problem is not None:
                failures.append((row.id, recipients.NEXT_STAGE.get(row.stage, "sent"), problem))
                continue
            if row.stage == "scheduled":
                row.stage = "hydrated"
            going.append(row)
        with self.batch.tx() as session:
            stages = {row.id: row.stage for row in rows}
            release_claims(session, self.batch, failures, stages)
            recipients.mark_failed(session, failures, utcnow())
            recipients.advance(
                session,
                execution_id=self.batch.execution_id,
                low=self.low,
                high=self.high,
                from_stage="scheduled",
                now=utcnow(),
            )
        return going

    def _composer(self, content: dict[str, Any]) -> Composer:
        base_url = self.batch.settings.link_base_url
        composer = Composer(
            channel=self.batch.channel,
            content=content,
            execution_id=self.batch.execution_id,
            base_url=base_url or "",
            now=utcnow(),
        )
        if base_url is None and self.batch.channel == "email":
            composer.broken = NO_LINK_BASE  # every recipient fails with it, nothing renders
        return composer
