"""What every live-state store must promise (memory and Redis run the same suite).

`stores` makes stores that share one state: for memory that is the one instance, for Redis
a new client (its own connections, as another process would have) on the same server.
The last section holds what only a shared store can show: its keys, their expiry, and
connection errors.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import cast

import pytest
import redis.asyncio as aioredis

from broker.errors import Conflict, ErrorCode, LiveStateUnavailable
from broker.events import Capabilities
from broker.session import Presence, Segment, Session
from broker.store.base import Store
from broker.store.redis import RedisStore
from broker.types import (
    Channel,
    CustomerRef,
    EndReason,
    Kind,
    SessionId,
    StaffId,
    State,
    TeamId,
)
from tests.contract.conftest import POLICY, MakeStore
from tests.ports import free_port
from tests.redis_server import RedisServer


@pytest.fixture
def store(stores: MakeStore) -> Store:
    return stores()


async def expires_at(r: aioredis.Redis, key: str) -> int:
    # redis-py types EXPIRETIME as the sync client's int; the asyncio client awaits it
    return await cast("Awaitable[int]", r.expiretime(key))


async def session_json(r: aioredis.Redis, key: str) -> str:
    return await cast("Awaitable[str | None]", r.hget(key, "data")) or ""


def session(sid: str = "sess-0001", counsellor: str = "c1", **changes: object) -> Session:
    s = Session(id=SessionId(sid), team=TeamId("t1"), counsellor=StaffId(counsellor),
                customer_ref=CustomerRef("K-0001"), planned_start=1_000.0,
                planned_channel=Channel.VIDEO, created_at=900.0, access_code="123456789",
                policy=POLICY, last_event_at=950.0)
    for name, value in changes.items():
        setattr(s, name, value)
    return s


def full_session() -> Session:
    """Every field away from its default, so a field the store forgets shows."""
    return session(
        kind=Kind.DROP_IN, state=State.ACTIVE, version=7, last_event_at=1_234.5,
        display_name="Ayşe Öztürk", language="tr",
        customer_caps=Capabilities(webrtc=True, camera=False, microphone=True),
        counsellor_caps=Capabilities(webrtc=False, camera=True, microphone=False),
        customer=Presence(False, 1_200.25), staff=Presence(True, None),
        joined_at=1_001.0, admitted_at=1_010.0, media_connected_at=1_011.5,
        ended_at=None, end_reason=EndReason.CONNECTION_FAILED, channel=Channel.AUDIO,
        media_up=True, fallback_used=True, fallback_offered=True,
        segments=[Segment(Channel.VIDEO, 1_010.0, 1_100.0), Segment(Channel.AUDIO, 1_100.0)],
        link_generation=2, code_nonce=3,
    )


# ------------------------------------------------------------------ sessions


async def test_round_trip_of_a_full_session(store: Store) -> None:
    """What is put comes back equal, every field, and as a copy nobody else holds."""
    s = full_session()
    await store.put(s, None)
    back = await store.get(s.id)
    assert back == s and back is not s
    assert back.policy == POLICY
    assert await store.get(SessionId("sess-unknown")) is None


async def test_creating_an_existing_session_conflicts(store: Store) -> None:
    """expected_version None means "must not exist yet"; the stored one stays as it was."""
    await store.put(session(version=3), None)
    with pytest.raises(Conflict, match="exists already"):
        await store.put(session(version=4, display_name="other"), None)
    back = await store.get(SessionId("sess-0001"))
    assert back is not None and back.version == 3 and back.display_name == ""


async def test_a_stale_version_conflicts(store: Store) -> None:
    """A write naming a version other than the stored one changes nothing."""
    await store.put(session(version=0), None)
    await store.put(session(version=1, language="ar"), 0)
    with pytest.raises(Conflict, match="changed meanwhile"):
        await store.put(session(version=1, language="uk"), 0)  # read before the last write
    with pytest.raises(Conflict):
        await store.put(session(version=6), 5)  # a version that never was
    with pytest.raises(Conflict):
        await store.put(session("sess-missing", version=1), 0)  # gone, or never there
    back = await store.get(SessionId("sess-0001"))
    assert back is not None and (back.version, back.language) == (1, "ar")
    assert await store.get(SessionId("sess-missing")) is None


async def test_concurrent_writers_lose_no_update(stores: MakeStore) -> None:
    """Writers that read, yield and write back with the version they read: for every
    version exactly one wins, the others get Conflict and retry, nothing is lost."""
    writers, rounds = 6, 5
    first = stores()
    await first.put(session(version=0), None)
    winners: dict[int, list[int]] = {}
    conflicts = 0

    async def writer(n: int, store: Store) -> None:
        nonlocal conflicts
        done = 0
        while done < rounds:
            s = await store.get(SessionId("sess-0001"))
            assert s is not None
            read = s.version
            s.link_generation += 1  # the change each writer makes
            s.version += 1
            await asyncio.sleep(0)  # let the others read the same version
            try:
                await store.put(s, read)
            except Conflict:
                conflicts += 1
                continue
            winners.setdefault(s.version, []).append(n)
            done += 1

    await asyncio.gather(*(writer(n, stores()) for n in range(writers)))
    total = writers * rounds
    assert sorted(winners) == list(range(1, total + 1))
    assert all(len(w) == 1 for w in winners.values()), winners
    assert conflicts > 0
    final = await first.get(SessionId("sess-0001"))
    assert final is not None and final.version == final.link_generation == total


async def test_remove_clears_everything_of_the_session(store: Store) -> None:
    """The session, its code, its device binding and its place in the counsellor's list go
    together; the counsellor's other sessions stay; a second remove is harmless."""
    await store.put(session("sess-a", display_name="Ayşe"), None)
    await store.put(session("sess-b"), None)
    assert await store.set_code("code-a", SessionId("sess-a"))
    await store.set_device(SessionId("sess-a"), "device-a")
    await store.remove(SessionId("sess-a"))
    assert await store.get(SessionId("sess-a")) is None
    assert await store.by_code("code-a") is None
    assert await store.device(SessionId("sess-a")) is None
    assert await store.by_counsellor(StaffId("c1")) == ["sess-b"]
    await store.remove(SessionId("sess-a"))
    await store.remove(SessionId("sess-never"))
    # the code is free for another session, the id could be used again
    assert await store.set_code("code-a", SessionId("sess-b"))
    await store.put(session("sess-a"), None)


