"""Campaign stats for the API and the console: one function, the same numbers for both."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import RowMapping
from sqlalchemy.orm import Session

from beacon.pixel import service as campaign_service
from beacon.pixel.enrich import site_macro_domain
from beacon.pixel.reports.build import agent_details
from beacon.pixel.stats import repository
from beacon.pixel.stats.repository import Scope, Table
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
# Dimensions whose breakdown is grouped by these rollup columns.
_GROUPED = {"domain": "domain", "device": "device", "country": "geo"}


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
    if _reads_cache(scope, wanted):
        refresh_cache(session=session, campaign_id=campaign_id, start=scope.start, end=scope.end)
    by_day = repository.traffic(
        session, table=repository.table_for(scope, ["date"]), scope=scope, by=["date"]
    )
    totals = _totals(session, scope, by_day)
    breakdowns = _breakdowns(session, scope, wanted, totals, query.top)
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


def _reads_cache(scope: Scope, wanted: set[str]) -> bool:
    needs = [["date"]]
    needs += [[_GROUPED[d]] for d in ("device", "country") if d in wanted]
    if wanted & {"agent", "operator"}:
        needs.append(["agent", "traffic_type"])
    return any(repository.table_for(scope, dims) is Table.CACHE for dims in needs)


def refresh_cache(*, session: Session, campaign_id: int, start: dt.date, end: dt.date) -> int:
    """Recompute the cached days of the range whose loads changed; returns how many."""
    actual = repository.site_day_loads(session, campaign_id=campaign_id, start=start, end=end)
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


def _counts(row: RowMapping) -> dict[str, int]:
    counts = {kind: int(row[kind]) for kind in _TRAFFIC}
    return {"loads": sum(counts.values()), **counts}


def _totals(session: Session, scope: Scope, by_day: Sequence[RowMapping]) -> Totals:
    counts = {kind: sum(int(row[kind]) for row in by_day) for kind in _TRAFFIC}
    loads = sum(counts.values())
    table = _misrepresentation_table(scope)
    mis = repository.misrepresented_total(session, table=table, scope=scope)
    return Totals(
        loads=loads,
        **counts,
        impressions=counts["human"],
        shares=Shares(**{kind: _share(counts[kind], loads) for kind in _TRAFFIC}),
        misrepresented_impressions=mis,
        misrepresented_share=_share(mis, counts["human"]),
    )


def _misrepresentation_table(scope: Scope) -> Table:
    # Macro sets and the misrepresented flag are in site-days and the full grain only.
    table = repository.table_for(scope, ["domain"])
    return Table.FULL if table is Table.CACHE else table


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


def _breakdowns(
    session: Session, scope: Scope, wanted: set[str], totals: Totals, top: int
) -> Breakdowns:
    result: dict[str, Any] = {}
    for dimension, column in _GROUPED.items():
        if dimension in wanted:
            table = repository.table_for(scope, [column])
            rows = repository.traffic(session, table=table, scope=scope, by=[column], top=top)
            result[dimension] = [
                ValueRow(
                    value=row[column] or None,
                    share=_share(_counts(row)["loads"], totals.loads),
                    **_counts(row),
                )
                for row in rows
            ]
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
    if wanted & {"agent", "operator"}:
        agents = _agents(session, scope, totals.loads)
        if "agent" in wanted:
            result["agent"] = agents[:top]
        if "operator" in wanted:
            result["operator"] = _operators(agents, totals.loads)[:top]
    if "misrepresented" in wanted:
        result["misrepresented"] = _misrepresented(session, scope, totals.impressions)[:top]
    return Breakdowns(**result)


def _agents(session: Session, scope: Scope, total: int) -> list[AgentRow]:
    """Every bot and AI agent with loads, largest first; unnamed bots are one row."""
    table = repository.table_for(scope, ["agent", "traffic_type"])
    rows = repository.traffic(session, table=table, scope=scope, by=["agent"])
    agents = []
    for row in rows:
        bot, ai_agent = int(row["bot"]), int(row["ai_agent"])
        if not bot + ai_agent:
            continue
        name = row["agent"] or None
        for kind, loads in (("ai_agent", ai_agent), ("bot", bot)):
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


def _misrepresented(session: Session, scope: Scope, impressions: int) -> list[MisrepresentedRow]:
    """Human loads where the declared site macro named another domain, per pair of domains."""
    rows = repository.misrepresented(session, table=_misrepresentation_table(scope), scope=scope)
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
