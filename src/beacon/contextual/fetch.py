"""Fetch a web page for classification, safely.

Every TCP connection goes through `_GuardedBackend`: it resolves the host once, refuses the
connection if any resolved address is non-public (loopback, private, link-local, multicast,
reserved, unspecified, shared/CGNAT, cloud metadata), and then connects to the address it
checked. Because the check and the connect use the same resolved IP, a DNS answer that
changes between the two (DNS rebinding) cannot slip a private address through, and the same
guard applies to every redirect hop and to robots.txt. TLS still verifies the certificate
against the original host name. Redirects are followed by hand so each hop's URL is checked.
"""

from __future__ import annotations

import asyncio
import codecs
import email.utils
import ipaddress
import os
import re
import socket
import ssl
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, TypeVar

import anyio
import httpcore
import httpx

from beacon.contextual.robots import RobotsRules
from beacon.core.urls import normalize_url as normalize_url  # its home moved to core
from beacon.core.urls import web_url_problem

USER_AGENT = "BeaconClassifier/0.1 (+https://github.com/beacon)"
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
ROBOTS_MAX_BYTES = 512_000
ROBOTS_CACHE_SIZE = 1024
SITE_HOLDS_SIZE = 1024  # origins a process holds at once (``_OriginHolds``)
_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
# A page's answers that say "not now" rather than "not here": timeouts, throttling, errors.
TRANSIENT_STATUSES = frozenset({408, 425, 429, *range(500, 600)})
_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "168.63.129.16", "192.0.0.192")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.I)

