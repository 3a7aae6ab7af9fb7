"""The contact log on PostgreSQL: several broker processes share one database.

The same promises as the SQLite log (see `base`), with nothing that assumes one writer:
a step is unique by its primary key, a record by `ON CONFLICT DO NOTHING`, heartbeats are
one row per node, and the schema migrates under an advisory lock, so that of several
processes starting at once exactly one migrates while the others wait for it.

Times are `double precision` Unix seconds and JSON is `jsonb`. A lost or refusing database
surfaces as `ContactLogUnavailable`: a `BrokerError` (`unavailable`, HTTP 503) that is also
a `ConnectionError`. The DSN is never logged (it may carry a password); `describe` gives a
printable form.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]

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
from broker.errors import Conflict, ContactLogUnavailable, NotFound
from broker.queue_report import Wait
from broker.record import ContactRecord
from broker.rollup import (
    DEFAULT_BASIS,
    Merger,
    RollupBasis,
    RollupColumns,
    RollupRow,
    contribution,
    local_day,
    rating_contribution,
)
from broker.routing import Skills

log = logging.getLogger("broker.contactlog")

# Each entry moves the schema one version up, as statements run in one transaction;
# never edit one that has shipped. The same tables as the SQLite log's MIGRATIONS, in
# PostgreSQL's types (REAL -> double precision, JSON text -> jsonb, 0/1 -> boolean), plus an
# index on ended_at alone for the unfiltered (admin) report over many Jobcenters.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE session_events (
            session_id text NOT NULL,
            seq        bigint NOT NULL,
            at         double precision NOT NULL,
            data       jsonb NOT NULL,
            PRIMARY KEY (session_id, seq)
        )
        """,
        """
        CREATE TABLE contacts (
            session_id         text PRIMARY KEY,
            team               text NOT NULL,
            counsellor         text NOT NULL,
            customer_ref       text NOT NULL,
            kind               text NOT NULL,
            state              text NOT NULL,
            planned_channel    text NOT NULL,
            planned_start      double precision NOT NULL,
            created_at         double precision NOT NULL,
            joined_at          double precision,
            admitted_at        double precision,
            media_connected_at double precision,
            ended_at           double precision NOT NULL,
            end_reason         text NOT NULL,
            video_seconds      double precision NOT NULL,
            audio_seconds      double precision NOT NULL,
            phone_seconds      double precision NOT NULL,
            waiting_seconds    double precision,
            setup_seconds      double precision,
            fallback_used      boolean NOT NULL,
            segments           jsonb NOT NULL
        )
        """,
        "CREATE INDEX contacts_by_team_end ON contacts (team, ended_at)",
        "CREATE INDEX contacts_by_counsellor_end ON contacts (counsellor, ended_at)",
        "CREATE INDEX contacts_by_end ON contacts (ended_at)",
        """
        CREATE TABLE heartbeat (
            node text PRIMARY KEY,
            at   double precision NOT NULL
        )
        """,
    ),
    # 2: the webhook outbox, one row per (event, target URL); several processes claim rows
    # with FOR UPDATE SKIP LOCKED and hold them by a lease while they send
    (
        """
        CREATE TABLE webhook_outbox (
            id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            event_id    text NOT NULL,
            session_id  text NOT NULL,
            type        text NOT NULL,
            at          double precision NOT NULL,
            url         text NOT NULL,
            body        text NOT NULL,
            status      text NOT NULL DEFAULT 'pending',
            attempts    integer NOT NULL DEFAULT 0,
            next_at     double precision NOT NULL,
            lease_until double precision NOT NULL DEFAULT 0,
            claimed_by  text,
            done_at     double precision,
            last_error  text NOT NULL DEFAULT '',
            UNIQUE (event_id, url)
        )
        """,
        "CREATE INDEX webhook_outbox_due ON webhook_outbox (next_at) WHERE status = 'pending'",
        "CREATE INDEX webhook_outbox_queue ON webhook_outbox (session_id, url, id) "
        "WHERE status = 'pending'",
        "CREATE INDEX webhook_outbox_done ON webhook_outbox (done_at) WHERE status <> 'pending'",
    ),
    (
        # the customer's optional rating after the call (1-5), never with a name
        "ALTER TABLE contacts ADD COLUMN satisfaction smallint "
        "CHECK (satisfaction BETWEEN 1 AND 5)",
    ),
    # 4: the daily roll-up (broker/rollup.py) and the basis it was made with
    (
        """
        CREATE TABLE contact_days (
            day        text NOT NULL,
            team       text NOT NULL,
            kind       text NOT NULL,
            channel    text NOT NULL,
            records    bigint NOT NULL,
            due        bigint NOT NULL,
            no_show    bigint NOT NULL,
            contacts   bigint NOT NULL,
            fallback   bigint NOT NULL,
            failed     bigint NOT NULL,
            outside    bigint NOT NULL,
            video_ms   bigint NOT NULL,
            audio_ms   bigint NOT NULL,
            phone_ms   bigint NOT NULL,
            all_ms     bigint NOT NULL,
            waiting_ms bigint NOT NULL,
            rating_n   bigint NOT NULL,
            rating_sum bigint NOT NULL,
            hist       bytea NOT NULL,
            PRIMARY KEY (day, team, kind, channel)
        )
        """,
        """
        CREATE TABLE rollup_basis (
            timezone      text NOT NULL,
            opening_hours text NOT NULL
        )
        """,
    ),
    # 5: what an admin set for each counsellor's drop-ins (comma lists; teams '' = all)
    (
        """
        CREATE TABLE staff_skills (
            staff_id   text PRIMARY KEY,
            teams      text NOT NULL,
            topics     text NOT NULL,
            languages  text NOT NULL,
            updated_at double precision NOT NULL
        )
        """,
    ),
    # 6: callback requests and their attempts
    (
        """
        CREATE TABLE callbacks (
            id          text PRIMARY KEY,
            team        text NOT NULL,
            topic       text NOT NULL,
            language    text NOT NULL,
            urgent      boolean NOT NULL,
            reach       text NOT NULL,
            contact     text,
            window_from double precision,
            window_to   double precision,
            source      text NOT NULL,
            created_at  double precision NOT NULL,
            deadline    double precision NOT NULL,
            state       text NOT NULL,
            claimed_by  text,
            claim_until double precision,
            attempts    integer NOT NULL,
            session_id  text,
            closed_at   double precision,
            outcome     text
        )
        """,
        "CREATE INDEX callbacks_unsettled ON callbacks (deadline) "
        "WHERE state IN ('open', 'claimed')",
        "CREATE INDEX callbacks_by_session ON callbacks (session_id)",
        "CREATE INDEX callbacks_by_close ON callbacks (closed_at)",
        """
        CREATE TABLE callback_attempts (
            callback_id text NOT NULL REFERENCES callbacks (id) ON DELETE CASCADE,
            at          double precision NOT NULL,
            staff       text NOT NULL,
            outcome     text NOT NULL,
            session_id  text
        )
        """,
        "CREATE INDEX callback_attempts_of ON callback_attempts (callback_id, at)",
    ),
    # 7: finished drop-in waits
    (
        """
        CREATE TABLE dropin_waits (
            team      text NOT NULL,
            topic     text NOT NULL,
            language  text NOT NULL,
            joined_at double precision NOT NULL,
            ended_at  double precision NOT NULL,
            answered  boolean NOT NULL
        )
        """,
        "CREATE INDEX dropin_waits_by_end ON dropin_waits (ended_at)",
    ),
)

