"""Telephone keys: RFC 4733 telephone-events in and out, and SIP INFO as a fallback.

aiortc has no DTMF at all, and aiortp's sender bursts every packet of a digit at once
with timestamp 0 (its own receiver reads "15#" as "1"), so both directions are ours.
No I/O here: the receiver takes packets, the sender returns a schedule that the media
layer puts on the wire at 20 ms steps on its audio timeline.

Receiving (RFC 4733 §2.5.1): every packet of one key press carries the same RTP
timestamp, the duration grows, and the last one has the end bit and is sent three
times. A press is reported once, at its first end packet; the repeats are recognised
by (SSRC, timestamp). A press whose end packets were all lost is reported when the
next press (a new timestamp) begins. Telephone-events may come from an SSRC other than
the audio's (SIPp's stock captures do): presses are keyed by SSRC too.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

DIGITS = "0123456789*#ABCD"  # event codes 0-15 (RFC 4733 §3.2)
EVENT_OF = {d: i for i, d in enumerate(DIGITS)}

CLOCK_RATE = 8000  # telephone-event/8000 (the only rate G.711 calls use)
STEP_MS = 20  # one packet per 20 ms while a key is held
END_REPEATS = 3  # the end packet is sent three times (RFC 4733 §2.5.1.4)
DEFAULT_DURATION_MS = 100
DEFAULT_VOLUME = 10  # -10 dBm0


@dataclass(frozen=True, slots=True)
class EventPayload:
    """The four bytes of an RFC 4733 named-event payload."""

    event: int
    end: bool
    volume: int
    duration: int  # in timestamp units (1/8000 s)

    @classmethod
    def parse(cls, payload: bytes) -> EventPayload | None:
        if len(payload) < 4:
            return None
        event, flags, duration = struct.unpack_from("!BBH", payload)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def serialize(self) -> bytes:
        flags = (0x80 if self.end else 0) | (self.volume & 0x3F)
        return struct.pack("!BBH", self.event, flags, self.duration & 0xFFFF)


class DtmfReceiver:
    """Turns telephone-event packets into key presses, each exactly once."""

    def __init__(self, memory: int = 16) -> None:
        self._current: tuple[int, int] | None = None  # (ssrc, timestamp) of the open press
        self._current_event = -1
        self._current_duration = 0
        self._done: deque[tuple[int, int]] = deque(maxlen=memory)  # presses already reported

    def feed(self, ssrc: int, timestamp: int, payload: bytes) -> list[str]:
        """One packet in; the presses it completes out (usually none or one)."""
        ev = EventPayload.parse(payload)
        if ev is None or ev.event >= len(DIGITS):
            return []  # not a key (flash hook, tones): ignored
        key = (ssrc, timestamp)
        if key in self._done:
            return []  # a repeated end packet, or a late one of a press already reported
        out: list[str] = []
        if self._current is not None and self._current != key:
            # a new press began while the previous one never showed its end
            if self._current_duration > 0:
                out.append(DIGITS[self._current_event])
            self._done.append(self._current)
            self._current = None
        if ev.end:
            out.append(DIGITS[ev.event])
            self._done.append(key)
            self._current = None
        else:
            self._current = key
            self._current_event = ev.event
            self._current_duration = ev.duration
        return out

    def flush(self) -> list[str]:
        """A press still open with no end (e.g. the stream stopped): report it."""
        if self._current is None or self._current_duration <= 0:
            return []
        self._done.append(self._current)
        self._current = None
        return [DIGITS[self._current_event]]


@dataclass(frozen=True, slots=True)
class EventPacket:
    """One packet of a key press to send: when (after the press began) and what."""

    offset_ms: int
    marker: bool
    payload: bytes


def event_packets(digit: str, duration_ms: int = DEFAULT_DURATION_MS,
                  volume: int = DEFAULT_VOLUME) -> list[EventPacket]:
    """The packets of one key press, paced at 20 ms: the marker on the first, a growing
    duration, then the end packet three times (20 ms apart too, so one burst of loss
    cannot take all three). All share one RTP timestamp: the audio timeline's position
    when the press begins, which the sender supplies."""
    event = EVENT_OF.get(digit.upper())
    if event is None:
        raise ValueError(f"not a telephone key: {digit!r}")
    if duration_ms < STEP_MS:
        raise ValueError(f"a key press lasts at least {STEP_MS} ms, not {duration_ms}")
    step = CLOCK_RATE * STEP_MS // 1000
    total = duration_ms * CLOCK_RATE // 1000
    packets: list[EventPacket] = []
    elapsed = step
    offset = 0
    while elapsed < total:
        packets.append(EventPacket(offset, offset == 0,
                                   EventPayload(event, False, volume, elapsed).serialize()))
        elapsed += step
        offset += STEP_MS
    end = EventPayload(event, True, volume, total).serialize()
    for i in range(END_REPEATS):
        packets.append(EventPacket(offset + i * STEP_MS, offset == 0 and i == 0, end))
    return packets


def digit_from_info(content_type: str | None, body: str) -> str | None:
    """The key in a SIP INFO body (application/dtmf-relay or application/dtmf), if any.

    dtmf-relay: "Signal=5\\r\\nDuration=160"; some phones send "Signal=10" for `*` and
    "Signal=11" for `#`. application/dtmf: the bare key.
    """
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == "application/dtmf-relay":
        for line in body.splitlines():
            name, sep, value = line.partition("=")
            if sep and name.strip().lower() == "signal":
                return _key(value.strip())
        return None
    if kind == "application/dtmf":
        return _key(body.strip())
    return None


def _key(value: str) -> str | None:
    if len(value) == 1 and value.upper() in EVENT_OF:
        return value.upper()
    if value.isdigit() and 10 <= int(value) <= 15:
        return DIGITS[int(value)]
    return None
