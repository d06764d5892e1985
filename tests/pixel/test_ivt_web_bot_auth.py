"""Web Bot Auth signed agents and AI operators' own ranges: invalid whatever the User-Agent."""

from __future__ import annotations

import orjson
import pytest

from beacon.core.clientaddr import parse_ip
from beacon.pixel.datacenter import DatacenterRanges
from beacon.pixel.geo import CountryResolver
from beacon.pixel.hits import KEPT_HEADERS, HitEnricher, beacon_record, gif_record
from beacon.pixel.ivt import HitContext, InvalidTrafficDetector
from beacon.pixel.webbotauth import AI_SIGNATURE_AGENTS, signed_agent

CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/138.0.0.0 Safari/537.36"
)
HOME = "71.192.0.1"  # a US residential address, in no data-center range
T0 = 1_767_225_600.0
# ChatGPT agent's headers as a site logged them (the signature bytes shortened).
CHATGPT_AGENT = {
    "signature-agent": '"https://chatgpt.com"',
    "signature-input": 'sig1=("@authority" "@method" "@path" "signature-agent");'
    'created=1754340838;keyid="otMqcjr17mGyruktGvJU8oojQTSMHlVm7uO-lrcqbdg";'
    'expires=1754344438;nonce="_8jbGwfLcgt";tag="web-bot-auth";alg="ed25519"',
}


def hit(ip: str = HOME, headers: dict[str, str] | None = None) -> HitContext:
    return HitContext(1, T0, parse_ip(ip), headers or {})


@pytest.fixture
def detector() -> InvalidTrafficDetector:
    return InvalidTrafficDetector()


# -- AI operators' own published ranges ------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "operator"),
    [
        ("4.151.71.177", "openai"),  # an OpenAI range inside Azure's
        ("20.171.207.1", "openai"),
        ("::ffff:4.151.71.177", "openai"),  # the same address, IPv4-mapped IPv6
        ("3.211.124.183", "perplexity"),  # a Perplexity address inside AWS's
    ],
)
def test_a_browser_from_an_ai_operators_range_is_an_ai_agent(
    detector: InvalidTrafficDetector, ip: str, operator: str
) -> None:
    info = detector.classify(CHROME, hit(ip))
    assert (info.type, info.reason, info.operator) == ("ai_agent", "ai_agent", operator)


def test_an_ai_operators_ipv6_range_is_an_ai_agent_too() -> None:
    # OpenAI and Perplexity publish IPv4 ranges only today; an IPv6 one nests the same way.
    ranges = DatacenterRanges([("microsoft", "2603:1000::/24"), ("openai", "2603:1000:4::/48")])
    detector = InvalidTrafficDetector(datacenters=ranges)
    info = detector.classify(CHROME, hit("2603:1000:4::1"))
    assert (info.type, info.reason, info.operator) == ("ai_agent", "ai_agent", "openai")
    info = detector.classify(CHROME, hit("2603:1000:5::1"))
    assert (info.type, info.reason, info.operator) == ("bot", "datacenter", "microsoft")


@pytest.mark.parametrize(
    ("ip", "provider"),
    [
        ("34.64.0.1", "google"),  # Google Cloud
        ("2600:1900::1", "google"),
        ("4.151.71.192", "microsoft"),  # Azure, just past an OpenAI range
        ("4.144.182.50", "duckduckgo"),  # DuckDuckBot and DuckAssistBot: the same addresses
    ],
)
def test_other_clouds_and_fleets_stay_datacenter(
    detector: InvalidTrafficDetector, ip: str, provider: str
) -> None:
    info = detector.classify(CHROME, hit(ip))
    assert (info.type, info.reason, info.operator) == ("bot", "datacenter", provider)


def test_a_named_ai_agent_keeps_its_name_in_its_operators_range(
    detector: InvalidTrafficDetector,
) -> None:
    info = detector.classify("Mozilla/5.0 (compatible; GPTBot/1.2)", hit("20.171.207.1"))
    assert (info.type, info.agent) == ("ai_agent", "GPTBot")


# -- Web Bot Auth ----------------------------------------------------------------------------


def test_chatgpt_agent_with_a_chrome_user_agent_is_an_ai_agent(
    detector: InvalidTrafficDetector,
) -> None:
    info = detector.classify(CHROME, hit(headers=CHATGPT_AGENT))
    assert (info.type, info.reason, info.operator, info.agent) == (
        "ai_agent",
        "ai_agent",
        "openai",
        "chatgpt.com",
    )