async def test_code_index_replaces_and_refuses(store: Store) -> None:
    """A session holds one code: a new one replaces its old one; a code held by another
    live session is refused and stays with its holder."""
    a, b = SessionId("sess-a"), SessionId("sess-b")
    assert await store.by_code("code-1") is None
    assert await store.set_code("code-1", a)
    assert await store.set_code("code-1", a)  # again: still ours
    assert await store.by_code("code-1") == a
    assert not await store.set_code("code-1", b)
    assert await store.by_code("code-1") == a
    assert await store.set_code("code-2", a)  # re-issued: the old code stops working
    assert await store.by_code("code-1") is None
    assert await store.by_code("code-2") == a
    assert await store.set_code("code-1", b)  # and is free for others
    assert await store.by_code("code-1") == b


async def test_code_is_claimed_before_the_session_is_created(store: Store) -> None:
    """The service claims a code first and creates the session with it: the claim must not
    make the session look as if it existed, and removing the session frees it."""
    sid = SessionId("sess-new")
    assert await store.set_code("code-new", sid)
    assert await store.get(sid) is None
    assert await store.by_counsellor(StaffId("c1")) == []
    await store.put(session("sess-new"), None)
    assert await store.by_code("code-new") == sid
    await store.remove(sid)
    assert await store.by_code("code-new") is None


async def test_by_counsellor_is_sorted_and_separate(store: Store) -> None:
    """A counsellor's sessions come sorted by id (a stable order for the console), and
    nobody else's."""
    for sid in ("sess-c", "sess-a", "sess-b"):
        await store.put(session(sid, counsellor="c1"), None)
    await store.put(session("sess-z", counsellor="c2"), None)
    assert await store.by_counsellor(StaffId("c1")) == ["sess-a", "sess-b", "sess-c"]
    assert await store.by_counsellor(StaffId("c2")) == ["sess-z"]
    assert await store.by_counsellor(StaffId("nobody")) == []


async def test_device_binds_rebinds_and_unbinds(store: Store) -> None:
    """The link's device binding follows the last call; None unbinds (a re-issued link)."""
    sid = SessionId("sess-0001")
    await store.put(session(), None)
    assert await store.device(sid) is None
    await store.set_device(sid, "device-1")
    assert await store.device(sid) == "device-1"
    await store.set_device(sid, "device-2")
    assert await store.device(sid) == "device-2"
    await store.set_device(sid, None)  # the link was re-issued
    assert await store.device(sid) is None
    await store.set_device(sid, None)
    assert await store.get(sid) is not None  # unbinding leaves the session alone


async def test_close_is_idempotent(stores: MakeStore) -> None:
    """Shutdown may close a store twice (a failed start, then cleanup) without an error."""
    store = stores()
    await store.put(session(), None)
    await store.close()
    await store.close()


# ------------------------------------------------------------------ Redis only


