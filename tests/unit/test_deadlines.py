"""Callback deadlines (broker/deadlines.py): hand-worked cases written as literal UTC
instants (urgent and normal, weekends, Easter, Christmas, both daylight-saving changes of
2026 in Europe/Berlin, a holiday of only some states, closing days, breaks and uneven
hours, the skipped and the repeated night hour) and properties over random requests
(hypothesis): a later request never gets an earlier deadline, no deadline lies before its
request, and every deadline falls while a working day's hours are open or as they close.

Calendar used below (2026): 3 April Karfreitag, 6 April Ostermontag, 4 June Fronleichnam
(a Thursday; NW yes, BE no), 24 December a Thursday, 25/26 December Friday/Saturday,
1 January 2027 a Friday; the clocks go forward on Sunday 29 March (02:00 CET -> 03:00
CEST) and back on Sunday 25 October (03:00 CEST -> 02:00 CET).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.deadlines import SEARCH_DAYS, callback_deadline, due_today, overdue, working_day
from broker.holidays import Holidays, parse_holidays
from broker.hours import OpeningHours, parse_opening_hours

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = parse_opening_hours("Mon-Fri 08:00-18:00")
ROUND_THE_CLOCK = parse_opening_hours("Mon-Sun 00:00-24:00")
NW = parse_holidays("NW")


def berlin(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=BERLIN)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC)


def deadline(requested: datetime, urgent: bool, hours: OpeningHours = WEEKDAYS,
             holidays: Holidays = NW) -> datetime:
    return callback_deadline(requested, urgent, hours, holidays, BERLIN)


URGENT = [
    # June 2026 is summer time (UTC+2): 18:00 local is 16:00 UTC
    ("before close", berlin(2026, 6, 9, 10), utc(2026, 6, 9, 16)),
    ("before opening", berlin(2026, 6, 9, 6, 30), utc(2026, 6, 9, 16)),
    ("a second before close", berlin(2026, 6, 9, 17, 59, 59), utc(2026, 6, 9, 16)),
    ("at close", berlin(2026, 6, 9, 18), utc(2026, 6, 10, 16)),
    ("after close", berlin(2026, 6, 9, 21, 15), utc(2026, 6, 10, 16)),
    ("saturday", berlin(2026, 6, 13, 11), utc(2026, 6, 15, 16)),
    ("sunday", berlin(2026, 6, 14, 23, 59), utc(2026, 6, 15, 16)),
    ("friday evening", berlin(2026, 6, 12, 19), utc(2026, 6, 15, 16)),
    ("maundy thursday evening", berlin(2026, 4, 2, 18, 30), utc(2026, 4, 7, 16)),
    ("good friday", berlin(2026, 4, 3, 10), utc(2026, 4, 7, 16)),
    ("easter monday", berlin(2026, 4, 6, 9), utc(2026, 4, 7, 16)),
    # December is winter time (UTC+1)
    ("christmas eve", berlin(2026, 12, 24, 10), utc(2026, 12, 24, 17)),
    ("christmas eve evening", berlin(2026, 12, 24, 18, 5), utc(2026, 12, 28, 17)),
    ("new year's eve evening", berlin(2026, 12, 31, 20), utc(2027, 1, 4, 17)),
    ("friday before spring forward", berlin(2026, 3, 27, 20), utc(2026, 3, 30, 16)),
    ("friday before fall back", berlin(2026, 10, 23, 19), utc(2026, 10, 26, 17)),
    ("given in UTC", utc(2026, 6, 9, 8), utc(2026, 6, 9, 16)),
]


@pytest.mark.parametrize(("requested", "expected"), [c[1:] for c in URGENT],
                         ids=[c[0] for c in URGENT])
def test_urgent(requested: datetime, expected: datetime) -> None:
    got = deadline(requested, urgent=True)
    assert got == expected
    assert got.tzinfo is UTC


NORMAL = [
    ("within hours", berlin(2026, 6, 9, 10, 30), utc(2026, 6, 11, 8, 30)),
    ("thursday over the weekend", berlin(2026, 6, 11, 10, 30), utc(2026, 6, 15, 8, 30)),
    ("before opening counts from opening", berlin(2026, 6, 9, 6), utc(2026, 6, 11, 6)),
    ("at close counts from next opening", berlin(2026, 6, 9, 18), utc(2026, 6, 12, 6)),
    ("friday evening", berlin(2026, 6, 12, 19), utc(2026, 6, 17, 6)),
    ("saturday", berlin(2026, 6, 13, 11), utc(2026, 6, 17, 6)),
    ("over easter", berlin(2026, 4, 2, 11), utc(2026, 4, 8, 9)),
    ("easter saturday", berlin(2026, 4, 4, 11), utc(2026, 4, 9, 6)),
    ("over christmas", berlin(2026, 12, 23, 15), utc(2026, 12, 28, 14)),
    ("over new year", berlin(2026, 12, 30, 9), utc(2027, 1, 4, 8)),
    # the local time stays 10:00; the offset changes from +01:00 to +02:00 and back
    ("over spring forward", berlin(2026, 3, 27, 10), utc(2026, 3, 31, 8)),
    ("over fall back", berlin(2026, 10, 23, 10), utc(2026, 10, 27, 9)),
]


@pytest.mark.parametrize(("requested", "expected"), [c[1:] for c in NORMAL],
                         ids=[c[0] for c in NORMAL])
def test_normal(requested: datetime, expected: datetime) -> None:
    got = deadline(requested, urgent=False)
    assert got == expected
    assert got.tzinfo is UTC


def test_daylight_saving_keeps_the_local_time() -> None:
    """Two working days after 10:00 is 10:00 local, not 48 hours plus or minus one."""
    for requested in (berlin(2026, 3, 27, 10), berlin(2026, 10, 23, 10)):
        got = deadline(requested, urgent=False).astimezone(BERLIN)
        assert (got.hour, got.minute) == (10, 0)
        assert got.utcoffset() != requested.utcoffset()


def test_a_holiday_of_some_states_only() -> None:
    """Fronleichnam (Thursday 4 June 2026) is a holiday in NW, not in BE."""
    be = parse_holidays("BE")
    wednesday, evening = berlin(2026, 6, 3, 10), berlin(2026, 6, 3, 19)
    assert deadline(wednesday, False, holidays=NW) == utc(2026, 6, 8, 8)  # Fri, Mon
    assert deadline(wednesday, False, holidays=be) == utc(2026, 6, 5, 8)  # Thu, Fri
    assert deadline(evening, True, holidays=NW) == utc(2026, 6, 5, 16)
    assert deadline(evening, True, holidays=be) == utc(2026, 6, 4, 16)
    # Heilige Drei Könige (Wednesday 6 January 2027) in BW, not in NW
    monday = berlin(2027, 1, 4, 9)
    assert deadline(monday, False, holidays=parse_holidays("BW")) == utc(2027, 1, 7, 8)
    assert deadline(monday, False, holidays=NW) == utc(2027, 1, 6, 8)


def test_extra_closing_days() -> None:
    closed = parse_holidays("NW, 2026-12-24, 2026-12-31")
    assert deadline(berlin(2026, 12, 23, 15), False, holidays=closed) == utc(2026, 12, 29, 14)
    assert deadline(berlin(2026, 12, 24, 10), True, holidays=closed) == utc(2026, 12, 28, 17)
    # 31 December closed, 1 January a holiday: Monday 4 and Tuesday 5 January
    assert deadline(berlin(2026, 12, 30, 9), False, holidays=closed) == utc(2027, 1, 5, 8)
    assert deadline(berlin(2026, 12, 30, 9), True, holidays=closed) == utc(2026, 12, 30, 17)


def test_uneven_hours_and_breaks() -> None:
    """The time of day is moved into the deadline day's hours: to its close, to the end of
    the window before a break, to a later opening."""
    short_friday = parse_opening_hours("Mon-Thu 08:00-16:00, Fri 08:00-12:00")
    assert deadline(berlin(2026, 6, 10, 14), False, short_friday) == utc(2026, 6, 12, 10)
    assert deadline(berlin(2026, 6, 12, 13), True, short_friday) == utc(2026, 6, 15, 14)
    lunch = parse_opening_hours("Mon-Fri 08:00-12:00, Mon-Fri 13:00-16:00")
    assert deadline(berlin(2026, 6, 15, 12, 30), False, lunch) == utc(2026, 6, 17, 10)
    assert deadline(berlin(2026, 6, 15, 12, 30), True, lunch) == utc(2026, 6, 15, 14)
    assert deadline(berlin(2026, 6, 15, 13, 30), False, lunch) == utc(2026, 6, 17, 11, 30)
    late_start = parse_opening_hours("Mon-Tue 08:00-18:00, Wed-Fri 10:00-18:00")
    assert deadline(berlin(2026, 6, 15, 8, 30), False, late_start) == utc(2026, 6, 17, 8)
    overlapping = parse_opening_hours("Mon-Fri 08:00-12:00, Mon-Fri 10:00-14:00")
    assert deadline(berlin(2026, 6, 9, 13), True, overlapping) == utc(2026, 6, 9, 12)
    assert deadline(berlin(2026, 6, 9, 11), False, overlapping) == utc(2026, 6, 11, 9)


def test_saturday_hours_make_saturday_a_working_day() -> None:
    with_saturday = parse_opening_hours("Mon-Fri 08:00-18:00, Sat 09:00-12:00")
    assert deadline(berlin(2026, 6, 13, 10), True, with_saturday) == utc(2026, 6, 13, 10)
    assert deadline(berlin(2026, 6, 12, 16), False, with_saturday) == utc(2026, 6, 15, 14)
    assert deadline(berlin(2026, 6, 13, 11), False, with_saturday) == utc(2026, 6, 16, 9)


def test_the_skipped_night_hour() -> None:
    """02:30 on 29 March 2026 does not exist: the deadline is the moment the clocks jump
    (03:00 CEST), not 03:30 and not 01:30."""
    assert deadline(berlin(2026, 3, 27, 2, 30), False, ROUND_THE_CLOCK) == utc(2026, 3, 29, 1)
    assert deadline(berlin(2026, 3, 27, 3, 0), False, ROUND_THE_CLOCK) == utc(2026, 3, 29, 1)
    assert deadline(berlin(2026, 3, 27, 1, 59), False, ROUND_THE_CLOCK) == \
        utc(2026, 3, 29, 0, 59)
    night = parse_opening_hours("Sun 01:00-02:30, Mon-Fri 08:00-18:00")
    assert deadline(berlin(2026, 3, 29, 1, 30), True, night) == utc(2026, 3, 29, 1)


def test_the_repeated_night_hour() -> None:
    """02:00-03:00 on 25 October 2026 happens twice. A deadline at 02:40 is its first
    occurrence; a request in the second pass counts as made at 03:00, so it gets no
    earlier deadline than one made in the first pass."""
    first_pass = utc(2026, 10, 25, 0, 40)  # 02:40 summer time
    second_pass = utc(2026, 10, 25, 1, 10)  # 02:10 winter time
    first, second = first_pass.astimezone(BERLIN), second_pass.astimezone(BERLIN)
    assert (first.hour, first.minute, first.fold) == (2, 40, 0)
    assert (second.hour, second.minute, second.fold) == (2, 10, 1)
    assert deadline(first_pass, False, ROUND_THE_CLOCK) == utc(2026, 10, 27, 1, 40)
    assert deadline(second_pass, False, ROUND_THE_CLOCK) == utc(2026, 10, 27, 2)
    # two days before: 02:30 on the 25th means the first 02:30 (summer time)
    assert deadline(berlin(2026, 10, 23, 2, 30), False, ROUND_THE_CLOCK) == \
        utc(2026, 10, 25, 0, 30)
    # a window closing at 02:30 that day: the first pass is before it, the second after
    night = parse_opening_hours("Sun 01:00-02:30, Mon-Fri 08:00-18:00")
    assert deadline(first_pass - timedelta(minutes=20), True, night) == utc(2026, 10, 25, 0, 30)
    assert deadline(second_pass, True, night) == utc(2026, 10, 26, 17)


def test_round_the_clock_closes_at_midnight() -> None:
    assert deadline(berlin(2026, 3, 28, 12), True, ROUND_THE_CLOCK) == utc(2026, 3, 28, 23)


def test_working_day() -> None:
    assert working_day(date(2026, 6, 9), WEEKDAYS, NW)
    assert not working_day(date(2026, 6, 13), WEEKDAYS, NW)  # Saturday
    assert not working_day(date(2026, 6, 4), WEEKDAYS, NW)  # Fronleichnam
    assert working_day(date(2026, 6, 4), WEEKDAYS, parse_holidays("BE"))
    assert not working_day(date(2026, 12, 24), WEEKDAYS, parse_holidays("2026-12-24"))
    assert working_day(date(2026, 6, 13), ROUND_THE_CLOCK, NW)
    assert not working_day(date(2026, 4, 5), ROUND_THE_CLOCK, parse_holidays("BB"))
    assert working_day(date(2026, 4, 5), ROUND_THE_CLOCK, parse_holidays("BE"))


def test_refusals() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        deadline(datetime(2026, 6, 9, 10), True)
    with pytest.raises(ValueError, match=f"no working day within {SEARCH_DAYS} days after "
                                         "2026-06-09: check the opening hours"):
        deadline(berlin(2026, 6, 9, 10), False, OpeningHours(()))


def test_due_today_and_overdue() -> None:
    """Supervisor view: "today" is the local date in the team's zone."""
    due = utc(2026, 6, 9, 16)  # 18:00 local
    assert due_today(due, utc(2026, 6, 9, 5), BERLIN)
    assert due_today(due, utc(2026, 6, 8, 22, 30), BERLIN)  # already 00:30 on the 9th
    assert not due_today(due, utc(2026, 6, 9, 22, 30), BERLIN)  # 00:30 on the 10th
    assert not due_today(due, utc(2026, 6, 8, 21, 59), BERLIN)
    assert due_today(due, utc(2026, 6, 9, 17), BERLIN) and overdue(due, utc(2026, 6, 9, 17))
    assert not overdue(due, due)  # a callback at the deadline is in time
    assert overdue(due, due + timedelta(seconds=1))
    assert not overdue(due, utc(2026, 6, 9, 5))


