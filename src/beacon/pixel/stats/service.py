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
from beacon.pixel.stats import repository
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
# Breakdowns answered by one grouping of the agent summaries (or the full grain under a domain
# filter): device, country and agent, summed in Python from at most ~1,600 groups a period.
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
    by_day = repository.series(session, scope=scope)
    site_rows = repository.sites(session, scope=scope)
    mis_rows = [
        {"domain": row["domain"], "macros": row["macros"], "impressions": row["human"]}
        for row in site_rows
        if row["misrepresented"] and row["human"]
    ]
    totals = _totals(by_day, sum(int(row["impressions"]) for row in mis_rows))
    measurable, viewable = repository.viewability(session, scope=scope)
    totals.measurable_impressions, totals.viewable_impressions = measurable, viewable
    totals.viewability_rate = viewability.rate(viewable=viewable, measurable=measurable)
    breakdowns = _breakdowns(session, scope, wanted, totals, query.top, site_rows)
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


def _share(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def _counts(row: Any) -> dict[str, int]:
    counts = {kind: int(row[kind]) for kind in _TRAFFIC}
    return {"loads": sum(counts.values()), **counts}


def _totals(by_day: Sequence[RowMapping], misrepresented: int) -> Totals:
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
    rows = [
        ValueRow(value=value, share=_share(counts["loads"], total), **counts)
        for value, counts in groups
        if counts["loads"]
    ]
    rows.sort(key=lambda r: (-r.loads, r.value or ""))
    return rows[:top]


def _breakdowns(
    session: Session,
    scope: Scope,
    wanted: set[str],
    totals: Totals,
    top: int,
    site_rows: Sequence[RowMapping],
) -> Breakdowns:
    result: dict[str, Any] = {}
    if "domain" in wanted:
        by_domain = _sum_by(site_rows, "domain")
        domains = repository.top_keys(
            session, {domain: counts["loads"] for domain, counts in by_domain.items()}, top
        )
        result["domain"] = _value_rows(
            ((domain or None, by_domain[domain]) for domain in domains), totals.loads, top
        )
    if "url" in wanted:
        result["url"] = [
            UrlRow(
                url=row["url"] or None,
                domain=row["domain"] or None,
                impressions=int(row["impressions"]),
                share=_share(int(row["impressions"]), totals.impressions),
            )
            for row in repository.top_urls(session, scope=scope, top=top)
        ]
    if wanted & {"device", "country", "agent", "operator"}:
        dims = ["device", "geo", "agent"]
        rows = repository.traffic(session, scope=scope, by=dims)
        for dimension, column in _TRAFFIC_DIMENSIONS.items():
            if dimension in wanted:
                sums = _sum_by(rows, column)
                result[dimension] = _value_rows(
                    ((value or None, counts) for value, counts in sums.items()), totals.loads, top
                )
        agents = _agents(_sum_by(rows, "agent"), totals.loads)
        if "agent" in wanted:
            result["agent"] = agents[:top]
        if "operator" in wanted:
            result["operator"] = _operators(agents, totals.loads)[:top]
    return Breakdowns(**result)


def _sum_by(rows: Iterable[RowMapping], column: str) -> dict[Any, dict[str, int]]:
    """Loads and loads by traffic type of ``rows`` summed per value of ``column``."""
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
    return {
        value: {"loads": h + b + a, "human": h, "bot": b, "ai_agent": a}
        for value, (h, b, a) in sums.items()
    }


def _agents(by_agent: Mapping[str, Mapping[str, int]], total: int) -> list[AgentRow]:
    """Every bot and AI agent with loads, largest first; unnamed bots are one row."""
    agents = []
    for agent, counts in by_agent.items():
        name = agent or None
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


def _misrepresented(rows: Iterable[Mapping[str, Any]], impressions: int) -> list[MisrepresentedRow]:
    """Human loads where the declared site macro named another domain, per pair of domains."""
    pairs: Counter[tuple[str | None, str | None]] = Counter()
    for row in rows:
        macros = orjson.loads(row["macros"]) if row["macros"] else {}
        pairs[(site_macro_domain(macros), row["domain"] or None)] += int(row["impressions"])
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
