"""The client's address, for limits only: the peer, or behind a trusted reverse proxy the
last address in X-Forwarded-For that none of our proxies added.

Only proxies in the configured networks are believed; anyone else can write any
X-Forwarded-For they like. Addresses are never logged: limits key on them in memory.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(cidrs: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())


def _in(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(peer: str | None, forwarded_for: str | None,
                   trusted: tuple[Network, ...]) -> str:
    if not peer:
        return "?"
    if not trusted or not forwarded_for or not _in(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for[:2048].split(",") if h.strip()]
    for hop in reversed(hops):  # nearest first: skip our own proxies
        if not _in(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # garbage from outside: fall back to the proxy itself
    return hops[0] if hops else peer
