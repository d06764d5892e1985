"""Queries of campaign stats over the rollups, and the stats cache's reads and writes.

Each breakdown reads the smallest table that answers it exactly (`service` decides):
site-days (day, domain, macro set; human / bot / AI-agent loads), the URL periods of the
report planner (human loads per URL), the stats cache (day, device, country, traffic type,
agent) or, when the filters need dimensions none of those keep, the full grain.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, case, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from beacon.core.db import is_postgres
from beacon.pixel.models import PixelRollup as R
from beacon.pixel.models import PixelSiteDay as S
from beacon.pixel.reports import aggregation_repository, planner
from beacon.pixel.stats.models import PixelStatsDay as D
from beacon.pixel.stats.models import PixelStatsTraffic as T
from beacon.pixel.viewability_models import PixelViewability as PV

TRAFFIC_TYPES = ("human", "bot", "ai_agent")
_CHUNK = 500


class Table(StrEnum):
    """Where a part of the stats is read from."""

    SITE_DAYS = "site_days"
    CACHE = "cache"
    FULL = "full"


# The dimensions each table keeps (``geo`` is the wire's ``country``).
_COLUMNS: dict[Table, Any] = {Table.SITE_DAYS: S, Table.CACHE: T, Table.FULL: R}
_KEEPS: dict[Table, frozenset[str]] = {
    Table.SITE_DAYS: frozenset({"date", "domain"}),
    Table.CACHE: frozenset({"date", "device", "geo", "traffic_type", "agent"}),
    Table.FULL: frozenset({"date", "domain", "device", "geo", "traffic_type", "agent"}),
}


@dataclass(frozen=True)
class Scope:
    """One campaign, a day range and the filters (empty tuples filter nothing)."""

    campaign_id: int
    start: dt.date
    end: dt.date
    domains: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()

    def filtered(self) -> set[str]:
        """The dimensions the filters restrict."""
        pairs = (("domain", self.domains), ("device", self.devices), ("geo", self.countries))
        return {name for name, values in pairs if values}


def table_for(scope: Scope, dimensions: Iterable[str]) -> Table:
    """The smallest table keeping ``dimensions`` and every filtered dimension."""
    needed = set(dimensions) | scope.filtered()
    for table in (Table.SITE_DAYS, Table.CACHE):
        if needed <= _KEEPS[table]:
            return table
    return Table.FULL


def _where(table: Table, scope: Scope) -> list[ColumnElement[bool]]:
    model = _COLUMNS[table]
    conditions = [
        model.campaign_id == scope.campaign_id,
        model.date >= scope.start,
        model.date <= scope.end,
    ]
    for name, values in (("domain", scope.domains), ("device", scope.devices)):
        if values:
            conditions.append(getattr(model, name).in_(values))
    if scope.countries:
        conditions.append(model.geo.in_(scope.countries))
    if table is Table.FULL:
        conditions.append(R.traffic_type.in_(TRAFFIC_TYPES))
    return conditions


def _measures(table: Table) -> list[Any]:
    if table is Table.SITE_DAYS:
        sums = [func.sum(S.human), func.sum(S.bot), func.sum(S.ai_agent)]
    else:
        model = _COLUMNS[table]
        sums = [
            func.sum(case((model.traffic_type == kind, model.hits), else_=0))
            for kind in TRAFFIC_TYPES
        ]
    return [
        func.coalesce(total, 0).label(kind) for total, kind in zip(sums, TRAFFIC_TYPES, strict=True)
    ]


def viewability(session: Session, *, scope: Scope) -> tuple[int, int]:
    """(measurable, viewable) human impressions the script tag measured in the scope."""
    conditions = [PV.campaign_id == scope.campaign_id, PV.date >= scope.start, PV.date <= scope.end]
    for column, values in ((PV.domain, scope.domains), (PV.device, scope.devices)):
        if values:
            conditions.append(column.in_(values))
    if scope.countries:
        conditions.append(PV.geo.in_(scope.countries))
    statement = select(
        func.coalesce(func.sum(PV.measurable), 0), func.coalesce(func.sum(PV.viewable), 0)
    ).where(*conditions)
    measurable, viewable = session.execute(statement).one()
    return int(measurable), int(viewable)


def traffic(
    session: Session,
    *,
    table: Table,
    scope: Scope,
    by: Sequence[str] = (),
    top: int | None = None,
) -> list[RowMapping]:
    """Human / bot / AI-agent loads (and their sum, ``loads``) grouped ``by`` dimensions.

    With ``top``, the ``top`` groups with the most loads, largest first.
    """
    model = _COLUMNS[table]
    groups = [getattr(model, name).label(name) for name in by]
    measures = _measures(table)
    loads = (measures[0] + measures[1] + measures[2]).label("loads")
    statement = select(*groups, *measures, loads).where(*_where(table, scope))
    if groups:
        statement = statement.group_by(*groups)
    if top is not None:
        statement = statement.order_by(loads.desc(), *groups).limit(top)
    elif groups:
        statement = statement.order_by(*groups)
    return list(session.execute(statement).mappings())


def misrepresented(session: Session, *, table: Table, scope: Scope) -> list[RowMapping]:
    """Human loads of misrepresented inventory per observed domain and macro set."""
    model = _COLUMNS[table]
    hits = S.human if table is Table.SITE_DAYS else R.hits
    conditions = _where(table, scope)
    if table is Table.FULL:
        conditions.append(R.traffic_type == "human")
    impressions = func.sum(hits).label("impressions")
    statement = (
        select(model.domain.label("domain"), model.macros.label("macros"), impressions)
        .where(*conditions, model.misrepresented.is_(True))
        .group_by(model.domain, model.macros)
        .having(impressions > 0)
    )
    return list(session.execute(statement).mappings())


def top_urls(session: Session, *, scope: Scope, top: int) -> list[RowMapping]:
    """The URLs with the most human loads: URL periods when the filters allow, else full grain."""
    filters = {
        key: list(values)
        for key, values in (
            ("domains", scope.domains),
            ("devices", scope.devices),
            ("geo", scope.countries),
        )
        if values
    }
    report_scope = aggregation_repository.Scope(scope.campaign_id, scope.start, scope.end, filters)
    grain = planner.plan_campaign(["url"], filters).rows
    source = aggregation_repository.campaign_source(report_scope, grain)
    url, domain = source.columns["url"], source.columns["domain"]
    impressions = func.sum(source.hits).label("impressions")
    statement = (
        select(url.label("url"), func.max(domain).label("domain"), impressions)
        .select_from(source.from_)
        .where(*source.where)
        .group_by(url)
        .having(impressions > 0)
        .order_by(impressions.desc(), url)
        .limit(top)
    )
    return list(session.execute(statement).mappings())


# --- The stats cache ---------------------------------------------------------------------------


def site_day_loads(
    session: Session, *, campaign_id: int, start: dt.date, end: dt.date
) -> dict[dt.date, int]:
    """Loads per day of the whole campaign (no filters), from site-days."""
    loads = func.sum(S.human + S.bot + S.ai_agent)
    statement = (
        select(S.date, loads)
        .where(S.campaign_id == campaign_id, S.date >= start, S.date <= end)
        .group_by(S.date)
    )
    return {day: int(total or 0) for day, total in session.execute(statement)}


def cached_days(
    session: Session, *, campaign_id: int, start: dt.date, end: dt.date
) -> dict[dt.date, int]:
    """The cached days of the range and the loads each held when cached."""
    statement = select(D.date, D.loads).where(
        D.campaign_id == campaign_id, D.date >= start, D.date <= end
    )
    return {day: int(loads) for day, loads in session.execute(statement)}


def full_grain_days(
    session: Session, *, campaign_id: int, days: Sequence[dt.date]
) -> list[RowMapping]:
    """Loads of ``days`` by date, device, country, traffic type and agent, from the full grain."""
    hits = func.sum(R.hits).label("hits")
    keys = (R.date, R.device, R.geo, R.traffic_type, R.agent)
    statement = (
        select(*keys, hits)
        .where(R.campaign_id == campaign_id, R.date.in_(days), R.traffic_type.in_(TRAFFIC_TYPES))
        .group_by(*keys)
    )
    return list(session.execute(statement).mappings())


def store_days(
    session: Session,
    *,
    campaign_id: int,
    rows: Sequence[RowMapping],
    loads: Mapping[dt.date, int],
    replace: Iterable[dt.date] = (),
) -> None:
    """Cache ``rows`` (whole days) and mark their days with ``loads``.

    Rollups only grow, so a recomputed day has every key it had before: an upsert replaces
    it. Days in ``replace`` (whose loads went down: rollups were purged) are emptied first.
    """
    gone = sorted(replace)
    if gone:
        session.execute(delete(T).where(T.campaign_id == campaign_id, T.date.in_(gone)))
    cache = [
        {
            "campaign_id": campaign_id,
            **{k: row[k] for k in ("date", "device", "geo", "traffic_type", "agent")},
            "hits": int(row["hits"]),
        }
        for row in rows
    ]
    # Same key order in every writer, so concurrent refreshes of one day wait, not deadlock.
    cache.sort(key=lambda r: (r["date"], r["device"], r["geo"], r["traffic_type"], r["agent"]))
    marks = [
        {"campaign_id": campaign_id, "date": day, "loads": n} for day, n in sorted(loads.items())
    ]
    _upsert(
        session, T, cache, ["campaign_id", "date", "device", "geo", "traffic_type", "agent"], "hits"
    )
    _upsert(session, D, marks, ["campaign_id", "date"], "loads")


def _upsert(
    session: Session, model: Any, rows: list[dict[str, Any]], keys: list[str], measure: str
) -> None:
    insert = pg_insert if is_postgres(session) else sqlite_insert
    for start in range(0, len(rows), _CHUNK):
        statement = insert(model.__table__).values(rows[start : start + _CHUNK])
        statement = statement.on_conflict_do_update(
            index_elements=keys, set_={measure: statement.excluded[measure]}
        )
        session.execute(statement)
