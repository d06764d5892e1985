"""Fetcher tests against a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from dataclasses import replace
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from tests.contextual.site.server import LocalSite

from beacon.contextual import fetch
from beacon.contextual.fetch import (
    FetchError,
    FetchSettings,
    address_class,
    fetch_page_sync,
    is_forbidden_address,
    normalize_url,
)

PAGES = Path(__file__).parent / "pages"
OPEN = FetchSettings(allow_private_networks=True, connect_timeout=2, read_timeout=2)
PAGE_NAMES = ("sports.html", "news.html", "travel.html")


_CAFE = "<html><head><title>Caf\u00e9</title></head><body><p>Caf\u00e9 cr\u00e8me \u2019</p></body></html>"
# Pages whose bytes say their encoding otherwise than a plain header (WHATWG's sniffing order:
# byte order mark, then the header's charset, then <meta charset>, whose "utf-16" means UTF-8).
_ENCODED_PAGES = {
    "/utf16-bom.html": ("text/html", _CAFE.encode("utf-16")),
    "/utf16be-bom-no-type.html": ("", b"\xfe\xff" + _CAFE.encode("utf-16-be")),
    "/utf8-bom-wrong-header.html": (
        "text/html; charset=iso-8859-1",
        b"\xef\xbb\xbf" + _CAFE.encode("utf-8"),
    ),
    "/meta-utf16.html": ("text/html", ('<meta charset="utf-16">' + _CAFE).encode("utf-8")),
    "/bad-header-label.html": (
        "text/html; charset=nonsense",
        ('<meta charset="windows-1252">' + _CAFE).encode("cp1252"),
    ),
    "/latin1-label-cp1252-bytes.html": ("text/html; charset=iso-8859-1", _CAFE.encode("cp1252")),
}


def _gzip(chunks: Iterator[bytes]) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    return b"".join(packer.compress(chunk) for chunk in chunks) + packer.flush()


def _zeros(megabytes: int) -> Iterator[bytes]:
    yield b"<html><body><p>"
    for _ in range(megabytes):
        yield b"\0" * 1_000_000


# A few kilobytes that inflate to 300 MB through two gzip layers.
_BOMB = _gzip(iter([_gzip(_zeros(300))]))
_COMPRESSED_PAGES = {
    "/gzip.html": ("gzip", _gzip(iter([_CAFE.encode()]))),
    "/raw-deflate.html": ("deflate", zlib.compress(_CAFE.encode())[2:-4]),
    "/bomb.html": ("gzip, gzip", _BOMB),
    "/br.html": ("br", b"\x8b\x03\x80hi\x03"),
    # A misconfigured server's charset in Content-Encoding names no compression: ignored.
    "/not-a-coding.html": ("utf-8", _CAFE.encode()),
}


class _Handler(SimpleHTTPRequestHandler):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, directory=str(PAGES), **kwargs)  # type: ignore[arg-type]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, content_type: str, body: bytes, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self._send(302, "text/html", b"moved", Location=location)

    def do_GET(self) -> None:
        # The client stops reading on purpose in some tests (size cap, timeout).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._route()

    def _route(self) -> None:
        port = self.server.server_address[1]
        path = self.path
        if path == "/robots.txt":
            self._send(200, "text/plain", b"User-agent: *\nDisallow: /private/\n")
        elif path.startswith("/redirect/"):
            hops = int(path.rsplit("/", 1)[1])
            self._redirect(f"/redirect/{hops - 1}" if hops > 1 else "/sports.html")
        elif path == "/loop":
            self._redirect("/loop")
        elif path == "/to-localhost":
            self._redirect(f"http://localhost:{port}/sports.html")
        elif path == "/to-other-loopback":
            self._redirect(f"http://127.0.0.2:{port}/sports.html")
        elif path == "/with-credentials":
            self._redirect(f"http://me:pw@127.0.0.1:{port}/sports.html")
        elif path == "/slow":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.flush()
            time.sleep(2)
            self.wfile.write(b"<html>" + b" " * 94)
        elif path == "/image.png":
            self._send(200, "image/png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
        elif path == "/doc.pdf":
            self._send(200, "application/pdf", b"%PDF-1.4 fake")
        elif path == "/big.html":
            chunk = b"<p>" + b"x" * 1021
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(b"<html><body>")
            for _ in range(3 * 1024):
                self.wfile.write(chunk)
        elif path == "/private/secret.html":
            self._send(200, "text/html", b"<html><body>secret</body></html>")
        elif path == "/latin1.html":
            body = "<html><body><p>Caf\u00e9 cr\u00e8me</p></body></html>".encode("latin-1")
            self._send(200, "text/html; charset=iso-8859-1", body)
        elif path in _COMPRESSED_PAGES:
            encoding, body = _COMPRESSED_PAGES[path]
            self._send(200, "text/html; charset=utf-8", body, Content_Encoding=encoding)
        elif path in _ENCODED_PAGES:
            content_type, body = _ENCODED_PAGES[path]
            self._send(200, content_type, body)
        else:
            super().do_GET()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_fetches_html_page(server: str) -> None:
    page = fetch_page_sync(f"{server}/sports.html", settings=OPEN)
    assert page.status == 200
    assert page.content_type.startswith("text/html")
    assert "Bukayo Saka" in page.html
    assert page.final_url == f"{server}/sports.html"
    assert not page.truncated


def test_follows_redirect_chain_within_limit(server: str) -> None:
    page = fetch_page_sync(f"{server}/redirect/5", settings=OPEN)
    assert page.final_url == f"{server}/sports.html"
    assert page.url == f"{server}/redirect/5"


def test_too_many_redirects(server: str) -> None:
    with pytest.raises(FetchError, match="too many redirects"):
        fetch_page_sync(f"{server}/redirect/6", settings=OPEN)
    with pytest.raises(FetchError, match="too many redirects"):
        fetch_page_sync(f"{server}/loop", settings=OPEN)


@pytest.mark.parametrize("url", ["http://xn--/", "https://xn--abc-.example/page"])
def test_a_host_name_idna_refuses_is_a_fetch_error(url: str) -> None:
    """Not an IDNAError escaping as "classification failed" with a traceback, retried forever."""
    with pytest.raises(FetchError, match="invalid URL"):
        fetch_page_sync(url, settings=OPEN)


def test_a_redirect_is_held_to_the_api_rule(server: str) -> None:
    """Each hop is checked as the classify API checks a URL: credentials are refused there."""
    with pytest.raises(FetchError, match="invalid URL: must not carry a user name or password"):
        fetch_page_sync(f"{server}/with-credentials", settings=OPEN)


def test_guard_refuses_loopback_ip(server: str) -> None:
    with pytest.raises(FetchError, match=re.escape("non-public address (loopback address)")):
        fetch_page_sync(f"{server}/sports.html", settings=FetchSettings())


def test_guard_refuses_hostname_resolving_to_loopback(server: str) -> None:
    port = server.rsplit(":", 1)[1]
    with pytest.raises(FetchError) as refused:
        fetch_page_sync(f"http://localhost:{port}/sports.html", settings=FetchSettings())
    # the class of the resolved address, never the host name or the address it resolved to
    assert str(refused.value) == "refused to connect to non-public address (loopback address)"


def test_guard_checks_every_redirect_hop(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guard on, with only the test server's own address treated as public."""
    real = fetch.is_forbidden_address
    checked: list[str] = []

    def only_test_server_public(address: object) -> bool:
        checked.append(str(address))
        ip = ipaddress.ip_address(str(address))
        return ip != ipaddress.ip_address("127.0.0.1") and real(ip)

    monkeypatch.setattr(fetch, "is_forbidden_address", only_test_server_public)
    guarded = FetchSettings(connect_timeout=2, read_timeout=2)
    assert "Bukayo Saka" in fetch_page_sync(f"{server}/sports.html", settings=guarded).html
    with pytest.raises(FetchError, match=re.escape("non-public address (loopback address)")):
        fetch_page_sync(f"{server}/to-other-loopback", settings=guarded)
    # A hop to a host name is resolved at connect time and every answer goes through the guard.
    checked.clear()
    page = fetch_page_sync(f"{server}/to-localhost", settings=guarded)
    assert page.final_url.startswith("http://localhost:")
    assert "127.0.0.1" in checked