# pg_advisory_lock key held while migrating: one per database, whatever the process.
# (The bytes of "cbschema"; any other user of advisory locks in the database must avoid it.)
MIGRATION_LOCK = int.from_bytes(b"cbschema", "big") & 0x7FFF_FFFF_FFFF_FFFF
# waiting for another process's migration, or running one, may take longer than a query
MIGRATION_TIMEOUT = 600.0

def _marks(n: int, first: int = 1) -> str:
    return ", ".join(f"${i}" for i in range(first, first + n))


_CALLBACK_SELECT = f"SELECT {', '.join(CALLBACK_COLUMNS)} FROM callbacks"  # noqa: S608
_CALLBACK_INSERT = (f"INSERT INTO callbacks ({', '.join(CALLBACK_COLUMNS)}) "  # noqa: S608
                    f"VALUES ({_marks(len(CALLBACK_COLUMNS))})")
_CALLBACK_UPDATE = ("UPDATE callbacks SET "  # noqa: S608
                    + ", ".join(f"{c} = ${i}" for i, c in enumerate(CALLBACK_COLUMNS[1:], 2))
                    + " WHERE id = $1")
_ATTEMPT_INSERT = (f"INSERT INTO callback_attempts ({', '.join(ATTEMPT_COLUMNS)}) "  # noqa: S608
                   f"VALUES ({_marks(len(ATTEMPT_COLUMNS))})")

