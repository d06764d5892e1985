"""The pixel collector: the hot path, a raw ASGI app in front of FastAPI.

`GET /px/{campaign_id}.gif` answers the 43-byte transparent GIF and `POST /px/{campaign_id}`
(the script tag's beacon) answers 204, both with `Cache-Control: no-store`; the beacon's
answer allows any origin (`Access-Control-Allow-Origin: *`, no credentials: nothing here
reads a cookie), and `OPTIONS` answers a CORS preflight, for a tag that posts JSON with
`fetch`. `POST` to the image is 405: it is no beacon, and no image shows its answer (the 405
allows any origin too, so a cross-origin `fetch` sees it rather than a CORS error). A hit is appended
to the spool *before* the response is sent, so an acknowledged hit survives `kill -9`; that
append (one `os.write`) is the only I/O here. No database, no auth, no parsing beyond the
campaign id and a few length checks: enrichment happens in the consumer.

A malformed or oversized hit still gets its GIF (a broken image in an ad is worse than a
lost count) but is not appended, and is counted in `beacon_pixel_hits_rejected{reason}`;
that includes a request target over 64 KiB, which the server's protocol hands over as
`OVERLONG_PIXEL_TARGET` (`core/transport.py`).
Unknown campaigns are only known to the consumer, which rejects them at flush time. When the
spool cannot take the hit (disk error, or the unflushed backlog is over its cap) the answer
is 503: the hit was not acknowledged, so nothing acknowledged is lost.
"""

from __future__ import annotations

import time

from starlette.types import Receive, Scope, Send

from beacon.core.transport import COLLECTOR_PREFIX, OVERLONG_PIXEL_TARGET
from beacon.pixel.hits import KEPT_HEADERS, beacon_record, gif_record
from beacon.pixel.metrics import PixelMetrics
from beacon.pixel.spool import Spool

PREFIX = COLLECTOR_PREFIX
TRANSPARENT_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
MAX_USER_AGENT = 1024
_MAX_ID_DIGITS = 18  # fits a signed 64-bit id

_GIF_HEADERS = [
    (b"content-type", b"image/gif"),
    (b"content-length", str(len(TRANSPARENT_GIF)).encode()),
    (b"cache-control", b"no-store"),
]
_ANY_ORIGIN = (b"access-control-allow-origin", b"*")
_NO_CONTENT_HEADERS = [(b"cache-control", b"no-store"), _ANY_ORIGIN]
_UNAVAILABLE_HEADERS = [
    (b"content-length", b"0"),
    (b"cache-control", b"no-store"),
    (b"retry-after", b"1"),
    _ANY_ORIGIN,
]
_OVERLONG_PATH = OVERLONG_PIXEL_TARGET.decode()
# What each kind of path answers (GET and HEAD on the beacon's path answer the GIF, uncounted).
_GIF_METHODS = b"GET, HEAD, OPTIONS"
_BEACON_METHODS = b"GET, HEAD, POST, OPTIONS"
_PREFLIGHT_MAX_AGE = b"86400"  # a day, Firefox's cap (Chromium caps at two hours)


def _preflight_headers(methods: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"allow", methods),
        _ANY_ORIGIN,
        (b"access-control-allow-methods", methods),
        (b"access-control-allow-headers", b"Content-Type"),
        (b"access-control-max-age", _PREFLIGHT_MAX_AGE),
    ]


_GIF_PREFLIGHT_HEADERS = _preflight_headers(_GIF_METHODS)
_BEACON_PREFLIGHT_HEADERS = _preflight_headers(_BEACON_METHODS)
# Any origin here too: without it a cross-origin fetch sees a CORS error, not the 405.
_GIF_NOT_ALLOWED_HEADERS = [(b"content-length", b"0"), (b"allow", _GIF_METHODS), _ANY_ORIGIN]
_BEACON_NOT_ALLOWED_HEADERS = [(b"content-length", b"0"), (b"allow", _BEACON_METHODS), _ANY_ORIGIN]


