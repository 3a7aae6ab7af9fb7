"""What several processes agree on through the store: the session lock, deadlines,
presence and takeover, the live-load counters, and noticing a store that lost its data.

Each "process" is a store object of its own on one real redis-server; the memory store is
held to the same promises where one process can keep them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.errors import LiveStateUnavailable
from broker.load import LiveLoad
from broker.session import Session
from broker.store.base import Store
from broker.store.memory import MemoryStore
from broker.store.redis import RedisStore
from broker.types import Channel, SessionId, StaffId, State, TeamId
from tests.contract.conftest import POLICY, MakeStore
from tests.contract.test_store import session
from tests.redis_server import RedisServer

T1 = frozenset({TeamId("t1")})


@pytest.fixture
async def pair(redis_server: RedisServer) -> AsyncIterator[tuple[RedisStore, RedisStore]]:
    """Two processes' stores on one empty Redis."""
    client = aioredis.Redis.from_url(redis_server.url)
    await client.flushdb()
    await client.aclose()
    a, b = RedisStore(redis_server.url, POLICY), RedisStore(redis_server.url, POLICY)
    yield a, b
    await a.close()
    await b.close()


def sid(n: int) -> SessionId:
    return SessionId(f"sess-{n:04d}")


# ------------------------------------------------------------------ the session lock


async def test_the_lock_serialises_two_processes(pair: tuple[RedisStore, RedisStore]) -> None:
    """Read-modify-write under the lock from two processes at once loses no step."""
    a, b = pair
    await a.put(session(), None)

    async def bump(store: RedisStore) -> None:
        async with store.lock(sid(1)):
            s = await store.get(sid(1))
            assert s is not None
            await asyncio.sleep(0)  # let the other process try meanwhile
            s.version += 1
            await store.put(s, s.version - 1)

    await asyncio.gather(*(bump(store) for _ in range(15) for store in (a, b)))
    s = await a.get(sid(1))
    assert s is not None and s.version == 30


async def test_a_dead_holders_lock_runs_out(redis_server: RedisServer,
                                            raw_redis: aioredis.Redis) -> None:
    """A process that died holding a session frees it after `lock_seconds`; one that
    holds it longer than a caller will wait gets `unavailable`, not a hang."""
    await raw_redis.flushdb()
    store = RedisStore(redis_server.url, POLICY, lock_wait=0.2)
    try:
        await raw_redis.set("cb:lock:sess-0001", "a-dead-process", px=600)
        with pytest.raises(LiveStateUnavailable):
            async with store.lock(sid(1)):
                pass
        started = time.monotonic()
        patient = RedisStore(redis_server.url, POLICY, lock_wait=3.0)
        try:
            async with patient.lock(sid(1)):
                assert await raw_redis.get("cb:lock:sess-0001") != "a-dead-process"
        finally:
            await patient.close()
        assert time.monotonic() - started < 1.5
        assert await raw_redis.get("cb:lock:sess-0001") is None  # released after use
    finally:
        await store.close()


async def test_the_memory_lock_is_one_at_a_time() -> None:
    store = MemoryStore(POLICY)
    inside: list[int] = []

    async def hold(n: int) -> None:
        async with store.lock(sid(1)):
            inside.append(n)
            await asyncio.sleep(0.01)
            assert inside[-1] == n

    await asyncio.gather(*(hold(n) for n in range(5)))
    assert sorted(inside) == list(range(5))


# ------------------------------------------------------------------ deadlines


async def test_deadlines_come_due_soonest_first(pair: tuple[RedisStore, RedisStore]) -> None:
    a, b = pair
    await a.put(session(), None)
    await a.set_deadline(sid(1), 100.0)
    await a.set_deadline(sid(2), 50.0)
    await a.set_deadline(sid(3), 500.0)
    assert await b.due(200.0, 10) == [sid(2), sid(1)]
    assert await b.due(200.0, 1) == [sid(2)]
    await b.set_deadline(sid(2), None)
    await a.set_deadline(sid(1), 300.0)  # moved later
    assert await b.due(200.0, 10) == []
    await a.remove(sid(1))
    assert await b.due(1_000.0, 10) == [sid(3)]


# ------------------------------------------------------------------ presence


async def test_customer_epochs_rise_across_processes(stores: MakeStore) -> None:
    """Each connect of the customer, on any process, gets a higher epoch and learns the
    socket it replaces."""
    a, b = stores(), stores()
    await a.put(session(), None)
    assert await a.claim_customer(sid(1), "node-a", "sock-1") == (1, None)
    assert await b.claim_customer(sid(1), "node-b", "sock-2") == (2, "sock-1")
    assert await a.customer_epoch(sid(1)) == 2
    assert await a.customer_socket(sid(1)) == "sock-2"
    await a.remove(sid(1))
    assert await b.customer_epoch(sid(1)) == 0 and await b.customer_socket(sid(1)) is None


async def test_counsellor_sockets_add_up_over_processes(stores: MakeStore) -> None:
    a, b = stores(), stores()
    c1 = StaffId("c1")
    assert await a.set_staff_sockets(c1, T1, "node-a", 2) == 2
    assert await b.set_staff_sockets(c1, T1, "node-b", 1) in (1, 3)  # memory: one process
    online = (await a.load_snapshot(0.0))["teams"]["t1"]["counsellors"]["online"]
    assert online == 1
    await a.set_staff_sockets(c1, T1, "node-a", 0)
    await b.set_staff_sockets(c1, T1, "node-b", 0)
    assert await a.staff_sockets(c1) == 0
    assert (await b.load_snapshot(0.0))["teams"]["t1"]["counsellors"]["online"] == 0


