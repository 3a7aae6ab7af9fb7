"""What the gateway takes and refuses before aiosipua sees it: pure, no sockets."""

from __future__ import annotations

import pytest

from gateway.guard import Guard, SipLimits, retry_after
from gateway.sdp import BadOffer, build_answer, keeping_codec, parse_offer
from gateway.siptransport import Refused, check_length, parse_strict

OFFER = """v=0
o=- 1 1 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 40000 RTP/AVP 8 0 96
a=rtpmap:8 PCMA/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:96 telephone-event/8000
a=fmtp:96 0-16
a=sendrecv
"""


def test_the_answer_keeps_the_offered_telephone_event_type() -> None:
    offer = parse_offer(OFFER)
    assert (offer.codec, offer.event_payload_type, offer.address, offer.port) == \
        ("PCMA", 96, "127.0.0.1", 40000)
    answer = build_answer(offer, "127.0.0.1", 30000, version=2)
    assert "m=audio 30000 RTP/AVP 8 96" in answer
    assert "a=rtpmap:96 telephone-event/8000" in answer
    assert "101" not in answer
    assert " 2 IN IP4 127.0.0.1" in answer  # the session version we were given


@pytest.mark.parametrize(("change", "code"), [
    (("m=audio 40000", "m=audio 99999"), "bad_port"),
    (("m=audio 40000", "m=audio 0"), "bad_port"),
    (("c=IN IP4 127.0.0.1", "c=IN IP4 media.example"), "bad_address"),
    (("c=IN IP4 127.0.0.1", "c=IN IP4 239.1.1.1"), "bad_address"),
    (("RTP/AVP 8 0 96", "RTP/SAVP 8 0 96"), "bad_profile"),
    (("RTP/AVP 8 0 96", "RTP/AVP 18 96"), "no_codec"),
    (("m=audio", "m=video"), "no_audio"),
    (("m=audio 40000", "m=audio x"), "malformed_sdp"),
])
def test_offers_we_refuse(change: tuple[str, str], code: str) -> None:
    with pytest.raises(BadOffer) as caught:
        parse_offer(OFFER.replace(*change))
    assert caught.value.code == code
    assert caught.value.status == (400 if code == "malformed_sdp" else 488)


def test_a_reoffer_keeps_the_calls_codec_when_offered() -> None:
    reordered = parse_offer(OFFER.replace("RTP/AVP 8 0 96", "RTP/AVP 0 8 96"))
    assert reordered.codec == "PCMU"
    kept = keeping_codec(reordered, 8)
    assert kept.codec == "PCMA"
    assert "m=audio 30000 RTP/AVP 8 96" in build_answer(kept, "127.0.0.1", 30000, 3)
    only_pcmu = parse_offer(OFFER.replace("RTP/AVP 8 0 96", "RTP/AVP 0 96"))
    assert keeping_codec(only_pcmu, 8).codec == "PCMU"  # then the leg refuses the change


def test_hold_by_direction_and_by_address() -> None:
    assert not parse_offer(OFFER.replace("sendrecv", "sendonly")).we_send
    assert parse_offer(OFFER.replace("sendrecv", "sendonly")).we_receive
    inactive = parse_offer(OFFER.replace("sendrecv", "inactive"))
    assert not inactive.we_send and not inactive.we_receive
    old_style = parse_offer(OFFER.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0"))
    assert old_style.on_hold_address and not old_style.we_send


INVITE = (b"INVITE sip:1@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx\r\n"
          b"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:1@127.0.0.1>\r\nCall-ID: c1\r\n"
          b"CSeq: 1 INVITE\r\nContent-Length: 4\r\n\r\nabcd")


def test_content_length_is_checked_against_the_body() -> None:
    assert check_length(INVITE, 8192) == INVITE
    assert check_length(INVITE + b"tail", 8192) == INVITE  # extra bytes cut
    with pytest.raises(Refused, match="truncated"):
        check_length(INVITE[:-1], 8192)
    for absurd in (b"99999999999", b"-1", b"4x", b"100000"):
        with pytest.raises(Refused, match="content_length"):
            check_length(INVITE.replace(b"Content-Length: 4", b"Content-Length: " + absurd), 8192)
    with pytest.raises(Refused, match="content_length"):
        check_length(INVITE.replace(b"Content-Length: 4", b"l: 4\r\nContent-Length: 4"), 8192)


@pytest.mark.parametrize(("data", "reason"), [
    (INVITE.replace(b"INVITE sip:", b"invite sip:"), "bad_request_line"),
    (INVITE.replace(b"sip:1@127.0.0.1 SIP", b"http://x SIP"), "bad_request_line"),
    (INVITE.replace(b"Call-ID: c1\r\n", b""), "missing_header"),
    (INVITE.replace(b";branch=z9hG4bKx", b""), "bad_header"),
    (INVITE.replace(b";tag=1", b""), "bad_header"),
    (INVITE.replace(b"CSeq: 1 INVITE", b"CSeq: 1 BYE"), "bad_cseq"),
    (INVITE.replace(b"CSeq: 1 INVITE", b"CSeq: x INVITE"), "bad_header"),
    (b"SIP/2.0 999 Odd\r\nVia: SIP/2.0/UDP h\r\n\r\n", "bad_status"),
    (b"\x00\xff garbage", "unparseable"),
    (b"\x00\xff garbage SIP/2.0", "bad_request_line"),
])
def test_requests_a_handler_never_sees(data: bytes, reason: str) -> None:
    with pytest.raises(Refused) as caught:
        parse_strict(data)
    assert caught.value.reason == reason


def test_sources_outside_the_trunk_list_are_refused_and_counted() -> None:
    guard = Guard(SipLimits(trunks=("10.1.0.0/16", "127.0.0.1")))
    assert guard.allows_source("10.1.2.3") and guard.allows_source("127.0.0.1")
    assert guard.allows_source("::ffff:127.0.0.1")
    assert not guard.allows_source("10.2.0.1")
    assert not guard.allows_source("not-an-address")
    assert guard.report(0.0) == {"foreign_source": 1, "bad_source": 1}
    assert guard.report(1.0) is None  # nothing new


def test_counts_are_reported_at_most_once_per_interval() -> None:
    guard = Guard(SipLimits(report_interval=60.0))
    guard.refuse("oversized")
    assert guard.report(0.0) == {"oversized": 1}  # the first at once
    guard.refuse("oversized")
    assert guard.report(30.0) is None
    assert guard.report(60.0) == {"oversized": 1}


def test_the_invite_bucket_refills_at_its_rate() -> None:
    guard = Guard(SipLimits(invite_rate=2.0, invite_burst=3))
    assert [guard.take_invite(0.0) for _ in range(3)] == [None, None, None]
    wait = guard.take_invite(0.0)
    assert wait is not None
    assert wait == pytest.approx(0.5)
    assert retry_after(wait) == "1"
    assert guard.take_invite(0.5) is None
    assert guard.refused["invite_rate"] == 1


def test_a_bad_trunk_entry_names_the_setting() -> None:
    with pytest.raises(ValueError, match="trunks"):
        Guard(SipLimits(trunks=("not-a-network",)))
