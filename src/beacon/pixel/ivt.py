"""General invalid traffic (GIVT, per the MRC IVT guidelines): is a hit a person, and if not, why.

Run by the hit consumer off the request path (`hits.HitEnricher`); the collector only keeps
the few request headers used here. Each hit gets at most one reason, the first that applies:

1. what the User-Agent says (`agents.AgentClassifier`): `empty_ua`, `ai_agent`,
   `known_crawler` (the lists and the operator's `BEACON_EXTRA_BOT_PATTERNS`), `automation`
   (headless browsers, automation frameworks, non-browser HTTP clients);
2. what the request declares (`webbotauth.py`): a Web Bot Auth signature (`Signature-Input`
   tagged `web-bot-auth`, or a `Signature-Agent` naming an origin) is an agent's, whatever
   its User-Agent: `ai_agent` when the Signature-Agent is an AI operator's
   (`https://chatgpt.com`), else `known_crawler`. Not verified: a forged one only makes a hit
   invalid;
3. `prefetch`: the browser fetched the pixel speculatively (`Sec-Purpose: prefetch` or
   `prerender`, `Purpose: prefetch`, `X-Moz: prefetch`, `X-Purpose: preview`), so nobody may
   ever see the page;
4. the client's network (`datacenter.py`, one lookup): `ai_agent` in an AI operator's own
   published ranges (`datacenter.AI_OPERATORS`: OpenAI, Perplexity), `datacenter` in a cloud
   or hosting provider's or another crawler or monitor fleet's;
5. `activity`: the same client (public address and User-Agent) loads more than
   `BEACON_IVT_ACTIVITY_MAX_PER_MINUTE` impressions of one campaign in one UTC minute (the
   loads past the limit are invalid), or a cache buster already seen for the campaign comes
   again from the same address (a replayed request).

Reasons 1-4 are pure and cached. The activity rule keeps counts per minute in memory for the
current and the previous minute only (bounded by `max_tracked`), per flusher process: with
several flusher processes sharing a spool, a client split between them is counted by each.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from beacon.core.clientaddr import IPAddress
from beacon.core.config import Settings
from beacon.pixel.agents import (
    HUMAN,
    AgentClassifier,
    AgentLists,
    TrafficInfo,
    default_classifier,
    load_extra_patterns,
)
from beacon.pixel.datacenter import AI_OPERATORS, DatacenterRanges, vendored_ranges
from beacon.pixel.webbotauth import signed_agent

# Request headers a browser sets on speculative loads (lowercase, as the collector keeps them).
PREFETCH_HEADERS: tuple[str, ...] = ("sec-purpose", "purpose", "x-moz", "x-purpose")
DEFAULT_MAX_PER_MINUTE = 30
DEFAULT_MAX_TRACKED = 500_000

PREFETCH = TrafficInfo(type="bot", reason="prefetch")
ACTIVITY = TrafficInfo(type="bot", reason="activity")


def is_prefetch(headers: Mapping[str, str]) -> bool:
    """Whether a request's headers mark it as a prefetch, prerender or preview."""
    for name in PREFETCH_HEADERS:
        value = headers.get(name)
        if value:
            lowered = value.lower()
            if "prefetch" in lowered or "prerender" in lowered or "preview" in lowered:
                return True
    return False


