"""Is a client address in a cloud or hosting provider's published ranges (GIVT `datacenter`)?

The ranges are vendored in `data/datacenter/ranges.tsv` (`provider<TAB>cidr`, from the CC0
lord-alfred/ipranges collection of the providers' own published lists: AWS, Google Cloud,
Azure, Oracle Cloud, DigitalOcean, Linode, Vultr, and the crawler and monitor ranges of
Google, Bing, OpenAI, Perplexity, DuckDuckGo, Pingdom and StatusCake), refreshed at release by
`scripts/update_ivt_data.py`. Consumer relays and VPNs (iCloud Private Relay, Cloudflare WARP,
Proton VPN) are deliberately not in it: people browse through them.

Lookup: each family's networks become sorted, merged, non-overlapping integer intervals; an
address is found with one `bisect` over the starts, O(log n), no allocation beyond the
address itself. The table is built once per process (a few milliseconds) and only read after.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_right
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources

from beacon.core.clientaddr import IPAddress


class DatacenterRanges:
    """Sorted, merged address intervals of data-center networks, by IP version."""

    def __init__(self, networks: Iterable[tuple[str, str]]) -> None:
        by_version: dict[int, list[tuple[int, int, str]]] = {4: [], 6: []}
        for provider, cidr in networks:
            network = ipaddress.ip_network(cidr, strict=False)
            first, last = int(network.network_address), int(network.broadcast_address)
            by_version[network.version].append((first, last, provider))
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


def _merged(intervals: list[tuple[int, int, str]]) -> tuple[list[int], list[int], list[str]]:
    # Overlapping or adjacent networks become one interval, named after the first provider.
    starts: list[int] = []
    ends: list[int] = []
    providers: list[str] = []
    for first, last, provider in sorted(intervals):
        if ends and first <= ends[-1] + 1:
            ends[-1] = max(ends[-1], last)
            continue
        starts.append(first)
        ends.append(last)
        providers.append(provider)
    return starts, ends, providers


@lru_cache(maxsize=1)
def vendored_ranges() -> DatacenterRanges:
    """The data-center ranges shipped in `beacon/pixel/data/datacenter`."""
    text = resources.files("beacon.pixel").joinpath("data/datacenter/ranges.tsv").read_text()
    rows = (line.split("\t", 1) for line in text.splitlines() if line and line[0] != "#")
    return DatacenterRanges((provider, cidr) for provider, cidr in rows)
