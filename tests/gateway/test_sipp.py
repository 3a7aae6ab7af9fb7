"""SIPp as the caller: keys as RFC 4733 events, a 1 kHz tone, the counsellor's 440 Hz back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.admission import HangupReason
from gateway.app import Gateway
from gateway.ivr import Prompt
from gateway.media import MediaConfig
from tests.gateway.audio import RtpStream, has_tone, rtp_listener, tone, ulaw_encode, write_pcap
from tests.gateway.conftest import MakeGateway, eventually, prompt_freq
from tests.gateway.counsellor import CODE, FakeAdmitter
from tests.gateway.phones import run_sipp

pytestmark = pytest.mark.timeout(40)


def caller_pcap(path: Path, keys: str, tone_seconds: float, pt: int = 0) -> Path:
    """Keys (their own SSRC, as SIPp's stock captures have), then the tone."""
    assert pt == 0
    samples = tone(1000.0, tone_seconds)
    frames = [ulaw_encode(samples[i:i + 160]) for i in range(0, samples.size, 160)]
    keys_stream = RtpStream(pt=pt, ssrc=0x1111).keys(keys)
    audio = RtpStream(pt=pt, ssrc=0x2222, at=keys_stream.at + 0.3).audio(frames)
    write_pcap(path, sorted(keys_stream.packets + audio.packets, key=lambda p: p[0]))
    return path


async def test_sipp_pcmu_call_carries_code_and_tone_both_ways(
        gateway: Gateway, admitter: FakeAdmitter, tmp_path: Path) -> None:
    """The code (then the habitual #) as RFC 4733 events admits the caller; the caller's
    1 kHz reaches the counsellor, the counsellor's 440 Hz reaches the caller; the
    caller's BYE reaches the broker as caller_hung_up."""
    listener = await rtp_listener()
    try:
        run = await run_sipp(
            "uac_dialin.xml", gateway.sip.udp_port, tmp_path, rtp_listen=listener.port,
            values={"PT": "0", "CODEC": "PCMU", "TALK_MS": "4000",
                    "CALLER_PCAP": str(caller_pcap(tmp_path / "caller.pcap", CODE + "#", 3.0))})
        assert run.returncode == 0, run.output
    finally:
        listener.close()
    [(code, info)] = admitter.attempts
    assert code == CODE
    assert info.codec == "PCMU" and info.language == "de" and len(info.caller_key) == 24
    admission = admitter.all[0]
    assert admission.counsellor.hears(1000.0)
    assert admission.flowing.is_set()
    assert has_tone(listener.audio(0), 440.0)
    await asyncio.sleep(0.2)
    assert admission.hung_up == [HangupReason.CALLER_HUNG_UP]
    assert gateway.calls == {}


def keys_pcap(path: Path, keys: str, then_audio: float = 0.0, press: float = 0.1) -> Path:
    stream = RtpStream(pt=0, ssrc=0x3333).keys(keys, press=press, gap=press * 0.6)
    if then_audio:
        samples = tone(1000.0, then_audio)
        stream.pause(0.1).audio([ulaw_encode(samples[i:i + 160])
                                 for i in range(0, samples.size, 160)])
    write_pcap(path, stream.packets)
    return path


async def test_three_wrong_codes_end_with_goodbye_and_bye(
        gateway: Gateway, admitter: FakeAdmitter, tmp_path: Path) -> None:
    """Three wrong codes: the broker is asked three times, the caller hears "wrong code"
    and the goodbye, then the gateway's BYE."""
    listener = await rtp_listener()
    wrong = "987654321"
    try:
        run = await run_sipp(
            "uac_wait_bye.xml", gateway.sip.udp_port, tmp_path, rtp_listen=listener.port,
            values={"PT": "0", "CODEC": "PCMU", "WAIT_MS": "10000",
                    "CALLER_PCAP": str(keys_pcap(tmp_path / "k.pcap", wrong * 3, press=0.06))})
        assert run.returncode == 0, run.output
    finally:
        listener.close()
    assert [code for code, _ in admitter.attempts] == [wrong] * 3
    heard = listener.audio(0)
    assert has_tone(heard, prompt_freq("de", Prompt.WRONG_CODE))
    assert has_tone(heard, prompt_freq("de", Prompt.TOO_MANY_ATTEMPTS))
    assert admitter.all == []


async def test_the_counsellor_ending_the_session_tells_the_caller_and_hangs_up(
        gateway: Gateway, admitter: FakeAdmitter, tmp_path: Path) -> None:
    """Admission.ended resolving: the caller hears "the session has ended", then BYE; the
    broker is not told a phone-side reason (it ended the leg itself)."""
    listener = await rtp_listener()

    async def end_soon() -> None:
        admission = await admitter.admissions.get()
        await admission.flowing.wait()
        admission.end("session_over")

    ender = asyncio.create_task(end_soon())
    try:
        run = await run_sipp(
            "uac_wait_bye.xml", gateway.sip.udp_port, tmp_path, rtp_listen=listener.port,
            values={"PT": "0", "CODEC": "PCMU", "WAIT_MS": "10000",
                    "CALLER_PCAP": str(keys_pcap(tmp_path / "k.pcap", CODE, then_audio=6.0))})
        assert run.returncode == 0, run.output
    finally:
        listener.close()
        ender.cancel()
    assert has_tone(listener.audio(0), prompt_freq("de", Prompt.CALL_ENDED))
    assert admitter.all[0].hung_up == []


async def test_rtp_timeout_ends_the_phone_leg_with_a_reason(
        make_gateway: MakeGateway, admitter: FakeAdmitter, tmp_path: Path) -> None:
    """The caller's RTP stops after the code: after `rtp_timeout` the gateway sends BYE
    and tells the broker rtp_timeout."""
    gateway = await make_gateway(media=MediaConfig(bind_host="127.0.0.1", rtp_timeout=1.0))
    listener = await rtp_listener()
    try:
        run = await run_sipp(
            "uac_wait_bye.xml", gateway.sip.udp_port, tmp_path, rtp_listen=listener.port,
            values={"PT": "0", "CODEC": "PCMU", "WAIT_MS": "8000",
                    "CALLER_PCAP": str(keys_pcap(tmp_path / "k.pcap", CODE))})
        assert run.returncode == 0, run.output
    finally:
        listener.close()
    [admission] = admitter.all
    await eventually(lambda: admission.hung_up == [HangupReason.RTP_TIMEOUT])


async def test_a_call_over_tcp_and_our_bye_on_its_connection(
        gateway: Gateway, admitter: FakeAdmitter, tmp_path: Path) -> None:
    """SIP over TCP: responses and the gateway's BYE travel on the caller's connection."""
    listener = await rtp_listener()

    async def end_soon() -> None:
        admission = await admitter.admissions.get()
        await admission.flowing.wait()
        admission.end("switched_to_video")

    ender = asyncio.create_task(end_soon())
    try:
        run = await run_sipp(
            "uac_wait_bye.xml", gateway.sip.tcp_port, tmp_path, rtp_listen=listener.port,
            transport="t1",
            values={"PT": "0", "CODEC": "PCMU", "WAIT_MS": "10000",
                    "CALLER_PCAP": str(keys_pcap(tmp_path / "k.pcap", CODE, then_audio=4.0))})
        assert run.returncode == 0, run.output
    finally:
        listener.close()
        ender.cancel()
    assert admitter.all[0].counsellor.hears(1000.0)
