"""robots.txt per RFC 9309 against a real local server: 4xx allows, 5xx or an unreachable host
fails the fetch with its real reason, and a failure is not remembered as a disallow."""

from __future__ import annotations

import socket
import time

import pytest
from tests.contextual.site.server import LocalSite

from beacon.contextual import fetch
from beacon.contextual.fetch import FetchError, FetchSettings, fetch_page_sync
from beacon.contextual.robots import RobotsRules

OPEN = FetchSettings(allow_private_networks=True, connect_timeout=2, read_timeout=2)


@pytest.mark.parametrize("status", [401, 403, 404, 410])
def test_robots_4xx_allows_everything(site: LocalSite, status: int) -> None:
    site.robots_status = status
    page = fetch_page_sync(site.url("/football.html"), settings=OPEN)
    assert page.status == 200


def test_robots_rules_still_apply(site: LocalSite) -> None:
    site.robots_status, site.robots_body = 200, b"User-agent: *\nDisallow: /pasta.html\n"
    with pytest.raises(FetchError, match=r"disallowed by robots\.txt"):
        fetch_page_sync(site.url("/pasta.html"), settings=OPEN)
    assert fetch_page_sync(site.url("/football.html"), settings=OPEN).status == 200


def test_robots_5xx_fails_with_the_reason_and_is_not_cached(site: LocalSite) -> None:
    site.robots_status = 503
    with pytest.raises(FetchError) as failed:
        fetch_page_sync(site.url("/football.html"), settings=OPEN)
    assert "HTTP status 503" in failed.value.reason
    assert "robots.txt" in failed.value.reason
    assert "disallowed" not in failed.value.reason
    assert site.hits["/football.html"] == 0
    # The site recovers: the very next fetch asks again instead of a cached "disallow".
    site.robots_status = 404
    assert fetch_page_sync(site.url("/football.html"), settings=OPEN).status == 200


def test_unresolvable_host_says_so() -> None:
    with pytest.raises(FetchError) as failed:
        fetch_page_sync("http://no-such-host.invalid/page.html", settings=OPEN)
    # in words, not the resolver's "[Errno -2] Name or service not known" (which words depends
    # on the machine's resolver: "no such host", or a DNS server that did not answer)
    assert failed.value.reason.startswith("cannot resolve no-such-host.invalid: ")
    assert "Errno" not in failed.value.reason
    assert "robots" not in failed.value.reason


def test_connection_refused_says_so_and_is_not_cached(site: LocalSite) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchError) as failed:
        fetch_page_sync(f"http://127.0.0.1:{port}/page.html", settings=OPEN)
    assert "connection failed" in failed.value.reason
    assert "robots" not in failed.value.reason
    assert fetch._robots_cache.get(f"http://127.0.0.1:{port}") is None


def test_robots_with_a_byte_order_mark_still_applies(site: LocalSite) -> None:
    # Windows editors save robots.txt with a UTF-8 BOM: its first line must still read.
    site.robots_status = 200
    site.robots_body = b"\xef\xbb\xbfUser-agent: *\nDisallow: /pasta.html\n"
    with pytest.raises(FetchError, match=r"disallowed by robots\.txt"):
        fetch_page_sync(site.url("/pasta.html"), settings=OPEN)
    assert site.hits["/pasta.html"] == 0


def test_robots_longest_rule_wins_so_an_allowed_section_is_fetched(site: LocalSite) -> None:
    # RFC 9309: the most specific rule applies; file order does not matter.
    site.robots_status = 200
    site.robots_body = b"User-agent: *\nDisallow: /\nAllow: /football.html\n"
    assert fetch_page_sync(site.url("/football.html"), settings=OPEN).status == 200
    with pytest.raises(FetchError, match=r"disallowed by robots\.txt"):
        fetch_page_sync(site.url("/pasta.html"), settings=OPEN)
    assert site.hits["/pasta.html"] == 0


def test_robots_wildcards_apply(site: LocalSite) -> None:
    site.robots_status = 200
    site.robots_body = b"User-agent: *\nDisallow: /*sessionid=\nDisallow: /p*.html$\n"
    for path in ("/football.html?sessionid=1", "/pasta.html"):
        with pytest.raises(FetchError, match=r"disallowed by robots\.txt"):
            fetch_page_sync(site.url(path), settings=OPEN)
    assert fetch_page_sync(site.url("/pasta.html?print=1"), settings=OPEN).status == 200
    assert site.hits["/football.html"] == 0 and site.hits["/pasta.html"] == 1


@pytest.mark.parametrize(
    ("body", "path", "allowed"),
    [
        # Our own group wins over `*`, whatever the order; an empty Disallow allows all.
        ("User-agent: *\nDisallow: /\n\nUser-agent: BeaconClassifier\nDisallow:\n", "/a", True),
        # Consecutive user-agent lines share one group; an empty rule still ends it.
        ("User-agent: x\nUser-agent: beaconclassifier\nDisallow: /a\n", "/a/b", False),
        ("User-agent: beaconclassifier\nDisallow:\nUser-agent: *\nDisallow: /\n", "/a", True),
        ("User-agent: *\nAllow: /a$\nDisallow: /a\n", "/a", True),
        ("User-agent: *\nAllow: /a$\nDisallow: /a\n", "/ab", False),
        ("User-agent: *\nDisallow: /caf%C3%A9\n", "/caf\u00e9/x", False),
        ("Disallow: /\n", "/a", True),  # a rule outside any group
    ],
)
def test_robots_rules_per_rfc_9309(body: str, path: str, allowed: bool) -> None:
    assert RobotsRules.parse(body.splitlines()).allows(OPEN.user_agent, path) is allowed


def test_robots_wildcards_cannot_make_the_matcher_backtrack() -> None:
    rules = RobotsRules.parse(["User-agent: *", "Disallow: /" + "*a" * 40 + "*b$"])
    started = time.monotonic()
    assert rules.allows(OPEN.user_agent, "/" + "a" * 100_000)
    assert time.monotonic() - started < 1
