"""German public holidays per federal state (Bundesland), computed. Pure.

Easter by the Gregorian computus; every other holiday is a fixed date, an offset from
Easter, or Buß- und Bettag (the Wednesday before 23 November). No table of years, no
network. The rules are the law as it stands (with the years later additions took effect:
Reformationstag in HB, HH, NI, SH from 2018, Internationaler Frauentag in BE from 2019 and
in MV from 2023, Weltkindertag in TH from 2019) plus the one-off days (Reformationstag
2017 nationwide, Tag der Befreiung 8 May 2020 and 2025 in BE). Years before 1995 are not
modelled (Buß- und Bettag was then nationwide, before 1990 17 June was a holiday).

Holidays that hold only in some municipalities (Fronleichnam in parts of SN and TH,
Augsburger Friedensfest) are not included: a Jobcenter lists them as closing days.
Mariä Himmelfahrt counts in the whole of BY.

The configuration string (`parse_holidays`): comma-separated entries, at most one state
code and any number of extra local closing days as ISO dates, e.g. `"NW"` or
`"BE, 2026-12-24, 2026-12-31"`. Without a state code (an empty string, or dates only) the
nationwide holidays hold; they cannot be switched off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Final

# the sixteen states, by their usual two-letter codes
STATES: Final = ("BW", "BY", "BE", "BB", "HB", "HH", "HE", "MV",
                 "NI", "NW", "RP", "SL", "SN", "ST", "SH", "TH")
CLOSING_DAY: Final = "Schließtag"  # the name of an extra local closing day

_ALL = frozenset(STATES)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

# (month, day, name, states, first year)
_FIXED: tuple[tuple[int, int, str, frozenset[str], int], ...] = (
    (1, 1, "Neujahr", _ALL, 1),
    (1, 6, "Heilige Drei Könige", frozenset({"BW", "BY", "ST"}), 1),
    (3, 8, "Internationaler Frauentag", frozenset({"BE"}), 2019),
    (3, 8, "Internationaler Frauentag", frozenset({"MV"}), 2023),
    (5, 1, "Tag der Arbeit", _ALL, 1),
    (8, 15, "Mariä Himmelfahrt", frozenset({"BY", "SL"}), 1),
    (9, 20, "Weltkindertag", frozenset({"TH"}), 2019),
    (10, 3, "Tag der Deutschen Einheit", _ALL, 1990),
    (10, 31, "Reformationstag", frozenset({"BB", "MV", "SN", "ST", "TH"}), 1990),
    (10, 31, "Reformationstag", frozenset({"HB", "HH", "NI", "SH"}), 2018),
    (11, 1, "Allerheiligen", frozenset({"BW", "BY", "NW", "RP", "SL"}), 1),
    (12, 25, "1. Weihnachtsfeiertag", _ALL, 1),
    (12, 26, "2. Weihnachtsfeiertag", _ALL, 1),
)
# (days after Easter Sunday, name, states)
_EASTER: tuple[tuple[int, str, frozenset[str]], ...] = (
    (-2, "Karfreitag", _ALL),
    (0, "Ostersonntag", frozenset({"BB"})),
    (1, "Ostermontag", _ALL),
    (39, "Christi Himmelfahrt", _ALL),
    (49, "Pfingstsonntag", frozenset({"BB"})),
    (50, "Pfingstmontag", _ALL),
    (60, "Fronleichnam", frozenset({"BW", "BY", "HE", "NW", "RP", "SL"})),
)
_BUSS_UND_BETTAG: Final = ("Buß- und Bettag", frozenset({"SN"}))
# holidays declared for one year only: date -> (name, states)
_ONCE: dict[date, tuple[str, frozenset[str]]] = {
    date(2017, 10, 31): ("Reformationstag", _ALL),  # 500 years of the Reformation
    date(2020, 5, 8): ("Tag der Befreiung", frozenset({"BE"})),  # 75 years since 1945
    date(2025, 5, 8): ("Tag der Befreiung", frozenset({"BE"})),  # 80 years since 1945
}


class HolidaysError(ValueError):
    """The holidays setting cannot be read; the message names the entry and what is wrong."""


def easter_sunday(year: int) -> date:
    """Easter Sunday by the Gregorian computus (the anonymous algorithm of Meeus, Jones
    and Butcher)."""
    golden = year % 19
    century, rest = divmod(year, 100)
    leap_c, leap_c_rest = divmod(century, 4)
    moon_fix = (century - (century + 8) // 25 + 1) // 3
    epact = (19 * golden + century - leap_c - moon_fix + 15) % 30
    leap_r, leap_r_rest = divmod(rest, 4)
    weekday = (32 + 2 * leap_c_rest + 2 * leap_r - epact - leap_r_rest) % 7
    correction = (golden + 11 * epact + 22 * weekday) // 451
    month, day = divmod(epact + weekday - 7 * correction + 114, 31)
    return date(year, month, day + 1)


def _buss_und_bettag(year: int) -> date:
    """The Wednesday before 23 November (22 November itself when that is a Wednesday)."""
    nov22 = date(year, 11, 22)
    return nov22 - timedelta(days=(nov22.weekday() - 2) % 7)


@lru_cache(maxsize=512)
def _statutory(state: str | None, year: int) -> MappingProxyType[date, str]:
    """The public holidays of one year in `state` (None: the nationwide ones only); two
    on one day (1 May and Christi Himmelfahrt in 2008) share it, names joined."""

    def holds(states: frozenset[str]) -> bool:
        return state in states if state is not None else states == _ALL

    found: list[tuple[date, str]] = []
    for month, day, name, states, since in _FIXED:
        if year >= since and holds(states):
            found.append((date(year, month, day), name))
    easter = easter_sunday(year)
    for offset, name, states in _EASTER:
        if holds(states):
            found.append((easter + timedelta(days=offset), name))
    name, states = _BUSS_UND_BETTAG
    if holds(states):
        found.append((_buss_und_bettag(year), name))
    for day_, (name, states) in _ONCE.items():
        if day_.year == year and holds(states):
            found.append((day_, name))
    days: dict[date, str] = {}
    for day_, name in sorted(found):
        if name not in days.get(day_, "").split(", "):
            days[day_] = f"{days[day_]}, {name}" if day_ in days else name
    return MappingProxyType(days)


@dataclass(frozen=True, slots=True)
class Holidays:
    """Public holidays of one state (None: the nationwide ones only) and extra local
    closing days. Each year's holidays are computed once and cached."""

    state: str | None = None
    closing_days: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if self.state is not None and self.state not in STATES:
            raise HolidaysError(f"{self.state!r} is not a state code ({' '.join(STATES)})")

    def name(self, d: date) -> str | None:
        """The German name of the holiday on `d` (`CLOSING_DAY` for an extra closing day
        that is no public holiday), None on an ordinary day."""
        name = _statutory(self.state, d.year).get(d)
        if name is None and d in self.closing_days:
            return CLOSING_DAY
        return name

    def is_holiday(self, d: date) -> bool:
        return self.name(d) is not None

    def in_year(self, year: int) -> list[tuple[date, str]]:
        """Every holiday and closing day of `year`, in date order."""
        days = dict(_statutory(self.state, year))
        for d in self.closing_days:
            if d.year == year:
                days.setdefault(d, CLOSING_DAY)
        return sorted(days.items())


def parse_holidays(text: str) -> Holidays:
    """`"NW"`, `"BE, 2026-12-24, 2026-12-31"`: comma-separated entries, at most one state
    code (case does not matter) and extra closing days as `YYYY-MM-DD`; empty: nationwide
    holidays only. Raises HolidaysError naming the bad entry."""
    state: str | None = None
    closing: set[date] = set()
    if not text.strip():
        return Holidays()
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            raise HolidaysError(f"{text!r}: an empty entry (two commas in a row?)")
        if entry.upper() in STATES:
            if state is not None:
                raise HolidaysError(f"{entry!r}: one state only (already {state!r})")
            state = entry.upper()
        elif _ISO_DATE.fullmatch(entry):
            try:
                closing.add(date.fromisoformat(entry))
            except ValueError:
                raise HolidaysError(f"{entry!r}: not a date") from None
        else:
            raise HolidaysError(f"{entry!r} is neither a state code ({' '.join(STATES)}) "
                                "nor a date (YYYY-MM-DD)")
    return Holidays(state, frozenset(closing))
