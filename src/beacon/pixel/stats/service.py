"""Campaign stats for the API and the console: one function, the same numbers for both."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import RowMapping
from sqlalchemy.orm import Session

from beacon.pixel import service as campaign_service
from beacon.pixel import viewability
from beacon.pixel.enrich import site_macro_domain
from beacon.pixel.reports.build import agent_details
from beacon.pixel.stats import repository, summaries
from beacon.pixel.stats.repository import Scope
from beacon.pixel.stats.schemas import (
    AgentRow,
    AppliedFilters,
    Breakdowns,
    MisrepresentedRow,
    OperatorRow,
    SeriesPoint,
    Shares,
    Stats,
    StatsQuery,
    Totals,
    UrlRow,
    ValueRow,
)

_TRAFFIC = repository.TRAFFIC_TYPES
# Breakdowns answered by one grouping of the stats cache (or the full grain under a domain
# filter): device, country and agent, summed in Python from at most ~1,600 groups.
_TRAFFIC_DIMENSIONS = {"device": "device", "country": "geo"}


def campaign_stats(
    *, session: Session, account_id: int, campaign_id: int, query: StatsQuery
) -> Stats:
    """Totals, the daily series and the requested top-N breakdowns of the account's campaign."""
    campaign_service.get_campaign(session=session, account_id=account_id, campaign_id=campaign_id)
    scope = Scope(
        campaign_id,
        query.start,
        query.end,
        tuple(query.domain),
        tuple(query.device),
        tuple(query.country),
    )
    wanted = set(query.dimension)
    plan = summaries.plan(session, scope)
    if summaries.reads_cache(scope, plan):
        refresh_cache(
            session=session, campaign_id=campaign_id, start=min(plan.open), end=max(plan.open)
        )
    by_day = summaries.series(session, scope=scope, plan=plan)
    # Only the misrepresented site rows: the top domains are summed in the database.
    site_rows = summaries.sites(session, scope=scope, plan=plan, misrepresented_only=True)
    mis_rows = [
        {"domain": row["domain"], "macros": row["macros"], "impressions": row["human"]}
        for row in site_rows
        if row["misrepresented"] and row["human"]
    ]
    totals = _stats_totals(session, scope, by_day, mis_rows)
    breakdowns = _breakdowns(session, scope, plan, wanted, totals, query.top)
    if "misrepresented" in wanted:
        breakdowns.misrepresented = _misrepresented(mis_rows, totals.impressions)[: query.top]
    return Stats(
        campaign_id=campaign_id,
        start_date=scope.start,
        end_date=scope.end,
        interval="day",
        timezone="UTC",
        filters=AppliedFilters(
            domains=list(scope.domains),
            devices=list(scope.devices),
            countries=list(scope.countries),
        ),
        totals=totals,
        series=_series(scope, by_day),
        breakdowns=breakdowns,
    )


def _stats_totals(
    session: Session,
    scope: Scope,
    by_day: Sequence[Any],
    mis_rows: Sequence[Any],
) -> Totals:
    totals = _totals(by_day, sum(int(row["impressions"]) for row in mis_rows))
    measurable, viewable = repository.viewability(session, scope=scope)
    totals.measurable_impressions, totals.viewable_impressions = measurable, viewable
    totals.viewability_rate = viewability.rate(viewable=viewable, measurable=measurable)
    return totals


def _breakdowns(
    session: Session,
    scope: Scope,
    plan: summaries.Plan,
    wanted: set[str],
    totals: Totals,
    top: int,
) -> Breakdowns:
    result: dict[str, Any] = {}
    if "domain" in wanted:
        rows = summaries.top_domains(session, scope=scope, plan=plan, top=top)
        result["domain"] = _value_rows(
            ((row["domain"] or None, _counts(row)) for row in rows), totals.loads, top
        )
    if "url" in wanted:
        urls: Sequence[Any] = (
            summaries.top_urls(session, scope=scope, plan=plan, top=top)
            if summaries.answers_urls(scope)
            else repository.top_urls(session, scope=scope, top=top)
        )
        result["url"] = _url_rows(urls, totals.impressions)
    if wanted & {"device", "country", "agent", "operator"}:
        traffic = summaries.traffic(session, scope=scope, plan=plan)
        result.update(_traffic_breakdowns(traffic, wanted, totals, top))
    return Breakdowns(**result)


