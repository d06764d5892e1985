"""Spool records of pixel hits: what the collector appends, and nothing more.

A record is one line of JSON (an array, to stay small), written by whoever accepted the hit:

- `["g", ts, campaign_id, peer_ip, query_string, referer, user_agent, headers]`: the GIF
  (`GET /px/{id}.gif`), with the raw query string;
- `["b", ts, campaign_id, peer_ip, body, referer, user_agent, headers]`: the script tag's
  beacon (`POST /px/{id}`), with the raw text/plain JSON body;
- `["e", ts, campaign_id, ip, url, user_agent, country, macros]`: a server-side event (the
  events API, `beacon ingest-log`), already validated.

`headers` holds only what country resolution and invalid-traffic detection need
(`cf-ipcountry`, `x-forwarded-for`, ..., the prefetch markers `sec-purpose`, `purpose`,
`x-moz`, `x-purpose`, and Web Bot Auth's `signature-agent`, `signature-input`) or null; a
missing header reads as absent, so records spooled before a header was kept still read.
Strings from the wire are decoded as latin-1, which cannot fail, so the hot path never parses;
the enrichment (`hits.HitEnricher`, off the request path) re-decodes them as UTF-8.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from beacon.pixel.geo import COUNTRY_HEADERS
from beacon.pixel.ivt import PREFETCH_HEADERS
from beacon.pixel.webbotauth import SIGNATURE_HEADERS

GIF, BEACON, EVENT = "g", "b", "e"
# Request headers the collector keeps for country resolution and invalid-traffic detection
# (lowercase bytes, as in ASGI): one set lookup per header, and only present ones are kept.
KEPT_HEADERS: frozenset[bytes] = frozenset(
    name.encode()
    for name in (*COUNTRY_HEADERS, "x-forwarded-for", *PREFETCH_HEADERS, *SIGNATURE_HEADERS)
)
# Most query fields (or beacon keys) one hit may carry; more is rejected as `too_many_params`.
MAX_QUERY_FIELDS = 100


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
