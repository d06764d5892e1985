"""General invalid traffic: one test per reason, data-center ranges, the activity rule."""

from __future__ import annotations

import hashlib
import ipaddress
import json
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import pytest

from beacon.core.clientaddr import parse_ip
from beacon.core.config import Settings
from beacon.pixel.agents import (
    AgentClassifier,
    AgentLists,
    classify_traffic,
    load_extra_patterns,
)
from beacon.pixel.datacenter import AI_OPERATORS, DatacenterRanges, vendored_ranges
from beacon.pixel.geo import CountryResolver
from beacon.pixel.hits import KEPT_HEADERS, HitEnricher, beacon_record, gif_record
from beacon.pixel.ivt import (
    ActivityRule,
    HitContext,
    InvalidTrafficDetector,
    detector_from_settings,
    is_prefetch,
)

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
HOME = "71.192.0.1"  # a US residential address, in no data-center range
HOME_V6 = "2601:1c0::1"  # Comcast, in no data-center range
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, a minute boundary


def hit(ip: str | None = HOME, *, ts: float = T0, headers: dict[str, str] | None = None,
        cache_buster: str = "", campaign_id: int = 1) -> HitContext:  # fmt: skip
    return HitContext(campaign_id, ts, parse_ip(ip) if ip else None, headers or {}, cache_buster)


@pytest.fixture
def detector() -> InvalidTrafficDetector:
    return InvalidTrafficDetector(activity=ActivityRule(max_per_minute=3))


# -- one test per reason ---------------------------------------------------------------------


def test_a_browser_from_a_home_address_is_human(detector: InvalidTrafficDetector) -> None:
    info = detector.classify(CHROME, hit())
    assert (info.type, info.reason) == ("human", None)


@pytest.mark.parametrize("ua", ["", "   ", "-"])
def test_empty_ua(detector: InvalidTrafficDetector, ua: str) -> None:
    info = detector.classify(ua, hit())
    assert (info.type, info.reason) == ("bot", "empty_ua")


@pytest.mark.parametrize(
    ("ua", "agent"),
    [
        ("Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)", "GPTBot"),
        ("Mozilla/5.0 (compatible; Google-NotebookLM)", "Google-NotebookLM"),  # list pattern
        ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Perplexity-User/1.0; "
         "+https://perplexity.ai/perplexity-user)", "Perplexity-User"),
    ],
)  # fmt: skip
def test_ai_agent(detector: InvalidTrafficDetector, ua: str, agent: str) -> None:
    info = detector.classify(ua, hit())
    assert (info.type, info.reason) == ("ai_agent", "ai_agent")
    assert info.agent is not None and info.agent.lower() == agent.lower()


@pytest.mark.parametrize(
    "ua",
    [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",  # a link preview
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        "Mozilla/5.0 (compatible; SomeNewCrawler/0.1)",  # Crawler-Detect's generic rule
    ],
)
def test_known_crawler(detector: InvalidTrafficDetector, ua: str) -> None:
    info = detector.classify(ua, hit())
    assert (info.type, info.reason) == ("bot", "known_crawler")
    assert info.agent


@pytest.mark.parametrize(
    "ua",
    [
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/124.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.6099.28 Safari/537.36 Playwright/1.40",
        "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/534.34 (KHTML, like Gecko) "
        "PhantomJS/1.9.8 Safari/534.34",
        "Mozilla/5.0 Selenium/4.0",
        "curl/8.5.0",
        "python-requests/2.32.3",
        "Go-http-client/2.0",
    ],
)
def test_automation(detector: InvalidTrafficDetector, ua: str) -> None:
    info = detector.classify(ua, hit())
    assert (info.type, info.reason) == ("bot", "automation")


@pytest.mark.parametrize(
    "headers",
    [
        {"sec-purpose": "prefetch"},
        {"sec-purpose": "prefetch;prerender"},
        {"purpose": "prefetch"},
        {"x-moz": "prefetch"},
        {"x-purpose": "preview"},
    ],
)
def test_prefetch(detector: InvalidTrafficDetector, headers: dict[str, str]) -> None:
    assert is_prefetch(headers)
    info = detector.classify(CHROME, hit(headers=headers))
    assert (info.type, info.reason) == ("bot", "prefetch")


