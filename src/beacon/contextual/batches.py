"""Batch classification: a job row per request, one item row per URL.

The worker answers each URL from the store when it is fresh (or still backing off after a
failure), fetches the rest in bounded parallel, a slice at a time, stores each slice's results
as it comes, and fills in the items; a URL whose fetch fails is answered with its older
classification when the store has one. A batch retried after its worker died fetches only the
URLs whose results were not stored yet: the others are answered from the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson
from sqlalchemy.orm import Session

from beacon.contextual import classification_repository, repository, service
from beacon.contextual.models import (
    ITEM_CLASSIFIED,
    ITEM_FAILED,
    ClassificationBatch,
    ClassificationBatchItem,
)
from beacon.contextual.pages import PageResult
from beacon.core.config import Settings
from beacon.core.db import slices
from beacon.core.errors import not_found
from beacon.core.jobs import COMPLETE, JobContext
from beacon.core.timefmt import utcnow

MAX_BATCH_URLS = 1000


@dataclass(frozen=True, slots=True)
class BatchView:
    """A batch as the API shows it; counts and items only once it is complete."""

    batch: ClassificationBatch
    summary: dict[str, int] | None
    items: list[ClassificationBatchItem] | None
    limit: int
    offset: int


def create_batch(*, session: Session, account_id: int, urls: Sequence[str]) -> ClassificationBatch:
    """Queue a batch of URLs (already validated) for the worker."""
    return repository.add_batch(session, account_id=account_id, urls=urls)


def get_batch(
    *, session: Session, account_id: int, batch_id: int, limit: int, offset: int
) -> BatchView:
    """The account's batch with one page of results; 404 for a batch it does not own."""
    batch = repository.account_batch(session, account_id=account_id, batch_id=batch_id)
    if batch is None:
        raise not_found("Classification batch", batch_id)
    if batch.status != COMPLETE:
        return BatchView(batch=batch, summary=None, items=None, limit=limit, offset=offset)
    return BatchView(
        batch=batch,
        summary=repository.item_counts(session, batch_id=batch.id),
        items=repository.item_page(session, batch_id=batch.id, limit=limit, offset=offset),
        limit=limit,
        offset=offset,
    )


def run_batch(*, context: JobContext, settings: Settings) -> None:
    """Classify every pending item of the context's batch (the job handler).

    No database connection or transaction is held while pages download (a batch of slow
    sites would otherwise pin a pooled connection, and on PostgreSQL an open snapshot, for
    minutes): read the items and the store in one transaction of the job; fetch the rest in
    slices (``fetch_slice``) with none open, recording each slice's results in a transaction
    of its own, so a worker killed mid-batch loses one slice's fetches at most (the retried
    job answers the stored URLs from the store); then fill in the items and complete the
    batch in a last one. The job's lease, renewed by the runner and checked as each
    transaction commits, keeps other workers off the batch meanwhile.
    """
    with context.transaction() as session:
        items = repository.pending_items(session, batch_id=context.job_id)
        answered, to_fetch = _answers_from_store(
            session, settings=settings, urls=[i.url for i in items]
        )
    for part in slices(list(to_fetch), fetch_slice(settings)):
        results = service.classify_pages(
            urls=list(part), settings=settings, transaction=context.transaction
        )
        with context.transaction() as session:
            answered.update(_record(session, settings=settings, results=results, keys=to_fetch))
    with context.transaction() as session:
        for item in repository.pending_items(session, batch_id=context.job_id):
            _fill(item, answered[classification_repository.url_key(item.url)[0]])
        context.complete(session)


def fetch_slice(settings: Settings) -> int:
    """URLs a batch fetches before it stores their results: one call's worth for the
    classifier's child (``CHILD_CALL_ROUNDS`` rounds of parallel fetches), so slicing adds no
    wait where the child fetches, and a slice is a few rounds only where the worker does."""
    return service.CHILD_CALL_ROUNDS * settings.classification_parallel_fetches


def _record(
    session: Session,
    *,
    settings: Settings,
    results: Sequence[PageResult],
    keys: Mapping[str, tuple[str, str]],
) -> dict[str, service.UrlOutcome]:
    """Store a slice's page results, each under its row's key in ``keys``; each URL's outcome."""
    outcomes: dict[str, service.UrlOutcome] = {}
    for result in results:
        row = service.record_result(
            session,
            settings=settings,
            result=result,
            domain=service.domain_of(result.url),
            key=keys[result.url],
        )
        outcomes[result.url] = service.recorded_outcome(row, result)
    return outcomes


def _answers_from_store(
    session: Session, *, settings: Settings, urls: Sequence[str]
) -> tuple[dict[str, service.UrlOutcome], dict[str, tuple[str, str]]]:
    """Outcomes the store can give now, and the distinct normalised URLs left to fetch with
    the key each one's result is stored under (an older row of the URL's, ``write_keys``)."""
    now = utcnow()
    answered: dict[str, service.UrlOutcome] = {}
    to_fetch: dict[str, tuple[str, str]] = {}  # ordered: each distinct URL is fetched once
    keys = classification_repository.write_keys(session, urls)
    # One key a page: where one spelling of it (its host's root dot) leads to an older row,
    # that row, whichever spelling came first; else a batch listing the plain spelling first
    # wrote a second row beside the older one.
    chosen: dict[str, tuple[str, str]] = {}
    for url in urls:
        normalized, own = classification_repository.url_key(url)
        if normalized not in chosen or chosen[normalized][1] == own != keys[url][1]:
            chosen[normalized] = keys[url]
    for url, key in chosen.items():
        known = service.stored_outcome(
            classification_repository.stored_row(session, url, key=key),
            settings=settings,
            now=now,
        )
        if known is not None:
            answered[url] = known
        else:
            to_fetch[url] = key
    return answered, to_fetch


def _fill(item: ClassificationBatchItem, outcome: service.UrlOutcome) -> None:
    if outcome.classification is None:
        item.status = ITEM_FAILED
        item.error = outcome.error or "not classified"
        return
    item.status = ITEM_CLASSIFIED
    item.classification = orjson.dumps(outcome.classification).decode()
    item.classified_at = outcome.classified_at
