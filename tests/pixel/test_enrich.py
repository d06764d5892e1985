import json
from importlib import resources
from typing import Any

import pytest

from beacon.pixel import geo
from beacon.pixel.enrich import (
    CountryResolver,
    HitRejected,
    classify_traffic,
    device_type,
    extract_macros,
    is_misrepresented,
    is_unexpanded_macro,
    registrable_domain,
    site_macro_domain,
)

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0.6478.122 Mobile Safari/537.36"
)
GALAXY_TAB = (
    "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)
KINDLE_FIRE = (
    "Mozilla/5.0 (Linux; Android 11; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Silk/120.3.2 like Chrome/120.0.6099.230 Safari/537.36"
)
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)
SAFARI_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Safari/605.1.15"
)
ROKU = "Roku/DVP-9.10 (519.10E04111A)"
SAMSUNG_TIZEN_TV = (
    "Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.0) AppleWebKit/537.36 "
    "(KHTML, like Gecko) 76.0.3809.146/6.0 TV Safari/537.36"
)
LG_WEBOS_TV = (
    "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/79.0.3945.79 Safari/537.36 WebAppManager"
)
FIRE_TV = (
    "Mozilla/5.0 (Linux; Android 9; AFTMM Build/PS7233; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/70.0.3538.110 Mobile Safari/537.36"
)
APPLE_TV = "AppleCoreMedia/1.0.0.20L563 (Apple TV; U; CPU OS 16_5 like Mac OS X; en_us)"
SONY_ANDROID_TV = (
    "Mozilla/5.0 (Linux; Android 12; BRAVIA 4K VH2 Build/STT1.211025.001.Z4) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
CHROMECAST = (
    "Mozilla/5.0 (X11; Linux armv7l) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/78.0.3904.108 Safari/537.36 CrKey/1.49.250946"
)
PS5 = (
    "Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/13.0 Safari/605.1.15"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
BINGBOT = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
GPTBOT = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
    "+https://openai.com/gptbot)"
)
CLAUDEBOT = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; "
    "+claudebot@anthropic.com)"
)
PERPLEXITYBOT = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; PerplexityBot/1.0; "
    "+https://perplexity.ai/perplexitybot)"
)
CHATGPT_USER = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; "
    "+https://openai.com/bot"
)


# -- registrable_domain ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("news.bbc.co.uk", "bbc.co.uk"),
        ("https://www.nytimes.com/x", "nytimes.com"),
        ("HTTPS://WWW.Example.COM:8443/a?b=1#c", "example.com"),
        ("www.theguardian.com:443", "theguardian.com"),
        ("//cdn.lemonde.fr/path", "lemonde.fr"),
        ("https%3A%2F%2Fwww.lemonde.fr%2Finternational", "lemonde.fr"),
        ("alice.blogspot.com", "alice.blogspot.com"),
        ("https://user:pw@shop.example.co.jp/", "example.co.jp"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("example.com.", "example.com"),
    ],
)
def test_registrable_domain(value: str, expected: str) -> None:
    assert registrable_domain(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        None,
        "8.8.8.8",
        "http://8.8.8.8/x",
        "[2001:db8::1]",
        "http://[::1]:8080/",
        "localhost",
        "co.uk",
        "com",
        "garbage",
        "not a host at all",
        "foo.internal",
        "-bad-.com",
        "a..b.com",
        "%%TTD_SITE%%",
        "${SOURCE_URL_ENC}",
    ],
)
def test_registrable_domain_rejects_ips_suffixes_and_garbage(value: str | None) -> None:
    assert registrable_domain(value) is None


# -- device_type ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ua", "expected"),
    [
        (IPHONE, "mobile"),
        (ANDROID_PHONE, "mobile"),
        (IPAD, "tablet"),
        (GALAXY_TAB, "tablet"),
        (KINDLE_FIRE, "tablet"),
        (CHROME_WINDOWS, "desktop"),
        (SAFARI_MAC, "desktop"),
        (ROKU, "ctv"),
        (SAMSUNG_TIZEN_TV, "ctv"),
        (LG_WEBOS_TV, "ctv"),
        (FIRE_TV, "ctv"),
        (APPLE_TV, "ctv"),
        (SONY_ANDROID_TV, "ctv"),
        (CHROMECAST, "ctv"),
        (PS5, "ctv"),
        ("", "desktop"),
        (None, "desktop"),
        ("???", "desktop"),
    ],
)
def test_device_type(ua: str | None, expected: str) -> None:
    assert device_type(ua) == expected