_SELECT_CONTACTS = f"SELECT {', '.join(CONTACT_COLUMNS)}, satisfaction FROM contacts"  # noqa: S608
_INSERT_CONTACT = (
    f"INSERT INTO contacts ({', '.join(CONTACT_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(CONTACT_COLUMNS) + 1))}) "
    "ON CONFLICT (session_id) DO NOTHING"
)

# what "the database is not there right now" looks like: the network (OSError, including
# timeouts), SQLSTATE classes 08 (connection), 53 (resources: too many connections),
# 57 (operator intervention: shutdown, starting up), and a primary turned read-only
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.ReadOnlySQLTransactionError,
)


_INSERT_EVENT = "INSERT INTO session_events (session_id, seq, at, data) VALUES ($1,$2,$3,$4)"
_INSERT_OUTBOX = (
    "INSERT INTO webhook_outbox (event_id, session_id, type, at, url, body, next_at) "
    "VALUES ($1,$2,$3,$4,$5,$6,$4) ON CONFLICT (event_id, url) DO NOTHING"
)
_OUTBOX_RETURNING = ", ".join(f"o.{c}" for c in OUTBOX_COLUMNS)
# lease due heads; rows another process is claiming right now are skipped, not waited for
# (its lease, once committed, keeps them and the rows queued behind them out of reach)
_CLAIM_OUTBOX = (
    "WITH due AS (SELECT o.id FROM webhook_outbox o "  # noqa: S608
    f"WHERE {OUTBOX_HEAD} AND o.next_at <= $1 AND o.lease_until <= $1 "
    "ORDER BY o.next_at, o.id LIMIT $4 FOR UPDATE SKIP LOCKED) "
    "UPDATE webhook_outbox o SET lease_until = $1 + $2, claimed_by = $3, "
    "attempts = o.attempts + 1 FROM due WHERE o.id = due.id "
    f"RETURNING {_OUTBOX_RETURNING}"
)
_NEXT_DUE = ("SELECT min(GREATEST(o.next_at, o.lease_until)) "  # noqa: S608
             f"FROM webhook_outbox o WHERE {OUTBOX_HEAD}")
_OUTBOX_SELECT = f"SELECT {', '.join(OUTBOX_COLUMNS)} FROM webhook_outbox"  # noqa: S608
# the rows queued behind one that failed are not due before it is (so a claim need not
# step over them, however long the queue grows while a receiver is down)
_HOLD_BACK = ("UPDATE webhook_outbox SET next_at = GREATEST(next_at, $1) "
              "WHERE status = 'pending' AND id > $2 AND (session_id, url) = "
              "(SELECT session_id, url FROM webhook_outbox WHERE id = $2)")


async def _write_outbox(conn: _Connection, outbox: Sequence[OutboxEntry]) -> None:
    for e in outbox:
        await conn.execute(_INSERT_OUTBOX, e.event_id, e.session_id, e.type, e.at, e.url,
                           e.body)


_UNFINISHED = ("SELECT e.session_id, e.seq, e.at, e.data FROM session_events e "
               "WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE c.session_id = e.session_id) ")
_UNFINISHED_ALL = _UNFINISHED + "ORDER BY e.session_id, e.seq"
_UNFINISHED_ONE = _UNFINISHED + "AND e.session_id = $1 ORDER BY e.seq"

_OUTBOX_SUMMARY = "SELECT status, count(*), min(at) FROM webhook_outbox GROUP BY status"

