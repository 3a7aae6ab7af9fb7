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
    P lock:<session id>      string, a random token: the process holding the session (for
                             at most `lock_seconds`, in case it dies holding it)
    P deadlines              sorted set, session id -> when it next needs a Tick
    P cepoch:<session id>    counter, the customer's connection number (newest wins)
    P csock:<session id>     string, the socket.io id of the customer's newest socket
    P nodes                  sorted set, process id -> its last beat (Redis server time)
    P node:<process id>      set of what a process holds: "c <session> <epoch>" for a
                             customer socket, "s <staff id> <team,...>" for a counsellor,
                             "a <address>" for sockets from a client address
    P staffsock:<staff id>   hash, process id -> how many sockets of the counsellor it holds
    P conns:<address>        hash, process id -> sockets from that (keyed) client address
    P teams                  set of the team ids that have live load
    P load:<team>            hash of counters, "state:<state>" and "channel:<channel>"
    P busy:<team>            hash, staff id -> number of active sessions (present = busy)
    P waiting:<team>         sorted set, session id -> since when the customer waits
    P online:<team>          set of the staff ids with a socket on some process
    P load-version           counter, moved by every change of the live load
    P generation             string, a random id of this server's contents: if it is gone,
                             the server lost its data and the sessions are restored from
                             the contact log

The session hash also keeps `team` and `load`, the live-load contribution its stored
version counts for (tokens such as `h:state:active`, `b` for busy, `w` for waiting): `put`
takes the old contribution away and adds the new one in the same script, so the counters
can never disagree with the sessions.

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

import asyncio
import functools
import json
import math
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import Any, ParamSpec, TypeVar, cast

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

from broker.errors import Conflict, LiveStateUnavailable
from broker.load import load_tokens
from broker.session import Policy, Session, session_from_dict, session_to_dict
from broker.store.base import NodeParties
from broker.store.locks import KeyedLock
from broker.types import Channel, SessionId, StaffId, State, TeamId

T = TypeVar("T")
P = ParamSpec("P")

DEFAULT_PREFIX = "cb:"
DEFAULT_TTL_SECONDS = 2 * 86400.0

# Moves one live-load token of a session by n (+1 or -1). Shared by `put` and `remove`.
_MOVE = """
local function move(prefix, team, sid, counsellor, token, n, score)
  local kind = string.sub(token, 1, 1)
  if kind == 'h' then
    redis.call('HINCRBY', prefix .. 'load:' .. team, string.sub(token, 3), n)
  elseif kind == 'b' then
    local key = prefix .. 'busy:' .. team
    if redis.call('HINCRBY', key, counsellor, n) <= 0 then
      redis.call('HDEL', key, counsellor)
    end
  elseif kind == 'w' then
    if n > 0 then
      redis.call('ZADD', prefix .. 'waiting:' .. team, 'NX', score, sid)
    else
      redis.call('ZREM', prefix .. 'waiting:' .. team, sid)
    end
  end
end

local function set_of(tokens)
  local out = {}
  for t in string.gmatch(tokens, '%S+') do out[t] = true end
  return out
end
"""