@pytest.mark.parametrize(
    ("value", "operator"),
    [
        ('"https://chatgpt.com"', "openai"),  # a string (ChatGPT agent)
        ('g="https://agent.bot.goog"', "google"),  # a dictionary member (Google-Agent)
        ('sig1="https://ChatGPT.com/"', "openai"),
        ('sig1="https://crawler.example", sig2="https://chatgpt.com"', "openai"),
    ],
)
def test_signature_agent_forms(value: str, operator: str) -> None:
    info = signed_agent({"signature-agent": value})
    assert info is not None and (info.type, info.operator) == ("ai_agent", operator)


def test_a_signed_agent_of_another_operator_is_a_known_crawler(
    detector: InvalidTrafficDetector,
) -> None:
    headers = {**CHATGPT_AGENT, "signature-agent": 'sig1="https://agents.example.com:8443"'}
    info = detector.classify(CHROME, hit(headers=headers))
    assert (info.type, info.reason, info.operator, info.agent) == (
        "bot",
        "known_crawler",
        "agents.example.com",
        "agents.example.com",
    )


def test_a_web_bot_auth_signature_without_an_agent_is_a_known_crawler(
    detector: InvalidTrafficDetector,
) -> None:
    headers = {"signature-input": CHATGPT_AGENT["signature-input"]}
    info = detector.classify(CHROME, hit(headers=headers))
    assert (info.type, info.reason, info.operator) == ("bot", "known_crawler", None)
    headers["signature-agent"] = "not an origin"
    assert detector.classify(CHROME, hit(headers=headers)).reason == "known_crawler"


@pytest.mark.parametrize(
    "headers",
    [
        {"signature-agent": ""},
        {"signature-agent": "1"},
        {"signature-agent": "?1"},
        {"signature-agent": '"chatgpt"'},
        {"signature-agent": '"https://"'},
        {"signature-agent": '"https://user@chatgpt.com"'},
        {"signature-agent": "\x00\xff" * 300},
        {"signature-input": 'sig1=("@method");created=1;keyid="k"'},  # RFC 9421, not for bots
        {"signature-input": 'sig1=();tag="web-bot-auth-x"', "signature-agent": "garbage"},
    ],
)
def test_a_malformed_or_unrelated_signature_is_no_declaration(
    detector: InvalidTrafficDetector, headers: dict[str, str]
) -> None:
    assert signed_agent(headers) is None
    assert detector.classify(CHROME, hit(headers=headers)).type == "human"


def test_the_user_agent_comes_first_then_the_signature_then_prefetch_and_network(
    detector: InvalidTrafficDetector,
) -> None:
    assert detector.classify("curl/8.5.0", hit(headers=CHATGPT_AGENT)).reason == "automation"
    prefetch = {**CHATGPT_AGENT, "sec-purpose": "prefetch"}
    assert detector.classify(CHROME, hit("34.64.0.1", prefetch)).reason == "ai_agent"


def test_every_ai_signature_agent_is_a_host_name() -> None:
    for host, operator in AI_SIGNATURE_AGENTS.items():
        info = signed_agent({"signature-agent": f'"https://{host}"'})
        assert info is not None and info.operator == operator


# -- the collector keeps the headers, the enricher reads them -------------------------------


def test_signature_headers_are_kept_by_the_collector() -> None:
    assert {b"signature-agent", b"signature-input"} <= KEPT_HEADERS


def test_the_enricher_counts_a_signed_hit_as_its_agent() -> None:
    enricher = HitEnricher(CountryResolver(), InvalidTrafficDetector())
    page = "url=https%3A%2F%2Fexample.com%2Fa"
    signed = enricher.count_key(gif_record(T0, 1, HOME, page, "", CHROME, CHATGPT_AGENT))
    assert (signed.traffic_type, signed.ivt_reason, signed.agent) == (
        "ai_agent",
        "ai_agent",
        "chatgpt.com",
    )
    body = orjson.dumps({"url": "https://example.com/a"}).decode()
    other = {"signature-agent": '"https://agents.example.com"'}
    key = enricher.count_key(beacon_record(T0, 1, "71.192.0.2", body, "", CHROME, other))
    assert (key.traffic_type, key.ivt_reason) == ("bot", "known_crawler")
    ranged = enricher.count_key(gif_record(T0, 1, "4.151.71.177", page, "", CHROME, None))
    assert (ranged.traffic_type, ranged.ivt_reason) == ("ai_agent", "ai_agent")
    # A line spooled before these headers were kept (the format is unchanged: a header is a
    # key of the record's dict or absent) still reads, as a person.
    old = orjson.dumps(["g", T0, 1, "71.192.0.3", page, "", CHROME, {"cf-ipcountry": "US"}])
    key = enricher.count_key(old)
    assert (key.traffic_type, key.ivt_reason, key.geo) == ("human", "", "US")
