"""Report figures (broker/report.py) against a generated set of contacts whose answers this
file computes on its own, with plain Python: every figure, every grouping, period edges and
the daylight-saving change in Europe/Berlin (2026-10-25, 03:00 CEST -> 02:00 CET).

The generator picks each record's local wall-clock end and admission times first and keeps
the day / week / month labels and the opening-hours verdict it derives from those choices
(calendar arithmetic on dates, never a time-zone conversion of a timestamp), so the
expectations do not share the code's way of reading timestamps. The functional tests
(tests/functional/test_reports.py) write the same records into real contact logs.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from broker.errors import BadInput
from broker.record import ContactRecord
from broker.report import (
    OpeningHoursError,
    Plan,
    build_report,
    parse_group_by,
    parse_opening_hours,
    parse_period,
    parse_time,
    plan,
    retention_cutoff,
)
from broker.types import Channel, EndReason, Kind, State

TZ_NAME = "Europe/Berlin"
TZ = ZoneInfo(TZ_NAME)
HOURS = parse_opening_hours("Mon-Fri 08:00-18:00")
CHANNELS = ("video", "audio", "phone")
RANK = {"video": 0, "audio": 1, "phone": 2}
# the period: Monday 2026-10-19 00:00 CEST to Monday 2026-11-02 00:00 CET (two ISO weeks,
# two months, the clocks going back in between)
FIRST_DAY, END_DAY = date(2026, 10, 19), date(2026, 11, 2)


def local(d: date, h: int, m: int, s: int, fold: int = 0) -> float:
    return datetime(d.year, d.month, d.day, h, m, s, tzinfo=TZ, fold=fold).timestamp()


SINCE, UNTIL = local(FIRST_DAY, 0, 0, 0), local(END_DAY, 0, 0, 0)


@dataclass(frozen=True)
class Case:
    """One generated record and what the test knows about it without the code."""

    record: ContactRecord
    day: str  # the local date of ended_at, as chosen
    week: str
    month: str
    outside: bool  # admitted outside Mon-Fri 08:00-18:00, as chosen
    in_period: bool
    satisfaction: int | None = None

    def as_dict(self) -> dict[str, Any]:
        d = self.record.to_dict()
        if self.satisfaction is not None:
            d["satisfaction"] = self.satisfaction
        return d


def labels(d: date) -> tuple[str, str, str]:
    iso_year, iso_week, _ = d.isocalendar()
    return f"{d:%Y-%m-%d}", f"{iso_year}-W{iso_week:02d}", f"{d:%Y-%m}"


def make_record(n: int, *, end: float, admitted: float | None, outcome: str,
                seconds: dict[str, float], team: str, counsellor: str, kind: Kind,
                waiting: float | None, fallback: bool) -> ContactRecord:
    state = {"no_show": State.NO_SHOW, "cancelled": State.CANCELLED}.get(outcome, State.ENDED)
    reason = EndReason(outcome) if outcome != "left_waiting" else EndReason.CUSTOMER_LEFT
    joined = None if outcome in ("no_show", "cancelled") else (admitted or end) - (waiting or 5)
    segments: list[tuple[Channel, float, float]] = []
    at = admitted or end
    for c in CHANNELS:
        if seconds[c] > 0:
            segments.append((Channel(c), at, at + seconds[c]))
            at += seconds[c]
    return ContactRecord(
        session_id=f"sess-{n:05d}", team=team, counsellor=counsellor,
        customer_ref=f"K-{n}", kind=kind, state=state, planned_channel=Channel.VIDEO,
        planned_start=end - 7200, created_at=end - 86400, joined_at=joined,
        admitted_at=admitted, media_connected_at=segments[0][1] if segments else None,
        ended_at=end, end_reason=reason, segments=tuple(segments), seconds=seconds,
        waiting_seconds=waiting, setup_seconds=None, fallback_used=fallback,
    )


def generate(count: int = 360, seed: int = 20261025) -> list[Case]:
    rng = random.Random(seed)
    teams = ("t1", "t2", "t3")
    cases: list[Case] = []

    def add(d: date, end_hms: tuple[int, int, int], admit_hms: tuple[int, int, int] | None,
            outcome: str, *, fold: int = 0, in_period: bool = True,
            seconds: dict[str, float] | None = None, satisfaction: int | None = None) -> None:
        n = len(cases)
        team = teams[n % 3]
        counsellor = f"c{n % 7}"  # counsellors work in several teams here: that is fine
        admitted = None if admit_hms is None else local(d, *admit_hms, fold=fold)
        if seconds is None:
            seconds = dict.fromkeys(CHANNELS, 0.0)
            if admitted is not None and rng.random() < 0.9:
                for c in rng.sample(CHANNELS, rng.randint(1, 3)):
                    seconds[c] = rng.randint(1, 14400) / 4  # quarter seconds: exact sums
        waiting = rng.randint(0, 2400) / 4 if admitted is not None and rng.random() < 0.8 \
            else None
        record = make_record(n, end=local(d, *end_hms, fold=fold), admitted=admitted,
                             outcome=outcome, seconds=seconds, team=team,
                             counsellor=counsellor, kind=rng.choice(list(Kind)),
                             waiting=waiting, fallback=admitted is not None
                             and rng.random() < 0.3)
        outside = admit_hms is not None and not (
            d.weekday() < 5 and (8, 0, 0) <= admit_hms < (18, 0, 0))
        cases.append(Case(record, *labels(d), outside=outside, in_period=in_period,
                          satisfaction=satisfaction))

    contact_outcomes = ["completed"] * 6 + ["customer_left", "connection_failed",
                                            "interrupted", "timeout"]
    for _ in range(count):
        d = FIRST_DAY + timedelta(days=rng.randrange((END_DAY - FIRST_DAY).days))
        end = (rng.randrange(24), rng.randrange(60), rng.randrange(60))
        if d == date(2026, 10, 25) and end[0] == 2:
            end = (1, end[1], end[2])  # the doubled hour is covered by hand below
        roll = rng.random()
        if roll < 0.12:
            add(d, end, None, "no_show")
        elif roll < 0.2:
            add(d, end, None, "cancelled")
        elif roll < 0.25:
            add(d, end, None, "left_waiting")
        else:
            admit = (rng.randint(0, end[0]), rng.randrange(60), rng.randrange(60))
            admit = min(admit, end)
            add(d, end, admit, rng.choice(contact_outcomes),
                satisfaction=rng.choice([None, 1, 2, 3, 4, 5]))

    sat = date(2026, 10, 24)
    mon, fri, sun = date(2026, 10, 26), date(2026, 10, 30), date(2026, 10, 25)
    # opening-hours edges: a window includes its start and excludes its end
    add(mon, (9, 0, 0), (7, 59, 59), "completed")
    add(mon, (9, 0, 0), (8, 0, 0), "completed")
    add(fri, (18, 30, 0), (17, 59, 59), "completed")
    add(fri, (18, 30, 0), (18, 0, 0), "completed")
    add(sat, (11, 0, 0), (10, 0, 0), "completed")
    # the doubled hour on 2026-10-25: 02:30 CEST and 02:30 CET are both that day
    add(sun, (2, 30, 0), (2, 10, 0), "completed", fold=0)
    add(sun, (2, 30, 0), (2, 10, 0), "completed", fold=1)
    # day, week and month edges: 23:59:59 and 00:00:00 local
    add(date(2026, 10, 25), (23, 59, 59), (23, 0, 0), "completed")  # Sunday: week 43
    add(date(2026, 10, 26), (0, 0, 0), (0, 0, 0), "completed")  # Monday: week 44
    add(date(2026, 10, 31), (23, 59, 59), (23, 30, 0), "completed")  # October
    add(date(2026, 11, 1), (0, 0, 0), None, "no_show")  # November
    # the period's own edges: from is in, to is out, just before from is out
    add(FIRST_DAY, (0, 0, 0), (0, 0, 0), "completed")
    add(END_DAY, (0, 0, 0), (0, 0, 0), "completed", in_period=False)
    add(FIRST_DAY - timedelta(days=1), (23, 59, 59), (23, 0, 0), "completed",
        in_period=False)
    # a tie between channels goes to the richer one; a contact that never connected
    add(mon, (12, 0, 0), (11, 0, 0), "completed",
        seconds={"video": 0.0, "audio": 600.0, "phone": 600.0})
    add(mon, (12, 0, 0), (11, 0, 0), "connection_failed", seconds=dict.fromkeys(CHANNELS, 0.0))
    return cases


CASES = generate()


def test_the_generated_times_are_the_ones_meant() -> None:
    """The generator's wall-clock choices land where the calendar says (no conversion
    in the code under test is involved)."""
    by_id = {c.record.session_id: c for c in CASES}
    doubled = [c for c in by_id.values() if c.record.end_reason == EndReason.COMPLETED
               and c.day == "2026-10-25" and c.record.admitted_at is not None
               and (c.record.ended_at - c.record.admitted_at) == 1200.0]
    assert {c.record.ended_at for c in doubled} >= {
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC).timestamp(),  # 02:30 CEST
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC).timestamp(),  # 02:30 CET
    }
    assert datetime(2026, 10, 18, 22, 0, tzinfo=UTC).timestamp() == SINCE
    assert datetime(2026, 11, 1, 23, 0, tzinfo=UTC).timestamp() == UNTIL
    assert UNTIL - SINCE == 14 * 86400 + 3600  # the day the clocks went back has 25 hours


# ---------------------------------------------------------------- the expectations


def tenth(value: float) -> Fraction:
    """A value to the tenth of a second, halves up (the resolution of medians and p90)."""
    return Fraction(math.floor(Fraction(value) * 10 + Fraction(1, 2)), 10)


def nearest_rank(values: list[float], share: Fraction) -> float:
    ordered = sorted(tenth(v) for v in values)
    rank = math.ceil(share * len(ordered))  # exactly, in fractions
    return float(ordered[max(rank, 1) - 1])


def nearest_rank_p90(values: list[float]) -> float:
    return nearest_rank(values, Fraction(9, 10))


def median(values: list[float]) -> float:
    return nearest_rank(values, Fraction(1, 2))


def main_channel(seconds: dict[str, float]) -> str:
    used = [(-s, RANK[c], c) for c, s in seconds.items() if s > 0]
    return min(used)[2] if used else "none"


def exact_sum(values: Iterable[float | Fraction]) -> Fraction:
    return sum((Fraction(v) for v in values), Fraction(0))


def half_up(value: Fraction | float, digits: int) -> float:
    """Rounded to `digits` decimals from the exact value, halves up (0.15 -> 0.2, which
    round() would make 0.1: the float 0.15 is a little less)."""
    scale = 10 ** digits
    return float(math.floor(Fraction(value) * scale + Fraction(1, 2)) / scale)


def rate(part: int, whole: int) -> float | None:
    return half_up(Fraction(part, whole), 4) if whole else None


def expected_figures(cases: Sequence[Case]) -> dict[str, Any]:
    contacts = [c for c in cases if c.record.admitted_at is not None]
    due = [c for c in cases if c.record.state != State.CANCELLED]
    no_shows = [c for c in due if c.record.state == State.NO_SHOW]

    def stats(values: list[float], total: Fraction) -> dict[str, float | None]:
        if not values:
            return {"total": half_up(total, 1), "mean": None, "median": None, "p90": None}
        return {"total": half_up(total, 1), "mean": half_up(exact_sum(values) / len(values), 1),
                "median": median(values), "p90": nearest_rank_p90(values)}

    seconds: dict[str, Any] = {}
    for channel in CHANNELS:
        per = [c.record.seconds[channel] for c in contacts]
        seconds[channel] = stats([s for s in per if s > 0], exact_sum(per))
    every = [exact_sum(c.record.seconds.values()) for c in contacts]
    seconds["all"] = stats([float(s) for s in every if s > 0], exact_sum(every))
    waits = [c.record.waiting_seconds for c in contacts if c.record.waiting_seconds is not None]
    ratings = [c.satisfaction for c in contacts if c.satisfaction is not None]
    return {
        "contacts": len(contacts),
        "seconds": seconds,
        "waiting_seconds": {
            "mean": half_up(exact_sum(waits) / len(waits), 1) if waits else None,
            "p90": nearest_rank_p90(waits) if waits else None,
        },
        "no_show_rate": rate(len(no_shows), len(due)),
        "fallback_rate": rate(sum(c.record.fallback_used for c in contacts), len(contacts)),
        "connection_failure_rate": rate(
            sum(c.record.end_reason == EndReason.CONNECTION_FAILED for c in contacts),
            len(contacts)),
        "outside_hours_share": rate(sum(c.outside for c in contacts), len(contacts)),
        "satisfaction": {"count": len(ratings),
                         "mean": half_up(Fraction(sum(ratings), len(ratings)), 2)
                         if ratings else None},
    }


def group_value(case: Case, name: str) -> str:
    r = case.record
    return {"day": case.day, "week": case.week, "month": case.month, "team": r.team,
            "counsellor": r.counsellor, "channel": main_channel(r.seconds),
            "kind": str(r.kind)}[name]


def expected_report(cases: Iterable[Case], group_by: Sequence[str]
                    ) -> tuple[dict[tuple[str, ...], dict[str, Any]], dict[str, Any]]:
    """(figures by group key, total figures) for the cases in the period."""
    inside = [c for c in cases if c.in_period]
    groups: dict[tuple[str, ...], list[Case]] = defaultdict(list)
    for c in inside:
        groups[tuple(group_value(c, g) for g in group_by)].append(c)
    return {k: expected_figures(v) for k, v in groups.items()}, expected_figures(inside)


def rows_by_group(report: dict[str, Any]) -> dict[tuple[str, ...], dict[str, Any]]:
    out = {}
    for row in report["rows"]:
        key = tuple(row["group"][g] for g in report["group_by"])
        out[key] = {k: v for k, v in row.items() if k != "group"}
    return out


GROUPINGS: list[tuple[str, ...]] = [
    (), ("day",), ("week",), ("month",), ("team",), ("counsellor",), ("channel",), ("kind",),
    ("month", "team", "channel"), ("week", "kind"), ("day", "counsellor"),
    ("channel", "kind", "team"),
]


def check_report(report: dict[str, Any], cases: Sequence[Case],
                 group_by: Sequence[str]) -> None:
    expected_rows, expected_total = expected_report(cases, group_by)
    assert report["group_by"] == list(group_by)
    assert report["timezone"] == TZ_NAME
    assert report["total"] == expected_total
    got = rows_by_group(report)
    assert set(got) == set(expected_rows)
    for key, figures in expected_rows.items():
        assert got[key] == figures, key
    keys = [tuple(r["group"][g] for g in group_by) for r in report["rows"]]
    assert keys == sorted(keys), "rows are sorted by their group values"


# ---------------------------------------------------------------- the tests


@pytest.mark.parametrize("group_by", GROUPINGS, ids=lambda g: ",".join(g) or "none")
def test_every_grouping_against_independent_figures(group_by: tuple[str, ...]) -> None:
    """Every figure of every row and of the total, with ratings present on some records
    (as they will be once the record stores them)."""
    report = build_report([c.as_dict() for c in CASES], since=SINCE, until=UNTIL,
                          timezone=TZ_NAME, group_by=group_by, hours=HOURS)
    check_report(report, CASES, group_by)


def test_the_generated_set_covers_what_the_figures_depend_on() -> None:
    """Guards the test itself: a generator change must not silently drop a case."""
    _, total = expected_report(CASES, ())
    assert total["contacts"] > 250 and 0 < total["no_show_rate"] < 1
    assert 0 < total["fallback_rate"] < 1 and 0 < total["connection_failure_rate"] < 1
    assert 0 < total["outside_hours_share"] < 1 and total["satisfaction"]["count"] > 20
    rows, _ = expected_report(CASES, ("channel", "week", "month"))
    assert {k[0] for k in rows} == {"video", "audio", "phone", "none"}
    assert {k[1] for k in rows} == {"2026-W43", "2026-W44"}
    assert {k[2] for k in rows} == {"2026-10", "2026-11"}
    assert sum(not c.in_period for c in CASES) == 2


def test_period_edges_and_the_doubled_hour() -> None:
    """23:59:59 and 00:00:00 fall on their own days, weeks and months; both 02:30 of
    2026-10-25 are that day; `from` is in, `to` is out."""
    records = [c.as_dict() for c in CASES]
    report = build_report(records, since=SINCE, until=UNTIL, timezone=TZ_NAME,
                          group_by=("day",), hours=HOURS)
    days = {r["group"]["day"] for r in report["rows"]}
    assert min(days) == "2026-10-19" and max(days) == "2026-11-01"
    edge = [c.as_dict() for c in CASES[-11:-4]]
    by_day = build_report(edge, since=SINCE, until=UNTIL, timezone=TZ_NAME,
                          group_by=("day", "week", "month"), hours=HOURS)
    got = {tuple(r["group"].values()): r["contacts"] for r in by_day["rows"]}
    assert got == {
        ("2026-10-25", "2026-W43", "2026-10"): 3,  # 02:30 twice, 23:59:59
        ("2026-10-26", "2026-W44", "2026-10"): 1,  # 00:00:00
        ("2026-10-31", "2026-W44", "2026-10"): 1,
        ("2026-11-01", "2026-W44", "2026-11"): 0,  # a no-show: a row, but no contact
        ("2026-10-19", "2026-W43", "2026-10"): 1,
    }


def test_week_labels_across_a_year_end() -> None:
    """ISO weeks: Friday 2027-01-01 is in 2026-W53, Monday 2027-01-04 starts 2027-W01."""
    recs = [make_record(i, end=local(d, 12, 0, 0), admitted=local(d, 11, 0, 0),
                        outcome="completed", seconds={"video": 60.0, "audio": 0.0,
                                                      "phone": 0.0},
                        team="t1", counsellor="c1", kind=Kind.SCHEDULED, waiting=None,
                        fallback=False).to_dict()
            for i, d in enumerate([date(2026, 12, 31), date(2027, 1, 1), date(2027, 1, 4)])]
    report = build_report(recs, since=local(date(2026, 12, 1), 0, 0, 0),
                          until=local(date(2027, 2, 1), 0, 0, 0), timezone=TZ_NAME,
                          group_by=("week", "month"), hours=HOURS)
    assert [tuple(r["group"].values()) for r in report["rows"]] == [
        ("2026-W53", "2026-12"), ("2026-W53", "2027-01"), ("2027-W01", "2027-01")]


def test_an_empty_period_has_no_rows_and_null_figures() -> None:
    report = build_report([], since=SINCE, until=UNTIL, timezone=TZ_NAME,
                          group_by=("day",), hours=HOURS)
    assert report["rows"] == []
    total = report["total"]
    assert total["contacts"] == 0 and total["no_show_rate"] is None
    assert total["seconds"]["all"] == {"total": 0.0, "mean": None, "median": None,
                                       "p90": None}
    assert total["satisfaction"] == {"count": 0, "mean": None}


def test_records_without_a_rating_report_no_satisfaction() -> None:
    """The record has no satisfaction field yet: count 0, mean null."""
    report = build_report([c.record.to_dict() for c in CASES], since=SINCE, until=UNTIL,
                          timezone=TZ_NAME, group_by=(), hours=HOURS)
    assert report["total"]["satisfaction"] == {"count": 0, "mean": None}


def test_p90_and_median_by_hand() -> None:
    """Nearest rank: of 1..10 the p90 is 9 and the median 5, of 1..11 the p90 is 10;
    values count to the tenth of a second, halves up from the millisecond."""
    def one(seconds: list[float]) -> dict[str, Any]:
        recs = [make_record(i, end=SINCE + 100 + i, admitted=SINCE + 50, outcome="completed",
                            seconds={"video": s, "audio": 0.0, "phone": 0.0}, team="t1",
                            counsellor="c1", kind=Kind.SCHEDULED, waiting=None,
                            fallback=False).to_dict() for i, s in enumerate(seconds)]
        report = build_report(recs, since=SINCE, until=UNTIL, timezone=TZ_NAME,
                              group_by=(), hours=HOURS)
        return dict(report["total"]["seconds"]["video"])

    assert one([float(i) for i in range(10, 0, -1)]) == {
        "total": 55.0, "mean": 5.5, "median": 5.0, "p90": 9.0}
    assert one([float(i) for i in range(1, 12)])["p90"] == 10.0
    assert one([0.04, 0.04, 0.3]) == {"total": 0.4, "mean": 0.1, "median": 0.0, "p90": 0.3}
    assert one([0.05, 0.049, 0.149, 0.15]) == {
        "total": 0.4, "mean": 0.1, "median": 0.1, "p90": 0.2}
    assert one([0.049, 0.049, 0.05]) == {"total": 0.1, "mean": 0.0, "median": 0.0, "p90": 0.1}
    # rounding is from the exact sum, halves up: round(0.15, 1) would say 0.1
    assert one([0.15]) == {"total": 0.2, "mean": 0.2, "median": 0.2, "p90": 0.2}
    assert one([0.05, 0.1]) == {"total": 0.2, "mean": 0.1, "median": 0.1, "p90": 0.1}


# ---------------------------------------------------------------- parsing


def test_opening_hours_parse() -> None:
    hours = parse_opening_hours("Mon-Thu 08:00-12:00, Mon-Thu 13:00-16:00,Fri 08:00-12:30, "
                                "sat 09:00-24:00")
    def at(d: int, h: int, m: int) -> datetime:  # 2026-10-19 is a Monday
        return datetime(2026, 10, d, h, m, tzinfo=TZ)

    assert hours.open_at(at(19, 8, 0)) and not hours.open_at(at(19, 12, 0))
    assert hours.open_at(at(22, 15, 59)) and not hours.open_at(at(22, 16, 0))
    assert hours.open_at(at(23, 12, 29)) and not hours.open_at(at(23, 12, 30))
    assert hours.open_at(at(24, 23, 59)) and not hours.open_at(at(25, 10, 0))


@pytest.mark.parametrize("text", [
    "", "Mon-Fri", "Mon-Fri 8:00-18:00", "Mon-Fri 08:00-18:00,", "Fri-Mon 08:00-18:00",
    "Mo-Fr 08:00-18:00", "Mon-Fri 18:00-08:00", "Mon-Fri 08:00-24:01", "Mon 25:00-26:00",
    "Mon-Fri 08:60-09:00", "Mon-Fri 08:00-18:00; Sat 09:00-12:00",
])
def test_malformed_opening_hours_are_refused_with_the_entry(text: str) -> None:
    with pytest.raises(OpeningHoursError) as caught:
        parse_opening_hours(text)
    message = str(caught.value)  # names the entry (quoted), or says there is none
    assert "'" in message or message.startswith("no opening hours"), message


def test_times_in_a_request() -> None:
    """A bare date is local midnight (CEST before the change, CET after), a time without
    offset is local, an offset or Unix seconds are taken as given."""
    assert parse_time("2026-10-25", "from", TZ) == datetime(
        2026, 10, 24, 22, 0, tzinfo=UTC).timestamp()
    assert parse_time("2026-10-26", "from", TZ) == datetime(
        2026, 10, 25, 23, 0, tzinfo=UTC).timestamp()
    assert parse_time("2026-10-26T08:00", "from", TZ) == datetime(
        2026, 10, 26, 7, 0, tzinfo=UTC).timestamp()
    assert parse_time("2026-10-26T08:00:00Z", "from", TZ) == datetime(
        2026, 10, 26, 8, 0, tzinfo=UTC).timestamp()
    assert parse_time("1792000000", "from", TZ) == 1792000000.0
    assert parse_time("1792000000.5", "from", TZ) == 1792000000.5


@pytest.mark.parametrize(("since", "until"), [
    (None, "2026-11-01"), ("2026-11-01", None), ("yesterday", "2026-11-01"),
    ("2026-02-30", "2026-03-01"), ("2026-11-01", "2026-11-01"), ("2026-11-02", "2026-11-01"),
    ("2026-01-01", "2027-02-06"), ("1" * 41, "2"), ("NaN", "Infinity"),
    ("0001-01-01", "0001-01-02"), ("9999-12-31", "9999-12-31T23:59"), ("", "1"),
])
def test_bad_periods_are_bad_input(since: str | None, until: str | None) -> None:
    with pytest.raises(BadInput):
        parse_period(since, until, TZ)


def test_a_period_of_400_days_is_allowed_and_one_more_second_is_not() -> None:
    start = parse_time("2026-01-01", "from", TZ)
    end = parse_time("2027-02-05", "to", TZ)  # 400 local days later (both CET)
    assert parse_period("2026-01-01", "2027-02-05", TZ) == (start, end)
    with pytest.raises(BadInput, match="400"):
        parse_period("2026-01-01", str(end + 1), TZ)


def test_group_by_names() -> None:
    assert parse_group_by(None) == () and parse_group_by("") == ()
    assert parse_group_by("day,team,channel") == ("day", "team", "channel")
    for bad in ("day,", "days", "day,day", " day", "Team"):
        with pytest.raises(BadInput):
            parse_group_by(bad)


# ---------------------------------------------------------------- where figures come from


def test_plan_reads_whole_days_from_the_rollup_and_edges_from_records() -> None:
    assert plan(SINCE, UNTIL, TZ, by_counsellor=False) == Plan(("2026-10-19", "2026-11-02"), ())
    a, b = local(date(2026, 10, 19), 12, 30, 0), local(date(2026, 11, 1), 6, 0, 0)
    assert plan(a, b, TZ, by_counsellor=False) == Plan(
        ("2026-10-20", "2026-11-01"),
        ((a, local(date(2026, 10, 20), 0, 0, 0)), (local(date(2026, 11, 1), 0, 0, 0), b)))
    # the 25-hour day is one whole day: 2026-10-24 22:00 UTC to 2026-10-25 23:00 UTC
    sun, mon = local(date(2026, 10, 25), 0, 0, 0), local(date(2026, 10, 26), 0, 0, 0)
    assert mon - sun == 25 * 3600
    assert plan(sun, mon, TZ, by_counsellor=False) == Plan(("2026-10-25", "2026-10-26"), ())
    # less than a day, or by counsellor: records only
    assert plan(sun + 1, mon, TZ, by_counsellor=False) == Plan(None, ((sun + 1, mon),))
    assert plan(SINCE, UNTIL, TZ, by_counsellor=True) == Plan(None, ((SINCE, UNTIL),))


def test_retention_cutoff_is_local_midnight_days_back() -> None:
    now = datetime(2026, 11, 23, 14, 0, tzinfo=UTC).timestamp()
    # 90 days before 2026-11-23 is 2026-08-25, summer time: midnight is 22:00 UTC before
    assert retention_cutoff(now, 90, TZ) == datetime(2026, 8, 24, 22, 0, tzinfo=UTC).timestamp()
    # just after midnight local (23:30 UTC), "today" is already the next day
    late = datetime(2026, 11, 23, 23, 30, tzinfo=UTC).timestamp()
    assert retention_cutoff(late, 1, TZ) == datetime(2026, 11, 22, 23, 0,
                                                     tzinfo=UTC).timestamp()
    # across the clock change: one day back from Monday 26 October is Sunday's midnight
    monday = datetime(2026, 10, 26, 10, 0, tzinfo=UTC).timestamp()
    assert retention_cutoff(monday, 1, TZ) == datetime(2026, 10, 24, 22, 0,
                                                       tzinfo=UTC).timestamp()