# KEYS: session hash, counsellor set.
# ARGV: expected version ("" = must not exist), new version, JSON, counsellor, session id,
#       expire-at (Unix seconds), prefix, write token (unique per call of `put`), team,
#       live-load tokens, the time a wait that begins now began.
# Returns 1 if written, or if this very write was applied already (redis-py resent it
# after losing the reply: same token); 0 if the session exists (expected "") or holds
# another version.
_PUT = _MOVE + """
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
local old_load = redis.call('HGET', KEYS[1], 'load') or ''
if old_load ~= ARGV[10] then
  local olds, news = set_of(old_load), set_of(ARGV[10])
  for t in pairs(olds) do
    if not news[t] then move(prefix, ARGV[9], sid, ARGV[4], t, -1, 0) end
  end
  for t in pairs(news) do
    if not olds[t] then move(prefix, ARGV[9], sid, ARGV[4], t, 1, ARGV[11]) end
  end
  redis.call('INCR', prefix .. 'load-version')
end
redis.call('SADD', prefix .. 'teams', ARGV[9])
redis.call('HSET', KEYS[1], 'data', ARGV[3], 'version', ARGV[2], 'counsellor', ARGV[4],
           'write', ARGV[8], 'team', ARGV[9], 'load', ARGV[10])
redis.call('EXPIREAT', KEYS[1], at)
redis.call('SADD', KEYS[2], sid)
redis.call('EXPIREAT', KEYS[2], at, 'NX')
redis.call('EXPIREAT', KEYS[2], at, 'GT')
local code = redis.call('HGET', KEYS[1], 'code')
if code then
  redis.call('EXPIREAT', prefix .. 'code:' .. code, at)
end
redis.call('EXPIREAT', prefix .. 'device:' .. sid, at)
redis.call('EXPIREAT', prefix .. 'cepoch:' .. sid, at)
redis.call('EXPIREAT', prefix .. 'csock:' .. sid, at)
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
_REMOVE = _MOVE + """
local f = redis.call('HMGET', KEYS[1], 'counsellor', 'code', 'team', 'load')
if f[3] and f[4] and f[4] ~= '' then
  for t in pairs(set_of(f[4])) do move(ARGV[2], f[3], ARGV[1], f[1] or '', t, -1, 0) end
  redis.call('INCR', ARGV[2] .. 'load-version')
end
if f[1] then
  redis.call('SREM', ARGV[2] .. 'counsellor:' .. f[1], ARGV[1])
end
if f[2] then
  local code = ARGV[2] .. 'code:' .. f[2]
  if redis.call('GET', code) == ARGV[1] then
    redis.call('DEL', code)
  end
end
redis.call('DEL', KEYS[1], KEYS[2], ARGV[2] .. 'cepoch:' .. ARGV[1],
           ARGV[2] .. 'csock:' .. ARGV[1])
redis.call('ZREM', ARGV[2] .. 'deadlines', ARGV[1])
return 1
"""

# KEYS: lock key. ARGV: token. Frees the lock only if it is still ours.
# KEYS: routing hash, load version. ARGV: state JSON ('' = nothing to keep), expected
# version, next deadline or ''. The version keeps counting when the state goes, so that a
# process holding an older state always notices a newer one.
_PUT_ROUTING = """
local v = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if v ~= tonumber(ARGV[2]) then
  return -1
end
redis.call('HSET', KEYS[1], 'version', v + 1, 'deadline', ARGV[3])
if ARGV[1] == '' then
  redis.call('HDEL', KEYS[1], 'state')
else
  redis.call('HSET', KEYS[1], 'state', ARGV[1])
end
redis.call('INCR', KEYS[2])
return v + 1
"""

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: epoch key, socket key, node set, session hash.
# ARGV: socket id, session id, expire-at if the session has none.
# Returns {epoch, previous socket or ''}.
_CLAIM_CUSTOMER = """
local epoch = redis.call('INCR', KEYS[1])
local previous = redis.call('GET', KEYS[2]) or ''
redis.call('SET', KEYS[2], ARGV[1])
local at = redis.call('EXPIRETIME', KEYS[4])
if at < 0 then at = ARGV[3] end
redis.call('EXPIREAT', KEYS[1], at)
redis.call('EXPIREAT', KEYS[2], at)
redis.call('SADD', KEYS[3], 'c ' .. ARGV[2] .. ' ' .. epoch)
return {epoch, previous}
"""

# KEYS: the counsellor's socket hash, node set.
# ARGV: node, count, staff id, teams (comma-separated), prefix.
# Returns the counsellor's sockets on all processes.
_SET_STAFF = """
local entry = 's ' .. ARGV[3] .. ' ' .. ARGV[4]
local before = 0
for _, n in ipairs(redis.call('HVALS', KEYS[1])) do before = before + tonumber(n) end
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('SADD', KEYS[2], entry)
else
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('SREM', KEYS[2], entry)
end
local total = 0
for _, n in ipairs(redis.call('HVALS', KEYS[1])) do total = total + tonumber(n) end
if (before > 0) ~= (total > 0) then
  for team in string.gmatch(ARGV[4], '[^,]+') do
    if total > 0 then
      redis.call('SADD', ARGV[5] .. 'online:' .. team, ARGV[3])
      redis.call('SADD', ARGV[5] .. 'teams', team)
    else
      redis.call('SREM', ARGV[5] .. 'online:' .. team, ARGV[3])
    end
  end
  redis.call('INCR', ARGV[5] .. 'load-version')
