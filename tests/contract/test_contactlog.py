"""What every contact log must promise, run against SQLite and PostgreSQL alike; then what
only one of them has to show (its migrations, PostgreSQL's outages)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from broker.contactlog.base import ContactLog
from broker.contactlog.postgres import (
    MIGRATIONS as PG_MIGRATIONS,
)
from broker.contactlog.postgres import (
    PostgresContactLog,
    SchemaTooNew,
    describe,
)
from broker.contactlog.sqlite import MIGRATIONS, migrate
from broker.errors import BrokerError, Conflict, ContactLogUnavailable, ErrorCode
from broker.events import End, MediaReported
from broker.record import ContactRecord, record_of
from broker.session import Session
from broker.types import Channel, CustomerRef, Role, SessionId, StaffId, State, TeamId
from tests.contract.conftest import Backend
from tests.pg import PostgresServer


def ended_record(sid: str = "sess-0001", team: str = "t1", counsellor: str = "c1",
                 ended_at: float = 161.0) -> ContactRecord:
    s = Session(id=SessionId(sid), team=TeamId(team), counsellor=StaffId(counsellor),
                customer_ref=CustomerRef("K-1"), planned_start=100.0,
                planned_channel=Channel.VIDEO, created_at=90.0, state=State.ACTIVE,
                channel=Channel.VIDEO, admitted_at=100.0)
    s.handle(MediaReported(Role.CUSTOMER, True), 101.0)
    s.handle(End(), ended_at)
    return record_of(s)


# ------------------------------------------------------------------ every backend


async def test_close_writes_once(log: ContactLog) -> None:
    """A second close of the same session writes nothing and says so."""
    record = ended_record()
    assert await log.close_session(record) is True
    assert await log.close_session(record) is False
    rows = await log.contacts(0, 1e12)
    assert len(rows) == 1 and rows[0]["seconds"]["video"] == 60.0


async def test_close_drops_the_write_ahead_events(log: ContactLog) -> None:
    """Once a record exists, its steps are gone (minimisation) and it is not unfinished."""
    await log.append("sess-0001", 0, 90.0, {"type": "Created"})
    await log.append("sess-0002", 0, 91.0, {"type": "Created"})
    assert set(await log.unfinished()) == {"sess-0001", "sess-0002"}
    await log.close_session(ended_record("sess-0001"))
    unfinished = await log.unfinished()
    assert set(unfinished) == {"sess-0002"}
    assert [e.seq for e in unfinished["sess-0002"]] == [0]


async def test_a_step_is_logged_once(log: ContactLog) -> None:
    """The same (session, seq) twice is a conflict, never a second row."""
    await log.append("sess-0001", 1, 90.0, {"type": "Tick"})
    with pytest.raises(Conflict):
        await log.append("sess-0001", 1, 91.0, {"type": "Leave"})
    assert [e.data["type"] for e in (await log.unfinished())["sess-0001"]] == ["Tick"]


async def test_heartbeat_keeps_the_latest(log: ContactLog) -> None:
    """Recovery closes interrupted calls at the last beat of any node."""
    assert await log.last_heartbeat() is None
    await log.heartbeat("a", 10.0)
    await log.heartbeat("b", 12.0)
    await log.heartbeat("a", 11.0)
    assert await log.last_heartbeat() == 12.0


async def test_a_retired_node_times_calls_but_is_no_longer_live(log: ContactLog) -> None:
    """A clean stop keeps the node's last beat for timing interrupted calls, but a new
    process starting beside it must not take it for a live broker."""
    await log.heartbeat("a", 10.0)
    await log.heartbeat("b", 12.0)
    await log.retire("b", 13.0)
    assert await log.last_heartbeat() == 13.0
    assert await log.last_heartbeat(live_only=True) == 10.0
    await log.retire("a", 14.0)  # only the newest stop is kept
    assert await log.last_heartbeat() == 14.0
    assert await log.last_heartbeat(live_only=True) is None


async def test_a_record_reads_back_as_written(log: ContactLog) -> None:
    """`contact` returns the record's own dictionary: every time to the bit, the segments,
    the seconds by channel, the flag; `is_closed` follows the record, not the events."""
    record = ended_record(ended_at=161.123456789)
    await log.append(record.session_id, 0, 90.0, {"type": "Created"})
    assert await log.is_closed(record.session_id) is False
    assert await log.contact(record.session_id) is None
    await log.close_session(record)
    assert await log.is_closed(record.session_id) is True
    assert await log.contact(record.session_id) == {**record.to_dict(), "satisfaction": None}
    assert await log.is_closed("sess-unknown") is False


async def test_a_closed_session_is_rated_once(log: ContactLog) -> None:
    """The customer's rating goes with the record, the first one stays; a session without
    a record cannot be rated; the database refuses a score outside 1-5."""
    record = ended_record()
    assert await log.rate(record.session_id, 4) is False  # no record yet
    await log.close_session(record)
    assert await log.rate(record.session_id, 4) is True
    assert await log.rate(record.session_id, 1) is False
    found = await log.contact(record.session_id)
    assert found is not None and found["satisfaction"] == 4
    [listed] = await log.contacts(0.0, 1e12)
    assert listed["satisfaction"] == 4
    other = ended_record("sess-other")
    await log.close_session(other)
    with pytest.raises(Exception, match=r"(?i)check"):
        await log.rate(other.session_id, 6)


async def test_steps_read_back_in_order_and_as_written(log: ContactLog) -> None:
    """`unfinished` gives each session's steps by seq, whatever the order of writing, with
    their time and data unchanged (nested values, numbers, text beyond ASCII)."""
    data = {"type": "CustomerJoined", "capabilities": {"webrtc": True, "camera": False},
            "language": "ar", "nested": [1, 2.5, None, "ü€𝄞"], "big": 2**53}
    await log.append("sess-b", 2, 1_700_000_002.000001, {"type": "Leave"})
    await log.append("sess-b", 0, 1_700_000_000.25, {"type": "Created"})
    await log.append("sess-b", 1, 1_700_000_001.1, data)
    await log.append("sess-a", 0, 5.0, {"type": "Created"})
    unfinished = await log.unfinished()
    assert list(unfinished) == ["sess-a", "sess-b"]
    steps = unfinished["sess-b"]
    assert [(e.seq, e.at) for e in steps] == [
        (0, 1_700_000_000.25), (1, 1_700_000_001.1), (2, 1_700_000_002.000001)]
    assert steps[1].data == data


async def test_contacts_by_window_team_and_counsellor(log: ContactLog) -> None:
    """Records ended in [since, until), ordered by their end; a team set and a counsellor
    narrow them (both: both must match); an empty team set sees nothing."""
    for sid, team, who, end in [("s1", "t1", "c1", 300.0), ("s2", "t2", "c2", 200.0),
                                ("s3", "t1", "c2", 400.0), ("s4", "t3", "c1", 500.0)]:
        await log.close_session(ended_record(sid, team, who, end))

    async def ids(since: float, until: float, **kw: Any) -> list[str]:
        return [r["session_id"] for r in await log.contacts(since, until, **kw)]

    assert await ids(0, 1e12) == ["s2", "s1", "s3", "s4"]
    assert await ids(200.0, 400.0) == ["s2", "s1"]  # since included, until not
    assert await ids(0, 1e12, teams=frozenset({"t1", "t3"})) == ["s1", "s3", "s4"]
    assert await ids(0, 1e12, counsellor="c2") == ["s2", "s3"]
    assert await ids(0, 1e12, teams=frozenset({"t1"}), counsellor="c2") == ["s3"]
    assert await ids(0, 1e12, teams=frozenset()) == []
    assert await ids(0, 1e12, counsellor="nobody") == []


# a trigger that makes dropping a session's steps fail, in each backend's dialect
REFUSE_DELETE = {
    "sqlite": "CREATE TRIGGER keep_steps BEFORE DELETE ON session_events "
              "BEGIN SELECT RAISE(ABORT, 'steps kept'); END;",
    "postgres": "CREATE FUNCTION keep_steps() RETURNS trigger LANGUAGE plpgsql AS "
                "$$BEGIN RAISE EXCEPTION 'steps kept'; END$$; "
                "CREATE TRIGGER keep_steps BEFORE DELETE ON session_events "
                "FOR EACH ROW EXECUTE FUNCTION keep_steps();",
}
ALLOW_DELETE = {
    "sqlite": "DROP TRIGGER keep_steps;",
    "postgres": "DROP TRIGGER keep_steps ON session_events;",
}


async def test_close_is_one_transaction(backend: Backend, log: ContactLog) -> None:
    """If dropping the steps fails, the record is not written either: the session stays
    unfinished, so recovery closes it later, once."""
    record = ended_record()
    await log.append(record.session_id, 0, 90.0, {"type": "Created"})
    await backend.sql(REFUSE_DELETE[backend.name])
    with pytest.raises(Exception, match="steps kept"):  # each database raises its own kind
        await log.close_session(record)
    assert await log.is_closed(record.session_id) is False
    assert set(await log.unfinished()) == {record.session_id}
    await backend.sql(ALLOW_DELETE[backend.name])
    assert await log.close_session(record) is True
    assert await log.unfinished() == {}


async def test_two_processes_close_a_session_once(backend: Backend, log: ContactLog) -> None:
    """Two brokers closing the same session at the same moment write one record; exactly
    one of them is told it wrote."""
    other = await backend.open()
    record = ended_record()
    await log.append(record.session_id, 0, 90.0, {"type": "Created"})
    wrote = await asyncio.gather(*(c.close_session(record) for c in (log, other, log, other)))
    assert sorted(wrote) == [False, False, False, True]
    assert len(await other.contacts(0, 1e12)) == 1
    assert await log.unfinished() == {}


async def test_processes_share_steps_and_heartbeats(backend: Backend, log: ContactLog) -> None:
    """A step another process logged conflicts here too; each node beats in its own row and
    the latest beat of any node is what every process reads."""
    other = await backend.open()
    await log.append("sess-0001", 0, 90.0, {"type": "Created"})
    with pytest.raises(Conflict):
        await other.append("sess-0001", 0, 90.5, {"type": "Created"})
    await log.heartbeat("node-a", 20.0)
    await other.heartbeat("node-b", 21.0)
    await log.heartbeat("node-a", 22.0)
    assert await other.last_heartbeat() == 22.0
    await other.heartbeat("node-b", 23.0)
    assert await log.last_heartbeat() == 23.0


# ------------------------------------------------------------------ SQLite's migrations


def test_migrations_are_atomic_and_rerunnable(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A migration failing half-way leaves nothing behind; a re-run is a no-op."""
    db = sqlite3.connect(tmp_path / "m.sqlite3", isolation_level=None)
    broken = (*MIGRATIONS, ("CREATE TABLE extra (a INTEGER)", "THIS IS NOT SQL"))
    monkeypatch.setattr("broker.contactlog.sqlite.MIGRATIONS", broken)
    with pytest.raises(sqlite3.OperationalError):
        migrate(db)
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "contacts" in tables and "extra" not in tables
    assert db.execute("SELECT version FROM schema_version").fetchone()[0] == len(MIGRATIONS)
    monkeypatch.setattr("broker.contactlog.sqlite.MIGRATIONS", MIGRATIONS)
    assert migrate(db) == len(MIGRATIONS)
    db.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    """An older broker must not write into a database a newer one has migrated."""
    db = sqlite3.connect(tmp_path / "n.sqlite3", isolation_level=None)
    migrate(db)
    db.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(RuntimeError, match="newer"):
        migrate(db)
    db.close()


