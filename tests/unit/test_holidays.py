"""Public holidays (broker/holidays.py) against hand-written literals: Easter Sundays taken
from published calendars, every holiday of 2026 in NW and nationwide, the number per
state, dated spot checks for the rules that hold in some states or from some year on, and
the configuration string with its error messages."""

from __future__ import annotations

from datetime import date

import pytest

from broker.holidays import (
    CLOSING_DAY,
    STATES,
    Holidays,
    HolidaysError,
    easter_sunday,
    parse_holidays,
)

EASTER_SUNDAYS = [
    date(1818, 3, 22),  # the earliest possible
    date(1943, 4, 25),  # the latest possible
    date(2000, 4, 23),
    date(2008, 3, 23),
    date(2011, 4, 24),
    date(2019, 4, 21),
    date(2024, 3, 31),
    date(2025, 4, 20),
    date(2026, 4, 5),
    date(2027, 3, 28),
    date(2028, 4, 16),
    date(2029, 4, 1),
    date(2030, 4, 21),
    date(2038, 4, 25),
    date(2285, 3, 22),
]


@pytest.mark.parametrize("easter", EASTER_SUNDAYS, ids=str)
def test_easter_sunday(easter: date) -> None:
    assert easter_sunday(easter.year) == easter


NATIONWIDE_2026 = [
    (date(2026, 1, 1), "Neujahr"),
    (date(2026, 4, 3), "Karfreitag"),
    (date(2026, 4, 6), "Ostermontag"),
    (date(2026, 5, 1), "Tag der Arbeit"),
    (date(2026, 5, 14), "Christi Himmelfahrt"),
    (date(2026, 5, 25), "Pfingstmontag"),
    (date(2026, 10, 3), "Tag der Deutschen Einheit"),
    (date(2026, 12, 25), "1. Weihnachtsfeiertag"),
    (date(2026, 12, 26), "2. Weihnachtsfeiertag"),
]


def test_nationwide_holidays_of_2026() -> None:
    """Without a state (the empty setting) only the nine nationwide holidays hold."""
    assert Holidays().in_year(2026) == NATIONWIDE_2026
    assert parse_holidays("").in_year(2026) == NATIONWIDE_2026


def test_every_holiday_of_2026_in_nw() -> None:
    assert Holidays("NW").in_year(2026) == sorted([
        *NATIONWIDE_2026,
        (date(2026, 6, 4), "Fronleichnam"),
        (date(2026, 11, 1), "Allerheiligen"),
    ])


def test_every_holiday_of_2026_in_sn() -> None:
    assert Holidays("SN").in_year(2026) == sorted([
        *NATIONWIDE_2026,
        (date(2026, 10, 31), "Reformationstag"),
        (date(2026, 11, 18), "Buß- und Bettag"),
    ])


def test_how_many_holidays_each_state_has_in_2026() -> None:
    expected = {"BW": 12, "BY": 13, "BE": 10, "BB": 12, "HB": 10, "HH": 10, "HE": 10,
                "MV": 11, "NI": 10, "NW": 11, "RP": 11, "SL": 12, "SN": 11, "ST": 11,
                "SH": 10, "TH": 11}
    assert set(expected) == set(STATES)
    assert {s: len(Holidays(s).in_year(2026)) for s in STATES} == expected


# (states where it holds, date, name): every other state has no holiday that day
SPOT_CHECKS = [
    ({"BW", "BY", "ST"}, date(2026, 1, 6), "Heilige Drei Könige"),
    ({"BE"}, date(2019, 3, 8), "Internationaler Frauentag"),
    (set(), date(2018, 3, 8), ""),  # before Berlin made it one
    ({"BE", "MV"}, date(2023, 3, 8), "Internationaler Frauentag"),
    ({"BE"}, date(2022, 3, 8), "Internationaler Frauentag"),  # MV only from 2023
    ({"BB"}, date(2026, 4, 5), "Ostersonntag"),
    ({"BB"}, date(2026, 5, 24), "Pfingstsonntag"),
    ({"BW", "BY", "HE", "NW", "RP", "SL"}, date(2026, 6, 4), "Fronleichnam"),
    ({"BW", "BY", "HE", "NW", "RP", "SL"}, date(2025, 6, 19), "Fronleichnam"),
    ({"BW", "BY", "HE", "NW", "RP", "SL"}, date(2024, 5, 30), "Fronleichnam"),
    ({"BY", "SL"}, date(2026, 8, 15), "Mariä Himmelfahrt"),
    ({"TH"}, date(2019, 9, 20), "Weltkindertag"),
    (set(), date(2018, 9, 20), ""),
    ({"BB", "MV", "SN", "ST", "TH"}, date(2016, 10, 31), "Reformationstag"),
    (set(STATES), date(2017, 10, 31), "Reformationstag"),  # 500 years, once nationwide
    ({"BB", "HB", "HH", "MV", "NI", "SN", "ST", "SH", "TH"}, date(2018, 10, 31),
     "Reformationstag"),
    ({"BW", "BY", "NW", "RP", "SL"}, date(2026, 11, 1), "Allerheiligen"),
    ({"SN"}, date(2022, 11, 16), "Buß- und Bettag"),
    ({"SN"}, date(2023, 11, 22), "Buß- und Bettag"),  # 22 November itself a Wednesday
    ({"SN"}, date(2024, 11, 20), "Buß- und Bettag"),
    ({"SN"}, date(2025, 11, 19), "Buß- und Bettag"),
    ({"SN"}, date(2026, 11, 18), "Buß- und Bettag"),
    ({"SN"}, date(2027, 11, 17), "Buß- und Bettag"),
    ({"BE"}, date(2020, 5, 8), "Tag der Befreiung"),
    ({"BE"}, date(2025, 5, 8), "Tag der Befreiung"),
    (set(), date(2026, 5, 8), ""),
    (set(STATES), date(2027, 5, 6), "Christi Himmelfahrt"),
    (set(STATES), date(2027, 5, 17), "Pfingstmontag"),
    (set(STATES), date(2030, 4, 19), "Karfreitag"),
    (set(), date(2026, 12, 24), ""),  # Heiligabend is no public holiday
    (set(), date(2026, 12, 31), ""),
]


