"""A scheduled session over real sockets: link → waiting room → admit → relay → switch → end."""

from __future__ import annotations

import asyncio
from typing import Any

from broker.types import Role
from tests.conftest import Broker, MakeBroker

SDP = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
CANDIDATE = {"candidate": "candidate:1 1 udp 2122260223 192.0.2.1 5000 typ host",
             "sdpMid": "0", "sdpMLineIndex": 0}


async def waiting_pair(broker: Broker, **session: Any) -> tuple[dict[str, Any], Any, Any]:
    """A session whose customer sits in the waiting room, both sides connected."""
    staff = broker.staff_token()
    created = await broker.create_session(staff, **session)
    counsellor = await broker.counsellor(staff)
    await counsellor.next("welcome")
    customer = await broker.customer(created["customer_token"])
    welcome = await customer.next("welcome")
    assert welcome["state"] == "scheduled"
    ack = await customer.call("join", {"name": "Ayşe", "language": "tr",
                                       "capabilities": {"webrtc": True, "camera": True,
                                                        "microphone": True}})
    assert ack == {"ok": True, "state": "waiting"}
    return created, counsellor, customer


async def active_pair(broker: Broker, **session: Any) -> tuple[dict[str, Any], Any, Any]:
    created, counsellor, customer = await waiting_pair(broker, **session)
    await counsellor.next("customer_waiting")
    ack = await counsellor.call("admit", {"session": created["session"]})
    assert ack["ok"], ack
    await counsellor.next("start")
    await customer.next("start")
    return created, counsellor, customer


async def test_whole_session_is_logged_once_with_its_segments(broker: Broker) -> None:
    """The issue's user story end to end, and the contact record it leaves."""
    staff = broker.staff_token()
    created = await broker.create_session(staff, planned_channel="video")
    sid = created["session"]
    assert len(created["access_code"]) == 9
    assert created["join_url"].endswith("/j#" + created["customer_token"])

    counsellor = await broker.counsellor(staff)
    welcome = await counsellor.next("welcome")
    assert [s["session"] for s in welcome["sessions"]] == [sid]

    customer = await broker.customer(created["customer_token"])
    cw = await customer.next("welcome")
    assert cw["device"] and "access_code" not in cw and "customer_ref" not in cw

    # before admission nothing reaches the counsellor
    refused = await customer.call("signal", {"type": "offer", "sdp": SDP})
    assert refused["error"]["code"] == "not_admitted"
    assert (await customer.next("error"))["code"] == "not_admitted"

    await customer.call("join", {"name": "Ayşe", "language": "tr",
                                 "capabilities": {"webrtc": True, "camera": True,
                                                  "microphone": True}})
    waiting = await counsellor.next("customer_waiting")
    assert waiting == {"session": sid, "name": "Ayşe", "language": "tr",
                       "capabilities": {"webrtc": True, "camera": True, "microphone": True},
                       "waiting_since": waiting["waiting_since"]}
    assert counsellor.pending("signal") == 0

    await counsellor.call("admit", {"session": sid})
    start_k, start_c = await counsellor.next("start"), await customer.next("start")
    assert start_k["proposed_channel"] == start_c["proposed_channel"] == "video"
    assert start_k["initiator"] is True and start_c["initiator"] is False
    assert start_k["ice_servers"] == [] == start_c["ice_servers"]

    # offer, answer and trickled candidates pass between exactly these two
    await counsellor.call("signal", {"session": sid, "type": "offer", "sdp": SDP})
    assert await customer.next("signal") == {"session": sid, "type": "offer", "sdp": SDP}
    await customer.call("signal", {"type": "answer", "sdp": SDP})
    assert (await counsellor.next("signal"))["type"] == "answer"
    for _ in range(3):
        await customer.call("signal", {"type": "candidate", "candidate": CANDIDATE})
        relayed = await counsellor.next("signal")
        assert relayed["candidate"]["candidate"] == CANDIDATE["candidate"]
    await customer.call("signal", {"type": "candidate", "candidate": None})
    assert (await counsellor.next("signal"))["candidate"] is None

    await customer.call("media_state", {"state": "connected"})
    assert (await counsellor.next("media_state"))["connected"] is True
    await asyncio.sleep(0.2)
    assert (await customer.call("switch_channel", {"to": "audio"}))["channel"] == "audio"
    for peer in (customer, counsellor):
        note = await peer.next("channel")
        assert note["channel"] == "audio" and note["segment_open"] is True
    await asyncio.sleep(0.2)
    # the customer may step down but never back up
    up = await customer.call("switch_channel", {"to": "video"})
    assert up["error"]["code"] == "channel_not_allowed"

    await counsellor.call("switch_channel", {"session": sid, "to": "phone"})
    phone = await customer.next("channel")
    assert phone["channel"] == "phone" and phone["segment_open"] is False
    assert phone["pin"] == created["access_code"] and phone["hotline"]
    await asyncio.sleep(0.1)  # dialling: not counted
    await counsellor.call("phone_connected", {"session": sid})
    await asyncio.sleep(0.3)
    ack = await counsellor.call("end", {"session": sid, "outcome": "completed"})
    assert ack == {"ok": True, "state": "ended"}
    assert (await customer.next("ended"))["reason"] == "completed"

    status, record = await broker.http("GET", f"/api/contacts/{sid}", staff)
    assert status == 200, record
    assert [s[0] for s in record["segments"]] == ["video", "audio", "phone"]
    assert record["end_reason"] == "completed" and record["fallback_used"] is True
    assert 0.15 < record["seconds"]["video"] < 1.0
    assert 0.15 < record["seconds"]["audio"] < 1.0
    assert 0.25 < record["seconds"]["phone"] < 1.0
    gap = record["segments"][2][1] - record["segments"][1][2]
    assert gap >= 0.09, "dialling time must not count as phone time"
    assert record["waiting_seconds"] >= 0 and record["setup_seconds"] >= 0
    assert "name" not in record and "Ayşe" not in str(record)

    # the session is over: the link no longer opens it
    late = await broker.peer("/customer", {"token": created["customer_token"]}).refused()
    assert late["code"] == "session_ended"
    rows = await broker.service.contacts.contacts(0, 2e9)
    assert [r["session_id"] for r in rows] == [sid]


