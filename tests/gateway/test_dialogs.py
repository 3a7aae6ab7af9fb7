"""SIP dialogs against the gateway from a hand-written phone: retransmissions, INFO keys,
hold by re-INVITE, refusals of INVITEs that are not ours."""

from __future__ import annotations

import asyncio

import pytest
from aiosipua import parse_sdp

from gateway.admission import HangupReason, LockedOut, SessionGone
from gateway.app import Gateway
from gateway.ivr import Prompt
from gateway.media import MediaConfig
from tests.gateway.audio import RtpStream, has_tone
from tests.gateway.conftest import MakeGateway, eventually, prompt_freq
from tests.gateway.counsellor import CODE, FakeAdmitter
from tests.gateway.rawphone import RawPhone

pytestmark = pytest.mark.timeout(30)


async def admitted_call(gateway: Gateway, admitter: FakeAdmitter, by_info: bool = False
                        ) -> RawPhone:
    phone = await RawPhone(gateway.sip.udp_port).open()
    assert (await phone.call()).status_code == 200
    if by_info:
        for i, key in enumerate(CODE):
            kind = "application/dtmf-relay" if i % 2 else "application/dtmf"
            assert (await phone.info(key, kind)).status_code == 200
    else:
        await phone.stream(RtpStream(pt=8, ssrc=0x77).keys(CODE))
    admission = await asyncio.wait_for(admitter.admissions.get(), 5)
    admitter.admissions.put_nowait(admission)
    return phone


async def test_a_retransmitted_invite_is_answered_once(gateway: Gateway) -> None:
    """The same INVITE three times (a lost 100 Trying, a slow answer): one call, one
    media session, and every 200 OK the same (same tag, same RTP port)."""
    phone = await RawPhone(gateway.sip.udp_port).open()
    try:
        invite = phone.request("INVITE", phone.sdp(), branch="z9hG4bKsame")
        for _ in range(3):
            phone.send(invite)
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.6)  # the gateway's own 200 OK retransmissions too
        oks = [r for r in phone.all_responses if r.status_code == 200]
        assert len(oks) >= 1
        assert len({(r.to_addr.tag if r.to_addr else None) for r in oks}) == 1
        assert len({parse_sdp(r.text).rtp_address for r in oks}) == 1
        assert len(gateway.calls) == 1
        assert gateway.stats()["absorbed_retransmissions"] >= 2
        phone.to_tag = (oks[0].to_addr.tag if oks[0].to_addr else None) or ""
        phone.send(phone.request("ACK", cseq=1))
        assert (await phone.bye()).status_code == 200
        await eventually(lambda: not gateway.calls)
    finally:
        phone.close()


async def test_keys_by_sip_info_admit_the_caller(gateway: Gateway,
                                                 admitter: FakeAdmitter) -> None:
    """Phones without RFC 4733 send keys as INFO (both body formats)."""
    phone = await admitted_call(gateway, admitter, by_info=True)
    try:
        assert [code for code, _ in admitter.attempts] == [CODE]
    finally:
        await phone.bye()
        phone.close()


async def test_info_outside_a_dialog_or_of_another_type_is_refused(gateway: Gateway) -> None:
    phone = await RawPhone(gateway.sip.udp_port).open()
    try:
        phone.to_tag = "nosuchdialog"
        assert (await phone.info("5")).status_code == 481
        phone.to_tag = ""
        assert (await phone.call()).status_code == 200
        phone.cseq += 1
        phone.send(phone.request("INFO", "<xml/>", content_type="application/media_control+xml"))
        assert (await phone.final()).status_code == 415
    finally:
        await phone.bye()
        phone.close()


async def test_hold_stops_our_sending_and_the_rtp_timeout_then_resume(
        make_gateway: MakeGateway, admitter: FakeAdmitter) -> None:
    """re-INVITE sendonly (hold): we answer recvonly and send nothing; no RTP from the
    phone for longer than rtp_timeout does not end the call while it is on hold;
    sendrecv again: our audio flows again."""
    gateway = await make_gateway(media=MediaConfig(bind_host="127.0.0.1", rtp_timeout=1.0))
    phone = await admitted_call(gateway, admitter)
    assert phone.rtp is not None
    try:
        await phone.talk(1.0)
        answer = await phone.reinvite("sendonly")
        assert answer.status_code == 200 and "a=recvonly" in answer.text
        await asyncio.sleep(0.1)
        before = len(phone.rtp.packets)
        await asyncio.sleep(1.6)  # longer than rtp_timeout, and we send nothing
        assert len(phone.rtp.packets) - before <= 1
        assert gateway.calls, "the call ended while on hold"
        answer = await phone.reinvite("sendrecv")
        assert answer.status_code == 200 and "a=sendrecv" in answer.text
        before = len(phone.rtp.packets)
        await phone.talk(1.0)
        assert len(phone.rtp.packets) - before > 20
        assert has_tone(phone.rtp.audio(8)[-4000:], 440.0)
    finally:
        await phone.bye()
        phone.close()
    await eventually(lambda: admitter.all[0].hung_up == [HangupReason.CALLER_HUNG_UP])


@pytest.mark.parametrize(("uri", "status"), [
    ("sip:4930555000@203.0.113.9", 403),  # another domain: we relay nothing
    ("sip:110@127.0.0.1", 404),  # not our hotline number
    ("tel:+4930555000", 416),
])
async def test_invites_that_are_not_ours_are_refused(gateway: Gateway, uri: str,
                                                     status: int) -> None:
    phone = await RawPhone(gateway.sip.udp_port).open()
    try:
        phone.send(phone.request("INVITE", phone.sdp(), uri=uri))
        assert (await phone.final()).status_code == status
        assert not gateway.calls
    finally:
        phone.close()


