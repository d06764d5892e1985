"""Browsers whose own tokens the lists spell as crawlers' names (issue 17, session 9).

Found by the blind check on labelled data Beacon had never read (docs/benchmarks.md, "a
blind check on labelled data"): each browser must come out human, and the crawler or blocked
word it collides with must still be caught.
"""

from __future__ import annotations

import pytest

from beacon.pixel.agents import classify_traffic

BROWSERS = [
    # Seznam's desktop browser appends "Seznam.cz/<version>"; SeznamBot is a crawler
    "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/43.0.2272.76 Safari/537.36 Seznam.cz/2.0.4",
    # Kinza, a Japanese Chromium browser ("kinza" is a word of the bad-bot blocker)
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/64.0.3282.140 Safari/537.36 Kinza/4.5.0",
    # Internet Explorer with Free Download Manager's token
    "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0; .NET CLR 2.0.50727; FDM)",
    # DragonFly BSD as the platform
    "Mozilla/5.0 (X11; DragonFly x86_64; rv:34.0) Gecko/20100101 Firefox/34.0 SeaMonkey/2.31",
    "Mozilla/5.0 (compatible; Konqueror/4.1; DragonFly) KHTML/4.1.4 (like Gecko)",
    # text browsers
    "Lynx/2.8.9dev.1 libwww-FM/2.14 SSL-MM/1.4.1 GNUTLS/3.3.8",
    "Links (2.29; NetBSD 10.0 i386; GNU C 10.5; x)",
    "ELinks (0.4.3; NetBSD 3.0.2_PATCH sparc64; 80x24)",
    "w3m/0.5.1",
    # Fluid, a site-specific browser
    "Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10_6_1; nl-nl) AppleWebKit/531.9 (KHTML, like "
    "Gecko) Fluid/0.9.6 Safari/531.9",
    # feature phones
    "MOT-V551/08.17.0FR MIB/2.2.1",
    "SoftBank/1.0/821SC/SCJ001/SN000000000000000 Flash/Flash-Lite/2.0",
]

BOTS = [
    "Mozilla/5.0 (compatible; SeznamBot/4.0; +https://o-seznam.cz/napoveda/vyhledavani/en/)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Kinza",  # the blocked word alone, no version
    "Mozilla/5.0 (compatible; Dragonfly/1.0; +https://example.net/bot)",
    "libwww-perl/6.72",
    "Mozilla/4.0 (compatible; fluid/0.0; +http://www.leak.info/bot.html)",
    "Wget/1.21.4",
]


@pytest.mark.parametrize("ua", BROWSERS)
def test_browser_tokens_are_human(ua: str) -> None:
    assert classify_traffic(ua).type == "human"


@pytest.mark.parametrize("ua", BOTS)
def test_their_namesakes_stay_bots(ua: str) -> None:
    assert classify_traffic(ua).type != "human"


def test_vercel_v0_is_an_ai_agent() -> None:
    info = classify_traffic("v0bot")
    assert (info.type, info.agent, info.operator) == ("ai_agent", "v0bot", "Vercel")


@pytest.mark.parametrize(
    "ua",
    [
        # the Daum portal's in-app browser
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Safari/605.1.15 Mobile/15E148 DaumApps/7.5.1 DaumDevice/mobile",
        # an old Ubuntu Firefox build naming its distribution before the platform
        "Mozilla/5.0 (Ubuntu; X11; Linux i686; rv:9.0.1) Gecko/20100101 Firefox/9.0.1",
    ],
)
def test_in_app_and_distribution_forms_are_human(ua: str) -> None:
    assert classify_traffic(ua).type == "human"


def test_daum_crawler_and_a_name_before_the_platform_stay_bots() -> None:
    assert (
        classify_traffic(
            "Mozilla/5.0 (compatible; Daum/4.1; +http://cs.daum.net/faq/15/4118.html)"
        ).type
        == "bot"
    )
    assert (
        classify_traffic(
            "Mozilla/5.0 (watchTowr; Windows NT 10.0; Win64; x64; rv:84.0) Gecko/20100101 Firefox/84.0"
        ).type
        == "bot"
    )


@pytest.mark.parametrize(
    "ua",
    [
        # Amazon's Nova Act agent and Google's Vertex AI crawler under names no list has
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/115.0.0.0 Safari/537.36 Agent-NovaActZorble/0.9",
        "Mozilla/5.0 (compatible; Zorble-CloudVertexFetcher/1.0; +https://example.com/bot)",
    ],
)
def test_ai_product_names_label_a_bot_ai(ua: str) -> None:
    assert classify_traffic(ua).type == "ai_agent"