def test_one_tls_context_and_one_client_for_many_pages(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetch.tls_context.cache_clear()
    built: list[int] = []
    create = httpx.create_ssl_context
    monkeypatch.setattr(httpx, "create_ssl_context", lambda: built.append(1) or create())

    async def several() -> list[fetch.FetchedPage]:
        async with fetch.PageFetcher(OPEN) as fetcher:
            return [await fetcher.fetch(f"{server}/{name}") for name in PAGE_NAMES]

    pages = asyncio.run(several())
    fetch_page_sync(f"{server}/sports.html", settings=OPEN)
    assert [page.final_url.rsplit("/", 1)[1] for page in pages] == list(PAGE_NAMES)
    assert built == [1]


def test_read_timeout(server: str) -> None:
    settings = replace(OPEN, read_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(FetchError, match="timeout"):
        fetch_page_sync(f"{server}/slow", settings=settings)
    assert time.monotonic() - started < 1.8


def test_total_timeout(server: str) -> None:
    settings = replace(OPEN, read_timeout=5, total_timeout=0.3)
    with pytest.raises(FetchError, match=re.escape("timeout after 0.3s total")):
        fetch_page_sync(f"{server}/slow", settings=settings)


@pytest.mark.parametrize(
    ("path", "mime"), [("/image.png", "image/png"), ("/doc.pdf", "application/pdf")]
)
def test_non_html_is_refused(server: str, path: str, mime: str) -> None:
    with pytest.raises(FetchError, match=f"not an HTML page \\(content type {mime}\\)") as info:
        fetch_page_sync(f"{server}{path}", settings=OPEN)
    assert mime in info.value.reason


def test_oversized_body_is_cut_at_the_cap(server: str) -> None:
    settings = replace(OPEN, max_bytes=200_000)
    page = fetch_page_sync(f"{server}/big.html", settings=settings)
    assert page.truncated
    assert len(page.html.encode()) == 200_000


def test_robots_disallow(server: str) -> None:
    with pytest.raises(FetchError, match=re.escape("disallowed by robots.txt")):
        fetch_page_sync(f"{server}/private/secret.html", settings=OPEN)
    ignoring = replace(OPEN, respect_robots=False)
    assert "secret" in fetch_page_sync(f"{server}/private/secret.html", settings=ignoring).html


def test_http_error_status(server: str) -> None:
    with pytest.raises(FetchError, match="HTTP status 404"):
        fetch_page_sync(f"{server}/missing.html", settings=OPEN)


def test_charset_from_header(server: str) -> None:
    assert "Caf\u00e9 cr\u00e8me" in fetch_page_sync(f"{server}/latin1.html", settings=OPEN).html


@pytest.mark.parametrize("path", sorted(_ENCODED_PAGES))
def test_encoding_sniffed_as_browsers_do(server: str, path: str) -> None:
    page = fetch_page_sync(f"{server}{path}", settings=OPEN)
    assert page.html.lstrip("\ufeff").startswith(("<html>", "<meta"))
    assert "Caf\u00e9 cr\u00e8me \u2019" in page.html


@pytest.mark.parametrize("path", ["/gzip.html", "/raw-deflate.html", "/not-a-coding.html"])
def test_compressed_pages_are_inflated(server: str, path: str) -> None:
    assert "Caf\u00e9 cr\u00e8me" in fetch_page_sync(f"{server}{path}", settings=OPEN).html


def test_a_compression_bomb_is_inflated_only_up_to_the_cap(server: str) -> None:
    assert len(_BOMB) < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(FetchError, match="unsupported content encoding 'gzip, gzip'"):
            fetch_page_sync(f"{server}/bomb.html", settings=OPEN)
        single = replace(OPEN, max_bytes=1_000_000)
        _COMPRESSED_PAGES["/bomb1.html"] = ("gzip", _gzip(_zeros(300)))
        page = fetch_page_sync(f"{server}/bomb1.html", settings=single)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        _COMPRESSED_PAGES.pop("/bomb1.html", None)
    assert page.truncated and len(page.html) == 1_000_000
    assert peak < 30_000_000, peak


def test_an_encoding_not_asked_for_is_refused(server: str) -> None:
    with pytest.raises(FetchError, match="unsupported content encoding 'br'"):
        fetch_page_sync(f"{server}/br.html", settings=OPEN)


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/file", "file:///etc/passwd", "http://user:pw@example.com/", "/relative"],
)
def test_rejects_bad_urls(url: str) -> None:
    with pytest.raises(FetchError):
        fetch_page_sync(url, settings=FetchSettings())


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.100.100.200",
        "168.63.129.16", "0.0.0.0", "224.0.0.1", "240.0.0.1", "::1", "::", "fe80::1",
        "fd00:ec2::254", "::ffff:127.0.0.1", "64:ff9b::a00:1", "2002:7f00:1::1", "ff02::1",
    ],
)  # fmt: skip
def test_forbidden_addresses(address: str) -> None:
    assert is_forbidden_address(address)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.2", "loopback address"), ("10.1.2.3", "private address"),
        ("192.168.1.1", "private address"), ("fd12::1", "private address"),
        ("169.254.169.254", "cloud metadata address"), ("fe80::1", "link-local address"),
        ("100.64.1.1", "shared (CGNAT) address"), ("240.0.0.1", "reserved address"),
        ("::ffff:10.0.0.5", "private address"), ("2002:7f00:1::1", "loopback address"),
    ],
)  # fmt: skip
def test_refusals_name_the_address_class(address: str, kind: str) -> None:
    assert address_class(address) == kind


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_allowed(address: str) -> None:
    assert not is_forbidden_address(address)


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEACON_FETCH_ALLOW_PRIVATE_NETWORKS", "true")
    assert FetchSettings.from_env().allow_private_networks
    monkeypatch.setenv("BEACON_FETCH_ALLOW_PRIVATE_NETWORKS", "0")
    assert not FetchSettings.from_env().allow_private_networks


