"""Campaign stats from the folded summaries: which rows answer a range, and the exact top URLs.

A range is planned (`plan`) from which days are folded, in one of two ways, whichever reads
fewer row sets: *by months* (a month with folded days is read from its month rows when that is
cheaper than its days, minus its folded days outside the range) or *from the whole campaign*
(its ``whole`` rows minus the folded months and days outside the range). Either way the days
of the range not folded yet (today, or a day the job has not reached) are added day by day.
Sums are integers, so whole minus months minus days is exact. The queries are
`summary_repository`'s; this module only decides what they add and subtract. A domain filter
reads the domain rows (series, devices, countries, agents) and the site and URL rows of its
domains. The URL rows keep no device × country level, so top URLs under both a device and a
country filter are not answered here (`answers_urls`): the stats service reads them from the
daily tables.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.orm import Session

from beacon.pixel.stats import fold_repository
from beacon.pixel.stats import summary_repository as repository
from beacon.pixel.stats.fold_repository import month_of
from beacon.pixel.stats.models import ALL, MONTH, WHOLE, WHOLE_PERIOD, PixelStatsTraffic
from beacon.pixel.stats.repository import Scope
from beacon.pixel.stats.summary_repository import Part, UrlTotals

# Top URLs: how many URLs each row set is asked for at first (times the top asked), how far
# that may grow before the answer sums every URL of the scope instead.
_URL_DEPTH, _URL_MIN_DEPTH, _URL_MAX_DEPTH, _URL_MAX_CELLS = 4, 40, 10_240, 12
# A month is read from its month rows when the days to add and subtract are fewer than its
# days in the range by this margin (a month row set costs about as much as a few days).
_MONTH_MARGIN = 2
# What a row set (a month's or the whole campaign's) costs in days, to choose a plan.
_ROW_SET_COST = 3


def reads_cache(scope: Scope, plan: Plan) -> bool:
    """Whether the request reads the stats cache (the agents of its days not folded yet), which
    the caller then refreshes first."""
    return bool(plan.open) and repository.open_day_source(scope) is PixelStatsTraffic


def answers_urls(scope: Scope) -> bool:
    """Whether the URL rows answer ``scope``'s top URLs (not under device and country both)."""
    return not (scope.devices and scope.countries)


@dataclass
class Plan:
    """How a range is read: summary row sets, days subtracted from them, days read as days."""

    whole: bool = False  # the whole rows, added
    months: list[dt.date] = field(default_factory=list)  # month rows added
    minus_months: list[dt.date] = field(default_factory=list)  # month rows subtracted
    minus: list[dt.date] = field(default_factory=list)  # folded days outside the range
    folded: list[dt.date] = field(default_factory=list)  # folded days of the range
    by_day: list[dt.date] = field(default_factory=list)  # folded days not read from a month
    open: list[dt.date] = field(default_factory=list)  # days of the range not folded

    @property
    def added_days(self) -> list[dt.date]:
        """Days of the range whose site and URL rows are read day by day."""
        return sorted(self.by_day + self.open)

    @property
    def added(self) -> list[Part]:
        """The summary row sets added."""
        parts = [Part(WHOLE, (WHOLE_PERIOD,))] if self.whole else []
        return parts + ([Part(MONTH, tuple(self.months))] if self.months else [])

    @property
    def summary(self) -> list[Part]:
        """Every summary row set read, with its sign."""
        subtracted = [Part(MONTH, tuple(self.minus_months), -1)] if self.minus_months else []
        return self.added + subtracted

    def cost(self) -> int:
        """About how many days' worth of rows the plan reads."""
        row_sets = int(self.whole) + len(self.months) + len(self.minus_months)
        return _ROW_SET_COST * row_sets + len(self.minus) + len(self.by_day)


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def _month_end(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)


def _months(first: dt.date, last: dt.date) -> list[dt.date]:
    months, month = [], month_of(first)
    while month <= last:
        months.append(month)
        month = _month_end(month) + dt.timedelta(days=1)
    return months


def plan(session: Session, scope: Scope) -> Plan:
    """The cheapest exact reading of the scope's range given which days are folded."""
    marks = set(fold_repository.folded(session, campaign_id=scope.campaign_id))
    by_months = _by_months(scope, marks)
    if not marks:
        return by_months
    whole = _from_whole(scope, marks)
    return whole if whole.cost() < by_months.cost() else by_months


def _by_months(scope: Scope, marks: Collection[dt.date]) -> Plan:
    result = Plan()
    for month in _months(scope.start, scope.end):
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
    return result


def _from_whole(scope: Scope, marks: Collection[dt.date]) -> Plan:
    """The whole rows minus every folded month or day outside the range."""
    result = Plan(whole=True)
    first, last = min(min(marks), scope.start), max(max(marks), scope.end)
    for month in _months(first, last):
        days = _days(month, _month_end(month))
        inside = [day for day in days if scope.start <= day <= scope.end]
        folded = [day for day in days if day in marks]
        kept = [day for day in inside if day in marks]
        outside = [day for day in folded if day not in inside]
        result.folded += kept
        result.open += [day for day in inside if day not in marks]
        if not folded:
            continue
        if not kept:
            result.minus_months.append(month)
        elif len(outside) <= _ROW_SET_COST + len(kept):
            result.minus += outside
        else:
            result.minus_months.append(month)
            result.by_day += kept
    return result


