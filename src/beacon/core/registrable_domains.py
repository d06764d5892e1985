"""Registrable domains ("eTLD+1") from URLs or host names, using the Public Suffix List.

The list is the snapshot bundled in the `publicsuffixlist` wheel; nothing is fetched at run
time, so upgrading the package is how the list is refreshed. Private-section suffixes are
honoured (`alice.blogspot.com` stays `alice.blogspot.com`), because each of those sites is a
separate publisher, which is what inventory reports care about. Unknown top-level domains
(`foo.internal`) give None: they are not sellable web inventory.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from urllib.parse import unquote, urlsplit

import idna
from publicsuffixlist import PublicSuffixList

from beacon.core.urls import plain_host

_PSL = PublicSuffixList(accept_unknown=False)
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_MAX_INPUT = 2048


def registrable_domain(url_or_host: str | None) -> str | None:
    """`https://news.bbc.co.uk:443/x` -> `bbc.co.uk`; None for IPs, public suffixes and garbage."""
    if not url_or_host:
        return None
    return _registrable(url_or_host.strip()[:_MAX_INPUT])


@lru_cache(maxsize=1024)
def is_public_suffix(host: str) -> bool:
    """Whether ``host`` (a host name in ASCII form) is a public suffix ('co.uk', 'com',
    'github.io'): a name under which publishers register theirs, never one of them."""
    try:
        return bool(_PSL.is_public(host.lower().rstrip(".")))
    except (ValueError, UnicodeError):
        return False


@lru_cache(maxsize=65536)
def _registrable(value: str) -> str | None:
    host = _hostname(value)
    return None if host is None else _registrable_host(host)


# Many pages share a host: its checks and the suffix-list walk run once per host, not per URL.
@lru_cache(maxsize=16384)
def _registrable_host(hostname: str) -> str | None:
    host = _valid_host(hostname)
    if host is None:
        return None
    try:
        return _PSL.privatesuffix(host)
    except (ValueError, UnicodeError):
        return None


def _hostname(value: str) -> str | None:
    # Macros such as ${SOURCE_URL_ENC} arrive percent-encoded once more than the query layer
    # decodes; "https%3A%2F%2F..." has to be unwrapped before it parses as a URL.
    if "%" in value:
        value = unquote(value)
    if "://" not in value:
        value = "//" + value.lstrip("/")
    host = plain_host(value)
    if host is None:
        try:
            host = urlsplit(value).hostname
        except ValueError:
            return None
    return host.rstrip(".") if host else None


def _valid_host(host: str) -> str | None:
    if _is_ip(host):
        return None
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError:
            return None
    if len(host) > 253 or "." not in host:
        return None
    if not all(_LABEL.match(label) for label in host.split(".")):
        return None
    return host


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
