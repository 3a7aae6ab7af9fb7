"""The contact log on SQLite: the embedded default.

All database work runs on one dedicated thread (sqlite3 connections are not shared across
threads), so the event loop never blocks on disk. WAL journal with `synchronous=NORMAL`
survives a killed process (what the crash test does); `synchronous=FULL` can be set for
power-loss durability at a cost per write.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from broker.callbacks import Attempt, CallbackRequest, Change
from broker.contactlog.base import (
    ATTEMPT_COLUMNS,
    CALLBACK_COLUMNS,
    CONTACT_COLUMNS,
    GAVE_UP,
    OUTBOX_COLUMNS,
    OUTBOX_HEAD,
    PENDING,
    ROLLUP_COLUMNS,
    UNSETTLED,
    WAIT_COLUMNS,
    LoggedEvent,
    OutboxEntry,
    OutboxRow,
    attempt_from_row,
    attempt_values,
    callback_from_row,
    callback_values,
    contact_from_columns,
    contact_values,
    outbox_row,
    rollup_insert,
    rollup_select,
    rollup_upsert,
    skills_from_columns,
    skills_to_columns,
    wait_from_row,
)
from broker.errors import Conflict, NotFound
from broker.queue_report import Wait
from broker.record import ContactRecord
from broker.rollup import (
    DEFAULT_BASIS,
    RollupBasis,
    RollupColumns,
    RollupRow,
    contribution,
    local_day,
    merge,
    rating_contribution,
)
from broker.routing import Skills

log = logging.getLogger("broker.contactlog")

T = TypeVar("T")
STOPPED = "stopped:"  # heartbeat rows of nodes that stopped cleanly

# Each entry moves the schema one version up, as a list of statements run in one transaction;
# never edit one that has shipped.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE session_events (
            session_id TEXT NOT NULL,
            seq        INTEGER NOT NULL,
            at         REAL NOT NULL,
            data       TEXT NOT NULL,
            PRIMARY KEY (session_id, seq)
        )
        """,
        """
        CREATE TABLE contacts (
            session_id         TEXT PRIMARY KEY,
            team               TEXT NOT NULL,
            counsellor         TEXT NOT NULL,
            customer_ref       TEXT NOT NULL,
            kind               TEXT NOT NULL,
            state              TEXT NOT NULL,
            planned_channel    TEXT NOT NULL,
            planned_start      REAL NOT NULL,
            created_at         REAL NOT NULL,
            joined_at          REAL,
            admitted_at        REAL,
            media_connected_at REAL,
            ended_at           REAL NOT NULL,
            end_reason         TEXT NOT NULL,
            video_seconds      REAL NOT NULL,
            audio_seconds      REAL NOT NULL,
            phone_seconds      REAL NOT NULL,
            waiting_seconds    REAL,
            setup_seconds      REAL,
            fallback_used      INTEGER NOT NULL,
            segments           TEXT NOT NULL
        )
        """,
        """
        CREATE INDEX contacts_by_team_end ON contacts (team, ended_at)
        """,
        """
        CREATE INDEX contacts_by_counsellor_end ON contacts (counsellor, ended_at)
        """,
        """
        CREATE TABLE heartbeat (
            node TEXT PRIMARY KEY,
            at   REAL NOT NULL
        )
        """,
    ),
    # 2: the webhook outbox, one row per (event, target URL)
    (
        """
        CREATE TABLE webhook_outbox (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id    TEXT NOT NULL,
            session_id  TEXT NOT NULL,
            type        TEXT NOT NULL,
            at          REAL NOT NULL,
            url         TEXT NOT NULL,
            body        TEXT NOT NULL,
            status      TEXT NOT NULL DEFAULT 'pending',
            attempts    INTEGER NOT NULL DEFAULT 0,
            next_at     REAL NOT NULL,
            lease_until REAL NOT NULL DEFAULT 0,
            claimed_by  TEXT,
            done_at     REAL,
            last_error  TEXT NOT NULL DEFAULT '',
            UNIQUE (event_id, url)
        )
        """,
        """
        CREATE INDEX webhook_outbox_due ON webhook_outbox (next_at) WHERE status = 'pending'
        """,
        """
        CREATE INDEX webhook_outbox_queue ON webhook_outbox (session_id, url, id)
            WHERE status = 'pending'
        """,
        """
        CREATE INDEX webhook_outbox_done ON webhook_outbox (done_at) WHERE status <> 'pending'
        """,
    ),
    (
        # the customer's optional rating after the call (1-5), never with a name
        "ALTER TABLE contacts ADD COLUMN satisfaction INTEGER "
        "CHECK (satisfaction BETWEEN 1 AND 5)",
    ),
    # 4: the daily roll-up (broker/rollup.py), the basis it was made with, and an index for
    # retention's delete by age
    (
        """
        CREATE TABLE contact_days (
            day        TEXT NOT NULL,
            team       TEXT NOT NULL,
            kind       TEXT NOT NULL,
            channel    TEXT NOT NULL,
            records    INTEGER NOT NULL,
            due        INTEGER NOT NULL,
            no_show    INTEGER NOT NULL,
            contacts   INTEGER NOT NULL,
            fallback   INTEGER NOT NULL,
            failed     INTEGER NOT NULL,
            outside    INTEGER NOT NULL,
            video_ms   INTEGER NOT NULL,
            audio_ms   INTEGER NOT NULL,
            phone_ms   INTEGER NOT NULL,
            all_ms     INTEGER NOT NULL,
            waiting_ms INTEGER NOT NULL,
            rating_n   INTEGER NOT NULL,
            rating_sum INTEGER NOT NULL,
            hist       BLOB NOT NULL,
            PRIMARY KEY (day, team, kind, channel)
        ) WITHOUT ROWID
        """,
        """
        CREATE TABLE rollup_basis (
            timezone      TEXT NOT NULL,
            opening_hours TEXT NOT NULL
        )
        """,
        "CREATE INDEX contacts_by_end ON contacts (ended_at)",
    ),
    # 5: what an admin set for each counsellor's drop-ins (comma lists; teams '' = all)
    (
        """
        CREATE TABLE staff_skills (
            staff_id   TEXT PRIMARY KEY,
            teams      TEXT NOT NULL,
            topics     TEXT NOT NULL,
            languages  TEXT NOT NULL,
            updated_at REAL NOT NULL
        )
        """,
    ),
    # 6: callback requests and their attempts (broker/callbacks.py); `contact` is the
    # sealed phone number, emptied when the request is settled
    (
        """
        CREATE TABLE callbacks (
            id          TEXT PRIMARY KEY,
            team        TEXT NOT NULL,
            topic       TEXT NOT NULL,
            language    TEXT NOT NULL,
            urgent      INTEGER NOT NULL,
            reach       TEXT NOT NULL,
            contact     TEXT,
            window_from REAL,
            window_to   REAL,
            source      TEXT NOT NULL,
            created_at  REAL NOT NULL,
            deadline    REAL NOT NULL,
            state       TEXT NOT NULL,
            claimed_by  TEXT,
            claim_until REAL,
            attempts    INTEGER NOT NULL,
            session_id  TEXT,
            closed_at   REAL,
            outcome     TEXT
        )
        """,
        "CREATE INDEX callbacks_unsettled ON callbacks (deadline) "
        "WHERE state IN ('open', 'claimed')",
        "CREATE INDEX callbacks_by_session ON callbacks (session_id)",
        "CREATE INDEX callbacks_by_close ON callbacks (closed_at)",
        """
        CREATE TABLE callback_attempts (
            callback_id TEXT NOT NULL REFERENCES callbacks (id) ON DELETE CASCADE,
            at          REAL NOT NULL,
            staff       TEXT NOT NULL,
            outcome     TEXT NOT NULL,
            session_id  TEXT
        )
        """,
        "CREATE INDEX callback_attempts_of ON callback_attempts (callback_id, at)",
    ),
    # 7: finished drop-in waits, for the service level and abandonment in reports
    (
        """
        CREATE TABLE dropin_waits (
            team      TEXT NOT NULL,
            topic     TEXT NOT NULL,
            language  TEXT NOT NULL,
            joined_at REAL NOT NULL,
            ended_at  REAL NOT NULL,
            answered  INTEGER NOT NULL
        )
        """,
        "CREATE INDEX dropin_waits_by_end ON dropin_waits (ended_at)",
    ),
)

