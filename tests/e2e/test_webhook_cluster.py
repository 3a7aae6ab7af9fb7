"""Webhooks from several broker processes on one PostgreSQL outbox (and one Redis): each
event reaches the receiver once although every process delivers, in order per session
whichever process wrote it; what a killed process left undelivered, another one sends."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from tests.conftest import staff_token
from tests.e2e.cluster import Cluster
from tests.e2e.process import http
from tests.pg import PostgresServer, session_server
from tests.ports import free_port
from tests.redis_server import running_redis
from tests.webhook_receiver import SECRET, Receiver


@pytest.fixture(scope="session")
def postgres_server(pytestconfig: pytest.Config) -> PostgresServer:
    return session_server(pytestconfig)


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    r = Receiver(port=free_port())
    yield r
    await r.stop()


@pytest.fixture
async def cluster(tmp_path: Path, postgres_server: PostgresServer,
                  hook: Receiver) -> AsyncIterator[Cluster]:
    async with AsyncExitStack() as stack:
        redis = await asyncio.to_thread(stack.enter_context, running_redis(tmp_path / "redis"))
        database = postgres_server.dsn(await postgres_server.new_database("webhooks"))
        c = Cluster(tmp_path / "cluster", redis, database, 2, 8.0)
        for p in c.processes:
            p.env.update({"CB_WEBHOOK_URLS": hook.url, "CB_WEBHOOK_SECRET": SECRET,
                          "CB_WEBHOOK_RETRY_BASE_SECONDS": "0.05",
                          "CB_WEBHOOK_RETRY_MAX_SECONDS": "0.2",
                          "CB_WEBHOOK_TIMEOUT_SECONDS": "1"})
        stack.push_async_callback(c.stop)
        try:
            await c.start()
            yield c
        except BaseException:
            print(c.report())
            raise


async def create_and_cancel(create_on: str, cancel_on: str, staff: str) -> str:
    status, created = await http(create_on, "POST", "/api/sessions", staff,
                                 {"customer_ref": "K-7"})
    assert status == 201
    sid = str(created["session"])
    status, _ = await http(cancel_on, "POST", f"/api/sessions/{sid}/cancel", staff)
    assert status == 200
    return sid


async def test_two_processes_deliver_each_event_once_and_take_over_a_dead_ones(
    cluster: Cluster, hook: Receiver,
) -> None:
    """Sessions created on one process and cancelled on the other: every event arrives,
    once, created before ended. Then, the receiver down, a session's events are written on
    A and A is killed: B delivers them once the receiver is back."""
    a, b = cluster[0], cluster[1]
    await hook.start()
    staff = staff_token()
    sessions = [await create_and_cancel(*((a.url, b.url) if i % 2 else (b.url, a.url)),
                                        staff) for i in range(6)]
    await hook.wait_accepted(12)
    await asyncio.sleep(0.3)  # a duplicate would have come by now
    by_session: dict[str, list[str]] = defaultdict(list)
    for d in hook.got:
        assert d.signed_with(SECRET)
        by_session[d.event["session"]].append(d.event["type"])
    assert by_session == {sid: ["session.created", "session.ended"] for sid in sessions}

    await hook.stop()
    orphan = await create_and_cancel(a.url, a.url, staff)
    await asyncio.sleep(0.3)  # A tries (and fails) at least once
    await a.kill()
    await hook.start()
    got = await hook.wait_accepted(2, timeout=10, where=lambda d: d.event["session"] == orphan)
    assert [d.event["type"] for d in got] == ["session.created", "session.ended"]
    for _ in range(100):  # the receiver counted it before the broker heard its answer
        rows = await cluster.fetch("SELECT status, attempts FROM webhook_outbox "
                                   "WHERE session_id = $1 ORDER BY id", orphan)
        if [r["status"] for r in rows] == ["delivered", "delivered"]:
            break
        await asyncio.sleep(0.02)
    assert [r["status"] for r in rows] == ["delivered", "delivered"]
    assert rows[0]["attempts"] >= 2, "A's failed attempt, then B's"
