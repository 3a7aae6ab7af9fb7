"""Every contact log backend behind one fixture: the contract suite runs once per backend.

`backend` is a database of one kind, fresh for the test; `backend.open()` opens one more
log on it, as another broker process would. PostgreSQL runs as one server per test session
(tests/pg.py) with a new database per test; it is started only when a test asks for it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
import redis.asyncio as aioredis

from broker.contactlog.base import ContactLog
from broker.contactlog.postgres import PostgresContactLog
from broker.contactlog.sqlite import SqliteContactLog
from broker.rollup import DEFAULT_BASIS, RollupBasis
from broker.session import Policy
from broker.store.base import Store
from broker.store.memory import MemoryStore
from broker.store.redis import RedisStore
from tests.pg import PostgresServer, session_server

POLICY = Policy(grace_seconds=12.5, no_show_after_seconds=600.0)
MakeStore = Callable[[], Store]


@pytest.fixture(scope="session")
def postgres_server(pytestconfig: pytest.Config) -> PostgresServer:
    return session_server(pytestconfig)


@pytest.fixture
async def postgres_dsn(postgres_server: PostgresServer) -> str:
    """A new, empty database on the session's server."""
    return await postgres_server.create_database("contract")


@dataclass
class Backend:
    name: str
    make: Callable[[RollupBasis], ContactLog]
    sql: Callable[[str], Awaitable[None]]  # straight to the database, as an operator would
    opened: list[ContactLog] = field(default_factory=list)

    async def open(self, basis: RollupBasis = DEFAULT_BASIS) -> ContactLog:
        contact_log = self.make(basis)
        await contact_log.open()
        self.opened.append(contact_log)
        return contact_log


def sqlite_backend(path: Path) -> Backend:
    def run(sql: str) -> None:
        db = sqlite3.connect(path, isolation_level=None)
        try:
            db.executescript(sql)
        finally:
            db.close()

    async def sql(text: str) -> None:
        await asyncio.to_thread(run, text)

    return Backend("sqlite", lambda basis: SqliteContactLog(path, basis=basis), sql)


def postgres_backend(dsn: str) -> Backend:
    async def sql(text: str) -> None:
        conn: Any = await asyncpg.connect(dsn)
        try:
            await conn.execute(text)
        finally:
            await conn.close()

    return Backend("postgres", lambda basis: PostgresContactLog(dsn, basis=basis), sql)


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        b = sqlite_backend(tmp_path / "c.sqlite3")
    else:
        # asked for only here, so that a run of the SQLite cases alone starts no server
        server: PostgresServer = request.getfixturevalue("postgres_server")
        b = postgres_backend(await server.create_database("contract"))
    yield b
    for contact_log in reversed(b.opened):
        await contact_log.close()


@pytest.fixture
async def log(backend: Backend) -> ContactLog:
    return await backend.open()


# ------------------------------------------------------------------ live-state stores


@pytest.fixture(params=["memory", "redis"])
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[MakeStore]:
    """Makes stores of one kind on one state: each Redis store is another process."""
    made: list[Store] = []
    if request.param == "memory":
        memory = MemoryStore(POLICY)

        def make() -> Store:
            return memory
        made.append(memory)
    else:
        url = request.getfixturevalue("redis_server").url
        client = aioredis.Redis.from_url(url)
        await client.flushdb()  # every test starts from an empty database
        await client.aclose()

        def make() -> Store:
            made.append(RedisStore(url, POLICY))
            return made[-1]
    yield make
    for store in made:
        await store.close()