end
return total
"""

# KEYS: the address's hash, node set. ARGV: node, count, address.
_SET_CONNS = """
local entry = 'a ' .. ARGV[3]
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('EXPIRE', KEYS[1], 86400)
  redis.call('SADD', KEYS[2], entry)
else
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('SREM', KEYS[2], entry)
end
return 1
"""

# KEYS: nodes. ARGV: node. Returns 1 if the node was known (alive), 0 if not.
_BEAT = """
local t = redis.call('TIME')
local known = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], t[1] + t[2] / 1e6, ARGV[1])
if known then return 1 end
return 0
"""

# KEYS: nodes. ARGV: timeout (seconds).
_DEAD = """
local t = redis.call('TIME')
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (t[1] + t[2] / 1e6 - ARGV[1]))
"""

# KEYS: nodes, node set. ARGV: node, timeout (seconds; -1: now, a clean stop), prefix.
# Returns false if the node is alive or taken already, else {last beat, customer entries,
# counsellors with no socket left anywhere, as "staff teams"}.
_TAKE_OVER = """
local t = redis.call('TIME')
local now = t[1] + t[2] / 1e6
local seen = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not seen then return false end
if tonumber(ARGV[2]) >= 0 and tonumber(seen) > now - tonumber(ARGV[2]) then return false end
redis.call('ZREM', KEYS[1], ARGV[1])
local customers, gone = {}, {}
for _, entry in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local kind, who, extra = string.match(entry, '^(%S+) (%S+) ?(%S*)$')
  if kind == 'a' then
    redis.call('HDEL', ARGV[3] .. 'conns:' .. who, ARGV[1])
  elseif kind == 'c' then
    table.insert(customers, who .. ' ' .. extra)
  elseif kind == 's' then
    local key = ARGV[3] .. 'staffsock:' .. who
    redis.call('HDEL', key, ARGV[1])
    if redis.call('HLEN', key) == 0 then
      for team in string.gmatch(extra, '[^,]+') do
        redis.call('SREM', ARGV[3] .. 'online:' .. team, who)
      end
      redis.call('INCR', ARGV[3] .. 'load-version')
      table.insert(gone, who .. ' ' .. extra)
    end
  end