async def test_a_silent_process_is_taken_over_once(pair: tuple[RedisStore, RedisStore],
                                                   redis_server: RedisServer) -> None:
    """A's beat stops: B (and C, racing) find it dead; exactly one takes over and learns
    A's customer sockets and the counsellors who have no socket left anywhere; a
    counsellor with a tab on B stays online. A, back, learns it was taken for dead."""
    a, b = pair
    c = RedisStore(redis_server.url, POLICY)
    try:
        assert not await a.beat("node-a")  # unknown at first: nothing to state yet
        assert not await b.beat("node-b")
        assert await a.beat("node-a")
        await a.put(session(), None)
        await a.claim_customer(sid(1), "node-a", "sock-1")
        await a.set_staff_sockets(StaffId("only-a"), T1, "node-a", 1)
        await a.set_staff_sockets(StaffId("both"), T1, "node-a", 1)
        await b.set_staff_sockets(StaffId("both"), T1, "node-b", 1)
        assert await b.take_over("node-a", 5.0) is None  # it beat just now: alive
        await asyncio.sleep(0.3)
        await b.beat("node-b")
        assert await b.dead_nodes(0.2) == ["node-a"]
        taken = await asyncio.gather(b.take_over("node-a", 0.2), c.take_over("node-a", 0.2))
        winners = [t for t in taken if t is not None]
        assert len(winners) == 1
        parties = winners[0]
        assert parties.customers == [(sid(1), 1)]
        assert parties.staff_gone == [(StaffId("only-a"), T1)]
        assert time.time() - 1.0 < parties.last_seen < time.time()
        assert await b.staff_sockets(StaffId("both")) == 1
        figures = (await b.load_snapshot(0.0))["teams"]["t1"]["counsellors"]
        assert figures["online"] == 1
        assert await b.dead_nodes(0.2) == []
        assert not await a.beat("node-a")  # A was taken for dead: it must state again
        assert await a.beat("node-a")
    finally:
        await c.close()


async def test_a_clean_stop_leaves_nothing_to_take_over(pair: tuple[RedisStore, RedisStore]
                                                        ) -> None:
    a, b = pair
    await a.beat("node-a")
    await a.set_staff_sockets(StaffId("c1"), T1, "node-a", 1)
    await a.leave("node-a")
    assert await b.dead_nodes(0.0) == []
    assert await b.staff_sockets(StaffId("c1")) == 0


async def test_a_store_that_lost_its_data_says_so(pair: tuple[RedisStore, RedisStore],
                                                  raw_redis: aioredis.Redis) -> None:
    a, b = pair
    first, created = await a.generation()
    assert created
    assert await b.generation() == (first, False)
    await raw_redis.flushall()
    second, created = await b.generation()
    assert created and second != first
    assert await a.generation() == (second, False)


# ------------------------------------------------------------------ live load


STEPS = st.lists(
    st.tuples(st.integers(0, 3),  # which session
              st.sampled_from(["scheduled", "waiting", "active-video", "active-phone",
                               "ended", "removed"]),
              st.sampled_from(["c1", "c2"])),
    min_size=1, max_size=25,
)


def _as(n: int, step: str, counsellor: str, version: int, at: float) -> Session:
    state = State(step.split("-")[0])
    s = session(f"sess-{n:04d}", counsellor=counsellor, state=state, version=version,
                last_event_at=at)
    if state is State.ACTIVE:
        s.channel = Channel(step.split("-")[1])
    return s


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
async def test_live_load_counters_match_the_reference(
    redis_server: RedisServer, steps: list[tuple[int, str, str]],
) -> None:
    """Any sequence of changes to a few sessions, put through the Redis store (as two
    processes) and the memory store, gives the same live load as `LiveLoad` fed the same
    changes directly."""
    client = aioredis.Redis.from_url(redis_server.url)
    await client.flushdb()
    await client.aclose()
    a, b = RedisStore(redis_server.url, POLICY), RedisStore(redis_server.url, POLICY)
    memory = MemoryStore(POLICY)
    reference = LiveLoad()
    held: dict[int, Session] = {}
    counsellor_of: dict[int, str] = {}
    try:
        for i, (n, step, counsellor) in enumerate(steps):
            store: Store = a if i % 2 else b
            before = held.get(n)
            if step == "removed":
                if before is None:
                    continue
                for s in (store, memory):
                    await s.remove(before.id)
                reference.session_changed(before, None)
                del held[n]
                continue
            counsellor = counsellor_of.setdefault(n, counsellor)  # a session keeps its own
            after = _as(n, step, counsellor, 0 if before is None else before.version + 1,
                        1_000.0 + i)
            expected = None if before is None else before.version
            for s in (store, memory):
                await s.put(after, expected)
            reference.session_changed(before, after)
            if after.state.terminal:  # the service removes a closed session at once
                for s in (store, memory):
                    await s.remove(after.id)
                reference.session_changed(after, None)
                held.pop(n, None)
            else:
                held[n] = after
        want = reference.snapshot(2_000.0)["teams"]
        assert (await memory.load_snapshot(2_000.0))["teams"] == want
        assert (await a.load_snapshot(2_000.0))["teams"] == want
    finally:
        await a.close()
        await b.close()


async def test_connections_per_address_add_up_and_go_with_a_dead_process(
    pair: tuple[RedisStore, RedisStore],
) -> None:
    a, b = pair
    await a.beat("node-a")
    await a.set_connections("addr-1", "node-a", 3)
    await b.set_connections("addr-1", "node-b", 2)
    assert await a.connections("addr-1") == 5
    await b.set_connections("addr-1", "node-b", 0)
    assert await b.connections("addr-1") == 3
    await asyncio.sleep(0.3)
    assert await b.take_over("node-a", 0.2) is not None
    assert await b.connections("addr-1") == 0  # the dead process's sockets went with it