async def test_relay_reaches_only_the_own_session(broker: Broker) -> None:
    """Two sessions of two counsellors: signals never cross between them."""
    a, ka, ca = await active_pair(broker)
    other = broker.staff_token("c2")
    b = await broker.create_session(other)
    kb = await broker.counsellor(other)
    cb = await broker.customer(b["customer_token"])
    await cb.next("welcome")
    await ca.call("signal", {"type": "offer", "sdp": SDP})
    assert (await ka.next("signal"))["session"] == a["session"]
    # naming another session in the payload is refused, not routed
    spoof = await ca.call("signal", {"type": "offer", "sdp": SDP, "session": b["session"]})
    assert spoof["error"]["code"] == "bad_request"
    # another counsellor cannot act on or signal into this session
    for event, payload in (("admit", {"session": a["session"]}),
                           ("signal", {"session": a["session"], "type": "bye"}),
                           ("end", {"session": a["session"]})):
        ack = await kb.call(event, payload)
        assert ack["error"]["code"] == "forbidden", (event, ack)
    await asyncio.sleep(0.1)
    assert kb.pending("signal") == 0 and cb.pending("signal") == 0
    assert ca.pending("signal") == 0


async def test_channel_ladder_follows_capabilities(broker: Broker) -> None:
    """A customer without a camera is proposed audio; without WebRTC, the phone."""
    staff = broker.staff_token()
    for caps, expected in (({"webrtc": True, "camera": False, "microphone": True}, "audio"),
                           ({"webrtc": False, "camera": False, "microphone": False}, "phone")):
        created = await broker.create_session(staff)
        customer = await broker.customer(created["customer_token"])
        await customer.call("join", {"name": "", "capabilities": caps})
        counsellor = await broker.counsellor(staff)
        ack = await counsellor.call("admit", {"session": created["session"]})
        assert ack["channel"] == expected
        start = await customer.next("start")
        assert start["proposed_channel"] == expected
        if expected == "phone":
            note = await customer.next("channel")
            assert note["pin"] == created["access_code"]


async def test_media_failure_proposes_the_phone(broker: Broker) -> None:
    """An ICE failure reported by a client closes the segment and offers the phone to both."""
    _created, counsellor, customer = await active_pair(broker)
    await customer.call("media_state", {"state": "connected"})
    await customer.call("media_state", {"state": "failed"})
    for peer in (customer, counsellor):
        proposal = await peer.next("fallback_proposed")
        assert proposal["to"] == "phone"


async def test_reconnect_inside_grace_resumes(make_broker: MakeBroker) -> None:
    """A short signalling drop keeps the session; the returning device gets the state back."""
    broker = await make_broker(grace_seconds=5)
    created, counsellor, customer = await active_pair(broker)
    device = (customer.seen[0][1])["device"]
    first = await counsellor.next("peer_presence")
    assert first["present"] is True, "opening the link shows the customer as present"
    await customer.close()
    gone = await counsellor.next("peer_presence")
    assert gone == {"session": created["session"], "role": "customer", "present": False}
    again = await broker.customer(created["customer_token"], device=device)
    welcome = await again.next("welcome")
    assert welcome["state"] == "active" and welcome["ice_servers"] == []
    assert (await counsellor.next("peer_presence"))["present"] is True
    await again.call("signal", {"type": "offer", "sdp": SDP})  # an ICE restart, say
    assert (await counsellor.next("signal"))["type"] == "offer"


async def test_drop_past_grace_ends_the_session(make_broker: MakeBroker) -> None:
    """A customer gone longer than the grace period has left; one record says so."""
    broker = await make_broker(grace_seconds=0.4)
    created, counsellor, customer = await active_pair(broker)
    await customer.close()
    ended = await counsellor.next("ended", timeout=3)
    assert ended["reason"] == "customer_left"
    record = await broker.service.contacts.contact(created["session"])
    assert record is not None and record["end_reason"] == "customer_left"


