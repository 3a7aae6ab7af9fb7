"""The daily roll-up: what every contact record adds to its day's figures. Pure: no I/O.

Reports over long periods read one roll-up row per (local day, team, kind, main channel)
instead of every record, and the figures stay when retention deletes the records
(docs/privacy.md). A row holds counters (summed by the database when a record closes or is
rated) and the durations of its contacts, packed, so that medians and percentiles stay
exact at the resolution the report shows (0.1 s).

The roll-up is keyed without the counsellor and without any session id: it is statistics
about a team's day, not about a person.

Durations are kept twice: as integer milliseconds in the counters (sums and means are exact)
and as tenths of a second in `hist`, one little-endian uint32 per value, the metric in the
top 3 bits (METRICS order) and the tenths in the lower 29 (at most 621 days; longer values
are clamped). A record adds one value per channel it spent time on (more than 0 ms), one for
all channels together, and one for its waiting time if it has one.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from broker.hours import OpeningHours, parse_opening_hours

CHANNELS = ("video", "audio", "phone")
METRICS = (*CHANNELS, "all", "waiting")
METRIC_SHIFT = 29
VALUE_MASK = (1 << METRIC_SHIFT) - 1
NO_CHANNEL = "none"

# the counters of a roll-up row, in column order (the same names as the table's columns)
COUNTERS = (
    "records",  # every record, whatever its end
    "due",  # records that came due: all but cancelled ones
    "no_show",
    "contacts",  # records whose customer was admitted
    "fallback",
    "failed",  # contacts that ended connection_failed
    "outside",  # contacts admitted outside the opening hours
    "video_ms", "audio_ms", "phone_ms", "all_ms",  # seconds on each channel, summed, in ms
    "waiting_ms",
    "rating_n", "rating_sum",
)
KEY_COLUMNS = ("day", "team", "kind", "channel")
INDEX = {name: i for i, name in enumerate(COUNTERS)}


@dataclass(frozen=True)
class RollupBasis:
    """What a roll-up row depends on besides its records: the zone its days are read in and
    the opening hours `outside` is counted against. The contact log keeps the basis its
    roll-up was made with and rebuilds from the records it still has when it changes."""

    timezone: str
    opening_hours: str

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def hours(self) -> OpeningHours:  # read once: every closed record needs it
        return parse_opening_hours(self.opening_hours)


DEFAULT_BASIS = RollupBasis("Europe/Berlin", "Mon-Fri 08:00-18:00")


@dataclass(frozen=True, slots=True)
class RollupRow:
    """One roll-up row, or one record's share of one. `counsellor` is set only on rows made
    from a single record (a report grouped by counsellor reads records, never roll-ups)."""

    day: str  # local date, ISO (2026-11-23)
    team: str
    kind: str
    channel: str  # the main channel (see `main_channel`), or "none"
    counts: tuple[int, ...]  # COUNTERS order
    hist: bytes
    counsellor: str = ""

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.day, self.team, self.kind, self.channel)


@dataclass(frozen=True, slots=True)
class RollupColumns:
    """Roll-up rows column by column: what a report aggregates. Built from a query's rows
    with one transposition (no object per row), or from single records' shares."""

    day: Sequence[str]
    team: Sequence[str]
    kind: Sequence[str]
    channel: Sequence[str]
    counts: Sequence[Sequence[int]]  # one column per counter, COUNTERS order
    hist: Sequence[bytes]
    counsellor: Sequence[str] | None = None  # only when every row is one record

    def __len__(self) -> int:
        return len(self.day)

    @staticmethod
    def of_tuples(rows: Sequence[Sequence[Any]]) -> RollupColumns:
        """From rows in `day, team, kind, channel, <COUNTERS>, hist` order."""
        if not rows:
            return EMPTY
        day, team, kind, channel, *counts, hist = zip(*rows, strict=True)
        return RollupColumns(day, team, kind, channel, counts, hist)

    @staticmethod
    def of_rows(rows: Sequence[RollupRow]) -> RollupColumns:
        """From single records' shares (they keep their counsellor)."""
        if not rows:
            return EMPTY
        return RollupColumns(
            day=[r.day for r in rows], team=[r.team for r in rows],
            kind=[r.kind for r in rows], channel=[r.channel for r in rows],
            counts=list(zip(*(r.counts for r in rows), strict=True)),
            hist=[r.hist for r in rows], counsellor=[r.counsellor for r in rows])

    def __add__(self, other: RollupColumns) -> RollupColumns:
        if not other:
            return self
        if not self:
            return other
        return RollupColumns(
            day=[*self.day, *other.day], team=[*self.team, *other.team],
            kind=[*self.kind, *other.kind], channel=[*self.channel, *other.channel],
            counts=[[*a, *b] for a, b in zip(self.counts, other.counts, strict=True)],
            hist=[*self.hist, *other.hist],
            counsellor=None if self.counsellor is None or other.counsellor is None
            else [*self.counsellor, *other.counsellor])