end
redis.call('DEL', KEYS[2])
return {tostring(seen), customers, gone}
"""


def unavailable_on_outage(
    method: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """A lost or timed-out Redis becomes `LiveStateUnavailable`: the client is told to try
    again, never shown an internal error."""

    @functools.wraps(method)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                redis.exceptions.BusyLoadingError, OSError):
            raise LiveStateUnavailable() from None

    return guarded


class RedisStore:
    shared = True

    def __init__(
        self,
        url: str,
        policy: Policy,
        *,
        prefix: str = DEFAULT_PREFIX,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
        lock_seconds: float = 10.0,
        lock_wait: float = 5.0,
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
        self._unlock = self._redis.register_script(_UNLOCK)
        self._put_routing = self._redis.register_script(_PUT_ROUTING)
        self._claim_customer = self._redis.register_script(_CLAIM_CUSTOMER)
        self._set_staff = self._redis.register_script(_SET_STAFF)
        self._set_conns = self._redis.register_script(_SET_CONNS)
        self._beat = self._redis.register_script(_BEAT)
        self._dead = self._redis.register_script(_DEAD)
        self._take_over = self._redis.register_script(_TAKE_OVER)
        self._local = KeyedLock()
        self._lock_ms = int(lock_seconds * 1000)
        self._lock_wait = lock_wait

    # ------------------------------------------------------------ key names

    def _session_key(self, session_id: str) -> str:
        return f"{self._prefix}session:{session_id}"

    def _counsellor_key(self, staff_id: str) -> str:
        return f"{self._prefix}counsellor:{staff_id}"

    def _code_key(self, code_hash: str) -> str:
        return f"{self._prefix}code:{code_hash}"

    def _device_key(self, session_id: str) -> str:
        return f"{self._prefix}device:{session_id}"

    def _key(self, *parts: str) -> str:
        return self._prefix + ":".join(parts)

    def _expire_at(self, planned_start: float = -math.inf) -> int:
        """When the keys of a session go if nobody removes them: `ttl` after the later of
        now and its planned start."""
        return math.ceil(max(self._clock(), planned_start) + self._ttl)

    # ------------------------------------------------------------ the Store protocol

    @unavailable_on_outage
    async def get(self, session_id: SessionId) -> Session | None:
        raw = await awaited(self._redis.hget(self._session_key(session_id), "data"))
        return None if raw is None else session_from_dict(json.loads(raw), self._policy)

    @unavailable_on_outage
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
            session.team,
            load_tokens(session),
            repr(session.last_event_at if session.state is State.WAITING else self._clock()),
        ]
        return keys, args

    @unavailable_on_outage
    async def remove(self, session_id: SessionId) -> None:
        await self._remove(
            keys=[self._session_key(session_id), self._device_key(session_id)],
            args=[session_id, self._prefix],
        )

    @unavailable_on_outage
    async def by_counsellor(self, staff_id: StaffId) -> list[SessionId]:
        members = await awaited(self._redis.smembers(self._counsellor_key(staff_id)))
        return sorted(SessionId(str(m)) for m in members)

    @unavailable_on_outage
    async def by_code(self, code_hash: str) -> SessionId | None:
        holder = await self._redis.get(self._code_key(code_hash))
        return None if holder is None else SessionId(str(holder))

    @unavailable_on_outage
    async def set_code(self, code_hash: str, session_id: SessionId) -> bool:
        claimed = await self._set_code(
            keys=[self._code_key(code_hash), self._session_key(session_id)],
            args=[session_id, code_hash, self._prefix, self._expire_at()],
        )
        return bool(claimed == 1)

    @unavailable_on_outage
    async def device(self, session_id: SessionId) -> str | None:
        bound = await self._redis.get(self._device_key(session_id))
        return None if bound is None else str(bound)

    @unavailable_on_outage
    async def set_device(self, session_id: SessionId, device_hash: str | None) -> None:
        if device_hash is None:
            await self._redis.delete(self._device_key(session_id))
            return
        await self._set_device(
            keys=[self._device_key(session_id), self._session_key(session_id)],
            args=[device_hash, self._expire_at()],
        )

    # ------------------------------------------------------------ the session lock

    def lock(self, session_id: SessionId) -> AbstractAsyncContextManager[None]:
        return self._held(session_id)

    @asynccontextmanager
    async def _held(self, session_id: SessionId) -> AsyncIterator[None]:
        """This process's own callers queue on a local lock; the Redis key keeps the other
        processes out. A holder that dies frees the session after `lock_seconds`; a holder
        that outlives them is still safe, as `put` compares versions."""
        async with self._local(session_id):
            key = self._key("lock", session_id)
            token = secrets.token_hex(8)
            deadline = time.monotonic() + self._lock_wait
            pause = 0.002
            while not await self._try_lock(key, token):
                if time.monotonic() > deadline:
                    raise LiveStateUnavailable("the session is busy, try again")
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.05)
            try:
                yield
            finally:
                with suppress(redis.exceptions.RedisError):  # else it expires by itself
                    await self._unlock(keys=[key], args=[token])

    @unavailable_on_outage
    async def _try_lock(self, key: str, token: str) -> bool:
        return bool(await self._redis.set(key, token, nx=True, px=self._lock_ms))

    # ------------------------------------------------------------ deadlines

    @unavailable_on_outage
    async def set_deadline(self, session_id: SessionId, at: float | None) -> None:
        key = self._key("deadlines")
        if at is None:
            await awaited(self._redis.zrem(key, session_id))
        else:
            await awaited(self._redis.zadd(key, {session_id: at}))

    @unavailable_on_outage
    async def due(self, before: float, limit: int) -> list[SessionId]:
        found = await awaited(self._redis.zrangebyscore(
            self._key("deadlines"), "-inf", before, start=0, num=limit))
        return [SessionId(str(m)) for m in found]

    # ------------------------------------------------------------ presence

    def _node_key(self, node: str) -> str:
        return self._key("node", node)

    @unavailable_on_outage
    async def claim_customer(self, session_id: SessionId, node: str, socket: str
                             ) -> tuple[int, str | None]:
        epoch, previous = await self._claim_customer(
            keys=[self._key("cepoch", session_id), self._key("csock", session_id),
                  self._node_key(node), self._session_key(session_id)],
            args=[socket, session_id, self._expire_at()],
        )
        return int(epoch), (str(previous) or None)

    @unavailable_on_outage
    async def customer_epoch(self, session_id: SessionId) -> int:
        raw = await self._redis.get(self._key("cepoch", session_id))
        return 0 if raw is None else int(raw)

    @unavailable_on_outage
    async def customer_socket(self, session_id: SessionId) -> str | None:
        raw = await self._redis.get(self._key("csock", session_id))
        return None if raw is None else str(raw)

    @unavailable_on_outage
    async def release_customer(self, session_id: SessionId, node: str, epoch: int) -> None:
        await awaited(self._redis.srem(self._node_key(node), f"c {session_id} {epoch}"))

    @unavailable_on_outage
    async def set_staff_sockets(self, staff_id: StaffId, teams: frozenset[TeamId], node: str,
                                count: int) -> int:
        total = await self._set_staff(
            keys=[self._key("staffsock", staff_id), self._node_key(node)],
            args=[node, count, staff_id, ",".join(sorted(teams)), self._prefix],
        )
        return int(total)

    @unavailable_on_outage
    async def staff_sockets(self, staff_id: StaffId) -> int:
        counts = await awaited(self._redis.hvals(self._key("staffsock", staff_id)))
        return sum(int(n) for n in counts)

    @unavailable_on_outage
    async def set_connections(self, address: str, node: str, count: int) -> None:
        await self._set_conns(keys=[self._key("conns", address), self._node_key(node)],
                              args=[node, count, address])

    @unavailable_on_outage
    async def connections(self, address: str) -> int:
        counts = await awaited(self._redis.hvals(self._key("conns", address)))
        return sum(int(n) for n in counts)

    @unavailable_on_outage
    async def beat(self, node: str) -> bool:
        return bool(await self._beat(keys=[self._key("nodes")], args=[node]) == 1)

    @unavailable_on_outage
    async def dead_nodes(self, silent_for: float) -> list[str]:
        found = await self._dead(keys=[self._key("nodes")], args=[silent_for])
        return [str(n) for n in found]

    @unavailable_on_outage
    async def take_over(self, node: str, silent_for: float) -> NodeParties | None:
        got = await self._take_over(keys=[self._key("nodes"), self._node_key(node)],
                                    args=[node, silent_for, self._prefix])
        if not got:
            return None
        seen, customers, gone = got
        parties = NodeParties(node, float(seen))
        for entry in customers:
            sid, epoch = str(entry).split(" ")
            parties.customers.append((SessionId(sid), int(epoch)))
        for entry in gone:
            staff, _, teams = str(entry).partition(" ")
            parties.staff_gone.append(
                (StaffId(staff), frozenset(TeamId(t) for t in teams.split(",") if t)))
        return parties

    @unavailable_on_outage
    async def leave(self, node: str) -> None:
        await self._take_over(keys=[self._key("nodes"), self._node_key(node)],
                              args=[node, -1, self._prefix])

    @unavailable_on_outage
    async def generation(self) -> tuple[str, bool]:
        key = self._key("generation")
        fresh = secrets.token_hex(8)
        if await self._redis.set(key, fresh, nx=True):
            return fresh, True
        held = await self._redis.get(key)
        return str(held), False

    # ------------------------------------------------------------ live load

    @unavailable_on_outage
    async def load_version(self) -> int:
        raw = await self._redis.get(self._key("load-version"))
        return 0 if raw is None else int(raw)

    # ------------------------------------------------------------ drop-in routing

    @unavailable_on_outage
    async def routing_state(self) -> tuple[int, str | None]:
        version, state = await awaited(self._redis.hmget(self._key("routing"),
                                                         ["version", "state"]))
        return int(version or 0), str(state) if state else None

    @unavailable_on_outage
    async def put_routing_state(self, state: str, expected_version: int,
                                next_deadline: float | None) -> int:
        version = int(await self._put_routing(
            keys=[self._key("routing"), self._key("load-version")],
            args=[state, expected_version, "" if next_deadline is None else repr(next_deadline)]))
        if version < 0:
            raise Conflict("the routing state changed meanwhile")
        return version

    @unavailable_on_outage
    async def routing_version(self) -> tuple[int, float | None]:
        version, deadline = await awaited(self._redis.hmget(self._key("routing"),
                                                            ["version", "deadline"]))
        return int(version or 0), float(deadline) if deadline else None

    @unavailable_on_outage
    async def load_snapshot(self, now: float, teams: frozenset[TeamId] | None = None
                            ) -> dict[str, Any]:
        """The same figures as `LiveLoad.snapshot`, read in one round trip."""
        known = sorted(str(t) for t in await awaited(self._redis.smembers(self._key("teams"))))
        chosen = [t for t in known if teams is None or t in teams]
        pipe = self._redis.pipeline(transaction=True)
        pipe.get(self._key("load-version"))
        for t in chosen:
            pipe.hgetall(self._key("load", t))
            pipe.zrange(self._key("waiting", t), 0, 0, withscores=True)
            pipe.zcard(self._key("waiting", t))
            pipe.hkeys(self._key("busy", t))
            pipe.smembers(self._key("online", t))
        replies = await pipe.execute()
        version = int(replies[0] or 0)
        out: dict[str, Any] = {}
        for i, team in enumerate(chosen):
            counts, oldest, waiting, busy, online = replies[1 + 5 * i: 6 + 5 * i]
            out[team] = _team_figures(counts, oldest, waiting, set(busy), set(online), now)
        return {"at": now, "version": version, "teams": out}

    async def close(self) -> None:
        await self._redis.aclose()


def _team_figures(counts: dict[str, str], oldest: list[tuple[str, float]], waiting: int,
                  busy: set[str], online: set[str], now: float) -> dict[str, Any]:

    def n(key: str) -> int:
        return int(counts.get(key, 0))

    first = oldest[0][1] if oldest else None
    return {
        "sessions": {str(s): n(f"state:{s}")
                     for s in (State.SCHEDULED, State.WAITING, State.ACTIVE)},
        "channels": {str(c): n(f"channel:{c}") for c in Channel},
        "waiting": waiting,
        "oldest_wait_seconds": None if first is None else round(now - first, 1),
        "counsellors": {"online": len(online), "busy": len(busy),
                        "free": len(online - busy)},
    }


async def awaited(result: Awaitable[T] | T) -> T:
    """redis-py types some results as "awaitable or value", for its sync and async clients
    alike; the asyncio client always returns the awaitable."""
    return await cast("Awaitable[T]", result)
