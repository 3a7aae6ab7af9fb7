"""A whole session through a real broker whose live state is in Redis (REDIS_URL set)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from typing import cast

import redis.asyncio as aioredis

from broker.store.redis import RedisStore, awaited
from broker.types import SessionId, StaffId
from tests.conftest import MakeBroker
from tests.redis_server import RedisServer

SDP = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
NAME = "Ayşe Öztürk"


# what the processes keep beside the sessions: who is alive, the store's generation, the
# live-load counters (counts only, never a person)
PROCESS_KEYS = {"cb:nodes", "cb:generation", "cb:load-version", "cb:teams", "cb:load:t1"}


async def all_keys(r: aioredis.Redis) -> set[str]:
    """The keys that belong to sessions and people (not the processes' own)."""
    return {key async for key in r.scan_iter("*")} - PROCESS_KEYS


async def counters_at_zero(r: aioredis.Redis) -> bool:
    counts = await cast("Awaitable[dict[str, str]]", r.hgetall("cb:load:t1"))
    return all(v == "0" for v in counts.values())


async def session_data(r: aioredis.Redis, sid: str) -> dict[str, object]:
    raw = await cast("Awaitable[str | None]", r.hget(f"cb:session:{sid}", "data"))
    assert raw is not None
    return cast(dict[str, object], json.loads(raw))


async def test_a_whole_session_lives_in_redis_and_leaves_nothing(
    make_broker: MakeBroker, redis_server: RedisServer, raw_redis: aioredis.Redis,
) -> None:
    """Create, join, admit, signal, end with REDIS_URL set: the live state is in Redis
    while the session runs (the display name in its JSON only, never in a key), the
    contact record is written once, and afterwards not one key of the session is left."""
    broker = await make_broker(redis_url=redis_server.url)
    assert isinstance(broker.service.store, RedisStore)
    staff = broker.staff_token()
    created = await broker.create_session(staff, planned_channel="video")
    sid = created["session"]
    keys = await all_keys(raw_redis)
    codes = {k for k in keys if k.startswith("cb:code:")}
    assert len(codes) == 1
    assert keys - codes == {f"cb:session:{sid}", "cb:counsellor:c1", "cb:deadlines"}

    counsellor = await broker.counsellor(staff)
    assert [s["session"] for s in (await counsellor.next("welcome"))["sessions"]] == [sid]
    customer = await broker.customer(created["customer_token"])
    await customer.next("welcome")
    await customer.call("join", {"name": NAME, "language": "tr",
                                 "capabilities": {"webrtc": True, "camera": True,
                                                  "microphone": True}})
    assert (await counsellor.next("customer_waiting"))["name"] == NAME
    live = await session_data(raw_redis, sid)
    assert live["state"] == "waiting" and live["display_name"] == NAME
    keys = await all_keys(raw_redis)
    node = f"cb:node:{broker.service.node}"
    conns = {k for k in keys if k.startswith("cb:conns:")}  # sockets per client address
    assert len(conns) == 1
    assert keys - codes - conns == {f"cb:session:{sid}", "cb:counsellor:c1",
                                    f"cb:device:{sid}", f"cb:cepoch:{sid}", f"cb:csock:{sid}",
                                    "cb:waiting:t1", node, "cb:staffsock:c1", "cb:online:t1",
                                    "cb:routing"}  # the console takes part in drop-ins
    assert not any("Ay" in k or "Öz" in k for k in keys)

    assert (await counsellor.call("admit", {"session": sid}))["ok"]
    await counsellor.next("start")
    await customer.next("start")
    await counsellor.call("signal", {"session": sid, "type": "offer", "sdp": SDP})
    assert (await customer.next("signal"))["type"] == "offer"
    await customer.call("signal", {"type": "answer", "sdp": SDP})
    assert (await counsellor.next("signal"))["type"] == "answer"
    await customer.call("media_state", {"state": "connected"})
    await counsellor.next("media_state")
    assert (await session_data(raw_redis, sid))["state"] == "active"

    ack = await counsellor.call("end", {"session": sid, "outcome": "completed"})
    assert ack == {"ok": True, "state": "ended"}
    assert (await customer.next("ended"))["reason"] == "completed"
    # nothing of the session is left (but a lock held for the moment of an input: the
    # customer's disconnect may be under way); the console still counts as online
    left = {k for k in await all_keys(raw_redis) if not k.startswith("cb:lock:")}
    assert left == {node, "cb:staffsock:c1", "cb:online:t1", "cb:routing"} | conns

    # the customer is turned away and the console goes: nothing comes back
    await customer.next("evicted")
    await counsellor.close()
    await asyncio.sleep(0.2)
    # the drop-in routing keeps its version counter only: nobody waits, nobody takes part
    assert await all_keys(raw_redis) == {"cb:routing"}
    assert sorted(await awaited(raw_redis.hkeys("cb:routing"))) == ["deadline", "version"]
    assert await counters_at_zero(raw_redis)

    status, record = await broker.http("GET", f"/api/contacts/{sid}", staff)
    assert status == 200 and record["end_reason"] == "completed", record
    status, listed = await broker.http("GET", "/api/contacts", staff)
    assert status == 200 and [c["session_id"] for c in listed["contacts"]].count(sid) == 1


async def test_two_brokers_share_one_redis(
    make_broker: MakeBroker, redis_server: RedisServer, raw_redis: aioredis.Redis,
) -> None:
    """A session made on one process is read and found by its code on another."""
    one = await make_broker(redis_url=redis_server.url)
    two = await make_broker(redis_url=redis_server.url)
    staff = one.staff_token()
    created = await one.create_session(staff)
    status, got = await two.http("GET", f"/api/sessions/{created['session']}", staff)
    assert status == 200 and got["session"] == created["session"], got
    status, link = await two.http("POST", "/api/join", json={"code": created["access_code"]})
    assert status == 200 and link["session"] == created["session"], link
    status, listed = await two.http("GET", "/api/sessions", staff)
    assert status == 200, listed
    assert [s["session"] for s in listed["sessions"]] == [created["session"]]


async def test_while_redis_is_away_connects_are_refused_and_nothing_is_miscounted(
    make_broker: MakeBroker, redis_server: RedisServer,
) -> None:
    """A console connecting while Redis is away is refused with `unavailable` (try again),
    and is not counted: once Redis is back and the console connects and leaves, the
    counsellor is offline again, not held online by the refused attempt."""
    broker = await make_broker(redis_url=redis_server.url)
    staff = broker.staff_token()
    await asyncio.to_thread(redis_server.stop)
    try:
        refusal = await broker.peer("/staff", {"token": staff}).refused()
        assert refusal["code"] == "unavailable", refusal
    finally:
        await asyncio.to_thread(redis_server.restart)
    counsellor = await broker.counsellor(staff)
    await counsellor.next("welcome")
    assert await broker.service.store.staff_sockets(StaffId("c1")) == 1
    await counsellor.close()
    for _ in range(50):
        if await broker.service.store.staff_sockets(StaffId("c1")) == 0:
            break
        await asyncio.sleep(0.02)
    assert await broker.service.store.staff_sockets(StaffId("c1")) == 0
    assert not await broker.service.staff_is_online(StaffId("c1"))


async def test_the_reaper_drops_a_deadline_whose_session_is_gone(
    make_broker: MakeBroker, redis_server: RedisServer,
) -> None:
    """A deadline left behind by a session that no longer exists (expired by its safety
    TTL, say) is fired once and dropped, not picked again every round; a real one that is
    overdue is fired and re-armed from the session."""
    broker = await make_broker(redis_url=redis_server.url, grace_seconds=60.0)
    service = broker.service
    await service.store.set_deadline(SessionId("ghost-session-0000"), 1.0)
    created = await broker.create_session(broker.staff_token())
    sid = SessionId(created["session"])
    await service.store.set_deadline(sid, 2.0)  # overdue, but not the session's own
    await service.reap_once()
    assert await service.store.due(service.now() + 10**9, 10) == [sid]
    s = await service.get(sid)
    assert s.state.value == "scheduled"  # the stale deadline did not end it
    assert await service.store.due(service.now(), 10) == []  # re-armed to its real one
