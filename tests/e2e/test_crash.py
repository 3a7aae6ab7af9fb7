"""A broker process killed with SIGKILL loses no contact and never writes one twice."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from broker.config import Settings
from broker.types import Role
from tests.conftest import SECRET, Broker, Peer, settings_for, staff_token
from tests.redis_server import running_redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BrokerProcess:
    """`counselling-broker serve` as its own OS process, on a fixed data directory."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None,
                 log_file: Path | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None
        self.env = env or {}
        self.log_file = log_file  # the process's stderr (its log) goes here when given

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        env = {**os.environ, "CB_SECRET": SECRET, "CB_HEARTBEAT_SECONDS": "0.2",
               "CB_LOG_LEVEL": "WARNING", **self.env}
        log = self.log_file.open("ab") if self.log_file is not None else None
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "web.cli", "serve", "--port", str(self.port),
                "--data-dir", str(self.data_dir), env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log if log is not None else asyncio.subprocess.PIPE,
            )
        finally:
            if log is not None:
                log.close()  # the child holds its own descriptor
        deadline = time.monotonic() + 15
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                try:
                    async with http.get(self.url + "/healthz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                if self.proc.returncode is not None:
                    break
                await asyncio.sleep(0.05)
        err = (self.log_file.read_bytes() if self.log_file is not None
               else b"" if self.proc.stderr is None else await self.proc.stderr.read())
        raise AssertionError(f"broker did not start: {err.decode()[-2000:]}")

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()


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
    client_url = process.url
    staff = staff_token()

    async def http(method: str, path: str, token: str | None = None,
                   json: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with aiohttp.ClientSession() as h, h.request(method, client_url + path,
                                                           json=json, headers=headers) as r:
            return r.status, await r.json()

    status, active = await http("POST", "/api/sessions", staff, {"customer_ref": "K-9"})
    assert status == 201
    status, later = await http("POST", "/api/sessions", staff, {"customer_ref": "K-10",
                                                                "planned_start": time.time()
                                                                + 3600})
    assert status == 201
    sid = active["session"]
    k = await Peer(client_url, "/staff", {"token": staff}).connect()
    c = await Peer(client_url, "/customer", {"token": active["customer_token"]}).connect()
    try:
        await c.call("join", {"name": "X", "capabilities": {"webrtc": True, "camera": True,
                                                            "microphone": True}})
        await k.call("admit", {"session": sid})
        await c.call("media_state", {"state": "connected"})
        await asyncio.sleep(1.0)  # talking; only heartbeats are written meanwhile
        killed_at = time.time()
        await process.kill()
    finally:
        for peer in (k, c):
            await peer.close()
    assert records(process.data_dir, sid) == []  # nothing written yet: the call was open

    await process.start()
    [row] = records(process.data_dir, sid)
    assert row["end_reason"] == "interrupted" and row["state"] == "ended"
    assert row["ended_at"] <= killed_at + 0.05
    assert row["video_seconds"] >= 0.7, "the call's time up to the last heartbeat counts"
    # the not-yet-started appointment survived: its code and link still work
    status, body = await http("POST", "/api/join", json={"code": later["access_code"]})
    assert status == 200 and body["session"] == later["session"]
    c2 = await Peer(client_url, "/customer", {"token": later["customer_token"]}).connect()
    assert (await c2.next("welcome"))["state"] == "scheduled"
    await c2.close()

    await process.kill()
    await process.start()
    assert len(records(process.data_dir, sid)) == 1
    status, body = await http("GET", f"/api/contacts/{sid}", staff)
    assert status == 200 and body["end_reason"] == "interrupted"


@pytest.mark.parametrize("store", ["memory", "redis"])
async def test_restart_brings_back_a_waiting_session_as_scheduled(tmp_path: Path,
                                                                  store: str) -> None:
    """A restart on the same data (here a clean one: sessions are not closed on shutdown)
    brings a waiting customer's session back as scheduled, with its code and its load;
    with live state in Redis, which outlives the process, the stale copy is replaced."""
    with ExitStack() as stack:
        redis_url = ""
        if store == "redis":
            redis_url = stack.enter_context(running_redis(tmp_path / "redis")).url
        await _restart_brings_back(settings_for(tmp_path / "d", redis_url=redis_url))


async def _restart_brings_back(settings: Settings) -> None:
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
        assert s.state.value == "scheduled" and s.access_code == created["access_code"]
        assert await again.service.contacts.contact(created["session"]) is None
        lead = again.staff_token("s1", Role.SUPERVISOR)
        _status, load = await again.http("GET", "/api/load", lead)
        assert load["teams"]["t1"]["sessions"]["scheduled"] == 1
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
