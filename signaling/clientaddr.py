"""The client's address, for limits only: the peer, or behind a trusted reverse proxy the
last address in X-Forwarded-For that none of our proxies added.

Only proxies in the configured networks are believed; anyone else can write any
X-Forwarded-For they like, so the header is read from its right end (where our proxies
append) and an over-long one is cut at the left. IPv6 clients are keyed by their /64,
which one household or device usually holds whole. Addresses are never logged: limits key
on them in memory.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(cidrs: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())


MAX_HEADER = 2048
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _ip(text: str) -> Address | None:
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # ::ffff:10.0.0.2 is 10.0.0.2
    return ip


def _in(ip: Address | None, networks: tuple[Network, ...]) -> bool:
    return ip is not None and any(ip in net for net in networks)


def _key(ip: Address) -> str:
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def client_address(peer: str | None, forwarded_for: str | None,
                   trusted: tuple[Network, ...]) -> str:
    """The key the limits count by: the client's address (an IPv6 client's /64)."""
    peer_ip = _ip(peer or "")
    if peer_ip is None:
        return peer or "?"
    if not trusted or not forwarded_for or not _in(peer_ip, trusted):
        return _key(peer_ip)
    header = forwarded_for
    if len(header) > MAX_HEADER:  # keep the right end: that is what our proxies wrote
        header = header[-MAX_HEADER:].split(",", 1)[-1]
    hops = [h for h in header.split(",") if h.strip()]
    for hop in reversed(hops):  # nearest first: skip our own proxies
        ip = _ip(hop)
        if ip is None:
            return _key(peer_ip)  # garbage from outside: fall back to the proxy itself
        if not _in(ip, trusted):
            return _key(ip)
    first = _ip(hops[0]) if hops else None
    return _key(first if first is not None else peer_ip)
