"""The lists added for issue 17 (uap-core, the nginx bad-bot blocker, isbot), each on its own."""

from __future__ import annotations

import re
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from tests.support import ROOT, load_script

from beacon.pixel.agents import AgentClassifier, AgentLists, classify_traffic

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
WECHAT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003129) NetType/WIFI Language/zh_CN"
)
QQ_BROWSER = (
    "Mozilla/5.0 (Linux; U; Android 12; zh-cn; V2148A Build/SP1A.210812.003) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/89.0.4389.72 MQQBrowser/13.1 Mobile Safari/537.36"
)


def _only(**lists: object) -> AgentClassifier:
    """A classifier of one list (the rules by form still apply)."""
    empty = AgentLists(ai_robots={}, crawler_user_agents=[], crawler_detect=[],
                       crawler_detect_exclusions=[])  # fmt: skip
    return AgentClassifier(replace(empty, **lists), automation_markers=())


@pytest.mark.parametrize("directory", ["isbot", "uap-core", "bad-bot-blocker"])
def test_each_new_list_is_vendored_with_its_license_and_source(directory: str) -> None:
    folder = resources.files("beacon.pixel").joinpath(f"data/{directory}")
    names = {item.name for item in folder.iterdir()}
    assert {"SOURCE", "README.md"} <= names
    assert names & {"LICENSE", "LICENSE.md"}
    assert " at " in folder.joinpath("SOURCE").read_text("utf-8")


def test_the_vendored_lists_are_loaded_and_not_empty() -> None:
    lists = AgentLists.vendored()
    assert len(lists.isbot) > 150
    assert len(lists.bad_bots) > 600
    assert any("Datanyze" in entry["pattern"] for entry in lists.uap_spiders)


def test_bad_bot_blocker_words_count_whole() -> None:
    classifier = _only(bad_bots=["Titan", r"Black\ Hole", "Nuclei"])
    assert classifier.classify(f"{CHROME} Titan/2.0").agent == "Titan"
    assert classifier.classify(f"{CHROME} Black Hole").type == "bot"
    assert classifier.classify(f"{CHROME} Nuclei").reason == "known_crawler"
    # inside another word, not a name: "Titanium", "Nucleus"
    assert classifier.classify(f"{CHROME} Titanium/2.0").type == "human"
    assert classifier.classify(f"{CHROME} NucleiX").type == "human"


def test_browsers_the_bad_bot_blocker_blocks_on_purpose_are_people() -> None:
    lists = AgentLists.vendored()
    assert "MicroMessenger" not in lists.bad_bots  # left out at vendoring
    assert "MQQBrowser" not in lists.bad_bots
    assert classify_traffic(WECHAT).type == "human"
    assert classify_traffic(QQ_BROWSER).type == "human"
    # the list still names real scanners the other lists miss
    assert classify_traffic(f"{CHROME} Nuclei").type == "bot"


def test_uap_core_spiders_catch_a_browser_shaped_crawler() -> None:
    datanyze = (
        "Mozilla/5.0 (X11; Datanyze; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/65.0.3325.181 Safari/537.36"
    )
    # without the list, the rules by form catch it too since h/ivt6 (a name between X11 and
    # Linux); with it, uap-core's pattern names it first
    assert _only().classify(datanyze).agent == "Datanyze"
    spiders = AgentLists.vendored().uap_spiders
    info = _only(uap_spiders=spiders).classify(datanyze)
    assert (info.type, info.reason, info.agent) == ("bot", "known_crawler", "X11; Datanyze; Linux")
    # the alternatives that name browsers were left out at vendoring: Amazon's Silk
    silk = (
        "Mozilla/5.0 (Linux; Android 9; AFTKA) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Silk/118.3.1 like Chrome/118.0.5993.155 Safari/537.36"
    )
    assert _only(uap_spiders=spiders).classify(silk).type == "human"


def test_isbot_patterns_add_names_and_generic_forms() -> None:
    patterns = AgentLists.vendored().isbot
    classifier = _only(isbot=patterns)
    dareboost = f"{CHROME} Dareboost"
    assert _only().classify(dareboost).type == "human"
    assert classifier.classify(dareboost).agent == "Dareboost"
    # a generic form reports the declared name, not the whole match
    assert classifier.classify("Mozilla/5.0 (compatible; SomeTool/2.1)").agent == "SomeTool"
    # isbot's forms that flag real browsers were left out at vendoring
    assert r"^[^ ]{50,}$" not in patterns
    smart_tv = "smarttv_AFTMM_Build_535062120_Chromium_59.0.2883.91"
    assert classify_traffic(smart_tv).type == "human"


ANDROID_AP3A = (
    "Mozilla/5.0 (Linux; Android 15; CPH2655 Build/AP3A.240617.008) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.6778.135 Mobile Safari/537.36"
)
IMESSAGE = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) "
    "Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0"
)


def test_an_android_build_id_in_a_list_is_not_a_bot() -> None:
    # crawler-user-agents lists `AP3A\.240617\.008` (one 80legs User-Agent); the build runs
    # on millions of OPPO and OnePlus phones
    assert any("AP3A" in e["pattern"] for e in AgentLists.vendored().crawler_user_agents)
    assert classify_traffic(ANDROID_AP3A).type == "human"
    webview = ANDROID_AP3A.replace(") AppleWebKit", "; wv) AppleWebKit")
    assert classify_traffic(webview).type == "human"


