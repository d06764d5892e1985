"""Coverage of the User-Agent rules on the long tail (issue 17): one representative per
family of bots and tools, the AI product list, and a committed sample of real browsers."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from beacon.pixel.agents import AgentClassifier, AgentLists, _union, classify_traffic

BROWSER_SAMPLE = Path(__file__).parent / "data" / "browser_sample.tsv"

AI_AGENTS = [
    # AI assistants fetching on a user's behalf
    (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; "
        "+https://openai.com/bot",
        "ChatGPT-User",
    ),
    (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Perplexity-User/1.0; "
        "+https://perplexity.ai/perplexity-user)",
        "Perplexity-User",
    ),
    (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Claude-User/1.0; "
        "+Claude-User@anthropic.com)",
        "Claude-User",
    ),
    (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; MistralAI-User/1.0; "
        "+https://docs.mistral.ai/robots)",
        "MistralAI-User",
    ),
    (
        "meta-externalfetcher/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/"
        "crawler)",
        "Meta-ExternalFetcher",
    ),
    ("DuckAssistBot/1.2; (+http://duckduckgo.com/duckassistbot.html)", "DuckAssistBot"),
    ("Mozilla/5.0 (compatible; YouBot (+http://www.you.com))", "YouBot"),
    ("Mozilla/5.0 (compatible; Gemini-Deep-Research)", "Gemini-Deep-Research"),
    # AI crawlers
    (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Amazonbot/0.1; "
        "+https://developer.amazon.com/support/amazonbot) Chrome/119.0.6045.214 Safari/537.36",
        "Amazonbot",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/13.1.1 Safari/605.1.15 (Applebot-Extended/0.1; "
        "+http://www.apple.com/go/applebot)",
        "Applebot-Extended",
    ),
    ("cohere-ai", "cohere-ai"),
    (
        "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile "
        "Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)",
        "Bytespider",
    ),
    (
        "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/45.0.2454.85 Safari/537.36 Diffbot/0.1",
        "Diffbot",
    ),
    ("Mozilla/5.0 (compatible; Google-Extended)", "Google-Extended"),
    ("Mozilla/5.0 (compatible; Kimi-User/1.0)", "Kimi-User"),
]

# An AI product no list names, recognised by its form alone.
UNLISTED_AI = [
    "Mozilla/5.0 (compatible; NewAssistant-User/1.0)",  # an "X-User" fetcher
    "ExampleCrawler/1.0 (+https://example.ai/bot)",  # a contact URL on a .ai domain
    "Examplebot-Extended/1.0",  # the "X-Extended" AI-training convention
    "crawlforai-adapter/1.0 (+crawler@example.ai)",
]

AUTOMATION = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.6099.28 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 Playwright/1.40.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 "
    "Safari/537.36 Puppeteer",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/534.34 (KHTML, like Gecko) PhantomJS/2.1.1 "
    "Safari/534.34",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Selenium/4.15 (python linux)",
]

HTTP_CLIENTS = [
    "curl/8.4.0",
    "Wget/1.21.4",
    "python-requests/2.31.0",
    "Python/3.11 aiohttp/3.9.1",
    "python-httpx/0.25.2",
    "Go-http-client/2.0",
    "okhttp/4.12.0",
    "Java/17.0.9",
    "Apache-HttpClient/4.5.14 (Java/17.0.9)",
    "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
    "axios/1.6.2",
    "libwww-perl/6.72",
    "PostmanRuntime/7.36.0",
    "insomnia/8.4.5",
]

MONITORS = [
    "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
    "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
    "Mozilla/5.0 (compatible; StatusCake)",
    "Site24x7",
    "Datadog/Synthetics",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/100.0.4896.60 Safari/537.36 NewRelicSynthetics/1.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
    "Safari/537.36 Checkly/1.0 (https://www.checklyhq.com)",
    "Better Uptime Bot Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
    "like Gecko) Chrome/90.0.4430.93 Safari/537.36",
]

LINK_PREVIEWS = [
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "TelegramBot (like TwitterBot)",
    "WhatsApp/2.23.20.0 A",
    "Twitterbot/1.0",
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
    "Viber/22.8.0.0 CFNetwork/1410.0.3 Darwin/22.6.0",
]

HEALTH_CHECKS = [
    "ELB-HealthChecker/2.0",
    "kube-probe/1.27",
    "GoogleHC/1.0",
    "Mozilla/5.0 (compatible;Cloudflare-Healthchecks/1.0;+https://www.cloudflare.com/; "
    "healthcheck-id: 0123456789abcdef)",
]

SCANNERS = [
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
    "Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)",
    "Mozilla/5.0 (compatible; DotBot/1.2; +https://opensiteexplorer.org/dotbot; help@moz.com)",
    "Screaming Frog SEO Spider/19.4",
    "Nessus SOAP",
    "Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000001)",
    "sqlmap/1.7.2#stable (https://sqlmap.org)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0.0.0 Safari/537.36 Nuclei - Open-source project "
    "(github.com/projectdiscovery/nuclei)",
    "Mozilla/5.0 zgrab/0.x",
    "masscan/1.3 (https://github.com/robertdavidgraham/masscan)",
    "Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)",
    "Mozilla/5.0 (compatible; Shodan; +https://shodan.io)",
]

# Bots no list names, recognised by their form.
UNLISTED_BOTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 12_0 like Mac OS X) examplebot.com/policy "
    "AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/69.0.3497.105 Mobile/15E148 Safari/605.1",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko; compatible; "
    "Example-Agent)",
    "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) HLB/1.247",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 "
    "Safari/537.36 ExampleSynthetics/2.0",
    "ExampleFetcher/1.0",
]

# People: webviews, in-app browsers, TVs, consoles, old browsers, vendor tokens.
PEOPLE = [
    "Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.144 Mobile Safari/537.36 "
    "[FB_IAB/FB4A;FBAV/445.0.0.34.118;]",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Instagram 307.0.0.34.111 (iPhone15,2; iOS 17_1; en_US; en; "
    "scale=3.00; 1179x2556; 532277058)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Safari Line/13.17.0",
    "Mozilla/5.0 (Linux; Android 7.0; BL5000 Build/NRD90M; wv) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Version/4.0 Chrome/63.0.3239.111 Mobile Safari/537.36 [Pinterest/Android]",
    "Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "76.0.3809.146/6.0 TV Safari/537.36",
    "Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko)",
    "Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.2; Trident/6.0; Xbox; Xbox One)",
    "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)",
    "Mozilla/5.0 (Linux; Android 6.0; VR BOT 552) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/72.0.3626.121 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; Spider 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; SAMSUNG SM-G973F) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
    "KDDI-CA3H UP.Browser/6.2_7.2.7.1.K.5.214 (GUI) MMP/2.0",
]


@pytest.mark.parametrize(("ua", "agent"), AI_AGENTS)
def test_ai_products_are_ai_agents(ua: str, agent: str) -> None:
    info = classify_traffic(ua)
    assert (info.type, info.reason) == ("ai_agent", "ai_agent")
    assert info.agent is not None and info.agent.lower() == agent.lower()


@pytest.mark.parametrize("ua", UNLISTED_AI)
def test_unlisted_ai_products_are_ai_agents_by_their_form(ua: str) -> None:
    assert classify_traffic(ua).reason == "ai_agent"


@pytest.mark.parametrize("ua", AUTOMATION + HTTP_CLIENTS)
def test_automation_and_http_clients(ua: str) -> None:
    info = classify_traffic(ua)
    assert (info.type, info.reason) == ("bot", "automation")


@pytest.mark.parametrize("ua", MONITORS + LINK_PREVIEWS + HEALTH_CHECKS + SCANNERS)
def test_monitors_previews_health_checks_and_scanners_are_known_crawlers(ua: str) -> None:
    info = classify_traffic(ua)
    assert (info.type, info.reason) == ("bot", "known_crawler")


def test_imessage_preview_is_a_link_preview_bot_not_an_ai_agent() -> None:
    # iMessage previews send Meta's and Twitter's crawler tokens; ai.robots.txt lists
    # facebookexternalhit (Meta uses it for AI too), but a link preview is no AI agent.
    ua = (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) "
        "Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0"
    )
    assert classify_traffic(ua).type == "bot"


@pytest.mark.parametrize("ua", UNLISTED_BOTS)
def test_unlisted_bots_are_known_crawlers_by_their_form(ua: str) -> None:
    assert classify_traffic(ua).reason == "known_crawler"


@pytest.mark.parametrize("ua", PEOPLE)
def test_people_stay_human(ua: str) -> None:
    assert classify_traffic(ua).type == "human"


def _browser_sample() -> list[tuple[str, str, str]]:
    lines = BROWSER_SAMPLE.read_text("utf-8").splitlines()
    rows = [line.split("\t", 2) for line in lines if line and not line.startswith("#")]
    return [(source, category, ua) for source, category, ua in rows]


def test_the_browser_sample_has_no_misflag() -> None:
    rows = _browser_sample()
    assert len(rows) >= 500
    assert {"smartphone", "tablet", "tv", "desktop", "console", "in-app"} <= {r[1] for r in rows}
    flagged = [(c, ua) for _, c, ua in rows if classify_traffic(ua).type != "human"]
    assert flagged == []


def test_every_ai_product_token_is_an_ai_agent_and_none_matches_a_browser() -> None:
    raw = resources.files("beacon.pixel").joinpath("data/ai-products/ai-products.json")
    products = json.loads(raw.read_text("utf-8"))
    assert len(products) >= 150
    for product in products:
        ua = f"Mozilla/5.0 (compatible; {product['token']}/1.0)"
        assert classify_traffic(ua).type == "ai_agent", product["token"]
    # Beacon's list alone (no other list) flags none of the browsers.
    own = AgentClassifier(
        AgentLists(
            ai_robots={},
            crawler_user_agents=[],
            crawler_detect=[],
            crawler_detect_exclusions=[],
            ai_products={p["token"]: p for p in products},
        )
    )
    assert [ua for _, _, ua in _browser_sample() if own.classify(ua).type == "ai_agent"] == []


def test_every_vendored_bot_example_is_invalid() -> None:
    lists = AgentLists.vendored()
    classifier = AgentClassifier(lists)
    for bot in lists.well_known_bots:
        # a link preview ("ai" and "preview": facebook-share-crawler) is a bot, not AI
        is_ai = "ai" in bot["categories"] and "preview" not in bot["categories"]
        expected = {"ai_agent"} if is_ai else {"bot", "ai_agent"}
        for ua in bot["instances"]:
            if ua.startswith("Facebot/"):  # Meta's link-preview fetcher, listed with its AI bot
                assert classifier.classify(ua).type == "bot"
                continue
            assert classifier.classify(ua).type in expected, (bot["id"], ua)


def test_device_detector_patterns_are_deduplicated_and_compile() -> None:
    entries = AgentLists.vendored().device_detector
    patterns = [entry["pattern"] for entry in entries]
    assert len(patterns) == len(set(patterns)) > 800
    assert sum(entry["ai"] for entry in entries) >= 70


def test_list_alternatives_are_matched_as_the_regex_would() -> None:
    # The trie and the split alternatives must match exactly what the raw patterns match.
    lists = AgentLists(
        ai_robots={},
        crawler_user_agents=[
            {"pattern": "(Foo-?Crawler|Bar[bB]ot)"},
            {"pattern": ".+quux"},
            {"pattern": "Pocket(?:ImageCache|Parser)"},
        ],
        crawler_detect=[],
        crawler_detect_exclusions=[],
    )
    classifier = AgentClassifier(lists)
    cases = {
        "FooCrawler/1": "bot",
        "Foo-Crawler": "bot",
        "Mozilla/5.0 (Windows NT 10.0) Gecko BarBot": "bot",
        "Mozilla/5.0 (Windows NT 10.0) x quux": "bot",
        "Mozilla/5.0 (Windows NT 10.0) PocketParser/2": "bot",
        "Mozilla/5.0 (Windows NT 10.0) Pocket/2": "human",
    }
    assert {ua: classifier.classify(ua).type for ua in cases} == cases
    assert _union([".+quux"]) is not None
    assert _union([".+quux"]).search("quux") is None  # `.+` still needs one character
