"""The payload of a GIF hit or beacon, read as the enrichment needs it (`hits.py`).

The query parser and the beacon reader are the reference ones (`query_pairs`,
`beacon_fields`); `split_buster`, `raw_buster`, `query_fields` and `beacon_identity` serve the
enrichment caches, which key a hit by what repeats (everything but the cache buster and the
impression id) and must give exactly what the reference readers give.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, unquote

import orjson

from beacon.pixel.enrich import HitRejected, is_unexpanded_macro
from beacon.pixel.macros import BROWSER_FIELDS, CACHE_BUSTER_PARAM, IMPRESSION_ID_FIELD
from beacon.pixel.records import MAX_QUERY_FIELDS

_PER_IMPRESSION = frozenset({CACHE_BUSTER_PARAM, IMPRESSION_ID_FIELD})
_BUSTER_PIECE = CACHE_BUSTER_PARAM + "="
_SEPARATED_BUSTER = "&" + _BUSTER_PIECE


def beacon_identity(beacon: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """A beacon's fields but those different on every impression (cache buster, impression
    id): both reserved, never macros nor the page, so the rest decides the page and macros."""
    return tuple(item for item in beacon.items() if item[0] not in _PER_IMPRESSION)


def split_buster(query: str) -> tuple[str, str | None] | None:
    """The query without its one `cb=` field, and that field's raw value (None: no field);
    None when there are several."""
    if query.startswith(_BUSTER_PIECE):
        start = 0
    else:
        start = query.find(_SEPARATED_BUSTER) + 1
        if start == 0:
            return query, None
    end = query.find("&", start)
    if end < 0:
        value, rest = query[start + len(_BUSTER_PIECE) :], query[: max(start - 1, 0)]
    else:
        value, rest = query[start + len(_BUSTER_PIECE) : end], query[:start] + query[end + 1 :]
    if rest.startswith(_BUSTER_PIECE) or _SEPARATED_BUSTER in rest:
        return None
    return rest, value


def raw_buster(raw: str | None) -> str:
    """What `cache_buster` makes of a query's one `cb` field, from its undecoded value."""
    if not raw:
        return ""  # absent, or empty (which parse_qsl drops)
    if len(raw) <= 64 and raw.isalnum():
        return raw
    return cache_buster(dict(parse_qsl(_BUSTER_PIECE + raw, errors="replace")))


def cache_buster(params: Mapping[str, str]) -> str:
    """The hit's cache buster; '' when absent or left unexpanded by the ad server (then it
    is the same on every load, so a repeat is not a replay)."""
    value = (params.get(CACHE_BUSTER_PARAM) or "").strip()[:64]
    if value.isalnum():  # the usual timestamp or random number: no macro syntax to check
        return value
    return "" if not value or is_unexpanded_macro(value) else value


def utf8(wire: str) -> str:
    """A wire string as UTF-8: the hot path decoded its bytes as latin-1 (ASCII, nearly
    everything, is unchanged)."""
    if wire.isascii():
        return wire
    return wire.encode("latin-1", "replace").decode("utf-8", "replace")


def query_fields(query: str) -> list[tuple[str, str]]:
    """`parse_qsl(query, errors="replace")` for a query whose field count was checked,
    without its per-field overhead (run once per distinct query, on a cache miss)."""
    pairs = []
    for field in query.split("&"):
        name, _, value = field.partition("=")
        if value:  # parse_qsl drops empty fields, fields without "=" and empty values
            pairs.append((_unquoted(name), _unquoted(value)))
    return pairs


def _unquoted(text: str) -> str:
    if "+" in text:
        text = text.replace("+", " ")
    if "%" not in text:
        return text
    # A percent-encoded page URL is mostly %3A and %2F: replaced in C first, they leave
    # unquote's per-escape Python loop only the rest. The same decoding: escapes never
    # overlap, and none of these yields "%" or a hex digit that could form a new one.
    for escape, char in _ASCII_ESCAPES:
        if escape in text:
            text = text.replace(escape, char)
    return unquote(text, errors="replace") if "%" in text else text


_URL_PUNCTUATION = ":/?=&#;,@ "
_ASCII_ESCAPES = tuple(
    (escape, char)
    for char in _URL_PUNCTUATION
    for escape in dict.fromkeys((f"%{ord(char):02X}", f"%{ord(char):02x}"))
)


def query_pairs(query: str) -> list[tuple[str, str]]:
    """A GIF query's fields in order (the reference parser); too_many_params past the cap."""
    try:
        return parse_qsl(query, max_num_fields=MAX_QUERY_FIELDS, errors="replace")
    except ValueError:
        raise HitRejected("too_many_params") from None


def beacon_fields(body: str) -> dict[str, str]:
    """A beacon's JSON body as text fields; malformed_beacon when it is not a flat object of
    strings, numbers (macro values, as text) and nulls (absent), or a page field (`url`,
    `ref`) is not a string: a number there is a broken tag, not a page."""
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
            if key in BROWSER_FIELDS:
                raise HitRejected("malformed_beacon", key)
            fields[key] = str(value)
        elif value is not None:
            raise HitRejected("malformed_beacon", key)
    return fields
