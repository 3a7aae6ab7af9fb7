"""Live state in Redis: several broker processes share their sessions through one server.

Key layout (`P` is the prefix, `cb:` by default; ids as the broker and the identity
provider issue them, never a person's name):

    P session:<session id>   hash, the session and what points away from it:
                               data        the session as JSON (`session_to_dict`, exactly
                                           what MemoryStore keeps; the display name lives
                                           here and nowhere else)
                               version     the version `data` carries (compare-and-set)
                               counsellor  the staff id whose set lists the session
                               code        the keyed hash of its current access code
                               write       a random token of the last write (a resent
                                           write is recognised, see `put`)
    P counsellor:<staff id>  set of the session ids of one counsellor
    P code:<code hash>       string, the session id holding that access code
    P device:<session id>    string, the keyed hash of the device the customer link is
                             bound to

Every change is one Lua script, so it is atomic for every process sharing the server:
`put` compares the stored version and writes the JSON, the version, the counsellor set
and the expiry of all the session's keys together, or changes nothing and reports the
conflict; `set_code` claims a code and frees the session's previous one together;
`remove` deletes the session's hash, code, device binding and set entry together. The
scripts find the keys a session points to (its old code, its counsellor's set) from the
hash, so they need one Redis server (a primary, with replicas or Sentinel), not Redis
Cluster. They use EXPIRETIME and EXPIREAT NX/GT: Redis 7.0 or newer.

Expiry is a safety net, not the way sessions end (the service removes a session as soon
as its contact record is written): every key of a session expires `ttl_seconds` (two days)
after the later of the last write and the planned start, so a session booked for next
month survives until then, and a cluster that crashed and never came back leaves no
personal data behind for longer than that. A counsellor's set lives as long as its
longest-lived session (so the id of a session that expired may linger in it until then:
readers skip ids whose session is gone, as `SessionService.sessions_of` does). The write
token is random and says nothing about anyone.

Connection errors and timeouts surface as redis-py's exceptions (after two quick retries);
the service logs them and reports the request as failed.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

from broker.errors import Conflict
from broker.session import Policy, Session, session_from_dict, session_to_dict
from broker.types import SessionId, StaffId

T = TypeVar("T")

DEFAULT_PREFIX = "cb:"
DEFAULT_TTL_SECONDS = 2 * 86400.0

# KEYS: session hash, counsellor set.
# ARGV: expected version ("" = must not exist), new version, JSON, counsellor, session id,
#       expire-at (Unix seconds), prefix, write token (unique per call of `put`).
# Returns 1 if written, or if this very write was applied already (redis-py resent it
# after losing the reply: same token); 0 if the session exists (expected "") or holds
# another version.
_PUT = """
local cur = redis.call('HGET', KEYS[1], 'version')  -- false if there is none
local expected = ARGV[1] ~= '' and ARGV[1]
if cur ~= expected then
  if cur == ARGV[2] and redis.call('HGET', KEYS[1], 'write') == ARGV[8] then
    return 1
  end
  return 0
end
local prefix, sid, at = ARGV[7], ARGV[5], ARGV[6]
local old = redis.call('HGET', KEYS[1], 'counsellor')
if old and old ~= ARGV[4] then
  redis.call('SREM', prefix .. 'counsellor:' .. old, sid)
end
redis.call('HSET', KEYS[1], 'data', ARGV[3], 'version', ARGV[2], 'counsellor', ARGV[4],
           'write', ARGV[8])
redis.call('EXPIREAT', KEYS[1], at)
redis.call('SADD', KEYS[2], sid)
redis.call('EXPIREAT', KEYS[2], at, 'NX')
redis.call('EXPIREAT', KEYS[2], at, 'GT')
local code = redis.call('HGET', KEYS[1], 'code')
if code then
  redis.call('EXPIREAT', prefix .. 'code:' .. code, at)
end
redis.call('EXPIREAT', prefix .. 'device:' .. sid, at)
return 1
"""

# KEYS: code key, session hash. ARGV: session id, code hash, prefix, expire-at if the
# session has no expiry yet (the code is claimed before the session is first put).
# Returns 1 if the session now holds the code, 0 if another session holds it.
_SET_CODE = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then
  return 0
end
local previous = redis.call('HGET', KEYS[2], 'code')
if previous and previous ~= ARGV[2] then
  local old = ARGV[3] .. 'code:' .. previous
  if redis.call('GET', old) == ARGV[1] then
    redis.call('DEL', old)
  end
end
local at = redis.call('EXPIRETIME', KEYS[2])
if at < 0 then
  at = ARGV[4]
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'code', ARGV[2])
redis.call('EXPIREAT', KEYS[1], at)
redis.call('EXPIREAT', KEYS[2], at)
return 1
"""

