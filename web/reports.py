"""`GET /api/reports`: contact figures for supervisors, as JSON or CSV (two dialects).

The figures themselves are broker/report.py's; this module checks who asks, reads the
records from the contact log and renders. `csv` is RFC 4180 (comma, decimal point, UTF-8);
`csv-de` is what German spreadsheet programs open directly (semicolon, decimal comma,
UTF-8 with a byte order mark, German headers). Both have one header line and one line per
row, group columns first.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from broker.config import ConfigError
from broker.contactlog.base import ContactLog
from broker.credentials import StaffPrincipal
from broker.errors import AccessDenied, BadInput, ErrorCode
from broker.queue_report import queue_figures
from broker.report import (
    OpeningHours,
    OpeningHoursError,
    figure_columns,
    flatten,
    parse_group_by,
    parse_opening_hours,
    parse_period,
    plan,
    report_from_rows,
    retention_cutoff,
)
from broker.rollup import EMPTY, RollupColumns, contribution
from broker.types import Role
from web.auth import TEAM, staff
from web.keys import SERVICE, SETTINGS

FORMATS = ("json", "csv", "csv-de")
BOM = "\ufeff"
# a cell a spreadsheet would take for a formula gets a leading apostrophe (CSV injection)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

GERMAN_GROUPS = {"day": "Tag", "week": "Woche", "month": "Monat", "team": "Team",
                 "counsellor": "Fachkraft", "channel": "Kanal", "kind": "Art"}
_GERMAN_CHANNELS = {"video": "Video", "audio": "Audio", "phone": "Telefon", "all": "Gesamt"}
_GERMAN_STATS = {"total": "Summe", "mean": "Mittelwert", "median": "Median", "p90": "P90"}
_GERMAN_FIGURES = {
    "contacts": "Kontakte",
    "waiting_seconds_mean": "Wartezeit Sekunden Mittelwert",
    "waiting_seconds_p90": "Wartezeit Sekunden P90",
    "no_show_rate": "Quote nicht erschienen",
    "fallback_rate": "Quote Kanalwechsel nach unten",
    "connection_failure_rate": "Quote Verbindungsfehler",
    "outside_hours_share": "Anteil außerhalb der Öffnungszeiten",
    "satisfaction_count": "Zufriedenheit Anzahl",
    "satisfaction_mean": "Zufriedenheit Mittelwert",
}

_HOURS = web.AppKey("opening_hours", OpeningHours)


def opening_hours_of(text: str) -> OpeningHours:
    try:
        return parse_opening_hours(text)
    except OpeningHoursError as exc:
        raise ConfigError(f"CB_OPENING_HOURS: {exc}") from None


def german_column(name: str) -> str:
    if name in _GERMAN_FIGURES:
        return _GERMAN_FIGURES[name]
    channel, _, stat = name.split("_")  # <channel>_seconds_<stat>
    return f"{_GERMAN_CHANNELS[channel]} Sekunden {_GERMAN_STATS[stat]}"


def _cell(value: Any, decimal_comma: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        text = repr(value)
        return text.replace(".", ",") if decimal_comma else text
    return str(value)


def _text_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def render_csv(report: Mapping[str, Any], dialect: str) -> str:
    """The report's rows as CSV text (`csv` or `csv-de`); `\\r\\n` line ends (RFC 4180)."""
    german = dialect == "csv-de"
    group_by: Sequence[str] = report["group_by"]
    figures = figure_columns()
    if german:
        header = [GERMAN_GROUPS[g] for g in group_by] + [german_column(c) for c in figures]
    else:
        header = [*group_by, *figures]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";" if german else ",", lineterminator="\r\n")
    writer.writerow(header)
    for row in report["rows"]:
        writer.writerow([_text_cell(row["group"][g]) for g in group_by]
                        + [_cell(v, german) for v in flatten(row)])
    return (BOM if german else "") + out.getvalue()


def filename(since: float, until: float, tz: ZoneInfo) -> str:
    def label(t: float) -> str:
        local = datetime.fromtimestamp(t, tz)
        if (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0):
            return local.strftime("%Y-%m-%d")
        return local.strftime("%Y-%m-%dT%H%M")

    return f"kontakte-{label(since)}-{label(until)}.csv"