class ActivityRule:
    """Counts loads per campaign, client and UTC minute; flags the loads over the limit.

    Only the current and the previous minute are kept (records arrive in time order, give or
    take a flush), and at most ``max_tracked`` clients and cache busters per minute: past that
    a minute stops tracking new ones rather than growing without bound.
    """

    def __init__(
        self,
        *,
        max_per_minute: int = DEFAULT_MAX_PER_MINUTE,
        max_tracked: int = DEFAULT_MAX_TRACKED,
    ) -> None:
        self.max_per_minute = max_per_minute
        self.max_tracked = max_tracked
        self._minute = -1
        self._counts: dict[int, dict[tuple[int, Hashable, str], int]] = {}
        self._busters: dict[int, set[tuple[int, Hashable | None, str]]] = {}

    def is_irregular(
        self,
        *,
        campaign_id: int,
        ts: float,
        client: Hashable | None,
        user_agent: str,
        cache_buster: str,
    ) -> bool:
        """Count one human-looking load of ``client`` (an address; None: unknown); True when
        it breaks the rule."""
        minute = int(ts // 60)
        if minute > self._minute:
            self._advance(minute)
        elif minute < self._minute - 1:
            return False  # too old to compare with anything kept
        if cache_buster:
            busters = self._busters.setdefault(minute, set())
            # Per client address: cache busters with little entropy (a timestamp in seconds, a
            # short random number) repeat between different people; a replay comes from one.
            key = (campaign_id, client, cache_buster)
            if key in busters or (key in self._busters.get(minute - 1, ())):
                return True
            if len(busters) < self.max_tracked:
                busters.add(key)
        if client is None:
            return False  # no address (a server-side event without one): nothing to group by
        counts = self._counts.setdefault(minute, {})
        client_key = (campaign_id, client, user_agent)
        seen = counts.get(client_key)
        if seen is None:
            if len(counts) >= self.max_tracked:
                return False
            seen = 0
        counts[client_key] = seen + 1
        return seen + 1 > self.max_per_minute

    def _advance(self, minute: int) -> None:
        self._minute = minute
        for kept in (self._counts, self._busters):
            for old in [m for m in kept if m < minute - 1]:
                del kept[old]


@dataclass(frozen=True)
class HitContext:
    """What the consumer knows of one hit besides its User-Agent."""

    campaign_id: int
    ts: float
    client: IPAddress | None
    headers: Mapping[str, str]
    cache_buster: str = ""


class InvalidTrafficDetector:
    """Decides each hit's traffic type and IVT reason; one per consumer (it keeps counts)."""

    def __init__(
        self,
        *,
        agents: AgentClassifier | None = None,
        datacenters: DatacenterRanges | None = None,
        activity: ActivityRule | None = None,
    ) -> None:
        # the vendored lists' classifier (~0.3 s to compile, once a process) on first use:
        # a process that classifies no hit (a server's flusher child before any traffic, a
        # CLI command) does not wait for it at start
        self._agents = agents
        self.datacenters = datacenters if datacenters is not None else vendored_ranges()
        self.activity = activity or ActivityRule()

    @property
    def agents(self) -> AgentClassifier:
        if self._agents is None:
            self._agents = default_classifier()
        return self._agents

    def classify(self, user_agent: str, hit: HitContext) -> TrafficInfo:
        """The hit's traffic type, reason and named agent (HUMAN when no rule applies)."""
        info = self.agents.classify(user_agent)
        if info.type != "human":
            return info
        if hit.headers:
            signed = signed_agent(hit.headers)
            if signed is not None:
                return signed
            if is_prefetch(hit.headers):
                return PREFETCH
        provider = self.datacenters.provider(hit.client)
        if provider is not None:
            return _network_info(provider)
        # A private or loopback address is a proxy Beacon was not told to trust
        # (BEACON_TRUSTED_PROXIES), with everyone behind it: not one client to count.
        client = hit.client if hit.client is not None and _is_public(hit.client) else None
        irregular = self.activity.is_irregular(
            campaign_id=hit.campaign_id,
            ts=hit.ts,
            client=client,
            user_agent=user_agent,
            cache_buster=hit.cache_buster,
        )
        return ACTIVITY if irregular else HUMAN


@lru_cache(maxsize=64)
def _network_info(provider: str) -> TrafficInfo:
    if provider in AI_OPERATORS:
        return TrafficInfo(type="ai_agent", operator=provider, reason="ai_agent")
    return TrafficInfo(type="bot", operator=provider, reason="datacenter")


@lru_cache(maxsize=65536)
def _is_public(ip: IPAddress) -> bool:
    # `is_global` walks a dozen special-purpose networks on every call; clients repeat.
    return ip.is_global


def detector_from_settings(settings: Settings) -> InvalidTrafficDetector:
    """The detector a consumer uses: vendored lists, the operator's patterns, the limit."""
    extra = load_extra_patterns(settings.extra_bot_patterns)
    agents = AgentClassifier(AgentLists.vendored(), extra_patterns=extra) if extra else None
    activity = ActivityRule(max_per_minute=settings.ivt_activity_max_per_minute)
    return InvalidTrafficDetector(agents=agents, activity=activity)