_CALLBACK_SELECT = f"SELECT {', '.join(CALLBACK_COLUMNS)} FROM callbacks"  # noqa: S608
_CALLBACK_INSERT = (f"INSERT INTO callbacks ({', '.join(CALLBACK_COLUMNS)}) "  # noqa: S608
                    f"VALUES ({','.join('?' * len(CALLBACK_COLUMNS))})")
_CALLBACK_UPDATE = ("UPDATE callbacks SET "  # noqa: S608
                    + ", ".join(f"{c} = ?" for c in CALLBACK_COLUMNS[1:]) + " WHERE id = ?")
_ATTEMPT_INSERT = (f"INSERT INTO callback_attempts ({', '.join(ATTEMPT_COLUMNS)}) "  # noqa: S608
                   f"VALUES ({','.join('?' * len(ATTEMPT_COLUMNS))})")

_INSERT_OUTBOX = (
    "INSERT INTO webhook_outbox (event_id, session_id, type, at, url, body, next_at) "
    "VALUES (?,?,?,?,?,?,?) ON CONFLICT (event_id, url) DO NOTHING"
)
_CLAIMABLE = f"FROM webhook_outbox o WHERE {OUTBOX_HEAD}"
# the rows queued behind one that failed are not due before it is (so a claim need not
# step over them, however long the queue grows while a receiver is down)
_HOLD_BACK = ("UPDATE webhook_outbox SET next_at = max(next_at, ?) WHERE status = 'pending' "
              "AND id > ? AND (session_id, url) = "
              "(SELECT session_id, url FROM webhook_outbox WHERE id = ?)")