# -- classify_traffic -----------------------------------------------------------------------


@pytest.mark.parametrize("ua", [IPHONE, IPAD, CHROME_WINDOWS, SAFARI_MAC, ROKU, SAMSUNG_TIZEN_TV])
def test_real_browsers_and_tvs_are_human(ua: str) -> None:
    info = classify_traffic(ua)
    assert info.type == "human"
    assert info.agent is None


@pytest.mark.parametrize(("ua", "agent"), [(GOOGLEBOT, "Googlebot"), (BINGBOT, "bingbot")])
def test_search_crawlers_are_bots_named_by_their_token(ua: str, agent: str) -> None:
    info = classify_traffic(ua)
    assert info.type == "bot"
    assert info.agent is not None and info.agent.lower() == agent.lower()


@pytest.mark.parametrize("ua", ["curl/8.5.0", "python-requests/2.32.3", "Wget/1.21.4"])
def test_http_clients_are_bots(ua: str) -> None:
    assert classify_traffic(ua).type == "bot"


@pytest.mark.parametrize(
    ("ua", "agent", "operator"),
    [
        (GPTBOT, "GPTBot", "OpenAI"),
        (CLAUDEBOT, "ClaudeBot", "Anthropic"),
        (PERPLEXITYBOT, "PerplexityBot", "Perplexity"),
        (CHATGPT_USER, "ChatGPT-User", "OpenAI"),
    ],
)
def test_ai_agents_win_over_generic_bots(ua: str, agent: str, operator: str) -> None:
    info = classify_traffic(ua)
    assert info.type == "ai_agent"
    assert info.agent == agent
    assert info.operator == operator  # markdown link in the data reduced to its text
    assert info.function


def test_ai_agent_match_is_case_insensitive_and_whole_word() -> None:
    assert classify_traffic("mozilla/5.0 (compatible; gptbot/1.0)").agent == "GPTBot"
    # not GPTBot: the token counts as a whole word (GPT in a bot's name is still an AI sign,
    # so it is an AI agent without OpenAI as its operator)
    other = classify_traffic("Mozilla/5.0 (compatible; NotGPTBotX/1.0)")
    assert other.agent != "GPTBot"
    # "Code" is listed as name/version only, so the plain word does not count.
    assert classify_traffic("Mozilla/5.0 Code Reader").type != "ai_agent"
    assert classify_traffic("Mozilla/5.0 Code/1.95.0").agent == "Code"


def test_longest_token_wins() -> None:
    info = classify_traffic("Mozilla/5.0 (compatible; GoogleOther-Image/1.0)")
    assert info.agent == "GoogleOther-Image"


def test_every_listed_ai_agent_is_recognised() -> None:
    raw: dict[str, Any] = json.loads(
        resources.files("beacon.pixel").joinpath("data/ai-agents/robots.json").read_text()
    )
    assert len(raw) > 100
    for token in raw:
        info = classify_traffic(f"Mozilla/5.0 (compatible; {token}/1.0; +https://example.org)")
        if token == "facebookexternalhit":  # a link preview: a bot (test_ivt_lists.py)
            assert info.type == "bot"
            continue
        assert info.type == "ai_agent", token
        assert info.agent is not None and info.agent.lower() in token.lower()


@pytest.mark.parametrize("ua", ["", "   ", None])
def test_empty_user_agent_is_a_bot(ua: str | None) -> None:
    assert classify_traffic(ua).type == "bot"


# -- CountryResolver ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "country"),
    [
        ("8.8.8.8", "US"),  # Google Public DNS
        ("2001:4860:4860::8888", "US"),
        ("212.58.244.1", "GB"),  # BBC
        ("2003::1", "DE"),  # Deutsche Telekom's 2003::/19
        ("::ffff:8.8.8.8", "US"),
    ],
)
def test_country_of_well_known_ranges(ip: str, country: str) -> None:
    assert CountryResolver().country(ip, {}) == country


@pytest.mark.parametrize(
    "ip", ["127.0.0.1", "10.1.2.3", "192.168.0.10", "172.16.5.4", "100.64.0.1", "::1", "fe80::1"]
)
def test_private_and_loopback_have_no_country(ip: str) -> None:
    assert CountryResolver().country(ip, {}) is None


