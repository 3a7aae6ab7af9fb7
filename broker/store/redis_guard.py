"""The access-code guard in Redis: the same limits as `broker.attempts.AttemptGuard`, counted
once for every process sharing the server (in memory, N processes would allow N times as
many guesses).

Keys (`P` is the prefix; addresses and codes arrive as keyed hashes only):

    P guard:a:<address>   hash: tokens, at (the bucket), failures, since, locked (until)
    P guard:c:<code>      sorted set of the code's redemptions in its window
    P guard:fail          sorted set of wrong codes from anyone in the last minute

Each check is one Lua script, so two processes cannot both spend an address's last token.
Every key expires when it can no longer matter. The caller gives the time, as with the
pure guard.
"""

from __future__ import annotations

import math
import secrets

import redis.asyncio as aioredis

from broker.attempts import AttemptPolicy
from broker.errors import RateLimited
from broker.store.redis import awaited, unavailable_on_outage

# KEYS: address hash, failures zset. ARGV: now, per minute, failures per minute, keep (s).
# Returns {0} to go ahead, or {1, retry_after, why}.
_BEFORE = """
local now, per, fpm = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local a = redis.call('HMGET', KEYS[1], 'tokens', 'at', 'locked')
local locked = tonumber(a[3] or '0')
if locked > now then return {1, tostring(locked - now), 'locked'} end
local rate = per / 60
local tokens = math.min(per, tonumber(a[1] or per) + (now - tonumber(a[2] or now)) * rate)
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
if tokens < 1 then return {1, tostring((1 - tokens) / rate), 'rate'} end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. tostring(now - 60))
if redis.call('ZCARD', KEYS[2]) >= fpm then
  local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return {1, tostring(60 - (now - tonumber(first[2]))), 'paused'}
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1))
return {0}
"""

# KEYS: address hash, failures zset. ARGV: now, lockout failures, lockout seconds, member,
# keep (s). Returns 1 if the address is locked out now.
_FAILED = """
local now, limit, lockout = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local a = redis.call('HMGET', KEYS[1], 'failures', 'since')
local failures, since = tonumber(a[1] or '0'), tonumber(a[2] or ARGV[1])
if now - since > lockout then failures, since = 0, now end
failures = failures + 1
local locked = 0
if failures >= limit then
  redis.call('HSET', KEYS[1], 'locked', tostring(now + lockout))
  failures, locked = 0, 1
end
redis.call('HSET', KEYS[1], 'failures', failures, 'since', tostring(since))
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], now, ARGV[4])
redis.call('EXPIRE', KEYS[2], 120)
return locked
"""

# KEYS: the code's zset. ARGV: now, uses, window, member. Returns -1 to go ahead, else
# the seconds until the oldest use leaves the window.
_REDEEM = """
local now, uses, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. tostring(now - window))
if redis.call('ZCARD', KEYS[1]) >= uses then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tostring(window - (now - tonumber(first[2])))
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(window) + 1)
return '-1'
"""

_MESSAGES = {
    "locked": "too many wrong codes, try again later",
    "rate": "too many attempts, wait a minute",
    "paused": "code entry is paused for a moment",
}


class RedisCodeGuard:
    def __init__(self, url: str, policy: AttemptPolicy, *, prefix: str = "cb:") -> None:
        self.policy = policy
        self._prefix = prefix
        self._redis = aioredis.Redis.from_url(url, decode_responses=True, socket_timeout=5.0,
                                              socket_connect_timeout=5.0)
        self._before = self._redis.register_script(_BEFORE)
        self._failed = self._redis.register_script(_FAILED)
        self._redeem = self._redis.register_script(_REDEEM)
        # an address's record matters for a lock-out plus the bucket's refill
        self._keep = math.ceil(policy.lockout_seconds + 120)

    def _address(self, address: str) -> str:
        return f"{self._prefix}guard:a:{address}"

    @unavailable_on_outage
    async def before_attempt(self, address: str, now: float) -> None:
        got = await self._before(
            keys=[self._address(address), f"{self._prefix}guard:fail"],
            args=[repr(now), self.policy.per_address_per_minute,
                  self.policy.failures_per_minute, self._keep])
        if int(got[0]) == 1:
            raise RateLimited(_MESSAGES[str(got[2])], float(got[1]))

    @unavailable_on_outage
    async def failed(self, address: str, now: float) -> None:
        await self._failed(
            keys=[self._address(address), f"{self._prefix}guard:fail"],
            args=[repr(now), self.policy.lockout_failures, self.policy.lockout_seconds,
                  secrets.token_hex(8), self._keep])

    @unavailable_on_outage
    async def redeem(self, code_key: str, now: float) -> None:
        wait = float(await self._redeem(
            keys=[f"{self._prefix}guard:c:{code_key}"],
            args=[repr(now), self.policy.uses_per_code, self.policy.code_window_seconds,
                  secrets.token_hex(8)]))
        if wait >= 0:
            raise RateLimited("this code was used too often, wait a few minutes", wait)

    @unavailable_on_outage
    async def locked(self, address: str, now: float) -> bool:
        until = await awaited(self._redis.hget(self._address(address), "locked"))
        return until is not None and float(until) > now

    async def close(self) -> None:
        await self._redis.aclose()
