"""Keys in and out: RFC 4733 packets, their repeats and losses, and SIP INFO bodies."""

from __future__ import annotations

import pytest

from gateway.dtmf import DtmfReceiver, EventPayload, digit_from_info, event_packets
from tests.gateway.audio import RtpStream


def feed_stream(receiver: DtmfReceiver, stream: RtpStream) -> str:
    keys = ""
    for _, packet in stream.packets:
        ssrc = int.from_bytes(packet[8:12], "big")
        timestamp = int.from_bytes(packet[4:8], "big")
        keys += "".join(receiver.feed(ssrc, timestamp, packet[12:]))
    return keys


def test_each_press_counts_once_despite_three_end_packets() -> None:
    """The bug this pins: "15#" read as "1" (aiortp), or as "111555###"."""
    assert feed_stream(DtmfReceiver(), RtpStream(pt=0, ssrc=7).keys("15#")) == "15#"


def test_the_same_key_twice_is_two_presses() -> None:
    assert feed_stream(DtmfReceiver(), RtpStream(pt=0, ssrc=7).keys("77")) == "77"


def test_presses_from_different_sources_are_kept_apart() -> None:
    receiver = DtmfReceiver()
    a = RtpStream(pt=0, ssrc=1).keys("1")
    b = RtpStream(pt=0, ssrc=2).keys("2")  # same timestamps, another SSRC
    assert feed_stream(receiver, a) + feed_stream(receiver, b) == "12"


def test_a_press_whose_end_packets_were_lost_counts_when_the_next_begins() -> None:
    stream = RtpStream(pt=0, ssrc=3).keys("45")
    ends_of_4 = [p for p in stream.packets[:8] if p[1][13] & 0x80]
    lossy = RtpStream(pt=0, ssrc=3, packets=[p for p in stream.packets if p not in ends_of_4])
    assert feed_stream(DtmfReceiver(), lossy) == "45"


def test_a_late_end_packet_of_a_reported_press_is_ignored() -> None:
    stream = RtpStream(pt=0, ssrc=3).keys("89")
    late = stream.packets[6]  # an end packet of "8"
    assert feed_stream(DtmfReceiver(), RtpStream(pt=0, ssrc=3, packets=[*stream.packets, late])
                       ) == "89"


def test_flush_reports_a_press_still_held_when_the_stream_stops() -> None:
    receiver = DtmfReceiver()
    assert receiver.feed(1, 100, EventPayload(3, False, 10, 160).serialize()) == []
    assert receiver.flush() == ["3"]
    assert receiver.flush() == []


def test_non_key_events_and_short_payloads_are_ignored() -> None:
    receiver = DtmfReceiver()
    assert receiver.feed(1, 1, EventPayload(16, True, 10, 800).serialize()) == []  # flash
    assert receiver.feed(1, 2, b"\x01") == []


def test_what_we_send_is_paced_marked_and_ends_three_times() -> None:
    packets = event_packets("#", duration_ms=100)
    assert [p.offset_ms for p in packets] == [0, 20, 40, 60, 80, 100, 120]
    assert [p.marker for p in packets] == [True] + [False] * 6
    parsed = [EventPayload.parse(p.payload) for p in packets]
    assert all(e is not None and e.event == 11 for e in parsed)
    assert [e.end for e in parsed if e] == [False] * 4 + [True] * 3
    assert [e.duration for e in parsed if e] == [160, 320, 480, 640, 800, 800, 800]


def test_our_sender_and_our_receiver_agree() -> None:
    receiver, keys = DtmfReceiver(), ""
    for n, key in enumerate("0123456789*#"):
        for p in event_packets(key):
            keys += "".join(receiver.feed(99, 8000 * n, p.payload))
    assert keys == "0123456789*#"


def test_event_packets_refuse_what_is_no_key() -> None:
    with pytest.raises(ValueError, match="not a telephone key"):
        event_packets("x")
    with pytest.raises(ValueError, match="at least 20 ms"):
        event_packets("1", duration_ms=10)


@pytest.mark.parametrize(("content_type", "body", "key"), [
    ("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", "5"),
    ("application/dtmf-relay", "Signal= #\r\nDuration=160", "#"),
    ("application/dtmf-relay", "Signal=10\r\n", "*"),
    ("Application/DTMF-Relay; charset=x", "signal=11", "#"),
    ("application/dtmf", "7", "7"),
    ("application/dtmf", "\r\n*\r\n", "*"),
    ("application/dtmf-relay", "Duration=160", None),
    ("application/dtmf-relay", "Signal=99", None),
    ("text/plain", "Signal=5", None),
    (None, "5", None),
])
def test_sip_info_bodies(content_type: str | None, body: str, key: str | None) -> None:
    assert digit_from_info(content_type, body) == key