def test_garbage_peer_has_no_country() -> None:
    assert CountryResolver().country("not-an-ip", {}) is None


def test_cdn_header_ignored_from_untrusted_peer() -> None:
    resolver = CountryResolver(trusted_proxies=["10.0.0.0/8"])
    # A client can write CF-IPCountry itself; only the peer's own address counts.
    assert resolver.country("8.8.8.8", {"CF-IPCountry": "FR"}) == "US"


@pytest.mark.parametrize(
    "header", ["CF-IPCountry", "cf-ipcountry", "CloudFront-Viewer-Country", "X-Country-Code"]
)
def test_cdn_header_honoured_from_trusted_peer(header: str) -> None:
    resolver = CountryResolver(trusted_proxies=["10.0.0.0/8"])
    assert resolver.country("10.0.0.7", {header: "fr"}) == "FR"


@pytest.mark.parametrize("value", ["XX", "T1"])
def test_cdn_unknown_and_tor_markers_mean_no_country(value: str) -> None:
    resolver = CountryResolver(trusted_proxies=["10.0.0.0/8"])
    headers = {"CF-IPCountry": value, "X-Forwarded-For": "8.8.8.8"}
    assert resolver.country("10.0.0.7", headers) is None


def test_forwarded_for_uses_rightmost_untrusted_hop() -> None:
    resolver = CountryResolver(trusted_proxies=["10.0.0.0/8", "173.245.48.0/20"])
    # 8.8.8.8 was written by the client; 212.58.244.1 connected to the trusted CDN.
    headers = {"X-Forwarded-For": "8.8.8.8, 212.58.244.1, 173.245.48.9"}
    assert resolver.country("10.0.0.7", headers) == "GB"


def test_forwarded_for_ignored_from_untrusted_peer() -> None:
    resolver = CountryResolver(trusted_proxies=["10.0.0.0/8"])
    assert resolver.country("212.58.244.1", {"X-Forwarded-For": "8.8.8.8"}) == "GB"


def test_trusted_peer_without_client_information_is_unknown() -> None:
    resolver = CountryResolver(trusted_proxies=["10.0.0.0/8"])
    assert resolver.country("10.0.0.7", {}) is None
    assert resolver.country("10.0.0.7", {"X-Forwarded-For": "10.0.0.1"}) is None
    assert resolver.country("10.0.0.7", {"X-Forwarded-For": "8.8.8.8, junk"}) is None


def test_invalid_cdn_header_falls_back_to_forwarded_for() -> None:
    resolver = CountryResolver(trusted_proxies=["10.0.0.0/8"])
    headers = {"CF-IPCountry": "Germany", "X-Forwarded-For": "212.58.244.1"}
    assert resolver.country("10.0.0.7", headers) == "GB"


class _FakeReader:
    def __init__(self, records: dict[str, Any]) -> None:
        self.records = records
        self.closed = False

    def get(self, ip: str) -> Any:
        return self.records.get(ip)

    def close(self) -> None:
        self.closed = True


def test_mmdb_is_preferred_and_falls_back_to_bundled_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reader = _FakeReader(
        {
            "212.58.244.1": {"country": {"iso_code": "IE"}},
            "2003::1": {"registered_country": {"iso_code": "AT"}},
        }
    )
    opened: list[str] = []

    def open_database(path: str) -> _FakeReader:
        opened.append(path)
        return reader

    monkeypatch.setattr("maxminddb.open_database", open_database)
    with CountryResolver(mmdb_path="/srv/GeoLite2-Country.mmdb") as resolver:
        assert resolver.country("212.58.244.1", {}) == "IE"
        assert resolver.country("2003::1", {}) == "AT"
        assert resolver.country("8.8.8.8", {}) == "US"  # not in the file: bundled data
    assert opened == ["/srv/GeoLite2-Country.mmdb"]
    assert reader.closed


def test_region_codes_are_not_countries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(geo.iptocc, "country_code", lambda ip: "EU")
    assert CountryResolver().country("8.8.4.4", {}) is None


# -- macros ---------------------------------------------------------------------------------


def test_extract_macros_keeps_expanded_values() -> None:
    params = [
        ("site", "nytimes.com"),
        ("url", "https://www.nytimes.com/x"),
        ("google-site", "nytimes.com"),
        ("creative_id", " 12345 "),
    ]
    assert extract_macros(params, {"url", "ref"}) == {
        "site": "nytimes.com",
        "google-site": "nytimes.com",
        "creative_id": "12345",
    }


