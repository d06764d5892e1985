"""Queries of campaign stats: the month summaries, and the daily rollups for partial months.

A range is read as its whole calendar months (month rows of `stats.models`, at the device /
country level its filters ask for) plus the days of its partial months: the agent summary's
day rows; for sites and URLs, the daily rollups (site-days, the URL summary's day rows) or,
under a device / country filter, the full grain of those days. A ``domain`` filter together
with a device, country or agent breakdown needs a dimension no summary keeps (domain × agent):
that part reads the full grain (`pixel_rollups`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, Select, case, func, select, text, union_all
from sqlalchemy.orm import Session

from beacon.core.db import is_postgres
from beacon.pixel.models import PixelRollup as R
from beacon.pixel.models import PixelSiteDay as SD
from beacon.pixel.stats.models import ALL, DAY, MONTH
from beacon.pixel.stats.models import PixelStatsAgent as A
from beacon.pixel.stats.models import PixelStatsSite as S
from beacon.pixel.stats.models import PixelStatsUrl as U
from beacon.pixel.stats.summaries import TRAFFIC_TYPES
from beacon.pixel.viewability_models import PixelViewability as PV

# Top URLs: how many URLs each period is asked for at first (times the top asked), how far
# that may grow before the answer aggregates every URL of the scope instead, and the most
# periods worth one small query each.
_URL_DEPTH, _URL_MIN_DEPTH, _URL_MAX_DEPTH, _URL_MAX_CELLS = 4, 40, 640, 12


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


@dataclass(frozen=True)
class Segment:
    """Summary rows of one span whose periods run from ``first`` to ``last``."""

    span: str
    first: dt.date
    last: dt.date

    def periods(self) -> list[dt.date]:
        """Every period of the segment (days, or months' first days)."""
        found, period = [], self.first
        while period <= self.last:
            found.append(period)
            period = _next_month(period) if self.span == MONTH else period + dt.timedelta(days=1)
        return found


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def segments(start: dt.date, end: dt.date) -> list[Segment]:
    """``start``..``end`` as whole months (month rows) and the days left over (day rows)."""
    first_month = start if start.day == 1 else _next_month(start)
    after = end + dt.timedelta(days=1)
    last_month = after.replace(day=1)  # the first month NOT wholly in the range
    if first_month >= last_month:
        return [Segment(DAY, start, end)]
    found = []
    if start < first_month:
        found.append(Segment(DAY, start, first_month - dt.timedelta(days=1)))
    months_end = last_month - dt.timedelta(days=1)
    found.append(Segment(MONTH, first_month, months_end.replace(day=1)))
    if last_month <= end:
        found.append(Segment(DAY, last_month, end))
    return found


def _level(model: Any, scope: Scope, *, finest: bool) -> list[ColumnElement[bool]]:
    """The device / country rows of the scope: the filtered values, else every value summed
    (``'*'``), or every real value when ``finest`` (a breakdown by device or country)."""
    conditions = []
    for column, values in ((model.device, scope.devices), (model.geo, scope.countries)):
        if values:
            conditions.append(column.in_(values))
        else:
            conditions.append(column != ALL if finest else column == ALL)
    return conditions


def _in_segment(model: Any, scope: Scope, segment: Segment) -> list[ColumnElement[bool]]:
    conditions = [
        model.campaign_id == scope.campaign_id,
        model.span == segment.span,
        model.period >= segment.first,
        model.period <= segment.last,
    ]
    if scope.domains and hasattr(model, "domain"):
        conditions.append(model.domain.in_(scope.domains))
    return conditions


def _union(
    model: Any, scope: Scope, columns: Sequence[Any], *, finest: bool = False, by_day: bool = False
) -> Any:
    """``columns`` of the scope's summary rows: one SELECT per segment, UNION ALL'ed."""
    parts = [Segment(DAY, scope.start, scope.end)] if by_day else segments(scope.start, scope.end)
    level = _level(model, scope, finest=finest)
    selects = [select(*columns).where(*_in_segment(model, scope, s), *level) for s in parts]
    return (selects[0] if len(selects) == 1 else union_all(*selects)).subquery()


def _measures(source: Any, *, by_type: bool) -> list[Any]:
    if by_type:
        sums = [func.sum(source.c[kind]) for kind in TRAFFIC_TYPES]
    else:
        sums = [
            func.sum(case((source.c.traffic_type == kind, source.c.hits), else_=0))
            for kind in TRAFFIC_TYPES
        ]
    return [func.coalesce(s, 0).label(kind) for s, kind in zip(sums, TRAFFIC_TYPES, strict=True)]


def _grouped(source: Any, by: Sequence[str], measures: list[Any], top: int | None) -> Select[Any]:
    groups = [source.c[name].label(name) for name in by]
    loads = (measures[0] + measures[1] + measures[2]).label("loads")
    statement = select(*groups, *measures, loads)
    if groups:
        statement = statement.group_by(*groups)
    if top is not None:
        statement = statement.order_by(loads.desc(), *groups).limit(top)
    elif groups:
        statement = statement.order_by(*groups)
    return statement


def series(session: Session, *, scope: Scope) -> list[RowMapping]:
    """Human / bot / AI-agent loads (and ``loads``) per day (``date``) of the scope."""
    if scope.domains:  # site-days, or the full grain under a device / country filter too
        day = Segment(DAY, scope.start, scope.end)
        source = _site_days(scope, day, [SD.date.label("date")], [R.date.label("date")])
    else:
        columns = [A.period.label("date"), A.traffic_type, A.hits]
        source = _union(A, scope, columns, by_day=True)
    measures = _measures(source, by_type=bool(scope.domains))
    return list(session.execute(_grouped(source, ["date"], measures, None)).mappings())


def _device_or_geo(scope: Scope) -> bool:
    return bool(scope.devices or scope.countries)


def _full_grain(scope: Scope, segment: Segment) -> list[ColumnElement[bool]]:
    conditions = [
        R.campaign_id == scope.campaign_id,
        R.date >= segment.first,
        R.date <= segment.last,
    ]
    for column, values in ((R.domain, scope.domains), (R.device, scope.devices)):
        if values:
            conditions.append(column.in_(values))
    if scope.countries:
        conditions.append(R.geo.in_(scope.countries))
    return conditions


def _site_days(scope: Scope, segment: Segment, days: list[Any], grain: list[Any]) -> Any:
    """Site-grain rows of the days of ``segment``: site-days, or the full grain."""
    if not _device_or_geo(scope):
        conditions = [SD.campaign_id == scope.campaign_id, SD.date >= segment.first]
        conditions.append(SD.date <= segment.last)
        if scope.domains:
            conditions.append(SD.domain.in_(scope.domains))
        columns = [SD.domain, SD.macros, SD.misrepresented, SD.human, SD.bot, SD.ai_agent]
        return select(*days, *columns).where(*conditions).subquery()
    by_type = [
        func.sum(case((R.traffic_type == kind, R.hits), else_=0)).label(kind)
        for kind in TRAFFIC_TYPES
    ]
    keys = [*grain, R.domain, R.macros, R.misrepresented]
    return (
        select(*keys, *by_type)
        .where(*_full_grain(scope, segment), R.traffic_type.in_(TRAFFIC_TYPES))
        .group_by(*keys)
        .subquery()
    )


def _site_source(scope: Scope) -> Any:
    """Loads by domain and macro set in the scope: month summaries plus partial months' days."""
    names = ("domain", "macros", "misrepresented", "human", "bot", "ai_agent")
    columns = [getattr(S, name) for name in names]
    parts: list[Any] = []
    for segment in segments(scope.start, scope.end):
        if segment.span == MONTH:
            level = _level(S, scope, finest=False)
            parts.append(select(*columns).where(*_in_segment(S, scope, segment), *level))
        else:
            days = _site_days(scope, segment, [], [])
            parts.append(select(*(days.c[name] for name in names)))
    return _combined(parts)


def _combined(parts: list[Any]) -> Any:
    """The parts' rows as one subquery (UNION ALL of more than one)."""
    statement: Any = parts[0] if len(parts) == 1 else union_all(*parts)
    return statement.subquery()


def sites(session: Session, *, scope: Scope) -> list[RowMapping]:
    """Human / bot / AI-agent loads per domain, macro set and misrepresented flag: what top
    domains and misrepresented inventory are both summed from (one read of the sites)."""
    source = _site_source(scope)
    keys = [source.c.domain, source.c.macros, source.c.misrepresented]
    statement = select(*keys, *_measures(source, by_type=True)).group_by(*keys)
    return list(session.execute(statement).mappings())


def top_keys(session: Session, loads: Mapping[str, int], top: int) -> list[str]:
    """The ``top`` keys with the most loads (above 0), largest first, ties in the database's
    collation (what ``ORDER BY loads DESC, key LIMIT top`` answers)."""
    by_loads: defaultdict[int, list[str]] = defaultdict(list)
    for key, n in loads.items():
        if n > 0:
            by_loads[n].append(key)
    keys: list[str] = []
    for n in sorted(by_loads, reverse=True):
        if len(keys) >= top:
            break
        keys += _collated(session, by_loads[n])
    return keys[:top]


def traffic(session: Session, *, scope: Scope, by: Sequence[str]) -> list[RowMapping]:
    """Loads by traffic type grouped ``by`` device / geo / agent: the summaries, or the full
    grain under a domain filter (no summary keeps domain × agent)."""
    if scope.domains:
        conditions = [
            R.campaign_id == scope.campaign_id,
            R.date >= scope.start,
            R.date <= scope.end,
            R.domain.in_(scope.domains),
            R.traffic_type.in_(TRAFFIC_TYPES),
        ]
        if scope.devices:
            conditions.append(R.device.in_(scope.devices))
        if scope.countries:
            conditions.append(R.geo.in_(scope.countries))
        columns = [getattr(R, n) for n in by]
        source = select(*columns, R.traffic_type, R.hits).where(*conditions).subquery()
    else:
        columns = [getattr(A, n) for n in by]
        source = _union(A, scope, [*columns, A.traffic_type, A.hits], finest=True)
    measures = _measures(source, by_type=False)
    return list(session.execute(_grouped(source, by, measures, None)).mappings())


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


# --- Top URLs ----------------------------------------------------------------------------------


def top_urls(session: Session, *, scope: Scope, top: int) -> list[dict[str, Any]]:
    """The ``top`` URLs with the most human loads (largest first, then by URL), exactly.

    A threshold query over sorted URL lists: each period (a month, or a day of a partial month
    when no device / country filter applies) and filtered device / country value lists its
    ``depth`` largest URLs (an index range); a URL none lists has, in each, at most the last
    one listed there, so at most their sum (``bound``) in all. Under a device / country filter
    the partial months' days are summed per URL from the full grain, and their ``depth``
    largest join the candidates (the next bound term is their last). The candidates' exact
    loads are summed; once the ``top``-th is above ``bound`` no other URL can be in the
    answer. Otherwise the lists deepen, and past ``_URL_MAX_DEPTH`` (or with a domain filter,
    or too many periods) the answer sums every URL of the scope, as exactly.
    """
    cells = _url_cells(scope)
    if scope.domains or len(cells) > _URL_MAX_CELLS:
        return _ranked(session, _all_urls(session, scope=scope), top)
    edges = _edge_urls(session, scope=scope)
    by_edge = sorted(edges.items(), key=lambda item: -item[1][0])
    depth = max(_URL_DEPTH * top, _URL_MIN_DEPTH)
    while depth <= _URL_MAX_DEPTH:
        candidates: set[str] = set()
        bound = 0
        for cell in cells:
            listed = list(session.execute(_cell_top(scope, cell, depth)))
            candidates.update(url_hash for url_hash, _ in listed)
            if len(listed) == depth:
                bound += int(listed[-1][1])
        top_edges = by_edge[:depth]
        if len(by_edge) > depth:
            bound += top_edges[-1][1][0]
        totals = _urls_by_hash(session, scope=scope, hashes=sorted(candidates))
        for url, (_, domain) in top_edges:
            totals.setdefault(url, (0, domain))
        rows = _ranked(session, _with_edges(totals, edges), top)
        if bound == 0 or (len(rows) >= top and int(rows[top - 1]["impressions"]) > bound):
            return rows
        depth *= 4
    return _ranked(session, _all_urls(session, scope=scope), top)


UrlTotals = dict[str, tuple[int, str]]  # url -> (human loads, largest domain)


def _url_cells(scope: Scope) -> list[tuple[str, dt.date, str, str]]:
    devices = scope.devices or (ALL,)
    countries = scope.countries or (ALL,)
    cells = []
    for segment in segments(scope.start, scope.end):
        if segment.span == DAY and _device_or_geo(scope):
            continue  # from the full grain (`_edge_urls`)
        for period in segment.periods():
            cells += [(segment.span, period, d, g) for d in devices for g in countries]
    return cells


def _cell_top(scope: Scope, cell: tuple[str, dt.date, str, str], depth: int) -> Select[str, int]:
    span, period, device, geo = cell
    return (
        select(U.url_hash, U.human)
        .where(
            U.campaign_id == scope.campaign_id,
            U.span == span,
            U.device == device,
            U.geo == geo,
            U.period == period,
        )
        .order_by(U.human.desc())
        .limit(depth)
    )


def _summary_segments(scope: Scope) -> list[tuple[Segment, list[ColumnElement[bool]]]]:
    """The segments the URL summary answers, with its conditions (level included)."""
    found = []
    for segment in segments(scope.start, scope.end):
        if segment.span == DAY and _device_or_geo(scope):
            continue
        found.append((segment, [*_in_segment(U, scope, segment), *_level(U, scope, finest=False)]))
    return found


def _summed(session: Session, statements: list[Any]) -> UrlTotals:
    totals: UrlTotals = {}
    for statement in statements:
        for url, domain, human in session.execute(statement):
            loads, largest = totals.get(url, (0, domain))
            totals[url] = (loads + int(human), max(largest, domain))
    return totals


def _per_url(*columns: Any, conditions: list[ColumnElement[bool]]) -> Select[Any]:
    url, domain, human = columns
    return select(url, func.max(domain), func.sum(human)).where(*conditions).group_by(url)


def _urls_by_hash(session: Session, *, scope: Scope, hashes: list[str]) -> UrlTotals:
    """Human loads and domain of the hashed URLs in the summary's part of the scope."""
    if not hashes:
        return {}
    statements = [
        _per_url(U.url, U.domain, U.human, conditions=[*conditions, U.url_hash.in_(hashes)])
        for _, conditions in _summary_segments(scope)
    ]
    return _summed(session, statements)


def _edge_urls(session: Session, *, scope: Scope) -> UrlTotals:
    """Under a device / country filter: every URL of the partial months' days (full grain)."""
    if not _device_or_geo(scope):
        return {}
    statements = [
        _per_url(
            R.url,
            R.domain,
            R.hits,
            conditions=[*_full_grain(scope, segment), R.traffic_type == "human"],
        )
        for segment in segments(scope.start, scope.end)
        if segment.span == DAY
    ]
    return _summed(session, statements)


def _with_edges(totals: UrlTotals, edges: UrlTotals) -> UrlTotals:
    merged = dict(totals)
    for url in totals:
        if url in edges:
            loads, domain = totals[url]
            edge_loads, edge_domain = edges[url]
            merged[url] = (loads + edge_loads, max(domain, edge_domain))
    return merged


def _all_urls(session: Session, *, scope: Scope) -> UrlTotals:
    """Every URL of the scope."""
    statements = [
        _per_url(U.url, U.domain, U.human, conditions=conditions)
        for _, conditions in _summary_segments(scope)
    ]
    totals = _summed(session, statements)
    edges = _edge_urls(session, scope=scope)
    return _with_edges(totals, edges) | {u: v for u, v in edges.items() if u not in totals}


def _ranked(session: Session, totals: UrlTotals, top: int | None) -> list[dict[str, Any]]:
    """URL rows with loads, largest first, then by URL in the database's collation (what
    ``ORDER BY impressions DESC, url`` answered), the first ``top``."""
    loads = {url: n for url, (n, _) in totals.items()}
    urls = top_keys(session, loads, len(loads) if top is None else top)
    return [{"url": u, "domain": totals[u][1], "impressions": loads[u]} for u in urls]


def _collated(session: Session, urls: list[str]) -> list[str]:
    if len(urls) < 2 or not is_postgres(session):
        return sorted(urls)  # SQLite's BINARY collation is UTF-8 byte order: code point order
    statement = text("SELECT u FROM unnest(CAST(:urls AS text[])) AS u ORDER BY u")
    return list(session.scalars(statement, {"urls": urls}))
