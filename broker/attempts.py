"""How many access-code attempts we allow: the guard that keeps nine digits unguessable.

A code has 10^9 values and the live sessions of a Jobcenter hold a few hundred of them, so
one random guess hits with odds of about 1 in 10^6-10^7. The guard makes the number of
guesses small: per client address a rate and a lock-out after repeated wrong codes, for
everyone together a ceiling on wrong codes per minute (which bounds a guesser with many
addresses), and per valid code a ceiling on redemptions (a code read out over a
shoulder cannot be used again and again). Pure: the caller gives the time and keys
(addresses arrive here as keyed hashes only). Memory is bounded: the oldest keys go first.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from broker.errors import RateLimited


@dataclass(frozen=True, slots=True)
class AttemptPolicy:
    per_address_per_minute: int = 10
    lockout_failures: int = 20
    lockout_seconds: float = 900.0
    uses_per_code: int = 10
    code_window_seconds: float = 600.0
    failures_per_minute: int = 120
    max_keys: int = 100_000


@dataclass(slots=True)
class _Address:
    tokens: float
    at: float
    failures: int = 0
    failures_since: float = 0.0
    locked_until: float = 0.0


class AttemptGuard:
    def __init__(self, policy: AttemptPolicy) -> None:
        self.policy = policy
        self._addresses: OrderedDict[str, _Address] = OrderedDict()
        self._uses: OrderedDict[str, list[float]] = OrderedDict()
        self._failures: list[float] = []  # wrong codes from anyone, last minute
        self.refusals = 0

    def before_attempt(self, address: str, now: float) -> None:
        """Raise RateLimited if this address may not try a code now."""
        p = self.policy
        a = self._address(address, now)
        if a.locked_until > now:
            self._refuse("too many wrong codes, try again later", a.locked_until - now)
        rate = p.per_address_per_minute / 60.0
        a.tokens = min(p.per_address_per_minute, a.tokens + (now - a.at) * rate)
        a.at = now
        if a.tokens < 1.0:
            self._refuse("too many attempts, wait a minute", (1.0 - a.tokens) / rate)
        self._trim(now)
        if len(self._failures) >= p.failures_per_minute:
            self._refuse("code entry is paused for a moment", 60.0 - (now - self._failures[0]))
        a.tokens -= 1.0

    def failed(self, address: str, now: float) -> None:
        p = self.policy
        a = self._address(address, now)
        if now - a.failures_since > p.lockout_seconds:  # old failures are forgiven
            a.failures, a.failures_since = 0, now
        a.failures += 1
        if a.failures >= p.lockout_failures:
            a.locked_until = now + p.lockout_seconds
            a.failures = 0
        self._failures.append(now)

    def redeem(self, code_key: str, now: float) -> None:
        """Count one use of a valid code; raise RateLimited past the ceiling."""
        p = self.policy
        uses = [t for t in self._uses.pop(code_key, []) if now - t < p.code_window_seconds]
        if len(uses) >= p.uses_per_code:
            self._uses[code_key] = uses
            self._refuse("this code was used too often, wait a few minutes",
                         p.code_window_seconds - (now - uses[0]))
        uses.append(now)
        self._uses[code_key] = uses
        while len(self._uses) > p.max_keys:
            self._uses.popitem(last=False)

    def locked(self, address: str, now: float) -> bool:
        a = self._addresses.get(address)
        return a is not None and a.locked_until > now

    def _address(self, key: str, now: float) -> _Address:
        a = self._addresses.pop(key, None)
        if a is None:
            a = _Address(tokens=float(self.policy.per_address_per_minute), at=now,
                         failures_since=now)
        self._addresses[key] = a  # most recently used last
        while len(self._addresses) > self.policy.max_keys:
            self._addresses.popitem(last=False)
        return a

    def _trim(self, now: float) -> None:
        cut = 0
        while cut < len(self._failures) and now - self._failures[cut] >= 60.0:
            cut += 1
        del self._failures[:cut]

    def _refuse(self, message: str, retry_after: float) -> None:
        self.refusals += 1
        raise RateLimited(message, retry_after)


class CodeGuard(Protocol):
    """The guard as the API uses it: in memory for one process, in Redis for several."""

    async def before_attempt(self, address: str, now: float) -> None: ...

    async def failed(self, address: str, now: float) -> None: ...

    async def redeem(self, code_key: str, now: float) -> None: ...

    async def locked(self, address: str, now: float) -> bool: ...

    async def close(self) -> None: ...


class LocalCodeGuard:
    """`AttemptGuard` behind the async face of `CodeGuard` (one process, no Redis)."""

    def __init__(self, policy: AttemptPolicy) -> None:
        self.guard = AttemptGuard(policy)

    async def before_attempt(self, address: str, now: float) -> None:
        self.guard.before_attempt(address, now)

    async def failed(self, address: str, now: float) -> None:
        self.guard.failed(address, now)

    async def redeem(self, code_key: str, now: float) -> None:
        self.guard.redeem(code_key, now)

    async def locked(self, address: str, now: float) -> bool:
        return self.guard.locked(address, now)

    async def close(self) -> None:
        return None