@pytest.mark.parametrize(
    "placeholder",
    [
        "%%TTD_SITE%%",
        "%%SITE%%",
        "%%PATTERN:url%%",
        "${SOURCE_URL_ENC}",
        "${CACHEBUSTER}",
        "{{site}}",
        "{DOMAIN}",
        "[timestamp]",
        "[CACHEBUSTER]",
        "__CS_CREATIVE_ID__",
        "%ecid!",
        "%n",
    ],
)
def test_unexpanded_placeholders_are_dropped(placeholder: str) -> None:
    assert is_unexpanded_macro(placeholder)
    assert extract_macros([("site", placeholder), ("x", "1")], set()) == {"x": "1"}


@pytest.mark.parametrize(
    "value", ["nytimes.com", "https://example.com/a?b=[1]", "100%", "{not closed", "12345"]
)
def test_real_values_are_not_mistaken_for_placeholders(value: str) -> None:
    assert not is_unexpanded_macro(value)


def test_empty_values_and_repeated_keys() -> None:
    params = [("a", ""), ("b", "1"), ("b", "2"), ("", "orphan")]
    assert extract_macros(params, set()) == {"b": "1"}


def test_caps_reject_the_hit() -> None:
    twenty = [(f"k{i}", "v") for i in range(20)]
    assert len(extract_macros(twenty, set())) == 20
    with pytest.raises(HitRejected) as too_many:
        extract_macros([*twenty, ("k20", "v")], set())
    assert too_many.value.reason == "too_many_macros"
    # Reserved keys and dropped placeholders do not count against the cap.
    assert len(extract_macros([*twenty, ("url", "u"), ("x", "%%X%%")], {"url"})) == 20

    assert extract_macros([("k" * 64, "v" * 512)], set()) == {"k" * 64: "v" * 512}
    with pytest.raises(HitRejected) as long_key:
        extract_macros([("k" * 65, "v")], set())
    assert long_key.value.reason == "macro_key_too_long"
    with pytest.raises(HitRejected) as long_value:
        extract_macros([("k", "v" * 513)], set())
    assert long_value.value.reason == "macro_value_too_long"
    with pytest.raises(HitRejected) as control:
        extract_macros([("k", "a\x00b")], set())
    assert control.value.reason == "macro_control_characters"


@pytest.mark.parametrize(
    ("macros", "expected"),
    [
        ({"site": "www.nytimes.com"}, "nytimes.com"),
        ({"google-site": "nytimes.com"}, "nytimes.com"),
        ({"ttd-site": "news.bbc.co.uk"}, "bbc.co.uk"),
        ({"Domain": "lemonde.fr"}, "lemonde.fr"),
        ({"page_url": "https://www.theguardian.com/uk"}, "theguardian.com"),
        ({"site": "nytimes.com", "page_url": "https://bbc.com/"}, "nytimes.com"),
        ({"site": "unknown", "page_url": "https://bbc.com/"}, "bbc.com"),
        ({"app_bundle": "com.spotify.music"}, None),
        ({"creative_id": "123"}, None),
        ({}, None),
    ],
)
def test_site_macro_domain(macros: dict[str, str], expected: str | None) -> None:
    assert site_macro_domain(macros) == expected


def test_is_misrepresented() -> None:
    assert not is_misrepresented("nytimes.com", "www.nytimes.com")
    assert not is_misrepresented("https://news.bbc.co.uk/a", "bbc.co.uk")
    assert is_misrepresented("nytimes.com", "cheap-arbitrage-site.com")
    assert not is_misrepresented(None, "nytimes.com")
    assert not is_misrepresented("nytimes.com", None)
    assert not is_misrepresented("garbage", "nytimes.com")


@pytest.mark.parametrize("value", ["ß", "\xa0ß", "ſe"])
def test_a_cdn_header_of_non_ascii_letters_is_no_country(value: str) -> None:
    # A header is read as latin-1 ('ß' is the byte 0xDF): upper-cased it was 'SS', South Sudan.
    resolver = CountryResolver(trusted_proxies=["10.0.0.0/8"])
    headers = {"CF-IPCountry": value, "X-Forwarded-For": "212.58.244.1"}
    assert resolver.country("10.0.0.7", headers) == "GB"