async def test_an_invite_we_cannot_take_is_refused_before_a_call_exists(gateway: Gateway
                                                                        ) -> None:
    phone = await RawPhone(gateway.sip.udp_port).open()
    try:
        phone.send(phone.request("INVITE", phone.sdp(port=99999)))
        assert (await phone.final()).status_code == 488
        phone.call_id += "2"
        phone.send(phone.request("INVITE", ""))  # no offer
        assert (await phone.final()).status_code == 488
        assert not gateway.calls
    finally:
        phone.close()


async def test_stopping_the_gateway_hangs_up_and_tells_the_broker(
        make_gateway: MakeGateway, admitter: FakeAdmitter) -> None:
    gateway = await make_gateway()
    phone = await admitted_call(gateway, admitter)
    try:
        await gateway.stop()
        bye = await asyncio.wait_for(phone.requests.get(), 3)
        assert bye.method == "BYE"
        assert admitter.all[0].hung_up == [HangupReason.GATEWAY_STOPPING]
    finally:
        phone.close()


async def test_a_proxy_in_front_stays_in_the_path(gateway: Gateway) -> None:
    """Behind Kamailio: our 200 OK carries the INVITE's Record-Route, so the caller's
    later requests go through the proxy too (aiosipua would leave it out)."""
    phone = await RawPhone(gateway.sip.udp_port).open()
    try:
        routes = "Record-Route: <sip:127.0.0.1:5999;lr>, <sip:10.9.9.9;lr>"
        phone.send(phone.request("INVITE", phone.sdp(), extra=routes))
        ok = await phone.final()
        assert ok.status_code == 200
        assert ok.headers.get("record-route") == ["<sip:127.0.0.1:5999;lr>",
                                                   "<sip:10.9.9.9;lr>"]
        phone.to_tag = (ok.to_addr.tag if ok.to_addr else None) or ""
        phone.send(phone.request("ACK", cseq=1))
    finally:
        await phone.bye()
        phone.close()


@pytest.mark.parametrize(("refusal", "prompt"), [
    (LockedOut, Prompt.LOCKED_OUT),
    (SessionGone, Prompt.SESSION_GONE),
])
async def test_a_refused_code_is_explained_then_the_call_ends(
        gateway: Gateway, admitter: FakeAdmitter,
        refusal: type[LockedOut] | type[SessionGone], prompt: Prompt) -> None:
    admitter.refusal = refusal
    phone = await RawPhone(gateway.sip.udp_port).open()
    assert phone.rtp is not None
    try:
        assert (await phone.call()).status_code == 200
        for key in "111111111":
            await phone.info(key)
        bye = await asyncio.wait_for(phone.requests.get(), 5)
        assert bye.method == "BYE"
        assert has_tone(phone.rtp.audio(8), prompt_freq("de", prompt))
        assert admitter.all == []
    finally:
        phone.close()


async def test_keys_we_send_are_paced_rfc4733_on_our_audio_timeline(
        gateway: Gateway, admitter: FakeAdmitter) -> None:
    """Keys towards the phone (to work a PBX menu, say): 20 ms apart, the marker on each
    press's first packet, the end three times, the press's timestamp on the audio
    timeline, audio after it no earlier than the press's end. Read back independently."""
    phone = await admitted_call(gateway, admitter)
    assert phone.rtp is not None
    talking = asyncio.create_task(phone.talk(2.0))
    try:
        await asyncio.wait_for(admitter.all[0].flowing.wait(), 5)
        [call] = gateway.calls.values()
        assert call.leg is not None
        mark = len(phone.rtp.packets) - 10  # some audio before the keys
        await call.leg.send_keys("15#", duration_ms=100, pause_ms=60)
        await asyncio.sleep(0.1)
        packets = [(at, d) for at, d in phone.rtp.packets[mark:]]
    finally:
        talking.cancel()
        await phone.bye()
        phone.close()
    pt = [d[1] & 0x7F for _, d in packets]
    events = [(at, d) for at, d in packets if d[1] & 0x7F == 101]
    assert len(events) == 3 * 7
    presses: dict[int, list[tuple[float, bytes]]] = {}
    for at, d in events:
        presses.setdefault(int.from_bytes(d[4:8], "big"), []).append((at, d))
    assert [chr_of(p[0][1][12]) for p in presses.values()] == ["1", "5", "#"]
    for press in presses.values():
        assert [d[1] >> 7 for _, d in press] == [1, 0, 0, 0, 0, 0, 0]  # marker first only
        assert [d[13] >> 7 for _, d in press] == [0, 0, 0, 0, 1, 1, 1]  # end bit, 3 times
        # paced on absolute 20 ms deadlines: a busy loop may delay, never bunch them
        assert press[-1][0] - press[0][0] >= 0.11
    audio_ts = [int.from_bytes(d[4:8], "big") for _, d in packets if d[1] & 0x7F == 8]
    first_press = min(presses)
    before = [ts for ts in audio_ts if ts < first_press]
    assert before and first_press - max(before) <= 160 * 4  # on the same timeline
    last_press = max(presses)
    after = [ts for ts in audio_ts if ts > last_press]
    assert not after or min(after) >= last_press + 800  # audio resumes after the press
    assert pt.count(8) > 0


def chr_of(event: int) -> str:
    return "0123456789*#"[event]
