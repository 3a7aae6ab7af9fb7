"""Races between connections, tabs and processes' worth of bad timing, made deterministic."""

from __future__ import annotations

import asyncio
import math

from aiohttp.test_utils import TestServer

from broker.types import SessionId
from tests.conftest import Broker, MakeBroker
from tests.functional.test_session_flow import SDP, active_pair, waiting_pair
from web.app import create_app


async def test_a_stale_disconnect_never_marks_a_newer_connection_gone(broker: Broker) -> None:
    """Reload: the new socket connects before the old one's disconnect is processed."""
    created, _counsellor, customer = await active_pair(broker)
    service, sid = broker.service, SessionId(created["session"])
    device = customer.seen[0][1]["device"]
    _, _, old_epoch, _ = await service.customer_connect(sid, device, 0, "old-socket")
    _, _, new_epoch, replaced = await service.customer_connect(sid, device, 0, "new-socket")
    assert new_epoch > old_epoch and replaced == "old-socket"
    await service.customer_disconnect(sid, old_epoch)  # arrives late
    s = await service.get(sid)
    assert s.customer.connected and s.next_deadline() is None
    await service.customer_disconnect(sid, new_epoch)
    assert not (await service.get(sid)).customer.connected


async def test_one_of_two_console_tabs_closing_keeps_the_counsellor_present(
    broker: Broker,
) -> None:
    """Only the last console tab closing starts the counsellor's grace period."""
    created, counsellor, _customer = await active_pair(broker)
    second_tab = await broker.counsellor(broker.staff_token())
    await second_tab.next("welcome")
    await second_tab.close()
    await asyncio.sleep(0.1)
    s = await broker.service.get(SessionId(created["session"]))
    assert s.staff.connected and s.next_deadline() is None
    await counsellor.close()
    await asyncio.sleep(0.1)
    assert not (await broker.service.get(SessionId(created["session"]))).staff.connected


async def test_a_stale_tabs_failed_admit_does_not_take_the_call(broker: Broker) -> None:
    """Tab B clicking admit after tab A did gets an error, and A keeps the call's signals."""
    staff = broker.staff_token()
    created, tab_a, customer = await waiting_pair(broker)
    tab_b = await broker.counsellor(staff)
    await tab_a.call("admit", {"session": created["session"]})
    ack = await tab_b.call("admit", {"session": created["session"]})
    assert ack["error"]["code"] == "invalid_transition"
    await customer.call("signal", {"type": "answer", "sdp": SDP})
    assert (await tab_a.next("signal"))["type"] == "answer"
    await asyncio.sleep(0.1)
    assert tab_b.pending("signal") == 0 and tab_b.pending("start") == 0


async def test_forwarded_link_is_refused_during_the_grace_period(make_broker: MakeBroker
                                                                 ) -> None:
    """The bound device dropped mid-call: another device still cannot take the call."""
    broker = await make_broker(grace_seconds=5)
    created, counsellor, customer = await active_pair(broker)
    await customer.close()
    await counsellor.next("peer_presence")
    refusal = await broker.peer("/customer", {"token": created["customer_token"]}).refused()
    assert refusal["code"] == "link_in_use"


async def test_non_finite_times_are_refused_and_the_broker_still_restarts(
    make_broker: MakeBroker,
) -> None:
    """NaN or Infinity in a body is a 400; nothing half-made is left to break a restart."""
    broker = await make_broker()
    staff = broker.staff_token()
    for raw in ('{"customer_ref": "K-1", "planned_start": NaN}',
                '{"customer_ref": "K-1", "planned_start": Infinity}',
                '{"customer_ref": "K-1", "planned_start": 1e400}',
                '{"customer_ref": "K-1", "planned_start": 99999999999}'):
        status, body = await broker.http("POST", "/api/sessions", staff, data=raw.encode())
        assert status == 400, (raw, body)
        assert any(w in body["error"]["message"] for w in ("JSON", "finite", "within a year"))
    assert await broker.service.contacts.unfinished() == {}
    await broker.server.close()  # one process per contact log: stop, then start again
    again = TestServer(create_app(broker.settings), host="127.0.0.1")
    await again.start_server()
    await again.close()
    assert math.isfinite(broker.service.now())


async def test_repeated_reports_cost_no_writes(broker: Broker) -> None:
    """Clients repeat media reports every few seconds: only a change is logged ahead."""
    created, _counsellor, customer = await active_pair(broker)
    await customer.call("media_state", {"state": "connected"})

    async def logged() -> int:
        return len((await broker.service.contacts.unfinished())[created["session"]])

    before = await logged()
    for _ in range(10):
        assert (await customer.call("media_state", {"state": "connected"}))["ok"]
    assert await logged() == before
    await customer.call("switch_channel", {"to": "audio"})
    assert await logged() == before + 1