# ------------------------------------------------------------------ PostgreSQL only


async def query(dsn: str, sql: str, *args: Any) -> list[Any]:
    conn: Any = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def tables(dsn: str) -> set[str]:
    rows = await query(dsn, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {r["tablename"] for r in rows}


async def broker_connections(dsn: str) -> int:
    rows = await query(dsn, "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = "
                            "current_database() AND application_name = 'counselling-broker'")
    return int(rows[0]["n"])


async def test_pg_migrations_are_atomic_and_rerunnable(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A migration failing half-way leaves nothing behind and no connection open; a re-run
    is a no-op."""
    broken = (*PG_MIGRATIONS, ("CREATE TABLE extra (a integer)", "THIS IS NOT SQL"))
    monkeypatch.setattr("broker.contactlog.postgres.MIGRATIONS", broken)
    with pytest.raises(asyncpg.PostgresSyntaxError):
        await PostgresContactLog(postgres_dsn).open()
    assert {"contacts", "session_events", "heartbeat"} <= await tables(postgres_dsn)
    assert "extra" not in await tables(postgres_dsn)
    [row] = await query(postgres_dsn, "SELECT version FROM schema_version")
    assert row["version"] == len(PG_MIGRATIONS)
    assert await broker_connections(postgres_dsn) == 0
    monkeypatch.setattr("broker.contactlog.postgres.MIGRATIONS", PG_MIGRATIONS)
    again = PostgresContactLog(postgres_dsn)
    await again.open()
    await again.close()
    assert await broker_connections(postgres_dsn) == 0, "close() closes the pool"


async def test_pg_a_newer_schema_is_refused(postgres_dsn: str) -> None:
    """An older broker must not write into a database a newer one has migrated."""
    first = PostgresContactLog(postgres_dsn)
    await first.open()
    await first.close()
    await query(postgres_dsn, "UPDATE schema_version SET version = 99")
    with pytest.raises(SchemaTooNew, match=r"schema 99 is newer .*upgrade the broker"):
        await PostgresContactLog(postgres_dsn).open()
    assert isinstance(SchemaTooNew("x"), RuntimeError)


async def test_pg_processes_starting_at_once_migrate_once(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Brokers starting together on an empty database: one migrates (the slow step runs
    once), the others wait for it under the advisory lock, then all work."""
    counted = (*PG_MIGRATIONS, ("CREATE TABLE migrated (n integer)",
                                "INSERT INTO migrated VALUES (1)", "SELECT pg_sleep(0.2)"))
    monkeypatch.setattr("broker.contactlog.postgres.MIGRATIONS", counted)
    logs = [PostgresContactLog(postgres_dsn) for _ in range(4)]
    try:
        await asyncio.gather(*(c.open() for c in logs))
        assert [r["n"] for r in await query(postgres_dsn, "SELECT n FROM migrated")] == [1]
        rows = await query(postgres_dsn, "SELECT version FROM schema_version")
        assert [r["version"] for r in rows] == [len(counted)]
        await asyncio.gather(*(c.heartbeat(f"n{i}", float(i)) for i, c in enumerate(logs)))
        assert await logs[0].last_heartbeat() == 3.0
    finally:
        for c in logs:
            await c.close()


async def test_pg_unreachable_database_is_unavailable(tmp_path: Path) -> None:
    """No server behind the DSN: `open` says so as the service's `unavailable` error, naming
    where it looked and never the password."""
    dsn = f"postgresql://postgres:pa55-secret@/db?host={tmp_path}&port=5999"
    contact_log = PostgresContactLog(dsn, connect_timeout=1.0)
    with pytest.raises(ContactLogUnavailable) as caught:
        await contact_log.open()
    err = caught.value
    assert isinstance(err, BrokerError) and isinstance(err, ConnectionError)
    assert err.code is ErrorCode.UNAVAILABLE and err.http_status == 503
    assert str(tmp_path) in str(err) and "pa55-secret" not in str(err)
    assert "pa55-secret" not in repr(contact_log)


def test_pg_dsn_is_shown_without_its_password() -> None:
    """What logs and errors may print of a DSN: the password goes, from both places."""
    assert describe("postgresql://cb:pw1@db1:5432,db2/contacts?password=pw2&sslmode=require"
                    ) == "postgresql://cb@db1:5432,db2/contacts?sslmode=require"
    assert describe("host=db password=pw3") == "(not a postgresql:// URL)"


class Outage:
    """A TCP hop in front of the server's unix socket that can be cut and restored: the
    network between a broker and its database."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self.port = 0
        self.server: asyncio.Server | None = None
        self.links: set[asyncio.StreamWriter] = set()

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_unix_connection(str(self.socket_path))
        self.links |= {writer, up_writer}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while chunk := await src.read(65536):
                    dst.write(chunk)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    async def up(self) -> None:
        self.server = await asyncio.start_server(self._link, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in self.links:
            w.close()
        self.links.clear()
        await self.server.wait_closed()


@pytest.fixture
async def outage(postgres_server: PostgresServer) -> AsyncIterator[Outage]:
    hop = Outage(postgres_server.root / ".s.PGSQL.5432")
    await hop.up()
    yield hop
    if hop.server is not None and hop.server.is_serving():
        await hop.down()


async def test_pg_losing_the_database_is_unavailable_not_fatal(
    postgres_server: PostgresServer, outage: Outage,
) -> None:
    """Cut the database off mid-run: calls fail as `unavailable` (what the service turns into
    a 503 or a logged, retried heartbeat) and work again once it is back."""
    name = await postgres_server.new_database("outage")
    contact_log = PostgresContactLog(f"postgresql://postgres@127.0.0.1:{outage.port}/{name}",
                                     connect_timeout=1.0)
    await contact_log.open()
    try:
        await contact_log.heartbeat("n", 1.0)
        await outage.down()
        await asyncio.sleep(0.05)  # the pool notices its connection is gone
        with pytest.raises(ContactLogUnavailable):
            await contact_log.heartbeat("n", 2.0)
        with pytest.raises(ContactLogUnavailable):
            await contact_log.last_heartbeat()
        await outage.up()
        await contact_log.heartbeat("n", 3.0)
        assert await contact_log.last_heartbeat() == 3.0
    finally:
        await contact_log.close()
