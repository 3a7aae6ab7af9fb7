"""Several broker processes sharing one redis-server and one PostgreSQL database.

A `Cluster` is N real `counselling-broker serve` processes (`BrokerProcess`), each with a
data directory and a log file of its own, all on one throwaway redis-server (`REDIS_URL`)
and one fresh PostgreSQL database (`DATABASE_URL`), with the same signing secret. Timers
are short so that fault tests finish in seconds: processes beat every 0.2 s, one that has
not beaten for `NODE_TIMEOUT` counts as dead (the others take over its connections'
presence), and a party gone longer than the cluster's grace ends the session.

`running_cluster(...)` starts it all (the processes in parallel) and tears it down; when
the body fails, the tail of every process's log and of redis-server's is printed, so the
failure report shows what the brokers did.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg  # type: ignore[import-untyped]
import socketio

from broker.types import Role
from tests.conftest import Peer, staff_token
from tests.e2e.process import BrokerProcess, http
from tests.pg import PostgresServer
from tests.redis_server import RedisServer, running_redis

HEARTBEAT = 0.2  # seconds between a process's beats
NODE_TIMEOUT = 1.0  # a process silent this long is dead
LOG_TAIL_LINES = 60

CAPS = {"webrtc": True, "camera": True, "microphone": True}
SDP = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
CANDIDATE = {"candidate": "candidate:1 1 udp 2122260223 192.0.2.1 5000 typ host",
             "sdpMid": "0", "sdpMLineIndex": 0}


def sdp(tag: str) -> str:
    """An SDP that says which message it is, to recognise it where it is relayed to."""
    return SDP + f"a=x-test:{tag}\r\n"


class Cluster:
    """N broker processes on one Redis and one PostgreSQL database."""

    def __init__(self, root: Path, redis: RedisServer, database: str, n: int,
                 grace: float) -> None:
        self.root = root
        self.redis = redis
        self.database = database
        self.grace = grace
        env = {
            "REDIS_URL": redis.url,
            "DATABASE_URL": database,
            "CB_HEARTBEAT_SECONDS": str(HEARTBEAT),
            "CB_NODE_TIMEOUT_SECONDS": str(NODE_TIMEOUT),
            "CB_GRACE_SECONDS": str(grace),
            "CB_LOG_LEVEL": "INFO",
        }
        root.mkdir(parents=True, exist_ok=True)
        self.processes = [
            BrokerProcess(root / f"data{i}", env=dict(env), log_file=root / f"broker{i}.log")
            for i in range(n)
        ]
        self.peers: list[Peer] = []

    def __getitem__(self, index: int) -> BrokerProcess:
        return self.processes[index]

    # ------------------------------------------------------------ lifetime

    async def start(self) -> None:
        """All processes at once, on the same (fresh) database."""
        await asyncio.gather(*(p.start() for p in self.processes))

    async def stop(self) -> None:
        await asyncio.gather(*(close_quietly(p) for p in self.peers))
        await asyncio.gather(*(p.stop() for p in self.processes), return_exceptions=True)

    def name(self, process: BrokerProcess) -> str:
        return "ABCDEFGH"[self.processes.index(process)]

    def report(self) -> str:
        """The tail of every process's log and of redis-server's, for a failure report."""
        parts: list[str] = []
        for p in self.processes:
            assert p.log_file is not None
            text = p.log_file.read_text(errors="replace") if p.log_file.exists() else ""
            state = ("never started" if p.proc is None else "running"
                     if p.proc.returncode is None else f"exited {p.proc.returncode}")
            tail = "\n".join(text.splitlines()[-LOG_TAIL_LINES:])
            parts.append(f"----- process {self.name(p)} ({p.url}, {state}) -----\n{tail}")
        redis_tail = "\n".join(self.redis.log().splitlines()[-15:])
        parts.append(f"----- redis-server ({self.redis.url}) -----\n{redis_tail}")
        return "\n".join(parts)

    # ------------------------------------------------------------ clients

    def peer(self, process: BrokerProcess, namespace: str, auth: dict[str, Any]) -> Peer:
        p = Peer(process.url, namespace, {**auth, "v": 1})
        self.peers.append(p)
        return p

    async def counsellor(self, process: BrokerProcess, staff: str = "c1"
                         ) -> tuple[Peer, dict[str, Any]]:
        """A /staff tab; returns it and its `welcome`."""
        k = await self.peer(process, "/staff", {"token": staff_token(staff)}).connect()
        return k, await k.next("welcome")

    async def customer(self, process: BrokerProcess, token: str, device: str | None = None
                       ) -> tuple[Peer, dict[str, Any]]:
        """A /customer socket (with the device secret when it reconnects); returns it and
        its `welcome`."""
        auth = {"token": token} if device is None else {"token": token, "device": device}
        c = await self.peer(process, "/customer", auth).connect()
        return c, await c.next("welcome")

    async def supervisor(self, process: BrokerProcess, staff: str = "s1"
                         ) -> tuple[Peer, dict[str, Any]]:
        """A /supervisor socket; returns it and its first `load` snapshot."""
        lead = await self.peer(process, "/supervisor",
                               {"token": staff_token(staff, Role.SUPERVISOR)}).connect()
        return lead, await lead.next("load")

    async def reconnect(self, process: BrokerProcess, namespace: str, auth: dict[str, Any],
                        deadline: float) -> Peer:
        """Connect as a client that lost its process does: again and again (every 0.2 s)
        until `deadline` (time.time()); the last refusal fails the test."""
        while True:
            p = self.peer(process, namespace, auth)
            try:
                return await p.connect()
            except socketio.exceptions.ConnectionError as exc:
                if time.time() + 0.2 > deadline:
                    raise AssertionError(
                        f"{namespace} could not reconnect to process {self.name(process)} "
                        f"in time: {p.refusal or exc}") from None
            await asyncio.sleep(0.2)

    # ------------------------------------------------------------ HTTP

    async def create_session(self, process: BrokerProcess, staff: str = "c1",
                             **fields: Any) -> dict[str, Any]:
        status, body = await http(process.url, "POST", "/api/sessions", staff_token(staff),
                                  {"customer_ref": "K-0001", **fields})
        assert status == 201, (status, body)
        return dict(body)

    async def healthz(self, process: BrokerProcess) -> int:
        try:
            async with aiohttp.ClientSession() as h, h.get(
                    process.url + "/healthz", timeout=aiohttp.ClientTimeout(total=5)) as r:
                return r.status
        except (aiohttp.ClientError, TimeoutError):
            return 0

    # ------------------------------------------------------------ the contact log

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        conn: Any = await asyncpg.connect(self.database)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    async def records(self, session: str) -> list[dict[str, Any]]:
        rows = await self.fetch("SELECT * FROM contacts WHERE session_id = $1", session)
        return [dict(r) for r in rows]

    async def events_left(self, session: str) -> int:
        """Write-ahead events still held for a session (none once its record is written)."""
        rows = await self.fetch("SELECT count(*) AS n FROM session_events "
                                "WHERE session_id = $1", session)
        return int(rows[0]["n"])

    async def record_within(self, session: str, seconds: float) -> dict[str, Any]:
        """The session's contact record, once some process has written it (polled: nothing
        is connected that could be told)."""
        deadline = time.monotonic() + seconds
        while True:
            rows = await self.records(session)
            if rows:
                assert len(rows) == 1, rows
                return rows[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no contact record for {session} within {seconds} s")
            await asyncio.sleep(0.2)


async def close_quietly(peer: Peer) -> None:
    """Close a client whose process may be dead (it must not hang a teardown)."""
    with suppress(Exception):
        await asyncio.wait_for(peer.close(), 2)


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float, what: str,
                     every: float = 0.2) -> None:
    """Poll `check` until it holds (for what no event announces, e.g. a process's health)."""
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        await asyncio.sleep(every)


@dataclass
class Call:
    """An admitted session with media up on both sides."""

    session: str
    created: dict[str, Any]
    counsellor: Peer
    customer: Peer
    device: str  # the customer's device secret, from its first welcome
    media_from: float  # media reported connected between these two times
    media_to: float
    extra: dict[str, Any] = field(default_factory=dict)


async def active_call(cluster: Cluster, counsellor_at: BrokerProcess,
                      customer_at: BrokerProcess, staff: str = "c1") -> Call:
    """Create a session, counsellor and customer on the given processes: join, admit, both
    sides report media connected (each hears the other's report)."""
    created = await cluster.create_session(counsellor_at, staff)
    sid = created["session"]
    k, _ = await cluster.counsellor(counsellor_at, staff)
    c, welcome = await cluster.customer(customer_at, created["customer_token"])
    assert welcome["state"] == "scheduled", welcome
    ack = await c.call("join", {"name": "Ayşe", "language": "tr", "capabilities": CAPS})
    assert ack == {"ok": True, "state": "waiting"}, ack
    assert (await k.next("customer_waiting"))["session"] == sid
    ack = await k.call("admit", {"session": sid, "capabilities": CAPS})
    assert ack == {"ok": True, "channel": "video"}, ack
    assert (await k.next("start"))["initiator"] is True
    assert (await c.next("start"))["initiator"] is False
    media_from = time.time()
    ack = await c.call("media_state", {"state": "connected"})
    media_to = time.time()
    assert ack["ok"], ack
    assert (await k.next("media_state"))["connected"] is True
    ack = await k.call("media_state", {"session": sid, "state": "connected"})
    assert ack["ok"], ack
    assert (await c.next("media_state"))["connected"] is True
    return Call(sid, created, k, c, welcome["device"], media_from, media_to)


@asynccontextmanager
async def running_cluster(root: Path, postgres: PostgresServer, n: int = 2,
                          grace: float = 8.0) -> AsyncIterator[Cluster]:
    """A started cluster on its own redis-server and a fresh database; on a failure in the
    body the processes' logs are printed (pytest shows them with the failure)."""
    async with AsyncExitStack() as stack:
        redis = await asyncio.to_thread(stack.enter_context,
                                        running_redis(root / "redis"))
        database = postgres.dsn(await postgres.new_database("cluster"))
        cluster = Cluster(root / "cluster", redis, database, n, grace)
        stack.push_async_callback(cluster.stop)
        try:
            await cluster.start()
            yield cluster
        except BaseException:
            print(cluster.report())  # pytest shows it with the failure
            raise
