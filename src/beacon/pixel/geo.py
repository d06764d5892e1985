"""Country (ISO 3166-1 alpha-2) of a hit, from trusted CDN headers or the client IP.

Which address is the client:
- The direct peer (the socket address) is the client, unless the peer is inside one of the
  configured `trusted_proxies` CIDRs.
- Only when the peer is trusted: a country header set by the CDN (`CF-IPCountry`,
  `CloudFront-Viewer-Country`, `X-Country-Code`, checked in that order) is used as is, and
  otherwise `X-Forwarded-For` is read from the right, skipping trusted hops; the first
  untrusted hop is the client. Anything a client can write itself (those headers when the peer
  is not trusted, or hops left of the first untrusted one) is never believed.
- A CDN value of `XX` (unknown) or `T1` (Tor) means "no country": the exit relay's country
  says nothing about the viewer, so it is not replaced by an IP lookup.

IP to country: a MaxMind-format `.mmdb` file when `mmdb_path` is set (GeoLite2/GeoIP2
Country or City, or any database with `country.iso_code`), falling back to the offline RIR
delegation data bundled in the `iptocc` wheel (MIT/Apache-2.0, refreshed with each release).
Private, loopback, link-local, CGNAT and other non-global addresses have no country.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from types import TracebackType
from typing import Any

import iptocc

from beacon.core.clientaddr import ClientAddressResolver, IPAddress, parse_ip
from beacon.core.errors import quoted

COUNTRY_HEADERS: tuple[str, ...] = ("cf-ipcountry", "cloudfront-viewer-country", "x-country-code")
# Not countries: unknown/anonymous markers and RIR region codes ("EU", "AP" blocks).
_NOT_COUNTRIES = frozenset({"XX", "T1", "ZZ", "EU", "AP", "A1", "A2", "O1"})
_NO_COUNTRY_MARKERS = frozenset({"XX", "T1"})


class CountryResolver:
    """Resolves the viewer's country for a hit; build once per process and share it."""

    def __init__(
        self,
        *,
        trusted_proxies: Iterable[str] = (),
        mmdb_path: str | None = None,
        cache_size: int = 65536,
    ) -> None:
        self._clients = ClientAddressResolver(trusted_proxies)
        self._mmdb: Any = None
        if mmdb_path:
            import maxminddb  # only needed when an operator ships their own database

            self._mmdb = maxminddb.open_database(mmdb_path)
        self._lookup = lru_cache(maxsize=cache_size)(self._lookup_uncached)

    def country(self, client_ip: str, headers: Mapping[str, str]) -> str | None:
        """ISO alpha-2 country (uppercase) of the hit's viewer, or None when unknown."""
        return self.locate(client_ip, headers)[0]

    def locate(
        self, client_ip: str, headers: Mapping[str, str]
    ) -> tuple[str | None, IPAddress | None]:
        """The viewer's country and address (the peer, or behind a trusted proxy its
        X-Forwarded-For client), parsing the peer once."""
        peer = parse_ip(client_ip)
        if peer is None:
            return None, None
        if not self._clients.is_trusted(peer):
            return self._lookup(peer), peer
        lowered = {key.lower(): value for key, value in headers.items()}
        client = self._clients.forwarded_client(lowered.get("x-forwarded-for", ""))
        for name in COUNTRY_HEADERS:
            value = _ascii_upper(lowered.get(name, ""))
            if value in _NO_COUNTRY_MARKERS:
                return None, client
            if _is_country(value):
                return value, client
        return (self._lookup(client) if client is not None else None), client

    def close(self) -> None:
        """Release the `.mmdb` file, if one is open."""
        if self._mmdb is not None:
            self._mmdb.close()
            self._mmdb = None

    def __enter__(self) -> CountryResolver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _lookup_uncached(self, ip: IPAddress) -> str | None:
        if not ip.is_global:
            return None
        code: str | None = None
        if self._mmdb is not None:
            code = _mmdb_country(self._mmdb.get(str(ip)))
        if code is None:
            code = iptocc.country_code(str(ip))
        code = code.upper() if code else None
        return code if code and _is_country(code) else None


def _mmdb_country(record: object) -> str | None:
    if not isinstance(record, dict):
        return None
    for key in ("country", "registered_country"):
        section = record.get(key)
        if isinstance(section, dict) and isinstance(section.get("iso_code"), str):
            return str(section["iso_code"])
    return None


def _ascii_upper(value: str) -> str:
    """``value`` stripped and upper-cased when it is ASCII, else "" (no country): 'ß'.upper() is
    'SS' (South Sudan), 'ſe' 'SE', 'ıt' 'IT', and a header is read as latin-1 ('ß' is 0xDF)."""
    return value.strip().upper() if value.isascii() else ""


def reported_country(value: str) -> str | None:
    """A country a sender states (an event's ``country``), in upper case; None for the codes
    that name no country (``ZZ`` unknown, ``EU``, ``XX``, ``T1``, ...), which the hits' CDN
    headers read the same way. Any other two letters are kept, as a CDN's header is (``XK``,
    Kosovo, has no ISO code). ValueError when it is not two letters."""
    code = _ascii_upper(value)
    if code in _NOT_COUNTRIES:
        return None
    if not _is_country(code):
        raise ValueError(f"{quoted(value)} is not a two-letter country code (ISO 3166-1 alpha-2)")
    return code


def _is_country(value: str) -> bool:
    return len(value) == 2 and value.isascii() and value.isalpha() and value not in _NOT_COUNTRIES
