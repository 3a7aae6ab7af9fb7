"""Supervisors see live load change as sessions are created, joined, admitted, switched, ended."""

from __future__ import annotations

import asyncio
from typing import Any

from broker.types import Role
from tests.conftest import Broker, Peer
from tests.functional.test_session_flow import waiting_pair


async def until(peer: Peer, check: Any, timeout: float = 3.0) -> dict[str, Any]:
    """The first pushed snapshot for which `check(team_t1)` holds."""
    async def wait() -> dict[str, Any]:
        while True:
            snap = await peer.next("load")
            team = snap["teams"].get("t1")
            if team is not None and check(team):
                return dict(team)

    return await asyncio.wait_for(wait(), timeout)


async def test_snapshots_follow_the_session(broker: Broker) -> None:
    """Each step of a session shows up in the supervisor's pushed snapshot."""
    lead = await broker.supervisor(broker.staff_token("s1", Role.SUPERVISOR))
    first = await lead.next("load")
    assert first["teams"] == {}

    created, counsellor, customer = await waiting_pair(broker)
    t = await until(lead, lambda t: t["waiting"] == 1)
    assert t["sessions"]["waiting"] == 1 and t["oldest_wait_seconds"] >= 0
    assert t["counsellors"] == {"online": 1, "busy": 0, "free": 1}

    await counsellor.call("admit", {"session": created["session"]})
    t = await until(lead, lambda t: t["sessions"]["active"] == 1)
    assert t["waiting"] == 0 and t["oldest_wait_seconds"] is None
    assert t["channels"]["video"] == 1
    assert t["counsellors"] == {"online": 1, "busy": 1, "free": 0}

    await customer.call("switch_channel", {"to": "audio"})
    t = await until(lead, lambda t: t["channels"]["audio"] == 1)
    assert t["channels"]["video"] == 0

    await counsellor.call("end", {"session": created["session"]})
    t = await until(lead, lambda t: t["sessions"]["active"] == 0)
    assert sum(t["channels"].values()) == 0 and t["counsellors"]["busy"] == 0

    await counsellor.close()
    t = await until(lead, lambda t: t["counsellors"]["online"] == 0)

    status, rest = await broker.http("GET", "/api/load", broker.staff_token("s1", Role.SUPERVISOR))
    assert status == 200 and rest["teams"]["t1"]["sessions"]["active"] == 0


async def test_pushes_are_coalesced(broker: Broker) -> None:
    """Many changes inside one push interval reach the supervisor as few snapshots."""
    lead = await broker.supervisor(broker.staff_token("s1", Role.SUPERVISOR))
    await lead.next("load")
    staff = broker.staff_token()
    await asyncio.gather(*(broker.create_session(staff) for _ in range(20)))
    t = await until(lead, lambda t: t["sessions"]["scheduled"] == 20)
    assert t["sessions"]["scheduled"] == 20
    pushes = sum(1 for event, _ in lead.seen if event == "load")
    assert pushes < 20, f"{pushes} pushes for 20 changes"


async def test_supervisor_sees_only_their_teams(broker: Broker) -> None:
    """A team lead of t2 receives nothing about t1."""
    lead2 = await broker.supervisor(broker.staff_token("s2", Role.SUPERVISOR, ("t2",)))
    await lead2.next("load")
    await broker.create_session(broker.staff_token())
    await asyncio.sleep(0.3)
    for event, snap in lead2.seen:
        if event == "load":
            assert "t1" not in snap["teams"]
