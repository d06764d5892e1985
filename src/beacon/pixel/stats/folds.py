"""Folding closed days into the stats summaries, off the ingest path.

The flusher writes only the daily rollups. A periodic task (`stats.tasks`) sets each campaign's
folding job pending; the job compares every closed day's loads in site-days with the loads it
had when folded (rollups only grow, so equal loads mean no hit arrived since) and then, one
short fenced transaction per step: undoes a month holding a changed day (its days read from
the daily rollups again) and folds each unfolded closed day. A step re-checks its day or month
under a per-campaign lock, so the job is idempotent and two workers folding one campaign at
once (a lease taken over) add nothing twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from sqlalchemy.orm import Session

from beacon.core.db import Transaction
from beacon.core.jobs import JobContext
from beacon.core.timefmt import utcnow
from beacon.pixel.stats import fold_repository as repository

log = logging.getLogger("beacon.pixel.stats")

# Days folded per transaction: each month key is written once per step rather than once a day
# (a first fold of a large campaign), while a step stays short (a week of the full grain).
DAYS_PER_STEP = 7
# Loads folded by one job above which the summaries' planner statistics are refreshed at its
# end (fold_repository.refresh_statistics): a first fold of a large campaign, or a back-fill.
ANALYZE_AFTER_LOADS = 1_000_000


def closed_before() -> dt.date:
    """Days before this one (UTC today) are closed: the folding job folds them."""
    return utcnow().date()


def fold_job(context: JobContext) -> None:
    """The folding job of one campaign: every step in its own fenced transaction."""
    with context.transaction() as session:
        campaign_id = context.load(session).campaign_id

    def step() -> AbstractContextManager[Session]:
        return _held(context)

    folded = fold_campaign(transaction=step, campaign_id=campaign_id, before=closed_before())
    if folded:
        log.info("stats days folded", extra={"campaign_id": campaign_id, "days": folded})
    with context.transaction() as session:
        context.complete(session)


@contextmanager
def _held(context: JobContext) -> Iterator[Session]:
    """A transaction of the job that first renews (and locks) its lease."""
    with context.transaction() as session:
        context.hold(session)
        yield session


def fold_campaign(
    *,
    transaction: Transaction,
    campaign_id: int,
    before: dt.date,
    analyze_after: int = ANALYZE_AFTER_LOADS,
) -> int:
    """Bring the campaign's summaries up to date with its days before ``before``; returns how
    many days were folded. ``transaction`` opens each step's transaction. When the folded
    days held ``analyze_after`` loads or more, the summaries' statistics are refreshed."""
    with transaction() as session:
        actual = repository.site_day_loads(session, campaign_id=campaign_id, before=before)
        marks = repository.folded(session, campaign_id=campaign_id)
    changed = {day for day, loads in marks.items() if actual.get(day) != loads}
    for month in sorted({repository.month_of(day) for day in changed}):
        with transaction() as session:
            repository.lock_campaign(session, campaign_id)
            _unfold_if_changed(session, campaign_id, month, before)
        marks = {day: n for day, n in marks.items() if repository.month_of(day) != month}
    done = loads = 0
    for days in _batches(sorted(set(actual) - set(marks))):
        with transaction() as session:
            repository.lock_campaign(session, campaign_id)
            marked = repository.folded(
                session, campaign_id=campaign_id, start=days[0], end=days[-1]
            )
            todo = [day for day in days if day not in marked]
            if todo:
                folded = repository.fold_days(session, campaign_id=campaign_id, days=todo)
                done += len(todo)
                loads += sum(folded.values())
    if done and loads >= analyze_after:
        with transaction() as session:
            repository.refresh_statistics(session)
    return done


def _batches(days: list[dt.date]) -> list[list[dt.date]]:
    """``days`` in steps of at most ``DAYS_PER_STEP`` days of one month each."""
    steps: list[list[dt.date]] = []
    for day in days:
        last = steps[-1] if steps else None
        if (
            last
            and len(last) < DAYS_PER_STEP
            and last[0].month == day.month
            and last[0].year == day.year
        ):
            last.append(day)
        else:
            steps.append([day])
    return steps


def _unfold_if_changed(session: Session, campaign_id: int, month: dt.date, before: dt.date) -> None:
    actual = repository.site_day_loads(session, campaign_id=campaign_id, before=before, month=month)
    last = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    marks = repository.folded(session, campaign_id=campaign_id, start=month, end=last)
    if any(actual.get(day) != loads for day, loads in marks.items()):
        repository.unfold_month(session, campaign_id=campaign_id, month=month)
