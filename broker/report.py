"""Contact reports: figures over the contact records of a period, grouped. Pure: no I/O.

The adapters (web/reports.py, the `report` command) read the records with
`ContactLog.contacts(since, until, teams)` and hand them here as dictionaries (the shape of
`ContactRecord.to_dict()`); `build_report` returns the JSON document of `GET /api/reports`.

What counts (docs/protocol.md section 5.2 says the same):

- **Period.** A record belongs to the period `[from, to)` and to a day, ISO week (Monday
  first, `2026-W48`) or month (`2026-11`) by its `ended_at`, read in the report time zone
  (`CB_REPORT_TIMEZONE`). A bare date means local midnight; a date-time without offset is
  local time. The period is at most 400 days (wall clock, in the zone).
- **contacts** counts the records where the customer was admitted (`admitted_at` set):
  a conversation took place or was at least begun. Cancelled sessions, no-shows and
  customers who left the waiting room before being admitted are no contacts.
- **no_show_rate** = records ended `no_show` / records that came due (every record except
  `cancelled` ones). The only rate whose denominator is not `contacts`.
- **fallback_rate** = contacts with `fallback_used` (a poorer channel than planned was
  used) / contacts.
- **connection_failure_rate** = contacts with end reason `connection_failed` / contacts.
- **outside_hours_share** = contacts admitted outside the opening hours (`CB_OPENING_HOURS`,
  read in the zone; a window includes its start, excludes its end) / contacts.
- **seconds** per channel (`video`, `audio`, `phone`): `total` is the sum over the contacts;
  `mean`, `median` and `p90` are over the contacts that spent time on that channel
  (more than 0 s). `all` is the same for each contact's seconds on every channel together.
- **waiting_seconds**: joined -> admitted, over the contacts that have a waiting time.
- **satisfaction**: `count` and `mean` of the contacts' ratings (1-5) once the record holds
  a `satisfaction` field; until then count 0 and mean null.
- **median** is the middle value (the mean of the two middle ones for an even count);
  **p90** is by the nearest-rank method: the value at rank ceil(0.9 * n) of the n values
  sorted ascending.
- Rounding: seconds to 0.1, rates and shares to 4 decimals, the satisfaction mean to 2.
  A mean or percentile of no values is null; a rate whose denominator is 0 is null.
- Grouping by **channel** puts a record in the channel it spent the most seconds on (on a
  tie, the richer one: video, audio, phone), `none` when media never connected. Its figures
  still show every channel that record used.
- Rows are the groups that hold at least one record (of any end state), sorted by their
  values in `group_by` order; no `group_by` gives one row with an empty group.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from broker.errors import BadInput

GROUPS = ("day", "week", "month", "team", "counsellor", "channel", "kind")
TIME_GROUPS = frozenset({"day", "week", "month"})
CHANNELS = ("video", "audio", "phone")
SECONDS_KEYS = (*CHANNELS, "all")
MAX_DAYS = 400
NO_CHANNEL = "none"

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ENTRY = re.compile(r"([A-Za-z]{3})(?:-([A-Za-z]{3}))? +(\d{2}):(\d{2})-(\d{2}):(\d{2})")
_UNIX = re.compile(r"-?[0-9]{1,12}(?:\.[0-9]{1,9})?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


# ---------------------------------------------------------------- opening hours


class OpeningHoursError(ValueError):
    """`CB_OPENING_HOURS` cannot be read; the message names the entry and what is wrong."""


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """Weekly windows: (weekday 0 = Monday, start minute, end minute), end exclusive."""

    windows: tuple[tuple[int, int, int], ...]

    def open_at(self, local: datetime) -> bool:
        minute = local.hour * 60 + local.minute
        day = local.weekday()
        return any(d == day and start <= minute < end for d, start, end in self.windows)


def parse_opening_hours(text: str) -> OpeningHours:
    """`"Mon-Fri 08:00-18:00, Sat 09:00-12:00"`: comma-separated `<days> <HH:MM>-<HH:MM>`
    entries; days one English abbreviation (`Sat`) or a range within a week (`Mon-Fri`);
    `24:00` may end a window. Raises OpeningHoursError naming the bad entry."""
    windows: list[tuple[int, int, int]] = []
    entries = [e.strip() for e in text.split(",")]
    if not text.strip():
        raise OpeningHoursError('no opening hours given (e.g. "Mon-Fri 08:00-18:00")')
    for entry in entries:
        m = _ENTRY.fullmatch(entry)
        if m is None:
            raise OpeningHoursError(
                f'{entry!r} is not "<days> <HH:MM>-<HH:MM>" (e.g. "Mon-Fri 08:00-18:00")')
        first, last = m.group(1).lower(), (m.group(2) or m.group(1)).lower()
        for name in (first, last):
            if name not in _DAYS:
                raise OpeningHoursError(f"{entry!r}: {name!r} is not a day (Mon ... Sun)")
        a, b = _DAYS.index(first), _DAYS.index(last)
        if a > b:
            raise OpeningHoursError(f"{entry!r}: the days run backwards (write Mon-Fri, "
                                    "or two entries)")
        h1, m1, h2, m2 = (int(m.group(i)) for i in range(3, 7))
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if h1 > 23 or m1 > 59 or m2 > 59 or end > 24 * 60:
            raise OpeningHoursError(f"{entry!r}: not a time of day")
        if start >= end:
            raise OpeningHoursError(f"{entry!r}: a window must end after it starts")
        windows += [(d, start, end) for d in range(a, b + 1)]
    return OpeningHours(tuple(windows))


# ---------------------------------------------------------------- request parsing


def parse_time(value: str | None, key: str, tz: ZoneInfo) -> float:
    """Unix seconds, a date (local midnight), or ISO 8601 (without offset: local time)."""
    if value is None or not value.strip():
        raise BadInput(f"{key} is required: a date (2026-11-23), ISO 8601 or Unix seconds")
    if len(value) > 40:
        raise BadInput(f"{key} is too long for a time (at most 40 characters)")
    value = value.strip()
    try:
        if _UNIX.fullmatch(value):
            return float(value)
        if _DATE.fullmatch(value):
            return datetime.combine(date.fromisoformat(value), time(), tz).timestamp()
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=tz)
        return parsed.timestamp()
    except (ValueError, OverflowError, OSError):
        raise BadInput(f"{key} must be a date (2026-11-23), ISO 8601 or Unix seconds") from None


def parse_period(since_text: str | None, until_text: str | None,
                 tz: ZoneInfo) -> tuple[float, float]:
    since = parse_time(since_text, "from", tz)
    until = parse_time(until_text, "to", tz)
    if since >= until:
        raise BadInput("from must be before to")
    try:
        limit = (datetime.fromtimestamp(since, tz) + timedelta(days=MAX_DAYS)).timestamp()
    except (OverflowError, OSError, ValueError):
        raise BadInput("from is out of range") from None
    if until > limit:
        raise BadInput(f"a report covers at most {MAX_DAYS} days")
    return since, until


def parse_group_by(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    names = tuple(text.split(","))
    unknown = [n for n in names if n not in GROUPS]
    if unknown:
        raise BadInput(f"group_by: unknown {', '.join(repr(n) for n in unknown)[:100]} "
                       f"(one or more of {', '.join(GROUPS)})")
    if len(set(names)) != len(names):
        raise BadInput("group_by names a grouping twice")
    return names


# ---------------------------------------------------------------- figures


def percentile_nearest_rank(values: Sequence[float], p: int) -> float:
    """The value at rank ceil(p/100 * n) of `values` sorted (nearest-rank method)."""
    ordered = sorted(values)
    rank = (p * len(ordered) + 99) // 100  # ceil without floating point
    return ordered[max(rank, 1) - 1]


def dominant_channel(seconds: Mapping[str, float]) -> str:
    best, most = NO_CHANNEL, 0.0
    for channel in CHANNELS:  # richest first: a tie keeps the richer channel
        s = seconds.get(channel) or 0.0
        if s > most:
            best, most = channel, s
    return best


def _r(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


@dataclass(slots=True)
class _Tally:
    contacts: int = 0
    due: int = 0
    no_show: int = 0
    fallback: int = 0
    failed: int = 0
    outside: int = 0
    seconds: dict[str, list[float]] = field(
        default_factory=lambda: {k: [] for k in SECONDS_KEYS})
    totals: dict[str, float] = field(default_factory=lambda: dict.fromkeys(SECONDS_KEYS, 0.0))
    waiting: list[float] = field(default_factory=list)
    ratings: list[float] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        def stats(values: list[float], total: float) -> dict[str, float | None]:
            if not values:
                return {"total": round(total, 1), "mean": None, "median": None, "p90": None}
            return {"total": round(total, 1), "mean": round(statistics.fmean(values), 1),
                    "median": round(statistics.median(values), 1),
                    "p90": round(percentile_nearest_rank(values, 90), 1)}

        w = self.waiting
        return {
            "contacts": self.contacts,
            "seconds": {k: stats(self.seconds[k], self.totals[k]) for k in SECONDS_KEYS},
            "waiting_seconds": {
                "mean": _r(statistics.fmean(w), 1) if w else None,
                "p90": _r(percentile_nearest_rank(w, 90), 1) if w else None,
            },
            "no_show_rate": _rate(self.no_show, self.due),
            "fallback_rate": _rate(self.fallback, self.contacts),
            "connection_failure_rate": _rate(self.failed, self.contacts),
            "outside_hours_share": _rate(self.outside, self.contacts),
            "satisfaction": {
                "count": len(self.ratings),
                "mean": round(statistics.fmean(self.ratings), 2) if self.ratings else None,
            },
        }


@dataclass(frozen=True, slots=True)
class _Facts:
    """What one record adds to every tally it falls in."""

    contact: bool
    due: bool
    no_show: bool
    fallback: bool
    failed: bool
    outside: bool
    seconds: tuple[float, float, float]
    waiting: float | None
    rating: float | None

    def add_to(self, t: _Tally) -> None:
        if self.due:
            t.due += 1
            t.no_show += self.no_show
        if not self.contact:
            return
        t.contacts += 1
        t.fallback += self.fallback
        t.failed += self.failed
        t.outside += self.outside
        every = 0.0
        for channel, s in zip(CHANNELS, self.seconds, strict=True):
            t.totals[channel] += s
            every += s
            if s > 0:
                t.seconds[channel].append(s)
        t.totals["all"] += every
        if every > 0:
            t.seconds["all"].append(every)
        if self.waiting is not None:
            t.waiting.append(self.waiting)
        if self.rating is not None:
            t.ratings.append(self.rating)


def _rating(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 1 <= value <= 5:
        return float(value)
    return None


def facts_of(record: Mapping[str, Any], hours: OpeningHours, tz: ZoneInfo) -> _Facts:
    admitted = record.get("admitted_at")
    seconds = record.get("seconds") or {}
    reason = record.get("end_reason")
    waiting = record.get("waiting_seconds")
    return _Facts(
        contact=admitted is not None,
        due=record.get("state") != "cancelled",
        no_show=reason == "no_show",
        fallback=bool(record.get("fallback_used")),
        failed=reason == "connection_failed",
        outside=admitted is not None
        and not hours.open_at(datetime.fromtimestamp(admitted, tz)),
        seconds=(float(seconds.get("video") or 0.0), float(seconds.get("audio") or 0.0),
                 float(seconds.get("phone") or 0.0)),
        waiting=None if waiting is None else float(waiting),
        rating=_rating(record.get("satisfaction")),
    )


def group_of(record: Mapping[str, Any], group_by: Sequence[str], tz: ZoneInfo) -> tuple[str, ...]:
    local = datetime.fromtimestamp(record["ended_at"], tz) if TIME_GROUPS & set(group_by) else None
    out: list[str] = []
    for name in group_by:
        if name == "day":
            assert local is not None
            out.append(local.date().isoformat())
        elif name == "week":
            assert local is not None
            iso = local.isocalendar()
            out.append(f"{iso.year}-W{iso.week:02d}")
        elif name == "month":
            assert local is not None
            out.append(f"{local.year}-{local.month:02d}")
        elif name == "channel":
            out.append(dominant_channel(record.get("seconds") or {}))
        else:
            out.append(str(record[name]))
    return tuple(out)


def build_report(records: Iterable[Mapping[str, Any]], *, since: float, until: float,
                 timezone: str, group_by: Sequence[str], hours: OpeningHours
                 ) -> dict[str, Any]:
    """The report document: `from`, `to`, `timezone`, `group_by`, `rows`, `total`.
    Records outside [since, until) are left out (the caller's query should not send any)."""
    tz = ZoneInfo(timezone)
    total = _Tally()
    groups: dict[tuple[str, ...], _Tally] = {}
    for record in records:
        if not since <= record["ended_at"] < until:
            continue
        facts = facts_of(record, hours, tz)
        facts.add_to(total)
        key = group_of(record, group_by, tz)
        tally = groups.get(key)
        if tally is None:
            tally = groups[key] = _Tally()
        facts.add_to(tally)
    rows = [{"group": dict(zip(group_by, key, strict=True)), **groups[key].figures()}
            for key in sorted(groups)]
    return {"from": since, "to": until, "timezone": timezone, "group_by": list(group_by),
            "rows": rows, "total": total.figures()}


def figure_columns() -> list[str]:
    """The figures flattened, in CSV order: `contacts, video_seconds_total, ...`."""
    cols = ["contacts"]
    for k in SECONDS_KEYS:
        cols += [f"{k}_seconds_{s}" for s in ("total", "mean", "median", "p90")]
    cols += ["waiting_seconds_mean", "waiting_seconds_p90", "no_show_rate", "fallback_rate",
             "connection_failure_rate", "outside_hours_share", "satisfaction_count",
             "satisfaction_mean"]
    return cols


def flatten(figures: Mapping[str, Any]) -> list[Any]:
    """One row's figures in `figure_columns()` order."""
    out: list[Any] = [figures["contacts"]]
    for k in SECONDS_KEYS:
        s = figures["seconds"][k]
        out += [s["total"], s["mean"], s["median"], s["p90"]]
    w = figures["waiting_seconds"]
    out += [w["mean"], w["p90"], figures["no_show_rate"], figures["fallback_rate"],
            figures["connection_failure_rate"], figures["outside_hours_share"],
            figures["satisfaction"]["count"], figures["satisfaction"]["mean"]]
    return out
