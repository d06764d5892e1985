"""Reads of campaign stats from the folded month summaries plus the days they do not hold.

A range is planned month by month (`plan`): a month with folded days is read from its month
rows when that is cheaper than its days, *minus* its folded days outside the range and *plus*
its days of the range not folded yet (today, or a day the job has not reached); other months
are read day by day. Sums are integers, so months minus days are exact. Days come from the
agent day rows (folded days), the stats cache (agents of days not folded), site-days and URL
days, or the full grain for site and URL days under a device / country filter. Scopes with a
domain filter, or with both a device and a country filter, are not answered here
(`supports`): the stats service reads them from the daily tables.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, Select, case, func, select, text, union_all
from sqlalchemy.orm import Session

from beacon.core.db import is_postgres
from beacon.pixel.models import PixelRollup as R
from beacon.pixel.models import PixelSiteDay as SD
from beacon.pixel.models import PixelUrlDay as UD
from beacon.pixel.stats import fold_repository
from beacon.pixel.stats.fold_repository import TRAFFIC_TYPES, month_of
from beacon.pixel.stats.models import ALL, DAY, MONTH
from beacon.pixel.stats.models import PixelStatsAgent as A
from beacon.pixel.stats.models import PixelStatsSite as S
from beacon.pixel.stats.models import PixelStatsTraffic as T
from beacon.pixel.stats.models import PixelStatsUrl as U
from beacon.pixel.stats.repository import Scope

# Top URLs: how many URLs each month is asked for at first (times the top asked), how far
# that may grow before the answer sums every URL of the scope instead.
_URL_DEPTH, _URL_MIN_DEPTH, _URL_MAX_DEPTH, _URL_MAX_CELLS = 4, 40, 640, 12
# A month is read from its month rows when the days to add and subtract are fewer than its
# days in the range by this margin (a month row set costs about as much as a few days).
_MONTH_MARGIN = 2


def supports(scope: Scope) -> bool:
    """Whether the summaries answer ``scope`` (no domain filter, not device and country)."""
    return not scope.domains and not (scope.devices and scope.countries)


@dataclass
class Plan:
    """How a range is read: month rows, days subtracted from them, and days read as days."""

    months: list[dt.date] = field(default_factory=list)
    minus: list[dt.date] = field(default_factory=list)  # folded days outside the range
    folded: list[dt.date] = field(default_factory=list)  # folded days of the range
    by_day: list[dt.date] = field(default_factory=list)  # folded days not read from a month
    open: list[dt.date] = field(default_factory=list)  # days of the range not folded

    @property
    def added_days(self) -> list[dt.date]:
        """Days of the range whose site and URL rows are read day by day."""
        return sorted(self.by_day + self.open)


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def _month_end(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)


def plan(session: Session, scope: Scope) -> Plan:
    """The cheapest exact reading of the scope's range given which days are folded."""
    first, last = month_of(scope.start), _month_end(scope.end)
    marks = fold_repository.folded(session, campaign_id=scope.campaign_id, start=first, end=last)
    result = Plan()
    month = first
    while month <= scope.end:
        end = _month_end(month)
        in_range = _days(max(month, scope.start), min(end, scope.end))
        folded = [day for day in _days(month, end) if day in marks]
        outside = [day for day in folded if not scope.start <= day <= scope.end]
        unfolded = [day for day in in_range if day not in marks]
        result.folded += [day for day in in_range if day in marks]
        result.open += unfolded
        if folded and len(outside) + len(unfolded) + _MONTH_MARGIN < len(in_range):
            result.months.append(month)
            result.minus += outside
        else:
            result.by_day += [day for day in in_range if day in marks]
        month = end + dt.timedelta(days=1)
    return result


def _level(model: Any, scope: Scope, *, finest: bool) -> list[ColumnElement[bool]]:
    """The device / country rows of the scope: the filtered values, else every value summed
    (``'*'``), or every real value when ``finest``."""
    conditions = []
    for column, values in ((model.device, scope.devices), (model.geo, scope.countries)):
        if values:
            conditions.append(column.in_(values))
        else:
            conditions.append(column != ALL if finest else column == ALL)
    return conditions