async def test_redis_keys_their_expiry_and_no_names(redis_server: RedisServer,
                                                    raw_redis: aioredis.Redis) -> None:
    """One hash per session, a set per counsellor, a string per code and per device, each
    with an expiry two days past the later of now and the planned start; no name in any
    key; nothing of the session once it is removed. The team's live-load counters stay,
    back at zero (they hold counts, never a person)."""
    store = RedisStore(redis_server.url, POLICY, prefix="t:")
    try:
        now = time.time()
        later = now + 30 * 86400
        await store.set_code("code-hash", SessionId("sess-0001"))
        await store.put(session(planned_start=later, display_name="Ayşe Öztürk"), None)
        await store.set_device(SessionId("sess-0001"), "device-hash")
        await raw_redis.set("other:key", "not ours")
        keys = {k async for k in raw_redis.scan_iter("t:*")}
        counters = {"t:load-version", "t:teams", "t:load:t1"}
        assert keys - counters == {"t:session:sess-0001", "t:counsellor:c1",
                                   "t:code:code-hash", "t:device:sess-0001"}
        assert await cast("Awaitable[dict[str, str]]", raw_redis.hgetall("t:load:t1")) == {
            "state:scheduled": "1"}
        keys -= counters
        assert not any("Ay" in k or "Öz" in k for k in keys)
        for key in keys:
            at = await expires_at(raw_redis, key)
            assert later + 2 * 86400 - 5 < at <= later + 2 * 86400 + 1, key
        assert "Ayşe Öztürk" in await session_json(raw_redis, "t:session:sess-0001")
        await store.remove(SessionId("sess-0001"))
        assert {k async for k in raw_redis.scan_iter("t:*")} == counters
        assert await cast("Awaitable[dict[str, str]]", raw_redis.hgetall("t:load:t1")) == {
            "state:scheduled": "0"}
        assert await raw_redis.get("other:key") == "not ours"
    finally:
        await store.close()


async def test_redis_expiry_follows_the_last_write(redis_server: RedisServer,
                                                   raw_redis: aioredis.Redis) -> None:
    """A session already due expires `ttl` after its last write (here 100 s rather than
    two days); a counsellor's set lives as long as its longest-lived session."""
    clock = [float(int(time.time()))]
    store = RedisStore(redis_server.url, POLICY, ttl_seconds=100.0, clock=lambda: clock[0])
    start = clock[0]

    async def expiry() -> tuple[float, float]:
        return (await expires_at(raw_redis, "cb:session:sess-a") - start,
                await expires_at(raw_redis, "cb:counsellor:c1") - start)

    try:
        await store.put(session("sess-a", planned_start=0.0), None)
        await store.put(session("sess-b", planned_start=start + 1_000), None)
        assert await expiry() == (100, 1_100)
        clock[0] += 50
        await store.put(session("sess-a", planned_start=0.0, version=1), 0)
        assert await expiry() == (150, 1_100)
    finally:
        await store.close()


async def test_redis_a_resent_write_is_not_a_conflict(redis_server: RedisServer,
                                                      raw_redis: aioredis.Redis) -> None:
    """redis-py resends a command whose reply was lost (a timeout, a dropped connection):
    the very same call found applied counts as done, while another writer's identical
    change from the same version still conflicts (both would run its effects)."""
    store = RedisStore(redis_server.url, POLICY)
    try:
        await store.put(session(version=0), None)
        keys, args = store._put_call(session(version=1, language="ar"), 0)
        assert await store._put(keys=keys, args=args) == 1
        assert await store._put(keys=keys, args=args) == 1  # the resend
        with pytest.raises(Conflict):
            await store.put(session(version=1, language="ar"), 0)  # another writer
        keys, args = store._put_call(session(version=0), None)
        assert await store._put(keys=keys, args=args) == 0
        back = await store.get(SessionId("sess-0001"))
        assert back is not None and (back.version, back.language) == (1, "ar")
    finally:
        await store.close()


async def test_redis_connection_errors_surface() -> None:
    """No server: the call fails fast with `unavailable` (try again) instead of hanging."""
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", POLICY, timeout=1.0)
    try:
        started = time.monotonic()
        with pytest.raises(LiveStateUnavailable) as err:
            await store.get(SessionId("sess-0001"))
        assert err.value.code is ErrorCode.UNAVAILABLE
        with pytest.raises(LiveStateUnavailable):
            await store.put(session(), None)
        assert time.monotonic() - started < 5
    finally:
        await store.close()


async def test_redis_store_survives_a_server_restart(redis_server: RedisServer,
                                                     raw_redis: aioredis.Redis) -> None:
    """After Redis restarts (empty, scripts forgotten) the same store reconnects and its
    scripts load again; the call that met the outage raised instead of hanging."""
    store = RedisStore(redis_server.url, POLICY, timeout=1.0)
    try:
        await store.put(session(), None)
        await asyncio.to_thread(redis_server.stop)
        with pytest.raises(LiveStateUnavailable):
            await store.get(SessionId("sess-0001"))
        await asyncio.to_thread(redis_server.restart)
        assert await store.get(SessionId("sess-0001")) is None  # nothing was persisted
        await store.put(session(), None)
        assert await store.set_code("code-1", SessionId("sess-0001"))
    finally:
        await store.close()


async def test_redis_close_closes_the_connections(redis_server: RedisServer,
                                                  raw_redis: aioredis.Redis) -> None:
    """close() hangs up the store's connections; the shared state stays for the others."""
    store = RedisStore(redis_server.url, POLICY)
    await store.put(session(), None)
    before = len(await raw_redis.client_list())
    await store.close()
    for _ in range(100):  # the server notices the hang-up a moment later
        if len(await raw_redis.client_list()) == before - 1:
            break
        await asyncio.sleep(0.02)
    assert len(await raw_redis.client_list()) == before - 1
    other = RedisStore(redis_server.url, POLICY)  # the state outlives one process's client
    try:
        assert await other.get(SessionId("sess-0001")) is not None
    finally:
        await other.close()