async def test_counsellor_drop_past_grace_times_out(make_broker: MakeBroker) -> None:
    """If the counsellor's console is gone past the grace period, the session times out."""
    broker = await make_broker(grace_seconds=0.4)
    _created, counsellor, customer = await active_pair(broker)
    await counsellor.close()
    assert (await customer.next("peer_presence"))["present"] is False
    assert (await customer.next("ended", timeout=3))["reason"] == "timeout"


async def test_counsellor_reconnect_resyncs_sessions(broker: Broker) -> None:
    """A counsellor's console that reconnects gets every open session back in `welcome`."""
    _created, counsellor, customer = await active_pair(broker)
    await counsellor.close()
    again = await broker.counsellor(broker.staff_token())
    welcome = await again.next("welcome")
    [view] = welcome["sessions"]
    assert view["state"] == "active" and view["customer"]["name"] == "Ayşe"
    assert (await customer.next("peer_presence"))["present"] is False
    assert (await customer.next("peer_presence"))["present"] is True


async def test_customer_leaves_waiting_room_and_comes_back(broker: Broker) -> None:
    """Leaving the waiting room tells the counsellor; the link still works afterwards."""
    created, counsellor, customer = await waiting_pair(broker)
    await counsellor.next("customer_waiting")
    assert (await customer.call("leave"))["state"] == "scheduled"
    assert (await counsellor.next("customer_left"))["session"] == created["session"]
    assert (await customer.call("join", {"name": "A"}))["state"] == "waiting"
    await counsellor.next("customer_waiting")


async def test_cancel_closes_with_a_record(broker: Broker) -> None:
    """A cancelled appointment is a record too (reports count it), and its link dies."""
    staff = broker.staff_token()
    created = await broker.create_session(staff)
    status, body = await broker.http("POST", f"/api/sessions/{created['session']}/cancel", staff)
    assert (status, body["state"]) == (200, "cancelled")
    record = await broker.service.contacts.contact(created["session"])
    assert record is not None and record["end_reason"] == "cancelled"
    status, body = await broker.http("POST", "/api/join", json={"code": created["access_code"]})
    assert (status, body["error"]["code"]) == (404, "invalid_code")


async def test_access_code_opens_the_same_session(broker: Broker) -> None:
    """The code read out on the phone gives the same session as the link."""
    created = await broker.create_session(broker.staff_token())
    spaced = created["access_code_display"]
    status, body = await broker.http("POST", "/api/join", json={"code": spaced})
    assert status == 200 and body["session"] == created["session"]
    customer = await broker.customer(body["customer_token"])
    assert (await customer.next("welcome"))["session"] == created["session"]


async def test_roles_see_their_own(broker: Broker) -> None:
    """Counsellors list their own sessions; supervisors of other teams see no load of ours."""
    await broker.create_session(broker.staff_token("c1"))
    status, mine = await broker.http("GET", "/api/sessions", broker.staff_token("c1"))
    assert status == 200 and len(mine["sessions"]) == 1
    status, theirs = await broker.http("GET", "/api/sessions", broker.staff_token("c2"))
    assert status == 200 and theirs["sessions"] == []
    other_lead = broker.staff_token("s9", Role.SUPERVISOR, ("t9",))
    status, load = await broker.http("GET", "/api/load", other_lead)
    assert status == 200 and "t1" not in load["teams"]


async def test_two_console_tabs_one_call(broker: Broker) -> None:
    """A counsellor with two tabs open: the admitting tab holds the call, the other watches;
    when the holding tab goes away, the next tab that signals takes the call over."""
    staff = broker.staff_token()
    created = await broker.create_session(staff)
    sid = created["session"]
    tab_a, tab_b = await broker.counsellor(staff), await broker.counsellor(staff)
    customer = await broker.customer(created["customer_token"])
    await customer.call("join", {"name": "B"})
    for tab in (tab_a, tab_b):
        await tab.next("customer_waiting")
    await tab_a.call("admit", {"session": sid})
    await tab_a.next("start")
    await customer.call("signal", {"type": "answer", "sdp": SDP})
    assert (await tab_a.next("signal"))["type"] == "answer"
    await customer.call("switch_channel", {"to": "audio"})
    assert (await tab_b.next("channel"))["channel"] == "audio", "the other tab still watches"
    assert tab_b.pending("start") == 0 and tab_b.pending("signal") == 0

    await tab_a.close()
    await customer.call("signal", {"type": "bye"})
    assert (await tab_b.next("signal"))["type"] == "bye"
    await tab_b.call("signal", {"session": sid, "type": "offer", "sdp": SDP})
    assert (await customer.next("signal"))["type"] == "offer"
    tab_c = await broker.counsellor(staff)
    await customer.call("signal", {"type": "answer", "sdp": SDP})
    assert (await tab_b.next("signal"))["type"] == "answer"
    await asyncio.sleep(0.1)
    assert tab_c.pending("signal") == 0