def _summary(model: Any, scope: Scope, span: str, periods: Sequence[dt.date]) -> list[Any]:
    return [
        model.campaign_id == scope.campaign_id,
        model.span == span,
        model.period.in_(list(periods)),
    ]


def _device_or_geo(scope: Scope) -> bool:
    return bool(scope.devices or scope.countries)


def _filters(model: Any, scope: Scope) -> list[ColumnElement[bool]]:
    conditions = []
    if scope.devices:
        conditions.append(model.device.in_(scope.devices))
    if scope.countries:
        conditions.append(model.geo.in_(scope.countries))
    return conditions


def _combined(parts: list[Any]) -> Any:
    statement: Any = parts[0] if len(parts) == 1 else union_all(*parts)
    return statement.subquery()


def _by_type(model: Any, kind: str, sign: int = 1) -> Any:
    return func.sum(case((model.traffic_type == kind, model.hits), else_=0) * sign)


# --- Series and traffic (agents) ---------------------------------------------------------------


def series(session: Session, *, scope: Scope, plan: Plan) -> list[RowMapping]:
    """Human / bot / AI-agent loads per day (``date``): agent day rows of folded days, the
    stats cache for the others (refreshed by the caller)."""
    parts: list[Any] = []
    if plan.folded:
        parts.append(
            select(A.period.label("date"), *(_by_type(A, k).label(k) for k in TRAFFIC_TYPES))
            .where(*_summary(A, scope, DAY, plan.folded), *_level(A, scope, finest=False))
            .group_by(A.period)
        )
    if plan.open:
        parts.append(
            select(T.date.label("date"), *(_by_type(T, k).label(k) for k in TRAFFIC_TYPES))
            .where(T.campaign_id == scope.campaign_id, T.date.in_(plan.open), *_filters(T, scope))
            .group_by(T.date)
        )
    if not parts:
        return []
    source = _combined(parts)
    return list(session.execute(select(source).order_by(source.c.date)).mappings())


def traffic(session: Session, *, scope: Scope, plan: Plan) -> list[RowMapping]:
    """Loads by traffic type per device, country and agent of the scope."""
    keys = ("device", "geo", "agent")
    parts: list[Any] = []

    def agent_rows(span: str, periods: list[dt.date], sign: int) -> None:
        if periods:
            parts.append(
                select(
                    A.device,
                    A.geo,
                    A.agent,
                    *(_by_type(A, k, sign).label(k) for k in TRAFFIC_TYPES),
                )
                .where(*_summary(A, scope, span, periods), *_level(A, scope, finest=True))
                .group_by(A.device, A.geo, A.agent)
            )

    agent_rows(MONTH, plan.months, 1)
    agent_rows(DAY, plan.minus, -1)
    agent_rows(DAY, plan.by_day, 1)
    if plan.open:
        parts.append(
            select(T.device, T.geo, T.agent, *(_by_type(T, k).label(k) for k in TRAFFIC_TYPES))
            .where(T.campaign_id == scope.campaign_id, T.date.in_(plan.open), *_filters(T, scope))
            .group_by(T.device, T.geo, T.agent)
        )
    if not parts:
        return []
    source = _combined(parts)
    groups = [source.c[k] for k in keys]
    sums = [func.sum(source.c[k]).label(k) for k in TRAFFIC_TYPES]
    return list(session.execute(select(*groups, *sums).group_by(*groups)).mappings())


# --- Sites -------------------------------------------------------------------------------------


