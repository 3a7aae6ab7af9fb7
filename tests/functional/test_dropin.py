"""Drop-ins through a real broker: a customer queues from a team's entry (REST), waits on
the `/queue` socket, a counsellor on `/staff` is rung, accepts, and the call runs like a
scheduled one; declines, timeouts, leaving, skills, concurrency, a restart, the live view.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from broker.contactlog.sqlite import SqliteContactLog
from broker.types import Role, StaffId
from tests.conftest import Broker, MakeBroker, Peer
from tests.contract.conftest import postgres_dsn, postgres_server  # noqa: F401 - fixtures
from tests.functional.test_session_flow import active_pair
from web import cli
from web.keys import DROPIN

CAPS = {"webrtc": True, "camera": True, "microphone": True}
FAST = {"dropin_offer_seconds": 1.0, "dropin_wrap_up_seconds": 0.3, "grace_seconds": 0.5}


@pytest.fixture
async def broker(make_broker: MakeBroker) -> Broker:
    return await make_broker(**FAST)


async def queue(broker: Broker, topic: str = "benefits", language: str = "de",
                team: str = "t1", caps: dict[str, bool] | None = None
                ) -> tuple[dict[str, Any], Peer]:
    """A customer queues and opens the waiting page: (the ticket, the page's socket)."""
    status, ticket = await broker.http("POST", f"/api/dropin/{team}", json={
        "topic": topic, "language": language, "capabilities": caps or CAPS})
    assert status == 201, ticket
    page = await broker.peer("/queue", {"token": ticket["token"], "v": 1}).connect()
    return ticket, page


async def console(broker: Broker, staff: str = "c1", available: bool = True,
                  teams: tuple[str, ...] = ("t1",)) -> Peer:
    peer = await broker.counsellor(broker.staff_token(staff, teams=teams))
    welcome = await peer.next("welcome")
    assert welcome["dropin"]["presence"] == "away"  # nobody is rung before choosing to be
    if available:
        ack = await peer.call("presence", {"presence": "available"})
        assert ack["ok"] and ack["presence"] == "available", ack
        assert (await peer.next("presence"))["presence"] == "available"  # every tab hears it
    return peer


async def until(peer: Peer, event: str, wanted: Any, timeout: float = 5.0) -> dict[str, Any]:
    """The first `event` whose data contains `wanted`'s items (earlier ones are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        data = await peer.next(event, max(0.01, deadline - time.monotonic()))
        if all(data.get(k) == v for k, v in wanted.items()):
            return dict(data)


async def test_a_drop_in_from_queue_to_call_to_record(broker: Broker) -> None:
    ticket, page = await queue(broker, language="tr")
    first = await page.next("queue_state")
    assert (first["position"], first["estimate_seconds"]) == (1, None)  # nobody signed in
    k = await broker.counsellor(broker.staff_token("c1"))
    await k.next("welcome")
    # c1 speaks German only (the default): a Turkish customer is not offered to them
    await k.call("presence", {"presence": "available"})
    await k.next("presence")
    await asyncio.sleep(0.3)
    assert k.pending("dropin_offer") == 0
    admin = broker.staff_token("a1", Role.ADMIN)
    status, _ = await broker.http("PUT", "/api/staff/c1/skills", admin, json={
        "topics": ["benefits"], "languages": ["de", "tr"]})
    assert status == 200
    offer = await k.next("dropin_offer")  # at once: the console routes by the new skills
    assert offer["ticket"] == ticket["ticket"]
    assert 0 < offer["expires_at"] - offer["now"] <= FAST["dropin_offer_seconds"]
    assert (offer["topic"], offer["language"], offer["camera"]) == ("benefits", "tr", True)
    assert offer["present"] is True and offer["expires_at"] > time.time()
    await until(page, "queue_state", {"position": 1, "estimate_seconds": 900})  # one server

    ack = await k.call("dropin_accept", {"ticket": ticket["ticket"]})
    assert ack["ok"], ack
    session = ack["session"]
    assert session["state"] == "scheduled" and session["planned_channel"] == "video"
    assert (await k.next("presence"))["presence"] == "busy"
    answered = await page.next("dropin_answered")

    customer = await broker.customer(answered["token"])
    await customer.next("welcome")
    await customer.call("join", {"language": "tr", "capabilities": CAPS})
    await k.next("customer_waiting")
    assert (await k.call("admit", {"session": session["session"]}))["ok"]
    await customer.next("start")
    ack = await k.call("end", {"session": session["session"], "outcome": "completed"})
    assert ack["ok"], ack
    assert (await k.next("presence"))["presence"] == "wrap_up"
    assert (await k.next("presence"))["presence"] == "available"  # after 0.3 s
    record = await broker.service.contacts.contact(session["session"])
    assert record is not None and record["kind"] == "drop-in"
    assert record["customer_ref"].startswith("drop-in-")
    # the page, reloaded, hears how its wait ended
    again = await broker.peer("/queue", {"token": ticket["token"], "v": 1}).connect()
    assert (await again.next("dropin_answered"))["token"] == answered["token"]


async def test_longest_idle_decline_and_no_answer(broker: Broker) -> None:
    first = await console(broker, "c1")
    await asyncio.sleep(0.05)
    second = await console(broker, "c2")
    ticket, _page = await queue(broker)
    offer = await first.next("dropin_offer")  # c1 has been free longest
    assert offer["ticket"] == ticket["ticket"] and second.pending("dropin_offer") == 0
    assert (await first.call("dropin_decline", {"ticket": ticket["ticket"]}))["ok"]
    assert (await first.next("dropin_withdrawn"))["why"] == "declined"
    assert (await second.next("dropin_offer"))["ticket"] == ticket["ticket"]
    # c2 does not answer within a second: set away, and nobody else is left (c1 declined)
    assert (await second.next("dropin_withdrawn", timeout=3))["why"] == "expired"
    assert (await second.next("presence"))["presence"] == "away"
    late = await second.call("dropin_accept", {"ticket": ticket["ticket"]})
    assert late["error"]["code"] == "offer_gone"
    third = await console(broker, "c3")
    assert (await third.next("dropin_offer"))["ticket"] == ticket["ticket"]
    assert (await third.call("dropin_accept", {"ticket": ticket["ticket"]}))["ok"]


async def test_a_customer_who_leaves_or_whose_page_is_gone(broker: Broker) -> None:
    k = await console(broker)
    _, page = await queue(broker)
    await k.next("dropin_offer")
    assert (await page.call("leave"))["state"] == "left"
    assert (await k.next("dropin_withdrawn"))["why"] == "left"
    # the next one closes the page and does not come back within the grace period
    other, other_page = await queue(broker)
    # offered when it queues, and again once its page is there
    assert (await until(k, "dropin_offer", {"ticket": other["ticket"], "present": True}))
    await other_page.close()
    withdrawn = await k.next("dropin_withdrawn", timeout=3)
    assert withdrawn == {"ticket": other["ticket"], "why": "left"}
    # a ticket that left does not queue again with its old token
    back = await broker.peer("/queue", {"token": other["token"], "v": 1}).connect()
    assert (await back.next("dropin_left"))["state"] == "left"
    assert (await k.call("sync"))["dropin"]["offer"] is None


async def test_a_ticket_whose_page_never_comes_leaves(broker: Broker) -> None:
    """Queued over REST, but no page connected within twice the grace period (here 1 s):
    the ticket is gone, as if the customer had left."""
    status, ticket = await broker.http("POST", "/api/dropin/t1", json={"topic": "benefits"})
    assert status == 201
    dropin = broker.server.app[DROPIN]
    assert ticket["ticket"] in dropin.dispatcher.tickets
    await asyncio.sleep(1.3)
    assert ticket["ticket"] not in dropin.dispatcher.tickets
    page = await broker.peer("/queue", {"token": ticket["token"], "v": 1}).connect()
    assert (await page.next("dropin_left"))["state"] == "left"


async def test_a_counsellor_in_a_call_signs_in_busy(broker: Broker) -> None:
    created, counsellor, _customer = await active_pair(broker)
    await counsellor.close()
    again = await broker.counsellor(broker.staff_token())
    assert (await again.next("welcome"))["dropin"]["presence"] == "busy"
    ack = await again.call("end", {"session": created["session"], "outcome": "completed"})
    assert ack["ok"], ack
    assert (await again.next("presence"))["presence"] == "wrap_up"


async def test_a_short_drop_keeps_the_place(broker: Broker) -> None:
    a, page_a = await queue(broker)
    _, page_b = await queue(broker)
    await page_a.close()
    await asyncio.sleep(0.1)  # well within the grace period
    again = await broker.peer("/queue", {"token": a["token"], "v": 1}).connect()
    assert (await again.next("queue_state"))["position"] == 1
    assert (await page_b.next("queue_state"))["position"] == 2


async def test_concurrent_accepts_of_one_customer_one_wins(broker: Broker) -> None:
    token = broker.staff_token("c1")
    tabs = [await broker.counsellor(token) for _ in range(3)]
    for tab in tabs:
        await tab.next("welcome")
    await tabs[0].call("presence", {"presence": "available"})
    other = await console(broker, "c2", available=False)
    await queue(broker)
    offer = await tabs[1].next("dropin_offer")  # every tab of c1 rings
    attempts = [tab.call("dropin_accept", {"ticket": offer["ticket"]}) for tab in tabs for _ in
                range(4)]
    attempts.append(other.call("dropin_accept", {"ticket": offer["ticket"]}))
    acks = await asyncio.gather(*attempts)
    won = [a for a in acks if a["ok"]]
    assert len(won) == 1, acks
    assert {a["error"]["code"] for a in acks if not a["ok"]} == {"offer_gone"}
    live = await broker.service.sessions_of(StaffId("c1"))
    assert [s.id for s in live] == [won[0]["session"]["session"]]


async def test_tickets_keep_their_order_across_a_restart(tmp_path: Path,
                                                         make_broker: MakeBroker) -> None:
    """The broker's memory is gone; customers reconnect in any order and queue again where
    they were (their tickets say when they joined)."""
    data = tmp_path / "d"
    first = await make_broker(data_dir=data, **FAST)
    tickets = [(await queue(first))[0] for _ in range(3)]
    await first.server.close()
    second = await make_broker(data_dir=data, **FAST)
    pages = {}
    last: dict[str, int] = {}
    for t in reversed(tickets):
        pages[t["ticket"]] = await second.peer("/queue", {"token": t["token"], "v": 1}).connect()
        last[t["ticket"]] = (await pages[t["ticket"]].next("queue_state"))["position"]
    await asyncio.sleep(0.5)  # changed positions are pushed after a moment
    for tid, page in pages.items():
        while page.pending("queue_state"):
            last[tid] = (await page.next("queue_state"))["position"]
    assert [last[t["ticket"]] for t in tickets] == [1, 2, 3]


async def test_bad_input_and_wrong_tokens(broker: Broker) -> None:
    k = await console(broker)
    for event, data, code in [
        ("presence", {"presence": "busy"}, "bad_request"),
        ("presence", {"presence": "available", "x": 1}, "bad_request"),
        ("dropin_accept", {"ticket": "../../etc"}, "bad_request"),
        ("dropin_accept", {"ticket": "n0-such-ticket"}, "offer_gone"),
        ("dropin_decline", {}, "bad_request"),
    ]:
        ack = await k.call(event, data)
        assert ack["error"]["code"] == code, (event, ack)
    bodies: list[dict[str, Any]] = [
        {"topic": "benefits", "language": "xx"},
        {"topic": "benefits", "capabilities": {"camera": "yes"}},
        {"language": "de"}, {"topic": "benefits", "name": "Ali"}]
    for body in bodies:
        status, err = await broker.http("POST", "/api/dropin/t1", json=body)
        assert status == 400 and err["error"]["code"] == "bad_request", body
    status, err = await broker.http("POST", "/api/dropin/t%201", json={"topic": "benefits"})
    assert status == 400
    ticket, _ = await queue(broker)
    # a ticket token is no customer link, a customer link no ticket, a staff token neither
    assert (await broker.peer("/customer", {"token": ticket["token"]}).refused())["code"] \
        == "unauthenticated"
    created = await broker.create_session(broker.staff_token())
    for token in (created["customer_token"], broker.staff_token()):
        assert (await broker.peer("/queue", {"token": token}).refused())["code"] \
            == "unauthenticated"


async def test_tickets_per_address_are_limited(make_broker: MakeBroker) -> None:
    broker = await make_broker(code_attempts_per_minute=3)
    for _ in range(3):
        status, _ = await broker.http("POST", "/api/dropin/t1", json={"topic": "benefits"})
        assert status == 201
    status, err = await broker.http("POST", "/api/dropin/t1", json={"topic": "benefits"})
    assert status == 429 and err["error"]["code"] == "rate_limited"


async def test_supervisors_see_queues_presence_and_service_level(broker: Broker) -> None:
    sup = await broker.supervisor(broker.staff_token("s1", Role.SUPERVISOR))
    await sup.next("load")
    quick = await console(broker, "c1")
    await console(broker, "c2", available=False)
    t1, _ = await queue(broker)
    offer = await quick.next("dropin_offer")
    assert (await quick.call("dropin_accept", {"ticket": offer["ticket"]}))["ok"]
    t2, page2 = await queue(broker, topic="placement")
    await queue(broker, topic="placement")
    await page2.call("leave")
    await asyncio.sleep(0.3)
    status, load = await broker.http("GET", "/api/load",
                                     broker.staff_token("s1", Role.SUPERVISOR))
    assert status == 200
    dropin = load["teams"]["t1"]["dropin"]
    assert dropin["topics"]["placement"]["waiting"] == 1
    assert dropin["presence"] == {"available": 0, "busy": 1, "wrap_up": 0, "away": 1}
    assert dropin["today"] == {"answered": 1, "abandoned": 1, "service_level": 1.0,
                               "abandonment_rate": 0.5, "target_seconds": 120.0}
    pushed = await sup.next("load")
    while sup.pending("load"):
        pushed = await sup.next("load")
    assert pushed["teams"]["t1"]["dropin"]["today"]["abandoned"] == 1
    assert t1 and t2


async def test_two_processes_route_as_one(
        make_broker: MakeBroker, raw_redis: Any, postgres_dsn: str) -> None:  # noqa: F811
    """A counsellor on process A is rung for a customer who queued on process B; their two
    tabs, one on each process, accept at the same moment: one wins, and the customer's
    page on B is handed the session; supervisors on either process see the queue."""
    url = raw_redis.connection_pool.connection_kwargs
    shared = {"redis_url": f"redis://{url['host']}:{url['port']}/{url.get('db', 0)}",
              "database_url": postgres_dsn, **FAST}
    a = await make_broker(**shared)
    b = await make_broker(**shared)
    k = await console(a)
    other_tab = await b.counsellor(b.staff_token("c1"))
    assert (await other_tab.next("welcome"))["dropin"]["presence"] == "available"
    ticket, page = await queue(b)
    offer = await k.next("dropin_offer")
    assert offer["ticket"] == ticket["ticket"]
    assert (await other_tab.next("dropin_offer"))["ticket"] == ticket["ticket"]
    sup = await a.supervisor(a.staff_token("s1", Role.SUPERVISOR))
    await until(sup, "load", {})  # the first push
    acks = await asyncio.gather(*(tab.call("dropin_accept", {"ticket": ticket["ticket"]})
                                  for tab in (k, other_tab)))
    assert sorted(bool(x["ok"]) for x in acks) == [False, True], acks
    refused = next(x for x in acks if not x["ok"])
    assert refused["error"]["code"] == "offer_gone"
    answered = await page.next("dropin_answered")
    won = next(x for x in acks if x["ok"])
    assert won["session"]["kind"] == "drop-in"
    customer = await b.customer(answered["token"])
    assert (await customer.next("welcome"))["session"] == won["session"]["session"]
    # one session, one ticket answered: the figures agree on both processes
    for broker in (a, b):
        for _ in range(40):
            _, load = await broker.http("GET", "/api/load",
                                             broker.staff_token("s1", Role.SUPERVISOR))
            today = load["teams"]["t1"].get("dropin", {}).get("today", {})
            if today.get("answered") == 1:
                break
            await asyncio.sleep(0.05)
        assert today["answered"] == 1, load


async def test_the_queue_outlives_every_process(
        make_broker: MakeBroker, raw_redis: Any, postgres_dsn: str,  # noqa: F811
        tmp_path: Path) -> None:
    """Both processes stop; a new one starts on the same Redis: the customers' pages
    reconnect and keep their order, and a counsellor signing in gets the first."""
    url = raw_redis.connection_pool.connection_kwargs
    shared = {"redis_url": f"redis://{url['host']}:{url['port']}/{url.get('db', 0)}",
              "database_url": postgres_dsn, **FAST, "grace_seconds": 5.0}
    first = await make_broker(**shared)
    tickets = [(await queue(first))[0] for _ in range(3)]
    await first.server.close()
    second = await make_broker(**shared)
    pages = [await second.peer("/queue", {"token": t["token"], "v": 1}).connect()
             for t in reversed(tickets)]  # they come back in any order
    states = [await p.next("queue_state") for p in pages]
    assert [s["position"] for s in states] == [3, 2, 1]
    k = await console(second)
    assert (await k.next("dropin_offer"))["ticket"] == tickets[0]["ticket"]


def test_skills_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "CB_DATABASE_URL", "CB_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)

    async def create_log() -> None:
        log = SqliteContactLog(tmp_path / "contacts.sqlite3")
        await log.open()
        await log.close()

    asyncio.run(create_log())
    base = ["skills", "--data-dir", str(tmp_path), "--staff", "c7"]
    assert cli.main(base) == 0
    assert json.loads(capsys.readouterr().out)["set"] is False
    assert cli.main([*base, "--topics", "benefits,youth", "--languages", "de,uk",
                     "--teams", "t1"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "staff": "c7", "set": True, "teams": ["t1"], "topics": ["benefits", "youth"],
        "languages": ["de", "uk"]}
    assert cli.main([*base, "--topics", "astrology", "--languages", "de"]) == 2
    assert "topics" in capsys.readouterr().err


async def test_capabilities_plan_the_channel_and_every_page_hears_a_leave(
        broker: Broker) -> None:
    """Missing capabilities count as true; no WebRTC or no microphone plans the phone, no
    camera audio. Leaving in one tab tells the ticket's other tabs; leaving after the
    answer says so."""
    k = await console(broker)
    for caps, channel in [({}, "video"), ({"camera": False}, "audio"),
                          ({"webrtc": False}, "phone"), ({"microphone": False}, "phone")]:
        status, ticket = await broker.http("POST", "/api/dropin/t1",
                                           json={"topic": "benefits", "capabilities": caps})
        assert status == 201
        offer = await k.next("dropin_offer")
        ack = await k.call("dropin_accept", {"ticket": offer["ticket"]})
        assert ack["session"]["planned_channel"] == channel, caps
        assert (await k.call("cancel", {"session": ack["session"]["session"]}))["ok"]
        # after the answer, leave says how the wait ended
        page = await broker.peer("/queue", {"token": ticket["token"], "v": 1}).connect()
        answered = await page.next("dropin_answered")
        assert (await page.call("leave"))["state"] == "answered"
        assert answered["token"]
        await until(k, "presence", {"presence": "available"})
    ticket, tab_a = await queue(broker, topic="placement")
    tab_b = await broker.peer("/queue", {"token": ticket["token"], "v": 1}).connect()
    state = await tab_b.next("queue_state")
    assert {"state": "waiting", "team": "t1", "topic": "placement", "language": "de",
            "position": 1}.items() <= state.items()
    assert (await tab_a.call("leave"))["state"] == "left"
    assert (await tab_b.next("dropin_left"))["state"] == "left"


def closed_all_day() -> str:
    """Opening hours that leave out today (so it is closed now, whatever the hour)."""
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    today = time.gmtime().tm_wday  # the broker reads hours in UTC here
    return f"{days[(today + 1) % 7]} 08:00-18:00"


async def test_outside_hours_a_callback_is_offered_instead(make_broker: MakeBroker) -> None:
    broker = await make_broker(dropin_hours=closed_all_day(), report_timezone="UTC", **FAST)
    status, entry = await broker.http("GET", "/api/dropin/t1?topic=benefits&language=de")
    assert status == 200
    assert (entry["open"], entry["overflow"], entry["estimate_seconds"]) == (
        False, "closed", None)
    status, refused = await broker.http("POST", "/api/dropin/t1", json={
        "topic": "benefits", "language": "de", "capabilities": CAPS})
    assert (status, refused["error"]["code"]) == (409, "queue_closed")


async def test_nobody_signed_in_or_a_long_wait_offers_a_callback(
        make_broker: MakeBroker) -> None:
    """Waiting stays possible: the customer may choose it."""
    broker = await make_broker(dropin_handle_seconds=600, dropin_max_wait_seconds=900, **FAST)
    path = "/api/dropin/t1?topic=benefits&language=de"
    _, entry = await broker.http("GET", path)
    assert (entry["open"], entry["overflow"], entry["estimate_seconds"]) == (True, "nobody", None)
    await console(broker)  # one counsellor: 600 s per customer ahead
    _, entry = await broker.http("GET", path)
    assert (entry["overflow"], entry["estimate_seconds"]) == (None, 600)
    await queue(broker)
    _, entry = await broker.http("GET", path)  # the first is being offered: 2nd in line
    assert (entry["overflow"], entry["estimate_seconds"]) == ("wait", 1200)
    _, other = await broker.http("GET", "/api/dropin/t1?topic=benefits&language=ar")
    assert other["overflow"] == "nobody"  # nobody speaks Arabic
    await queue(broker)  # still allowed to wait
    status, bad = await broker.http("GET", "/api/dropin/t1?topic=astrology")
    assert (status, bad["error"]["code"]) == (400, "bad_request")
    status, bad = await broker.http("GET", "/api/dropin/t1?nonsense=1")
    assert status == 400


async def test_a_report_tells_how_the_queue_and_the_callbacks_went(
        broker: Broker) -> None:
    """Two customers queue; one is answered, one leaves; a callback is done. The period's
    report has the team's service level, abandonment and callbacks in time."""
    k = await console(broker)
    first, page = await queue(broker)
    await page.next("queue_state")
    offer = await k.next("dropin_offer")
    assert (await k.call("dropin_accept", {"ticket": offer["ticket"]}))["ok"]
    _second, other = await queue(broker)
    await other.next("queue_state")
    assert (await other.call("leave", {}))["state"] == "left"
    c1 = broker.staff_token("c2")
    status, asked = await broker.http("POST", "/api/callbacks", json={
        "team": "t1", "topic": "benefits", "reach": "phone", "phone": "030 1234567",
        "consent": True})
    assert status == 201
    cid = asked["callback"]
    assert (await broker.http("POST", f"/api/callbacks/{cid}/claim", c1))[0] == 200
    assert (await broker.http("POST", f"/api/callbacks/{cid}/attempts", c1,
                              json={"outcome": "reached"}))[0] == 201
    sup = broker.staff_token("s1", Role.SUPERVISOR)
    day = time.strftime("%Y-%m-%d", time.localtime(time.time() - 86400))
    later = time.strftime("%Y-%m-%d", time.localtime(time.time() + 2 * 86400))
    for _ in range(50):  # the waits are written a moment after they end
        status, report = await broker.http("GET", f"/api/reports?from={day}&to={later}", sup)
        assert status == 200, report
        d = report["queues"]["t1"]["dropins"]
        if d["answered"] + d["abandoned"] == 2:
            break
        await asyncio.sleep(0.05)
    assert (d["answered"], d["abandoned"], d["answered_in_target"]) == (1, 1, 1)
    assert (d["service_level"], d["abandonment_rate"]) == (1.0, 0.5)
    c = report["queues"]["t1"]["callbacks"]
    assert (c["done"], c["done_in_time"], c["in_time_rate"]) == (1, 1, 1.0)
    assert first["ticket"] not in json.dumps(report)  # no ticket in a report
