"""Opening hours (`CB_OPENING_HOURS`): reports count contacts admitted outside them. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ENTRY = re.compile(r"([A-Za-z]{3})(?:-([A-Za-z]{3}))? +(\d{2}):(\d{2})-(\d{2}):(\d{2})")


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
