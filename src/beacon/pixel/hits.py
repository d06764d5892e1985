"""Spool records of pixel hits, and their enrichment into rollup keys (off the request path).

A record is one line of JSON (an array, to stay small), written by whoever accepted the hit:

- `["g", ts, campaign_id, peer_ip, query_string, referer, user_agent, headers]`: the GIF
  (`GET /px/{id}.gif`), with the raw query string;
- `["b", ts, campaign_id, peer_ip, body, referer, user_agent, headers]`: the script tag's
  beacon (`POST /px/{id}`), with the raw text/plain JSON body;
- `["e", ts, campaign_id, ip, url, user_agent, country, macros]`: a server-side event (the
  events API, `beacon ingest-log`), already validated.

`headers` holds only what country resolution and invalid-traffic detection need
(`cf-ipcountry`, `x-forwarded-for`, ..., and the prefetch markers `sec-purpose`, `purpose`,
`x-moz`, `x-purpose`) or null. Strings from the wire are decoded as latin-1, which cannot fail, so the hot path never
parses; `HitEnricher` re-decodes them as UTF-8 here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import orjson

from beacon.core.clientaddr import IPAddress, parse_ip
from beacon.pixel.enrich import (
    CountryResolver,
    HitRejected,
    device_type,
    extract_macros,
    is_misrepresented,
    is_unexpanded_macro,
    registrable_domain,
    site_macro_domain,
)
from beacon.pixel.geo import COUNTRY_HEADERS
from beacon.pixel.ivt import PREFETCH_HEADERS, HitContext, InvalidTrafficDetector
from beacon.pixel.macros import (
    CACHE_BUSTER_PARAM,
    PAGE_URL_FIELD,
    REFERRER_FIELD,
    RESERVED_PARAMS,
)
from beacon.pixel.rollups import RollupKey, canonical_macros

GIF, BEACON, EVENT = "g", "b", "e"
# Request headers the collector keeps for country resolution and prefetch detection
# (lowercase bytes, as in ASGI): one set lookup per header, and only present ones are kept.
KEPT_HEADERS: frozenset[bytes] = frozenset(
    name.encode() for name in (*COUNTRY_HEADERS, "x-forwarded-for", *PREFETCH_HEADERS)
)
MAX_QUERY_FIELDS = 100
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
# Click and campaign identifiers that make every visit's URL unique without naming a new page.
_TRACKING_PARAMS = frozenset(
    {"gclid", "fbclid", "msclkid", "dclid", "gbraid", "wbraid", "yclid", "_ga", "mc_cid", "mc_eid"}
)
_RESERVED = set(RESERVED_PARAMS)


def gif_record(
    ts: float,
    campaign_id: int,
    ip: str,
    query: str,
    referer: str,
    user_agent: str,
    headers: dict[str, str] | None,
) -> bytes:
    """The spool line of a GIF hit."""
    return orjson.dumps([GIF, ts, campaign_id, ip, query, referer, user_agent, headers])


def beacon_record(
    ts: float,
    campaign_id: int,
    ip: str,
    body: str,
    referer: str,
    user_agent: str,
    headers: dict[str, str] | None,
) -> bytes:
    """The spool line of a script-tag beacon."""
    return orjson.dumps([BEACON, ts, campaign_id, ip, body, referer, user_agent, headers])


def event_record(
    *,
    ts: float,
    campaign_id: int,
    url: str,
    user_agent: str,
    ip: str | None,
    country: str | None,
    macros: Mapping[str, str],
) -> bytes:
    """The spool line of a server-side event."""
    return orjson.dumps(
        [EVENT, ts, campaign_id, ip or "", url, user_agent, country or "", dict(macros)]
    )


def normalize_page_url(value: str | None) -> str:
    """An http(s) page URL without fragment and click ids, host lowercased; '' if not one."""
    if not value:
        return ""
    value = value.strip()
    if not value[:8].lower().startswith(("http://", "https://")):
        return ""
    try:
        parts = urlsplit(value)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return ""
    if not host:
        return ""
    if ":" in host:  # an IPv6 literal keeps its brackets, or the port would run into it
        host = f"[{host}]"
    netloc = host if port is None or port in (80, 443) else f"{host}:{port}"
    query = parts.query
    if query and ("utm_" in query or any(key in query for key in _TRACKING_PARAMS)):
        kept = [
            pair
            for pair in query.split("&")
            if not pair.lower().startswith("utm_")
            and pair.split("=", 1)[0].lower() not in _TRACKING_PARAMS
        ]
        query = "&".join(kept)
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", query, ""))


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


class HitEnricher:
    """Turns spool records into rollup keys; pure apart from the shared caches and the
    invalid-traffic detector's per-minute activity counts."""

    def __init__(
        self, resolver: CountryResolver, ivt: InvalidTrafficDetector | None = None
    ) -> None:
        self.resolver = resolver
        self.ivt = ivt or InvalidTrafficDetector()

    def rollup_key(self, record: bytes) -> RollupKey:
        """The rollup key a record counts under; HitRejected when it must not be counted."""
        try:
            fields = orjson.loads(record)
            kind, campaign_id, ts = fields[0], int(fields[2]), float(fields[1])
            day = dt.datetime.fromtimestamp(ts, dt.UTC).date()
        except (IndexError, TypeError, ValueError, OverflowError, OSError):
            raise HitRejected("corrupt_record") from None
        try:
            seen = self._observe(kind, fields)
        except (ValueError, TypeError, AttributeError):
            raise HitRejected("corrupt_record") from None
        ua = _utf8(seen.user_agent)
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
            pairs = _query_pairs(_utf8(query))
            params = dict(reversed(pairs))  # first value of a repeated key wins
            page = observed_page(
                params.get(PAGE_URL_FIELD), params.get(REFERRER_FIELD), _utf8(referer)
            )
            macros = extract_macros(pairs, _RESERVED)
            country, client = self.resolver.locate(ip, headers)
            return _Observed(page, macros, country, ua, client, headers, _buster(params))
        if kind == BEACON:
            _, _, _, ip, body, referer, ua, headers = fields
            headers = headers or {}
            beacon = _beacon_fields(_utf8(body))
            page = observed_page(
                beacon.get(PAGE_URL_FIELD), beacon.get(REFERRER_FIELD), _utf8(referer)
            )
            macros = extract_macros(beacon.items(), _RESERVED)
            country, client = self.resolver.locate(ip, headers)
            return _Observed(page, macros, country, ua, client, headers, _buster(beacon))
        if kind == EVENT:
            _, _, _, ip, url, ua, country, event_macros = fields
            macros = extract_macros(event_macros.items(), _RESERVED)
            resolved = country or (self.resolver.country(ip, {}) if ip else None)
            client = parse_ip(ip) if ip else None
            return _Observed(observed_page(url), macros, resolved, ua, client, {}, "")
        raise HitRejected("corrupt_record")


def _buster(params: Mapping[str, str]) -> str:
    # A cache buster the ad server left unexpanded is the same on every load: not a replay.
    value = (params.get(CACHE_BUSTER_PARAM) or "").strip()[:64]
    if value.isalnum():  # the usual timestamp or random number: no macro syntax to check
        return value
    return "" if not value or is_unexpanded_macro(value) else value


def _utf8(wire: str) -> str:
    # The hot path decoded the bytes as latin-1; ASCII (nearly everything) is unchanged.
    if wire.isascii():
        return wire
    return wire.encode("latin-1", "replace").decode("utf-8", "replace")


def _query_pairs(query: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(query, max_num_fields=MAX_QUERY_FIELDS, errors="replace")
    except ValueError:
        raise HitRejected("too_many_params") from None


def _beacon_fields(body: str) -> dict[str, str]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise HitRejected("malformed_beacon") from None
    if not isinstance(data, dict) or len(data) > MAX_QUERY_FIELDS:
        raise HitRejected("malformed_beacon")
    fields: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, str):
            fields[key] = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            fields[key] = str(value)
        elif value is not None:
            raise HitRejected("malformed_beacon", key)
    return fields