def test_other_headers_are_not_prefetch() -> None:
    assert not is_prefetch({"cf-ipcountry": "US", "x-forwarded-for": "1.2.3.4"})
    assert not is_prefetch({"sec-purpose": ""})


@pytest.mark.parametrize(
    ("ip", "provider"),
    [
        ("3.5.140.1", "amazon"),  # AWS, IPv4
        ("2600:1f18::1", "amazon"),  # AWS, IPv6
        ("::ffff:3.5.140.1", "amazon"),  # IPv4-mapped IPv6 is the IPv4 address
        ("2a03:b0c0:0:108::1", "digitalocean"),
    ],
)
def test_datacenter(detector: InvalidTrafficDetector, ip: str, provider: str) -> None:
    info = detector.classify(CHROME, hit(ip))
    assert (info.type, info.reason, info.operator) == ("bot", "datacenter", provider)


@pytest.mark.parametrize("ip", [HOME, HOME_V6, "10.0.0.1", "::1", None])
def test_residential_private_and_unknown_addresses_are_not_datacenter(
    detector: InvalidTrafficDetector, ip: str | None
) -> None:
    assert detector.classify(CHROME, hit(ip)).reason is None


def test_ua_reason_comes_before_prefetch_and_datacenter(detector: InvalidTrafficDetector) -> None:
    info = detector.classify("curl/8.5.0", hit("3.5.140.1", headers={"purpose": "prefetch"}))
    assert info.reason == "automation"
    assert detector.classify(CHROME, hit("3.5.140.1", headers={"purpose": "prefetch"})).reason == (
        "prefetch"
    )


# -- data-center ranges ----------------------------------------------------------------------


def test_ranges_are_flattened_and_bisected_on_both_families() -> None:
    ranges = DatacenterRanges(
        [
            ("b", "11.0.1.0/24"),
            ("a", "11.0.0.0/24"),  # adjacent to b, another provider: kept apart
            ("c", "11.0.0.128/25"),  # inside a: the smaller network names its addresses
            ("d", "193.0.2.0/31"),
            ("d", "193.0.2.2/31"),  # adjacent, the same provider: joined
            ("x", "199.51.100.0/24"),
            ("y", "199.51.100.0/24"),  # the same network twice: the later line wins
            ("e", "2a01:db8::/32"),
            ("f", "2a01:db8:1::/48"),  # IPv6 nests the same way
        ]
    )
    assert len(ranges) == 8  # a, c, b, d, y; e, f, e
    lookup = {a: ranges.provider(ipaddress.ip_address(a)) for a in (
        "10.255.255.255", "11.0.0.0", "11.0.0.127", "11.0.0.128", "11.0.0.255", "11.0.1.0",
        "11.0.1.255", "11.0.2.0", "193.0.2.3", "193.0.2.4", "199.51.100.7", "2a01:db8::",
        "2a01:db8:1::5", "2a01:db8:2::", "2a01:db8:ffff:ffff:ffff:ffff:ffff:ffff", "2a01:db9::",
    )}  # fmt: skip
    assert lookup == {
        "10.255.255.255": None,
        "11.0.0.0": "a",
        "11.0.0.127": "a",
        "11.0.0.128": "c",
        "11.0.0.255": "c",
        "11.0.1.0": "b",
        "11.0.1.255": "b",
        "11.0.2.0": None,
        "193.0.2.3": "d",
        "193.0.2.4": None,
        "199.51.100.7": "y",
        "2a01:db8::": "e",
        "2a01:db8:1::5": "f",
        "2a01:db8:2::": "e",
        "2a01:db8:ffff:ffff:ffff:ffff:ffff:ffff": "e",
        "2a01:db9::": None,
    }
    assert ranges.provider(None) is None


