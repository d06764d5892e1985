"""Queries of the folded stats summaries and of the days they do not hold.

Only queries: which month / whole rows to add or subtract, and which days to read, is decided
by `stats.summaries` and passed in as `Part`s and day lists. Each query sums its parts in the
database (a part subtracted is summed with sign -1), so the caller gets one row per key.
Days come from the agent day rows (folded days), the stats cache (agents of days not folded),
site-days and URL days, or the full grain for site and URL days under a device / country
filter.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, Select, case, func, select, text, union_all
from sqlalchemy.orm import Session

from beacon.core.db import is_postgres, slices
from beacon.pixel.models import PixelRollup as R
from beacon.pixel.models import PixelSiteDay as SD
from beacon.pixel.models import PixelUrlDay as UD
from beacon.pixel.stats.fold_repository import TRAFFIC_TYPES
from beacon.pixel.stats.models import ALL, DAY
from beacon.pixel.stats.models import PixelStatsAgent as A
from beacon.pixel.stats.models import PixelStatsDomainAgent as DA
from beacon.pixel.stats.models import PixelStatsSite as S
from beacon.pixel.stats.models import PixelStatsTraffic as T
from beacon.pixel.stats.models import PixelStatsUrl as U
from beacon.pixel.stats.repository import Scope


@dataclass(frozen=True)
class Part:
    """Summary rows of one span (``month`` or ``whole``) and periods, added or subtracted."""

    span: str
    periods: tuple[dt.date, ...]
    sign: int = 1


UrlTotals = dict[str, tuple[int, str]]  # url -> (human loads, largest domain)


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


def _rows_of(model: Any, scope: Scope, span: str, periods: Sequence[dt.date]) -> list[Any]:
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


def _domains(model: Any, scope: Scope) -> list[ColumnElement[bool]]:
    return [model.domain.in_(scope.domains)] if scope.domains else []


def _scoped(model: Any, scope: Scope) -> list[ColumnElement[bool]]:
    """Rows of the full grain or the stats cache (real device and country) in the filters."""
    return [*_domains(model, scope), *_filters(model, scope)]


def _open_days(model: Any, scope: Scope, days: Sequence[dt.date]) -> list[ColumnElement[bool]]:
    """Rows of days not folded: the stats cache, or the full grain under a domain filter."""
    only = [R.traffic_type.in_(TRAFFIC_TYPES)] if model is R else []
    return [model.campaign_id == scope.campaign_id, model.date.in_(days), *only]


def agent_summary(scope: Scope) -> Any:
    """The agent summary a scope reads: per domain under a domain filter, else the campaign's."""
    return DA if scope.domains else A


def open_day_source(scope: Scope) -> Any:
    """Where the agents of days not folded yet come from: the stats cache (refreshed by the
    caller), or the full grain under a domain filter (the cache keeps no domain)."""
    return R if scope.domains else T


def _combined(parts: list[Any]) -> Any:
    statement: Any = parts[0] if len(parts) == 1 else union_all(*parts)
    return statement.subquery()


def _by_type(model: Any, kind: str, sign: int = 1) -> Any:
    return func.sum(case((model.traffic_type == kind, model.hits), else_=0) * sign)


def _summed(session: Session, parts: list[Any], keys: Sequence[str]) -> list[RowMapping]:
    if not parts:
        return []
    source = _combined(parts)
    groups = [source.c[k] for k in keys]
    sums = [func.sum(source.c[k]).label(k) for k in TRAFFIC_TYPES]
    return list(session.execute(select(*groups, *sums).group_by(*groups)).mappings())


# --- Series and traffic (agents) ---------------------------------------------------------------


def series(
    session: Session, *, scope: Scope, folded: Sequence[dt.date], open_days: Sequence[dt.date]
) -> list[RowMapping]:
    """Human / bot / AI-agent loads per day (``date``): agent (or domain) day rows of ``folded``
    days, the stats cache (or, under a domain filter, the full grain) for ``open_days`` (the
    cache refreshed by the caller)."""
    parts: list[Any] = []
    if folded:
        summary = agent_summary(scope)
        level = [*_level(summary, scope, finest=False), *_domains(summary, scope)]
        parts.append(
            select(
                summary.period.label("date"),
                *(_by_type(summary, k).label(k) for k in TRAFFIC_TYPES),
            )
            .where(*_rows_of(summary, scope, DAY, folded), *level)
            .group_by(summary.period)
        )
    if open_days:
        daily = open_day_source(scope)
        parts.append(
            select(daily.date.label("date"), *(_by_type(daily, k).label(k) for k in TRAFFIC_TYPES))
            .where(*_open_days(daily, scope, open_days), *_scoped(daily, scope))
            .group_by(daily.date)
        )
    if not parts:
        return []
    source = _combined(parts)
    return list(session.execute(select(source).order_by(source.c.date)).mappings())


