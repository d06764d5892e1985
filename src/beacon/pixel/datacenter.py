"""Is a client address in a cloud or hosting provider's published ranges (GIVT `datacenter`)?

The ranges are vendored in `data/datacenter/ranges.tsv` (`provider<TAB>cidr`, from the CC0
lord-alfred/ipranges collection of the providers' own published lists: AWS, Google Cloud,
Azure, Oracle Cloud, DigitalOcean, Linode, Vultr, and the crawler and monitor ranges of
Google, Bing, OpenAI, Perplexity, DuckDuckGo, Pingdom and StatusCake), refreshed at release by
`scripts/update_ivt_data.py`. Networks that are not globally routable (private, shared,
reserved, documentation: `ipaddress`'s `is_global`) are dropped, by the script and on load.
Consumer relays and VPNs (iCloud Private Relay, Cloudflare WARP,
Proton VPN) are deliberately not in it: people browse through them.

`AI_OPERATORS` names the providers whose ranges belong to AI crawlers and assistants alone: a
browser-looking hit from them is an AI agent (GIVT `ai_agent`), not a generic data center.
Most of those fleets run inside a cloud's own ranges (OpenAI's inside Azure's and AWS's), so
where networks nest the most specific one names the address: a crawler or monitor fleet wins
over the cloud around it.

Lookup: each family's networks become sorted, non-overlapping integer intervals, each named
after the smallest published network holding it; an address is found with one `bisect` over
the starts, O(log n), no allocation beyond the address itself. The table is built once per
process (a few milliseconds) and only read after.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_right
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources

from beacon.core.clientaddr import IPAddress

# Providers of `ranges.tsv` that are AI operators: OpenAI publishes the addresses of GPTBot,
# OAI-SearchBot and ChatGPT-User, Perplexity those of PerplexityBot and Perplexity-User. Not
# DuckDuckGo: its DuckAssistBot (the AI answers' fetcher) and DuckDuckBot (the search crawler)
# publish the very same addresses, so an address cannot tell the two apart; they are one
# provider, `duckduckgo`, a crawler fleet (`datacenter`).
AI_OPERATORS: frozenset[str] = frozenset({"openai", "perplexity"})


class DatacenterRanges:
    """Sorted, disjoint address intervals of published networks, by IP version, each named
    after the smallest network (`provider, cidr`) holding it."""

    def __init__(self, networks: Iterable[tuple[str, str]]) -> None:
        by_version: dict[int, list[tuple[int, int, int, str]]] = {4: [], 6: []}
        for order, (provider, cidr) in enumerate(networks):
            network = ipaddress.ip_network(cidr, strict=False)
            if not network.is_global:
                # Private, shared, reserved or documentation space (a provider's list carried
                # 203.0.113.0/24, the documents' example visitors): no provider's address.
                continue
            first, last = int(network.network_address), int(network.broadcast_address)
            by_version[network.version].append((first, last, order, provider))
        self._starts: dict[int, list[int]] = {}
        self._ends: dict[int, list[int]] = {}
        self._providers: dict[int, list[str]] = {}
        for version, intervals in by_version.items():
            starts, ends, providers = _merged(intervals)
            self._starts[version], self._ends[version] = starts, ends
            self._providers[version] = providers

    def __len__(self) -> int:
        return sum(len(starts) for starts in self._starts.values())

    def provider(self, ip: IPAddress | None) -> str | None:
        """The provider whose published range holds ``ip``, or None."""
        if ip is None:
            return None
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        value = int(ip)
        starts = self._starts[ip.version]
        index = bisect_right(starts, value) - 1
        if index >= 0 and value <= self._ends[ip.version][index]:
            return self._providers[ip.version][index]
        return None


def _merged(
    networks: list[tuple[int, int, int, str]],
) -> tuple[list[int], list[int], list[str]]:
    """Disjoint intervals, each named after the smallest network (first, last, order, provider)
    holding it; adjacent intervals of one provider are joined.

    CIDR networks are nested or disjoint, never partly overlapping: sorted by start, widest
    first, each network is inside the ones still open before it. Of two identical networks the
    one listed later wins (`ranges.tsv` lists the clouds first, the fleets inside them after).
    """
    starts: list[int] = []
    ends: list[int] = []
    providers: list[str] = []

    def emit(first: int, last: int, provider: str) -> None:
        if first > last:
            return
        if ends and ends[-1] + 1 == first and providers[-1] == provider:
            ends[-1] = last
            return
        starts.append(first)
        ends.append(last)
        providers.append(provider)

    open_networks: list[tuple[int, str]] = []  # (last, provider), innermost last
    cursor = 0
    for first, last, _, provider in sorted(networks, key=lambda n: (n[0], -n[1], n[2])):
        while open_networks and open_networks[-1][0] < first:
            end, outer = open_networks.pop()
            emit(cursor, end, outer)
            cursor = max(cursor, end + 1)
        if open_networks:
            emit(cursor, first - 1, open_networks[-1][1])
        cursor = first
        open_networks.append((last, provider))
    while open_networks:
        end, outer = open_networks.pop()
        emit(cursor, end, outer)
        cursor = max(cursor, end + 1)
    return starts, ends, providers


@lru_cache(maxsize=1)
def vendored_ranges() -> DatacenterRanges:
    """The data-center ranges shipped in `beacon/pixel/data/datacenter`."""
    text = resources.files("beacon.pixel").joinpath("data/datacenter/ranges.tsv").read_text()
    rows = (line.split("\t", 1) for line in text.splitlines() if line and line[0] != "#")
    return DatacenterRanges((provider, cidr) for provider, cidr in rows)