_ROLLUP_MARKS = [f"${i}" for i in range(1, len(ROLLUP_COLUMNS) + 1)]
# the row is locked by the upsert: concurrent closes of one day's contacts add up
_ROLLUP_UPSERT = rollup_upsert(_ROLLUP_MARKS, "contact_days.hist || excluded.hist")
_ROLLUP_SELECT = rollup_select(("$1", "$2"))


async def _add_rollup(conn: _Connection, row: RollupRow) -> None:
    await conn.execute(_ROLLUP_UPSERT, *row.key, *row.counts, row.hist)


async def ensure_rollup(conn: _Connection, basis: RollupBasis) -> bool:
    """Rebuild the roll-up from the records there are if it was made on another basis (or
    never); True if it did. Under the migration lock: one process rebuilds, the others
    find it done."""
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK, timeout=MIGRATION_TIMEOUT)
    try:
        made = await conn.fetchrow("SELECT timezone, opening_hours FROM rollup_basis")
        if made is not None and (made["timezone"], made["opening_hours"]) == (
                basis.timezone, basis.opening_hours):
            return False
        tz, hours = basis.tz, basis.hours
        async with conn.transaction():
            oldest = await conn.fetchval("SELECT min(ended_at) FROM contacts")
            if oldest is not None:
                # days before the oldest record keep the figures they were made with
                first = local_day(oldest, tz).isoformat()
                await conn.execute("DELETE FROM contact_days WHERE day >= $1", first,
                                   timeout=MIGRATION_TIMEOUT)
                merger = Merger()
                async for r in conn.cursor(_SELECT_CONTACTS):
                    merger.add(contribution(contact_from_columns(r), tz, hours))
                await conn.executemany(rollup_insert(_ROLLUP_MARKS),
                                       [(*r.key, *r.counts, r.hist) for r in merger.rows()],
                                       timeout=MIGRATION_TIMEOUT)
                if made is not None:
                    log.warning("report basis changed (%s, %s -> %s, %s): roll-up rebuilt "
                                "from %s", made["timezone"], made["opening_hours"],
                                basis.timezone, basis.opening_hours, first)
            await conn.execute("DELETE FROM rollup_basis")
            await conn.execute("INSERT INTO rollup_basis (timezone, opening_hours) "
                               "VALUES ($1, $2)", basis.timezone, basis.opening_hours)
        return True
    finally:
        with suppress(*_UNAVAILABLE):
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)

