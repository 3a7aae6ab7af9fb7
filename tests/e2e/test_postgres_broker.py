"""Broker processes with DATABASE_URL: the contact log in PostgreSQL, written by real brokers.

The same journeys as with SQLite: a session run to its end writes its record there; a
process killed with SIGKILL mid-call is closed as `interrupted`, once, by the next start.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from tests.conftest import Peer, staff_token
from tests.e2e.process import BrokerProcess, http, talk_then_kill
from tests.pg import PostgresServer, session_server

PASSWORD = "not-in-any-log-7f3a"  # the test server trusts the socket; the broker must not tell
NAME = "Xaver Geheimname"  # what a customer types in: it must never reach the database


@pytest.fixture(scope="session")
def postgres_server(pytestconfig: pytest.Config) -> PostgresServer:
    return session_server(pytestconfig)


@pytest.fixture
async def database(postgres_server: PostgresServer) -> str:
    """A fresh database's DSN, with a password in it (ignored by the server)."""
    name = await postgres_server.new_database("e2e")
    return postgres_server.dsn(name, password=PASSWORD)


@pytest.fixture
async def processes(tmp_path: Path, database: str) -> AsyncIterator[list[BrokerProcess]]:
    """Two broker processes on one database (each with a data directory of its own)."""
    started = [BrokerProcess(tmp_path / f"data{i}", env={"DATABASE_URL": database,
                                                         "CB_LOG_LEVEL": "INFO"},
                             log_file=tmp_path / f"broker{i}.log") for i in range(2)]
    yield started
    for p in started:
        await p.stop()


async def fetch(dsn: str, sql: str, *args: Any) -> list[Any]:
    conn: Any = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def records(dsn: str, session: str) -> list[Any]:
    return await fetch(dsn, "SELECT * FROM contacts WHERE session_id = $1", session)


async def everything_stored(dsn: str) -> str:
    """Every row of every table, as text."""
    names = [r["tablename"] for r in await fetch(
        dsn, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    assert {"contacts", "session_events", "heartbeat", "schema_version"} <= set(names)
    rows = [r["t"] for n in names for r in await fetch(dsn, f'SELECT t::text FROM "{n}" t')]
    return "\n".join(rows)


async def test_a_session_run_to_its_end_is_recorded_in_postgres(
    processes: list[BrokerProcess], database: str,
) -> None:
    """A session joined by code, admitted, talked and ended on a broker is one `completed`
    record in PostgreSQL, which a later broker on the same database serves too (one at a
    time: a second live broker on one log refuses to start, see test_crash.py). No SQLite
    file is made, no name or code is stored, no password is logged, and a stopped broker
    leaves no connection."""
    first, second = processes
    await first.start()
    staff = staff_token()
    status, created = await http(first.url, "POST", "/api/sessions", staff,
                                 {"customer_ref": "K-77"})
    assert status == 201
    sid, code = created["session"], created["access_code"]
    status, link = await http(first.url, "POST", "/api/join", json={"code": code})
    assert status == 200 and link["session"] == sid
    k = await Peer(first.url, "/staff", {"token": staff}).connect()
    c = await Peer(first.url, "/customer", {"token": link["customer_token"]}).connect()
    try:
        await c.call("join", {"name": NAME, "capabilities": {"webrtc": True, "camera": True,
                                                             "microphone": True}})
        await k.call("admit", {"session": sid})
        await c.call("media_state", {"state": "connected"})
        assert (await fetch(database, "SELECT count(*) AS n FROM session_events "
                                      "WHERE session_id = $1", sid))[0]["n"] >= 4
        await asyncio.sleep(0.3)
        assert (await k.call("end", {"session": sid}))["state"] == "ended"
    finally:
        for peer in (k, c):
            await peer.close()

    [row] = await records(database, sid)
    assert row["state"] == "ended" and row["end_reason"] == "completed"
    assert row["customer_ref"] == "K-77" and row["team"] == "t1"
    assert row["video_seconds"] >= 0.3 and row["segments"]
    assert await fetch(database, "SELECT 1 FROM session_events WHERE session_id = $1",
                       sid) == [], "the steps are dropped with the record"
    await first.stop()
    await second.start()
    status, body = await http(second.url, "GET", f"/api/contacts/{sid}", staff)
    assert status == 200 and body["end_reason"] == "completed"
    assert not (first.data_dir / "contacts.sqlite3").exists()

    stored = await everything_stored(database)
    assert sid in stored
    assert NAME not in stored and code not in stored

    for p in processes:
        await p.stop()
    for p in processes:
        assert p.log_file is not None
        assert PASSWORD not in p.log_file.read_text(errors="replace")
    for _ in range(50):  # the server ends a backend a moment after its client hung up
        leftover = await fetch(database, "SELECT count(*) AS n FROM pg_stat_activity WHERE "
                                         "application_name = 'counselling-broker' "
                                         "AND datname = current_database()")
        if leftover[0]["n"] == 0:
            break
        await asyncio.sleep(0.05)
    assert leftover[0]["n"] == 0, "a stopped broker closes its pool"


async def test_sigkill_mid_call_is_closed_as_interrupted_exactly_once(
    processes: list[BrokerProcess], database: str,
) -> None:
    """test_crash's main journey on PostgreSQL: kill during an active call; after restart
    the call is one `interrupted` record whose duration runs to the broker's last sign of
    life, the not-yet-started appointment survives, and a second restart adds nothing."""
    process = processes[0]
    await process.start()
    staff = staff_token()
    status, active = await http(process.url, "POST", "/api/sessions", staff,
                                {"customer_ref": "K-9"})
    assert status == 201
    status, later = await http(process.url, "POST", "/api/sessions", staff,
                               {"customer_ref": "K-10", "planned_start": time.time() + 3600})
    assert status == 201
    sid = active["session"]
    killed_at = await talk_then_kill(process, staff, active, NAME)
    assert await records(database, sid) == []  # nothing written yet: the call was open

    await process.start()
    [row] = await records(database, sid)
    assert row["end_reason"] == "interrupted" and row["state"] == "ended"
    assert row["ended_at"] <= killed_at + 0.05
    assert row["video_seconds"] >= 0.7, "the call's time up to the last heartbeat counts"
    status, body = await http(process.url, "POST", "/api/join",
                              json={"code": later["access_code"]})
    assert status == 200 and body["session"] == later["session"]
    c2 = await Peer(process.url, "/customer", {"token": later["customer_token"]}).connect()
    assert (await c2.next("welcome"))["state"] == "scheduled"
    await c2.close()

    await process.kill()
    await process.start()
    assert len(await records(database, sid)) == 1
    status, body = await http(process.url, "GET", f"/api/contacts/{sid}", staff)
    assert status == 200 and body["end_reason"] == "interrupted"
    assert NAME not in await everything_stored(database)
