"""Enrichment of spool records (`records.py`) into rollup keys, off the request path.

`HitEnricher.count_key` turns one record into its `RollupKey` (a plain tuple, which the
flusher counts hits under). Everything but the invalid-traffic activity rule is a pure function of a
few parts of the record that repeat from hit to hit, so for GIF hits and beacons (all the
collector writes) each part is computed once per distinct value and kept in a bounded LRU:

- the GIF query without its cache buster (different on every hit), or the beacon's fields
  without the cache buster and impression id, with the Referer -> page URL, registrable
  domain, canonical macros, misrepresentation, or the rejection (`PAGE_CACHE_ENTRIES`, or the constructor's `cache_entries`);
- the peer address, with the kept headers -> country and client address
  (`CLIENT_CACHE_ENTRIES`);
- the User-Agent -> its UTF-8 text and device type (`AGENT_CACHE_ENTRIES`); the
  User-Agent's traffic verdict is cached by the invalid-traffic detector's classifier;
- the UTC day of the timestamp (the current day's bounds: records come in time order).

The activity rule (loads per client and minute, replayed cache busters) is stateful and is
asked for every hit, in record order, exactly as without the caches. Server-side events, and
records whose shape is unusual (non-ASCII payload, several cache busters, non-string
fields), take the uncached reference path, which is also what `cache_entries=0` gives: the
two paths give identical keys (tests/pixel/test_hit_cache.py).

Memory per flusher process (tracemalloc, the collector benchmark's load, counting the
inner caches an entry fills: `observed_page`, the registrable-domain and country lookups):
about 1.0 KB per page entry (a 300-character query, its page URL and macros JSON; a beacon's the same), so about
67 MB for a full page cache of 65,536; about 0.5 KB per client address, 34 MB for 65,536;
about 0.2 KB per User-Agent, 4 MB for 16,384. About 105 MB in all when every cache is full,
reached only with that many distinct pages, clients and User-Agents.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import orjson

from beacon.core.clientaddr import IPAddress, parse_ip
from beacon.core.urls import normalize_page_url
from beacon.pixel import payloads
from beacon.pixel.enrich import (
    CountryResolver,
    HitRejected,
    device_type,
    extract_macros,
    is_misrepresented,
    registrable_domain,
    site_macro_domain,
)
from beacon.pixel.ivt import HitContext, InvalidTrafficDetector
from beacon.pixel.macros import (
    CACHE_BUSTER_PARAM,
    PAGE_URL_FIELD,
    REFERRER_FIELD,
    RESERVED_PARAMS,
)
from beacon.pixel.records import (
    BEACON,
    EVENT,
    GIF,
    KEPT_HEADERS,
    MAX_QUERY_FIELDS,
    beacon_record,
    event_record,
    gif_record,
)
from beacon.pixel.rollups import RollupKey, canonical_macros

__all__ = [
    "AD_FRAME_DOMAINS",
    "BEACON",
    "EVENT",
    "GIF",
    "KEPT_HEADERS",
    "MAX_QUERY_FIELDS",
    "HitEnricher",
    "beacon_record",
    "event_record",
    "gif_record",
    "normalize_page_url",
    "observed_page",
]

PAGE_CACHE_ENTRIES = 65_536
CLIENT_CACHE_ENTRIES = 65_536
AGENT_CACHE_ENTRIES = 16_384
# A page URL served from these registrable domains is an ad iframe, not the publisher page:
# the script tag's `ref` (or the Referer) is then the better witness of where the ad ran.
AD_FRAME_DOMAINS: frozenset[str] = frozenset(
    {
        "2mdn.net",
        "adnxs.com",
        "adsrvr.org",
        "amazon-adsystem.com",
        "doubleclick.net",
        "googleadservices.com",
        "googlesyndication.com",
        "safeframe.googlesyndication.com",
    }
)
_RESERVED = set(RESERVED_PARAMS)
_SECONDS_PER_DAY = 86_400.0
# fromtimestamp rounds to the microsecond: the last one of a day may round into the next.
_DAY_END_MARGIN = 1e-6


@lru_cache(maxsize=65536)  # pages repeat all day: parse each once, not on every hit
def observed_page(*candidates: str | None) -> str:
    """The first candidate that is a publisher page (not an ad iframe), else the first URL."""
    first = ""
    for candidate in candidates:
        page = normalize_page_url(candidate)
        if not page:
            continue
        if registrable_domain(page) not in AD_FRAME_DOMAINS:
            return page
        first = first or page
    return first


@dataclass(frozen=True, slots=True)
class _Observed:
    page: str
    macros: dict[str, str]
    country: str | None
    user_agent: str
    client: IPAddress | None
    headers: Mapping[str, str]
    cache_buster: str


class _Page(NamedTuple):
    """What a GIF query (without its cache buster) and Referer say, once per distinct pair."""

    url: str
    domain: str
    macros: str
    misrepresented: bool
    has_buster: bool  # a cache buster under an encoded name: the reference path decides


class HitEnricher:
    """Turns spool records into rollup keys; pure apart from the caches and the
    invalid-traffic detector's per-minute activity counts."""

    def __init__(
        self,
        resolver: CountryResolver,
        ivt: InvalidTrafficDetector | None = None,
        *,
        cache_entries: int = PAGE_CACHE_ENTRIES,
    ) -> None:
        self.resolver = resolver
        self.ivt = ivt or InvalidTrafficDetector()
        self.cached = cache_entries > 0
        self._page = lru_cache(maxsize=cache_entries)(self._page_uncached)
        self._beacon_page = lru_cache(maxsize=cache_entries)(self._beacon_page_uncached)
        self._client = lru_cache(maxsize=CLIENT_CACHE_ENTRIES)(self._client_uncached)
        self._agent = lru_cache(maxsize=AGENT_CACHE_ENTRIES)(_agent_uncached)
        self._day: tuple[float, float, dt.date] = (math.inf, -math.inf, dt.date.min)

    def count_key(self, record: bytes) -> RollupKey:
        """The rollup key a record counts under; HitRejected when it must not be counted."""
        try:
            fields = orjson.loads(record)
            kind, campaign_id, ts = fields[0], int(fields[2]), float(fields[1])
            day = self._day_of(ts) if self.cached else _utc_day(ts)
        except (IndexError, TypeError, ValueError, OverflowError, OSError):
            raise HitRejected("corrupt_record") from None
        if self.cached and len(fields) == 8 and kind in (GIF, BEACON):
            key = self._cached_key(fields, campaign_id, ts, day)
            if key is not None:
                return key
        return self._reference_key(kind, fields, campaign_id, ts, day)

    def cache_info(self) -> dict[str, Any]:
        """Hits, misses and sizes of the enrichment caches (for benchmarks and tests)."""
        return {
            "pages": self._page.cache_info(),
            "beacon_pages": self._beacon_page.cache_info(),
            "clients": self._client.cache_info(),
            "agents": self._agent.cache_info(),
        }

    def _cached_key(
        self, fields: list[Any], campaign_id: int, ts: float, day: dt.date
    ) -> RollupKey | None:
        # None: an unusual record, left to the reference path (which decides identically).
        kind, _, _, ip, payload, referer, ua, headers = fields
        if not (
            type(payload) is str
            and type(ip) is str
            and type(referer) is str
            and type(ua) is str
            and payload.isascii()
        ):
            return None
        if headers and (type(headers) is not dict or not _all_text(headers)):
            return None
        if kind == GIF:
            if payload.count("&") >= MAX_QUERY_FIELDS:
                raise HitRejected("too_many_params")
            split = payloads.split_buster(payload)
            if split is None:
                return None
            rest, raw_buster = split
            page = self._page(rest, referer)
            buster = payloads.raw_buster(raw_buster) if isinstance(page, _Page) else ""
        else:
            beacon = payloads.beacon_fields(payload)
            page = self._beacon_page(payloads.beacon_identity(beacon), referer)
            buster = payloads.cache_buster(beacon)
        if isinstance(page, HitRejected):
            raise _again(page)
        if page.has_buster:
            return None
        try:
            country, client = self._client(ip, tuple(headers.items()) if headers else ())
        except (ValueError, TypeError, AttributeError):
            raise HitRejected("corrupt_record") from None
        text, device = self._agent(ua)
        hit = HitContext(campaign_id, ts, client, headers or {}, buster)
        traffic = self.ivt.classify(text, hit)
        return RollupKey(
            campaign_id,
            day,
            page.domain,
            page.url,
            device,
            country or "",
            traffic.type,
            traffic.agent or "",
            page.macros,
            page.misrepresented,
            traffic.reason or "",
        )

    def _page_uncached(self, rest: str, referer: str) -> _Page | HitRejected:
        try:
            pairs = payloads.query_fields(rest)
        except (ValueError, TypeError, AttributeError):
            return HitRejected("corrupt_record")
        params = dict(reversed(pairs))
        return _page_from(pairs, params, referer, has_buster=CACHE_BUSTER_PARAM in params)

    def _beacon_page_uncached(
        self, fields: tuple[tuple[str, str], ...], referer: str
    ) -> _Page | HitRejected:
        return _page_from(fields, dict(fields), referer, has_buster=False)

    def _client_uncached(
        self, ip: str, headers: tuple[tuple[str, str], ...]
    ) -> tuple[str | None, IPAddress | None]:
        return self.resolver.locate(ip, dict(headers))

    def _day_of(self, ts: float) -> dt.date:
        start, end, day = self._day
        if start <= ts < end:
            return day
        day = _utc_day(ts)
        start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()
        self._day = (start, start + _SECONDS_PER_DAY - _DAY_END_MARGIN, day)
        return day

    def _reference_key(
        self, kind: str, fields: list[Any], campaign_id: int, ts: float, day: dt.date
    ) -> RollupKey:
        try:
            seen = self._observe(kind, fields)
        except (ValueError, TypeError, AttributeError):
            raise HitRejected("corrupt_record") from None
        ua = payloads.utf8(seen.user_agent)
        hit = HitContext(campaign_id, ts, seen.client, seen.headers, seen.cache_buster)
        traffic = self.ivt.classify(ua, hit)
        domain = registrable_domain(seen.page) or ""
        return RollupKey(
            campaign_id=campaign_id,
            date=day,
            domain=domain,
            url=seen.page,
            device=device_type(ua),
            geo=seen.country or "",
            traffic_type=traffic.type,
            agent=traffic.agent or "",
            macros=canonical_macros(seen.macros),
            misrepresented=is_misrepresented(site_macro_domain(seen.macros), domain or None),
            ivt_reason=traffic.reason or "",
        )

    def _observe(self, kind: str, fields: list[Any]) -> _Observed:
        if kind == GIF:
            _, _, _, ip, query, referer, ua, headers = fields
            headers = headers or {}
            pairs = payloads.query_pairs(payloads.utf8(query))
            params = dict(reversed(pairs))  # first value of a repeated key wins
            page = observed_page(
                params.get(PAGE_URL_FIELD), params.get(REFERRER_FIELD), payloads.utf8(referer)
            )
            macros = extract_macros(pairs, _RESERVED)
            country, client = self.resolver.locate(ip, headers)
            return _Observed(
                page, macros, country, ua, client, headers, payloads.cache_buster(params)
            )
        if kind == BEACON:
            _, _, _, ip, body, referer, ua, headers = fields
            headers = headers or {}
            beacon = payloads.beacon_fields(payloads.utf8(body))
            page = observed_page(
                beacon.get(PAGE_URL_FIELD), beacon.get(REFERRER_FIELD), payloads.utf8(referer)
            )
            macros = extract_macros(beacon.items(), _RESERVED)
            country, client = self.resolver.locate(ip, headers)
            return _Observed(
                page, macros, country, ua, client, headers, payloads.cache_buster(beacon)
            )
        if kind == EVENT:
            _, _, _, ip, url, ua, country, event_macros = fields
            macros = extract_macros(event_macros.items(), _RESERVED)
            resolved = country or (self.resolver.country(ip, {}) if ip else None)
            client = parse_ip(ip) if ip else None
            return _Observed(observed_page(url), macros, resolved, ua, client, {}, "")
        raise HitRejected("corrupt_record")


