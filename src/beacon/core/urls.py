"""URL normalisation shared by the domains: one list of tracking parameters, two forms.

Click and campaign identifiers (`utm_*` and `TRACKING_PARAMS`) make every visit's URL unique
without naming a new page, so both forms drop them:

- `normalize_page_url`: the page a pixel hit counts under (rollups, reports). The path is
  escaped as browsers send it (`canonical_path`, as in `normalize_url`); the query keeps its
  order and its encoding as the page sent it; anything that is not an http(s) URL is ''.
- `normalize_url`: the cache key of a fetched page (contextual classification). The query is
  decoded, sorted and re-encoded, so two spellings of one page share a key.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import httpx
import idna

from beacon.core.errors import quoted

TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "gclid", "gbraid", "wbraid", "dclid", "fbclid", "msclkid", "yclid", "twclid", "igshid",
        "mc_cid", "mc_eid", "_ga", "_gl", "li_fat_id", "ref_src", "s_cid", "mkt_tok",
    }
)  # fmt: skip
# For generators only (core.openapi.generate_within): a subset of the host names on a public
# registrable domain every API accepts (ASCII, under a few public suffixes: the public suffix
# list and IDNA's rules cannot be one regular expression), and of the web page URLs on them.
# The registrable label starts "site-": the list names no suffix of that form under these
# endings, where free labels drew some ('co.com', 'eu.org', 'github.io') that no API takes
# as a site.
PUBLIC_DOMAIN_PATTERN = r"([a-z0-9]{1,20}\.){0,2}site-[a-z0-9]{1,20}\.(com|net|org|io|de|fr)"
PUBLIC_URL_PATTERN = rf"https?://{PUBLIC_DOMAIN_PATTERN}(/[A-Za-z0-9_~-]{{0,40}}){{0,3}}"
# The longest URL any API takes (classify, classify/batch, the inventory) and the fetcher asks
# for: `web_url_problem` refuses a longer one.
MAX_URL_LENGTH = 2048
_DEFAULT_PORTS = {"http": 80, "https": 443}
_DNS_NAME = re.compile(r"[A-Za-z0-9_-]{1,63}(?:\.[A-Za-z0-9_-]{1,63})*\.?")
# `http(s)://` or `//`, then an authority without user info, port, IPv6 literal or escape
# (none of `@[]:%`) up to the path, query, fragment or end: all `plain_host` reads itself.
_PLAIN_AUTHORITY = re.compile(r"(?i:https?:)?//([^/?#@\[\]:%]*)(?:[/?#]|\Z)")


def web_url_problem(value: str) -> str | None:
    """Why ``value`` is not a URL the page fetcher requests, or None when it is one: an
    absolute http(s) URL with a host IDNA accepts (not ``xn--``), a port in 1..65535 and no
    user name or password, at most ``MAX_URL_LENGTH`` characters. The one rule the classify
    API, the inventory upload and the fetcher (for each redirect too) apply."""
    text = value.strip()
    if len(text) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters long"
    try:
        parts = urlsplit(text)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            return "must be an absolute http(s) URL"
        # .port raises ValueError for a port that is not a number or above 65535; it reads :0,
        # but no server listens on port 0, so that is no page to fetch either
        if parts.port == 0:
            raise ValueError("port 0")
        url = httpx.URL(text)
        host = url.host  # decodes an "xn--" label: UnicodeError if IDNA refuses
    except (ValueError, httpx.InvalidURL):  # UnicodeError is a ValueError
        return "must be an absolute http(s) URL with a valid host name and port"
    if not host or not _host_is_plain(url.raw_host.decode("ascii")):
        return "must be an absolute http(s) URL with a valid host name and port"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password (they are not fetched)"
    return None


def _host_is_plain(ascii_host: str) -> bool:
    # An IP literal, or DNS labels of letters, digits, '-' and '_' (which real host names
    # carry) in their ASCII (IDNA) form: not a space or a %-escape a resolver would be asked for.
    try:
        ipaddress.ip_address(ascii_host)
    except ValueError:
        return _DNS_NAME.fullmatch(ascii_host) is not None
    return True


def web_url_host(value: str) -> str | None:
    """The host of ``value`` if it is a URL the fetcher requests (`web_url_problem`), else
    None."""
    if web_url_problem(value) is not None:
        return None
    return httpx.URL(value.strip()).host


def is_tracking_param(name: str) -> bool:
    """Whether a query parameter is a click or campaign identifier (`utm_*` included)."""
    lowered = name.lower()
    return lowered.startswith("utm_") or lowered in TRACKING_PARAMS


# C0 controls and DEL: never raw in a URL a browser sends (urlsplit drops tab, LF and CR), nor in
# a macro's name or value (pixel.enrich).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def normalize_page_url(value: str | None) -> str:
    """An http(s) page URL without fragment and tracking ids, host lowercased, the path as a
    browser sends it (``canonical_path``); '' if not one.

    A DSP macro's raw '/ü' or '/a"b', a link's '/%c3%bc' and location.href's '/%C3%BC' were
    three rows of one page in stats and reports. The flusher computes this once per distinct
    page (``pixel.hits`` caches it); rows counted before keep the path as it was sent."""
    if not value:
        return ""
    value = value.strip()
    if not value[:8].lower().startswith(("http://", "https://")):
        return ""
    parts = _plain_parts(value) or _split(value)
    if parts is None:
        return ""
    scheme, netloc, path, query = parts
    if not netloc or CONTROL_CHARACTERS.search(netloc):
        return ""  # a control character is no part of a host name: not a URL, as to a browser
    if CONTROL_CHARACTERS.search(query):
        # Escaped as a browser sends it (and never stored raw: PostgreSQL refuses a NUL).
        query = CONTROL_CHARACTERS.sub(lambda found: f"%{ord(found[0]):02X}", query)
    if query and ("utm_" in query or any(key in query for key in TRACKING_PARAMS)):
        query = "&".join(
            pair for pair in query.split("&") if not is_tracking_param(pair.split("=", 1)[0])
        )
    path = canonical_path(path)
    # What urlunsplit makes of these parts (the path after a host is '' or starts with '/').
    return (
        f"{scheme}://{netloc}{path or '/'}?{query}"
        if query
        else f"{scheme}://{netloc}{path or '/'}"
    )


def _split(value: str) -> tuple[str, str, str, str] | None:
    # Scheme, host[:port], path and query as `urlsplit` reads them; None if it cannot.
    try:
        parts = urlsplit(value)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if not host:
        return None
    if not host.isascii():  # a macro's 'Bücher.de' is location.href's 'xn--bcher-kva.de'
        host = _browser_host(host)
    if ":" in host:  # an IPv6 literal keeps its brackets, or the port would run into it
        host = f"[{host}]"
    netloc = host if port is None or port in (80, 443) else f"{host}:{port}"
    return parts.scheme.lower(), netloc, parts.path, parts.query


def _browser_host(host: str) -> str:
    # A Unicode host as a browser's URL parser writes it: UTS 46 mapping (full-width letters
    # and case folded) then IDNA ASCII; kept as it is if IDNA refuses it.
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        return host


def _plain_parts(value: str) -> tuple[str, str, str, str] | None:
    # `_split` of the common URL without urlsplit's general parsing: see `plain_host`.
    host = plain_host(value)
    if host is None:
        return None
    scheme, _, rest = value.partition("://")
    path, _, query = rest[len(host) :].partition("#")[0].partition("?")
    return scheme.lower(), host, path, query


def plain_host(value: str) -> str | None:
    """The lowercased host of a printable ASCII ``http(s)://`` or ``//`` URL whose authority is
    a bare host name ('' if empty), as urlsplit's ``hostname`` reads it; None for any other
    value (user info, port, IPv6 literal, escapes, other schemes), which urlsplit must read.

    A flusher parses every new page of a 50,000-page campaign (issue 19); urlsplit's general
    parsing took most of that.
    """
    if not (value.isascii() and value.isprintable()):
        return None
    match = _PLAIN_AUTHORITY.match(value)
    if match is None:
        return None
    return match[1].lower()


def _ascii_host(host: str) -> str:
    # A Unicode host in its IDNA (punycode) form, as browsers send it and the fetcher asks
    # for it: the two spellings of one page shared no key. Mapped as a browser maps it (UTS 46:
    # full-width 'ｅｘａｍｐｌｅ.com' is 'example.com'), as the pixel's page key is; kept as it is
    # if IDNA refuses it.
    return host if host.isascii() else _browser_host(host)


# What a URL's authority holds besides a host name: user info, a port, a path, a query, spaces.
_NOT_A_NAME = re.compile(r"[/@?#:\\\s]")

# The label separators IDNA reads (RFC 3490 3.1): a host ending in any is the root-dot form.
_FULL_STOPS = (".", "\u3002", "\uff0e", "\uff61")


def _without_root_dot(host: str) -> str:
    # 'example.com.' is the fully qualified spelling of 'example.com' (the root label): one
    # page, and one store key. The fetcher then asks for the host as browsers show it.
    if host.endswith(".") and not host.endswith("..") and len(host) > 1:
        return host[:-1]
    return host


def ascii_domain(value: str) -> str:
    """A domain as Beacon stores it (lower case, IDNA ASCII, no root dot), however it was
    written: 'Bücher.de.' and 'xn--bcher-kva.de' both give 'xn--bcher-kva.de'. Lower-cased
    only when IDNA refuses it, or when it is more than a name ('böse@bank.com', 'ü/x', 'ü:80'
    are not read as URLs): it then matches nothing stored, as a misspelt name does."""
    text = _without_root_dot(value.strip().lower())
    if text.isascii() or _NOT_A_NAME.search(text):
        return text
    try:
        return idna.encode(text, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        return text


# The longest name DNS carries (RFC 1035: 255 octets on the wire, 253 written out).
MAX_HOST_NAME_LENGTH = 253


def host_name(value: str) -> str | None:
    """``value`` as a host name in the form Beacon stores (``ascii_domain``: lower case, IDNA
    ASCII label by label, no root dot), or None when it is not one: a URL, text with spaces or
    markup, a name IDNA refuses. Subdomains are kept ('www.nytimes.com' stays as it is)."""
    name = ascii_domain(value)
    if len(name) > MAX_HOST_NAME_LENGTH or name.endswith("."):
        return None
    return name if _DNS_NAME.fullmatch(name) else None


def normalize_url(url: str) -> str:
    """Cache key form of a URL: lowercase scheme/host, no fragment, default port, tracking;
    the path escaped as browsers send it (``canonical_path``)."""
    return _normalized(url, root_dot=False)


def older_url_keys(url: str) -> list[str]:
    """The forms ``normalize_url`` gave ``url`` before a change that rows stored then are still
    keyed by (their host's trailing dot kept, before it was dropped); [] when the same.

    Reports and segments ask it for every page URL they look up (tens of thousands): a host
    without a trailing dot (any of IDNA's full stops) answers [] without normalising twice."""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return []
    if not host.endswith(_FULL_STOPS):
        return []
    try:
        older = _normalized(url, root_dot=True)
    except ValueError:
        return []
    return [older] if older != normalize_url(url) else []


def root_dot_form(normalized: str) -> str | None:
    """The root-dot spelling of a URL ``normalize_url`` gave ('https://example.com./a' for
    'https://example.com/a'): the key a row stored before the dot was dropped may carry.
    None for an IP literal or a host that has no label to end."""
    parts = urlsplit(normalized)
    host = parts.hostname or ""
    if not host or host.endswith(".") or ":" in host or _is_ipv4(host):
        return None
    netloc = f"{host}.:{parts.port}" if parts.port is not None else f"{host}."
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def _is_ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def _normalized(url: str, *, root_dot: bool) -> str:
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = _ascii_host((parts.hostname or "").lower())
    if not root_dot:
        host = _without_root_dot(host)
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"invalid port in URL: {quoted(url)}") from exc
    if port is not None and _DEFAULT_PORTS.get(scheme) != port:
        host = f"{host}:{port}"
    # The query is decoded and re-encoded byte for byte (latin-1 maps each byte to one
    # character): decoded as UTF-8, a legacy site's `?q=caf%E9` became `caf%EF%BF%BD`, so the
    # fetcher asked for another page and every such URL of a path shared one key. A raw
    # non-ASCII character is sent as its UTF-8 bytes, as browsers do.
    raw_query = parts.query.encode("utf-8").decode("latin-1")
    query = sorted(
        (key, value)
        for key, value in parse_qsl(raw_query, keep_blank_values=True, encoding="latin-1")
        if not is_tracking_param(key)
    )
    encoded = urlencode(query, encoding="latin-1")
    return urlunsplit((scheme, host, canonical_path(parts.path or "/"), encoded, ""))


# What a browser escapes in a path (as UTF-8, the WHATWG path percent-encode set): any character
# but printable ASCII, and '"', '<', '>', '`', '{', '}' ('^' is kept, as Chrome keeps it); and
# an escape (upper-cased). Migration 0209 holds a frozen copy of this rule.
_PATH_TO_ESCAPE = re.compile(r'(?:[^\x21-\x7e]|["<>`{}])+|%[0-9a-fA-F]{2}')


def canonical_path(path: str) -> str:
    """``path`` as a browser sends it (``location.href``, so a pixel's page): every character
    but printable ASCII, and '"<>`{}', escaped as UTF-8, and ``%xx`` escapes in upper case
    (RFC 3986 2.1). An escape is never decoded ('%2F' stays), reserved characters stay as they
    are, and an escaped path is its own canonical form.

    A raw 'example.com/ü' copied from an address bar and its '/%C3%BC' were two store keys, so
    two rows, fetched and classified twice. Whitespace the dropped query or fragment left at the
    end of a path is escaped too: left raw, the key's own normalisation stripped it, so a result
    was stored under another key than the queued row's, which stayed pending forever."""
    return _PATH_TO_ESCAPE.sub(_escaped, path)


def _escaped(found: re.Match[str]) -> str:
    text = found[0]
    return text.upper() if text.startswith("%") else quote(text, safe="")