# KEYS: device key, session hash. ARGV: device hash, expire-at if the session has none.
_SET_DEVICE = """
local at = redis.call('EXPIRETIME', KEYS[2])
if at < 0 then
  at = ARGV[2]
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('EXPIREAT', KEYS[1], at)
return 1
"""

# KEYS: session hash, device key. ARGV: session id, prefix.
_REMOVE = """
local f = redis.call('HMGET', KEYS[1], 'counsellor', 'code')
if f[1] then
  redis.call('SREM', ARGV[2] .. 'counsellor:' .. f[1], ARGV[1])
end
if f[2] then
  local code = ARGV[2] .. 'code:' .. f[2]
  if redis.call('GET', code) == ARGV[1] then
    redis.call('DEL', code)
  end
end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
"""


class RedisStore:
    def __init__(
        self,
        url: str,
        policy: Policy,
        *,
        prefix: str = DEFAULT_PREFIX,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._policy = policy
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._clock = clock
        self._redis = aioredis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # an outage should be reported within a second, not after the default's ~10 s
            retry=Retry(ExponentialWithJitterBackoff(cap=0.5, base=0.05), retries=2),
        )
        self._put = self._redis.register_script(_PUT)
        self._set_code = self._redis.register_script(_SET_CODE)
        self._set_device = self._redis.register_script(_SET_DEVICE)
        self._remove = self._redis.register_script(_REMOVE)

    # ------------------------------------------------------------ key names

    def _session_key(self, session_id: str) -> str:
        return f"{self._prefix}session:{session_id}"

    def _counsellor_key(self, staff_id: str) -> str:
        return f"{self._prefix}counsellor:{staff_id}"

    def _code_key(self, code_hash: str) -> str:
        return f"{self._prefix}code:{code_hash}"

    def _device_key(self, session_id: str) -> str:
        return f"{self._prefix}device:{session_id}"

    def _expire_at(self, planned_start: float = -math.inf) -> int:
        """When the keys of a session go if nobody removes them: `ttl` after the later of
        now and its planned start."""
        return math.ceil(max(self._clock(), planned_start) + self._ttl)

    # ------------------------------------------------------------ the Store protocol

    async def get(self, session_id: SessionId) -> Session | None:
        raw = await _awaited(self._redis.hget(self._session_key(session_id), "data"))
        return None if raw is None else session_from_dict(json.loads(raw), self._policy)

    async def put(self, session: Session, expected_version: int | None) -> None:
        keys, args = self._put_call(session, expected_version)
        if await self._put(keys=keys, args=args) != 1:
            if expected_version is None:
                raise Conflict(f"session {session.id} exists already")
            raise Conflict(f"session {session.id} was changed meanwhile")

    def _put_call(self, session: Session, expected_version: int | None
                  ) -> tuple[list[str], list[str | int]]:
        """The keys and arguments of one `put` (its write token new each time)."""
        keys = [self._session_key(session.id), self._counsellor_key(session.counsellor)]
        args: list[str | int] = [
            "" if expected_version is None else str(expected_version),
            str(session.version),
            json.dumps(session_to_dict(session), separators=(",", ":"), ensure_ascii=False),
            session.counsellor,
            session.id,
            self._expire_at(session.planned_start),
            self._prefix,
            secrets.token_hex(8),
        ]
        return keys, args

    async def remove(self, session_id: SessionId) -> None:
        await self._remove(
            keys=[self._session_key(session_id), self._device_key(session_id)],
            args=[session_id, self._prefix],
        )

    async def by_counsellor(self, staff_id: StaffId) -> list[SessionId]:
        members = await _awaited(self._redis.smembers(self._counsellor_key(staff_id)))
        return sorted(SessionId(str(m)) for m in members)

    async def by_code(self, code_hash: str) -> SessionId | None:
        holder = await self._redis.get(self._code_key(code_hash))
        return None if holder is None else SessionId(str(holder))

    async def set_code(self, code_hash: str, session_id: SessionId) -> bool:
        claimed = await self._set_code(
            keys=[self._code_key(code_hash), self._session_key(session_id)],
            args=[session_id, code_hash, self._prefix, self._expire_at()],
        )
        return bool(claimed == 1)

    async def device(self, session_id: SessionId) -> str | None:
        bound = await self._redis.get(self._device_key(session_id))
        return None if bound is None else str(bound)

    async def set_device(self, session_id: SessionId, device_hash: str | None) -> None:
        if device_hash is None:
            await self._redis.delete(self._device_key(session_id))
            return
        await self._set_device(
            keys=[self._device_key(session_id), self._session_key(session_id)],
            args=[device_hash, self._expire_at()],
        )

    async def close(self) -> None:
        await self._redis.aclose()


async def _awaited(result: Awaitable[T] | T) -> T:
    """redis-py types some results as "awaitable or value", for its sync and async clients
    alike; the asyncio client always returns the awaitable."""
    return await cast("Awaitable[T]", result)