def traffic(
    session: Session,
    *,
    scope: Scope,
    summary: Sequence[Part],
    days: Sequence[tuple[Sequence[dt.date], int]],
    open_days: Sequence[dt.date],
) -> list[RowMapping]:
    """Loads by traffic type per device, country and agent: ``summary`` rows, agent day rows of
    ``days`` (each list with its sign) and the stats cache for ``open_days``; under a domain
    filter the domain rows, and the full grain for ``open_days``."""
    parts: list[Any] = []
    model = agent_summary(scope)
    level = [*_level(model, scope, finest=True), *_domains(model, scope)]

    def agent_rows(span: str, periods: Sequence[dt.date], sign: int) -> None:
        if periods:
            parts.append(
                select(
                    model.device,
                    model.geo,
                    model.agent,
                    *(_by_type(model, k, sign).label(k) for k in TRAFFIC_TYPES),
                )
                .where(*_rows_of(model, scope, span, periods), *level)
                .group_by(model.device, model.geo, model.agent)
            )

    for part in summary:
        agent_rows(part.span, part.periods, part.sign)
    for periods, sign in days:
        agent_rows(DAY, periods, sign)
    if open_days:
        source = open_day_source(scope)
        parts.append(
            select(
                source.device,
                source.geo,
                source.agent,
                *(_by_type(source, k).label(k) for k in TRAFFIC_TYPES),
            )
            .where(*_open_days(source, scope, open_days), *_scoped(source, scope))
            .group_by(source.device, source.geo, source.agent)
        )
    return _summed(session, parts, ("device", "geo", "agent"))


# --- Sites -------------------------------------------------------------------------------------


def _site_days(
    scope: Scope, days: Sequence[dt.date], sign: int, misrepresented_only: bool
) -> Select[Any]:
    """Site rows of ``days``: site-days, or the full grain under a device / country filter."""
    if not _device_or_geo(scope):
        only = [SD.misrepresented.is_(True)] if misrepresented_only else []
        return (
            select(
                SD.domain,
                SD.macros,
                SD.misrepresented,
                *(func.sum(getattr(SD, k) * sign).label(k) for k in TRAFFIC_TYPES),
            )
            .where(
                SD.campaign_id == scope.campaign_id,
                SD.date.in_(days),
                *_domains(SD, scope),
                *only,
            )
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
            *_scoped(R, scope),
            *([R.misrepresented.is_(True)] if misrepresented_only else []),
        )
        .group_by(R.domain, R.macros, R.misrepresented)
    )


def sites(
    session: Session,
    *,
    scope: Scope,
    summary: Sequence[Part],
    days: Sequence[tuple[Sequence[dt.date], int]],
    misrepresented_only: bool = False,
) -> list[RowMapping]:
    """Human / bot / AI-agent loads per domain, macro set and misrepresented flag: ``summary``
    rows plus the site rows of ``days`` (each list with its sign); of the misrepresented rows
    only, if asked."""
    keys = ("domain", "macros", "misrepresented")
    parts = _site_parts(scope, summary, days, misrepresented_only)
    return _summed(session, parts, keys)


def top_domains(
    session: Session,
    *,
    scope: Scope,
    summary: Sequence[Part],
    days: Sequence[tuple[Sequence[dt.date], int]],
    top: int,
) -> list[RowMapping]:
    """The ``top`` domains with the most loads (above 0), largest first, then by domain:
    summed in the database, so only ``top`` rows come back."""
    parts = _site_parts(scope, summary, days, False)
    if not parts:
        return []
    source = _combined(parts)
    sums = [func.sum(source.c[k]).label(k) for k in TRAFFIC_TYPES]
    loads = func.sum(source.c.human + source.c.bot + source.c.ai_agent)
    statement = (
        select(source.c.domain, *sums)
        .group_by(source.c.domain)
        .having(loads > 0)
        .order_by(loads.desc(), source.c.domain)
        .limit(top)
    )
    return list(session.execute(statement).mappings())


