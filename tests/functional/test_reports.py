"""`GET /api/reports` and `counselling-broker report` over real contact logs.

The generated contacts of tests/unit/test_report.py (around the 2026-10-25 clock change,
period edges, every end state) are written with `close_session` into a broker's SQLite log,
into PostgreSQL, and into a SQLite file the command line reads; every answer is checked
against the figures that file computes independently. CSV in both dialects is read back
with `csv` and must give the JSON's numbers. Access: supervisors their teams, admins all,
everybody else 403.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from broker.config import ConfigError
from broker.contactlog.base import ContactLog
from broker.contactlog.sqlite import SqliteContactLog
from broker.report import figure_columns
from broker.types import Role
from tests.conftest import Broker, MakeBroker, settings_for
from tests.contract.conftest import Backend, backend, postgres_server  # noqa: F401 - fixtures
from tests.unit.test_report import (
    CASES,
    GROUPINGS,
    HOURS,
    SINCE,
    TZ_NAME,
    UNTIL,
    Case,
    check_report,
)
from web import cli
from web.app import create_app
from web.reports import report_of

# the log stores no rating yet: the expectations must not count any
STORED = [dataclasses.replace(c, satisfaction=None) for c in CASES]
PERIOD = {"from": "2026-10-19", "to": "2026-11-02"}


async def fill(log: ContactLog) -> None:
    for case in STORED:
        assert await log.close_session(case.record)


async def get(broker: Broker, token: str | None, **query: str) -> tuple[int, str, Any]:
    """(status, content type, body: parsed JSON, or the raw bytes of anything else)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(
        broker.url + "/api/reports", params=query, headers=headers
    ) as resp:
        raw = await resp.read()
        if resp.content_type == "application/json":
            return resp.status, resp.content_type, json.loads(raw)
        return resp.status, resp.content_type, (raw, dict(resp.headers))


@pytest.fixture
async def broker(make_broker: MakeBroker) -> Broker:
    """The generated contacts ended in October 2026: a long retention keeps them
    reportable by counsellor (which needs the records) whenever this runs."""
    return await make_broker(retention_days=3660)


@pytest.fixture
async def filled(broker: Broker) -> Broker:
    await fill(broker.service.contacts)
    return broker


def of_teams(*teams: str) -> list[Case]:
    return [c for c in STORED if c.record.team in teams]


async def test_admin_report_every_grouping(filled: Broker) -> None:
    """An admin sees every team; each grouping's rows and total are the expected ones."""
    admin = filled.staff_token("a1", Role.ADMIN)
    for group_by in GROUPINGS:
        status, _, report = await get(filled, admin, **PERIOD, group_by=",".join(group_by))
        assert status == 200, report
        assert (report["from"], report["to"]) == (SINCE, UNTIL)
        check_report(report, STORED, group_by)


async def test_supervisor_sees_own_teams_and_may_narrow(filled: Broker) -> None:
    """A supervisor of t1 and t2 gets those teams, counsellors included; `team=` narrows;
    a team they do not lead is 403; an admin may name any team."""
    sup = filled.staff_token("s1", Role.SUPERVISOR, teams=("t1", "t2"))
    status, _, report = await get(filled, sup, **PERIOD, group_by="counsellor,team")
    assert status == 200, report
    check_report(report, of_teams("t1", "t2"), ("counsellor", "team"))
    status, _, report = await get(filled, sup, **PERIOD, group_by="week", team="t2")
    assert status == 200, report
    check_report(report, of_teams("t2"), ("week",))
    status, _, err = await get(filled, sup, **PERIOD, team="t3")
    assert status == 403 and err["error"]["code"] == "forbidden"
    admin = filled.staff_token("a1", Role.ADMIN, teams=())
    status, _, report = await get(filled, admin, **PERIOD, group_by="day", team="t3")
    assert status == 200
    check_report(report, of_teams("t3"), ("day",))