def test_imessage_and_facebook_link_previews_are_bots_not_ai_agents() -> None:
    info = classify_traffic(IMESSAGE)
    assert (info.type, info.reason, info.agent, info.operator) == (
        "bot",
        "known_crawler",
        "iMessage",
        "Apple",
    )
    facebook = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
    assert classify_traffic(facebook).type == "bot"
    assert classify_traffic("Facebot/1.0").type == "bot"
    # Meta's AI crawler stays an AI agent
    meta_ai = (
        "Mozilla/5.0 (compatible; FacebookBot/1.0; "
        "+https://developers.facebook.com/docs/sharing/webmasters/facebookbot/)"
    )
    assert classify_traffic(meta_ai).type == "ai_agent"


@pytest.mark.parametrize(
    "ua",
    [
        # AI vocabulary in a name no list knows (made-up products)
        "Mozilla/5.0 (compatible; ZorblaxGPT-Fetcher/1.0; +https://zorblax.example/bot)",
        "QuuxLLM-Crawler/0.3 (+https://quux.example/crawler)",
        "Mozilla/5.0 (compatible; Frobnitz-User/1.0; +https://frobnitz.example/bots)",
        "Mozilla/5.0 (compatible; Frobnitz-SearchBot/1.0; +https://frobnitz.example/bots)",
        "Mozilla/5.0 (compatible; WidgetAutoRAG/1.0; +https://widget.example/rag)",
        "Mozilla/5.0 (compatible; ClaudeScout/1.0; +https://scout.example/)",
        "Mozilla/5.0 (compatible; KimiReader/2.0; +https://reader.example/)",
        "acme-training-data-crawler/1.0",
        "Mozilla/5.0 (compatible; Zeta Research Assistant/1.0; +https://zeta.example/)",
        # an AI company's site as the contact, a .ai domain as the whole name
        "Mozilla/5.0 (compatible; Fetchy/1.0; +https://openai.com/fetchy)",
        "zorblax.ai",
    ],
)
def test_a_bot_with_an_ai_sign_is_an_ai_agent(ua: str) -> None:
    assert classify_traffic(ua).type == "ai_agent"


@pytest.mark.parametrize(
    "ua",
    [
        # browsers and apps that carry the same words stay people: the AI signs only name the
        # operator of something already a bot
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Mobile Safari/537.36 GoogleApp/15.2 Gemini/1.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0 Copilot/1.0",
        CHROME,
    ],
)
def test_ai_words_in_a_browser_do_not_make_it_a_bot(ua: str) -> None:
    assert classify_traffic(ua).type == "human"


def test_ai_signs_do_not_relabel_plain_bots() -> None:
    for ua in (
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        "Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
        "Mozilla/5.0 (compatible; Rainbow/1.0; +https://raindrop.example/grain)",
    ):
        assert classify_traffic(ua).type == "bot", ua


@pytest.mark.parametrize(
    ("ua", "reason"),
    [
        ("Mozilla/5.0 Zorblax/0.1", "known_crawler"),
        ("Mozilla/5.0 Zorblax", "known_crawler"),
        ("Mozilla/5.0 (watchOS 6.2; Watch; compatible; zorblax; HTTPClient 4.5)", "automation"),
    ],
)
def test_forms_no_browser_sends(ua: str, reason: str) -> None:
    info = classify_traffic(ua)
    assert (info.type, info.reason) == ("bot", reason)


def _update_script() -> Any:
    return load_script(ROOT / "scripts" / "update_ivt_data.py")


def test_the_refresh_script_converts_javascript_patterns_and_drops_browser_matches() -> None:
    script = _update_script()
    # isbot's two JavaScript-only forms
    assert script.python_regex(r"(?<! cu|google/)bot") == r"(?<! cu)(?<!google/)bot"
    converted = script.python_regex(r"^a(?:\s?[\w\d-.]+)$")
    assert converted == r"^a(?:\s?[\w\d.-]+)$"
    re.compile(converted)
    # a blocking list's browser (WeChat) is left out, a scanner kept
    kept = script.browser_safe("test", ["MicroMessenger", "Nuclei"], whole_words=True)
    assert kept == ["Nuclei"]
    # an alternation loses only the alternative that names a browser (Amazon's Silk)
    assert script.browser_safe("test", ["silk|zorblaxbot"]) == ["zorblaxbot"]


def test_the_refresh_script_vendors_no_network_that_is_not_global(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Vultr's list carried 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 and 2001:db8::/32."""
    script = _update_script()
    repo, data = tmp_path / "ipranges", tmp_path / "data"
    (repo / "vultr").mkdir(parents=True)
    data.mkdir()
    (repo / "LICENSE").write_text("CC0\n", "utf-8")
    (repo / "vultr" / "ipv4_merged.txt").write_text(
        "45.32.0.0/16\n192.0.2.0/24\n198.51.100.0/24\n203.0.113.0/24\n10.0.0.0/8\n", "utf-8"
    )
    (repo / "vultr" / "ipv6_merged.txt").write_text("2001:19f0::/32\n2001:db8::/32\n", "utf-8")
    monkeypatch.setattr(script, "DATA", data)
    script.update_ipranges(repo)
    written = (data / "datacenter" / "ranges.tsv").read_text("utf-8")
    assert written == "vultr\t45.32.0.0/16\nvultr\t2001:19f0::/32\n"
