"""A grouped contact report over N records: how long reading and aggregating take.

Generates N contact records over 365 days into a throwaway SQLite file (or, with
`--database-url`, into an empty PostgreSQL database), lets the contact log build its daily
roll-up from them (as after an upgrade), then times what `GET /api/reports` does for a
year (`web.reports.report_of`, plus the JSON encoding) for several groupings. `--baseline`
also times the old way, every record read and aggregated, for the first grouping.

    .venv/bin/python -m bench.report --records 1000000 [--group-by day,team,channel ...]
    .venv/bin/python -m bench.report --records 1000000 --postgres   (or --database-url …)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sqlite3
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from broker.contactlog.base import CONTACT_COLUMNS, ContactLog
from broker.contactlog.postgres import PostgresContactLog
from broker.contactlog.sqlite import SqliteContactLog
from broker.report import build_report, parse_group_by, parse_opening_hours
from web.reports import report_of

TZ = ZoneInfo("Europe/Berlin")
START = datetime(2025, 11, 1, tzinfo=TZ).timestamp()
DAYS = 365


def rows(n: int, seed: int = 1) -> list[tuple[Any, ...]]:
    """n contact rows in CONTACT_COLUMNS order, spread over DAYS days."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ended = START + rng.random() * DAYS * 86400
        admitted: float | None = ended - rng.uniform(60, 3600)
        state, reason = "ended", "completed"
        roll = rng.random()
        if roll < 0.1:
            state, reason, admitted = "no_show", "no_show", None
        elif roll < 0.15:
            state, reason, admitted = "cancelled", "cancelled", None
        elif roll < 0.2:
            reason = "connection_failed"
        seconds = [0.0, 0.0, 0.0]
        segments: list[list[Any]] = []
        if admitted is not None:
            c = rng.randrange(3)
            seconds[c] = round(ended - admitted, 3)
            segments = [[("video", "audio", "phone")[c], admitted, ended]]
        values = {
            "session_id": f"s{i:09d}", "team": f"t{i % 40}", "counsellor": f"c{i % 1000}",
            "customer_ref": f"K-{i}", "kind": "scheduled", "state": state,
            "planned_channel": "video", "planned_start": ended - 3600,
            "created_at": ended - 86400, "joined_at": None if admitted is None else admitted - 60,
            "admitted_at": admitted, "media_connected_at": admitted, "ended_at": ended,
            "end_reason": reason, "video_seconds": seconds[0], "audio_seconds": seconds[1],
            "phone_seconds": seconds[2], "waiting_seconds": None if admitted is None else 60.0,
            "setup_seconds": None, "fallback_used": rng.random() < 0.1,
            "segments": json.dumps(segments),
        }
        out.append(tuple(values[c] for c in CONTACT_COLUMNS))
    return out


def fill_sqlite(path: Path, data: list[tuple[Any, ...]]) -> None:
    db = sqlite3.connect(path)
    marks = ",".join("?" * len(CONTACT_COLUMNS))
    with db:
        db.executemany(f"INSERT INTO contacts ({','.join(CONTACT_COLUMNS)}) "  # noqa: S608
                       f"VALUES ({marks})", data)
    db.close()


async def fill_postgres(dsn: str, data: list[tuple[Any, ...]]) -> None:
    import asyncpg  # type: ignore[import-untyped]

    conn: Any = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table("contacts", columns=list(CONTACT_COLUMNS),
                                         records=data)
    finally:
        await conn.close()


async def open_log(args: argparse.Namespace, tmp: str) -> ContactLog:
    if args.database_url:
        return PostgresContactLog(args.database_url)
    return SqliteContactLog(Path(tmp) / "contacts.sqlite3")


async def forget_rollup(args: argparse.Namespace, tmp: str) -> None:
    """As if the database came from before the roll-up: the next open rebuilds it."""
    if args.database_url:
        import asyncpg

        conn: Any = await asyncpg.connect(args.database_url)
        try:
            await conn.execute("DELETE FROM rollup_basis")
        finally:
            await conn.close()
    else:
        db = sqlite3.connect(Path(tmp) / "contacts.sqlite3")
        with db:
            db.execute("DELETE FROM rollup_basis")
        db.close()


async def run(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    data = rows(args.records)
    with tempfile.TemporaryDirectory(prefix="cb-bench-report-") as tmp:
        log = await open_log(args, tmp)
        await log.open()  # creates the schema
        await log.close()
        if args.database_url:
            await fill_postgres(args.database_url, data)
        else:
            await asyncio.to_thread(fill_sqlite, Path(tmp) / "contacts.sqlite3", data)
        del data
        print(f"{args.records} records written in {time.perf_counter() - started:.1f} s")
        await forget_rollup(args, tmp)
        t0 = time.perf_counter()
        log = await open_log(args, tmp)
        await log.open()  # builds the roll-up from the records, as after an upgrade
        print(f"roll-up built from the records in {time.perf_counter() - t0:.1f} s")
        hours = parse_opening_hours("Mon-Fri 08:00-18:00")
        since, until = START, START + DAYS * 86400
        print(f"{'group by':<22} {'rows':>7} {'best':>7} {'median':>7}")
        try:
            for text in args.group_by:
                group_by = parse_group_by(text)
                times = []
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    report = await report_of(log, since=since, until=until,
                                             timezone="Europe/Berlin", group_by=group_by,
                                             hours=hours, teams=None, kept_since=0.0)
                    body = json.dumps(report)
                    times.append(time.perf_counter() - t0)
                print(f"{text or '(none)':<22} {len(report['rows']):>7} {min(times):>6.2f}s "
                      f"{statistics.median(times):>6.2f}s  ({len(body) / 1e6:.1f} MB JSON, "
                      f"{report['total']['contacts']} contacts)")
            if args.baseline:
                group_by = parse_group_by(args.group_by[0])
                t0 = time.perf_counter()
                records = await log.contacts(since, until)
                report = build_report(records, since=since, until=until,
                                      timezone="Europe/Berlin", group_by=group_by, hours=hours)
                json.dumps(report)
                base = time.perf_counter() - t0
                print(f"baseline (every record read and aggregated), "
                      f"{args.group_by[0] or '(none)'}: {base:.2f} s")
        finally:
            await log.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory {peak:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.report")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--group-by", action="append",
                        help="a grouping to time (repeatable; default: several)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", action="store_true",
                        help="also time the first grouping from single records (slow)")
    parser.add_argument("--database-url", default="",
                        help="an EMPTY PostgreSQL database (its contacts table is filled)")
    parser.add_argument("--postgres", action="store_true",
                        help="start a throwaway PostgreSQL server (as the tests do) and use it")
    args = parser.parse_args()
    args.group_by = args.group_by or ["", "team,channel", "month,team,channel", "week,channel",
                                      "day,team,channel"]
    if not args.postgres:
        asyncio.run(run(args))
        return
    from tests.pg import start_server

    server = start_server()
    try:
        args.database_url = asyncio.run(server.create_database("bench"))
        asyncio.run(run(args))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
