"""Background work of the stats: the folding job and the task that queues it."""

from __future__ import annotations

from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.jobs import JobKind, PeriodicTask
from beacon.core.retry import RetryStrategy
from beacon.pixel.stats import fold_repository, folds
from beacon.pixel.stats.models import PixelStatsFold


def fold_job_kind(settings: Settings) -> JobKind:
    """Folding one campaign's closed days into the month summaries (`stats.folds`)."""
    return JobKind(
        name="pixel_stats_fold",
        model=PixelStatsFold,
        handler=folds.fold_job,
        lease_seconds=settings.job_lease_seconds,
        retry=RetryStrategy(max_attempts=settings.job_max_attempts),
    )


def fold_task(settings: Settings) -> PeriodicTask:
    """Every ``stats_fold_interval_seconds``: set each active campaign's folding job pending
    (a job with nothing to fold reads two small lists and completes)."""

    def tick(db: Database) -> None:
        with db.transaction() as session:
            fold_repository.queue_folds(session)

    return PeriodicTask(
        name="pixel.stats_fold", interval=settings.stats_fold_interval_seconds, run=tick
    )
