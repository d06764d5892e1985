"""The lists added for issue 17 (uap-core, the nginx bad-bot blocker, isbot), each on its own."""

from __future__ import annotations

from dataclasses import replace
from importlib import resources

import pytest

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
    assert _only().classify(datanyze).type == "human"
    spiders = AgentLists.vendored().uap_spiders
    info = _only(uap_spiders=spiders).classify(datanyze)
    assert (info.type, info.reason) == ("bot", "known_crawler")
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
