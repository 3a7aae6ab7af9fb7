"""Shared fixtures: a real broker on a loopback port, real socket.io clients, real HTTP."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
import socketio
from aiohttp.test_utils import TestServer

from broker.config import Settings, load_settings
from broker.credentials import TokenIssuer
from broker.service import SessionService
from broker.types import Role, StaffId, TeamId
from tests.redis_server import RedisServer, running_redis
from web.app import create_app
from web.keys import SERVICE

SECRET = "test-secret-" + "x" * 40


def staff_token(staff: str = "c1", role: Role = Role.COUNSELLOR,
                teams: tuple[str, ...] = ("t1",), ttl: float = 3600) -> str:
    """A staff token signed with the tests' secret (what an identity provider would issue)."""
    issuer = TokenIssuer(SECRET.encode(), "counselling-broker")
    return issuer.staff_token(StaffId(staff), frozenset({role}),
                              frozenset(TeamId(t) for t in teams), time.time(), ttl)


class Peer:
    """A socket.io client that records every event it receives, for tests to await."""

    def __init__(self, url: str, namespace: str, auth: dict[str, Any]) -> None:
        self.url = url
        self.namespace = namespace
        self.auth = auth
        self.sio = socketio.AsyncClient(reconnection=False)
        self._queues: dict[str, asyncio.Queue[Any]] = defaultdict(asyncio.Queue)
        self.seen: list[tuple[str, Any]] = []
        self.refusal: Any = None

        async def any_event(event: str, *args: Any) -> None:
            data = args[0] if args else None
            self.seen.append((event, data))
            self._queues[event].put_nowait(data)

        async def connect_error(data: Any) -> None:
            self.refusal = data

        self.sio.on("*", any_event, namespace=namespace)
        self.sio.on("connect_error", connect_error, namespace=namespace)

    async def connect(self) -> Peer:
        await self.sio.connect(
            self.url, namespaces=[self.namespace], auth=self.auth,
            transports=["websocket"], wait_timeout=5,
        )
        return self

    async def refused(self) -> dict[str, Any]:
        """Try to connect, expect a refusal; returns its `{code, message}`."""
        with pytest.raises(socketio.exceptions.ConnectionError):
            await self.connect()
        assert isinstance(self.refusal, dict), self.refusal
        # on the wire: {message: <code>, data: {code, message}} (a browser's err.data)
        assert self.refusal["message"] == self.refusal["data"]["code"]
        return dict(self.refusal["data"])

    async def next(self, event: str, timeout: float = 5.0) -> Any:
        return await asyncio.wait_for(self._queues[event].get(), timeout)

    def pending(self, event: str) -> int:
        return self._queues[event].qsize()

    async def call(self, event: str, data: Any = None, timeout: float = 5.0) -> Any:
        return await self.sio.call(event, data, namespace=self.namespace, timeout=timeout)

    async def emit(self, event: str, data: Any = None) -> None:
        await self.sio.emit(event, data, namespace=self.namespace)

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
        else:  # the server went first: still close the client's HTTP session (its socket)
            await self.sio.eio.disconnect(abort=True)


@dataclass
class Broker:
    server: TestServer
    settings: Settings
    peers: list[Peer] = field(default_factory=list)

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def service(self) -> SessionService:
        return self.server.app[SERVICE]

    def staff_token(self, staff: str = "c1", role: Role = Role.COUNSELLOR,
                    teams: tuple[str, ...] = ("t1",), ttl: float = 3600) -> str:
        return staff_token(staff, role, teams, ttl)

    async def http(self, method: str, path: str, token: str | None = None,
                   json: Any = None, data: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if data is not None:
            headers["Content-Type"] = "application/json"  # raw JSON text, sent as is
        async with aiohttp.ClientSession() as http, http.request(
            method, self.url + path, json=json, data=data, headers=headers
        ) as resp:
            body = await resp.json(content_type=None) if resp.content_length != 0 else None
            return resp.status, body

    async def create_session(self, token: str, **fields: Any) -> dict[str, Any]:
        body = {"customer_ref": "K-0001", **fields}
        status, data = await self.http("POST", "/api/sessions", token, json=body)
        assert status == 201, data
        return dict(data)

    def peer(self, namespace: str, auth: dict[str, Any]) -> Peer:
        p = Peer(self.url, namespace, auth)
        self.peers.append(p)
        return p

    async def customer(self, token: str, device: str | None = None) -> Peer:
        auth: dict[str, Any] = {"token": token, "v": 1}
        if device:
            auth["device"] = device
        return await self.peer("/customer", auth).connect()

    async def counsellor(self, token: str) -> Peer:
        return await self.peer("/staff", {"token": token, "v": 1}).connect()

    async def supervisor(self, token: str) -> Peer:
        return await self.peer("/supervisor", {"token": token, "v": 1}).connect()


MakeBroker = Callable[..., Awaitable[Broker]]


def settings_for(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir, "secret": SECRET, "grace_seconds": 30.0,
        "load_push_interval": 0.05, "heartbeat_seconds": 0.2,
        # drop-ins queue at any hour the tests run (tests of closed hours set their own)
        "dropin_hours": "always",
    }
    values.update(overrides)
    return load_settings(environ={}, **values)


@pytest.fixture
async def make_broker(tmp_path: Path) -> AsyncIterator[MakeBroker]:
    started: list[Broker] = []

    async def make(**overrides: Any) -> Broker:
        data_dir = overrides.pop("data_dir", tmp_path / f"data{len(started)}")
        settings = settings_for(data_dir, **overrides)
        # a fixed port when asked (pages: the origin the browser sees must be the public URL)
        server = TestServer(create_app(settings), host="127.0.0.1",
                            port=settings.port if "port" in overrides else None)
        await server.start_server()
        broker = Broker(server, settings)
        started.append(broker)
        return broker

    yield make
    for broker in started:
        for p in broker.peers:
            await p.close()
        await broker.server.close()


@pytest.fixture
async def broker(make_broker: MakeBroker) -> Broker:
    return await make_broker()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server for the tests of one module."""
    with running_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
async def raw_redis(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """A plain client on the test server, emptied before each test."""
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    await client.flushdb()
    yield client
    await client.aclose()