# properties ---------------------------------------------------------------------------

ZONES = [ZoneInfo(z) for z in ("Europe/Berlin", "America/Santiago", "Australia/Lord_Howe")]
HOURS = [parse_opening_hours(h) for h in (
    "Mon-Fri 08:00-18:00",
    "Mon-Thu 08:00-12:00, Mon-Thu 13:00-16:00, Fri 08:00-12:30",
    "Wed 10:00-11:00",
)]
# open while the clocks change (about 02:00 in Berlin and Lord Howe, midnight in Santiago)
NIGHT_HOURS = [parse_opening_hours(h) for h in (
    "Mon-Sun 00:00-24:00",
    "Tue-Sat 09:30-14:00, Sat 20:00-24:00, Sun 00:00-03:30",
    "Mon 07:00-09:00, Mon 08:00-10:00, Fri 01:30-02:45, Sun 01:45-02:15",
)]
HOLIDAYS = [parse_holidays(h) for h in ("NW", "BE, 2026-12-24, 2026-12-31", "SN", "")]
START, END = utc(2026, 1, 1), utc(2028, 1, 1)
Case = tuple[ZoneInfo, OpeningHours, Holidays, list[datetime]]


def _transitions(tz: ZoneInfo) -> list[datetime]:
    """Where the zone's UTC offset changes between START and END (to the quarter hour)."""
    found, at = [], START
    while at < END:
        if (at + timedelta(minutes=15)).astimezone(tz).utcoffset() != \
                at.astimezone(tz).utcoffset():
            found.append(at)
        at += timedelta(minutes=15)
    return found


