"""Bad input gets a clear error; the connection, the session and the log stay intact."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import Broker, MakeBroker
from tests.functional.test_session_flow import SDP, active_pair

BAD_CUSTOMER_EVENTS = [
    ("join", "not an object", "bad_request"),
    ("join", {"name": 5}, "bad_request"),
    ("join", {"language": "xx"}, "bad_request"),
    ("join", {"capabilities": {"camera": "yes"}}, "bad_request"),
    ("join", {"unknown": 1}, "bad_request"),
    ("join", {"v": 99}, "unsupported_version"),
    ("signal", {"type": "offer", "sdp": "x" * (64 * 1024 + 1)}, "payload_too_large"),
    ("signal", {"type": "candidate", "candidate": {"candidate": "c" * 2049, "sdpMid": "0"}},
     "payload_too_large"),
    ("signal", {"type": "candidate", "candidate": {"candidate": "c"}}, "bad_request"),
    ("signal", {"type": "hello"}, "bad_request"),
    ("signal", [1, 2, 3], "bad_request"),
    ("switch_channel", {"to": "hologram"}, "bad_request"),
    ("media_state", {"state": "connected", "stats": {"rtt": "fast"}}, "bad_request"),
    ("no_such_event", {}, "unknown_event"),
    ("__class__", {}, "unknown_event"),
    ("handle_join", {}, "unknown_event"),
]


@pytest.mark.parametrize(("event", "payload", "code"), BAD_CUSTOMER_EVENTS)
async def test_bad_customer_event_is_refused_and_the_call_goes_on(
    broker: Broker, event: str, payload: object, code: str
) -> None:
    """Each malformed event gets `error` with a code; the call still connects afterwards."""
    _created, counsellor, customer = await active_pair(broker)
    ack = await customer.call(event, payload)
    assert ack["ok"] is False and ack["error"]["code"] == code, ack
    error = await customer.next("error")
    assert error["code"] == code and error["event"] == event
    assert customer.sio.connected
    await customer.call("signal", {"type": "offer", "sdp": SDP})
    assert (await counsellor.next("signal"))["sdp"] == SDP


async def test_binary_and_extra_arguments_are_refused(broker: Broker) -> None:
    """Binary attachments and extra arguments are not part of the protocol."""
    _created, _counsellor, customer = await active_pair(broker)
    ack = await customer.sio.call("signal", b"\x00\x01binary", namespace="/customer")
    assert ack["error"]["code"] == "bad_request"
    ack = await customer.sio.call("signal", ({"type": "bye"}, {"x": 1}), namespace="/customer")
    assert ack["error"]["code"] == "bad_request"
    assert customer.sio.connected


async def test_bad_staff_events(broker: Broker) -> None:
    """Counsellor events with missing or malformed session ids are refused with codes."""
    created, counsellor, _customer = await active_pair(broker)
    for payload, code in (({}, "bad_request"), ({"session": "../../etc"}, "bad_request"),
                          ({"session": "A" * 20}, "not_found"),
                          ({"session": created["session"], "outcome": "won"}, "bad_request")):
        ack = await counsellor.call("end", payload)
        assert ack["error"]["code"] == code, (payload, ack)
    ack = await counsellor.call("admit", {"session": created["session"]})
    assert ack["error"]["code"] == "invalid_transition"
    assert "active" in ack["error"]["message"] and "Admit" in ack["error"]["message"]
    state = await counsellor.call("sync")
    assert state["sessions"][0]["state"] == "active"


async def test_flood_is_throttled_and_the_session_survives(make_broker: MakeBroker) -> None:
    """A burst far past the rate limit is refused with `rate_limited`; the call goes on."""
    broker = await make_broker(events_per_second=20, event_burst=40)
    _created, counsellor, customer = await active_pair(broker)
    for _ in range(200):
        await customer.emit("media_state", {"state": "connected"})
    errors = 0
    while True:
        try:
            err = await customer.next("error", timeout=0.5)
        except TimeoutError:
            break
        assert err["code"] == "rate_limited"
        errors += 1
    assert 1 <= errors <= 3, "refusals are reported, but not one error per dropped event"
    await asyncio.sleep(1.0)  # the bucket refills
    await customer.call("signal", {"type": "offer", "sdp": SDP})
    assert (await counsellor.next("signal"))["sdp"] == SDP
    assert customer.sio.connected


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        ("{not json", "application/json", "bad_request"),
        ("[1,2]", "application/json", "bad_request"),
        ('{"customer_ref": "Max Mustermann"}', "application/json", "bad_request"),
        ('{"customer_ref": "K-1", "planned_channel": "fax"}', "application/json", "bad_request"),
        ('{"customer_ref": "K-1", "planned_start": "tomorrow"}', "application/json",
         "bad_request"),
        ('{"customer_ref": "K-1", "planned_start": "2026-11-23T10:00:00"}', "application/json",
         "bad_request"),
        ('{"customer_ref": "K-1", "evil": true}', "application/json", "bad_request"),
        ('customer_ref=K-1', "application/x-www-form-urlencoded", "bad_request"),
        ('{"customer_ref": "' + "K" * 70_000 + '"}', "application/json", "payload_too_large"),
    ],
)
async def test_bad_http_bodies(broker: Broker, body: str, content_type: str, code: str) -> None:
    """Every malformed REST body is a 4xx with a code, never a 500."""
    import aiohttp

    headers = {"Authorization": f"Bearer {broker.staff_token()}", "Content-Type": content_type}
    async with aiohttp.ClientSession() as http, http.post(
        broker.url + "/api/sessions", data=body.encode(), headers=headers
    ) as resp:
        data = await resp.json()
        assert 400 <= resp.status < 500
        assert data["error"]["code"] == code


async def test_access_code_guessing_is_rate_limited(broker: Broker) -> None:
    """Code guesses from one address are cut off after a handful per minute."""
    statuses = []
    for i in range(15):
        status, _ = await broker.http("POST", "/api/join", json={"code": f"{i:09d}"})
        statuses.append(status)
    assert statuses[:10] == [404] * 10
    assert statuses[-1] == 429


async def test_client_sent_lifecycle_events_are_refused(broker: Broker) -> None:
    """A client emitting "disconnect" or "connect" must not fake leaving or a second login."""
    created, counsellor, customer = await active_pair(broker)
    staff_welcomes = sum(1 for e, _ in counsellor.seen if e == "welcome")
    while counsellor.pending("peer_presence"):  # the customer's arrival, long ago
        assert (await counsellor.next("peer_presence"))["present"] is True
    for peer, payload in ((customer, None), (counsellor, {"session": created["session"]})):
        for event in ("disconnect", "connect"):
            ack = await peer.call(event, payload)
            assert ack["error"]["code"] == "unknown_event", (event, ack)
    await asyncio.sleep(0.1)
    assert counsellor.pending("peer_presence") == 0, "nobody was reported gone"
    assert sum(1 for e, _ in counsellor.seen if e == "welcome") == staff_welcomes
    s = await broker.service.get(created["session"])
    assert s.customer.connected and s.staff.connected
    # the counsellor still goes offline when the console really closes
    await counsellor.close()
    assert (await customer.next("peer_presence"))["present"] is False
    assert not await broker.service.staff_is_online(s.counsellor)
