"""Contact reports: figures over the contact records of a period, grouped. Pure: no I/O.

The adapters (web/reports.py, the `report` command) read the roll-up rows of the whole
local days in the period and the single records of the rest (`plan` says which) and hand
them to `report_from_rows`, which returns the JSON document of `GET /api/reports`;
`build_report` does the same from single records only.

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
- **median** and **p90** are by the nearest-rank method: the value at rank ceil(0.5 * n)
  or ceil(0.9 * n) of the n values sorted ascending, each value taken to the tenth of a
  second (halves up from the millisecond), the resolution the report shows. That keeps
  them exact when the figures come from the daily roll-up (broker/rollup.py).
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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from broker.errors import BadInput
from broker.hours import OpeningHours, OpeningHoursError, parse_opening_hours
from broker.rollup import (
    CHANNELS,
    COUNTERS,
    INDEX,
    METRIC_SHIFT,
    METRICS,
    NO_CHANNEL,
    VALUE_MASK,
    RollupRow,
    contribution,
    local_day,
    midnight,
)

GROUPS = ("day", "week", "month", "team", "counsellor", "channel", "kind")
TIME_GROUPS = frozenset({"day", "week", "month"})
SECONDS_KEYS = (*CHANNELS, "all")
MAX_DAYS = 400
__all__ = ["CHANNELS", "GROUPS", "NO_CHANNEL", "SECONDS_KEYS", "OpeningHours",
           "OpeningHoursError", "parse_opening_hours"]

_UNIX = re.compile(r"-?[0-9]{1,12}(?:\.[0-9]{1,9})?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


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


def retention_cutoff(now: float, days: int, tz: ZoneInfo) -> float:
    """Records that ended before this are deleted: local midnight `days` days before
    today, so that a day's records go together and the day's roll-up stays whole."""
    return midnight(local_day(now, tz) - timedelta(days=days), tz)


@dataclass(frozen=True, slots=True)
class Plan:
    """Where a report's figures come from: the roll-up rows of the whole local days
    `days` = [first, end) (ISO dates), single records for the `records` periods."""

    days: tuple[str, str] | None
    records: tuple[tuple[float, float], ...]


def plan(since: float, until: float, tz: ZoneInfo, *, by_counsellor: bool) -> Plan:
    """Whole days from the roll-up, the partial days at either edge from records; a
    grouping by counsellor only from records (the roll-up does not know counsellors)."""
    if by_counsellor:
        return Plan(None, ((since, until),))
    first = local_day(since, tz)
    if midnight(first, tz) < since:
        first += timedelta(days=1)
    end = local_day(until, tz)
    if first >= end:
        return Plan(None, ((since, until),))
    start_at, end_at = midnight(first, tz), midnight(end, tz)
    edges = tuple((a, b) for a, b in ((since, start_at), (end_at, until)) if a < b)
    return Plan((first.isoformat(), end.isoformat()), edges)


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


def percentile_rank(n: int, p: int) -> int:
    """The 1-based nearest rank of the p-th percentile of n values: ceil(p/100 * n)."""
    return max((p * n + 99) // 100, 1)  # ceil without floating point


def _r(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def _mean_seconds(ms: int, n: int) -> float | None:
    # one division of the exact sum: the same float as summing the seconds and dividing
    return None if n == 0 else round(ms / (n * 1000), 1)


class _Labels:
    """Group values of a roll-up row; the week and month of a day are worked out once."""

    def __init__(self) -> None:
        self._days: dict[str, tuple[str, str]] = {}

    def of(self, row: RollupRow, name: str) -> str:
        if name == "day":
            return row.day
        if name in ("week", "month"):
            labels = self._days.get(row.day)
            if labels is None:
                d = date.fromisoformat(row.day)
                iso = d.isocalendar()
                labels = self._days[row.day] = (f"{iso.year}-W{iso.week:02d}",
                                                f"{d.year}-{d.month:02d}")
            return labels[0] if name == "week" else labels[1]
        if name == "channel":
            return row.channel
        if name == "team":
            return row.team
        if name == "kind":
            return row.kind
        if name == "counsellor":
            if not row.counsellor:
                raise ValueError("a roll-up row has no counsellor: group records instead")
            return row.counsellor
        raise ValueError(name)


@dataclass(frozen=True, slots=True)
class _Aggregate:
    """Per group (and one more row: the total): the counters summed, and per metric how
    many values there are and the values at the median and p90 ranks (tenths)."""

    counts: list[list[int]]
    n: list[list[int]]
    median: list[list[int]]
    p90: list[list[int]]


def _aggregate(rows: Sequence[RollupRow], group_index: np.ndarray, groups: int) -> _Aggregate:
    metrics = len(METRICS)
    counts = np.zeros((groups + 1, len(COUNTERS)), dtype=np.int64)
    if rows:
        matrix = np.array([r.counts for r in rows], dtype=np.int64)
        np.add.at(counts, group_index, matrix)
        counts[groups] = matrix.sum(axis=0)
    lengths = np.fromiter((len(r.hist) // 4 for r in rows), dtype=np.int64, count=len(rows))
    packed = np.frombuffer(b"".join(r.hist for r in rows), dtype="<u4").astype(np.int64)
    metric = packed >> METRIC_SHIFT
    value = packed & VALUE_MASK
    # sort by (group, metric, value) at once: then each (group, metric) is one sorted run
    segment = np.repeat(group_index, lengths) * metrics + metric
    ordered = np.sort((segment << METRIC_SHIFT) | value)
    n = np.bincount(segment, minlength=groups * metrics)
    starts = np.cumsum(n) - n
    at: dict[int, np.ndarray] = {}
    for p in (50, 90):
        rank = np.maximum((p * n + 99) // 100, 1)
        idx = np.where(n > 0, starts + rank - 1, 0)
        at[p] = np.where(n > 0, ordered[idx] & VALUE_MASK, 0) if len(ordered) \
            else np.zeros_like(n)
    # the total: the same per metric over every value (a selection, not a second sort)
    total_n, total_at = [], {50: [0] * metrics, 90: [0] * metrics}
    for m in range(metrics):
        values = value[metric == m]
        total_n.append(len(values))
        for p in (50, 90):
            if len(values):
                k = percentile_rank(len(values), p) - 1
                total_at[p][m] = int(np.partition(values, k)[k])
    return _Aggregate(
        counts=counts.tolist(),
        n=[*n.reshape(groups, metrics).tolist(), total_n],
        median=[*at[50].reshape(groups, metrics).tolist(), total_at[50]],
        p90=[*at[90].reshape(groups, metrics).tolist(), total_at[90]],
    )


def _figures(agg: _Aggregate, g: int) -> dict[str, Any]:
    c, n, med, p90 = agg.counts[g], agg.n[g], agg.median[g], agg.p90[g]
    contacts = c[INDEX["contacts"]]

    def stats(m: int, ms: int) -> dict[str, float | None]:
        if n[m] == 0:
            return {"total": round(ms / 1000, 1), "mean": None, "median": None, "p90": None}
        return {"total": round(ms / 1000, 1), "mean": _mean_seconds(ms, n[m]),
                "median": med[m] / 10, "p90": p90[m] / 10}

    wait = METRICS.index("waiting")
    rated = c[INDEX["rating_n"]]
    return {
        "contacts": contacts,
        "seconds": {k: stats(m, c[INDEX[f"{k}_ms"]]) for m, k in enumerate(SECONDS_KEYS)},
        "waiting_seconds": {
            "mean": _mean_seconds(c[INDEX["waiting_ms"]], n[wait]),
            "p90": p90[wait] / 10 if n[wait] else None,
        },
        "no_show_rate": _rate(c[INDEX["no_show"]], c[INDEX["due"]]),
        "fallback_rate": _rate(c[INDEX["fallback"]], contacts),
        "connection_failure_rate": _rate(c[INDEX["failed"]], contacts),
        "outside_hours_share": _rate(c[INDEX["outside"]], contacts),
        "satisfaction": {
            "count": rated,
            "mean": round(c[INDEX["rating_sum"]] / rated, 2) if rated else None,
        },
    }


def report_from_rows(rows: Sequence[RollupRow], *, since: float, until: float,
                     timezone: str, group_by: Sequence[str]) -> dict[str, Any]:
    """The report document (`from`, `to`, `timezone`, `group_by`, `rows`, `total`) from
    roll-up rows: the day's rows of the database for whole days, one row per record for
    the rest. The caller picks the rows that belong to the period."""
    labels = _Labels()
    index: dict[tuple[str, ...], int] = {}
    group_index = np.empty(len(rows), dtype=np.int64)
    for i, row in enumerate(rows):
        key = tuple(labels.of(row, name) for name in group_by)
        group_index[i] = index.setdefault(key, len(index))
    agg = _aggregate(rows, group_index, len(index))
    out = [{"group": dict(zip(group_by, key, strict=True)), **_figures(agg, g)}
           for key, g in sorted(index.items())]
    return {"from": since, "to": until, "timezone": timezone, "group_by": list(group_by),
            "rows": out, "total": _figures(agg, len(index))}


def build_report(records: Iterable[Mapping[str, Any]], *, since: float, until: float,
                 timezone: str, group_by: Sequence[str], hours: OpeningHours
                 ) -> dict[str, Any]:
    """The report over single records (those outside [since, until) are left out)."""
    tz = ZoneInfo(timezone)
    rows = [contribution(r, tz, hours) for r in records if since <= r["ended_at"] < until]
    return report_from_rows(rows, since=since, until=until, timezone=timezone,
                            group_by=group_by)


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
