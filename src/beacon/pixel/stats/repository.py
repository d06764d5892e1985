"""Queries of campaign stats outside the folded summaries (`summary_repository`): the scope
of a request, its viewability, top URLs under filters the URL summaries do not keep (through
the report planner's URL periods or the full grain), and the stats cache's reads and writes
(agents of the days not folded yet).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import RowMapping, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from beacon.core.db import is_postgres, slices
from beacon.pixel.models import PixelRollup as R
from beacon.pixel.models import PixelSiteDay as S
from beacon.pixel.reports import aggregation_repository, planner
from beacon.pixel.stats.models import PixelStatsDay as D
from beacon.pixel.stats.models import PixelStatsTraffic as T
from beacon.pixel.viewability_models import PixelViewability as PV

TRAFFIC_TYPES = ("human", "bot", "ai_agent")
_CHUNK = 500


@dataclass(frozen=True)
class Scope:
    """One campaign, a day range and the filters (empty tuples filter nothing)."""

    campaign_id: int
    start: dt.date
    end: dt.date
    domains: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()


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
    for part in slices(rows, _CHUNK):
        statement = insert(model.__table__).values(part)
        statement = statement.on_conflict_do_update(
            index_elements=keys, set_={measure: statement.excluded[measure]}
        )
        session.execute(statement)
