"""Background work: batch jobs, and the classifier that keeps the store current.

The classifier is what classifies the URLs queued by other domains (the pages pixels see, the
activation inventory): each run claims a bounded number of due store rows (pending, failed and
past their back-off, or stale), fetches them in bounded parallel outside any transaction, and
stores the results. Its periodic tick is the pixel domain's (``pixel/classification.py``),
which first queues the pages its rollups saw since the last tick.
"""

from __future__ import annotations

import math
from datetime import timedelta

from beacon.contextual import batches, classification_repository, engine, service
from beacon.contextual.models import ClassificationBatch
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.jobs import JobContext, JobKind
from beacon.core.retry import RetryStrategy
from beacon.core.timefmt import utcnow


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


def classify_due_rows(*, db: Database, settings: Settings) -> int:
    """Classify up to ``classification_tick_urls`` due rows; returns how many were attempted."""
    now = utcnow()
    rounds = math.ceil(settings.classification_tick_urls / settings.classification_parallel_fetches)
    # The claim is a lease: rows of a worker that dies become due again after it. It covers
    # the fetches and the wait for the classifier's child behind the other worker threads.
    fetching = rounds * settings.fetch_total_timeout + service.child_queue_seconds(settings)
    lease = timedelta(seconds=fetching + 60)
    with db.transaction() as session:
        claimed = classification_repository.claim_due(
            session,
            now=now,
            ttl=timedelta(hours=settings.classification_ttl_hours),
            engine_version=engine.ENGINE_VERSION,
            limit=settings.classification_tick_urls,
            lease_until=now + lease,
        )
        work = [(row.url, row.url_hash, row.domain) for row in claimed]
    if not work:
        return 0
    results = service.classify_pages(
        urls=[url for url, _, _ in work], settings=settings, transaction=db.transaction
    )
    with db.transaction() as session:
        for (url, url_hash, domain), result in zip(work, results, strict=True):
            service.record_result(
                session,
                settings=settings,
                result=result,
                domain=domain or service.domain_of(result.url),
                key=(url, url_hash),  # the claimed row, whatever its URL normalises to now
            )
    return len(work)
