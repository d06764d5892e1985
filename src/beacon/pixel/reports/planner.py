"""Which rollup table answers which part of a campaign report, exactly.

The full grain (`PixelRollup`: day, domain, URL, device, country, traffic type, agent, macro
set) answers everything but is the largest table by far. The report-grain rollups sum it over
fewer dimensions (`beacon.pixel.rollups`), so a report whose dimensions and filters they keep
gets identical numbers from far fewer rows:

- site-days (day, domain, macro set; human/bot/AI-agent loads): rows by ``date`` and/or
  ``domain``, and the summary's totals and ``unique_domains``;
- URL-days (day, domain, URL, macro set; human loads): rows with ``url`` and ``date``;
- URL periods: URL-months for the calendar months the range covers whole, URL-days for the
  days at its edges: rows with ``url`` but no ``date``, and the summary's ``unique_urls``.

Filters other than ``domains`` (devices, countries, and ``brand_safety_max_risk``, which keeps
page URLs and so must see every load's URL, bots' included) and the ``device``/``geo``
dimensions need the full grain for the whole report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import StrEnum

COARSE_DIMENSIONS = frozenset({"date", "domain", "url"})
COARSE_FILTERS = frozenset({"domains"})


class Grain(StrEnum):
    """A rollup table (or, for URL periods, a month/day union) a report part reads."""

    FULL = "full"
    SITE_DAYS = "site_days"
    URL_DAYS = "url_days"
    URL_PERIODS = "url_periods"


@dataclass(frozen=True)
class CampaignPlan:
    """Where a campaign report's rows, totals and unique URL count come from."""

    rows: Grain
    totals: Grain  # impressions, invalid traffic, misrepresented impressions, unique domains
    unique_urls: Grain


FULL_GRAIN = CampaignPlan(Grain.FULL, Grain.FULL, Grain.FULL)


def plan_campaign(dimensions: Collection[str], filters: Iterable[str]) -> CampaignPlan:
    """The smallest tables that answer a campaign report with these dimensions and filters."""
    if not set(dimensions) <= COARSE_DIMENSIONS or not set(filters) <= COARSE_FILTERS:
        return FULL_GRAIN
    if "url" not in dimensions:
        rows = Grain.SITE_DAYS
    else:
        rows = Grain.URL_DAYS if "date" in dimensions else Grain.URL_PERIODS
    return CampaignPlan(rows, Grain.SITE_DAYS, Grain.URL_PERIODS)


@dataclass(frozen=True)
class Periods:
    """A date range as whole calendar months (their first days) and day ranges.

    The range's loads are those of ``months`` plus those of the ``days`` ranges minus those of
    the ``excluded`` ranges: an edge month mostly inside the range is read whole and its days
    outside subtracted, so at most about half of each edge month is ever read day by day.
    """

    months: tuple[dt.date, ...]
    days: tuple[tuple[dt.date, dt.date], ...]
    excluded: tuple[tuple[dt.date, dt.date], ...] = ()


def split_periods(start: dt.date, end: dt.date) -> Periods:
    """Cover ``start`` .. ``end`` (inclusive) with months, added days and subtracted days."""
    if start > end:
        raise ValueError(f"empty range {start} .. {end}")
    months: list[dt.date] = []
    days: list[tuple[dt.date, dt.date]] = []
    excluded: list[tuple[dt.date, dt.date]] = []
    month = start.replace(day=1)
    while month <= end:
        last = _next_month(month) - dt.timedelta(days=1)
        first_in, last_in = max(month, start), min(last, end)
        outside = [
            (month, first_in - dt.timedelta(days=1)),
            (last_in + dt.timedelta(days=1), last),
        ]
        outside = [(a, b) for a, b in outside if a <= b]
        inside_days = (last_in - first_in).days + 1
        outside_days = sum((b - a).days + 1 for a, b in outside)
        if outside_days < inside_days:
            months.append(month)
            excluded += outside
        else:
            days.append((first_in, last_in))
        month = _next_month(month)
    return Periods(tuple(months), tuple(days), tuple(excluded))


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