_OUTBOX_SELECT = f"SELECT {', '.join(OUTBOX_COLUMNS)} FROM webhook_outbox"  # noqa: S608


def _write_outbox(db: sqlite3.Connection, outbox: Sequence[OutboxEntry]) -> None:
    db.executemany(_INSERT_OUTBOX, [(e.event_id, e.session_id, e.type, e.at, e.url, e.body,
                                     e.at) for e in outbox])

def _contact_row(r: ContactRecord) -> tuple[Any, ...]:
    values = contact_values(r)
    values["fallback_used"] = int(values["fallback_used"])
    values["segments"] = json.dumps(values["segments"])
    return tuple(values.values())


def _contact_dict(row: sqlite3.Row) -> dict[str, Any]:
    d = dict(row)
    d["segments"] = json.loads(d["segments"])
    return contact_from_columns(d)


def migrate(db: sqlite3.Connection) -> int:
    """Bring the schema up to date; returns the version it is at."""
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = db.execute("SELECT version FROM schema_version").fetchone()
    version = 0 if row is None else int(row[0])
    if version > len(MIGRATIONS):
        raise RuntimeError(f"database schema {version} is newer than this broker knows")
    for number, statements in enumerate(MIGRATIONS[version:], start=version + 1):
        # explicit: sqlite3 would otherwise commit each CREATE on its own
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements:
                db.execute(statement)
            db.execute("DELETE FROM schema_version")
            db.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        version = number
    return version


_UNFINISHED = ("SELECT e.session_id, e.seq, e.at, e.data FROM session_events e "
               "WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE c.session_id = e.session_id) ")
_UNFINISHED_ALL = _UNFINISHED + "ORDER BY e.session_id, e.seq"
_UNFINISHED_ONE = _UNFINISHED + "AND e.session_id = ? ORDER BY e.seq"