def _site_days(scope: Scope, days: list[dt.date], sign: int) -> Select[Any]:
    """Site rows of ``days``: site-days, or the full grain under a device / country filter."""
    if not _device_or_geo(scope):
        return (
            select(
                SD.domain,
                SD.macros,
                SD.misrepresented,
                *(func.sum(getattr(SD, k) * sign).label(k) for k in TRAFFIC_TYPES),
            )
            .where(SD.campaign_id == scope.campaign_id, SD.date.in_(days))
            .group_by(SD.domain, SD.macros, SD.misrepresented)
        )
    return (
        select(
            R.domain,
            R.macros,
            R.misrepresented,
            *(_by_type(R, k, sign).label(k) for k in TRAFFIC_TYPES),
        )
        .where(
            R.campaign_id == scope.campaign_id,
            R.date.in_(days),
            R.traffic_type.in_(TRAFFIC_TYPES),
            *_filters(R, scope),
        )
        .group_by(R.domain, R.macros, R.misrepresented)
    )


def sites(session: Session, *, scope: Scope, plan: Plan) -> list[RowMapping]:
    """Human / bot / AI-agent loads per domain, macro set and misrepresented flag."""
    keys = ("domain", "macros", "misrepresented")
    parts: list[Any] = []
    if plan.months:
        parts.append(
            select(*(getattr(S, k) for k in keys), *(getattr(S, k) for k in TRAFFIC_TYPES)).where(
                *_summary(S, scope, MONTH, plan.months), *_level(S, scope, finest=False)
            )
        )
    if plan.minus:
        parts.append(_site_days(scope, plan.minus, -1))
    if plan.added_days:
        parts.append(_site_days(scope, plan.added_days, 1))
    if not parts:
        return []
    source = _combined(parts)
    groups = [source.c[k] for k in keys]
    sums = [func.sum(source.c[k]).label(k) for k in TRAFFIC_TYPES]
    return list(session.execute(select(*groups, *sums).group_by(*groups)).mappings())


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


def _collated(session: Session, values: list[str]) -> list[str]:
    if len(values) < 2 or not is_postgres(session):
        return sorted(values)  # SQLite's BINARY collation is UTF-8 byte order: code point order
    statement = text("SELECT u FROM unnest(CAST(:values AS text[])) AS u ORDER BY u")
    return list(session.scalars(statement, {"values": values}))


# --- Top URLs ----------------------------------------------------------------------------------

UrlTotals = dict[str, tuple[int, str]]  # url -> (human loads, largest domain)


def top_urls(session: Session, *, scope: Scope, plan: Plan, top: int) -> list[dict[str, Any]]:
    """The ``top`` URLs with the most human loads (largest first, then by URL), exactly.

    A threshold query over sorted URL lists: each month and filtered device / country value
    lists its ``depth`` largest URLs (an index range); a URL none lists has, in each, at most
    the last one listed there, so at most their sum (``bound``) in all, plus what the days read
    as days add (their ``depth``-th largest URL; those days' URLs are summed in full). Days
    subtracted only lower a total. The candidates' exact loads are summed; once the
    ``top``-th is above ``bound`` no other URL can be in the answer. Otherwise the lists
    deepen, and past ``_URL_MAX_DEPTH`` (or with too many lists) every URL is summed.
    """
    cells = [
        (month, device, geo)
        for month in plan.months
        for device in scope.devices or (ALL,)
        for geo in scope.countries or (ALL,)
    ]
    added = _url_days(session, scope, plan.added_days)
    if len(cells) > _URL_MAX_CELLS:
        return _ranked(session, _all_urls(session, scope, plan, added), top)
    by_added = sorted(added.items(), key=lambda item: -item[1][0])
    depth = max(_URL_DEPTH * top, _URL_MIN_DEPTH)
    while depth <= _URL_MAX_DEPTH:
        candidates: set[str] = set()
        bound = 0
        for cell in cells:
            listed = list(session.execute(_cell_top(scope, cell, depth)))
            candidates.update(url_hash for url_hash, _ in listed)
            if len(listed) == depth:
                bound += int(listed[-1][1])
        top_added = by_added[:depth]
        if len(by_added) > depth:
            bound += top_added[-1][1][0]
        totals = _months_by_hash(session, scope, plan, sorted(candidates))
        for url, (_, domain) in top_added:
            totals.setdefault(url, (0, domain))
        # Only the candidates' loads on the subtracted days (not every URL of those days).
        removed = _url_days(session, scope, plan.minus, urls=sorted(totals))
        rows = _ranked(session, _merged(totals, added, removed, only_known=True), top)
        if bound == 0 or (len(rows) >= top and int(rows[top - 1]["impressions"]) > bound):
            return rows
        depth *= 4
    return _ranked(session, _all_urls(session, scope, plan, added), top)