async def test_who_may_not_read_reports(filled: Broker) -> None:
    counsellor = filled.staff_token("c1", Role.COUNSELLOR, teams=("t1",))
    status, _, err = await get(filled, counsellor, **PERIOD)
    assert status == 403 and err["error"]["code"] == "forbidden"
    status, _, err = await get(filled, None, **PERIOD)
    assert status == 401 and err["error"]["code"] == "unauthenticated"
    lonely = filled.staff_token("s9", Role.SUPERVISOR, teams=())
    status, _, report = await get(filled, lonely, **PERIOD)
    assert status == 200 and report["rows"] == [] and report["total"]["contacts"] == 0


@pytest.mark.parametrize("query", [
    {"to": "2026-11-02"}, {"from": "2026-10-19"}, {"from": "gestern", "to": "2026-11-02"},
    {"from": "2026-11-02", "to": "2026-11-02"}, {"from": "2026-11-02", "to": "2026-10-19"},
    {"from": "2026-01-01", "to": "2027-02-06"},
    {**PERIOD, "group_by": "day,weekday"}, {**PERIOD, "group_by": "day,day"},
    {**PERIOD, "format": "xlsx"}, {**PERIOD, "team": "no team!"},
], ids=lambda q: "&".join(f"{k}={v}" for k, v in q.items()))
async def test_bad_requests_are_400_with_the_error_body(broker: Broker,
                                                        query: dict[str, str]) -> None:
    admin = broker.staff_token("a1", Role.ADMIN)
    status, content_type, err = await get(broker, admin, **query)
    assert (status, content_type) == (400, "application/json"), err
    assert err["error"]["code"] == "bad_request" and err["error"]["message"]


def figures_of(row: dict[str, Any]) -> list[Any]:
    s, w = row["seconds"], row["waiting_seconds"]
    out: list[Any] = [row["contacts"]]
    for k in ("video", "audio", "phone", "all"):
        out += [s[k]["total"], s[k]["mean"], s[k]["median"], s[k]["p90"]]
    return [*out, w["mean"], w["p90"], row["no_show_rate"], row["fallback_rate"],
            row["connection_failure_rate"], row["outside_hours_share"],
            row["satisfaction"]["count"], row["satisfaction"]["mean"]]


def number(text: str, decimal_comma: bool) -> float | int | None:
    if text == "":
        return None
    if decimal_comma:
        assert "." not in text, text
        text = text.replace(",", ".")
    return float(text) if "." in text else int(text)


async def test_csv_in_both_dialects_reads_back_as_the_json(filled: Broker) -> None:
    """RFC 4180 with a decimal point, and the German dialect (BOM, semicolons, decimal
    commas) split by hand: the same groups and numbers as the JSON, with an attachment name."""
    admin = filled.staff_token("a1", Role.ADMIN)
    query = {**PERIOD, "group_by": "month,team,channel"}
    _, _, report = await get(filled, admin, **query)
    expected = [[*r["group"].values(), *figures_of(r)] for r in report["rows"]]
    assert len(expected) > 10

    status, content_type, (raw, headers) = await get(filled, admin, **query, format="csv")
    assert (status, content_type) == (200, "text/csv")
    assert headers["Content-Disposition"] == \
        'attachment; filename="kontakte-2026-10-19-2026-11-02.csv"'
    text = raw.decode("utf-8")
    assert not text.startswith("\ufeff") and text.endswith("\r\n")
    lines = list(csv.reader(io.StringIO(text, newline="")))
    assert lines[0] == ["month", "team", "channel", *figure_columns()]
    assert lines[0][3:7] == ["contacts", "video_seconds_total", "video_seconds_mean",
                             "video_seconds_median"]
    got = [row[:3] + [number(v, False) for v in row[3:]] for row in lines[1:]]
    assert got == expected

    status, content_type, (raw, headers) = await get(filled, admin, **query, format="csv-de")
    assert (status, content_type) == (200, "text/csv")
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8")[1:]
    rows = [line.split(";") for line in text.split("\r\n") if line]
    assert rows[0][:4] == ["Monat", "Team", "Kanal", "Kontakte"]
    assert len(rows[0]) == len(lines[0])
    got = [row[:3] + [number(v, True) for v in row[3:]] for row in rows[1:]]
    assert got == expected