EMPTY = RollupColumns((), (), (), (), [()] * len(COUNTERS), ())


def millis(seconds: float) -> int:
    """Records keep seconds to the millisecond: as an integer, exactly."""
    return round(seconds * 1000)


def tenths(ms: int) -> int:
    """A duration in tenths of a second, halves up (the resolution of a report)."""
    return min((ms + 50) // 100, VALUE_MASK)


def pack(metric: int, ms: int) -> int:
    return (metric << METRIC_SHIFT) | tenths(ms)


def main_channel(seconds: Mapping[str, float]) -> str:
    """The channel a record spent the most time on; a tie goes to the richer one (video,
    audio, phone); "none" when media never connected."""
    best, most = NO_CHANNEL, 0
    for channel in CHANNELS:
        ms = millis(float(seconds.get(channel) or 0.0))
        if ms > most:
            best, most = channel, ms
    return best


def local_day(at: float, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(at, tz).date()


def midnight(day: date, tz: ZoneInfo) -> float:
    """The first instant of a local day (a day has 23, 24 or 25 hours)."""
    return datetime.combine(day, time(), tz).timestamp()


def _rating(value: Any) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 1 <= value <= 5:
        return int(value)
    return None


def contribution(record: Mapping[str, Any], tz: ZoneInfo,
                 hours: OpeningHours) -> RollupRow:
    """What one record (the shape of `ContactRecord.to_dict()`, `satisfaction` optional)
    adds to its day's roll-up row."""
    counts = [0] * len(COUNTERS)
    counts[INDEX["records"]] = 1
    reason = record.get("end_reason")
    if record.get("state") != "cancelled":
        counts[INDEX["due"]] = 1
        counts[INDEX["no_show"]] = int(reason == "no_show")
    seconds = record.get("seconds") or {}
    values: list[int] = []
    admitted = record.get("admitted_at")
    if admitted is not None:
        counts[INDEX["contacts"]] = 1
        counts[INDEX["fallback"]] = int(bool(record.get("fallback_used")))
        counts[INDEX["failed"]] = int(reason == "connection_failed")
        counts[INDEX["outside"]] = int(not hours.open_at(datetime.fromtimestamp(admitted, tz)))
        every = 0
        for m, channel in enumerate(CHANNELS):
            ms = millis(float(seconds.get(channel) or 0.0))
            counts[INDEX[f"{channel}_ms"]] = ms
            every += ms
            if ms > 0:
                values.append(pack(m, ms))
        counts[INDEX["all_ms"]] = every
        if every > 0:
            values.append(pack(3, every))
        waiting = record.get("waiting_seconds")
        if waiting is not None:
            ms = millis(float(waiting))
            counts[INDEX["waiting_ms"]] = ms
            values.append(pack(4, ms))
        score = _rating(record.get("satisfaction"))
        if score is not None:
            counts[INDEX["rating_n"]] = 1
            counts[INDEX["rating_sum"]] = score
    return RollupRow(
        day=local_day(record["ended_at"], tz).isoformat(),
        team=str(record["team"]),
        kind=str(record["kind"]),
        channel=main_channel(seconds),
        counts=tuple(counts),
        hist=struct.pack(f"<{len(values)}I", *values),
        counsellor=str(record.get("counsellor") or ""),
    )


def rating_contribution(record: Mapping[str, Any], score: int, tz: ZoneInfo) -> RollupRow | None:
    """What a rating given after the call adds to the record's roll-up row (None: the record
    is no contact, and ratings only count for contacts)."""
    if record.get("admitted_at") is None:
        return None
    counts = [0] * len(COUNTERS)
    counts[INDEX["rating_n"]] = 1
    counts[INDEX["rating_sum"]] = score
    return RollupRow(
        day=local_day(record["ended_at"], tz).isoformat(), team=str(record["team"]),
        kind=str(record["kind"]), channel=main_channel(record.get("seconds") or {}),
        counts=tuple(counts), hist=b"",
    )


class Merger:
    """Sums rows with the same key (counters added, values joined): a day's roll-up built
    from its records one by one, without holding the records."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, str, str], list[int]] = {}
        self._hists: dict[tuple[str, str, str, str], list[bytes]] = {}

    def add(self, row: RollupRow) -> None:
        key = row.key
        have = self._counts.get(key)
        if have is None:
            self._counts[key] = list(row.counts)
            self._hists[key] = [row.hist]
        else:
            for i, v in enumerate(row.counts):
                have[i] += v
            self._hists[key].append(row.hist)

    def rows(self) -> list[RollupRow]:
        return [RollupRow(*key, tuple(self._counts[key]), b"".join(self._hists[key]))
                for key in sorted(self._counts)]


def merge(rows: Iterable[RollupRow]) -> list[RollupRow]:
    """Rows with the same key summed into one, by key."""
    merger = Merger()
    for row in rows:
        merger.add(row)
    return merger.rows()
