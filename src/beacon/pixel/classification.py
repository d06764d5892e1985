"""The pages pixels see, queued for contextual classification, and the periodic classifier.

Reports and the activation inventory read the classifications of these pages, so each tick
first queues the page URLs of rollup rows added since the last tick (a cursor on the rollup
id keeps it bounded and incremental), then runs the contextual classifier over the due rows.
"""

from __future__ import annotations

from functools import partial

from sqlalchemy.orm import Session

from beacon.contextual import service as contextual_service
from beacon.contextual import tasks as contextual_tasks
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.jobs import PeriodicTask
from beacon.pixel import repository

# The name of the contextual feed cursor that remembers the last rollup row read.
ROLLUP_FEED = "pixel_rollups"
# Rollup rows read per tick; each yields at most one URL to queue.
ROLLUP_SCAN_LIMIT = 1000


def queue_campaign_urls(session: Session, campaign_id: int) -> int:
    """Queue every URL a pixel campaign has seen for classification; returns how many are new."""
    pairs = repository.campaign_page_urls(session, campaign_id)
    return contextual_service.request_classification(session, pairs)


def queue_new_page_urls(session: Session, *, limit: int = ROLLUP_SCAN_LIMIT) -> int:
    """Queue the page URLs of rollup rows added since the last call (at most ``limit`` rows)."""

    def read(after: int, count: int) -> list[tuple[int, str, str]]:
        return repository.page_urls_after(session, after_id=after, limit=count)

    return contextual_service.queue_feed(session, feed=ROLLUP_FEED, read=read, limit=limit)


def classify_due(*, db: Database, settings: Settings) -> int:
    """One tick: queue new pixel URLs, then classify up to ``classification_tick_urls`` due
    rows; returns how many rows were attempted."""
    with db.transaction() as session:
        queue_new_page_urls(session)
    return contextual_tasks.classify_due_rows(db=db, settings=settings)


def classifier_task(settings: Settings) -> PeriodicTask:
    """The periodic classifier of the store. It runs on one of the worker's handler threads
    (``BEACON_WORKER_CONCURRENCY``), so a tick of slow fetches holds up no job while another
    thread is free; a tick still running is skipped."""
    return PeriodicTask(
        name="classify_store",
        interval=settings.classification_interval_seconds,
        run=partial(_tick, settings=settings),
    )


def _tick(db: Database, *, settings: Settings) -> None:
    classify_due(db=db, settings=settings)
