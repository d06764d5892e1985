"""Queries of viewability: the per-impression join state and the measured counters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import groupby

from sqlalchemy import RowMapping, Table, case, delete, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from beacon.core.db import is_postgres, rowcount
from beacon.core.timefmt import utcnow
from beacon.pixel.rollups import coarse_hash
from beacon.pixel.viewability_models import PixelImpressionView as V
from beacon.pixel.viewability_models import PixelViewability

_CHUNK = 500
_DIMENSIONS = ("date", "domain", "url", "device", "geo", "macros")


@dataclass(frozen=True, slots=True)
class Dimensions:
    """The campaign-report dimensions of an impression, as its rollup key holds them."""

    date: dt.date
    domain: str
    url: str
    device: str
    geo: str
    macros: str

    @property
    def dims_hash(self) -> str:
        """Identity of a `PixelViewability` row within its campaign."""
        return coarse_hash(
            self.date.isoformat(), self.domain, self.url, self.device, self.geo, self.macros
        )


@dataclass(frozen=True, slots=True)
class ViewState:
    """What is known of one impression id: its impression, its events, what was counted."""

    campaign_id: int
    impression_id: str
    has_impression: bool
    human: bool
    dimensions: Dimensions | None
    measurable: bool
    viewable: bool
    counted_measurable: bool = False
    counted_viewable: bool = False


def merge_states(session: Session, states: Iterable[ViewState]) -> list[ViewState]:
    """Upsert ``states`` into the join state and return each merged row.

    The upsert locks each row until the transaction ends, so two flushers holding the two
    halves of a pair serialize on it and the second one sees both halves.
    """
    insert = pg_insert if is_postgres(session) else sqlite_insert
    table: Table = V.__table__  # type: ignore[assignment]
    now = utcnow()
    rows = [_state_row(state, now) for state in states]
    rows.sort(key=lambda row: (row["campaign_id"], row["impression_id"]))  # one lock order
    if not rows:
        return []
    statement = insert(table)
    new = statement.excluded
    old_first = {  # the first impression's dimensions win
        name: case((table.c.has_impression, table.c[name]), else_=new[name])
        for name in ("human", *_DIMENSIONS)
    }
    upsert = statement.on_conflict_do_update(
        index_elements=["campaign_id", "impression_id"],
        set_={
            **old_first,
            "has_impression": or_(table.c.has_impression, new.has_impression),
            "measurable": or_(table.c.measurable, new.measurable),
            "viewable": or_(table.c.viewable, new.viewable),
        },
    ).returning(*table.c)
    # One statement compiled once and sent as batches of many rows ("insertmanyvalues"):
    # a literal multi-row VALUES would be compiled anew for every chunk.
    return [_state(row) for row in session.execute(upsert, rows).mappings()]


def _state_row(state: ViewState, now: dt.datetime) -> dict[str, object]:
    dims = state.dimensions
    return {
        "campaign_id": state.campaign_id,
        "impression_id": state.impression_id,
        "seen_at": now,
        "has_impression": state.has_impression,
        "human": state.human,
        "date": dims.date if dims else None,
        "domain": dims.domain if dims else "",
        "url": dims.url if dims else "",
        "device": dims.device if dims else "",
        "geo": dims.geo if dims else "",
        "macros": dims.macros if dims else "",
        "measurable": state.measurable,
        "viewable": state.viewable,
        "counted_measurable": False,
        "counted_viewable": False,
    }


def _state(row: RowMapping) -> ViewState:
    day = row["date"]
    dims = (
        Dimensions(day, *(str(row[name]) for name in _DIMENSIONS[1:]))
        if isinstance(day, dt.date)
        else None
    )
    return ViewState(
        campaign_id=int(row["campaign_id"]),
        impression_id=str(row["impression_id"]),
        has_impression=bool(row["has_impression"]),
        human=bool(row["human"]),
        dimensions=dims,
        measurable=bool(row["measurable"]),
        viewable=bool(row["viewable"]),
        counted_measurable=bool(row["counted_measurable"]),
        counted_viewable=bool(row["counted_viewable"]),
    )


def mark_counted(session: Session, idents: Iterable[tuple[int, str]]) -> None:
    """Record that these impressions' events are in the counters (as far as they arrived)."""
    for campaign_id, group in groupby(sorted(idents), key=lambda ident: ident[0]):
        ids = [impression_id for _, impression_id in group]
        for start in range(0, len(ids), _CHUNK):
            session.execute(
                update(V)
                .where(
                    V.campaign_id == campaign_id, V.impression_id.in_(ids[start : start + _CHUNK])
                )
                .values(counted_measurable=V.measurable, counted_viewable=V.viewable)
            )


def increment(
    session: Session,
    *,
    measurable: Mapping[tuple[int, Dimensions], int],
    viewable: Mapping[tuple[int, Dimensions], int],
) -> None:
    """Add measurable and viewable impressions to the counters (``+ n`` upserts)."""
    grains = sorted(
        {g for g, n in measurable.items() if n} | {g for g, n in viewable.items() if n},
        key=lambda grain: (grain[0], grain[1].dims_hash),
    )
    if not grains:
        return
    insert = pg_insert if is_postgres(session) else sqlite_insert
    table: Table = PixelViewability.__table__  # type: ignore[assignment]
    rows = [
        {
            "campaign_id": campaign_id,
            "dims_hash": dims.dims_hash,
            **{name: getattr(dims, name) for name in _DIMENSIONS},
            "measurable": measurable.get((campaign_id, dims), 0),
            "viewable": viewable.get((campaign_id, dims), 0),
        }
        for campaign_id, dims in grains
    ]
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=["campaign_id", "dims_hash"],
        set_={m: table.c[m] + statement.excluded[m] for m in ("measurable", "viewable")},
    )
    session.execute(statement, rows)  # executemany: compiled once, whatever the row count


def prune_states(session: Session, *, before: dt.datetime) -> int:
    """Delete join state first seen before ``before``."""
    return rowcount(session, delete(V).where(V.seen_at < before))