class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer broker: this one must not write into it."""


# --- the few parts of asyncpg used here, typed (asyncpg ships no annotations)


class _Transaction(Protocol):
    async def __aenter__(self) -> Any: ...

    async def __aexit__(self, *exc: object) -> bool | None: ...


class _Connection(Protocol):
    # asyncpg's own signature: a per-call limit in place of the pool's command_timeout
    async def execute(self, query: str, *args: Any,
                      timeout: float | None = None) -> str: ...  # noqa: ASYNC109

    async def fetch(self, query: str, *args: Any) -> list[Mapping[str, Any]]: ...

    async def fetchrow(self, query: str, *args: Any) -> Mapping[str, Any] | None: ...

    async def fetchval(self, query: str, *args: Any) -> Any: ...

    def transaction(self) -> _Transaction: ...

    def cursor(self, query: str, *args: Any) -> AsyncIterator[Mapping[str, Any]]: ...

    async def executemany(self, query: str, args: Sequence[Sequence[Any]], *,
                          timeout: float | None = None) -> None: ...  # noqa: ASYNC109

    async def set_type_codec(self, typename: str, *, encoder: Any, decoder: Any,
                             schema: str) -> None: ...


class _Pool(Protocol):
    def acquire(self, *, timeout: float | None = None
                ) -> AbstractAsyncContextManager[_Connection]: ...

    async def close(self) -> None: ...


def describe(dsn: str) -> str:
    """The DSN as it may be printed: password removed, from the userinfo and the query."""
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgresql", "postgres"):
        return "(not a postgresql:// URL)"  # key=value text: nothing in it is safe to show
    netloc = parts.netloc.rpartition("@")[2]
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if "password" not in k.lower()],
                      safe="/")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _dumps(value: Any) -> str:
    # no NaN/Infinity: jsonb refuses them, and a bare ValueError beats a server round trip
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


async def _init_connection(conn: _Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=_dumps, decoder=json.loads, schema="pg_catalog")


def _contact_args(r: ContactRecord) -> tuple[Any, ...]:
    return tuple(contact_values(r).values())  # segments go in as jsonb


async def migrate(conn: _Connection) -> int:
    """Bring the schema up to date under the migration lock; returns the version it is at.

    Several processes may call this at once: the first takes the lock and migrates, the
    others wait for it and then find nothing left to do. Each version is one transaction.
    """
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK, timeout=MIGRATION_TIMEOUT)
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
        version = int(await conn.fetchval("SELECT max(version) FROM schema_version") or 0)
        if version > len(MIGRATIONS):
            raise SchemaTooNew(f"database schema {version} is newer than this broker knows "
                               f"({len(MIGRATIONS)}): upgrade the broker")
        for number, statements in enumerate(MIGRATIONS[version:], start=version + 1):
            async with conn.transaction():
                for statement in statements:
                    await conn.execute(statement, timeout=MIGRATION_TIMEOUT)
                await conn.execute("DELETE FROM schema_version")
                await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", number)
            log.info("contact log schema migrated to version %s", number)
            version = number
        return version
    finally:
        # a lost connection has released it already (and so does the pool's reset on release)
        with suppress(*_UNAVAILABLE):
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)


class PostgresContactLog:
    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 5,
                 command_timeout: float = 10.0, connect_timeout: float = 5.0,
                 basis: RollupBasis = DEFAULT_BASIS) -> None:
        self._dsn = dsn
        self.basis = basis
        self._min_size = min_size
        self._max_size = max_size
        self._command_timeout = command_timeout
        self._connect_timeout = connect_timeout
        self._pool: _Pool | None = None
        self._down = False  # an outage is logged once, and so is the recovery
        self.on_outbox: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return f"PostgresContactLog({describe(self._dsn)!r})"

    async def open(self) -> None:
        try:
            pool: _Pool = await asyncpg.create_pool(
                self._dsn, min_size=self._min_size, max_size=self._max_size,
                command_timeout=self._command_timeout, timeout=self._connect_timeout,
                init=_init_connection,
                server_settings={"application_name": "counselling-broker"},
            )
        except _UNAVAILABLE as exc:
            raise ContactLogUnavailable(
                f"cannot reach the contact database {describe(self._dsn)}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        try:
            async with pool.acquire(timeout=self._connect_timeout) as conn:
                await migrate(conn)
                await ensure_rollup(conn, self.basis)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[_Connection]:
        """A pooled connection; an unreachable database becomes `ContactLogUnavailable`."""
        if self._pool is None:
            raise RuntimeError("contact log is not open")
        try:
            async with self._pool.acquire(timeout=self._connect_timeout) as conn:
                yield conn
        except _UNAVAILABLE as exc:
            if not self._down:
                self._down = True
                log.warning("contact log unavailable: %s: %s", type(exc).__name__, exc)
            raise ContactLogUnavailable() from exc
        if self._down:
            self._down = False
            log.warning("contact log reachable again")

    def _outbox_written(self, outbox: Sequence[OutboxEntry]) -> None:
        if outbox and self.on_outbox is not None:
            self.on_outbox()

    async def append(self, session_id: str, seq: int, at: float, data: dict[str, Any],
                     outbox: Sequence[OutboxEntry] = ()) -> None:
        async with self._connection() as conn:
            try:
                if not outbox:  # one statement: its own transaction, one round trip
                    await conn.execute(_INSERT_EVENT, session_id, seq, at, data)
                else:
                    async with conn.transaction():
                        await conn.execute(_INSERT_EVENT, session_id, seq, at, data)
                        await _write_outbox(conn, outbox)
            except asyncpg.UniqueViolationError:
                raise Conflict(f"step {seq} of session {session_id} is logged already") from None
        self._outbox_written(outbox)

    async def close_session(self, record: ContactRecord,
                            outbox: Sequence[OutboxEntry] = ()) -> bool:
        args = _contact_args(record)
        async with self._connection() as conn, conn.transaction():
            status = await conn.execute(_INSERT_CONTACT, *args)
            written = status == "INSERT 0 1"
            if written:  # a second close causes no second event, no second count
                await _write_outbox(conn, outbox)
                await _add_rollup(conn, contribution(record.to_dict(), self.basis.tz,
                                                     self.basis.hours))
            await conn.execute("DELETE FROM session_events WHERE session_id = $1",
                               record.session_id)
        if written:
            self._outbox_written(outbox)
        return written

    async def unfinished(self, session_id: str | None = None) -> dict[str, list[LoggedEvent]]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                _UNFINISHED_ALL if session_id is None else _UNFINISHED_ONE,
                *(() if session_id is None else (session_id,)),
            )
        out: dict[str, list[LoggedEvent]] = {}
        for r in rows:
            out.setdefault(r["session_id"], []).append(LoggedEvent(r["seq"], r["at"], r["data"]))
        return out

    async def heartbeat(self, node: str, at: float) -> None:
        async with self._connection() as conn:
            await conn.execute(
                "INSERT INTO heartbeat (node, at) VALUES ($1, $2) "
                "ON CONFLICT (node) DO UPDATE SET at = excluded.at",
                node, at,
            )

    async def last_heartbeat(self, live_only: bool = False) -> float | None:
        query = "SELECT max(at) FROM heartbeat"
        if live_only:
            query += " WHERE node NOT LIKE 'stopped:%'"
        async with self._connection() as conn:
            at = await conn.fetchval(query)
        return None if at is None else float(at)

    async def retire(self, node: str, at: float) -> None:
        async with self._connection() as conn, conn.transaction():
            await conn.execute("DELETE FROM heartbeat WHERE node LIKE 'stopped:%'")
            await conn.execute("UPDATE heartbeat SET node = $1, at = $2 WHERE node = $3",
                               "stopped:" + node, at, node)

    async def rate(self, session_id: str, score: int) -> bool:
        async with self._connection() as conn, conn.transaction():
            rated = await conn.fetchrow(
                "UPDATE contacts SET satisfaction = $1 "
                "WHERE session_id = $2 AND satisfaction IS NULL "
                "RETURNING team, kind, ended_at, admitted_at, video_seconds, audio_seconds, "
                "phone_seconds", score, session_id)
            if rated is None:
                return False
            record = dict(rated)
            record["seconds"] = {c: record.pop(f"{c}_seconds") for c in ("video", "audio",
                                                                          "phone")}
            share = rating_contribution(record, score, self.basis.tz)
            if share is not None:
                await _add_rollup(conn, share)
        return True

    async def is_closed(self, session_id: str) -> bool:
        async with self._connection() as conn:
            found = await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM contacts WHERE session_id = $1)", session_id
            )
        return bool(found)

    async def contact(self, session_id: str) -> dict[str, Any] | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(f"{_SELECT_CONTACTS} WHERE session_id = $1", session_id)
        return None if row is None else contact_from_columns(row)

    async def contacts(
        self, since: float, until: float, teams: frozenset[str] | None = None,
        counsellor: str | None = None,
    ) -> list[dict[str, Any]]:
        sql = f"{_SELECT_CONTACTS} WHERE ended_at >= $1 AND ended_at < $2"
        args: list[Any] = [since, until]
        if teams is not None:
            args.append(sorted(teams))
            sql += f" AND team = ANY(${len(args)}::text[])"
        if counsellor is not None:
            args.append(counsellor)
            sql += f" AND counsellor = ${len(args)}"
        sql += " ORDER BY ended_at, session_id"
        async with self._connection() as conn:
            rows = await conn.fetch(sql, *args)
        return [contact_from_columns(r) for r in rows]

    async def skills(self, staff_id: str) -> Skills | None:
        async with self._connection() as conn:
            row = await conn.fetchrow("SELECT teams, topics, languages FROM staff_skills "
                                      "WHERE staff_id = $1", staff_id)
        return None if row is None else skills_from_columns(*row.values())

    async def set_skills(self, staff_id: str, skills: Skills, at: float) -> None:
        async with self._connection() as conn:
            await conn.execute(
                "INSERT INTO staff_skills (staff_id, teams, topics, languages, updated_at) "
                "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (staff_id) DO UPDATE "
                "SET teams = excluded.teams, topics = excluded.topics, "
                "languages = excluded.languages, updated_at = excluded.updated_at",
                staff_id, *skills_to_columns(skills), at)

    async def all_skills(self) -> dict[str, Skills]:
        async with self._connection() as conn:
            rows = await conn.fetch("SELECT staff_id, teams, topics, languages FROM staff_skills")
        return {r["staff_id"]: skills_from_columns(r["teams"], r["topics"], r["languages"])
                for r in rows}

    async def rollup(self, first_day: str, end_day: str,
                     teams: frozenset[str] | None = None) -> RollupColumns:
        sql, args = _ROLLUP_SELECT, [first_day, end_day]
        if teams is not None:
            sql += " AND team = ANY($3::text[])"
        async with self._connection() as conn:
            rows = await conn.fetch(sql, *args, *([] if teams is None else [sorted(teams)]))
        return RollupColumns.of_tuples([tuple(r.values()) for r in rows])

    async def purge_contacts(self, ended_before: float) -> int:
        async with self._connection() as conn:
            status = await conn.execute("DELETE FROM contacts WHERE ended_at < $1",
                                        ended_before)
        return int(status.rsplit(" ", 1)[-1])

    # ------------------------------------------------------------ callback requests

    async def add_callback(self, request: CallbackRequest) -> None:
        async with self._connection() as conn:
            await conn.execute(_CALLBACK_INSERT, *callback_values(request))

    async def callback(self, callback_id: str) -> CallbackRequest | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(f"{_CALLBACK_SELECT} WHERE id = $1", callback_id)
        return None if row is None else callback_from_row(row)

    async def change_callback(self, callback_id: str,
                              step: Callable[[CallbackRequest], Change]) -> CallbackRequest:
        async with self._connection() as conn, conn.transaction():
            # FOR UPDATE: a concurrent step on this row waits here and then reads ours
            row = await conn.fetchrow(f"{_CALLBACK_SELECT} WHERE id = $1 FOR UPDATE",
                                      callback_id)
            if row is None:
                raise NotFound("callback request")
            before = callback_from_row(row)
            change = step(before)
            if change.request != before:
                await conn.execute(_CALLBACK_UPDATE, *callback_values(change.request))
            if change.attempt is not None:
                await conn.execute(_ATTEMPT_INSERT, *attempt_values(change.attempt))
        return change.request

    async def unsettled_callbacks(self, teams: frozenset[str] | None = None
                                  ) -> list[CallbackRequest]:
        sql, args = f"{_CALLBACK_SELECT} WHERE {UNSETTLED}", []
        if teams is not None:
            sql += " AND team = ANY($1::text[])"
            args.append(sorted(teams))
        async with self._connection() as conn:
            rows = await conn.fetch(sql + " ORDER BY deadline, created_at", *args)
        return [callback_from_row(r) for r in rows]

    async def callback_of_session(self, session_id: str) -> CallbackRequest | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(f"{_CALLBACK_SELECT} WHERE session_id = $1", session_id)
        return None if row is None else callback_from_row(row)

    async def callbacks_closed(self, since: float, until: float,
                               teams: frozenset[str] | None = None) -> list[CallbackRequest]:
        sql = f"{_CALLBACK_SELECT} WHERE closed_at >= $1 AND closed_at < $2"
        args: list[Any] = [since, until]
        if teams is not None:
            sql += " AND team = ANY($3::text[])"
            args.append(sorted(teams))
        async with self._connection() as conn:
            rows = await conn.fetch(sql + " ORDER BY closed_at", *args)
        return [callback_from_row(r) for r in rows]

    async def callback_attempts(self, callback_id: str) -> list[Attempt]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                f"SELECT {', '.join(ATTEMPT_COLUMNS)} FROM callback_attempts "  # noqa: S608
                "WHERE callback_id = $1 ORDER BY at", callback_id)
        return [attempt_from_row(r) for r in rows]

    async def purge_callbacks(self, closed_before: float) -> int:
        async with self._connection() as conn, conn.transaction():
            await conn.execute("DELETE FROM dropin_waits WHERE ended_at < $1", closed_before)
            status = await conn.execute("DELETE FROM callbacks WHERE closed_at < $1",
                                        closed_before)
        return int(status.rsplit(" ", 1)[-1])

    # ------------------------------------------------------------ drop-in waits

    async def add_wait(self, wait: Wait) -> None:
        async with self._connection() as conn:
            await conn.execute(
                f"INSERT INTO dropin_waits ({', '.join(WAIT_COLUMNS)}) "  # noqa: S608
                f"VALUES ({_marks(len(WAIT_COLUMNS))})", wait.team, wait.topic, wait.language,
                wait.joined_at, wait.ended_at, wait.answered)

    async def waits(self, since: float, until: float,
                    teams: frozenset[str] | None = None) -> list[Wait]:
        sql = (f"SELECT {', '.join(WAIT_COLUMNS)} FROM dropin_waits "  # noqa: S608
               "WHERE ended_at >= $1 AND ended_at < $2")
        args: list[Any] = [since, until]
        if teams is not None:
            sql += " AND team = ANY($3::text[])"
            args.append(sorted(teams))
        async with self._connection() as conn:
            rows = await conn.fetch(sql + " ORDER BY ended_at", *args)
        return [wait_from_row(r) for r in rows]

    # ------------------------------------------------------------ webhook outbox

    async def claim_outbox(self, node: str, now: float, lease_seconds: float,
                           limit: int = 50) -> list[OutboxRow]:
        async with self._connection() as conn:
            rows = await conn.fetch(_CLAIM_OUTBOX, now, lease_seconds, node, limit)
        return sorted((outbox_row(r) for r in rows), key=lambda r: (r.next_at, r.id))

    async def outbox_delivered(self, row_id: int, now: float) -> None:
        async with self._connection() as conn:
            await conn.execute("UPDATE webhook_outbox SET status = 'delivered', done_at = $1, "
                               "lease_until = 0, last_error = '' WHERE id = $2", now, row_id)

    async def outbox_failed(self, row_id: int, now: float, retry_at: float | None,
                            error: str) -> None:
        async with self._connection() as conn:
            if retry_at is None:
                await conn.execute(
                    "UPDATE webhook_outbox SET status = $1, done_at = $2, lease_until = 0, "
                    "last_error = $3 WHERE id = $4 AND status = $5",
                    GAVE_UP, now, error, row_id, PENDING)
            else:
                async with conn.transaction():
                    await conn.execute(
                        "UPDATE webhook_outbox SET next_at = $1, lease_until = 0, "
                        "last_error = $2 WHERE id = $3 AND status = $4",
                        retry_at, error, row_id, PENDING)
                    await conn.execute(_HOLD_BACK, retry_at, row_id)

    async def release_outbox_leases(self) -> int:
        async with self._connection() as conn:
            status = await conn.execute("UPDATE webhook_outbox SET lease_until = 0 "
                                        "WHERE status = 'pending' AND lease_until > 0")
        return int(status.rsplit(" ", 1)[-1])

    async def outbox_next_due(self) -> float | None:
        async with self._connection() as conn:
            due = await conn.fetchval(_NEXT_DUE)
        return None if due is None else float(due)

    async def purge_outbox(self, settled_before: float) -> int:
        async with self._connection() as conn:
            status = await conn.execute("DELETE FROM webhook_outbox WHERE status <> 'pending' "
                                        "AND done_at < $1", settled_before)
        return int(status.rsplit(" ", 1)[-1])

    async def outbox_summary(self) -> dict[str, tuple[int, float]]:
        async with self._connection() as conn:
            rows = await conn.fetch(_OUTBOX_SUMMARY)
        return {r["status"]: (int(r["count"]), float(r["min"])) for r in rows}

    async def outbox_rows(self, session_id: str | None = None) -> list[OutboxRow]:
        async with self._connection() as conn:
            if session_id is None:
                rows = await conn.fetch(f"{_OUTBOX_SELECT} ORDER BY id")
            else:
                rows = await conn.fetch(f"{_OUTBOX_SELECT} WHERE session_id = $1 ORDER BY id",
                                        session_id)
        return [outbox_row(r) for r in rows]
