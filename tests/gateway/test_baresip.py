"""baresip, an independent softphone, calls with A-law: keys by RFC 4733 (its `sndcode`),
its WAV's 1 kHz to the counsellor, the counsellor's 440 Hz into its recording."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np
import pytest

from gateway.admission import HangupReason
from gateway.app import Gateway
from tests.gateway.audio import has_tone, tone, write_wav
from tests.gateway.conftest import HOTLINE, eventually
from tests.gateway.counsellor import CODE, FakeAdmitter
from tests.gateway.phones import Baresip

pytestmark = pytest.mark.timeout(40)


async def test_baresip_pcma_call_carries_code_and_tone_both_ways(
        gateway: Gateway, admitter: FakeAdmitter, tmp_path: Path) -> None:
    write_wav(tmp_path / "caller.wav", tone(1000.0, 10.0))
    phone = Baresip(tmp_path / "baresip", tmp_path / "caller.wav", codec="PCMA")
    await phone.start()
    try:
        await phone.command("dial", f"sip:{HOTLINE}@127.0.0.1:{gateway.sip.udp_port}")
        await phone.wait_event("CALL_ESTABLISHED")
        await asyncio.sleep(0.3)
        await phone.command("sndcode", CODE + "#")
        admission = await asyncio.wait_for(admitter.admissions.get(), 10)
        await asyncio.wait_for(admission.flowing.wait(), 10)
        await eventually(lambda: admission.counsellor.hears(1000.0), timeout=5)
        await asyncio.sleep(1.5)  # the counsellor's voice into baresip's recording
        await phone.command("hangup")
        await phone.wait_event("CALL_CLOSED")
    finally:
        await phone.stop()
    [(code, info)] = admitter.attempts
    assert code == CODE and info.codec == "PCMA"
    await eventually(lambda: admission.hung_up == [HangupReason.CALLER_HUNG_UP])
    [dump] = (tmp_path / "baresip").glob("dump-*-dec.wav")
    with wave.open(str(dump)) as heard:
        rate = heard.getframerate()
        samples = np.frombuffer(heard.readframes(heard.getnframes()), np.int16)
    assert has_tone(samples, 440.0, rate)