def _url_rows(rows: Iterable[Any], impressions: int) -> list[UrlRow]:
    return [
        UrlRow(
            url=row["url"] or None,
            domain=row["domain"] or None,
            impressions=int(row["impressions"]),
            share=_share(int(row["impressions"]), impressions),
        )
        for row in rows
    ]


def _traffic_breakdowns(
    rows: Iterable[Any], wanted: set[str], totals: Totals, top: int
) -> dict[str, Any]:
    """Device, country, agent and operator breakdowns from loads by device, country, agent."""
    result: dict[str, Any] = {}
    rows = list(rows)
    for dimension, column in _TRAFFIC_DIMENSIONS.items():
        if dimension in wanted:
            sums = _triples(rows, column)
            groups = ((value or None, _named(counts)) for value, counts in sums.items())
            result[dimension] = _value_rows(groups, totals.loads, top)
    agents = _agents(_triples(rows, "agent"), totals.loads)
    if "agent" in wanted:
        result["agent"] = agents[:top]
    if "operator" in wanted:
        result["operator"] = _operators(agents, totals.loads)[:top]
    return result


def refresh_cache(
    *,
    session: Session,
    campaign_id: int,
    start: dt.date,
    end: dt.date,
    actual: Mapping[dt.date, int] | None = None,
) -> int:
    """Recompute the cached days of the range whose loads changed; returns how many.

    ``actual`` is the campaign's loads per day in site-days when the caller has read them.
    """
    if actual is None:
        actual = repository.site_day_loads(session, campaign_id=campaign_id, start=start, end=end)
    actual = {day: loads for day, loads in actual.items() if loads}
    cached = repository.cached_days(session, campaign_id=campaign_id, start=start, end=end)
    stale = sorted(
        {day for day, loads in actual.items() if cached.get(day) != loads}
        | {day for day, loads in cached.items() if loads and day not in actual}
    )
    if not stale:
        return 0
    rows = repository.full_grain_days(session, campaign_id=campaign_id, days=stale)
    loads: Counter[dt.date] = Counter({day: 0 for day in stale})
    for row in rows:
        loads[row["date"]] += int(row["hits"])
    shrunk = [day for day in stale if loads[day] < cached.get(day, 0)]
    repository.store_days(
        session, campaign_id=campaign_id, rows=rows, loads=dict(loads), replace=shrunk
    )
    return len(stale)