_OUTBOX_SUMMARY = "SELECT status, count(*), min(at) FROM webhook_outbox GROUP BY status"

# SQLite's || makes text of blobs: the writer thread joins the bytes itself
_ROLLUP_UPSERT = rollup_upsert(["?"] * len(ROLLUP_COLUMNS), "excluded.hist")
_ROLLUP_SELECT = rollup_select(("?", "?"))


def _add_rollup(db: sqlite3.Connection, row: RollupRow) -> None:
    """Within the caller's transaction (one writer: nothing changes the row in between)."""
    old = db.execute("SELECT hist FROM contact_days WHERE day = ? AND team = ? AND kind = ? "
                     "AND channel = ?", row.key).fetchone()
    hist = row.hist if old is None else bytes(old[0]) + row.hist
    db.execute(_ROLLUP_UPSERT, (*row.key, *row.counts, hist))


def ensure_rollup(db: sqlite3.Connection, basis: RollupBasis) -> bool:
    """Rebuild the roll-up from the records there are if it was made on another basis (or
    never); True if it did. In autocommit mode: it opens its own transaction."""
    made = db.execute("SELECT timezone, opening_hours FROM rollup_basis").fetchone()
    if made is not None and tuple(made) == (basis.timezone, basis.opening_hours):
        return False
    tz, hours = basis.tz, basis.hours
    db.execute("BEGIN IMMEDIATE")
    try:
        oldest = db.execute("SELECT min(ended_at) FROM contacts").fetchone()[0]
        if oldest is not None:
            # days before the oldest record keep the figures they were made with: their
            # records are gone
            first = local_day(oldest, tz).isoformat()
            db.execute("DELETE FROM contact_days WHERE day >= ?", (first,))
            rows = merge(contribution(_contact_dict(r), tz, hours)
                         for r in db.execute("SELECT * FROM contacts"))
            db.executemany(rollup_insert(["?"] * len(ROLLUP_COLUMNS)),
                           [(*r.key, *r.counts, r.hist) for r in rows])
            if made is not None:
                log.warning("report basis changed (%s, %s -> %s, %s): roll-up rebuilt from %s",
                            made[0], made[1], basis.timezone, basis.opening_hours, first)
        db.execute("DELETE FROM rollup_basis")
        db.execute("INSERT INTO rollup_basis (timezone, opening_hours) VALUES (?, ?)",
                   (basis.timezone, basis.opening_hours))
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return True


