"""Activations (seed 003): validate a request, queue it, and show it with its deal id.

Activations stay in the seed's four states (``pending → processing → complete | failed``); a
complete deal past ``processed_date + ttl_hours`` keeps ``status: "complete"`` and reads
``expired: true`` (computed on read, next to ``expires_date``), so the seed's
``wait_for_deal_id`` still returns it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.orm import Session

from beacon.activation.deals import repository as deal_repository
from beacon.activation.models import Activation
from beacon.activation.schemas import RATE_METRICS, ActivationCreate, ActivationOut, Kpi
from beacon.activation.segments import repository
from beacon.core.errors import InvalidValue, not_found
from beacon.core.jobs import COMPLETE, FAILED, PENDING
from beacon.core.permissions import CREDENTIAL_ROLE, Action, Role, require
from beacon.core.timefmt import date_range_problem, utcnow


def expires_date(activation: Activation) -> datetime | None:
    """When an issued deal stops being active: ``processed_date + ttl_hours``."""
    if (
        activation.status != COMPLETE
        or activation.processed_date is None
        or activation.ttl_hours is None
    ):
        return None
    return activation.processed_date + timedelta(hours=activation.ttl_hours)


def is_expired(activation: Activation, *, now: datetime) -> bool:
    """Whether a complete deal is past its TTL (its status stays ``complete``)."""
    expires = expires_date(activation)
    return expires is not None and now > expires


def _check_kpis(kpis: list[Kpi] | None) -> None:
    for index, kpi in enumerate(kpis or []):
        where = f"kpis[{index}].target"
        if kpi.metric in RATE_METRICS and not 0 < kpi.target <= 1:
            raise InvalidValue(
                where,
                f"{kpi.metric} is a rate and must be greater than 0 and at most 1 "
                f"(got {kpi.target:g})",
            )
        if kpi.metric not in RATE_METRICS and kpi.target <= 0:
            raise InvalidValue(where, f"{kpi.metric} must be greater than 0 (got {kpi.target:g})")


def _check_segments(session: Session, *, account_id: int, segment_ids: list[int]) -> None:
    found = repository.segments_by_id(session, account_id=account_id, segment_ids=segment_ids)
    for segment_id in segment_ids:
        segment = found.get(segment_id)
        if segment is None:
            raise InvalidValue("segment_ids", f"segment {segment_id} not found")
        if segment.status != COMPLETE:
            raise InvalidValue(
                "segment_ids", f"segment {segment_id} is not complete (status: {segment.status})"
            )
        if not segment.url_count:
            # A deal over no URLs would target nothing: refuse it instead of issuing it.
            raise InvalidValue(
                "segment_ids",
                f"segment {segment_id} matches 0 URLs, so a deal for it would reach nothing; "
                "add inventory or widen its rules, then activate it",
            )


def create_activation(
    *,
    session: Session,
    account_id: int,
    data: ActivationCreate,
    role: Role | str = CREDENTIAL_ROLE,
) -> tuple[Activation, bool]:
    """Validate and queue an activation (status ``pending``; its deal id is issued by a job),
    or return the identical request still pending (``created`` False): a client retrying a
    POST whose answer it did not get must not push a second deal to the DSP."""
    require(role, Action.manage_campaigns)
    # A flight is not a report: any length, but not backwards.
    if data.start_date and data.end_date:
        problem = date_range_problem(data.start_date, data.end_date)
        if problem:
            raise InvalidValue("end_date", problem)
    _check_kpis(data.kpis)
    # Before any read: a request racing an identical one must see the activation it stored.
    deal_repository.lock_segments(session, account_id=account_id, segment_ids=data.segment_ids)
    _check_segments(session, account_id=account_id, segment_ids=data.segment_ids)
    activation = Activation(
        account_id=account_id,
        segment_ids=_dump(data.segment_ids),
        dsp=data.dsp,
        buyer_seat=data.buyer_seat,
        start_date=data.start_date,
        end_date=data.end_date,
        geo=_dump(data.geo),
        formats=_dump(data.formats),
        devices=_dump(data.devices),
        kpis=_dump([k.model_dump(mode="json") for k in data.kpis] if data.kpis else None),
        budget=_dump(data.budget.model_dump(mode="json") if data.budget else None),
        status=PENDING,
        attempts=0,
        created_date=utcnow(),
    )
    pending = deal_repository.pending_like(session, activation)
    if pending is not None:
        return pending, False
    repository.add(session, activation)
    deal_repository.link_segments(
        session, activation_id=activation.id, segment_ids=data.segment_ids
    )
    return activation, True


def get_activation(*, session: Session, account_id: int, activation_id: int) -> Activation:
    """The account's activation, or ``Activation with ID 999 not found``."""
    activation = deal_repository.get_activation(
        session, account_id=account_id, activation_id=activation_id
    )
    if activation is None:
        raise not_found("Activation", activation_id)
    return activation


def list_activations(*, session: Session, account_id: int) -> Sequence[Activation]:
    """The account's activations, oldest first."""
    return deal_repository.list_activations(session, account_id=account_id)


def activation_out(activation: Activation, *, now: datetime | None = None) -> ActivationOut:
    """The wire form of an activation (seed 003); ``deal_id`` only once issued."""
    status = activation.status
    issued = status == COMPLETE
    return ActivationOut(
        id=activation.id,
        segment_ids=_load(activation.segment_ids),
        dsp=activation.dsp,
        buyer_seat=activation.buyer_seat,
        status=status,
        deal_id=activation.deal_id if issued else None,
        ttl_hours=activation.ttl_hours if issued else None,
        start_date=activation.start_date,
        end_date=activation.end_date,
        geo=_load(activation.geo),
        formats=_load(activation.formats),
        devices=_load(activation.devices),
        kpis=_load(activation.kpis),
        budget=_load(activation.budget),
        created_date=activation.created_date,
        processed_date=activation.processed_date if issued else None,
        expires_date=expires_date(activation),
        expired=is_expired(activation, now=now or utcnow()),
        error=activation.error if status == FAILED else None,
    )


def _dump(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _load(value: str | None) -> Any:
    return None if value is None else orjson.loads(value)
