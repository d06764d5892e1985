"""The aggregation queries of reports over pixel rollups (the read side of `pixel.rollups`).

Aggregation is one GROUP BY in the database per report (plus one for the summary); Python only
sees the aggregated rows, streamed in partitions, never the rollups themselves. A campaign
report reads the tables its `planner.CampaignPlan` names; each is a `Source` with the report's
column names, so the same statements serve the full grain and the report-grain rollups.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    FromClause,
    RowMapping,
    Select,
    String,
    Table,
    Text,
    and_,
    case,
    cast,
    distinct,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.orm import Session

from beacon.core.db import in_text_set, is_postgres, rowcount
from beacon.pixel.models import PixelRollup as R
from beacon.pixel.models import PixelSiteDay as S
from beacon.pixel.models import PixelUrlDay as UD
from beacon.pixel.models import PixelUrlMonth as UM
from beacon.pixel.reports import viewability_repository
from beacon.pixel.reports.models import PixelReportRow
from beacon.pixel.reports.planner import (
    COARSE_FILTERS,
    FULL_GRAIN,
    CampaignPlan,
    Grain,
    split_periods,
)

STREAM_PARTITION = 5000
AGGREGATION_WORK_MEM = "256MB"
TOP_AGENTS = 10
_REPORT_ROWS: Table = PixelReportRow.__table__  # type: ignore[assignment]

# Why a load is invalid ('' for human loads). Rows counted before reasons were recorded hold
# '' (migration 0010); theirs follows from what was recorded then: an AI agent, a bot with no
# named agent (only an empty User-Agent had none), or a listed crawler.
IVT_REASON: ColumnElement[str] = case(
    (R.traffic_type == "human", literal("")),
    (R.ivt_reason != "", R.ivt_reason),
    (R.traffic_type == "ai_agent", literal("ai_agent")),
    (R.agent == "", literal("empty_ua")),
    else_=literal("known_crawler"),
)
_DIMENSION_COLUMNS: dict[str, Any] = {
    "date": R.date,
    "domain": R.domain,
    "url": R.url,
    "device": R.device,
    "geo": R.geo,
    "traffic_type": R.traffic_type,
    "agent": R.agent,
    "ivt_reason": IVT_REASON,
}
_TRAFFIC_TYPES = ("human", "bot", "ai_agent")
_FILTER_COLUMNS: dict[str, Any] = {
    "domains": R.domain,
    "devices": R.device,
    "geo": R.geo,
    "traffic_types": R.traffic_type,
}


@dataclass(frozen=True)
class Scope:
    """The rollups a report covers: one campaign, a date range, the request's list filters,
    and with ``urls`` only the loads on those page URLs (what the brand-safety filter keeps;
    a URL filter needs the full grain, which has every URL)."""

    campaign_id: int
    start: dt.date
    end: dt.date
    filters: Mapping[str, Sequence[str]]
    urls: Collection[str] | None = None


@dataclass(frozen=True)
class Source:
    """Human loads of a report's scope in one table (or union): what campaign rows group.

    ``columns`` maps the dimensions the table has, ``macros`` and ``misrepresented`` to its
    columns; ``where`` restricts it to the scope.
    """

    from_: FromClause
    columns: Mapping[str, Any]
    hits: Any
    where: list[ColumnElement[bool]] = field(default_factory=list)


def _hits_where(condition: ColumnElement[bool], hits: Any = R.hits) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, hits), else_=0)), 0)


def _human() -> ColumnElement[bool]:
    return R.traffic_type == "human"


def _where(scope: Scope) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [
        R.campaign_id == scope.campaign_id,
        R.date >= scope.start,
        R.date <= scope.end,
    ]
    for key, values in scope.filters.items():
        conditions.append(_FILTER_COLUMNS[key].in_(list(values)))
    if scope.urls is not None:
        conditions.append(in_text_set(R.url, scope.urls))
    return conditions


def _coarse_where(model: Any, scope: Scope, *dates: ColumnElement[bool]) -> list[Any]:
    if not set(scope.filters) <= COARSE_FILTERS or scope.urls is not None:
        # The planner never sends these here; a filter silently ignored would be wrong counts.
        raise ValueError(f"report-grain rollups cannot filter by {sorted(scope.filters)} or URL")
    conditions: list[Any] = [model.campaign_id == scope.campaign_id, *dates]
    if "domains" in scope.filters:
        conditions.append(model.domain.in_(list(scope.filters["domains"])))
    return conditions


def _columns(model: Any, *names: str) -> dict[str, Any]:
    return {name: getattr(model, name) for name in (*names, "macros", "misrepresented")}


def campaign_source(scope: Scope, grain: Grain) -> Source:
    """The human loads of ``scope`` as stored in ``grain``."""
    if grain is Grain.FULL:
        columns = {**_DIMENSION_COLUMNS, "macros": R.macros, "misrepresented": R.misrepresented}
        return Source(R.__table__, columns, R.hits, [*_where(scope), _human()])
    if grain is Grain.SITE_DAYS:
        where = _coarse_where(S, scope, S.date >= scope.start, S.date <= scope.end)
        return Source(S.__table__, _columns(S, "date", "domain"), S.human, where)
    if grain is Grain.URL_DAYS:
        where = _coarse_where(UD, scope, UD.date >= scope.start, UD.date <= scope.end)
        return Source(UD.__table__, _columns(UD, "date", "domain", "url"), UD.human, where)
    return _url_periods(scope)


def _url_periods(scope: Scope) -> Source:
    """URL-months of the range's months, plus or minus the URL-days at its edges.

    Loads subtracted for days outside the range are negative rows, so every measure over this
    source is a sum, and a URL or row counts only when its sum is positive.
    """
    periods = split_periods(scope.start, scope.end)
    parts: list[Select[Any]] = []
    columns = ("domain", "url", "macros", "misrepresented")
    if periods.months:
        month_where = _coarse_where(UM, scope, UM.month.in_(periods.months))
        parts.append(select(*(UM.__table__.c[c] for c in columns), UM.human).where(*month_where))
    for ranges, hits in ((periods.days, UD.human), (periods.excluded, -UD.human)):
        if ranges:
            dates = or_(*(and_(UD.date >= first, UD.date <= last) for first, last in ranges))
            day_columns = (UD.__table__.c[c] for c in columns)
            parts.append(
                select(*day_columns, hits.label("human")).where(*_coarse_where(UD, scope, dates))
            )
    union = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery("url_periods")
    return Source(union, {name: union.c[name] for name in columns}, union.c.human)


def _grouped(
    columns_by_name: Mapping[str, Any],
    dimensions: Sequence[str],
    measures: list[Any],
    order_first: Any,
) -> tuple[Select[Any], list[Any]]:
    macros = columns_by_name["macros"]
    columns = [columns_by_name[d].label(d) for d in dimensions]
    order = [columns[dimensions.index("date")]] if "date" in dimensions else []
    order += [order_first.desc(), *(c for c in columns if c.name != "date"), macros]
    statement = select(*columns, macros.label("macros"), *measures).group_by(*columns, macros)
    return statement, order


def campaign_rows(
    session: Session,
    *,
    scope: Scope,
    dimensions: Sequence[str],
    plan: CampaignPlan = FULL_GRAIN,
) -> Iterator[Sequence[RowMapping]]:
    """Human impressions (and their measured viewability) per dimension combination and macro
    set, in report order, in chunks."""
    g = _campaign_grouped(campaign_source(scope, plan.rows), dimensions)[0].subquery("g")
    joined, viewable = viewability_repository.join_rows(g, scope, dimensions)
    statement = select(*g.c, *viewable).select_from(joined).order_by(*_row_order(g, dimensions))
    return _stream(session, statement)


def _row_order(g: Any, dimensions: Sequence[str]) -> list[Any]:
    order: list[Any] = [g.c.date] if "date" in dimensions else []
    return [
        *order,
        g.c.impressions.desc(),
        *(g.c[d] for d in dimensions if d != "date"),
        g.c.macros,
    ]


def _campaign_grouped(source: Source, dimensions: Sequence[str]) -> tuple[Select[Any], list[Any]]:
    # Campaign rows count human traffic only, so other rollups are not even aggregated.
    impressions = func.sum(source.hits).label("impressions")
    misrepresented = _hits_where(source.columns["misrepresented"].is_(True), source.hits)
    measures = [impressions, misrepresented.label("misrepresented")]
    statement, order = _grouped(source.columns, dimensions, measures, impressions)
    statement = statement.select_from(source.from_).where(*source.where).having(impressions > 0)
    return statement, order


def store_campaign_rows(
    session: Session,
    *,
    report_id: int,
    scope: Scope,
    dimensions: Sequence[str],
    plan: CampaignPlan = FULL_GRAIN,
) -> int:
    """Aggregate and store the report's rows in one INSERT .. SELECT; returns how many.

    Each payload is built by the database as a JSON object of the dimensions (``''`` as
    null), ``impressions``, the measured ``measurable_impressions`` and
    ``viewable_impressions``, and ``macros`` / ``misrepresented`` /
    ``misrepresented_impressions`` (null when they do not apply; `build.present_row` drops
    those on the way out). Numbering the rows with ``row_number()`` in report order keeps
    every row out of Python, which dominates the cost of large reports otherwise.
    """
    source = campaign_source(scope, plan.rows)
    g = _campaign_grouped(source, dimensions)[0].subquery("g")
    joined, viewable = viewability_repository.join_rows(g, scope, dimensions)
    number = func.row_number().over(order_by=_row_order(g, dimensions)) - 1
    postgres = is_postgres(session)
    fields: list[Any] = []
    for dimension in dimensions:
        value = g.c[dimension] if dimension == "date" else func.nullif(g.c[dimension], "")
        fields += [_key(dimension), value]
    mis = g.c.misrepresented > 0
    macros_json = cast(g.c.macros, JSON) if postgres else func.json(g.c.macros)
    fields += [
        _key("impressions"),
        g.c.impressions,
        _key("macros"),
        case((g.c.macros != "", macros_json), else_=null()),
        _key("misrepresented"),
        case((mis, true() if postgres else func.json("true")), else_=null()),
        _key("misrepresented_impressions"),
        case((mis, g.c.misrepresented), else_=null()),
    ]
    for measure in viewable:
        fields += [_key(measure.name), measure]
    build = func.json_build_object if postgres else func.json_object
    payload = cast(build(*fields), Text)
    rows = select(
        literal(report_id).label("report_id"), number.label("n"), payload.label("p")
    ).select_from(joined)
    # The Core table, not the ORM entity: the ORM's bulk INSERT reports no rowcount.
    statement = insert(_REPORT_ROWS).from_select(["report_id", "row_number", "payload"], rows)
    return rowcount(session, statement)


def _key(name: str) -> Any:
    # A typed literal: PostgreSQL cannot infer a bound parameter's type in json_build_object.
    return literal(name, String)


def publisher_rows(
    session: Session,
    *,
    scope: Scope,
    dimensions: Sequence[str],
) -> Iterator[Sequence[RowMapping]]:
    """Loads by traffic type per dimension combination and macro set, in report order."""
    loads = func.sum(R.hits).label("loads")
    measures = [loads, *(_hits_where(R.traffic_type == t).label(t) for t in _TRAFFIC_TYPES)]
    columns = {**_DIMENSION_COLUMNS, "macros": R.macros}
    statement, order = _grouped(columns, dimensions, measures, loads)
    statement = statement.where(*_where(scope)).order_by(*order)
    return _stream(session, statement)


def _stream(session: Session, statement: Select[Any]) -> Iterator[Sequence[RowMapping]]:
    result = session.execute(statement, execution_options={"yield_per": STREAM_PARTITION})
    yield from result.mappings().partitions()


def campaign_summary(
    session: Session,
    *,
    scope: Scope,
    plan: CampaignPlan = FULL_GRAIN,
) -> dict[str, Any]:
    """Totals over the whole filtered range; unique URLs and domains are of human traffic."""
    if plan.totals is Grain.FULL:
        return dict(_full_grain_summary(session, scope=scope))
    totals = dict(_site_day_totals(session, scope=scope))
    totals["unique_urls"] = _unique_urls(session, campaign_source(scope, plan.unique_urls))
    return totals


def _site_day_totals(session: Session, *, scope: Scope) -> RowMapping:
    where = _coarse_where(S, scope, S.date >= scope.start, S.date <= scope.end)
    seen = and_(S.human > 0, S.domain != "")
    statement = select(
        func.coalesce(func.sum(S.human), 0).label("impressions"),
        func.coalesce(func.sum(S.bot), 0).label("bot"),
        func.coalesce(func.sum(S.ai_agent), 0).label("ai_agent"),
        _hits_where(S.misrepresented.is_(True), S.human).label("misrepresented_impressions"),
        func.count(distinct(case((seen, S.domain)))).label("unique_domains"),
    ).where(*where)
    return session.execute(statement).mappings().one()


def _unique_urls(session: Session, source: Source) -> int:
    # URLs whose human loads in the range add up to more than zero (a source may hold
    # subtracted days), which is "had human loads in the range" as over the full grain.
    url = source.columns["url"]
    seen = (
        select(url)
        .select_from(source.from_)
        .where(*source.where, url != "")
        .group_by(url)
        .having(func.sum(source.hits) > 0)
        .subquery("seen_urls")
    )
    statement = select(func.count().label("unique_urls")).select_from(seen)
    return int(session.scalar(statement) or 0)


def _full_grain_summary(session: Session, *, scope: Scope) -> RowMapping:
    human = _human()
    totals = [
        _hits_where(human).label("impressions"),
        _hits_where(R.traffic_type == "bot").label("bot"),
        _hits_where(R.traffic_type == "ai_agent").label("ai_agent"),
        _hits_where(and_(human, R.misrepresented)).label("misrepresented_impressions"),
    ]
    if not is_postgres(session):
        statement = select(
            *totals,
            func.count(distinct(case((and_(human, R.url != ""), R.url)))).label("unique_urls"),
            func.count(distinct(case((and_(human, R.domain != ""), R.domain)))).label(
                "unique_domains"
            ),
        ).where(*_where(scope))
        return session.execute(statement).mappings().one()
    # PostgreSQL sorts for count(DISTINCT); one hashed GROUP BY per URL and domain first,
    # then totals over those (far fewer) groups, is several times faster.
    per_url = (
        select(R.url, R.domain, *totals)
        .where(*_where(scope))
        .group_by(R.url, R.domain)
        .subquery("per_url")
    )
    seen = per_url.c.impressions > 0
    statement = select(
        *(func.coalesce(func.sum(per_url.c[t.name]), 0).label(t.name) for t in totals),
        func.count(distinct(case((and_(seen, per_url.c.url != ""), per_url.c.url)))).label(
            "unique_urls"
        ),
        func.count(distinct(case((and_(seen, per_url.c.domain != ""), per_url.c.domain)))).label(
            "unique_domains"
        ),
    )
    return session.execute(statement).mappings().one()


def url_impressions(session: Session, *, scope: Scope, limit: int) -> list[tuple[str, int]]:
    """Every page URL with loads of any traffic type in the scope ('' for loads without a
    URL) and its human impressions; at most ``limit`` of them."""
    human = _hits_where(_human()).label("impressions")
    statement = select(R.url, human).where(*_where(scope)).group_by(R.url).limit(limit)
    return [(url, int(impressions)) for url, impressions in session.execute(statement)]


def tune_for_aggregation(session: Session) -> None:
    """Give this transaction's GROUP BYs room to hash in memory (PostgreSQL only).

    The default ``work_mem`` (4 MB) makes a report over millions of rollups spill its hash
    tables to disk; the setting is local to the transaction (the report job).
    """
    if is_postgres(session):
        session.execute(text(f"SET LOCAL work_mem = '{AGGREGATION_WORK_MEM}'"))


def invalid_by_reason(session: Session, *, scope: Scope) -> dict[str, int]:
    """Invalid loads (bots and AI agents) of the scope per IVT reason."""
    loads = func.sum(R.hits).label("loads")
    reason = IVT_REASON.label("reason")
    statement = (
        select(reason, loads)
        .where(*_where(scope), R.traffic_type != literal("human"))
        .group_by(reason)
    )
    return {row.reason: int(row.loads) for row in session.execute(statement)}


def publisher_summary(
    session: Session,
    *,
    scope: Scope,
) -> RowMapping:
    """Loads by traffic type and the number of distinct named bots and AI agents."""
    statement = select(
        func.coalesce(func.sum(R.hits), 0).label("loads"),
        *(_hits_where(R.traffic_type == t).label(t) for t in _TRAFFIC_TYPES),
        func.count(distinct(case((R.agent != "", R.agent)))).label("unique_agents"),
    ).where(*_where(scope))
    return session.execute(statement).mappings().one()


def top_agents(
    session: Session,
    *,
    scope: Scope,
) -> list[RowMapping]:
    """The named bots and AI agents with the most loads."""
    loads = func.sum(R.hits).label("loads")
    statement = (
        select(R.agent.label("name"), func.max(R.traffic_type).label("type"), loads)
        .where(
            *_where(scope),
            R.agent != "",
            R.traffic_type != literal("human"),
        )
        .group_by(R.agent)
        .order_by(loads.desc(), R.agent)
        .limit(TOP_AGENTS)
    )
    return list(session.execute(statement).mappings())