async def report_of(contacts: ContactLog, *, since: float, until: float, timezone: str,
                    group_by: Sequence[str], hours: OpeningHours,
                    teams: frozenset[str] | None, kept_since: float,
                    target_seconds: float = 120.0) -> dict[str, Any]:
    """The report: the roll-up rows of the period's whole days, the single records of the
    rest (`broker.report.plan`). Records that ended before `kept_since` are deleted, so a
    report that needs them is refused rather than silently short. Computed off the event
    loop: a long period is many rows. Beside the contacts, per team, how the drop-in queue
    and the callback requests went (`broker.queue_report`)."""
    tz = ZoneInfo(timezone)
    where = plan(since, until, tz, by_counsellor="counsellor" in group_by)
    if any(a < kept_since for a, _ in where.records):
        kept = datetime.fromtimestamp(kept_since, tz).date().isoformat()
        raise BadInput(f"records before {kept} are deleted (retention) and only their daily "
                       "totals are kept: a report reaching back before then must start and "
                       "end at midnight and cannot be grouped by counsellor")
    days = EMPTY
    records: list[dict[str, Any]] = []
    if teams is None or teams:
        if where.days is not None:
            days = await contacts.rollup(*where.days, teams=teams)
        for a, b in where.records:
            records += await contacts.contacts(a, b, teams=teams)

    waits = await contacts.waits(since, until, teams) if teams is None or teams else []
    settled = (await contacts.callbacks_closed(since, until, teams)
               if teams is None or teams else [])

    def compute() -> dict[str, Any]:
        rows = days + RollupColumns.of_rows([contribution(r, tz, hours) for r in records])
        report = report_from_rows(rows, since=since, until=until, timezone=timezone,
                                  group_by=group_by)
        report["queues"] = queue_figures(waits, settled, target_seconds, teams or ())
        return report

    return await asyncio.to_thread(compute)


def scope(who: StaffPrincipal, team: str | None) -> frozenset[str] | None:
    """The teams a report may cover: `team` if the caller may see it, else all of the
    caller's teams (admins: None, every team)."""
    admin = who.has(Role.ADMIN)
    if team is not None:
        if not TEAM.fullmatch(team):
            raise BadInput("team must be a team id")
        if not admin and team not in who.teams:
            raise AccessDenied(ErrorCode.FORBIDDEN, "you do not lead that team")
        return frozenset({team})
    return None if admin else frozenset(str(t) for t in who.teams)


def render(report: dict[str, Any], fmt: str, tz: ZoneInfo) -> web.Response:
    if fmt == "json":
        return web.json_response(report)
    name = filename(report["from"], report["to"], tz)
    return web.Response(
        body=render_csv(report, fmt).encode("utf-8"),
        headers={"Content-Type": "text/csv; charset=utf-8; header=present",
                 "Content-Disposition": f'attachment; filename="{name}"',
                 "Cache-Control": "no-store"},
    )


async def reports(request: web.Request) -> web.Response:
    """Supervisors for their teams, admins for all (`team=` narrows)."""
    who = await staff(request, Role.SUPERVISOR)
    settings = request.app[SETTINGS]
    tz = ZoneInfo(settings.report_timezone)
    q = request.query
    since, until = parse_period(q.get("from"), q.get("to"), tz)
    group_by = parse_group_by(q.get("group_by"))
    fmt = q.get("format", "json")
    if fmt not in FORMATS:
        raise BadInput(f"format must be one of {', '.join(FORMATS)}")
    teams = scope(who, q.get("team"))
    # grouping by counsellor is for supervisors of that team: `scope` already keeps a
    # supervisor's report to the teams they lead
    service = request.app[SERVICE]
    report = await report_of(service.contacts, since=since, until=until,
                             timezone=settings.report_timezone, group_by=group_by,
                             hours=request.app[_HOURS], teams=teams,
                             kept_since=retention_cutoff(service.now(), settings.retention_days,
                                                         tz),
                             target_seconds=settings.dropin_target_seconds)
    return render(report, fmt, tz)


def dumps(report: Mapping[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, indent=1)


def setup(app: web.Application) -> None:
    app[_HOURS] = opening_hours_of(app[SETTINGS].opening_hours)
    app.router.add_get("/api/reports", reports)
