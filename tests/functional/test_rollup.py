"""The daily roll-up and retention, on SQLite and PostgreSQL.

Reports read whole local days from the roll-up the contact log writes with each record and
rating, and the partial days at a period's edges from the records themselves. Every answer
here is checked against the figures tests/unit/test_report.py computes on its own from the
generated contacts (around the 2026-10-25 clock change): however a period is cut, after
ratings, after retention has deleted records, after the roll-up was rebuilt.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from broker.contactlog.base import ContactLog
from broker.errors import BadInput
from broker.rollup import DEFAULT_BASIS, RollupBasis
from broker.types import Role
from tests.conftest import MakeBroker
from tests.contract.conftest import Backend, backend, postgres_server  # noqa: F401 - fixtures
from tests.functional.test_reports import command_line_environment, sqlite_log_with_contacts
from tests.unit.test_report import (
    CASES,
    HOURS,
    SINCE,
    TZ,
    TZ_NAME,
    UNTIL,
    Case,
    check_report,
    local,
)
from web import cli
from web.reports import report_of

STORED = [dataclasses.replace(c, satisfaction=None) for c in CASES]


async def fill(log: ContactLog, cases: list[Case] = STORED, *, at_once: bool = False) -> None:
    if at_once:  # many closes at the same time: PostgreSQL runs them on several connections
        assert all(await asyncio.gather(*(log.close_session(c.record) for c in cases)))
    else:
        for case in cases:
            assert await log.close_session(case.record)


def within(cases: list[Case], since: float, until: float) -> list[Case]:
    """The cases as the oracle sees them for another period."""
    return [dataclasses.replace(c, in_period=since <= c.record.ended_at < until)
            for c in cases]


async def report(log: ContactLog, since: float, until: float, group_by: tuple[str, ...],
                 kept_since: float = 0.0, teams: frozenset[str] | None = None
                 ) -> dict[str, Any]:
    return await report_of(log, since=since, until=until, timezone=TZ_NAME, group_by=group_by,
                           hours=HOURS, teams=teams, kept_since=kept_since)


PERIODS = [
    ("whole days", SINCE, UNTIL),
    # partial first and last day around whole days, one of them the 25-hour day
    ("ragged edges", local(date(2026, 10, 19), 12, 30, 0), local(date(2026, 11, 1), 6, 0, 0)),
    ("inside one day", local(date(2026, 10, 26), 8, 0, 0), local(date(2026, 10, 26), 17, 0, 0)),
    ("across the doubled hour", local(date(2026, 10, 25), 2, 15, 0, fold=0),
     local(date(2026, 10, 27), 2, 45, 0)),
    ("one whole day", local(date(2026, 10, 25), 0, 0, 0), local(date(2026, 10, 26), 0, 0, 0)),
]


@pytest.mark.parametrize(("name", "since", "until"), PERIODS, ids=[p[0] for p in PERIODS])
async def test_any_period_gives_the_expected_figures(backend: Backend, name: str,  # noqa: F811
                                                     since: float, until: float) -> None:
    """Whole days from the roll-up and edges from the records add up to the figures of
    exactly the records in the period, for every grouping that uses the roll-up."""
    log = await backend.open()
    await fill(log, at_once=True)
    for group_by in [(), ("day", "channel"), ("week", "team", "kind"), ("month", "channel")]:
        check_report(await report(log, since, until, group_by), within(STORED, since, until),
                     group_by)


async def test_a_second_close_adds_nothing(backend: Backend) -> None:  # noqa: F811
    log = await backend.open()
    await fill(log)
    for case in STORED[:50]:
        assert not await log.close_session(case.record)
    check_report(await report(log, SINCE, UNTIL, ("day",)), STORED, ("day",))


async def test_ratings_given_after_the_call_count_once(backend: Backend) -> None:  # noqa: F811
    """A rating lands in the roll-up with the record's day; a second one is refused and
    counts nothing; ratings of records that were no contact are kept but not counted."""
    log = await backend.open()
    await fill(log)
    rated = [c for c in CASES if c.satisfaction is not None]
    assert len(rated) > 20
    for case in rated:
        assert case.satisfaction is not None
        assert await log.rate(case.record.session_id, case.satisfaction)
        assert not await log.rate(case.record.session_id, 1)
    no_contact = next(c for c in STORED if c.record.admitted_at is None and c.in_period)
    assert await log.rate(no_contact.record.session_id, 5)
    for group_by in [(), ("day", "team"), ("channel",)]:
        check_report(await report(log, SINCE, UNTIL, group_by), CASES, group_by)


async def test_retention_deletes_records_and_keeps_their_figures(
        backend: Backend) -> None:  # noqa: F811
    log = await backend.open()
    await fill(log)
    cutoff = local(date(2026, 10, 26), 0, 0, 0)  # a Monday: the week starts half gone
    gone = [c for c in STORED if c.record.ended_at < cutoff]
    assert await log.purge_contacts(cutoff) == len(gone) > 100
    assert await log.contacts(0, cutoff) == []
    assert await log.contact(gone[0].record.session_id) is None
    assert await log.purge_contacts(cutoff) == 0
    # whole days: the roll-up still has every record
    for group_by in [(), ("week", "channel"), ("day",)]:
        check_report(await report(log, SINCE, UNTIL, group_by, kept_since=cutoff), STORED,
                     group_by)
    # what would need deleted records is refused, not answered short
    ragged = local(date(2026, 10, 20), 9, 0, 0)
    with pytest.raises(BadInput, match="before 2026-10-26"):
        await report(log, ragged, UNTIL, (), kept_since=cutoff)
    with pytest.raises(BadInput, match="counsellor"):
        await report(log, SINCE, UNTIL, ("counsellor",), kept_since=cutoff)
    # from the cutoff on, records are all there: counsellors and ragged edges work
    late = local(date(2026, 10, 28), 13, 0, 0)
    for group_by in [("counsellor",), ("day", "kind")]:
        check_report(await report(log, cutoff, late, group_by, kept_since=cutoff),
                     within(STORED, cutoff, late), group_by)


async def test_the_rollup_follows_a_change_of_opening_hours(
        backend: Backend) -> None:  # noqa: F811
    """Another basis rebuilds the roll-up from the records there are; back again, the
    figures are the expected ones again."""
    log = await backend.open()
    await fill(log)
    await log.close()
    always = await backend.open(RollupBasis(TZ_NAME, "Mon-Sun 00:00-24:00"))
    got = await report(always, SINCE, UNTIL, ("day",))
    assert got["total"]["outside_hours_share"] == 0.0
    assert got["total"]["contacts"] == sum(c.record.admitted_at is not None for c in STORED
                                           if c.in_period)
    await always.close()
    again = await backend.open(DEFAULT_BASIS)
    check_report(await report(again, SINCE, UNTIL, ("day", "channel")), STORED,
                 ("day", "channel"))


async def test_a_log_from_before_the_rollup_gets_one(backend: Backend) -> None:  # noqa: F811
    """A database whose records were written before the roll-up existed (schema 3) has it
    built on open; opening again does not add the records twice."""
    log = await backend.open()
    await fill(log)
    await log.close()
    await backend.sql("DELETE FROM contact_days; DELETE FROM rollup_basis;")
    for _ in range(2):
        reopened = await backend.open()
        check_report(await report(reopened, SINCE, UNTIL, ("week", "team")), STORED,
                     ("week", "team"))
        await reopened.close()


def test_purge_command(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                       monkeypatch: pytest.MonkeyPatch) -> None:
    """`counselling-broker purge` deletes what is past CB_RETENTION_DAYS (here one day:
    every generated record, all from 2026); a whole-day report still has every figure and
    one by counsellor is refused."""
    command_line_environment(monkeypatch)
    monkeypatch.setenv("CB_RETENTION_DAYS", "1")
    asyncio.run(sqlite_log_with_contacts(tmp_path))
    assert datetime.now(TZ).date() - timedelta(days=1) > date(2026, 11, 2)
    assert cli.main(["purge", "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith(f"{len(STORED)} contact records deleted")
    base = ["report", "--data-dir", str(tmp_path), "--from", "2026-10-19", "--to", "2026-11-02"]
    assert cli.main([*base, "--group-by", "month,channel"]) == 0
    check_report(json.loads(capsys.readouterr().out), STORED, ("month", "channel"))
    assert cli.main([*base, "--group-by", "counsellor"]) == 2
    assert "retention" in capsys.readouterr().err


async def test_many_records_of_one_day_add_up(backend: Backend) -> None:  # noqa: F811
    """Hundreds of records in one (day, team, kind, channel) row, closed concurrently:
    the packed values of every one are there (the p90 of 1..n seconds is exact)."""
    log = await backend.open()
    rng = random.Random(7)
    base = STORED[0].record
    noon = local(date(2026, 10, 21), 12, 0, 0)
    n = 400
    seconds = list(range(1, n + 1))
    rng.shuffle(seconds)
    records = [dataclasses.replace(
        base, session_id=f"same-{i}", team="t9", ended_at=noon + i, admitted_at=noon - 4000,
        seconds={"video": float(s), "audio": 0.0, "phone": 0.0}, waiting_seconds=float(s % 7),
        state=base.state, end_reason=base.end_reason) for i, s in enumerate(seconds)]
    assert all(await asyncio.gather(*(log.close_session(r) for r in records)))
    day = (await report(log, SINCE, UNTIL, ("team",), teams=frozenset({"t9"})))["rows"]
    assert len(day) == 1
    video = day[0]["seconds"]["video"]
    assert video == {"total": n * (n + 1) / 2, "mean": (n + 1) / 2, "median": n / 2,
                     "p90": 0.9 * n}
    assert day[0]["waiting_seconds"]["p90"] == 6.0


async def test_a_running_broker_deletes_what_is_past_retention(
        tmp_path: Path, make_broker: MakeBroker) -> None:
    """A broker started on a log with old records deletes them at start (then hourly), and
    still reports their whole days over HTTP."""
    data = tmp_path / "old"
    await sqlite_log_with_contacts(data)
    broker = await make_broker(data_dir=data, retention_days=1)
    contacts = broker.service.contacts
    for _ in range(100):
        if not await contacts.contacts(0, 2e9):
            break
        await asyncio.sleep(0.05)
    assert await contacts.contacts(0, 2e9) == []
    admin = broker.staff_token("a1", Role.ADMIN)
    async with aiohttp.ClientSession() as http:
        url = broker.url + "/api/reports"
        query = {"from": "2026-10-19", "to": "2026-11-02", "group_by": "week,channel"}
        async with http.get(url, params=query,
                            headers={"Authorization": f"Bearer {admin}"}) as resp:
            assert resp.status == 200
            check_report(await resp.json(), STORED, ("week", "channel"))
        async with http.get(url, params={**query, "group_by": "counsellor"},
                            headers={"Authorization": f"Bearer {admin}"}) as resp:
            err = await resp.json()
            assert resp.status == 400 and err["error"]["code"] == "bad_request"
            assert "retention" in err["error"]["message"]
