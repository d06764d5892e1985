"""Background work: segment builds, deal issuing and segment reports, as job rows.

Issuing commits the deal id in its own transaction of the job *before* pushing the deal (and
pushes outside any transaction), so a worker that dies mid-push leaves the id behind and the
next one re-sends the same id.

A segment build waits while the account's inventory is still being classified: the handler
raises ``RetryLater`` (due again after a classifier tick), up to
``BEACON_SEGMENT_BUILD_WAIT_SECONDS``. The build and its completion commit together, fenced on
the lease: an edit that requeued the segment meanwhile cleared the lease, so the build is
discarded.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from beacon.activation.deals import repository as deal_repository
from beacon.activation.deals.providers import (
    DealDefinition,
    DealIssueFailed,
    DealProvider,
    DealSegment,
    provider_for,
)
from beacon.activation.models import Activation, Segment, SegmentReport
from beacon.activation.reports import service as reports
from beacon.activation.segments import repository
from beacon.activation.segments import service as segments
from beacon.core.config import Settings
from beacon.core.jobs import (
    COMPLETE,
    Handler,
    JobContext,
    JobFailed,
    JobKind,
    single_transaction,
)
from beacon.core.retry import RetryLater, RetryStrategy

MINT_TRIES = 5


def build_segment(context: JobContext, *, wait_seconds: float, recheck_seconds: float) -> None:
    """Job handler: build one segment once its inventory is classified (or waited enough)."""
    with context.transaction() as session:
        segment: Segment = context.load(session)
        if segments.awaits_classification(
            session=session, segment=segment, wait_seconds=wait_seconds
        ):
            raise RetryLater(
                f"segment {segment.id} waits for its inventory's classification",
                after=recheck_seconds,
            )
        segments.build_segment(session=session, segment=segment)
        context.complete(session)


def run_report(session: Session, report: SegmentReport, *, max_rows: int) -> None:
    """Job handler: compute one segment report."""
    reports.run_report(session=session, report=report, max_rows=max_rows)


def issue_activation(context: JobContext, *, provider: DealProvider, ttl_hours: int) -> None:
    """Job handler: give the activation a deal id (committed), push the deal with no
    transaction open, then complete it."""
    deal_id = _deal_id(context, provider)
    with context.transaction() as session:
        activation: Activation = context.load(session)
        members = _complete_segments(session, activation)
        definition = _definition(session, activation, deal_id, members, ttl_hours)
    try:
        provider.push(definition)
    except DealIssueFailed as exc:
        raise JobFailed(str(exc)) from exc
    with context.transaction() as session:
        context.load(session).ttl_hours = ttl_hours
        context.complete(session)


def _complete_segments(session: Session, activation: Activation) -> list[Segment]:
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
    return [found[s] for s in segment_ids]


def _deal_id(context: JobContext, provider: DealProvider) -> str:
    """The activation's deal id, minted and committed first when it has none yet."""
    with context.transaction() as session:
        activation: Activation = context.load(session)
        _complete_segments(session, activation)
        if activation.deal_id is not None:
            return activation.deal_id
        dsp, segment_ids = activation.dsp, orjson.loads(activation.segment_ids)
    for _ in range(MINT_TRIES):
        candidate = provider.new_deal_id(dsp=dsp, segment_ids=segment_ids)
        try:
            with context.transaction() as session:
                if deal_repository.deal_id_taken(session, candidate):
                    continue
                context.load(session).deal_id = candidate
        except IntegrityError:
            continue
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
    handlers: list[tuple[str, type[Any], Handler]] = [
        ("activation-segment-build", Segment, build),
        ("activation-deal", Activation, issue),
        (
            "activation-report",
            SegmentReport,
            single_transaction(partial(run_report, max_rows=settings.segment_report_max_rows)),
        ),
    ]
    return [
        JobKind(
            name=name,
            model=model,
            handler=handler,
            lease_seconds=settings.job_lease_seconds,
            retry=RetryStrategy(max_attempts=settings.job_max_attempts),
        )
        for name, model, handler in handlers
    ]
