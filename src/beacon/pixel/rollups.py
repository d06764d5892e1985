"""The write side of pixel rollups: batched atomic increments, safe across processes.

A flush writes the full grain (`PixelRollup`) and, in the same transaction, the report-grain
rollups that sum it over fewer dimensions (`PixelSiteDay`, `PixelUrlDay`, `PixelUrlMonth`):
the counts are summed per coarse key in Python first, so each extra table costs one more
batch of upserts of far fewer rows. Reports pick the smallest table that answers them exactly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import orjson
from sqlalchemy import Table
from sqlalchemy.orm import Session

from beacon.core.timefmt import utcnow
from beacon.pixel.models import PixelRollup, PixelSiteDay, PixelUrlDay, PixelUrlMonth
from beacon.pixel.upserts import add_rows

_TRAFFIC_MEASURES = ("human", "bot", "ai_agent")


@dataclass(frozen=True)
class RollupKey:
    """One combination of dimensions a hit is counted under."""

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
        parts: tuple[str, ...] = (
            _isoformat(self.date), self.domain, self.url, self.device, self.geo,
            self.traffic_type, self.agent, self.macros, "1" if self.misrepresented else "0",
        )  # fmt: skip
        if self.ivt_reason:  # appended only when set, so rows written before it keep their hash
            parts = (*parts, self.ivt_reason)
        return hashlib.sha1("\x1f".join(parts).encode(), usedforsecurity=False).hexdigest()


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
    """Add ``counts`` to every rollup table: one batched upsert per table (``upserts``)."""
    counts = {key: hits for key, hits in counts.items() if hits}
    if not counts:
        return
    now = utcnow()
    rows = [_row(key, hits, now) for key, hits in counts.items()]
    add_rows(session, _table(PixelRollup), rows, measures=("hits",), touched=("last_hit_at",))
    add_rows(session, _table(PixelSiteDay), _site_days(counts), measures=_TRAFFIC_MEASURES)
    url_days = _url_days(counts)
    add_rows(session, _table(PixelUrlDay), _url_rows(url_days, "date"), measures=("human",))
    url_months = _url_months(url_days)
    add_rows(session, _table(PixelUrlMonth), _url_rows(url_months, "month"), measures=("human",))


def _table(model: type[object]) -> Table:
    return model.__table__  # type: ignore[attr-defined]


def _flag(value: bool) -> str:
    return "1" if value else "0"


# A flush covers a day or two: each day's ISO form is built once, not once per row.
_isoformat = lru_cache(maxsize=64)(dt.date.isoformat)

_SiteGrain = tuple[int, dt.date, str, str, bool]
_UrlGrain = tuple[int, dt.date, str, str, str, bool]


def _site_days(counts: Mapping[RollupKey, int]) -> list[dict[str, object]]:
    # One [human, bot, ai_agent] list per site-day: cheaper than a Counter per grain.
    totals: dict[_SiteGrain, list[int]] = {}
    measure_index = {measure: i for i, measure in enumerate(_TRAFFIC_MEASURES)}
    for key, hits in counts.items():
        index = measure_index.get(key.traffic_type)
        if index is not None:  # other types count in no report measure
            grain = (key.campaign_id, key.date, key.domain[:255], key.macros, key.misrepresented)
            by_type = totals.get(grain)
            if by_type is None:
                by_type = totals[grain] = [0, 0, 0]
            by_type[index] += hits
    return [
        {
            "campaign_id": campaign_id,
            "date": day,
            "dims_hash": coarse_hash(_isoformat(day), domain, macros, _flag(misrepresented)),
            "domain": domain,
            "macros": macros,
            "misrepresented": misrepresented,
            "human": human,
            "bot": bot,
            "ai_agent": ai_agent,
        }
        for (campaign_id, day, domain, macros, misrepresented), (human, bot, ai_agent) in (
            totals.items()
        )
    ]


def _url_days(counts: Mapping[RollupKey, int]) -> Counter[_UrlGrain]:
    # Human loads only: campaign reports count nothing else per URL.
    totals: Counter[_UrlGrain] = Counter()
    for key, hits in counts.items():
        if key.traffic_type == "human":
            grain = (key.campaign_id, key.date, key.domain[:255], key.url, key.macros,
                     key.misrepresented)  # fmt: skip
            totals[grain] += hits
    return totals


def _url_months(url_days: Counter[_UrlGrain]) -> Counter[_UrlGrain]:
    # The month grain sums the day grain: re-keyed, not recounted from every hit's key.
    totals: Counter[_UrlGrain] = Counter()
    for (campaign_id, day, domain, url, macros, misrepresented), hits in url_days.items():
        totals[(campaign_id, day.replace(day=1), domain, url, macros, misrepresented)] += hits
    return totals


def _url_rows(totals: Counter[_UrlGrain], day_column: str) -> list[dict[str, object]]:
    return [
        {
            "campaign_id": campaign_id,
            day_column: day,
            "dims_hash": coarse_hash(_isoformat(day), domain, url, macros, _flag(misrepresented)),
            "domain": domain,
            "url": url,
            "macros": macros,
            "misrepresented": misrepresented,
            "human": hits,
        }
        for (campaign_id, day, domain, url, macros, misrepresented), hits in totals.items()
    ]


def _row(key: RollupKey, hits: int, now: dt.datetime) -> dict[str, object]:
    return {
        "campaign_id": key.campaign_id,
        "date": key.date,
        "dims_hash": key.dims_hash,
        "domain": key.domain[:255],
        "url": key.url,
        "device": key.device,
        "geo": key.geo,
        "traffic_type": key.traffic_type,
        "agent": key.agent[:100],
        "macros": key.macros,
        "misrepresented": key.misrepresented,
        "ivt_reason": key.ivt_reason,
        "hits": hits,
        "last_hit_at": now,
    }