def test_a_network_no_provider_routes_is_no_data_center() -> None:
    """Vultr's list carried the documentation networks: docs/measure.md's example visitor
    203.0.113.7 was counted `datacenter`. Private, reserved and documentation space is dropped
    on load and from the shipped file; a listed provider network still names its addresses."""
    ranges = DatacenterRanges(
        [
            ("vultr", "203.0.113.0/24"),
            ("vultr", "10.0.0.0/8"),
            ("vultr", "100.64.0.0/10"),
            ("vultr", "2001:db8::/32"),
            ("vultr", "45.32.0.0/16"),
        ]
    )
    for address in ("203.0.113.7", "10.1.2.3", "100.64.0.1", "2001:db8::1"):
        assert ranges.provider(ipaddress.ip_address(address)) is None, address
    assert ranges.provider(ipaddress.ip_address("45.32.1.1")) == "vultr"
    shipped = vendored_ranges()
    for address in ("203.0.113.7", "192.0.2.1", "198.51.100.7", "2001:db8::1"):
        assert shipped.provider(ipaddress.ip_address(address)) is None, address
    assert shipped.provider(ipaddress.ip_address("45.32.1.1")) == "vultr"
    text = resources.files("beacon.pixel").joinpath("data/datacenter/ranges.tsv").read_text()
    rows = [line.split("\t") for line in text.splitlines() if line]
    assert all(ipaddress.ip_network(cidr).is_global for _, cidr in rows)


def test_every_ai_operator_network_is_found_under_its_operator() -> None:
    # Their fleets run inside the clouds' ranges (OpenAI's inside Azure's and AWS's): before
    # the smallest network named an address, 244 of their 245 networks read as the cloud's.
    text = resources.files("beacon.pixel").joinpath("data/datacenter/ranges.tsv").read_text()
    rows = [line.split("\t") for line in text.splitlines() if line]
    ranges = vendored_ranges()
    ai_rows = [(provider, cidr) for provider, cidr in rows if provider in AI_OPERATORS]
    assert len(ai_rows) > 200
    for provider, cidr in ai_rows:
        network = ipaddress.ip_network(cidr)
        for address in (network.network_address, network.broadcast_address):
            assert ranges.provider(address) == provider, (provider, cidr)
    assert {provider for provider, _ in rows} >= AI_OPERATORS


