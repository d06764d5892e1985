"""A real local web server for classification tests: static pages from this folder plus a
few misbehaving routes, counting the requests each path receives."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# Local pages allowed (they are on loopback); short timeouts keep the slow page quick.
OPEN_FETCH = {
    "fetch_allow_private_networks": True,
    "fetch_connect_timeout": 1.0,
    "fetch_read_timeout": 0.5,
    "fetch_total_timeout": 5.0,
}


SITE = Path(__file__).resolve().parent
# ``/legacy?<query>`` serves the page its query names in latin-1 escapes (not UTF-8): é, ü.
LEGACY_PAGES = {"t=%E9": "/pasta.html", "t=%FC": "/football.html"}
SLOW_SECONDS = 5.0


class LocalSite:
    """``with LocalSite() as site: site.url("/football.html")``; ``site.hits[path]`` counts."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.robots_hits = 0  # requests for /robots.txt (not in ``hits``)
        # What /robots.txt answers (tests change it): 404 and no rules by default.
        self.robots_status = 404
        self.robots_body = b""
        # What /busy.html answers (tests change it): a 503; it and /robots.txt send this
        # Retry-After when set.
        self.busy_status = 503
        self.retry_after: str | None = None
        # When set, every page (not /robots.txt) answers this status, with the Retry-After:
        # a site throttling all its pages.
        self.every_page_status: int | None = None
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def url(self, path: str) -> str:
        """An absolute URL on this site."""
        return self.base + path

    def count(self, path: str) -> None:
        """Record one request for ``path``."""
        with self._lock:
            self.hits[path] += 1

    def __enter__(self) -> LocalSite:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _handler_for(site: LocalSite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            if path != "/robots.txt":
                site.count(path)
            else:
                with site._lock:
                    site.robots_hits += 1
            # The fetcher hangs up on purpose (timeouts).
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                # Like many servers, it ignores a trailing (escaped) space in the path.
                path = path.removesuffix("%20")
                if path == "/legacy":  # a latin-1 site: the query's raw bytes pick the page
                    path = LEGACY_PAGES.get(query, "/missing")
                self._route(path)

        def _send(self, status: int, content_type: str, body: bytes, **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _route(self, path: str) -> None:
            page = SITE / path.lstrip("/")
            wait = {"Retry-After": site.retry_after} if site.retry_after is not None else {}
            if path == "/robots.txt":
                self._send(site.robots_status, "text/plain", site.robots_body, **wait)
            elif site.every_page_status is not None:
                self._send(site.every_page_status, "text/html", b"<html>slow down</html>", **wait)
            elif path.endswith(".html") and page.parent == SITE and page.is_file():
                self._send(200, "text/html; charset=utf-8", page.read_bytes())
            elif path == "/slow.html":
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", "64")
                self.end_headers()
                self.wfile.flush()
                time.sleep(SLOW_SECONDS)
                self.wfile.write(b"<html><body>" + b" " * 52)
            elif path == "/report.pdf":
                self._send(200, "application/pdf", b"%PDF-1.4 not a web page")
            elif path == "/broken.html":
                self._send(500, "text/html", b"<html><body>oops</body></html>")
            elif path == "/busy.html":
                self._send(site.busy_status, "text/html", b"<html><body>busy</body></html>", **wait)
            elif path.startswith("/to/"):  # /to/<host:port>/<path>: to another site
                _, _, where, rest = path.split("/", 3)
                self._send(301, "text/html", b"moved", Location=f"http://{where}/{rest}")
            elif path.startswith("/moved/"):
                self._send(301, "text/html", b"moved", Location="/" + path.split("/", 2)[2])
            else:
                self._send(404, "text/plain", b"not found")

    return Handler