def _site_parts(
    scope: Scope,
    summary: Sequence[Part],
    days: Sequence[tuple[Sequence[dt.date], int]],
    misrepresented_only: bool,
) -> list[Any]:
    keys = ("domain", "macros", "misrepresented")
    only = [S.misrepresented.is_(True)] if misrepresented_only else []
    parts: list[Any] = []
    for part in summary:
        if part.periods:
            parts.append(
                select(
                    *(getattr(S, k) for k in keys),
                    *((getattr(S, k) * part.sign).label(k) for k in TRAFFIC_TYPES),
                ).where(
                    *_rows_of(S, scope, part.span, part.periods),
                    *_level(S, scope, finest=False),
                    *_domains(S, scope),
                    *only,
                )
            )
    for periods, sign in days:
        if periods:
            parts.append(_site_days(scope, periods, sign, misrepresented_only))
    return parts


def collated(session: Session, values: list[str]) -> list[str]:
    """``values`` in the database's collation (what ``ORDER BY`` would answer)."""
    if len(values) < 2 or not is_postgres(session):
        return sorted(values)  # SQLite's BINARY collation is UTF-8 byte order: code point order
    statement = text("SELECT u FROM unnest(CAST(:values AS text[])) AS u ORDER BY u")
    return list(session.scalars(statement, {"values": values}))


# --- URLs --------------------------------------------------------------------------------------


def url_hash(url: str) -> str:
    """The ``url_hash`` of the URL rows (PostgreSQL's ``md5(url)``)."""
    return hashlib.md5(url.encode(), usedforsecurity=False).hexdigest()


def url_list(
    session: Session, *, scope: Scope, span: str, period: dt.date, device: str, geo: str, depth: int
) -> list[tuple[str, int]]:
    """The ``depth`` URLs (by hash) with the most human loads of one summary row set, largest
    first (an index range)."""
    statement = (
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
    return [(url_hash, int(human)) for url_hash, human in session.execute(statement)]


def _totals(session: Session, statements: Iterable[Any]) -> UrlTotals:
    totals: UrlTotals = {}
    for statement in statements:
        for url, domain, human in session.execute(statement):
            loads, largest = totals.get(url, (0, domain))
            totals[url] = (loads + int(human), max(largest, domain))
    return totals


def _of_values(statement: Any, column: Any, values: Sequence[str] | None) -> Iterable[Any]:
    """``statement`` alone, or restricted to ``values`` of ``column`` a slice at a time: the
    candidates of a top-URL search reach 10,240 a list (12 lists), past the 65,535 parameters
    PostgreSQL takes in a statement. A URL's rows all fall in one slice (its URL, its hash)."""
    if values is None:
        return [statement]
    return (statement.where(column.in_(part)) for part in slices(list(values)))


def url_summary(
    session: Session, *, scope: Scope, part: Part, hashes: Sequence[str] | None = None
) -> UrlTotals:
    """Human loads per URL of a summary part (of the URLs of ``hashes`` only, if given), not
    signed: the caller adds or subtracts them."""
    if not part.periods or hashes == []:
        return {}
    statement = (
        select(U.url, func.max(U.domain), func.sum(U.human))
        .where(
            *_rows_of(U, scope, part.span, part.periods),
            *_level(U, scope, finest=False),
            *_domains(U, scope),
        )
        .group_by(U.url)
    )
    return _totals(session, _of_values(statement, U.url_hash, hashes))


def url_days(
    session: Session, *, scope: Scope, days: Sequence[dt.date], urls: Sequence[str] | None = None
) -> UrlTotals:
    """Human loads per URL (of ``urls``, if given) of ``days``: URL days, or the full grain
    under a device / country filter."""
    if not days or urls == []:
        return {}
    if not _device_or_geo(scope):
        statement = (
            select(UD.url, func.max(UD.domain), func.sum(UD.human))
            .where(
                UD.campaign_id == scope.campaign_id, UD.date.in_(list(days)), *_domains(UD, scope)
            )
            .group_by(UD.url)
        )
        return _totals(session, _of_values(statement, UD.url, urls))
    statement = (
        select(R.url, func.max(R.domain), func.sum(R.hits))
        .where(
            R.campaign_id == scope.campaign_id,
            R.date.in_(list(days)),
            R.traffic_type == "human",
            *_scoped(R, scope),
        )
        .group_by(R.url)
    )
    return _totals(session, _of_values(statement, R.url, urls))
