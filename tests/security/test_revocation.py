"""Ending a session or revoking its link turns the customer's sockets away within 2 s, and
every reconnect checks the session anew, not only the token's expiry."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from broker.types import Role
from tests.conftest import Broker, MakeBroker, Peer
from tests.functional.test_session_flow import active_pair, waiting_pair


async def _gone(peer: Peer, within: float = 2.0) -> float:
    """Seconds until the server closed the peer's socket (fails after `within`)."""
    started = time.monotonic()
    while peer.sio.connected:
        assert time.monotonic() - started < within, "the socket is still open"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_ending_disconnects_the_customer_and_a_reconnect_is_refused(
        broker: Broker) -> None:
    """`ended`, then `evicted`, then the socket closes; the link is dead from then on."""
    created, counsellor, customer = await active_pair(broker)
    ack = await counsellor.call("end", {"session": created["session"]})
    assert ack["state"] == "ended"
    assert (await customer.next("ended"))["reason"] == "completed"
    assert (await customer.next("evicted"))["code"] == "session_ended"
    await _gone(customer)
    again = await broker.peer("/customer", {"token": created["customer_token"], "v": 1,
                                            "device": _device(customer)}).refused()
    assert again["code"] == "session_ended"
    assert counsellor.sio.connected  # the console stays: it has other sessions


def _device(customer: Peer) -> str:
    """The device secret the broker handed this customer (so a reconnect is the same device)."""
    for event, data in customer.seen:
        if event == "welcome":
            return str(data["device"])
    raise AssertionError("no welcome seen")


async def test_cancelling_disconnects_a_customer_who_is_early(broker: Broker) -> None:
    """A customer who opened the link before the start is told and turned away."""
    token = broker.staff_token()
    created = await broker.create_session(token)
    customer = await broker.customer(created["customer_token"])
    await customer.next("welcome")
    status, _ = await broker.http("POST", f"/api/sessions/{created['session']}/cancel", token)
    assert status == 200
    assert (await customer.next("evicted"))["code"] == "session_ended"
    await _gone(customer)


async def test_revoking_the_link_disconnects_and_kills_link_and_code(broker: Broker) -> None:
    """DELETE /link: the waiting customer is turned away within 2 s, the old link and the
    old access code stop working, the session itself goes on."""
    created, _counsellor, customer = await waiting_pair(broker)
    sid, staff = created["session"], broker.staff_token()
    status, body = await broker.http("DELETE", f"/api/sessions/{sid}/link", staff)
    assert status == 200 and body == {"session": sid, "revoked": True, "link_generation": 1}
    assert (await customer.next("evicted"))["code"] == "link_revoked"
    await _gone(customer)
    refusal = await broker.peer("/customer", {"token": created["customer_token"],
                                              "v": 1}).refused()
    assert refusal["code"] == "link_revoked"
    status, body = await broker.http("POST", "/api/join", json={"code": created["access_code"]})
    assert status == 404 and body["error"]["code"] == "invalid_code"
    status, same = await broker.http("GET", f"/api/sessions/{sid}", staff)
    assert status == 200 and same["state"] in {"scheduled", "waiting"}


async def test_reissued_link_works_on_a_new_device_and_the_old_does_not(
        broker: Broker) -> None:
    """POST /link: a new link and code; the link binds anew (the first device is gone),
    and a GET of the link hands out the same generation without revoking it."""
    token = broker.staff_token()
    created = await broker.create_session(token)
    sid = created["session"]
    first = await broker.customer(created["customer_token"])
    await first.next("welcome")
    status, fresh = await broker.http("POST", f"/api/sessions/{sid}/link", token)
    assert status == 200 and fresh["link_generation"] == 1
    assert fresh["access_code"] != created["access_code"]
    await first.next("evicted")
    await _gone(first)

    second = await broker.customer(fresh["customer_token"], device=None)
    welcome = await second.next("welcome")
    assert welcome["state"] == "scheduled" and welcome["device"]
    # the new code leads to the new generation
    status, by_code = await broker.http("POST", "/api/join", json={"code": fresh["access_code"]})
    assert status == 200 and by_code["link_generation"] == 1
    status, again = await broker.http("GET", f"/api/sessions/{sid}/link", token)
    assert status == 200 and again["link_generation"] == 1
    assert second.sio.connected  # GET revoked nothing


async def test_revoking_during_a_call_keeps_the_counsellor_and_the_record(
        broker: Broker) -> None:
    """A revoke mid-call drops the customer's link (the counsellor meant it), the session
    stays active for the grace period, and its end leaves one record."""
    created, counsellor, customer = await active_pair(broker)
    sid, staff = created["session"], broker.staff_token()
    status, fresh = await broker.http("POST", f"/api/sessions/{sid}/link", staff)
    assert status == 200
    await _gone(customer)
    while (await counsellor.next("peer_presence"))["present"]:
        pass  # earlier notices of the customer being there
    back = await broker.customer(fresh["customer_token"])
    assert (await back.next("welcome"))["state"] == "active"
    ack = await counsellor.call("end", {"session": sid})
    assert ack["state"] == "ended"
    record = await broker.service.contacts.contact(sid)
    assert record is not None and record["end_reason"] == "completed"


async def test_revocation_survives_a_restart(make_broker: MakeBroker, tmp_path: Path) -> None:
    """The link generation is in the write-ahead log: after a restart the old link is
    still refused and the re-issued one works."""
    data = tmp_path / "shared"
    first = await make_broker(data_dir=data)
    staff = first.staff_token()
    created = await first.create_session(staff)
    sid = created["session"]
    status, fresh = await first.http("POST", f"/api/sessions/{sid}/link", staff)
    assert status == 200
    await first.server.close()

    second = await make_broker(data_dir=data)
    refusal = await second.peer("/customer", {"token": created["customer_token"],
                                              "v": 1}).refused()
    assert refusal["code"] == "link_revoked"
    customer = await second.customer(fresh["customer_token"])
    assert (await customer.next("welcome"))["state"] == "scheduled"
    status, by_code = await second.http("POST", "/api/join", json={"code": fresh["access_code"]})
    assert status == 200 and by_code["session"] == sid
    status, _ = await second.http("POST", "/api/join", json={"code": created["access_code"]})
    assert status == 404


async def test_only_the_sessions_counsellor_revokes(broker: Broker) -> None:
    """Another counsellor (or a supervisor) cannot revoke or read someone's link."""
    created = await broker.create_session(broker.staff_token())
    sid = created["session"]
    other = broker.staff_token("c2")
    lead = broker.staff_token("s1", role=Role.SUPERVISOR)
    for token in (other, lead):
        for method in ("GET", "POST", "DELETE"):
            status, _ = await broker.http(method, f"/api/sessions/{sid}/link", token)
            assert status == 403, (method, status)
    customer = await broker.customer(created["customer_token"])
    assert (await customer.next("welcome"))["state"] == "scheduled"
