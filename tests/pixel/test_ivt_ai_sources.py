"""The smaller vendored AI lists, the `<Product>-User/<version>` form and the AI signs
added in session 7 (issue 17)."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from beacon.pixel.agents import AgentClassifier, AgentLists, classify_traffic


def _agents(name: str) -> list[dict[str, str]]:
    raw = resources.files("beacon.pixel").joinpath(f"data/{name}/agents.json")
    return json.loads(raw.read_text("utf-8"))


@pytest.mark.parametrize("name", ["ai-crawler-blocklist", "ai-bots-list"])
def test_each_small_ai_list_is_vendored_with_its_license_and_source(name: str) -> None:
    folder = resources.files("beacon.pixel").joinpath(f"data/{name}")
    assert folder.joinpath("LICENSE").read_text("utf-8").strip()
    assert " at " in folder.joinpath("SOURCE").read_text("utf-8")
    entries = _agents(name)
    assert len(entries) >= 20
    assert all(set(entry) == {"token", "operator", "function"} for entry in entries)


@pytest.mark.parametrize("name", ["ai-crawler-blocklist", "ai-bots-list"])
def test_every_small_list_token_is_an_ai_agent(name: str) -> None:
    for entry in _agents(name):
        ua = f"Mozilla/5.0 (compatible; {entry['token']}/1.0)"
        assert classify_traffic(ua).type == "ai_agent", entry["token"]


def test_search_engines_the_small_lists_call_ai_stay_known_crawlers() -> None:
    # ai-bots-list names Bingbot and YandexBot as AI search (the index an assistant answers
    # from); the other lists call them search crawlers, and they were left out at vendoring.
    tokens = {entry["token"].lower() for entry in _agents("ai-bots-list")}
    assert not tokens & {"bingbot", "yandexbot", "baiduspider", "yeti"}
    ua = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
    assert (classify_traffic(ua).type, classify_traffic(ua).reason) == ("bot", "known_crawler")


def test_a_token_only_the_small_lists_name_is_an_ai_agent_with_its_operator() -> None:
    info = classify_traffic("Mozilla/5.0 (compatible; OAI-AdsBot/1.0; +https://openai.com/adsbot)")
    assert (info.type, info.agent, info.operator) == ("ai_agent", "OAI-AdsBot", "OpenAI")
    info = classify_traffic("Grok-DeepSearch/1.0")
    assert (info.type, info.operator) == ("ai_agent", "xAI")


def test_the_small_lists_come_after_ai_robots_and_beacons_own() -> None:
    lists = AgentLists(
        ai_robots={"FooBot": {"operator": "Foo Robots", "function": "AI Data Scrapers"}},
        crawler_user_agents=[],
        crawler_detect=[],
        crawler_detect_exclusions=[],
        ai_lists={
            "FooBot": {"token": "FooBot", "operator": "Other", "function": "AI Agents"},
            "BarBot": {"token": "BarBot", "operator": "Bar", "function": "AI Agents"},
        },
    )
    classifier = AgentClassifier(lists)
    assert classifier.classify("FooBot/1.0").operator == "Foo Robots"
    assert classifier.classify("BarBot/1.0").operator == "Bar"


@pytest.mark.parametrize(
    "ua",
    [
        # an assistant's fetcher appended to a browser's User-Agent
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/132.0.0.0 Safari/537.36; Acme-User/1.0",
        "Zorblax-User/2.1 (+https://zorblax.example/bot)",
    ],
)
def test_the_product_user_form_is_an_ai_assistant(ua: str) -> None:
    info = classify_traffic(ua)
    assert (info.type, info.reason, info.function) == ("ai_agent", "ai_agent", "AI Assistants")


@pytest.mark.parametrize(
    "ua",
    [
        "Mozilla/5.0 (compatible; KlumpAIBot/1.0; +https://klump.example/bot)",  # CamelCase AI
        "Mozilla/5.0 (compatible; AIScoutBot/0.3; +https://scout.example)",
        "Mozilla/5.0 (compatible; Frob-Spider/1.0; +https://chatglm.cn/)",  # AI company's site
        "Mozilla/5.0 (compatible) Frob2Bot-DeepResearch (+https://frob.example/crawler)",
        "Mozilla/5.0 (compatible; snarf2dataset; +https://github.com/someone/snarf2dataset)",
        "ModelContextProtocol/1.0 (Autonomous; +https://github.com/modelcontextprotocol/servers)",
        "Mozilla/5.0 (compatible; mcp-fetch/0.6; +https://example.org)",
        "Mozilla/5.0 (compatible; Zorb-NotebookLM; +https://zorb.example/)",
    ],
)
def test_unlisted_bots_with_an_ai_sign_are_ai_agents(ua: str) -> None:
    assert classify_traffic(ua).reason == "ai_agent"


@pytest.mark.parametrize(
    "ua",
    [
        # bots without an AI sign stay known crawlers, browsers stay people
        "Mozilla/5.0 (compatible; Datadog Agent/7.69.2)",
        "Mozilla/5.0 (compatible; MAILCheckBot/1.0; +https://mailcheck.example)",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
    ],
)
def test_no_ai_label_without_a_sign(ua: str) -> None:
    assert classify_traffic(ua).type != "ai_agent"
