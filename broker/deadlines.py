"""Callback deadlines (Rückrufbitten): by when the team has to call back. Pure.

Days and times are local wall-clock readings in the team's zone (`tz`). A *working day* is
a date with at least one opening window (`OpeningHours`) that is neither a public holiday
nor a closing day (`Holidays`). Its *opening* is the start of its first window, its
*close* the end of its last (a window ending 24:00 closes at the next midnight).

Urgent: the close of the working day the request arrives on, if it arrives before that
close (arriving before the day's opening included); otherwise the close of the next
working day.

Normal (within 48 hours): the same wall-clock time two working days after the reference.
1. The reference is the arrival, if it falls on a working day before its close; arrival
   before the day's opening counts from the opening; arrival at or after the close, or on
   a day that is no working day, counts from the opening of the next working day.
2. The deadline falls on the second working day after the reference's day, at the
   reference's time of day moved into that day's hours: before its opening -> its
   opening; after its close -> its close; in a break between two windows -> the end of
   the window before the break.
With the same hours every working day the deadline is exactly two working days after the
reference. It is later only if the deadline day opens later than the reference's time of
day (then it is that day's opening); otherwise never later.

Both kinds: the deadline is never before the request, falls on a working day while the
team is open or at the end of an opening window, and a later request never gets an
earlier deadline.

Wall-clock arithmetic: across a daylight-saving change a deadline keeps its local time
(its UTC offset changes instead); deadlines are returned in UTC. A wall-clock time that
occurs twice (the clocks go back) means its first occurrence (fold=0); one that does not
occur (the clocks go forward) means the moment the clocks jump. A request during the
second pass through a repeated hour counts as made when that hour ends, so readings never
go backwards. Both only matter with opening hours at night.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from broker.holidays import Holidays
from broker.hours import OpeningHours

SEARCH_DAYS = 366  # no working day this far ahead: the configuration leaves none
_TICK = timedelta(microseconds=1)

_Windows = list[tuple[datetime, datetime]]  # one day's opening windows, local, sorted


def _minutes(hours: OpeningHours, weekday: int) -> list[tuple[int, int]]:
    """The day's windows in minutes after midnight, sorted, overlapping ones merged."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted((s, e) for d, s, e in hours.windows if d == weekday):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _windows(d: date, hours: OpeningHours) -> _Windows:
    midnight = datetime.combine(d, time())
    return [(midnight + timedelta(minutes=s), midnight + timedelta(minutes=e))
            for s, e in _minutes(hours, d.weekday())]


def working_day(d: date, hours: OpeningHours, holidays: Holidays) -> bool:
    """`d` has at least one opening window and is neither a holiday nor a closing day."""
    return bool(_minutes(hours, d.weekday())) and not holidays.is_holiday(d)


def _next_working_day(d: date, hours: OpeningHours, holidays: Holidays) -> date:
    for n in range(1, SEARCH_DAYS + 1):
        day = d + timedelta(days=n)
        if working_day(day, hours, holidays):
            return day
    raise ValueError(f"no working day within {SEARCH_DAYS} days after {d.isoformat()}: "
                     "check the opening hours and the closing days")


def _first(lo: datetime, hi: datetime, reached: Callable[[datetime], bool]) -> datetime:
    """The earliest moment in (lo, hi] that has `reached` (false at lo, true at hi, and
    once true stays true), to the microsecond."""
    while hi - lo > _TICK:
        mid = lo + (hi - lo) // 2
        if reached(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _reading(instant: datetime, tz: ZoneInfo) -> datetime:
    """What a wall clock in `tz` shows at `instant` (naive)."""
    return instant.astimezone(tz).replace(tzinfo=None, fold=0)


def _once(wall: datetime, tz: ZoneInfo) -> bool:
    """`wall` is neither repeated nor skipped: both folds give the same UTC offset."""
    return wall.replace(tzinfo=tz).utcoffset() == wall.replace(tzinfo=tz, fold=1).utcoffset()


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    """The local reading of `instant`, held at the end of a repeated hour during its second
    pass, so that a later instant never reads earlier."""
    local = instant.astimezone(tz)
    reading = local.replace(tzinfo=None, fold=0)
    if not local.fold:
        return reading
    # how long the repeated hour is: from the same reading in the first pass to this one
    repeated = instant.astimezone(UTC) - local.replace(fold=0).astimezone(UTC)
    return _first(reading, reading + repeated, lambda t: _once(t, tz))


def _instant(wall: datetime, tz: ZoneInfo) -> datetime:
    """The UTC moment a local wall-clock reading names: its first occurrence when it occurs
    twice; the moment the clocks jump when they skip it."""
    early = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if _reading(early, tz) == wall:
        return early
    # skipped: fold=0 reads it with the offset before the jump (a moment after the jump),
    # fold=1 with the offset after it (a moment before the jump)
    before = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    return _first(before, early, lambda u: _reading(u, tz) >= wall)


def _into_hours(wanted: datetime, windows: _Windows) -> datetime:
    """The latest moment at or before `wanted` at which the team is open or has just
    closed; the day's opening if `wanted` is before it."""
    moved = windows[0][0]
    for start, end in windows:
        if wanted < start:
            break
        moved = min(wanted, end)
    return moved


def callback_deadline(requested_at: datetime, urgent: bool, hours: OpeningHours,
                      holidays: Holidays, tz: ZoneInfo) -> datetime:
    """The deadline (aware, UTC) for a callback requested at `requested_at` (aware), by the
    rules in the module docstring. Raises ValueError for a naive `requested_at` and when
    no working day lies within SEARCH_DAYS days."""
    if requested_at.utcoffset() is None:
        raise ValueError("requested_at must be timezone-aware")
    arrival = _wall(requested_at, tz)
    day = arrival.date()
    today = _windows(day, hours) if working_day(day, hours, holidays) else []
    still_today = bool(today) and arrival < today[-1][1]
    if still_today:  # the reference (normal) and the close (urgent) of the arrival day
        reference, close = max(arrival, today[0][0]), today[-1][1]
    else:  # ... or of the next working day
        following = _windows(_next_working_day(day, hours, holidays), hours)
        reference, close = following[0][0], following[-1][1]
    if urgent:
        return _instant(close, tz)
    target = reference.date()
    for _ in range(2):
        target = _next_working_day(target, hours, holidays)
    wanted = datetime.combine(target, reference.time())
    return _instant(_into_hours(wanted, _windows(target, hours)), tz)


def due_today(deadline: datetime, now: datetime, tz: ZoneInfo) -> bool:
    """The deadline falls on today's local date in `tz` (passed or not: see `overdue`)."""
    return deadline.astimezone(tz).date() == now.astimezone(tz).date()


def overdue(deadline: datetime, now: datetime) -> bool:
    """The deadline has passed; a callback at the deadline itself is in time."""
    return now > deadline


@dataclass(frozen=True, slots=True)
class Calendar:
    """When a team works (opening hours, holidays, zone): deadlines are counted in its
    working days, and drop-ins wait only while it is open."""

    hours: OpeningHours
    holidays: Holidays
    tz: ZoneInfo

    def deadline(self, at: float, urgent: bool) -> float:
        when = datetime.fromtimestamp(at, self.tz)
        return callback_deadline(when, urgent, self.hours, self.holidays, self.tz).timestamp()

    def open_at(self, at: float) -> bool:
        local = datetime.fromtimestamp(at, self.tz)
        return not self.holidays.is_holiday(local.date()) and self.hours.open_at(local)
