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
- Rounding: seconds to 0.1, rates and shares to 4 decimals, the satisfaction mean to 2,
  each from the exact sums (integer milliseconds, counts), halves up.
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
    RollupColumns,
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


def _halves_up(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """part / whole to the nearest integer, halves up, exactly (integers throughout);
    where whole is 0 the result is meaningless and masked by the caller."""
    safe = np.maximum(whole, 1)
    rounded: np.ndarray = (2 * part + safe) // (2 * safe)
    return rounded


def _column(values: np.ndarray, scale: int, present: np.ndarray | None = None
            ) -> list[float | None]:
    """Integers in units of 1/scale as floats; None where `present` is False."""
    out: list[float | None] = (values / scale).tolist()
    if present is not None:
        for i in np.flatnonzero(~present).tolist():
            out[i] = None
    return out


def _week(day: date) -> str:
    iso = day.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def _group_columns(rows: RollupColumns, group_by: Sequence[str]) -> list[Sequence[str]]:
    """One column of group values per grouping; week and month worked out once a day."""
    out: list[Sequence[str]] = []
    for name in group_by:
        if name in ("week", "month"):
            days = {d: date.fromisoformat(d) for d in set(rows.day)}
            label = {d: _week(v) if name == "week" else f"{v.year}-{v.month:02d}"
                     for d, v in days.items()}
            out.append([label[d] for d in rows.day])
        elif name == "counsellor":
            if rows.counsellor is None:
                raise ValueError("roll-up rows have no counsellor: group single records")
            out.append(rows.counsellor)
        else:
            out.append(getattr(rows, name))
    return out


@dataclass(frozen=True, slots=True)
class _Aggregate:
    """Per group (and one more row: the total): the counters summed (COUNTERS order), and
    per metric how many values there are and the values at the median and p90 ranks
    (tenths of a second)."""

    counts: np.ndarray  # (groups + 1, counters)
    n: np.ndarray  # (groups + 1, metrics)
    median: np.ndarray
    p90: np.ndarray


def _ranked(ordered: np.ndarray, n: np.ndarray) -> dict[int, np.ndarray]:
    """`ordered`: runs of sorted values, one run per segment, `n` long each: the values at
    the median and p90 ranks of each run (0 for an empty one)."""
    starts = np.cumsum(n) - n
    out = {}
    for p in (50, 90):
        rank = np.maximum((p * n + 99) // 100, 1)
        idx = np.where(n > 0, starts + rank - 1, 0)
        out[p] = np.where(n > 0, ordered[idx], 0) if len(ordered) else np.zeros_like(n)
    return out


def _aggregate(rows: RollupColumns, group_index: np.ndarray, groups: int) -> _Aggregate:
    metrics = len(METRICS)
    counts = np.zeros((groups + 1, len(COUNTERS)), dtype=np.int64)
    if len(rows):
        matrix = np.array(rows.counts, dtype=np.int64).T
        np.add.at(counts, group_index, matrix)
        counts[groups] = matrix.sum(axis=0)
    lengths = np.fromiter(map(len, rows.hist), dtype=np.int64, count=len(rows)) // 4
    packed = np.frombuffer(b"".join(rows.hist), dtype="<u4")
    # per group: sort by (group, metric, value) at once, each (group, metric) one run
    segment = np.repeat(group_index * metrics, lengths) + (packed >> METRIC_SHIFT)
    ordered = np.sort((segment << METRIC_SHIFT) | (packed & VALUE_MASK)) & VALUE_MASK
    n = np.bincount(segment, minlength=groups * metrics)
    at = _ranked(ordered, n)
    # the total: the packed values sort by (metric, value) as they are
    total_n = np.bincount(packed >> METRIC_SHIFT, minlength=metrics)
    total_at = _ranked(np.sort(packed) & VALUE_MASK, total_n)
    return _Aggregate(
        counts=counts,
        n=np.vstack([n.reshape(groups, metrics), total_n]),
        median=np.vstack([at[50].reshape(groups, metrics), total_at[50]]),
        p90=np.vstack([at[90].reshape(groups, metrics), total_at[90]]),
    )


def _figures(agg: _Aggregate) -> list[dict[str, Any]]:
    """Every group's figures (the total last), computed column by column: rounding is
    done on the exact integer sums, halves up."""
    c, n = agg.counts, agg.n

    def counter(name: str) -> np.ndarray:
        return c[:, INDEX[name]]

    contacts = counter("contacts")
    seconds: list[list[dict[str, float | None]]] = []
    for m, key in enumerate(SECONDS_KEYS):
        ms, has = counter(f"{key}_ms"), n[:, m] > 0
        seconds.append([
            {"total": total, "mean": mean, "median": median, "p90": p90}
            for total, mean, median, p90 in zip(
                _column(_halves_up(ms, np.full_like(ms, 100)), 10),
                _column(_halves_up(ms, 100 * n[:, m]), 10, has),
                _column(agg.median[:, m], 10, has),
                _column(agg.p90[:, m], 10, has), strict=True)])
    wait = METRICS.index("waiting")
    waited = n[:, wait] > 0
    waiting = [{"mean": mean, "p90": p90} for mean, p90 in zip(
        _column(_halves_up(counter("waiting_ms"), 100 * n[:, wait]), 10, waited),
        _column(agg.p90[:, wait], 10, waited), strict=True)]

    def rate(part: str, whole: np.ndarray) -> list[float | None]:
        return _column(_halves_up(10_000 * counter(part), whole), 10_000, whole > 0)

    rated = counter("rating_n")
    satisfaction = [{"count": count, "mean": mean} for count, mean in zip(
        rated.tolist(), _column(_halves_up(100 * counter("rating_sum"), rated), 100,
                                rated > 0), strict=True)]
    video, audio, phone, every = seconds
    return [
        {"contacts": n_contacts,
         "seconds": {"video": v, "audio": a, "phone": p, "all": e},
         "waiting_seconds": w, "no_show_rate": no_show, "fallback_rate": fallback,
         "connection_failure_rate": failed, "outside_hours_share": outside,
         "satisfaction": sat}
        for n_contacts, v, a, p, e, w, no_show, fallback, failed, outside, sat in zip(
            contacts.tolist(), video, audio, phone, every, waiting,
            rate("no_show", counter("due")), rate("fallback", contacts),
            rate("failed", contacts), rate("outside", contacts), satisfaction, strict=True)
    ]


def report_from_rows(rows: RollupColumns, *, since: float, until: float,
                     timezone: str, group_by: Sequence[str]) -> dict[str, Any]:
    """The report document (`from`, `to`, `timezone`, `group_by`, `rows`, `total`) from
    roll-up rows: the day's rows of the database for whole days, one row per record for
    the rest. The caller picks the rows that belong to the period."""
    index: dict[tuple[str, ...], int] = {}
    keys = zip(*_group_columns(rows, group_by), strict=True) if group_by \
        else [()] * len(rows)
    group_index = np.fromiter((index.setdefault(k, len(index)) for k in keys),
                              dtype=np.int64, count=len(rows))
    figures = _figures(_aggregate(rows, group_index, len(index)))
    out = [{"group": dict(zip(group_by, key, strict=True)), **figures[g]}
           for key, g in sorted(index.items())]
    return {"from": since, "to": until, "timezone": timezone, "group_by": list(group_by),
            "rows": out, "total": figures[-1]}


def build_report(records: Iterable[Mapping[str, Any]], *, since: float, until: float,
                 timezone: str, group_by: Sequence[str], hours: OpeningHours
                 ) -> dict[str, Any]:
    """The report over single records (those outside [since, until) are left out)."""
    tz = ZoneInfo(timezone)
    rows = [contribution(r, tz, hours) for r in records if since <= r["ended_at"] < until]
    return report_from_rows(RollupColumns.of_rows(rows), since=since, until=until,
                            timezone=timezone, group_by=group_by)


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