def _cell_top(scope: Scope, cell: tuple[dt.date, str, str], depth: int) -> Select[str, int]:
    month, device, geo = cell
    return (
        select(U.url_hash, U.human)
        .where(
            U.campaign_id == scope.campaign_id,
            U.span == MONTH,
            U.device == device,
            U.geo == geo,
            U.period == month,
        )
        .order_by(U.human.desc())
        .limit(depth)
    )


def _summed(session: Session, statement: Any) -> UrlTotals:
    totals: UrlTotals = {}
    for url, domain, human in session.execute(statement):
        loads, largest = totals.get(url, (0, domain))
        totals[url] = (loads + int(human), max(largest, domain))
    return totals


def _month_urls(scope: Scope, plan: Plan) -> list[ColumnElement[bool]]:
    return [*_summary(U, scope, MONTH, plan.months), *_level(U, scope, finest=False)]


def _months_by_hash(session: Session, scope: Scope, plan: Plan, hashes: list[str]) -> UrlTotals:
    if not hashes or not plan.months:
        return {}
    statement = (
        select(U.url, func.max(U.domain), func.sum(U.human))
        .where(*_month_urls(scope, plan), U.url_hash.in_(hashes))
        .group_by(U.url)
    )
    return _summed(session, statement)


def _url_days(
    session: Session, scope: Scope, days: list[dt.date], urls: list[str] | None = None
) -> UrlTotals:
    """Human loads per URL (of ``urls``, if given) of ``days``: URL days, or the full grain
    under a device / country filter."""
    if not days or urls == []:
        return {}
    if not _device_or_geo(scope):
        statement = (
            select(UD.url, func.max(UD.domain), func.sum(UD.human))
            .where(UD.campaign_id == scope.campaign_id, UD.date.in_(days))
            .group_by(UD.url)
        )
        if urls is not None:
            statement = statement.where(UD.url.in_(urls))
    else:
        statement = (
            select(R.url, func.max(R.domain), func.sum(R.hits))
            .where(
                R.campaign_id == scope.campaign_id,
                R.date.in_(days),
                R.traffic_type == "human",
                *_filters(R, scope),
            )
            .group_by(R.url)
        )
        if urls is not None:
            statement = statement.where(R.url.in_(urls))
    return _summed(session, statement)


def _merged(
    totals: UrlTotals, added: UrlTotals, removed: UrlTotals, *, only_known: bool
) -> UrlTotals:
    """``totals`` plus ``added`` minus ``removed`` (for the URLs of ``totals`` only, or all)."""
    merged = dict(totals)
    urls = set(totals) if only_known else set(totals) | set(added)
    for url in urls:
        loads, domain = merged.get(url, (0, ""))
        if url in added:
            loads += added[url][0]
            domain = max(domain, added[url][1])
        if url in removed:
            loads -= removed[url][0]
        merged[url] = (loads, domain)
    return merged


def _all_urls(session: Session, scope: Scope, plan: Plan, added: UrlTotals) -> UrlTotals:
    totals: UrlTotals = {}
    if plan.months:
        statement = (
            select(U.url, func.max(U.domain), func.sum(U.human))
            .where(*_month_urls(scope, plan))
            .group_by(U.url)
        )
        totals = _summed(session, statement)
    removed = _url_days(session, scope, plan.minus)
    return _merged(totals, added, removed, only_known=False)


def _ranked(session: Session, totals: UrlTotals, top: int) -> list[dict[str, Any]]:
    """URL rows with loads, largest first, then by URL in the database's collation."""
    loads = {url: n for url, (n, _) in totals.items()}
    urls = top_keys(session, loads, top)
    return [{"url": u, "domain": totals[u][1], "impressions": loads[u]} for u in urls]
