"""The HTTP server's protocol: uvicorn's httptools protocol, one socket write per response.

uvicorn writes a response's status line and headers when the app sends
`http.response.start`, and its body when the app sends `http.response.body`: two `send`
system calls, and two TCP segments, for every response. For the pixel collector, whose
response is a 43-byte GIF, those two writes were about 40% of the server's CPU under load
(py-spy, docs/benchmarks.md "Collector: one write per response").

`CoalescingTransport` sits between the protocol and the socket's transport: writes made in
one turn of the event loop are joined and handed to the socket once, at the start of the
next turn (or at once when they pass `FLUSH_BYTES`, so a streamed body never piles up
unbounded). Closing flushes first; aborting drops what is pending, as a transport's abort
does. Flow control is the socket transport's own: the protocol's pause/resume callbacks
still come from it, and `get_write_buffer_size` counts the pending bytes too.

`CoalescingHttpProtocol` also bounds the request target it keeps. httptools parses a target
of at most 64 KiB (`MAX_TARGET_BYTES`) and uvicorn answers a longer one with a plain-text
400 before any app sees it; a browser sends longer ones (an ad's pixel URL that carries the
page URL), and a 400 there is a broken image in the ad. So an overlong target under the pixel
collector's prefix becomes `OVERLONG_PIXEL_TARGET`, which the collector answers like any hit
it does not count (the GIF, `url_too_long`); any other path keeps uvicorn's 400. At most
64 KiB of a target is buffered, whatever its length.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

FLUSH_BYTES = 64 * 1024
# The longest request target httptools.parse_url takes (its offsets are 16-bit).
MAX_TARGET_BYTES = 0xFFFF
# Where the pixel collector answers (pixel.collector), which the server's protocol and the
# HTTP middleware (core.http) single out: one spelling of it.
COLLECTOR_PREFIX = "/px/"
PIXEL_PREFIX = COLLECTOR_PREFIX.encode()
# What an overlong target under PIXEL_PREFIX is handed to the app as (no campaign id fits it).
OVERLONG_PIXEL_TARGET = PIXEL_PREFIX + b"overlong-request-target"


class CoalescingTransport:
    """A write transport that joins the writes of one event-loop turn into one socket write."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        self._pending.append(bytes(data))
        self._pending_bytes += len(data)
        if self._pending_bytes >= FLUSH_BYTES:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._scheduled_flush)

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        """Hand what is pending to the socket's transport now."""
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        if not self._transport.is_closing():
            self._transport.write(data)

    def _scheduled_flush(self) -> None:
        self._scheduled = False
        self.flush()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._pending_bytes = 0
        self._transport.abort()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._pending_bytes

    def __getattr__(self, name: str) -> Any:
        # get_extra_info, pause_reading, resume_reading, set_protocol, ...: the socket's own.
        return getattr(self._transport, name)


class CoalescingHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools HTTP/1.1 protocol writing through a `CoalescingTransport`."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        coalescing = CoalescingTransport(cast(asyncio.Transport, transport), self.loop)
        super().connection_made(cast(asyncio.Transport, coalescing))

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > MAX_TARGET_BYTES:  # one length check on the common path
            self.url = _bounded_target(self.url)


def _bounded_target(target: bytes) -> bytes:
    """What an overlong target is kept as: under the pixel prefix, `OVERLONG_PIXEL_TARGET`
    and a fragment that the rest of the target's bytes land in (dropped by the parser, and cut
    again whenever they pass the limit); elsewhere its first bytes, which the parser refuses."""
    if _is_pixel_target(target):
        return OVERLONG_PIXEL_TARGET + b"#"
    return target[: MAX_TARGET_BYTES + 1]


def _is_pixel_target(target: bytes) -> bool:
    """Whether a request target (origin or absolute form) is under the collector's prefix."""
    if not target.startswith(b"/"):
        scheme_end = target.find(b"://")
        path_start = target.find(b"/", scheme_end + 3) if scheme_end > 0 else -1
        target = target[path_start:] if path_start > 0 else b""
    return target.startswith(PIXEL_PREFIX)
