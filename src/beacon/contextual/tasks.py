"""Background work: batch jobs, and the periodic classifier that keeps the store current.

The periodic classifier is what classifies the URLs pixels see and the activation inventory:
each tick it queues URLs from pixel rollup rows added since the last tick, claims a bounded
number of due store rows (pending, failed and past their back-off, or stale), fetches them in
bounded parallel outside any transaction, and stores the results.
"""

from __future__ import annotations

import math
from datetime import timedelta

from beacon.contextual import batches, engine, repository, service, store
from beacon.contextual.models import ClassificationBatch
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.jobs import JobContext, JobKind, PeriodicTask
from beacon.core.retry import RetryStrategy
from beacon.core.timefmt import utcnow

# Rollup rows read per tick; each yields at most one URL to queue.
ROLLUP_SCAN_LIMIT = 1000


def batch_job_kind(settings: Settings) -> JobKind:
    """The job kind that runs classification batches."""

    def handle(context: JobContext) -> None:
        batches.run_batch(context=context, settings=settings)

    return JobKind(
        name="classification_batch",
        model=ClassificationBatch,
        handler=handle,
        lease_seconds=settings.job_lease_seconds,
        retry=RetryStrategy(max_attempts=settings.job_max_attempts),
    )


def store_refresh_task(settings: Settings) -> PeriodicTask:
    """The periodic task that classifies pending, failed-and-due and stale store rows. It runs
    on one of the worker's handler threads (``BEACON_WORKER_CONCURRENCY``), so a tick of slow
    fetches holds up no job while another thread is free; a tick still running is skipped."""

    def tick(db: Database) -> None:
        classify_due(db=db, settings=settings)

    return PeriodicTask(
        name="classify_store", interval=settings.classification_interval_seconds, run=tick
    )


def classify_due(*, db: Database, settings: Settings) -> int:
    """One tick: queue new pixel URLs, then classify up to ``classification_tick_urls`` due
    rows; returns how many rows were attempted."""
    with db.transaction() as session:
        repository.queue_new_rollup_urls(session, limit=ROLLUP_SCAN_LIMIT)
    now = utcnow()
    rounds = math.ceil(settings.classification_tick_urls / settings.classification_parallel_fetches)
    # The claim is a lease: rows of a worker that dies become due again after it.
    lease = timedelta(seconds=rounds * settings.fetch_total_timeout + 60)
    with db.transaction() as session:
        claimed = store.claim_due(
            session,
            now=now,
            ttl=timedelta(hours=settings.classification_ttl_hours),
            engine_version=engine.ENGINE_VERSION,
            limit=settings.classification_tick_urls,
            lease_until=now + lease,
        )
        work = [(row.url, row.domain) for row in claimed]
    if not work:
        return 0
    results = service.classify_pages(urls=[url for url, _ in work], settings=settings)
    with db.transaction() as session:
        for (_, domain), result in zip(work, results, strict=True):
            service.record_result(
                session,
                settings=settings,
                result=result,
                domain=domain or service.domain_of(result.url),
            )
    return len(work)