class PixelCollector:
    """Raw ASGI app for `/px/...`; `spool` is attached when the app starts."""

    def __init__(self, *, metrics: PixelMetrics, max_url_bytes: int, max_beacon_bytes: int) -> None:
        self.metrics = metrics
        self.max_url_bytes = max_url_bytes
        self.max_beacon_bytes = max_beacon_bytes
        self.spool: Spool | None = None
        # Set by the consumer from the spool backlog; read per hit, so it must stay a plain bool.
        self.overloaded = False

    def owns(self, path: str) -> bool:
        """Whether a request path is answered here rather than by the API."""
        return path.startswith(PREFIX)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method == "GET":
            await self._respond_gif(send, self._take_gif(scope))
        elif method == "POST" and not scope["path"].endswith(".gif"):
            await self._respond_empty(send, await self._take_beacon(scope, receive))
        elif method == "HEAD":
            await send({"type": "http.response.start", "status": 200, "headers": _GIF_HEADERS})
            await send({"type": "http.response.body", "body": b""})
        elif method == "OPTIONS":
            await self._respond_preflight(send, scope["path"])
        else:
            await self._not_allowed(send, scope["path"])

    def _take_gif(self, scope: Scope) -> bool:
        """Append the hit if it is countable; False only when it could not be stored."""
        path: str = scope["path"]
        campaign_id = _campaign_id(path, ".gif")
        if campaign_id is None:
            return self._reject(_path_problem(path))
        query: bytes = scope["query_string"]
        if len(path) + len(query) > self.max_url_bytes:
            return self._reject("url_too_long")
        referer, user_agent, kept = _headers(scope)
        if len(referer) > self.max_url_bytes:
            return self._reject("url_too_long")
        record = gif_record(
            time.time(),
            campaign_id,
            _client_ip(scope),
            query.decode("latin-1"),
            referer.decode("latin-1"),
            user_agent[:MAX_USER_AGENT].decode("latin-1"),
            kept,
        )
        if not self._append(record):
            return False
        self.metrics.gif_accepted.inc()
        return True

    async def _take_beacon(self, scope: Scope, receive: Receive) -> bool:
        campaign_id = _campaign_id(scope["path"], "")
        if campaign_id is None:
            return self._reject(_path_problem(scope["path"]))
        body, problem = await _read_body(receive, self.max_beacon_bytes)
        if problem:
            return self._reject(problem)
        referer, user_agent, kept = _headers(scope)
        if len(referer) > self.max_url_bytes:
            return self._reject("url_too_long")
        record = beacon_record(
            time.time(),
            campaign_id,
            _client_ip(scope),
            body.decode("latin-1"),
            referer.decode("latin-1"),
            user_agent[:MAX_USER_AGENT].decode("latin-1"),
            kept,
        )
        if not self._append(record):
            return False
        self.metrics.beacon_accepted.inc()
        return True

    def _append(self, record: bytes) -> bool:
        spool = self.spool
        if spool is None or self.overloaded:
            self.metrics.reject("unavailable" if spool is None else "backlog_full")
            return False
        try:
            spool.append(record)
        except OSError:
            self.metrics.reject("spool_error")
            return False
        return True

    def _reject(self, reason: str) -> bool:
        self.metrics.reject(reason)
        return True  # answered normally: the client did nothing a retry would fix

    async def _respond_gif(self, send: Send, stored: bool) -> None:
        if not stored:
            await self._unavailable(send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": _GIF_HEADERS})
        await send({"type": "http.response.body", "body": TRANSPARENT_GIF})

    async def _respond_empty(self, send: Send, stored: bool) -> None:
        if not stored:
            await self._unavailable(send)
            return
        await send({"type": "http.response.start", "status": 204, "headers": _NO_CONTENT_HEADERS})
        await send({"type": "http.response.body", "body": b""})

    async def _respond_preflight(self, send: Send, path: str) -> None:
        gif = path.endswith(".gif")
        headers = _GIF_PREFLIGHT_HEADERS if gif else _BEACON_PREFLIGHT_HEADERS
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async def _not_allowed(self, send: Send, path: str) -> None:
        # Counted: a tag posting to its image URL (or worse) loses every hit it sends.
        self.metrics.reject("method_not_allowed")
        gif = path.endswith(".gif")
        headers = _GIF_NOT_ALLOWED_HEADERS if gif else _BEACON_NOT_ALLOWED_HEADERS
        await send({"type": "http.response.start", "status": 405, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async def _unavailable(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 503, "headers": _UNAVAILABLE_HEADERS})
        await send({"type": "http.response.body", "body": b""})


def _path_problem(path: str) -> str:
    """Why a path names no campaign: too long to read (see `OVERLONG_PIXEL_TARGET`), or not
    one of the collector's paths."""
    return "url_too_long" if path == _OVERLONG_PATH else "bad_path"


def _campaign_id(path: str, suffix: str) -> int | None:
    tail = path[len(PREFIX) :]
    if suffix:
        if not tail.endswith(suffix):
            return None
        tail = tail[: -len(suffix)]
    if not (0 < len(tail) <= _MAX_ID_DIGITS and tail.isascii() and tail.isdigit()):
        return None
    campaign_id = int(tail)
    return campaign_id or None


def _headers(scope: Scope) -> tuple[bytes, bytes, dict[str, str] | None]:
    referer = user_agent = b""
    kept: dict[str, str] | None = None
    for name, value in scope["headers"]:
        if name == b"user-agent":
            user_agent = value
        elif name == b"referer":
            referer = value
        elif name in KEPT_HEADERS:
            if kept is None:
                kept = {}
            kept[name.decode("latin-1")] = value[:1024].decode("latin-1")
    return referer, user_agent, kept


def _client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, str]:
    """The request body and '', or b'' and a rejection reason (too large, cut short)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"", "beacon_incomplete"
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", "beacon_too_large"
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), ""