def _page_from(
    pairs: Iterable[tuple[str, str]],
    fields: Mapping[str, str],
    referer: str,
    *,
    has_buster: bool,
) -> _Page | HitRejected:
    """The page and macros of a hit's fields (a GIF's query or a beacon's body), or why the
    hit is rejected; what the page caches hold."""
    try:
        page = observed_page(
            fields.get(PAGE_URL_FIELD), fields.get(REFERRER_FIELD), payloads.utf8(referer)
        )
        macros = extract_macros(pairs, _RESERVED)
    except HitRejected as exc:
        return exc
    except (ValueError, TypeError, AttributeError):
        return HitRejected("corrupt_record")
    return _page_of(page, macros, has_buster=has_buster)


def _page_of(page: str, macros: dict[str, str], *, has_buster: bool) -> _Page:
    domain = registrable_domain(page) or ""
    return _Page(
        url=page,
        domain=domain,
        macros=canonical_macros(macros),
        misrepresented=is_misrepresented(site_macro_domain(macros), domain or None),
        has_buster=has_buster,
    )


def _agent_uncached(ua: str) -> tuple[str, str]:
    text = payloads.utf8(ua)
    return text, device_type(text)


def _again(rejected: HitRejected) -> HitRejected:
    # A fresh exception per hit: re-raising a cached one would grow its traceback.
    again = HitRejected(rejected.reason)
    again.args = rejected.args
    return again


def _all_text(headers: dict[Any, Any]) -> bool:
    return all(type(value) is str for value in headers.values())


def _utc_day(ts: float) -> dt.date:
    return dt.datetime.fromtimestamp(ts, dt.UTC).date()