def _share(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def _triples(rows: Iterable[Any], column: str) -> dict[Any, list[int]]:
    """Human / bot / AI-agent loads summed per value of ``column`` (plain integers: a dashboard
    sums thousands of rows)."""
    sums: dict[Any, list[int]] = {}
    for row in rows:
        human, bot, ai_agent = int(row["human"]), int(row["bot"]), int(row["ai_agent"])
        found = sums.get(row[column])
        if found is None:
            sums[row[column]] = [human, bot, ai_agent]
        else:
            found[0] += human
            found[1] += bot
            found[2] += ai_agent
    return sums


def _named(triple: Sequence[int]) -> dict[str, int]:
    human, bot, ai_agent = triple
    return {"loads": human + bot + ai_agent, "human": human, "bot": bot, "ai_agent": ai_agent}


def _counts(row: Any) -> dict[str, int]:
    counts = {kind: int(row[kind]) for kind in _TRAFFIC}
    return {"loads": sum(counts.values()), **counts}


def _totals(by_day: Sequence[Any], misrepresented: int) -> Totals:
    counts = {kind: sum(int(row[kind]) for row in by_day) for kind in _TRAFFIC}
    loads = sum(counts.values())
    return Totals(
        loads=loads,
        **counts,
        impressions=counts["human"],
        shares=Shares(**{kind: _share(counts[kind], loads) for kind in _TRAFFIC}),
        misrepresented_impressions=misrepresented,
        misrepresented_share=_share(misrepresented, counts["human"]),
    )


def _series(scope: Scope, by_day: Iterable[RowMapping]) -> list[SeriesPoint]:
    """Every day of the range, zero-filled."""
    found = {row["date"]: _counts(row) for row in by_day}
    empty = {"loads": 0, **{kind: 0 for kind in _TRAFFIC}}
    days = (scope.end - scope.start).days + 1
    points = []
    for offset in range(days):
        day = scope.start + dt.timedelta(days=offset)
        points.append(SeriesPoint(period=day.isoformat(), **found.get(day, empty)))
    return points


def _value_rows(
    groups: Iterable[tuple[str | None, Mapping[str, int]]], total: int, top: int
) -> list[ValueRow]:
    kept = sorted(
        ((value, counts) for value, counts in groups if counts["loads"]),
        key=lambda item: (-item[1]["loads"], item[0] or ""),
    )
    return [
        ValueRow(value=value, share=_share(counts["loads"], total), **counts)
        for value, counts in kept[:top]
    ]


def _agents(by_agent: Mapping[str, list[int]], total: int) -> list[AgentRow]:
    """Every bot and AI agent with loads, largest first; unnamed bots are one row."""
    agents = []
    for agent, triple in by_agent.items():
        name = agent or None
        counts = _named(triple)
        for kind in ("ai_agent", "bot"):
            loads = counts[kind]
            if loads:
                operator, function = agent_details(name) if name else (None, None)
                agents.append(
                    AgentRow(
                        agent=name,
                        type=kind,
                        operator=operator,
                        function=function,
                        loads=loads,
                        share=_share(loads, total),
                    )
                )
    agents.sort(key=lambda a: (-a.loads, a.agent or "\uffff", a.type))
    return agents


def _operators(agents: Iterable[AgentRow], total: int) -> list[OperatorRow]:
    by_operator: defaultdict[str | None, Counter[str]] = defaultdict(Counter)
    names: defaultdict[str | None, set[str]] = defaultdict(set)
    for agent in agents:
        by_operator[agent.operator][agent.type] += agent.loads
        if agent.agent:
            names[agent.operator].add(agent.agent)
    operators = [
        OperatorRow(
            operator=operator,
            loads=counts["bot"] + counts["ai_agent"],
            bot=counts["bot"],
            ai_agent=counts["ai_agent"],
            agents=sorted(names[operator]),
            share=_share(counts["bot"] + counts["ai_agent"], total),
        )
        for operator, counts in by_operator.items()
    ]
    operators.sort(key=lambda o: (-o.loads, o.operator or "\uffff"))
    return operators


def _misrepresented(rows: Iterable[Any], impressions: int) -> list[MisrepresentedRow]:
    """Human loads where the declared site macro named another domain, per pair of domains."""
    pairs: Counter[tuple[str | None, str | None]] = Counter()
    declared: dict[str, str | None] = {}  # macro sets repeat across domains
    for row in rows:
        text = row["macros"]
        if text not in declared:
            declared[text] = site_macro_domain(orjson.loads(text) if text else {})
        pairs[(declared[text], row["domain"] or None)] += int(row["impressions"])
    ordered = sorted(pairs.items(), key=lambda item: (-item[1], item[0][0] or "", item[0][1] or ""))
    return [
        MisrepresentedRow(
            declared_domain=declared,
            observed_domain=observed,
            impressions=count,
            share=_share(count, impressions),
        )
        for (declared, observed), count in ordered
    ]
