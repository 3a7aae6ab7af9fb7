"""What every contact log must promise (SQLite now; PostgreSQL runs the same suite later)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from broker.contactlog.sqlite import MIGRATIONS, SqliteContactLog, migrate
from broker.errors import Conflict
from broker.events import End, MediaReported
from broker.record import ContactRecord, record_of
from broker.session import Session
from broker.types import Channel, CustomerRef, Role, SessionId, StaffId, State, TeamId


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[SqliteContactLog]:
    contact_log = SqliteContactLog(tmp_path / "c.sqlite3")
    await contact_log.open()
    yield contact_log
    await contact_log.close()


def ended_record(sid: str = "sess-0001") -> ContactRecord:
    s = Session(id=SessionId(sid), team=TeamId("t1"), counsellor=StaffId("c1"),
                customer_ref=CustomerRef("K-1"), planned_start=100.0,
                planned_channel=Channel.VIDEO, created_at=90.0, state=State.ACTIVE,
                channel=Channel.VIDEO, admitted_at=100.0)
    s.handle(MediaReported(Role.CUSTOMER, True), 101.0)
    s.handle(End(), 161.0)
    return record_of(s)


async def test_close_writes_once(log: SqliteContactLog) -> None:
    """A second close of the same session writes nothing and says so."""
    record = ended_record()
    assert await log.close_session(record) is True
    assert await log.close_session(record) is False
    rows = await log.contacts(0, 1e12)
    assert len(rows) == 1 and rows[0]["seconds"]["video"] == 60.0


async def test_close_drops_the_write_ahead_events(log: SqliteContactLog) -> None:
    """Once a record exists, its steps are gone (minimisation) and it is not unfinished."""
    await log.append("sess-0001", 0, 90.0, {"type": "Created"})
    await log.append("sess-0002", 0, 91.0, {"type": "Created"})
    assert set(await log.unfinished()) == {"sess-0001", "sess-0002"}
    await log.close_session(ended_record("sess-0001"))
    unfinished = await log.unfinished()
    assert set(unfinished) == {"sess-0002"}
    assert [e.seq for e in unfinished["sess-0002"]] == [0]


async def test_a_step_is_logged_once(log: SqliteContactLog) -> None:
    """The same (session, seq) twice is a conflict, never a second row."""
    await log.append("sess-0001", 1, 90.0, {"type": "Tick"})
    with pytest.raises(Conflict):
        await log.append("sess-0001", 1, 91.0, {"type": "Leave"})
    assert [e.data["type"] for e in (await log.unfinished())["sess-0001"]] == ["Tick"]


async def test_heartbeat_keeps_the_latest(log: SqliteContactLog) -> None:
    """Recovery closes interrupted calls at the last beat of any node."""
    assert await log.last_heartbeat() is None
    await log.heartbeat("a", 10.0)
    await log.heartbeat("b", 12.0)
    await log.heartbeat("a", 11.0)
    assert await log.last_heartbeat() == 12.0


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