async def test_json_is_the_default_and_an_empty_period_is_empty(filled: Broker) -> None:
    admin = filled.staff_token("a1", Role.ADMIN)
    status, content_type, report = await get(filled, admin, **{
        "from": "2025-01-01T00:00:00+01:00", "to": "1735772400", "group_by": "day"})
    assert (status, content_type) == (200, "application/json")
    assert report["rows"] == [] and report["total"]["no_show_rate"] is None


async def test_the_report_on_every_contact_log(backend: Backend) -> None:  # noqa: F811
    """SQLite and PostgreSQL give the same, expected, figures."""
    log = await backend.open()
    await fill(log)
    for group_by in (("day", "channel"), ("week", "team", "kind")):
        report = await report_of(log, since=SINCE, until=UNTIL, timezone=TZ_NAME,
                                 group_by=group_by, hours=HOURS, teams=None, kept_since=0.0)
        check_report(report, STORED, group_by)
    report = await report_of(log, since=SINCE, until=UNTIL, timezone=TZ_NAME,
                             group_by=("counsellor",), hours=HOURS,
                             teams=frozenset({"t1", "t3"}), kept_since=0.0)
    check_report(report, of_teams("t1", "t3"), ("counsellor",))


def command_line_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing from the environment points the command elsewhere."""
    for name in ("DATABASE_URL", "CB_DATABASE_URL", "CB_DATA_DIR", "CB_REPORT_TIMEZONE",
                 "CB_OPENING_HOURS", "CB_RETENTION_DAYS"):
        monkeypatch.delenv(name, raising=False)


async def sqlite_log_with_contacts(data_dir: Path) -> None:
    """The broker's SQLite contact log in `data_dir`, holding the generated contacts."""
    log = SqliteContactLog(data_dir / "contacts.sqlite3")
    await log.open()
    try:
        await fill(log)
    finally:
        await log.close()


def test_command_line_report(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    """`counselling-broker report` reads the configured SQLite log and prints JSON or CSV."""
    command_line_environment(monkeypatch)
    asyncio.run(sqlite_log_with_contacts(tmp_path))
    base = ["report", "--data-dir", str(tmp_path), "--from", "2026-10-19",
            "--to", "2026-11-02"]
    assert cli.main([*base, "--group-by", "week,kind"]) == 0
    check_report(json.loads(capsys.readouterr().out), STORED, ("week", "kind"))
    assert cli.main([*base, "--group-by", "team", "--team", "t2", "--format", "csv"]) == 0
    lines = list(csv.reader(io.StringIO(capsys.readouterr().out, newline="")))
    assert [row[0] for row in lines] == ["team", "t2"]
    assert int(lines[1][1]) == sum(c.record.admitted_at is not None and c.in_period
                                   for c in of_teams("t2"))
    assert cli.main([*base, "--format", "csv-de"]) == 0
    assert capsys.readouterr().out.startswith("\ufeffKontakte;")

    assert cli.main([*base, "--group-by", "weekday"]) == 2
    assert "group_by" in capsys.readouterr().err
    assert cli.main(["report", "--data-dir", str(tmp_path / "none"), "--from", "2026-10-19",
                     "--to", "2026-11-02"]) == 2
    assert "no contact log" in capsys.readouterr().err


def test_malformed_opening_hours_stop_the_start(tmp_path: Path) -> None:
    """A broker with unreadable opening hours does not start (instead of failing reports)."""
    with pytest.raises(ConfigError, match="CB_OPENING_HOURS: 'Mo-Fr 8-18'"):
        create_app(settings_for(tmp_path, opening_hours="Mo-Fr 8-18"))
