"""The rows a flush adds to the stats summaries (`stats.models`), from its rollup counts.

Called by `rollups.increment` in the flush's transaction, right after the daily rollups, with
the same counts: every key is summed per month at its four device / country levels (agents
also per day at every level, URLs also per day over every device and country), in Python
first, so each table costs one batched upsert of fewer rows than the full grain.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from beacon.pixel.stats.models import ALL, DAY, MONTH

if TYPE_CHECKING:
    from beacon.pixel.rollups import RollupKey

TRAFFIC_TYPES = ("human", "bot", "ai_agent")
Row = dict[str, object]


def md5(*parts: str) -> str:
    """md5 of the parts joined by U+001F (the back-fill computes the same in SQL)."""
    return hashlib.md5("\x1f".join(parts).encode(), usedforsecurity=False).hexdigest()


def cells(
    day: dt.date, device: str, geo: str, *, daily: bool
) -> Iterator[tuple[str, dt.date, str, str]]:
    """(span, period, device, geo) of the summary rows a key of ``day`` counts in: its month
    at every level, and with ``daily`` its day at every level."""
    spans = ((DAY, day), (MONTH, day.replace(day=1))) if daily else ((MONTH, day.replace(day=1)),)
    for span, period in spans:
        for level_device in (device, ALL):
            for level_geo in (geo, ALL):
                yield span, period, level_device, level_geo


def agent_rows(counts: Mapping[RollupKey, int]) -> list[Row]:
    """`pixel_stats_agents` increments."""
    totals: Counter[tuple[int, str, dt.date, str, str, str, str]] = Counter()
    for key, hits in counts.items():
        if key.traffic_type in TRAFFIC_TYPES:
            for cell in cells(key.date, key.device, key.geo, daily=True):
                totals[(key.campaign_id, *cell, key.traffic_type, key.agent[:100])] += hits
    names = ("campaign_id", "span", "period", "device", "geo", "traffic_type", "agent")
    return [{**dict(zip(names, k, strict=True)), "hits": n} for k, n in totals.items()]


def site_rows(counts: Mapping[RollupKey, int]) -> list[Row]:
    """`pixel_stats_sites` increments."""
    totals: defaultdict[tuple[int, str, dt.date, str, str, str, str, bool], Counter[str]]
    totals = defaultdict(Counter)
    for key, hits in counts.items():
        if key.traffic_type in TRAFFIC_TYPES:
            site = (key.domain[:255], key.macros, key.misrepresented)
            for cell in cells(key.date, key.device, key.geo, daily=False):
                totals[(key.campaign_id, *cell, *site)][key.traffic_type] += hits
    rows: list[Row] = []
    for (campaign_id, span, period, device, geo, domain, macros, flag), by_type in totals.items():
        rows.append(
            {
                "campaign_id": campaign_id,
                "span": span,
                "period": period,
                "device": device,
                "geo": geo,
                "dims_hash": md5(
                    span, period.isoformat(), device, geo, domain, macros, "1" if flag else "0"
                ),
                "domain": domain,
                "macros": macros,
                "misrepresented": flag,
                **{kind: by_type[kind] for kind in TRAFFIC_TYPES},
            }
        )
    return rows


def url_rows(counts: Mapping[RollupKey, int]) -> list[Row]:
    """`pixel_stats_urls` increments (human loads only, as every URL breakdown counts)."""
    totals: Counter[tuple[int, str, dt.date, str, str, str, str]] = Counter()
    for key, hits in counts.items():
        if key.traffic_type == "human":
            page = (key.url, key.domain[:255])
            for cell in cells(key.date, key.device, key.geo, daily=False):
                totals[(key.campaign_id, *cell, *page)] += hits
            # Days only summed over every device and country: the unfiltered top URLs of a
            # partial month (filtered ones read those days from the full grain).
            totals[(key.campaign_id, DAY, key.date, ALL, ALL, *page)] += hits
    return [
        {
            "campaign_id": campaign_id,
            "span": span,
            "period": period,
            "device": device,
            "geo": geo,
            "dims_hash": md5(span, period.isoformat(), device, geo, url, domain),
            "url": url,
            "url_hash": md5(url),
            "domain": domain,
            "human": hits,
        }
        for (campaign_id, span, period, device, geo, url, domain), hits in totals.items()
    ]
