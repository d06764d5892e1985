"""Queries of viewability: the per-impression join state and the measured counters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    RowMapping,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from beacon.core.db import UTCDateTime, is_postgres, rowcount, upsert_insert
from beacon.core.timefmt import utcnow
from beacon.pixel.rollups import coarse_hash
from beacon.pixel.viewability_models import PixelImpressionView as V
from beacon.pixel.viewability_models import PixelViewability

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
    """What one spool segment knows of an impression id: its impression, its events."""

    campaign_id: int
    impression_id: str
    has_impression: bool
    human: bool
    dimensions: Dimensions | None
    measurable: bool
    viewable: bool


@dataclass(frozen=True, slots=True)
class Added:
    """What a merge added to the counters for one impression (its impression is known)."""

    campaign_id: int
    human: bool
    dimensions: Dimensions
    measurable: bool
    viewable: bool


_COLUMNS = (
    "campaign_id", "impression_id", "has_impression", "human", *_DIMENSIONS,
    "measurable", "viewable", "counted_measurable", "counted_viewable",
    "added_measurable", "added_viewable",
)  # fmt: skip


def merge_states(session: Session, states: Iterable[ViewState]) -> list[Added]:
    """Upsert ``states`` into the join state; what each upsert added to the counters.

    One statement merges every row and decides, from the merged row and what was counted
    before (the ``SET`` expressions read the old row), whether its `measurable` / `viewable`
    is counted now (``added_*``). The upsert locks each row until the transaction ends, so
    two flushers holding the two halves of a pair serialize on it and the second one sees
    both halves: a pair is counted once, by whichever completes it.
    """
    rows = sorted(  # one lock order for every flusher
        (_state_row(state) for state in states),
        key=lambda row: (row["campaign_id"], row["impression_id"]),
    )
    if not rows:
        return []
    table: Table = V.__table__  # type: ignore[assignment]
    now = utcnow()
    if is_postgres(session):
        # Arrays, one per column: one short statement whatever the row count (a multi-row
        # VALUES of thousands of parameters costs more to build and parse than to run).
        arrays = {name: [row[name] for row in rows] for name in _COLUMNS}
        unnested = [
            func.unnest(bindparam(f"a_{name}", type_=ARRAY(table.c[name].type))).label(name)
            for name in _COLUMNS
        ]
        source = select(*unnested, literal(now, UTCDateTime()).label("seen_at"))
        statement = upsert_insert(session, table).from_select([*_COLUMNS, "seen_at"], source)
        upsert: Any = _on_conflict(statement, table)
        params: Any = {f"a_{name}": values for name, values in arrays.items()}
    else:
        upsert = _on_conflict(upsert_insert(session, table), table)
        params = [{**row, "seen_at": now} for row in rows]  # executemany, compiled once
    returned = session.execute(upsert, params).mappings()
    return [_added(row) for row in returned if row["added_measurable"] or row["added_viewable"]]


def _on_conflict(statement: Any, table: Table) -> Any:
    old, new = table.c, statement.excluded
    has_impression = or_(old.has_impression, new.has_impression)
    counted_measurable = and_(has_impression, or_(old.measurable, new.measurable))
    counted_viewable = and_(has_impression, or_(old.viewable, new.viewable))
    return statement.on_conflict_do_update(
        index_elements=["campaign_id", "impression_id"],
        set_={
            **{  # the first impression's dimensions win
                name: case((old.has_impression, old[name]), else_=new[name])
                for name in ("human", *_DIMENSIONS)
            },
            "has_impression": has_impression,
            "measurable": or_(old.measurable, new.measurable),
            "viewable": or_(old.viewable, new.viewable),
            "counted_measurable": counted_measurable,
            "counted_viewable": counted_viewable,
            "added_measurable": and_(counted_measurable, not_(old.counted_measurable)),
            "added_viewable": and_(counted_viewable, not_(old.counted_viewable)),
        },
    ).returning(
        old.campaign_id, old.human, *(old[name] for name in _DIMENSIONS),
        old.added_measurable, old.added_viewable,
    )  # fmt: skip


def _state_row(state: ViewState) -> dict[str, Any]:
    dims = state.dimensions
    # A new row counts at once what it already has both halves of.
    measurable = state.has_impression and state.measurable
    viewable = state.has_impression and state.viewable
    return {
        "campaign_id": state.campaign_id,
        "impression_id": state.impression_id,
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
        "counted_measurable": measurable,
        "counted_viewable": viewable,
        "added_measurable": measurable,
        "added_viewable": viewable,
    }


def _added(row: RowMapping) -> Added:
    return Added(
        campaign_id=int(row["campaign_id"]),
        human=bool(row["human"]),
        dimensions=Dimensions(row["date"], *(str(row[name]) for name in _DIMENSIONS[1:])),
        measurable=bool(row["added_measurable"]),
        viewable=bool(row["added_viewable"]),
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
    statement = upsert_insert(session, table)
    statement = statement.on_conflict_do_update(
        index_elements=["campaign_id", "dims_hash"],
        set_={m: table.c[m] + statement.excluded[m] for m in ("measurable", "viewable")},
    )
    session.execute(statement, rows)  # executemany: compiled once, whatever the row count


def prune_states(session: Session, *, before: dt.datetime) -> int:
    """Delete join state first seen before ``before``."""
    return rowcount(session, delete(V).where(V.seen_at < before))