def series(session: Session, *, scope: Scope, plan: Plan) -> list[RowMapping]:
    """Human / bot / AI-agent loads per day (``date``) of the range."""
    return repository.series(session, scope=scope, folded=plan.folded, open_days=plan.open)


def traffic(session: Session, *, scope: Scope, plan: Plan) -> list[RowMapping]:
    """Loads by traffic type per device, country and agent of the range."""
    return repository.traffic(
        session,
        scope=scope,
        summary=plan.summary,
        days=[(plan.minus, -1), (plan.by_day, 1)],
        open_days=plan.open,
    )


def sites(
    session: Session, *, scope: Scope, plan: Plan, misrepresented_only: bool = False
) -> list[RowMapping]:
    """Human / bot / AI-agent loads per domain, macro set and misrepresented flag (of the
    misrepresented rows only, if asked)."""
    return repository.sites(
        session,
        scope=scope,
        summary=plan.summary,
        days=[(plan.minus, -1), (plan.added_days, 1)],
        misrepresented_only=misrepresented_only,
    )


def top_domains(session: Session, *, scope: Scope, plan: Plan, top: int) -> list[RowMapping]:
    """The ``top`` domains with the most loads, with their human / bot / AI-agent loads."""
    return repository.top_domains(
        session,
        scope=scope,
        summary=plan.summary,
        days=[(plan.minus, -1), (plan.added_days, 1)],
        top=top,
    )


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
        keys += repository.collated(session, by_loads[n])
    return keys[:top]


# --- Top URLs ----------------------------------------------------------------------------------


def top_urls(session: Session, *, scope: Scope, plan: Plan, top: int) -> list[dict[str, Any]]:
    """The ``top`` URLs with the most human loads (largest first, then by URL), exactly.

    A threshold query over sorted URL lists: each row set added (the whole campaign's, or a
    month's) and filtered device / country value lists its ``depth`` largest URLs (an index
    range); a URL none lists has, in each, at most the last one listed there, so at most their
    sum (``bound``) in all, plus what the days read as days add (their ``depth``-th largest
    URL; those days' URLs are summed in full). Months and days subtracted only lower a total.
    The candidates' exact loads are summed; once the ``top``-th is above ``bound`` no other URL
    can be in the answer. Otherwise the lists deepen, and past ``_URL_MAX_DEPTH`` (or with too
    many lists) every URL is summed, as under a domain filter (its domains' URLs, by index).
    """
    added = repository.url_days(session, scope=scope, days=plan.added_days)
    if scope.domains:
        return _ranked(session, _all_urls(session, scope, plan, added), top)
    cells = [
        (part.span, period, device, geo)
        for part in plan.added
        for period in part.periods
        for device in scope.devices or (ALL,)
        for geo in scope.countries or (ALL,)
    ]
    if len(cells) > _URL_MAX_CELLS:
        return _ranked(session, _all_urls(session, scope, plan, added), top)
    by_added = sorted(added.items(), key=lambda item: -item[1][0])
    depth = max(_URL_DEPTH * top, _URL_MIN_DEPTH)
    while depth <= _URL_MAX_DEPTH:
        hashes: set[str] = set()
        bound = 0
        for span, period, device, geo in cells:
            listed = repository.url_list(
                session, scope=scope, span=span, period=period, device=device, geo=geo, depth=depth
            )
            hashes.update(url_hash for url_hash, _ in listed)
            if len(listed) == depth:
                bound += listed[-1][1]
        top_added = by_added[:depth]
        if len(by_added) > depth:
            bound += top_added[-1][1][0]
        # A URL of the days added counts its rows of the summaries too.
        hashes.update(repository.url_hash(url) for url, _ in top_added)
        totals = _summary_totals(session, scope, plan, sorted(hashes))
        for url, (_, domain) in top_added:
            totals.setdefault(url, (0, domain))
        rows = _ranked(session, _merged(totals, added, {}, only_known=True), top)
        if bound == 0 or (len(rows) >= top and int(rows[top - 1]["impressions"]) > bound):
            return rows
        depth *= 4
    return _ranked(session, _all_urls(session, scope, plan, added), top)


def _summary_totals(
    session: Session, scope: Scope, plan: Plan, hashes: list[str] | None
) -> UrlTotals:
    """Human loads per URL (of ``hashes``, if given) of the summary row sets minus the days
    subtracted (the days added are not in)."""
    totals: UrlTotals = {}
    removed: UrlTotals = {}
    for part in plan.summary:
        found = repository.url_summary(session, scope=scope, part=part, hashes=hashes)
        totals = _merged(totals, found, {}, only_known=False) if part.sign > 0 else totals
        removed = _merged(removed, found, {}, only_known=False) if part.sign < 0 else removed
    urls = None if hashes is None else sorted(totals)
    removed = _merged(
        removed,
        repository.url_days(session, scope=scope, days=plan.minus, urls=urls),
        {},
        only_known=False,
    )
    return _merged(totals, {}, removed, only_known=True)


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
    totals = _summary_totals(session, scope, plan, None)
    return _merged(totals, added, {}, only_known=False)


def _ranked(session: Session, totals: UrlTotals, top: int) -> list[dict[str, Any]]:
    """URL rows with loads, largest first, then by URL in the database's collation."""
    loads = {url: n for url, (n, _) in totals.items()}
    urls = top_keys(session, loads, top)
    return [{"url": u, "domain": totals[u][1], "impressions": loads[u]} for u in urls]
