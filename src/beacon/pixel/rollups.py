"""The write side of pixel rollups: batched atomic increments, safe across processes.

A flush writes the full grain (`PixelRollup`) and, in the same transaction, the report-grain
rollups that sum it over fewer dimensions (`PixelSiteDay`, `PixelUrlDay`, `PixelUrlMonth`):
the counts are summed per coarse key in Python first, so each extra table costs one more
batch of upserts of far fewer rows. Reports pick the smallest table that answers them exactly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from functools import lru_cache
from typing import NamedTuple

import orjson
from sqlalchemy import Table
from sqlalchemy.orm import Session

from beacon.core.timefmt import utcnow
from beacon.pixel import repository
from beacon.pixel.models import PixelRollup, PixelSiteDay, PixelUrlDay, PixelUrlMonth
from beacon.pixel.upserts import add_rows

_TRAFFIC_MEASURES = ("human", "bot", "ai_agent")


class RollupKey(NamedTuple):
    """One combination of dimensions a hit is counted under.

    A plain tuple: the flusher counts hits per key, so one is built per hit, and tuples are
    the cheapest keys to build, hash and compare."""

    campaign_id: int
    date: dt.date
    domain: str = ""
    url: str = ""
    device: str = ""
    geo: str = ""
    traffic_type: str = "human"
    agent: str = ""
    macros: str = ""  # canonical JSON (sorted keys) or '' when the hit carried none
    misrepresented: bool = False
    ivt_reason: str = ""  # why a non-human hit is invalid (agents.IVT_REASONS); '' for humans

    @property
    def dims_hash(self) -> str:
        """Stable identity of the dimension values within a campaign."""
        return _dims_hash(self)


def canonical_macros(macros: Mapping[str, str]) -> str:
    """Macros as sorted-key JSON, or '' when there are none."""
    return orjson.dumps(dict(sorted(macros.items()))).decode() if macros else ""


def coarse_hash(*parts: str) -> str:
    """Identity of a report-grain rollup row within its campaign.

    md5 of the values joined by U+001F: the migration that back-fills these tables computes
    the same in SQL (PostgreSQL's ``md5()``), so increments land on back-filled rows.
    """
    return hashlib.md5("\x1f".join(parts).encode(), usedforsecurity=False).hexdigest()


def increment(session: Session, counts: Mapping[RollupKey, int]) -> None:
    """Add ``counts`` to every rollup table: one batched upsert per table (``upserts``).

    One pass over the keys builds the full-grain rows and sums the site-day and URL-day
    grains; the URL-month grain re-keys the URL-days."""
    now = utcnow()
    rows: list[tuple[object, ...]] = []
    site_days: dict[_SiteGrain, list[int]] = {}
    url_days: dict[_UrlGrain, int] = {}
    for key, hits in counts.items():
        if not hits:
            continue
        (campaign_id, day, domain, url, device, geo, traffic_type, agent, macros,
         misrepresented, reason) = key  # fmt: skip
        dims_hash = _dims_hash(key)
        domain = domain[:255]
        rows.append(
            (campaign_id, day, dims_hash, domain, url, device, geo, traffic_type, agent[:100],
             macros, misrepresented, reason, hits, now)
        )  # fmt: skip
        index = _MEASURE_INDEX.get(traffic_type)
        if index is None:
            continue  # other types count in no report measure
        site = (campaign_id, day, domain, macros, misrepresented)
        by_type = site_days.get(site)
        if by_type is None:
            by_type = site_days[site] = [0, 0, 0]
        by_type[index] += hits
        if index == 0:  # human loads only: campaign reports count nothing else per URL
            page = (campaign_id, day, domain, url, macros, misrepresented)
            url_days[page] = url_days.get(page, 0) + hits
    if not rows:
        return
    repository.hold_rollup_writes(session)
    add_rows(session, _table(PixelRollup), _ROLLUP_COLUMNS, rows, measures=("hits",),
             touched=("last_hit_at",))  # fmt: skip
    add_rows(session, _table(PixelSiteDay), _SITE_COLUMNS, _site_rows(site_days),
             measures=_TRAFFIC_MEASURES)  # fmt: skip
    add_rows(session, _table(PixelUrlDay), _url_columns("date"), _url_rows(url_days),
             measures=("human",))  # fmt: skip
    add_rows(session, _table(PixelUrlMonth), _url_columns("month"),
             _url_rows(_url_months(url_days)), measures=("human",))  # fmt: skip


def _table(model: type[object]) -> Table:
    return model.__table__  # type: ignore[attr-defined]


# A flush covers a day or two: each day's ISO form is built once, not once per row.
_isoformat = lru_cache(maxsize=64)(dt.date.isoformat)

_MEASURE_INDEX = {measure: i for i, measure in enumerate(_TRAFFIC_MEASURES)}
_FLAG = {False: "0", True: "1"}
_ROLLUP_COLUMNS = (
    "campaign_id", "date", "dims_hash", "domain", "url", "device", "geo", "traffic_type",
    "agent", "macros", "misrepresented", "ivt_reason", "hits", "last_hit_at",
)  # fmt: skip
_SITE_COLUMNS = (
    "campaign_id", "date", "dims_hash", "domain", "macros", "misrepresented",
    *_TRAFFIC_MEASURES,
)  # fmt: skip

_SiteGrain = tuple[int, dt.date, str, str, bool]
_UrlGrain = tuple[int, dt.date, str, str, str, bool]


def _dims_hash(key: RollupKey) -> str:
    _, day, domain, url, device, geo, traffic_type, agent, macros, misrepresented, reason = key
    parts: tuple[str, ...] = (_isoformat(day), domain, url, device, geo, traffic_type, agent,
                              macros, _FLAG[misrepresented])  # fmt: skip
    if reason:  # appended only when set, so rows written before it keep their hash
        parts = (*parts, reason)
    return hashlib.sha1("\x1f".join(parts).encode(), usedforsecurity=False).hexdigest()


def _site_rows(totals: dict[_SiteGrain, list[int]]) -> list[tuple[object, ...]]:
    return [
        (campaign_id, day, coarse_hash(_isoformat(day), domain, macros, _FLAG[misrepresented]),
         domain, macros, misrepresented, human, bot, ai_agent)
        for (campaign_id, day, domain, macros, misrepresented), (human, bot, ai_agent) in (
            totals.items()
        )
    ]  # fmt: skip


@lru_cache(maxsize=2)
def _url_columns(day_column: str) -> tuple[str, ...]:
    return ("campaign_id", day_column, "dims_hash", "domain", "url", "macros", "misrepresented",
            "human")  # fmt: skip


def _url_months(url_days: dict[_UrlGrain, int]) -> dict[_UrlGrain, int]:
    # The month grain sums the day grain: re-keyed, not recounted from every hit's key.
    totals: dict[_UrlGrain, int] = {}
    for (campaign_id, day, domain, url, macros, misrepresented), hits in url_days.items():
        month = (campaign_id, day.replace(day=1), domain, url, macros, misrepresented)
        totals[month] = totals.get(month, 0) + hits
    return totals


def _url_rows(totals: dict[_UrlGrain, int]) -> list[tuple[object, ...]]:
    return [
        (campaign_id, day,
         coarse_hash(_isoformat(day), domain, url, macros, _FLAG[misrepresented]),
         domain, url, macros, misrepresented, hits)
        for (campaign_id, day, domain, url, macros, misrepresented), hits in totals.items()
    ]  # fmt: skip