def test_normalize_url() -> None:
    assert (
        normalize_url("HTTPS://Example.COM:443/Path/?utm_source=x&b=2&gclid=1&a=1&fbclid=z#frag")
        == "https://example.com/Path/?a=1&b=2"
    )
    assert normalize_url("http://example.com:8080") == "http://example.com:8080/"
    assert normalize_url("http://example.com:80/a?UTM_medium=m") == "http://example.com/a"
    assert normalize_url("http://[::1]:80/") == "http://[::1]/"


@pytest.mark.parametrize(
    "value",
    [
        "Mon, 01 Jan 99999999999999999999 00:00:00 GMT",  # OverflowError in datetime()
        "Mon, 01 Jan 10000 00:00:00 GMT",
        "Mon, 01 Jan 2026 25:00:00 GMT",
    ],
)
def test_an_unreadable_retry_after_date_is_ignored(value: str) -> None:
    # A site's 503 with a year too large for a C long raised OverflowError out of the fetcher:
    # the page's failure read "classification failed: OverflowError" (an engine error, given
    # up after 6 attempts, not retried as the transient 503 it is) with a traceback logged.
    response = httpx.Response(503, headers={"Retry-After": value})
    assert fetch.retry_after_seconds(response) is None


def test_a_pages_429_holds_its_origin_and_no_other(site: LocalSite) -> None:
    # A page's 429/503 told only that page to wait: the site's other pages were asked at once.
    site.busy_status, site.retry_after = 429, "60"
    with pytest.raises(FetchError) as throttled:
        fetch_page_sync(site.url("/busy.html"), settings=OPEN)
    assert (throttled.value.held, throttled.value.retry_after) == (False, 60)
    with pytest.raises(FetchError) as held:
        fetch_page_sync(site.url("/football.html"), settings=OPEN)
    assert held.value.held and held.value.transient
    assert held.value.retry_after is not None and 55 < held.value.retry_after <= 60
    assert held.value.reason.startswith(f"not fetched: {site.base} answered HTTP status 429")
    assert site.hits["/football.html"] == 0 and site.robots_hits == 1
    with LocalSite() as other:  # another origin is not held
        assert fetch_page_sync(other.url("/football.html"), settings=OPEN).status == 200