T = TypeVar("T")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class FetchError(Exception):
    """A page could not be fetched; `reason` says why in plain words. `transient` marks a
    failure that a later fetch may not meet (the site or its robots.txt down, overloaded or
    unreachable); the others (a missing page, a refusal, not HTML) will be met again."""

    def __init__(
        self,
        reason: str,
        *,
        transient: bool = False,
        retry_after: float | None = None,
        held: bool = False,
        hold: SiteHold | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.retry_after = retry_after  # seconds the site asked to wait (429/503 Retry-After)
        # Not asked at all: its origin is held after a 429/503 (``_OriginHolds``).
        self.held = held
        self.hold = hold  # the hold this failure put on its origin, if any


@dataclass(frozen=True, slots=True)
class SiteHold:
    """A hold on an origin as one process tells another (the classifier's child its server):
    the reason its pages fail with, and the seconds it had left when it was read."""

    origin: str
    reason: str
    seconds: float


# Statuses whose Retry-After says when to come back (RFC 9110 10.2.3, RFC 6585 4).
_RETRY_AFTER_STATUSES = frozenset({429, 503})
_RETRY_AFTER_MAX_SECONDS = 10**9  # far past any back-off bound; digits beyond are not read


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The wait a 429 or 503 asks for in its Retry-After (delay-seconds or an HTTP-date), in
    seconds from now; None for another status, or no or an unreadable value."""
    value = response.headers.get("retry-after", "").strip()
    if response.status_code not in _RETRY_AFTER_STATUSES or not value:
        return None
    if value.isdigit() and value.isascii():
        return float(min(int(value[:12]), _RETRY_AFTER_MAX_SECONDS))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):  # a year past a C long
        return None
    if when.tzinfo is None:  # RFC 9110's HTTP-date is GMT
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


@dataclass(frozen=True, slots=True)
class FetchSettings:
    """Limits for one fetch. `allow_private_networks` is for tests and trusted intranets."""

    allow_private_networks: bool = False
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    max_bytes: int = 2_000_000
    max_redirects: int = 5
    user_agent: str = USER_AGENT
    respect_robots: bool = True
    # Bounds a server that trickles bytes just under the read timeout.
    total_timeout: float = 30.0
    robots_ttl: float = 3600.0
    # How long a page's 429 or 503 holds its whole origin: its Retry-After, else the default,
    # at most the max (``BEACON_CLASSIFICATION_RETRY_MAX_SECONDS`` in the service).
    site_wait_default: float = 60.0
    site_wait_max: float = 86_400.0

    @classmethod
    def from_env(cls) -> FetchSettings:
        """Settings with `BEACON_FETCH_ALLOW_PRIVATE_NETWORKS` read from the environment."""
        flag = os.environ.get("BEACON_FETCH_ALLOW_PRIVATE_NETWORKS", "")
        return cls(allow_private_networks=flag.strip().lower() in {"1", "true", "yes", "on"})


@dataclass(frozen=True, slots=True)
class FetchedPage:
    """An HTML page; `truncated` is true when the body hit `max_bytes` and was cut."""

    url: str
    final_url: str
    status: int
    content_type: str
    html: str
    truncated: bool = False


def is_forbidden_address(address: str | IPAddress) -> bool:
    """True for any address a server-side fetch must not reach (non-public or metadata)."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and is_forbidden_address(embedded):
            return True
    return (
        not ip.is_global
        or ip.is_multicast
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_unspecified
        or ip in _METADATA_ADDRESSES
    )


_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # CGNAT, RFC 6598


def address_class(address: str | IPAddress) -> str:
    """What kind of address ``address`` is, for refusal messages: a class such as "private
    address", never the address itself (it would map the operator's internal network)."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and is_forbidden_address(embedded):
            return address_class(embedded)
    checks = (
        (ip in _METADATA_ADDRESSES, "cloud metadata address"),
        (ip.is_loopback, "loopback address"),
        (ip.is_unspecified, "unspecified address"),
        (ip.is_link_local, "link-local address"),
        (ip.is_multicast, "multicast address"),
        (ip in _SHARED_ADDRESS_SPACE, "shared (CGNAT) address"),
        (ip.is_reserved, "reserved address"),
        (ip.is_private, "private address"),
    )
    return next((name for matched, name in checks if matched), "non-global address")


def _refusal(address: IPAddress) -> FetchError:
    return FetchError(f"refused to connect to non-public address ({address_class(address)})")


def _checked_url(url: str | httpx.URL, *, allow_private: bool) -> httpx.URL:
    problem = web_url_problem(str(url))  # the API's rule, applied to every redirect too
    if problem is not None:
        raise FetchError(f"invalid URL: {problem}")
    parsed = httpx.URL(str(url).strip())
    try:
        literal = ipaddress.ip_address(parsed.host)
    except ValueError:
        return parsed
    if not allow_private and is_forbidden_address(literal):
        raise _refusal(literal)
    return parsed


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolve once, refuse non-public addresses, connect to the checked address."""

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._resolve(host, port, timeout)
        if not self._allow_private:
            forbidden = [a for a in addresses if is_forbidden_address(a)]
            if forbidden:
                raise _refusal(forbidden[0])
        last_error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    async def _resolve(self, host: str, port: int, timeout: float | None) -> list[IPAddress]:
        try:
            with anyio.fail_after(timeout):
                infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except TimeoutError as exc:
            raise FetchError(f"timeout resolving {host}", transient=True) from exc
        except OSError as exc:
            # Transient too: a resolver cannot tell a name gone from a DNS outage reliably.
            raise FetchError(
                f"cannot resolve {host}: {_resolver_reason(exc)}", transient=True
            ) from exc
        addresses: list[IPAddress] = []
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise FetchError(f"cannot resolve {host}", transient=True)
        return addresses

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise FetchError("unix sockets are not fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        if hasattr(self._stream, "aclose"):
            await self._stream.aclose()


class _GuardedTransport(httpx.AsyncBaseTransport):
    """httpx transport over an httpcore pool that uses the guarded network backend."""

    def __init__(self, *, allow_private: bool, max_connections: int) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=tls_context(),
            network_backend=_GuardedBackend(allow_private=allow_private),
            max_connections=max_connections,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        response = await self._pool.handle_async_request(core_request)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


class _RobotsCache:
    """robots.txt parsers per origin with a TTL, bounded in size."""

    def __init__(self) -> None:
        self._entries: OrderedDict[str, tuple[float, RobotsRules]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, origin: str) -> RobotsRules | None:
        with self._lock:
            entry = self._entries.get(origin)
            if entry is None or entry[0] < time.monotonic():
                return None
            self._entries.move_to_end(origin)
            return entry[1]

    def put(self, origin: str, parser: RobotsRules, ttl: float) -> None:
        with self._lock:
            self._entries[origin] = (time.monotonic() + ttl, parser)
            self._entries.move_to_end(origin)
            while len(self._entries) > ROBOTS_CACHE_SIZE:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class _OriginHolds:
    """Origins that asked to be left alone (a page or robots.txt answering 429 or 503): until
    the wait ends, no page of the origin is asked for, in this process; each fails with the
    hold's reason instead. Bounded in size like the robots.txt cache. The service shares them
    with the other processes of the installation through the store (``service.classify_pages``)."""

    def __init__(self) -> None:
        self._holds: OrderedDict[str, tuple[float, str]] = OrderedDict()  # (until, reason)
        self._lock = threading.Lock()

    def held(self, origin: str) -> tuple[str, float] | None:
        """(reason, seconds left) while ``origin`` is held, else None."""
        with self._lock:
            entry = self._holds.get(origin)
            if entry is None:
                return None
            left = entry[0] - time.monotonic()
            if left <= 0:
                del self._holds[origin]
                return None
            return entry[1], left

    def hold(self, origin: str, reason: str, seconds: float) -> None:
        """Hold ``origin`` for ``seconds``; a longer hold already there is kept."""
        until = time.monotonic() + seconds
        with self._lock:
            current = self._holds.get(origin)
            if current is not None and current[0] >= until:
                return
            self._holds[origin] = (until, reason)
            self._holds.move_to_end(origin)
            while len(self._holds) > SITE_HOLDS_SIZE:
                self._holds.popitem(last=False)

    def current(self) -> list[SiteHold]:
        """Every hold in force now, with the seconds it has left."""
        now = time.monotonic()
        with self._lock:
            return [
                SiteHold(origin=origin, reason=reason, seconds=until - now)
                for origin, (until, reason) in self._holds.items()
                if until > now
            ]

    def clear(self) -> None:
        with self._lock:
            self._holds.clear()


_robots_cache = _RobotsCache()
_origin_holds = _OriginHolds()


def clear_robots_cache() -> None:
    """Forget every cached robots.txt and every origin's hold (tests, or after changing the
    user agent)."""
    _robots_cache.clear()
    _origin_holds.clear()


def origin_of(url: httpx.URL) -> str:
    """``scheme://host[:port]``: the unit robots.txt and a site's 429/503 hold apply to."""
    return f"{url.scheme}://{url.netloc.decode('ascii')}"


def url_origin(url: str) -> str | None:
    """``origin_of`` a URL given as text; None when it does not parse (it fails on fetching)."""
    try:
        return origin_of(httpx.URL(url))
    except (httpx.InvalidURL, UnicodeError):
        return None


def site_hold(url: str) -> SiteHold | None:
    """The hold on ``url``'s origin in this process now, if any."""
    origin = url_origin(url)
    if origin is None:
        return None
    held = _origin_holds.held(origin)
    return None if held is None else SiteHold(origin=origin, reason=held[0], seconds=held[1])


def site_holds() -> list[SiteHold]:
    """The holds in force in this process now (for the classifier's child to hold too)."""
    return _origin_holds.current()


def adopt_hold(hold: SiteHold) -> None:
    """Hold ``hold.origin`` in this process too, for the time it had left."""
    if hold.seconds > 0:
        _origin_holds.hold(hold.origin, hold.reason, hold.seconds)


def _check_hold(url: httpx.URL) -> None:
    held = _origin_holds.held(origin_of(url))
    if held is not None:
        reason, left = held
        raise FetchError(reason, transient=True, retry_after=left, held=True)


def _hold_origin(
    url: httpx.URL, response: httpx.Response, settings: FetchSettings
) -> SiteHold | None:
    """A page's 429 or 503 holds its whole origin for the wait it asked for (its Retry-After,
    else ``site_wait_default``), at most ``site_wait_max`` and the robots.txt TTL: other pages
    of a site throttling every page are not asked for meanwhile. The page itself keeps its whole
    wait (its row's next attempt); one page's 503 with a day's Retry-After (a maintenance path)
    holds the rest of the site no longer than a robots.txt 503 would."""
    wait = retry_after_seconds(response)
    asked = settings.site_wait_default if wait is None else wait
    seconds = min(asked, settings.site_wait_max, settings.robots_ttl)
    if seconds <= 0:
        return None
    until = datetime.now(UTC) + timedelta(seconds=seconds)
    origin = origin_of(url)
    reason = (
        f"not fetched: {origin} answered HTTP status {response.status_code} and asked to wait "
        f"until {until:%Y-%m-%dT%H:%M:%SZ}"
    )
    _origin_holds.hold(origin, reason, seconds)
    return SiteHold(origin=origin, reason=reason, seconds=seconds)


def _timeouts(settings: FetchSettings) -> httpx.Timeout:
    return httpx.Timeout(
        connect=settings.connect_timeout,
        read=settings.read_timeout,
        write=settings.read_timeout,
        pool=settings.connect_timeout,
    )


@cache
def tls_context() -> ssl.SSLContext:
    """The TLS context of every fetch, built once: loading the CA bundle costs tens of
    milliseconds of CPU, and a configured context is safe to share across threads."""
    return httpx.create_ssl_context()


class PageFetcher:
    """A guarded client for many fetches on one event loop: one connection pool, TLS
    context, header set and timeout configuration, reused by every page (and robots.txt).

    ``async with PageFetcher(settings) as fetcher: page = await fetcher.fetch(url)``
    """

    def __init__(self, settings: FetchSettings, *, max_connections: int = 10) -> None:
        self.settings = settings
        self._client = httpx.AsyncClient(
            transport=_GuardedTransport(
                allow_private=settings.allow_private_networks, max_connections=max_connections
            ),
            headers={
                "User-Agent": settings.user_agent,
                "Accept": "text/html,application/xhtml+xml",
                "Accept-Encoding": "gzip, deflate",  # what `_Inflater` decodes
            },
            timeout=_timeouts(settings),
            trust_env=False,
        )

    async def __aenter__(self) -> PageFetcher:
        await self._client.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._client.aclose()

    async def fetch(self, url: str) -> FetchedPage:
        """Fetch an HTML page with the SSRF guard, redirect, size, type and robots.txt checks."""
        settings = self.settings
        try:
            async with asyncio.timeout(settings.total_timeout):
                return await _follow(
                    self._client,
                    url,
                    settings,
                    robots=settings.respect_robots,
                    read=lambda final, r: _read_page(url, final, r, settings),
                )
        except TimeoutError as exc:
            reason = f"timeout after {settings.total_timeout:g}s total"
            raise FetchError(reason, transient=True) from exc
        except (httpx.TimeoutException, httpcore.TimeoutException) as exc:
            reason = f"timeout ({type(exc).__name__}) fetching {url}"
            raise FetchError(reason, transient=True) from exc
        except (
            httpx.HTTPError,
            httpcore.NetworkError,
            httpcore.ProtocolError,
            ssl.SSLError,
        ) as exc:
            reason = f"connection failed: {type(exc).__name__}: {exc}"
            raise FetchError(reason, transient=True) from exc
        except httpcore.UnsupportedProtocol as exc:
            raise FetchError(f"unsupported protocol: {exc}") from exc


async def fetch_page(url: str, *, settings: FetchSettings) -> FetchedPage:
    """Fetch one HTML page (see `PageFetcher`; use one fetcher for many pages)."""
    async with PageFetcher(settings) as fetcher:
        return await fetcher.fetch(url)


def fetch_page_sync(url: str, *, settings: FetchSettings) -> FetchedPage:
    """Blocking wrapper around `fetch_page` for workers without an event loop."""
    return asyncio.run(fetch_page(url, settings=settings))


async def _follow(
    client: httpx.AsyncClient,
    url: str | httpx.URL,
    settings: FetchSettings,
    *,
    robots: bool,
    read: Callable[[httpx.URL, httpx.Response], Awaitable[T]],
) -> T:
    current = _checked_url(url, allow_private=settings.allow_private_networks)
    for _hop in range(settings.max_redirects + 1):
        _check_hold(current)  # each hop: a redirect may lead to a held origin
        if robots and not await _robots_allow(client, current, settings):
            raise FetchError(f"disallowed by robots.txt: {current}")
        async with client.stream("GET", current, follow_redirects=False) as response:
            location = response.headers.get("location")
            if response.status_code in _REDIRECT_CODES and location:
                current = _checked_url(
                    current.join(location), allow_private=settings.allow_private_networks
                )
                continue
            return await read(current, response)
    raise FetchError(f"too many redirects (more than {settings.max_redirects})")


# The compressions a Content-Encoding may name (RFC 9110 registry); one of gzip and deflate
# is decoded, the others and chains of them are refused.
_CODINGS = frozenset({"gzip", "x-gzip", "deflate", "br", "zstd", "compress", "x-compress"})


class _Inflater:
    """One content-encoding layer decoded with bounded output. httpx's own decoders inflate
    each network chunk whole, and chain any number of layers: a few kilobytes sent as
    ``Content-Encoding: gzip, gzip`` became gigabytes in memory before the size cap was read."""

    def __init__(self, encoding: str) -> None:
        # Values that name no compression ("identity", or "utf-8" from a misconfigured
        # server) are ignored, as browsers and httpx ignore them.
        names = [n for n in (p.strip().lower() for p in encoding.split(",")) if n in _CODINGS]
        if len(names) > 1 or (names and names[0] not in ("gzip", "x-gzip", "deflate")):
            raise FetchError(f"unsupported content encoding {encoding.strip()!r}")
        if not names:
            self._wbits: int | None = None
        elif names[0] == "deflate":
            self._wbits = zlib.MAX_WBITS  # zlib-wrapped; raw deflate is tried if that fails
        else:
            self._wbits = zlib.MAX_WBITS | 16
        self._inflater = None if self._wbits is None else zlib.decompressobj(self._wbits)
        self._started = False

    def feed(self, data: bytes, budget: int) -> bytes:
        """At most ``budget`` bytes of decoded output for ``data`` (the rest is not needed:
        the caller stops at its cap)."""
        if self._inflater is None:
            return data[:budget]
        try:
            out = self._inflater.decompress(data, budget)
        except zlib.error as exc:
            if self._started or self._wbits != zlib.MAX_WBITS:
                raise FetchError(f"invalid compressed body: {exc}") from exc
            self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            return self.feed(data, budget)
        self._started = True
        return out


async def _read_body(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    declared = response.headers.get("content-length", "")
    inflater = _Inflater(response.headers.get("content-encoding", ""))
    chunks: list[bytes] = []
    size = 0
    truncated = declared.isdigit() and int(declared) > limit
    async for raw in response.aiter_raw():
        chunk = inflater.feed(raw, limit - size + 1)  # one byte more tells a cut body
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            truncated = truncated or size > limit
            break
    return b"".join(chunks)[:limit], truncated


_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# WHATWG Encoding: these labels mean windows-1252 (pages labelled latin-1 write its curly
# quotes and euro sign), and a <meta> can only be read in an ASCII-compatible encoding, so
# one naming UTF-16 means UTF-8.
_WHATWG_ALIASES = {"iso8859-1": "cp1252", "ascii": "cp1252", "latin-1": "cp1252"}
_META_UTF16 = frozenset({"utf-16", "utf-16-le", "utf-16-be"})


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip()).name
    except LookupError:
        return None
    return _WHATWG_ALIASES.get(name, name)


def decode_html(body: bytes, header_charset: str | None = None) -> str:
    """Page bytes as text, sniffed as browsers do (WHATWG): a byte order mark, else the
    header's charset, else the page's <meta charset>, else UTF-8; an unknown label is skipped."""
    for bom, bom_codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(bom_codec, errors="replace")
    codec = _codec(header_charset)
    if codec is None:
        match = _META_CHARSET_RE.search(body[:4096])
        codec = _codec(match.group(1).decode("ascii")) if match else None
        codec = "utf-8" if codec is None or codec in _META_UTF16 else codec
    return body.decode(codec, errors="replace")


async def _read_page(
    requested: str, final: httpx.URL, response: httpx.Response, settings: FetchSettings
) -> FetchedPage:
    if response.status_code >= 400:
        throttled = response.status_code in _RETRY_AFTER_STATUSES
        raise FetchError(
            f"HTTP status {response.status_code} from {final}",
            transient=response.status_code in TRANSIENT_STATUSES,
            retry_after=retry_after_seconds(response),
            hold=_hold_origin(final, response, settings) if throttled else None,
        )
    if not 200 <= response.status_code < 300:
        raise FetchError(f"unexpected HTTP status {response.status_code} from {final}")
    content_type = response.headers.get("content-type", "")
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime and mime not in HTML_TYPES:
        raise FetchError(f"not an HTML page (content type {mime})")
    body, truncated = await _read_body(response, settings.max_bytes)
    html = decode_html(body, response.charset_encoding)
    if not mime and "<html" not in html[:2048].lower():
        raise FetchError("not an HTML page (no content type and no <html> tag)")
    return FetchedPage(
        url=requested,
        final_url=str(final),
        status=response.status_code,
        content_type=content_type,
        html=html,
        truncated=truncated,
    )


async def _robots_allow(client: httpx.AsyncClient, url: httpx.URL, settings: FetchSettings) -> bool:
    origin = origin_of(url)
    parser = _robots_cache.get(origin)
    if parser is None:
        try:
            parser, ttl = await _load_robots(client, origin, settings)
        except FetchError as exc:
            # Its Retry-After holds the site's other pages too (at most the rules' TTL), as
            # RFC 9309's complete disallow while it is unavailable: else every page of a
            # site that asked for an hour asked for robots.txt again.
            if exc.retry_after:
                wait = min(exc.retry_after, settings.robots_ttl, settings.site_wait_max)
                _origin_holds.hold(origin, exc.reason, wait)
                exc.hold = SiteHold(origin=origin, reason=exc.reason, seconds=wait)
            raise
        _robots_cache.put(origin, parser, ttl)
    return parser.allows(settings.user_agent, url.raw_path.decode("ascii"))


async def _load_robots(
    client: httpx.AsyncClient, origin: str, settings: FetchSettings
) -> tuple[RobotsRules, float]:
    """RFC 9309: 2xx gives the rules; 4xx (and any other answer) means no rules. A 5xx or an
    unreachable host fails the fetch with its real reason and is not cached, so the next page
    asks again instead of reading as "disallowed" for minutes."""

    async def read(_final: httpx.URL, response: httpx.Response) -> tuple[RobotsRules, float]:
        if response.status_code >= 500:
            # RFC 9309 2.3.1.3: complete disallow while it lasts, and the crawler retries.
            raise FetchError(
                f"robots.txt unavailable: HTTP status {response.status_code} from "
                f"{origin}/robots.txt (retried on the next fetch)",
                transient=True,
                retry_after=retry_after_seconds(response),
            )
        if not 200 <= response.status_code < 300:
            return RobotsRules(), settings.robots_ttl
        body, _ = await _read_body(response, ROBOTS_MAX_BYTES)
        # utf-8-sig: a byte order mark would hide the first line ("User-agent: *").
        lines = body.decode("utf-8-sig", errors="replace").splitlines()
        return RobotsRules.parse(lines), settings.robots_ttl

    # Unreachable (DNS, refused, timeout) propagates: `PageFetcher.fetch` words it.
    return await _follow(client, f"{origin}/robots.txt", settings, robots=False, read=read)


# getaddrinfo's errors in words a person reads in a result or the console (not "[Errno -2] Name
# or service not known").
_RESOLVER_REASONS = {
    socket.EAI_NONAME: "no such host",
    socket.EAI_AGAIN: "the DNS server did not answer (temporary)",
    socket.EAI_FAIL: "the DNS server failed",
}


def _resolver_reason(error: OSError) -> str:
    if isinstance(error, socket.gaierror) and error.errno is not None:
        reason = _RESOLVER_REASONS.get(error.errno)
        if reason is None and error.errno == getattr(socket, "EAI_NODATA", None):
            reason = "the host has no address"
        return reason or (error.strerror or str(error))
    return error.strerror or str(error)