class SqliteContactLog:
    def __init__(self, path: Path, synchronous: str = "NORMAL",
                 basis: RollupBasis = DEFAULT_BASIS) -> None:
        self._path = path
        self.basis = basis
        self._synchronous = synchronous
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="contactlog")
        self._db: sqlite3.Connection | None = None
        self._closed = False
        self.on_outbox: Callable[[], None] | None = None

    def _outbox_written(self, outbox: Sequence[OutboxEntry]) -> None:
        if outbox and self.on_outbox is not None:
            self.on_outbox()

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            assert self._db is not None, "contact log is not open"
            return fn(self._db)

        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    async def open(self) -> None:
        def connect() -> None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self._synchronous}")
            db.execute("PRAGMA busy_timeout=5000")
            migrate(db)  # in autocommit mode: it opens its own transactions
            ensure_rollup(db, self.basis)
            db.isolation_level = "DEFERRED"
            self._db = db

        await asyncio.get_running_loop().run_in_executor(self._pool, connect)

    async def close(self) -> None:
        if self._closed:  # closing twice is harmless, as on PostgreSQL
            return
        self._closed = True

        def shut() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(self._pool, shut)
        self._pool.shutdown(wait=True)

    async def append(self, session_id: str, seq: int, at: float, data: dict[str, Any],
                     outbox: Sequence[OutboxEntry] = ()) -> None:
        text = json.dumps(data, separators=(",", ":"))

        def write(db: sqlite3.Connection) -> None:
            with db:
                try:
                    db.execute(
                        "INSERT INTO session_events (session_id, seq, at, data) VALUES (?,?,?,?)",
                        (session_id, seq, at, text),
                    )
                except sqlite3.IntegrityError:
                    raise Conflict(
                        f"step {seq} of session {session_id} is logged already") from None
                _write_outbox(db, outbox)

        await self._run(write)
        self._outbox_written(outbox)

    async def close_session(self, record: ContactRecord,
                            outbox: Sequence[OutboxEntry] = ()) -> bool:
        row = _contact_row(record)
        marks = ",".join("?" * len(CONTACT_COLUMNS))

        def write(db: sqlite3.Connection) -> bool:
            with db:
                cur = db.execute(
                    f"INSERT INTO contacts ({','.join(CONTACT_COLUMNS)}) VALUES ({marks}) "  # noqa: S608
                    "ON CONFLICT (session_id) DO NOTHING",
                    row,
                )
                written = cur.rowcount == 1
                if written:  # a second close causes no second event, no second count
                    _write_outbox(db, outbox)
                    _add_rollup(db, contribution(record.to_dict(), self.basis.tz,
                                                 self.basis.hours))
                db.execute("DELETE FROM session_events WHERE session_id = ?", (record.session_id,))
                return written

        written = await self._run(write)
        if written:
            self._outbox_written(outbox)
        return written

    async def unfinished(self, session_id: str | None = None) -> dict[str, list[LoggedEvent]]:
        def read(db: sqlite3.Connection) -> dict[str, list[LoggedEvent]]:
            out: dict[str, list[LoggedEvent]] = {}
            rows = db.execute(
                _UNFINISHED_ALL if session_id is None else _UNFINISHED_ONE,
                () if session_id is None else (session_id,),
            )
            for sid, seq, at, data in rows:
                out.setdefault(sid, []).append(LoggedEvent(seq, at, json.loads(data)))
            return out

        return await self._run(read)

    async def heartbeat(self, node: str, at: float) -> None:
        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute(
                    "INSERT INTO heartbeat (node, at) VALUES (?, ?) "
                    "ON CONFLICT (node) DO UPDATE SET at = excluded.at",
                    (node, at),
                )

        await self._run(write)

    async def last_heartbeat(self, live_only: bool = False) -> float | None:
        def read(db: sqlite3.Connection) -> float | None:
            if live_only:
                row = db.execute("SELECT MAX(at) FROM heartbeat WHERE node NOT LIKE ?",
                                 (STOPPED + "%",)).fetchone()
            else:
                row = db.execute("SELECT MAX(at) FROM heartbeat").fetchone()
            return None if row is None or row[0] is None else float(row[0])

        return await self._run(read)

    async def retire(self, node: str, at: float) -> None:
        def write(db: sqlite3.Connection) -> None:
            with db:  # keep one stopped row (the newest), for timing; drop older ones
                db.execute("DELETE FROM heartbeat WHERE node LIKE ?", (STOPPED + "%",))
                db.execute("UPDATE heartbeat SET node = ?, at = ? WHERE node = ?",
                           (STOPPED + node, at, node))

        await self._run(write)

    async def rate(self, session_id: str, score: int) -> bool:
        def write(db: sqlite3.Connection) -> bool:
            with db:
                done = db.execute("UPDATE contacts SET satisfaction = ? "
                                  "WHERE session_id = ? AND satisfaction IS NULL",
                                  (score, session_id))
                if done.rowcount != 1:
                    return False
                rated = db.execute("SELECT * FROM contacts WHERE session_id = ?",
                                   (session_id,)).fetchone()
                share = rating_contribution(_contact_dict(rated), score, self.basis.tz)
                if share is not None:
                    _add_rollup(db, share)
            return True

        return await self._run(write)

    async def is_closed(self, session_id: str) -> bool:
        def read(db: sqlite3.Connection) -> bool:
            q = "SELECT 1 FROM contacts WHERE session_id = ?"
            return db.execute(q, (session_id,)).fetchone() is not None

        return await self._run(read)

    async def contact(self, session_id: str) -> dict[str, Any] | None:
        def read(db: sqlite3.Connection) -> dict[str, Any] | None:
            row = db.execute("SELECT * FROM contacts WHERE session_id = ?", (session_id,))
            found = row.fetchone()
            return None if found is None else _contact_dict(found)

        return await self._run(read)

    async def contacts(
        self, since: float, until: float, teams: frozenset[str] | None = None,
        counsellor: str | None = None,
    ) -> list[dict[str, Any]]:
        sql = "SELECT * FROM contacts WHERE ended_at >= ? AND ended_at < ?"
        args: list[Any] = [since, until]
        if teams is not None:
            sql += f" AND team IN ({','.join('?' * len(teams))})"
            args += sorted(teams)
        if counsellor is not None:
            sql += " AND counsellor = ?"
            args.append(counsellor)
        sql += " ORDER BY ended_at"

        def read(db: sqlite3.Connection) -> list[dict[str, Any]]:
            return [_contact_dict(r) for r in db.execute(sql, args)]

        return await self._run(read)

    async def skills(self, staff_id: str) -> Skills | None:
        def read(db: sqlite3.Connection) -> Skills | None:
            row = db.execute("SELECT teams, topics, languages FROM staff_skills "
                             "WHERE staff_id = ?", (staff_id,)).fetchone()
            return None if row is None else skills_from_columns(*row)

        return await self._run(read)

    async def set_skills(self, staff_id: str, skills: Skills, at: float) -> None:
        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute("INSERT INTO staff_skills (staff_id, teams, topics, languages, "
                           "updated_at) VALUES (?,?,?,?,?) ON CONFLICT (staff_id) DO UPDATE "
                           "SET teams = excluded.teams, topics = excluded.topics, "
                           "languages = excluded.languages, updated_at = excluded.updated_at",
                           (staff_id, *skills_to_columns(skills), at))

        await self._run(write)

    async def all_skills(self) -> dict[str, Skills]:
        def read(db: sqlite3.Connection) -> dict[str, Skills]:
            rows = db.execute("SELECT staff_id, teams, topics, languages FROM staff_skills")
            return {r[0]: skills_from_columns(*r[1:]) for r in rows}

        return await self._run(read)

    async def rollup(self, first_day: str, end_day: str,
                     teams: frozenset[str] | None = None) -> RollupColumns:
        sql, args = _ROLLUP_SELECT, [first_day, end_day]
        if teams is not None:
            sql += f" AND team IN ({','.join('?' * len(teams))})"
            args += sorted(teams)

        def read(db: sqlite3.Connection) -> RollupColumns:
            cur = db.cursor()
            cur.row_factory = None  # plain tuples: many rows
            return RollupColumns.of_tuples(cur.execute(sql, args).fetchall())

        return await self._run(read)

    async def purge_contacts(self, ended_before: float) -> int:
        def write(db: sqlite3.Connection) -> int:
            with db:
                return db.execute("DELETE FROM contacts WHERE ended_at < ?",
                                  (ended_before,)).rowcount

        return await self._run(write)

    # ------------------------------------------------------------ callback requests

    async def add_callback(self, request: CallbackRequest) -> None:
        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute(_CALLBACK_INSERT, callback_values(request))

        await self._run(write)

    async def callback(self, callback_id: str) -> CallbackRequest | None:
        def read(db: sqlite3.Connection) -> CallbackRequest | None:
            row = db.execute(f"{_CALLBACK_SELECT} WHERE id = ?", (callback_id,)).fetchone()
            return None if row is None else callback_from_row(row)

        return await self._run(read)

    async def change_callback(self, callback_id: str,
                              step: Callable[[CallbackRequest], Change]) -> CallbackRequest:
        def write(db: sqlite3.Connection) -> CallbackRequest:
            # IMMEDIATE: the write lock before the read, so another process (or a tool on the
            # same file) cannot change the row between them
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(f"{_CALLBACK_SELECT} WHERE id = ?", (callback_id,)).fetchone()
                if row is None:
                    raise NotFound("callback request")
                before = callback_from_row(row)
                change = step(before)
                if change.request != before:
                    values = callback_values(change.request)
                    db.execute(_CALLBACK_UPDATE, (*values[1:], callback_id))
                if change.attempt is not None:
                    db.execute(_ATTEMPT_INSERT, attempt_values(change.attempt))
            except BaseException:
                db.rollback()
                raise
            db.commit()
            return change.request

        return await self._run(write)

    async def unsettled_callbacks(self, teams: frozenset[str] | None = None
                                  ) -> list[CallbackRequest]:
        sql, args = f"{_CALLBACK_SELECT} WHERE {UNSETTLED}", list(sorted(teams or ()))
        if teams is not None:
            sql += f" AND team IN ({','.join('?' * len(teams))})"
        sql += " ORDER BY deadline, created_at"

        def read(db: sqlite3.Connection) -> list[CallbackRequest]:
            return [callback_from_row(r) for r in db.execute(sql, args)]

        return await self._run(read)

    async def callback_of_session(self, session_id: str) -> CallbackRequest | None:
        def read(db: sqlite3.Connection) -> CallbackRequest | None:
            row = db.execute(f"{_CALLBACK_SELECT} WHERE session_id = ?",
                             (session_id,)).fetchone()
            return None if row is None else callback_from_row(row)

        return await self._run(read)

    async def callbacks_closed(self, since: float, until: float,
                               teams: frozenset[str] | None = None) -> list[CallbackRequest]:
        sql = f"{_CALLBACK_SELECT} WHERE closed_at >= ? AND closed_at < ?"
        args: list[Any] = [since, until]
        if teams is not None:
            sql += f" AND team IN ({','.join('?' * len(teams))})"
            args += sorted(teams)

        def read(db: sqlite3.Connection) -> list[CallbackRequest]:
            return [callback_from_row(r) for r in db.execute(sql + " ORDER BY closed_at", args)]

        return await self._run(read)

    async def callback_attempts(self, callback_id: str) -> list[Attempt]:
        def read(db: sqlite3.Connection) -> list[Attempt]:
            rows = db.execute(f"SELECT {', '.join(ATTEMPT_COLUMNS)} FROM callback_attempts "  # noqa: S608
                              "WHERE callback_id = ? ORDER BY at", (callback_id,))
            return [attempt_from_row(r) for r in rows]

        return await self._run(read)

    async def purge_callbacks(self, closed_before: float) -> int:
        def write(db: sqlite3.Connection) -> int:
            with db:
                db.execute("DELETE FROM callback_attempts WHERE callback_id IN "
                           "(SELECT id FROM callbacks WHERE closed_at < ?)", (closed_before,))
                db.execute("DELETE FROM dropin_waits WHERE ended_at < ?", (closed_before,))
                return db.execute("DELETE FROM callbacks WHERE closed_at < ?",
                                  (closed_before,)).rowcount

        return await self._run(write)

    # ------------------------------------------------------------ drop-in waits

    async def add_wait(self, wait: Wait) -> None:
        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute(f"INSERT INTO dropin_waits ({', '.join(WAIT_COLUMNS)}) "  # noqa: S608
                           "VALUES (?,?,?,?,?,?)", (wait.team, wait.topic, wait.language,
                                                    wait.joined_at, wait.ended_at,
                                                    int(wait.answered)))

        await self._run(write)

    async def waits(self, since: float, until: float,
                    teams: frozenset[str] | None = None) -> list[Wait]:
        sql = (f"SELECT {', '.join(WAIT_COLUMNS)} FROM dropin_waits "  # noqa: S608
               "WHERE ended_at >= ? AND ended_at < ?")
        args: list[Any] = [since, until]
        if teams is not None:
            sql += f" AND team IN ({','.join('?' * len(teams))})"
            args += sorted(teams)

        def read(db: sqlite3.Connection) -> list[Wait]:
            return [wait_from_row(r) for r in db.execute(sql + " ORDER BY ended_at", args)]

        return await self._run(read)

    # ------------------------------------------------------------ webhook outbox

    async def claim_outbox(self, node: str, now: float, lease_seconds: float,
                           limit: int = 50) -> list[OutboxRow]:
        def claim(db: sqlite3.Connection) -> list[OutboxRow]:
            with db:  # one statement: atomic against another connection's claim too
                rows = db.execute(
                    "UPDATE webhook_outbox SET lease_until = ?, claimed_by = ?, "  # noqa: S608
                    "attempts = attempts + 1 WHERE id IN "
                    f"(SELECT o.id {_CLAIMABLE} AND o.next_at <= ? AND o.lease_until <= ? "
                    f"ORDER BY o.next_at, o.id LIMIT ?) RETURNING {', '.join(OUTBOX_COLUMNS)}",
                    (now + lease_seconds, node, now, now, limit)).fetchall()
            return sorted((outbox_row(r) for r in rows), key=lambda r: (r.next_at, r.id))

        return await self._run(claim)

    async def outbox_delivered(self, row_id: int, now: float) -> None:
        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute("UPDATE webhook_outbox SET status = 'delivered', done_at = ?, "
                           "lease_until = 0, last_error = '' WHERE id = ?", (now, row_id))

        await self._run(write)

    async def outbox_failed(self, row_id: int, now: float, retry_at: float | None,
                            error: str) -> None:
        def write(db: sqlite3.Connection) -> None:
            with db:
                if retry_at is None:
                    db.execute("UPDATE webhook_outbox SET status = ?, done_at = ?, "
                               "lease_until = 0, last_error = ? WHERE id = ? AND status = ?",
                               (GAVE_UP, now, error, row_id, PENDING))
                else:
                    db.execute("UPDATE webhook_outbox SET next_at = ?, lease_until = 0, "
                               "last_error = ? WHERE id = ? AND status = ?",
                               (retry_at, error, row_id, PENDING))
                    db.execute(_HOLD_BACK, (retry_at, row_id, row_id))

        await self._run(write)

    async def release_outbox_leases(self) -> int:
        def write(db: sqlite3.Connection) -> int:
            with db:
                return db.execute("UPDATE webhook_outbox SET lease_until = 0 "
                                  "WHERE status = 'pending' AND lease_until > 0").rowcount

        return await self._run(write)

    async def outbox_next_due(self) -> float | None:
        def read(db: sqlite3.Connection) -> float | None:
            row = db.execute(f"SELECT min(max(o.next_at, o.lease_until)) {_CLAIMABLE}").fetchone()
            return None if row is None or row[0] is None else float(row[0])

        return await self._run(read)

    async def purge_outbox(self, settled_before: float) -> int:
        def write(db: sqlite3.Connection) -> int:
            with db:
                cur = db.execute("DELETE FROM webhook_outbox WHERE status <> 'pending' "
                                 "AND done_at < ?", (settled_before,))
                return cur.rowcount

        return await self._run(write)

    async def outbox_summary(self) -> dict[str, tuple[int, float]]:
        def read(db: sqlite3.Connection) -> dict[str, tuple[int, float]]:
            rows = db.execute(_OUTBOX_SUMMARY)
            return {status: (int(n), float(oldest)) for status, n, oldest in rows}

        return await self._run(read)

    async def outbox_rows(self, session_id: str | None = None) -> list[OutboxRow]:
        def read(db: sqlite3.Connection) -> list[OutboxRow]:
            if session_id is None:
                rows = db.execute(f"{_OUTBOX_SELECT} ORDER BY id")
            else:
                rows = db.execute(f"{_OUTBOX_SELECT} WHERE session_id = ? ORDER BY id",
                                  (session_id,))
            return [outbox_row(r) for r in rows]

        return await self._run(read)
