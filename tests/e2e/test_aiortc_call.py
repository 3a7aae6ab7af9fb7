"""Two real WebRTC peers (aiortc) hold a call through the broker; the record shows it."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import Broker
from tests.e2e.peers import MediaPeer, channel_open, receives_audio

pytestmark = pytest.mark.usefixtures("loopback_ice")


async def test_call_connects_with_audio_and_data_and_is_logged(broker: Broker) -> None:
    """Admit → offer/answer through the broker → connected, audio arrives, chat passes."""
    staff = broker.staff_token()
    created = await broker.create_session(staff, planned_channel="audio")
    sid = created["session"]
    k_sig = await broker.counsellor(staff)
    c_sig = await broker.customer(created["customer_token"])
    await c_sig.call("join", {"name": "Olena", "language": "uk",
                              "capabilities": {"webrtc": True, "camera": False,
                                               "microphone": True}})
    await k_sig.next("customer_waiting")
    await asyncio.sleep(0.2)  # the customer waits a moment

    counsellor, customer = MediaPeer(k_sig, sid), MediaPeer(c_sig, sid)
    try:
        assert (await k_sig.call("admit", {"session": sid}))["channel"] == "audio"
        start_k, start_c = await k_sig.next("start"), await c_sig.next("start")
        await counsellor.offer(start_k)
        offer = await c_sig.next("signal")
        assert offer["type"] == "offer"
        await customer.answer(start_c, offer)
        await counsellor.accept_answer(await k_sig.next("signal"))

        await asyncio.wait_for(asyncio.gather(counsellor.connected.wait(),
                                              customer.connected.wait()), 10)
        assert (await c_sig.call("media_state", {"state": "connected"}))["ok"]
        assert (await k_sig.call("media_state", {"session": sid, "state": "connected"}))["ok"]

        # audio flows both ways
        for media in (counsellor, customer):
            await receives_audio(media)
        # and the data channel carries a message (spelling a name, say)
        (await channel_open(counsellor)).send("Bitte buchstabieren Sie Ihren Namen.")
        assert await asyncio.wait_for(customer.messages.get(), 5) == \
            "Bitte buchstabieren Sie Ihren Namen."

        await asyncio.sleep(0.5)
        assert (await k_sig.call("end", {"session": sid}))["state"] == "ended"
    finally:
        await counsellor.close()
        await customer.close()

    record = await broker.service.contacts.contact(sid)
    assert record is not None
    [(channel, start, end)] = record["segments"]
    assert channel == "audio" and end - start >= 0.5
    assert record["seconds"]["audio"] == pytest.approx(end - start, abs=0.01)
    assert record["waiting_seconds"] >= 0.2
    assert 0 < record["setup_seconds"] < 10
    assert record["end_reason"] == "completed" and record["fallback_used"] is False