TRANSITIONS = {tz.key: _transitions(tz) for tz in ZONES}


@st.composite
def scenario(draw: st.DrawFn, hours: list[OpeningHours], anytime: bool) -> Case:
    """Requests around a change of the clocks, or at about that time of day up to four
    days before it, and (`anytime`) anywhere in 2026 and 2027."""
    tz = draw(st.sampled_from(ZONES))
    near = draw(st.sampled_from(TRANSITIONS[tz.key]))
    moment = st.builds(lambda days, s: near - timedelta(days=days, seconds=s),
                       st.one_of(st.just(0), st.integers(1, 4)),
                       st.integers(-90 * 60, 90 * 60))
    if anytime:
        moment |= st.integers(0, int((END - START).total_seconds())).map(
            lambda s: START + timedelta(seconds=s))
    moments = draw(st.lists(moment, min_size=2, max_size=6))
    return (tz, draw(st.sampled_from(hours)), draw(st.sampled_from(HOLIDAYS)),
            sorted(moments))


def _team_open(moment: datetime, hours: OpeningHours, holidays: Holidays,
               tz: ZoneInfo) -> bool:
    local = moment.astimezone(tz)
    return hours.open_at(local) and not holidays.is_holiday(local.date())


def _check(case: Case, urgent: bool) -> None:
    tz, hours, holidays, requests = case
    deadlines = [callback_deadline(r, urgent, hours, holidays, tz) for r in requests]
    assert deadlines == sorted(deadlines)  # a later request never gets an earlier one
    for requested, due in zip(requests, deadlines, strict=True):
        assert due >= requested
        assert due.tzinfo is UTC
        # open at the deadline, or open until it (the deadline is a close)
        assert _team_open(due, hours, holidays, tz) or \
            _team_open(due - timedelta(seconds=1), hours, holidays, tz), due.astimezone(tz)
        if urgent:  # an urgent request is never due later than a normal one
            assert due <= callback_deadline(requested, False, hours, holidays, tz)


@settings(max_examples=300, deadline=None)
@given(scenario(HOURS + NIGHT_HOURS, anytime=True), st.booleans())
def test_deadline_properties(case: Case, urgent: bool) -> None:
    _check(case, urgent)


@settings(max_examples=300, deadline=None)
@given(scenario(NIGHT_HOURS, anytime=False), st.booleans())
def test_deadline_properties_at_night(case: Case, urgent: bool) -> None:
    """Where the skipped and the repeated hour matter: open at night, requests close to a
    change of the clocks."""
    _check(case, urgent)
