"""A grouped contact report over N records: how long reading and aggregating take.

Generates N contact records over 365 days into a throwaway SQLite file (or, with
`--database-url`, into an empty PostgreSQL database), then times what `GET /api/reports`
does: `ContactLog.contacts()` for the whole period, then `broker.report.build_report`.

    .venv/bin/python -m bench.report --records 1000000 [--group-by day,team,channel]
    .venv/bin/python -m bench.report --records 100000 --database-url postgresql://…
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sqlite3
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


async def run(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    data = rows(args.records)
    log: ContactLog
    with tempfile.TemporaryDirectory(prefix="cb-bench-report-") as tmp:
        if args.database_url:
            log = PostgresContactLog(args.database_url)
            await log.open()
            await fill_postgres(args.database_url, data)
        else:
            path = Path(tmp) / "contacts.sqlite3"
            log = SqliteContactLog(path)
            await log.open()
            await asyncio.to_thread(fill_sqlite, path, data)
        del data
        print(f"{args.records} records written in {time.perf_counter() - started:.1f} s")
        group_by = parse_group_by(args.group_by)
        hours = parse_opening_hours("Mon-Fri 08:00-18:00")
        since, until = START, START + DAYS * 86400
        try:
            for attempt in range(args.runs):
                t0 = time.perf_counter()
                records = await log.contacts(since, until)
                t1 = time.perf_counter()
                report = build_report(records, since=since, until=until,
                                      timezone="Europe/Berlin", group_by=group_by, hours=hours)
                t2 = time.perf_counter()
                del records
                print(f"run {attempt + 1}: read {t1 - t0:.2f} s, aggregate {t2 - t1:.2f} s, "
                      f"total {t2 - t0:.2f} s ({len(report['rows'])} rows, "
                      f"{report['total']['contacts']} contacts)")
        finally:
            await log.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory {peak:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.report")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--group-by", default="day,team,channel")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--database-url", default="",
                        help="an EMPTY PostgreSQL database (its contacts table is filled)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