@pytest.mark.parametrize(("states", "day", "name"), SPOT_CHECKS,
                         ids=[f"{d}-{n or 'none'}" for _, d, n in SPOT_CHECKS])
def test_spot_checks_per_state(states: set[str], day: date, name: str) -> None:
    for state in STATES:
        holidays = Holidays(state)
        if state in states:
            assert holidays.name(day) == name, state
            assert holidays.is_holiday(day), state
        else:
            assert holidays.name(day) is None, state
            assert not holidays.is_holiday(day), state


def test_two_holidays_on_one_day_share_it() -> None:
    """In 2008 Easter fell on 23 March, so Christi Himmelfahrt was on 1 May."""
    assert Holidays().name(date(2008, 5, 1)) == "Christi Himmelfahrt, Tag der Arbeit"
    assert [d for d, _ in Holidays().in_year(2008)].count(date(2008, 5, 1)) == 1
    # 2017 in Brandenburg: the state's own Reformationstag and the nationwide one
    assert Holidays("BB").name(date(2017, 10, 31)) == "Reformationstag"


def test_closing_days() -> None:
    holidays = parse_holidays("BE, 2026-12-24, 2026-12-31, 2026-12-25, 2027-01-02")
    assert holidays.name(date(2026, 12, 24)) == CLOSING_DAY == "Schließtag"
    assert holidays.is_holiday(date(2026, 12, 31))
    assert holidays.name(date(2026, 12, 25)) == "1. Weihnachtsfeiertag"  # the holiday's name
    assert holidays.in_year(2026)[-4:] == [
        (date(2026, 12, 24), "Schließtag"),
        (date(2026, 12, 25), "1. Weihnachtsfeiertag"),
        (date(2026, 12, 26), "2. Weihnachtsfeiertag"),
        (date(2026, 12, 31), "Schließtag"),
    ]
    assert len(holidays.in_year(2026)) == 12  # BE's ten and two closing days
    assert holidays.in_year(2027)[:2] == [(date(2027, 1, 1), "Neujahr"),
                                          (date(2027, 1, 2), "Schließtag")]
    assert not parse_holidays("BE").is_holiday(date(2026, 12, 24))


def test_in_year_hands_out_a_copy() -> None:
    """The per-year cache stays intact whatever a caller does with the list."""
    days = Holidays("HE").in_year(2026)
    days.clear()
    assert len(Holidays("HE").in_year(2026)) == 10


@pytest.mark.parametrize(("text", "expected"), [
    ("NW", Holidays("NW")),
    ("", Holidays()),
    ("   ", Holidays()),
    (" be , 2026-12-24,2026-12-31 ", Holidays("BE", frozenset({date(2026, 12, 24),
                                                                date(2026, 12, 31)}))),
    ("2026-12-24", Holidays(None, frozenset({date(2026, 12, 24)}))),
    ("2026-12-24, SN, 2026-12-24", Holidays("SN", frozenset({date(2026, 12, 24)}))),
])
def test_parse_holidays(text: str, expected: Holidays) -> None:
    assert parse_holidays(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("XX", "'XX' is neither a state code (BW BY BE BB HB HH HE MV NI NW RP SL SN ST SH TH) "
           "nor a date (YYYY-MM-DD)"),
    ("none", "'none' is neither a state code"),
    ("Nordrhein-Westfalen", "'Nordrhein-Westfalen' is neither a state code"),
    ("NW, BY", "'BY': one state only (already 'NW')"),
    ("NW, 2026-02-30", "'2026-02-30': not a date"),
    ("NW, 24.12.2026", "'24.12.2026' is neither a state code"),
    ("NW, 20261224", "'20261224' is neither a state code"),  # fromisoformat would take it
    ("NW,,2026-12-24", "'NW,,2026-12-24': an empty entry (two commas in a row?)"),
    ("NW,", "'NW,': an empty entry"),
])
def test_parse_errors_name_the_entry(text: str, message: str) -> None:
    with pytest.raises(HolidaysError) as info:
        parse_holidays(text)
    assert str(info.value).startswith(message)
    assert isinstance(info.value, ValueError)


def test_an_unknown_state_is_refused_when_built_directly() -> None:
    with pytest.raises(HolidaysError, match="'Bayern' is not a state code"):
        Holidays("Bayern")
