"""The real client's address behind trusted proxies (``BEACON_TRUSTED_PROXIES``).

One rule for every place that needs it (quotas, login throttling, the collector's country):
the direct peer is the client unless it is a trusted proxy; then ``X-Forwarded-For`` is read
from the right, skipping trusted hops, and the first untrusted hop is the client. A garbled
hop stops the walk (nothing left of it can be trusted either).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_ip(value: str) -> IPAddress | None:
    """An address from a peer or header value (``[v6]:port``, ``v4:port`` and v4-mapped v6
    accepted), or None when it is not one."""
    value = value.strip()
    if value.startswith("[") and "]" in value:
        value = value[1 : value.index("]")]  # "[2001:db8::1]:443"
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]  # "203.0.113.9:51234"
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def quota_address(address: str) -> str:
    """The part of a client address a per-address quota counts: an IPv4 address itself, an
    IPv6 address's /64 network (one host or home holds all of it, so counting each address
    would give it 2**64 quotas); anything else as given."""
    ip = parse_ip(address)
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip) if ip is not None else address


class ClientAddressResolver:
    """Resolves the client address of a request; build once per process and share it."""

    def __init__(self, trusted_proxies: Iterable[str] = ()) -> None:
        self._proxies: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(cidr.strip(), strict=False)
            for cidr in trusted_proxies
            if cidr.strip()
        )
        self._trusted = lru_cache(maxsize=4096)(self._trusted_uncached)

    @property
    def has_proxies(self) -> bool:
        """Whether any proxy is trusted (otherwise the peer is always the client)."""
        return bool(self._proxies)

    def is_trusted(self, ip: IPAddress) -> bool:
        """Whether ``ip`` is one of the trusted proxies."""
        return self._trusted(ip)

    def client(self, peer: str, forwarded_for: str = "") -> IPAddress | None:
        """The client's address, or None when it cannot be known (a garbled peer, or only
        proxies in the chain)."""
        ip = parse_ip(peer)
        if ip is None or not self._trusted(ip):
            return ip
        return self.forwarded_client(forwarded_for)

    def client_key(self, peer: str, forwarded_for: str = "") -> str:
        """The client's address as a quota key; the peer's own text when it cannot be known."""
        ip = self.client(peer, forwarded_for)
        return str(ip) if ip is not None else peer

    def forwarded_client(self, forwarded_for: str) -> IPAddress | None:
        """The first untrusted hop of ``X-Forwarded-For``, read from the right."""
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            ip = parse_ip(hop)
            if ip is None:
                return None
            if not self._trusted(ip):
                return ip
        return None

    def _trusted_uncached(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self._proxies)
