"""A broker process killed with SIGKILL loses no contact and never writes one twice."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import ExitStack
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from broker.config import Settings
from broker.types import Role
from tests.conftest import Broker, Peer, settings_for, staff_token
from tests.e2e.process import BrokerProcess, http, talk_then_kill
from tests.redis_server import running_redis


@pytest.fixture
async def process(tmp_path: Path) -> AsyncIterator[BrokerProcess]:
    p = BrokerProcess(tmp_path / "data")
    yield p
    await p.stop()


def records(data_dir: Path, session: str) -> list[sqlite3.Row]:
    db = sqlite3.connect(data_dir / "contacts.sqlite3")
    db.row_factory = sqlite3.Row
    try:
        return list(db.execute("SELECT * FROM contacts WHERE session_id = ?", (session,)))
    finally:
        db.close()


async def test_sigkill_mid_call_closes_it_as_interrupted_exactly_once(
    process: BrokerProcess,
) -> None:
    """Kill during an active call; after restart the call is one `interrupted` record whose
    duration runs to the broker's last sign of life, and a second restart adds nothing."""
    await process.start()
    staff = staff_token()
    status, active = await http(process.url, "POST", "/api/sessions", staff,
                                {"customer_ref": "K-9"})
    assert status == 201
    status, later = await http(process.url, "POST", "/api/sessions", staff,
                               {"customer_ref": "K-10", "planned_start": time.time() + 3600})
    assert status == 201
    sid = active["session"]
    killed_at = await talk_then_kill(process, staff, active)
    assert records(process.data_dir, sid) == []  # nothing written yet: the call was open

    await process.start()
    [row] = records(process.data_dir, sid)
    assert row["end_reason"] == "interrupted" and row["state"] == "ended"
    assert row["ended_at"] <= killed_at + 0.05
    assert row["video_seconds"] >= 0.7, "the call's time up to the last heartbeat counts"
    # the not-yet-started appointment survived: its code and link still work
    status, body = await http(process.url, "POST", "/api/join",
                              json={"code": later["access_code"]})
    assert status == 200 and body["session"] == later["session"]
    c2 = await Peer(process.url, "/customer", {"token": later["customer_token"]}).connect()
    assert (await c2.next("welcome"))["state"] == "scheduled"
    await c2.close()

    await process.kill()
    await process.start()
    assert len(records(process.data_dir, sid)) == 1
    status, body = await http(process.url, "GET", f"/api/contacts/{sid}", staff)
    assert status == 200 and body["end_reason"] == "interrupted"


@pytest.mark.parametrize("store", ["memory", "redis"])
async def test_restart_brings_back_a_waiting_session_as_scheduled(tmp_path: Path,
                                                                  store: str) -> None:
    """A restart on the same data (here a clean one: sessions are not closed on shutdown)
    brings a waiting customer's session back, with its code and its load. Alone, the
    waiting room emptied with the process: the session is scheduled again. With live state
    in Redis, which outlives a process (others may be running), it is still waiting, its
    customer gone since the stop and within the grace period to come back."""
    with ExitStack() as stack:
        redis_url = ""
        if store == "redis":
            redis_url = stack.enter_context(running_redis(tmp_path / "redis")).url
        await _restart_brings_back(settings_for(tmp_path / "d", redis_url=redis_url),
                                   "waiting" if redis_url else "scheduled")


async def _restart_brings_back(settings: Settings, state: str) -> None:
    from web.app import create_app

    first = TestServer(create_app(settings), host="127.0.0.1")
    await first.start_server()
    broker = Broker(first, settings)
    staff = broker.staff_token()
    created = await broker.create_session(staff)
    c = await broker.customer(created["customer_token"])
    await c.call("join", {"name": "Y"})
    await c.close()
    await first.close()

    second = TestServer(create_app(settings), host="127.0.0.1")
    await second.start_server()
    try:
        again = Broker(second, settings)
        s = await again.service.get(created["session"])
        assert s.state.value == state and s.access_code == created["access_code"]
        assert not s.customer.connected
        assert await again.service.contacts.contact(created["session"]) is None
        lead = again.staff_token("s1", Role.SUPERVISOR)
        _status, load = await again.http("GET", "/api/load", lead)
        assert load["teams"]["t1"]["sessions"][state] == 1
        assert sum(load["teams"]["t1"]["sessions"].values()) == 1
    finally:
        await second.close()


async def test_a_second_process_on_the_same_log_refuses_to_start(
    process: BrokerProcess, tmp_path: Path,
) -> None:
    """A second broker on the same contact log while the first runs a call would close
    that call as interrupted on its recovery: it refuses to start instead, and the call
    goes on untouched."""
    await process.start()
    staff = staff_token()
    k = await Peer(process.url, "/staff", {"token": staff}).connect()
    async with aiohttp.ClientSession() as h, h.post(
            process.url + "/api/sessions", json={"customer_ref": "K-2"},
            headers={"Authorization": f"Bearer {staff}"}) as r:
        created = await r.json()
    c = await Peer(process.url, "/customer", {"token": created["customer_token"]}).connect()
    second = BrokerProcess(process.data_dir, log_file=tmp_path / "second.log")
    try:
        await c.call("join", {"name": "X"})
        await k.call("admit", {"session": created["session"]})
        with pytest.raises(AssertionError, match="another broker process is running"):
            await second.start()
        ack = await k.call("media_state", {"session": created["session"],
                                           "state": "connected"})
        assert ack["ok"], ack
        assert records(process.data_dir, created["session"]) == []
    finally:
        await second.stop()
        for peer in (k, c):
            await peer.close()
