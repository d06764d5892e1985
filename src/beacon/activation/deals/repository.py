"""Queries over activations (deals) and the deal ids they were issued."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import orjson
from sqlalchemy import Select, insert, select
from sqlalchemy.orm import Session

from beacon.activation.models import Activation, ActivationSegment, Segment
from beacon.core.db import hold_rows, slices
from beacon.core.jobs import COMPLETE, PENDING

CHUNK = 1000

# --- Activations ---------------------------------------------------------------------------


def get_activation(session: Session, *, account_id: int, activation_id: int) -> Activation | None:
    """The account's activation with this id, or None."""
    return session.scalar(
        select(Activation).where(
            Activation.id == activation_id, Activation.account_id == account_id
        )
    )


def list_activations(session: Session, *, account_id: int) -> Sequence[Activation]:
    """The account's activations, oldest first."""
    return session.scalars(
        select(Activation).where(Activation.account_id == account_id).order_by(Activation.id)
    ).all()


def lock_segments(session: Session, *, account_id: int, segment_ids: Collection[int]) -> None:
    """Hold the account's ``segment_ids`` until the transaction ends, so that two activation
    requests over the same segments check for a pending twin one after the other (each sees
    what the other stored; ``core.db.hold_rows``)."""
    hold_rows(session, Segment, Segment.account_id == account_id, Segment.id.in_(segment_ids))


def pending_like(session: Session, activation: Activation) -> Activation | None:
    """The account's oldest activation still ``pending`` whose request is ``activation``'s own
    (same segments, DSP, seat, dates and targeting; lists in any order), or None."""
    candidates = session.scalars(
        select(Activation)
        .where(
            Activation.account_id == activation.account_id,
            Activation.status == PENDING,
            Activation.dsp == activation.dsp,
            Activation.buyer_seat == activation.buyer_seat,
        )
        .order_by(Activation.id)
    )
    request = _request(activation)
    return next((found for found in candidates if _request(found) == request), None)


# What an activation asks for: its segments, dates and targeting. A list's order says nothing
# (geo ["US", "CA"] is ["CA", "US"]), so lists compare sorted.
_REQUEST_FIELDS = (
    "segment_ids", "start_date", "end_date", "geo", "formats", "devices", "kpis", "budget",
)  # fmt: skip
_JSON_FIELDS = frozenset({"segment_ids", "geo", "formats", "devices", "kpis", "budget"})


def _request(activation: Activation) -> tuple[Any, ...]:
    return tuple(
        _unordered(orjson.loads(value)) if name in _JSON_FIELDS and value is not None else value
        for name in _REQUEST_FIELDS
        for value in (getattr(activation, name),)
    )


def _unordered(value: Any) -> Any:
    # JSON with every list sorted (by each item's canonical text), comparable with ==.
    if isinstance(value, list):
        return sorted((_unordered(item) for item in value), key=lambda item: orjson.dumps(item))
    if isinstance(value, dict):
        return {key: _unordered(item) for key, item in value.items()}
    return value


def link_segments(session: Session, *, activation_id: int, segment_ids: Sequence[int]) -> None:
    """Record which segments an activation includes."""
    session.execute(
        insert(ActivationSegment),
        [{"activation_id": activation_id, "segment_id": s} for s in segment_ids],
    )


def deal_id_taken(session: Session, deal_id: str) -> bool:
    """Whether any activation already carries ``deal_id``."""
    return session.scalar(select(Activation.id).where(Activation.deal_id == deal_id)) is not None


def _issued(account_id: int) -> Select[Any]:
    # A deal exists once its activation completed; expiry does not erase its history.
    return select(Activation.deal_id).where(
        Activation.account_id == account_id,
        Activation.status == COMPLETE,
        Activation.deal_id.is_not(None),
    )


def issued_deal_ids(
    session: Session, *, account_id: int, among: Collection[str] | None = None
) -> set[str]:
    """The account's issued deal ids (only those in ``among`` when given)."""
    query = _issued(account_id)
    if among is None:
        return {d for d in session.scalars(query) if d}
    found: set[str] = set()
    wanted = list(among)
    for part in slices(wanted, CHUNK):
        found.update(d for d in session.scalars(query.where(Activation.deal_id.in_(part))) if d)
    return found


def deal_ids_for_segments(
    session: Session, *, account_id: int, segment_ids: Collection[int]
) -> set[str]:
    """Issued deal ids of the account whose activation includes any of ``segment_ids``."""
    query = (
        _issued(account_id)
        .join(ActivationSegment, ActivationSegment.activation_id == Activation.id)
        .where(ActivationSegment.segment_id.in_(list(segment_ids)))
    )
    return {d for d in session.scalars(query) if d}
