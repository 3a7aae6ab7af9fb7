"""Who may talk SIP to the gateway, how much, and what we say about the rest.

The gateway sits behind a trunk, PBX or session border controller: SIP from any other
address is dropped without an answer (no answer tells a scanner nothing and reflects
nothing). Oversized datagrams are dropped unread; new INVITEs draw from a token
bucket (503 with Retry-After when it is empty); concurrent calls have a ceiling. What
was refused is counted, and the counts are logged at most once per interval: never an
address, never a number, never a traceback per bad datagram.

Pure: the caller gives the time; the SIP transport (`gateway.siptransport`) and the
user agent (`gateway.sip`) ask and act.
"""

from __future__ import annotations

import ipaddress
import math
from collections import Counter
from dataclasses import dataclass, field

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class SipLimits:
    trunks: tuple[str, ...] = ("127.0.0.1/32",)  # networks SIP is accepted from
    max_message_bytes: int = 8192  # a SIP message (UDP datagram or TCP message)
    invite_rate: float = 20.0  # new INVITEs per second, sustained
    invite_burst: int = 40
    max_calls: int = 200
    max_tcp_connections: int = 64
    tcp_idle_timeout: float = 300.0
    report_interval: float = 60.0  # how often refusal counts are logged, at most

    def networks(self) -> tuple[Network, ...]:
        try:
            return tuple(ipaddress.ip_network(t, strict=False) for t in self.trunks)
        except ValueError as exc:
            raise ValueError(f"trunks: {exc}") from None


@dataclass
class Guard:
    limits: SipLimits
    refused: Counter[str] = field(default_factory=Counter)  # reason -> count since report
    _networks: tuple[Network, ...] = ()
    _tokens: float = 0.0
    _refilled: float | None = None
    _reported: float = -math.inf

    def __post_init__(self) -> None:
        self._networks = self.limits.networks()
        self._tokens = float(self.limits.invite_burst)

    def allows_source(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return self.refuse("bad_source")
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in net for net in self._networks):
            return True
        return self.refuse("foreign_source")

    def allows_size(self, size: int) -> bool:
        return size <= self.limits.max_message_bytes or self.refuse("oversized")

    def take_invite(self, now: float) -> float | None:
        """Take a token for a new INVITE: None if allowed, else seconds to wait."""
        rate, burst = self.limits.invite_rate, float(self.limits.invite_burst)
        if self._refilled is not None:
            self._tokens = min(burst, self._tokens + (now - self._refilled) * rate)
        self._refilled = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        self.refuse("invite_rate")
        return (1.0 - self._tokens) / rate

    def refuse(self, reason: str) -> bool:
        """Count a refusal; always False, so `return guard.refuse(...)` reads as a no."""
        self.refused[reason] += 1
        return False

    def report(self, now: float) -> dict[str, int] | None:
        """The counts to log now (and reset), or None if nothing was refused or the last
        report is too recent. The first refusals are reported at once."""
        if not self.refused or now - self._reported < self.limits.report_interval:
            return None
        self._reported = now
        counts = dict(self.refused)
        self.refused.clear()
        return counts


def retry_after(seconds: float) -> str:
    """A Retry-After value: whole seconds, at least one."""
    return str(max(1, math.ceil(seconds)))