def test_vendored_ranges_cover_the_named_providers_on_ipv4_and_ipv6() -> None:
    text = resources.files("beacon.pixel").joinpath("data/datacenter/ranges.tsv").read_text()
    rows = [line.split("\t") for line in text.splitlines() if line]
    providers = {provider for provider, _ in rows}
    assert {"amazon", "google", "microsoft", "oracle", "digitalocean"} <= providers
    ranges = vendored_ranges()
    for provider, cidr in rows[:: max(1, len(rows) // 200)]:  # a sample of every family
        network = ipaddress.ip_network(cidr)
        assert ranges.provider(network.network_address) is not None, (provider, cidr)
    assert any(":" in cidr for _, cidr in rows) and any("." in cidr for _, cidr in rows)


# -- activity rule ---------------------------------------------------------------------------


def test_activity_flags_the_loads_past_the_limit_per_client_campaign_and_minute(
    detector: InvalidTrafficDetector,
) -> None:
    reasons = [detector.classify(CHROME, hit(ts=T0 + i)).reason for i in range(5)]
    assert reasons == [None, None, None, "activity", "activity"]
    # Another User-Agent, address or campaign is another client; the next minute starts anew.
    assert detector.classify(IPHONE, hit(ts=T0 + 6)).reason is None
    assert detector.classify(CHROME, hit("71.192.0.2", ts=T0 + 6)).reason is None
    assert detector.classify(CHROME, hit(ts=T0 + 6, campaign_id=2)).reason is None
    assert detector.classify(CHROME, hit(ts=T0 + 60)).reason is None


def test_identical_cache_busters_are_activity(detector: InvalidTrafficDetector) -> None:
    assert detector.classify(CHROME, hit(cache_buster="17000001")).reason is None
    replay = detector.classify(IPHONE, hit(ts=T0 + 61, cache_buster="17000001"))
    assert replay.reason == "activity"  # also across the minute boundary
    # The same cache buster from another address is another person's load (a low-entropy
    # cache buster such as a timestamp in seconds repeats between people), not a replay.
    other = detector.classify(CHROME, hit("71.192.0.9", ts=T0 + 62, cache_buster="17000001"))
    assert other.reason is None
    assert detector.classify(CHROME, hit(cache_buster="17000002", campaign_id=2)).reason is None
    assert detector.classify(CHROME, hit(cache_buster="17000001", campaign_id=2)).reason is None


def test_activity_forgets_minutes_older_than_the_previous_one() -> None:
    rule = ActivityRule(max_per_minute=1)
    for minute in range(10):
        rule.is_irregular(campaign_id=1, ts=T0 + 60 * minute, client=HOME, user_agent="u",
                          cache_buster=f"cb{minute}")  # fmt: skip
    kept = [int(T0 // 60) + 8, int(T0 // 60) + 9]
    assert sorted(rule._counts) == kept and sorted(rule._busters) == kept


@pytest.mark.parametrize("ip", [None, "10.1.2.3", "127.0.0.1"])
def test_activity_needs_a_public_address_to_group_by(
    detector: InvalidTrafficDetector, ip: str | None
) -> None:
    # No address, or a proxy that is not trusted with everyone behind it: nobody to count.
    assert {detector.classify(CHROME, hit(ip)).reason for _ in range(10)} == {None}


def test_the_limit_comes_from_the_settings(settings: Settings) -> None:
    ivt = detector_from_settings(settings.model_copy(update={"ivt_activity_max_per_minute": 1}))
    assert [ivt.classify(CHROME, hit()).reason for _ in range(2)] == [None, "activity"]


# -- the operator's own patterns ------------------------------------------------------------


def test_extra_bot_patterns_file(tmp_path: Path, settings: Settings) -> None:
    patterns = tmp_path / "bots.txt"
    patterns.write_text("# our QA robot\nAcmeQA/\\d\n\ninternal-probe\n", "utf-8")
    assert load_extra_patterns(patterns) == ["AcmeQA/\\d", "internal-probe"]
    ivt = detector_from_settings(settings.model_copy(update={"extra_bot_patterns": patterns}))
    info = ivt.classify(f"{CHROME} AcmeQA/2", hit())
    assert (info.type, info.reason, info.agent) == ("bot", "known_crawler", "AcmeQA/2")
    assert ivt.classify(f"{CHROME} Internal-Probe", hit()).reason == "known_crawler"
    # AI agents keep precedence over the operator's patterns; the default has none of them.
    assert ivt.classify("GPTBot/1.0 internal-probe", hit()).reason == "ai_agent"
    assert classify_traffic(f"{CHROME} AcmeQA/2").type == "human"


def test_a_broken_extra_pattern_names_its_line(tmp_path: Path) -> None:
    patterns = tmp_path / "bots.txt"
    patterns.write_text("ok\nbad(\n", "utf-8")
    with pytest.raises(ValueError, match=r"bots.txt:2"):
        load_extra_patterns(patterns)


# -- the merged lists ------------------------------------------------------------------------


def test_every_list_instance_is_invalid_and_ai_crawlers_are_ai_agents() -> None:
    entries: list[dict[str, Any]] = json.loads(
        resources.files("beacon.pixel")
        .joinpath("data/crawler-user-agents/crawler-user-agents.json")
        .read_text()
    )
    for entry in entries:
        if entry["pattern"] == r"AP3A\.240617\.008":
            continue  # an Android build id, not a bot (test_ivt_lists.py)
        if entry["pattern"] == "Fluid":
            # a Mac site-specific browser people use (isbot files the same User-Agent as a
            # browser); leak.info's "fluid/0.0" bot is caught by its own form
            assert classify_traffic(entry["instances"][0]).type == "human"
            continue
        expected = {"ai_agent"} if "ai-crawler" in entry.get("tags", []) else {"bot", "ai_agent"}
        for ua in entry.get("instances", []):
            assert classify_traffic(ua).type in expected, (entry["pattern"], ua)


def test_patterns_match_whole_words_only_for_ai_agents() -> None:
    lists = AgentLists(
        ai_robots={},
        crawler_user_agents=[
            {"pattern": "ZetaBot", "tags": ["ai-crawler"]},
            {"pattern": "linkReader\\/", "tags": ["ai-crawler"]},
            {"pattern": "OmegaCrawl", "tags": ["seo"]},
        ],
        crawler_detect=[],
        crawler_detect_exclusions=[],
    )
    classifier = AgentClassifier(lists)
    assert classifier.classify("x ZetaBot/1").type == "ai_agent"
    assert classifier.classify("x linkReader/1.0").type == "ai_agent"
    assert classifier.classify(f"{CHROME} NotZetaBotX/1").type == "human"
    assert classifier.classify("x SuperOmegaCrawler/1").agent == "SuperOmegaCrawler"


# -- the collector keeps the headers, the enricher uses them --------------------------------


def test_prefetch_headers_are_kept_by_the_collector() -> None:
    for name in (b"sec-purpose", b"purpose", b"x-moz", b"x-purpose"):
        assert name in KEPT_HEADERS


def test_enricher_records_the_reason_in_the_rollup_key() -> None:
    enricher = HitEnricher(CountryResolver(), InvalidTrafficDetector())
    page = "url=https%3A%2F%2Fexample.com%2Fa"
    human = enricher.count_key(gif_record(T0, 1, HOME, page, "", CHROME, None))
    prefetch = enricher.count_key(
        gif_record(T0, 1, HOME, page, "", CHROME, {"sec-purpose": "prefetch"})
    )
    body = orjson.dumps({"url": "https://example.com/a"}).decode()
    cloud = enricher.count_key(beacon_record(T0, 1, "3.5.140.1", body, "", CHROME, None))
    assert (human.traffic_type, human.ivt_reason) == ("human", "")
    assert (prefetch.traffic_type, prefetch.ivt_reason) == ("bot", "prefetch")
    assert (cloud.traffic_type, cloud.ivt_reason) == ("bot", "datacenter")
    # An unexpanded cache-buster macro is the same on every load: never a replay.
    for _ in range(3):
        key = enricher.count_key(
            gif_record(T0, 1, "71.192.0.7", f"{page}&cb=%25%25CACHEBUSTER%25%25", "", IPHONE, None)
        )
        assert key.ivt_reason == ""
    # The reason is part of the key only when set: rows of before keep their hash.
    legacy = prefetch._replace(ivt_reason="")
    assert prefetch.dims_hash != legacy.dims_hash
    parts = (legacy.date.isoformat(), *legacy[2:9], "1" if legacy.misrepresented else "0")
    assert legacy.dims_hash == hashlib.sha1("\x1f".join(parts).encode()).hexdigest()


@pytest.mark.parametrize(
    ("ua", "expected", "agent"),
    [
        ("Mozilla/5.0 (compatible; Crazy Egg; +https://www.crazyegg.com/)", "bot", "Crazy Egg"),
        (f"{CHROME} (Checkly, https://www.checklyhq.com)", "bot", None),
        ("Mozilla/5.0 (compatible; SomeTool/2.1)", "bot", "SomeTool"),
        ("NextCloud-News/1.0", "bot", "NextCloud-News"),
        ("OneTrust", "bot", "OneTrust"),
        ("Mozilla/5.0 (compatible; AcmeFetch/1.0; +https://acme.ai/bot)", "ai_agent", None),
        ("The Knowledge AI", "ai_agent", None),
        ("Mozilla/5.0 (compatible; Acme-User/1.0; +https://acme.example)", "ai_agent", None),
        # Programs that name their platform and send no contact address stay people.
        ("Instagram 300.0.0.0 (iPhone14,2; iOS 17_0; en_US; scale=3.00)", "human", None),
        ("Dalvik/2.1.0 (Linux; U; Android 13; SM-S911B Build/TP1A.220624.014)", "human", None),
        ("MyApp/1.2 CFNetwork/1408.0.4 Darwin/22.5.0", "human", None),
    ],
)
def test_bots_the_lists_do_not_name_are_caught_by_their_form(
    ua: str, expected: str, agent: str | None
) -> None:
    info = classify_traffic(ua)
    assert info.type == expected
    if expected != "human":
        assert info.reason == ("ai_agent" if expected == "ai_agent" else "known_crawler")
    if agent:
        assert info.agent == agent
