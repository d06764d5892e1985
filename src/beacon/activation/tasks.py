"""Background work: segment builds, deal issuing and segment reports, as job rows.

Issuing persists the deal id in its own committed transaction *before* pushing the deal, so
a worker that dies mid-push leaves the id behind and the next one re-sends the same id.

A segment build waits while the account's inventory is still being classified: the handler
gives its job back to the queue (``pending``, due again after a classifier tick) in its own
committed transaction, up to ``BEACON_SEGMENT_BUILD_WAIT_SECONDS``.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any, NoReturn

import orjson
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from beacon.activation import deal_repository, reports, repository, segments
from beacon.activation.deals import (
    DealDefinition,
    DealIssueFailed,
    DealProvider,
    DealSegment,
    provider_for,
)
from beacon.activation.models import Activation, Segment, SegmentReport
from beacon.core.config import Settings
from beacon.core.db import rowcount
from beacon.core.jobs import COMPLETE, PENDING, JobFailed, JobKind, RowHandler, single_transaction
from beacon.core.retry import RetryStrategy
from beacon.core.timefmt import utcnow

MINT_TRIES = 5


class Released(JobFailed):
    """The handler gave its job back to the queue. With its lease gone, the job system leaves
    the row as the handler set it (a lost lease is never overwritten)."""


def build_segment(
    session: Session, segment: Segment, *, wait_seconds: float, recheck_seconds: float
) -> None:
    """Job handler: build one segment once its inventory is classified (or waited enough)."""
    if segments.awaits_classification(session=session, segment=segment, wait_seconds=wait_seconds):
        _release(session, segment, after_seconds=recheck_seconds)
    segments.build_segment(session=session, segment=segment)


def _release(session: Session, segment: Segment, *, after_seconds: float) -> NoReturn:
    # Committed on a side connection before the job's own transaction writes anything, so
    # SQLite's single writer is free; the job's transaction then rolls back with nothing in it.
    with Session(session.get_bind()) as side, side.begin():
        side.execute(
            update(Segment)
            .where(Segment.id == segment.id, Segment.lease_owner == segment.lease_owner)
            .values(
                status=PENDING,
                attempts=0,
                lease_owner=None,
                lease_expires_at=None,
                run_after=utcnow() + timedelta(seconds=after_seconds),
                error=None,
            ),
        )
    raise Released(f"segment {segment.id} waits for its inventory's classification")


def run_report(session: Session, report: SegmentReport) -> None:
    """Job handler: compute one segment report."""
    reports.run_report(session=session, report=report)


def issue_activation(
    session: Session, activation: Activation, *, provider: DealProvider, ttl_hours: int
) -> None:
    """Job handler: give the activation a deal id, push the deal, then it completes."""
    segment_ids: list[int] = orjson.loads(activation.segment_ids)
    found = repository.segments_by_id(
        session, account_id=activation.account_id, segment_ids=segment_ids
    )
    for segment_id in segment_ids:
        segment = found.get(segment_id)
        if segment is None:
            raise JobFailed(f"segment {segment_id} no longer exists")
        if segment.status != COMPLETE:
            raise JobFailed(f"segment {segment_id} is not complete (status: {segment.status})")
    deal_id = activation.deal_id or _persist_new_deal_id(session, activation, provider)
    definition = _definition(
        session, activation, deal_id, [found[s] for s in segment_ids], ttl_hours
    )
    try:
        provider.push(definition)
    except DealIssueFailed as exc:
        raise JobFailed(str(exc)) from exc
    activation.ttl_hours = ttl_hours


def _persist_new_deal_id(session: Session, activation: Activation, provider: DealProvider) -> str:
    segment_ids: list[int] = orjson.loads(activation.segment_ids)
    for _ in range(MINT_TRIES):
        candidate = provider.new_deal_id(dsp=activation.dsp, segment_ids=segment_ids)
        try:
            with Session(session.get_bind()) as side, side.begin():
                if deal_repository.deal_id_taken(side, candidate):
                    continue
                stored = rowcount(
                    side,
                    update(Activation)
                    .where(
                        Activation.id == activation.id,
                        Activation.lease_owner == activation.lease_owner,
                        Activation.deal_id.is_(None),
                    )
                    .values(deal_id=candidate),
                )
        except IntegrityError:
            continue
        if not stored:
            raise RuntimeError(f"activation {activation.id} lost its lease while minting")
        set_committed_value(activation, "deal_id", candidate)
        return candidate
    raise JobFailed(f"could not mint a unique deal id in {MINT_TRIES} tries")


def _definition(
    session: Session,
    activation: Activation,
    deal_id: str,
    members: list[Segment],
    ttl_hours: int,
) -> DealDefinition:
    deal_segments = []
    for segment in members:
        urls, _ = repository.member_urls(session, segment_id=segment.id, limit=None, offset=0)
        domains, _ = repository.member_domains(session, segment_id=segment.id, limit=None)
        deal_segments.append(
            DealSegment(
                id=segment.id,
                name=segment.name,
                domains=[d for d, _ in domains],
                urls=[u for u, _ in urls],
            )
        )
    load = lambda value: None if value is None else orjson.loads(value)  # noqa: E731
    return DealDefinition(
        deal_id=deal_id,
        activation_id=activation.id,
        dsp=activation.dsp,
        buyer_seat=activation.buyer_seat,
        start_date=activation.start_date,
        end_date=activation.end_date,
        ttl_hours=ttl_hours,
        geo=load(activation.geo),
        formats=load(activation.formats),
        devices=load(activation.devices),
        kpis=load(activation.kpis),
        budget=load(activation.budget),
        segments=deal_segments,
    )


def job_kinds(settings: Settings, *, provider: DealProvider | None = None) -> list[JobKind]:
    """The activation domain's job kinds (segment builds first: activations depend on them)."""
    issue = partial(
        issue_activation,
        provider=provider or provider_for(settings),
        ttl_hours=settings.deal_ttl_hours,
    )
    build = partial(
        build_segment,
        wait_seconds=settings.segment_build_wait_seconds,
        recheck_seconds=settings.classification_interval_seconds,
    )
    handlers: list[tuple[str, type[Any], RowHandler]] = [
        ("activation-segment-build", Segment, build),
        ("activation-deal", Activation, issue),
        ("activation-report", SegmentReport, run_report),
    ]
    return [
        JobKind(
            name=name,
            model=model,
            handler=single_transaction(handler),
            lease_seconds=settings.job_lease_seconds,
            retry=RetryStrategy(max_attempts=settings.job_max_attempts),
        )
        for name, model, handler in handlers
    ]
