"""Traffic type of a hit: a human, a generic bot, or an AI agent.

AI agents come from the vendored ai.robots.txt list (`data/ai-agents/robots.json`, MIT): each
product token is matched as a whole word, case-insensitively, longest token first, in one
precompiled regex. Other bots come from the maintained `crawlerdetect` patterns. An AI agent
wins over a generic bot, since most AI crawlers also look like crawlers.

An empty User-Agent is a bot: every real browser and every ad-rendering webview sends one,
so its absence means a script or a stripped proxy request, never a person seeing an ad.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from crawlerdetect import CrawlerDetect

TrafficType = Literal["human", "bot", "ai_agent"]

_MAX_UA = 1024
_UNKNOWN = "unclear at this time"
_MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
# "iaskspider/2.0", "Brightbot 1.0": versioned duplicates of a plain token in the list.
_VERSION_SUFFIX = re.compile(r"[/ ]\d[\w.]*$")


@dataclass(frozen=True, slots=True)
class TrafficInfo:
    """What sent a hit: `type`, and for bots and agents the matched token and its operator."""

    type: TrafficType
    agent: str | None = None
    operator: str | None = None
    function: str | None = None


@dataclass(frozen=True, slots=True)
class _Agent:
    name: str
    operator: str | None
    function: str | None


HUMAN = TrafficInfo(type="human")
_EMPTY_UA = TrafficInfo(type="bot")


def classify_traffic(user_agent: str | None) -> TrafficInfo:
    """Classify a User-Agent header as human, bot or ai_agent (empty -> bot)."""
    ua = (user_agent or "").strip()
    if not ua:
        return _EMPTY_UA
    return _classify(ua[:_MAX_UA])


@lru_cache(maxsize=65536)
def _classify(ua: str) -> TrafficInfo:
    agents, pattern = _ai_agents()
    match = pattern.search(ua)
    if match:
        agent = agents[match.group(1).lower()]
        return TrafficInfo("ai_agent", agent.name, agent.operator, agent.function)
    detector = _detector()
    if detector.is_crawler(ua):
        return TrafficInfo("bot", detector.get_matches())
    return HUMAN


_local = threading.local()


def _detector() -> CrawlerDetect:
    # CrawlerDetect keeps the last match on the instance, so each thread needs its own.
    detector: CrawlerDetect | None = getattr(_local, "detector", None)
    if detector is None:
        detector = _local.detector = CrawlerDetect()
    return detector


@lru_cache(maxsize=1)
def _ai_agents() -> tuple[dict[str, _Agent], re.Pattern[str]]:
    raw: dict[str, dict[str, Any]] = json.loads(
        resources.files("beacon.pixel").joinpath("data/ai-agents/robots.json").read_text("utf-8")
    )
    lowered = {token.lower() for token in raw}
    agents: dict[str, _Agent] = {}
    alternatives: list[str] = []
    for token, info in raw.items():
        low = token.lower()
        base = _VERSION_SUFFIX.sub("", low)
        if low in agents or (base != low and base in lowered):
            continue  # same token in another case, or a versioned spelling of a listed token
        agents[low] = _Agent(token, _clean(info.get("operator")), _clean(info.get("function")))
        # A generic word listed as "name/version only" (e.g. "Code") must carry its version.
        suffix = "(?=/)" if info.get("has_name_and_version") else ""
        alternatives.append(f"{re.escape(token)}{suffix}")
    alternatives.sort(key=len, reverse=True)
    pattern = re.compile(
        rf"(?<![\w-])({'|'.join(alternatives)})(?![\w-])", re.IGNORECASE | re.ASCII
    )
    return agents, pattern


def _clean(text: object) -> str | None:
    if not isinstance(text, str):
        return None
    text = _MARKDOWN_LINK.sub(r"\1", text).strip()
    if not text or text.lower().rstrip(".") == _UNKNOWN:
        return None
    return text
