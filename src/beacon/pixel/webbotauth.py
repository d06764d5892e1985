"""Web Bot Auth: a request signed for bots declares an automated agent (GIVT `ai_agent` or
`known_crawler`), whatever its User-Agent.

Web Bot Auth (the IETF webbotauth drafts; Cloudflare's "signed agents") signs a bot's requests
with HTTP Message Signatures (RFC 9421): `Signature-Input` lists what was signed and carries
`tag="web-bot-auth"`, `Signature` holds the bytes, and `Signature-Agent` names the origin that
publishes the agent's keys, as a string (`"https://chatgpt.com"`, ChatGPT agent) or, in later
drafts, a dictionary member (`g="https://agent.bot.goog"`, Google-Agent). Agents that browse
with a real browser's User-Agent (ChatGPT agent, Google-Agent, hosted automation browsers)
show themselves only this way.

Beacon does not verify the signature: it only reads what the request declares. A forged
header can only make a hit invalid, which is the safe direction for whoever pays for
impressions: nobody gains by forging it.

A hit is a signed agent when its `Signature-Input` carries the `web-bot-auth` tag, or when its
`Signature-Agent` names an http(s) origin (no browser sends either). A `Signature-Agent` that
names no origin (`1`, `?1`, a bare word), alone, is not enough: such a hit stays with the
other rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

from beacon.pixel.agents import TrafficInfo

# Request headers read here (lowercase, as the collector keeps them).
SIGNATURE_AGENT = "signature-agent"
SIGNATURE_INPUT = "signature-input"
SIGNATURE_HEADERS: tuple[str, ...] = (SIGNATURE_AGENT, SIGNATURE_INPUT)

# Signature-Agent hosts of AI operators' agents, from the operators' own documentation:
# OpenAI's "ChatGPT agent allowlisting" (Signature-Agent "https://chatgpt.com") and Google's
# "Authenticate requests with Web Bot Auth" (Google-Agent, the agents hosted on Google
# infrastructure that act for a user, authenticated as https://agent.bot.goog). Any other signed
# agent is a `known_crawler` named after its host.
AI_SIGNATURE_AGENTS: Mapping[str, str] = {
    "chatgpt.com": "openai",
    "agent.bot.goog": "google",
}

# An http(s) origin in the header, quoted or not, as a string or a dictionary member.
_ORIGIN = re.compile(
    r'(?:^|[\s,="<])https?://([a-z0-9-]+(?:\.[a-z0-9-]+)*)\.?(?![\w.@-])', re.IGNORECASE
)
_TAG = re.compile(r';\s*tag\s*=\s*"web-bot-auth"', re.IGNORECASE)
_MAX_AGENT_NAME = 100  # the rollups' agent column


def signed_agent(headers: Mapping[str, str]) -> TrafficInfo | None:
    """The agent a Web Bot Auth signed request declares, or None for an unsigned one."""
    agent = headers.get(SIGNATURE_AGENT)
    signature_input = headers.get(SIGNATURE_INPUT)
    if not agent and not signature_input:
        return None
    return _declared(agent or "", bool(signature_input and _TAG.search(signature_input)))


@lru_cache(maxsize=1024)
def _declared(agent: str, tagged: bool) -> TrafficInfo | None:
    # Cached: a few agents send the same Signature-Agent on every request.
    hosts = [match.group(1).lower() for match in _ORIGIN.finditer(agent)]
    if not hosts:
        if not tagged:
            return None  # no origin and no web-bot-auth signature: nothing declared
        return TrafficInfo(type="bot", reason="known_crawler")
    # Several signatures may name several agents (a dictionary's members): an AI one wins.
    host = next((host for host in hosts if host in AI_SIGNATURE_AGENTS), hosts[0])
    name = host[:_MAX_AGENT_NAME]
    operator = AI_SIGNATURE_AGENTS.get(host)
    if operator is not None:
        return TrafficInfo(type="ai_agent", agent=name, operator=operator, reason="ai_agent")
    return TrafficInfo(type="bot", agent=name, operator=name, reason="known_crawler")
