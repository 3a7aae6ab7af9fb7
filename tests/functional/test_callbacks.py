"""Callback requests through a real broker: a customer asks (REST), counsellors work the
list (REST), the call runs as a session of kind `callback` (socket.io), and the request is
settled by what happened; the personal page rings for a video callback; claims race; the
phone number is shown to the holder only, and gone once the request is settled.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import Any

import pytest

from broker.callbacks import CallbackRequest, Reach, Source
from broker.types import Role, TeamId
from tests.conftest import Broker, MakeBroker, Peer
from tests.contract.conftest import postgres_dsn, postgres_server  # noqa: F401 - fixtures
from tests.redis_server import RedisServer
from web.keys import SERVICE, WORKLIST

PHONE = "0151 234 567 89"
DIGITS = "015123456789"
FAST = {"grace_seconds": 0.5, "callback_max_attempts": 2}


@pytest.fixture
async def broker(make_broker: MakeBroker) -> Broker:
    return await make_broker(**FAST)


async def ask(broker: Broker, **fields: Any) -> dict[str, Any]:
    body = {"team": "t1", "topic": "benefits", "language": "de", "reach": "phone",
            "phone": PHONE, "consent": True, **fields}
    if body["reach"] == "video":
        body.pop("phone")
    status, out = await broker.http("POST", "/api/callbacks", json=body)
    assert status == 201, out
    return dict(out)


async def act(broker: Broker, token: str, cid: str, what: str,
              json: Any = None, expect: int = 200) -> dict[str, Any]:
    status, out = await broker.http("POST", f"/api/callbacks/{cid}/{what}", token, json=json)
    assert status == expect, out
    return dict(out)


async def worklist(broker: Broker, token: str) -> list[dict[str, Any]]:
    status, out = await broker.http("GET", "/api/callbacks", token)
    assert status == 200, out
    return list(out["callbacks"])


def database(broker: Broker) -> sqlite3.Connection:
    return sqlite3.connect(broker.settings.data_dir / "contacts.sqlite3")


async def contact(broker: Broker, sid: str) -> dict[str, Any]:
    for _ in range(100):
        record = await broker.server.app[SERVICE].contacts.contact(sid)
        if record is not None:
            return record
        await asyncio.sleep(0.05)
    raise AssertionError("no contact record")


async def settled(broker: Broker, cid: str, state: str) -> CallbackRequest:
    """The request once it has reached `state` (the end of a call settles it a moment
    after the record is written)."""
    for _ in range(100):
        r = await broker.server.app[SERVICE].contacts.callback(cid)
        assert r is not None
        if r.state == state:
            return r
        await asyncio.sleep(0.05)
    raise AssertionError(f"callback never {state}: {r}")


async def test_a_phone_callback_from_request_to_record(broker: Broker) -> None:
    asked = await ask(broker, urgent=True)
    cid = asked["callback"]
    assert asked["state"] == "open"
    assert asked["deadline"] > broker.service.now()  # by the end of a working day
    assert asked["expires_at"] == asked["deadline"] + 7 * 86400  # the link outlives it
    c1, c2 = broker.staff_token("c1"), broker.staff_token("c2")

    (item,) = await worklist(broker, c1)
    assert item["callback"] == cid
    assert item["urgent"] is True
    assert item["state"] == "open"
    assert item["phone"] != DIGITS  # masked before the claim
    assert item["phone"].startswith("0151") and item["phone"].endswith("89")

    mine = await act(broker, c1, cid, "claim")
    assert (mine["state"], mine["phone"]) == ("mine", DIGITS)
    refused = await act(broker, c2, cid, "claim", expect=409)
    assert refused["error"]["code"] == "callback_taken"
    (theirs,) = await worklist(broker, c2)
    assert theirs["state"] == "taken"
    assert theirs["phone"] != DIGITS

    started = await act(broker, c1, cid, "start", expect=201)
    sid = started["session"]["session"]
    assert started["session"]["kind"] == "callback"
    assert started["session"]["planned_channel"] == "phone"
    console = await broker.counsellor(c1)
    await console.next("welcome")
    # the customer answered the counsellor's phone: the call begins there
    ack = await console.call("phone_connected", {"session": sid})
    assert ack["ok"], ack
    assert (await console.next("start"))["proposed_channel"] == "phone"
    await asyncio.sleep(1.2)
    assert (await console.call("end", {"session": sid}))["ok"]

    record = await contact(broker, sid)
    assert record["kind"] == "callback"
    assert record["seconds"]["phone"] >= 1.0
    assert record["seconds"]["video"] == 0
    assert record["fallback_used"] is False
    done = await settled(broker, cid, "done")
    assert done.contact is None  # the number went with the request
    with database(broker) as db:
        assert db.execute("SELECT contact FROM callbacks").fetchall() == [(None,)]
        assert db.execute("SELECT outcome FROM callback_attempts").fetchall() == [("reached",)]
    assert await worklist(broker, c1) == []
    gone = await act(broker, c1, cid, "claim", expect=409)
    assert gone["error"]["code"] == "callback_settled"


async def test_a_video_callback_rings_the_customers_page(broker: Broker) -> None:
    asked = await ask(broker, reach="video")
    cid = asked["callback"]
    page = await broker.peer("/callback", {"token": asked["token"], "v": 1}).connect()
    first = await page.next("callback_state")
    assert (first["state"], first["ringing"]) == ("open", None)

    c1 = broker.staff_token("c1")
    (item,) = await worklist(broker, c1)
    assert (item["reach"], item["phone"]) == ("video", None)
    await act(broker, c1, cid, "claim")
    console = await broker.counsellor(c1)
    await console.next("welcome")
    started = await act(broker, c1, cid, "start", expect=201)
    sid = started["session"]["session"]
    ring = await page.next("callback_ringing")
    assert ring["session"] == sid
    # the ringing page hands over to the session's own customer page
    customer = await broker.customer(ring["token"])
    await customer.next("welcome")
    # a page opened again (another tab, a reload) while the counsellor waits: it rings too
    again = await broker.peer("/callback", {"token": asked["token"], "v": 1}).connect()
    assert (await again.next("callback_state"))["ringing"]["session"] == sid
    ack = await customer.call("join", {"name": "", "language": "de", "capabilities": {
        "webrtc": True, "camera": True, "microphone": True}})
    assert ack["ok"], ack
    await console.next("customer_waiting")
    assert (await console.call("admit", {"session": sid}))["ok"]
    await customer.next("start")
    # once the call runs, the link rings no more: the device that took it holds it
    status, mine = await broker.http("GET", "/api/callbacks/mine", asked["token"])
    assert (status, mine["state"], mine["ringing"]) == (200, "claimed", None)
    assert (await customer.call("media_state", {"state": "connected"}))["ok"]
    assert (await console.next("media_state"))["connected"] is True
    await asyncio.sleep(0.3)
    assert (await console.call("end", {"session": sid}))["ok"]
    await settled(broker, cid, "done")
    told = await until_state(page, "done")
    assert told["ringing"] is None


async def until_state(page: Peer, state: str) -> dict[str, Any]:
    while True:
        data = await page.next("callback_state")
        if data["state"] == state:
            return dict(data)


async def test_nobody_answers_twice_then_the_request_closes(broker: Broker) -> None:
    cid = (await ask(broker))["callback"]
    c1 = broker.staff_token("c1")
    await act(broker, c1, cid, "claim")
    sid = (await act(broker, c1, cid, "start", expect=201))["session"]["session"]
    first = await act(broker, c1, cid, "attempts", {"outcome": "not_reached"}, expect=201)
    assert (first["status"], first["attempts"], first["state"]) == ("open", 1, "open")
    # the call that never began is called off, and it is not a second failed attempt
    record = await contact(broker, sid)
    assert record["state"] == "cancelled"
    await asyncio.sleep(0.2)
    assert (await broker.server.app[SERVICE].contacts.callback(cid)).attempts == 1  # type: ignore[union-attr]
    c2 = broker.staff_token("c2")
    await act(broker, c2, cid, "claim")
    last = await act(broker, c2, cid, "attempts", {"outcome": "not_reached"}, expect=201)
    assert (last["status"], last["attempts"], last["phone"]) == ("unreached", 2, None)
    status, tried = await broker.http("GET", f"/api/callbacks/{cid}/attempts", c2)
    assert status == 200
    assert [a["outcome"] for a in tried["attempts"]] == ["not_reached", "not_reached"]


async def test_a_call_nobody_joined_is_a_failed_attempt(broker: Broker) -> None:
    """The counsellor starts a video callback, nobody comes, they call it off."""
    asked = await ask(broker, reach="video")
    cid = asked["callback"]
    c1 = broker.staff_token("c1")
    await act(broker, c1, cid, "claim")
    sid = (await act(broker, c1, cid, "start", expect=201))["session"]["session"]
    console = await broker.counsellor(c1)
    await console.next("welcome")
    assert (await console.call("cancel", {"session": sid}))["ok"]
    r = await settled(broker, cid, "open")
    assert (r.attempts, r.claimed_by, r.session_id) == (1, None, None)


async def test_a_wrong_number_closes_at_once(broker: Broker) -> None:
    cid = (await ask(broker))["callback"]
    c1 = broker.staff_token("c1")
    await act(broker, c1, cid, "claim")
    out = await act(broker, c1, cid, "attempts", {"outcome": "wrong_number"}, expect=201)
    assert (out["status"], out["phone"]) == ("unreached", None)


async def test_a_claim_runs_out_and_others_may_take_it(make_broker: MakeBroker) -> None:
    broker = await make_broker(callback_claim_minutes=0.01)
    cid = (await ask(broker))["callback"]
    c1, c2 = broker.staff_token("c1"), broker.staff_token("c2")
    await act(broker, c1, cid, "claim")
    assert (await act(broker, c2, cid, "claim", expect=409))["error"]["code"] == \
        "callback_taken"
    await asyncio.sleep(0.7)
    taken = await act(broker, c2, cid, "claim")
    assert taken["state"] == "mine"
    late = await act(broker, c1, cid, "start", expect=409)
    assert late["error"]["code"] == "callback_taken"


async def test_release_gives_it_back(broker: Broker) -> None:
    cid = (await ask(broker))["callback"]
    c1, c2 = broker.staff_token("c1"), broker.staff_token("c2")
    await act(broker, c1, cid, "claim")
    back = await act(broker, c1, cid, "release")
    assert back["state"] == "open"
    assert (await act(broker, c2, cid, "claim"))["state"] == "mine"


async def test_the_customer_withdraws(broker: Broker) -> None:
    asked = await ask(broker)
    cid, token = asked["callback"], asked["token"]
    status, mine = await broker.http("GET", "/api/callbacks/mine", token)
    assert (status, mine["state"], mine["reach"]) == (200, "open", "phone")
    assert "phone" not in mine  # the page does not show the number back
    status, out = await broker.http("DELETE", "/api/callbacks/mine", token)
    assert (status, out["state"]) == (200, "cancelled")
    with database(broker) as db:
        assert db.execute("SELECT state, contact FROM callbacks").fetchall() == [
            ("cancelled", None)]
    refused = await act(broker, broker.staff_token("c1"), cid, "claim", expect=409)
    assert refused["error"]["code"] == "callback_settled"


async def test_the_worklist_follows_skills_and_teams(broker: Broker) -> None:
    await ask(broker, language="tr")
    await ask(broker, topic="placement")
    await ask(broker, team="t2")
    c1 = broker.staff_token("c1")
    # default skills: German, every topic, the teams of the sign-in
    assert [(i["topic"], i["language"]) for i in await worklist(broker, c1)] == [
        ("placement", "de")]
    admin = broker.staff_token("a1", Role.ADMIN)
    status, _ = await broker.http("PUT", "/api/staff/c1/skills", admin, json={
        "topics": ["benefits"], "languages": ["de", "tr"]})
    assert status == 200
    assert sorted((i["topic"], i["language"]) for i in await worklist(broker, c1)) == [
        ("benefits", "tr")]
    both = broker.staff_token("c3", teams=("t1", "t2"))
    assert sorted(i["team"] for i in await worklist(broker, both)) == ["t1", "t2"]


async def test_counsellors_hear_that_the_list_moved(broker: Broker) -> None:
    console = await broker.counsellor(broker.staff_token("c1"))
    await console.next("welcome")
    other_team = await broker.counsellor(broker.staff_token("c9", teams=("t9",)))
    await other_team.next("welcome")
    await ask(broker)
    assert (await console.next("callbacks_changed"))["team"] == "t1"
    await asyncio.sleep(0.2)
    assert other_team.pending("callbacks_changed") == 0


async def test_supervisors_see_open_due_and_overdue(broker: Broker) -> None:
    await ask(broker)
    await ask(broker, urgent=True)
    worklist_ = broker.server.app[WORKLIST]
    now = broker.service.now()
    # one asked for yesterday and not done: overdue
    await broker.service.contacts.add_callback(CallbackRequest(
        id="old-request-1", team=TeamId("t1"), topic="benefits",
        language="de", urgent=False, reach=Reach.VIDEO, contact=None, window_from=None,
        window_to=None, source=Source.API, created_at=now - 86400, deadline=now - 600))
    await worklist_.refresh()
    sup = await broker.supervisor(broker.staff_token("s1", Role.SUPERVISOR))
    while True:
        load = await sup.next("load")
        figures = load["teams"].get("t1", {}).get("callbacks")
        if figures and figures["open"] == 3:
            break
    assert figures["overdue"] == 1
    assert figures["topics"] == {"benefits": 3}
    assert 1 <= figures["due_today"] + figures["overdue"] <= 3


@pytest.mark.parametrize(("fields", "wanted"), [
    ({"phone": "12345"}, "phone"),
    ({"phone": "0151 abc"}, "phone"),
    ({"phone": None}, "phone"),
    ({"consent": False}, "consent"),
    ({"topic": "astrology"}, "topic"),
    ({"language": "xx"}, "language"),
    ({"urgent": "yes"}, "urgent"),
    ({"reach": "pigeon"}, "reach"),
    ({"reach": "video", "phone": PHONE}, "phone"),
    ({"window": {"from": 1}}, "window"),
    ({"window": {"from": "2020-01-01T10:00:00+01:00", "to": "2020-01-01T11:00:00+01:00"}},
     "window"),
    ({"source": "api"}, "api"),
    ({"team": "../etc"}, "team"),
    ({"extra": 1}, "extra"),
])
async def test_bad_requests_get_a_clear_error(broker: Broker, fields: dict[str, Any],
                                              wanted: str) -> None:
    body = {"team": "t1", "topic": "benefits", "language": "de", "reach": "phone",
            "phone": PHONE, "consent": True, **fields}
    status, out = await broker.http("POST", "/api/callbacks", json=body)
    assert status == 400, out
    assert out["error"]["code"] == "bad_request"
    assert wanted in out["error"]["message"]


async def test_who_may_do_what(broker: Broker) -> None:
    asked = await ask(broker)
    cid = asked["callback"]
    sup = broker.staff_token("s1", Role.SUPERVISOR)
    for method, path in (("GET", "/api/callbacks"), ("POST", f"/api/callbacks/{cid}/claim")):
        assert (await broker.http(method, path))[0] == 401
        assert (await broker.http(method, path, asked["token"]))[0] == 401  # a customer's
        assert (await broker.http(method, path, sup))[0] == 403
    outsider = broker.staff_token("c9", teams=("t9",))
    assert (await broker.http("POST", f"/api/callbacks/{cid}/claim", outsider))[0] == 403
    assert (await broker.http("GET", "/api/callbacks/mine", broker.staff_token()))[0] == 401
    assert (await broker.http("POST", "/api/callbacks/%2e%2e/claim", sup))[0] in (400, 404)


async def test_a_counsellor_notes_a_request_from_the_phone(broker: Broker) -> None:
    """With a staff token (a counsellor taking a call, a contact form's account) the
    request is `api`, needs no consent flag and is not limited per address."""
    c1 = broker.staff_token("c1")
    for _ in range(broker.settings.code_attempts_per_minute + 2):
        status, out = await broker.http("POST", "/api/callbacks", c1, json={
            "team": "t1", "topic": "general", "reach": "phone", "phone": "+49 30 1234567"})
        assert status == 201, out
    r = await broker.service.contacts.callback(out["callback"])
    assert r is not None
    assert r.source is Source.API


async def test_the_public_is_limited_per_address(make_broker: MakeBroker) -> None:
    broker = await make_broker(code_attempts_per_minute=3)
    codes = []
    for _ in range(5):
        status, _ = await broker.http("POST", "/api/callbacks", json={
            "team": "t1", "topic": "general", "reach": "video", "consent": True})
        codes.append(status)
    assert codes[:3] == [201, 201, 201]
    assert codes[3:] == [429, 429]


async def test_the_number_never_reaches_the_log(broker: Broker,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    cid = (await ask(broker))["callback"]
    c1 = broker.staff_token("c1")
    await act(broker, c1, cid, "claim")
    await act(broker, c1, cid, "start", expect=201)
    await act(broker, c1, cid, "attempts", {"outcome": "wrong_number"}, expect=201)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "callback" in text  # the flow was logged ...
    for piece in (DIGITS, DIGITS[1:], "234 567", PHONE):
        assert piece not in text  # ... without the number
    with database(broker) as db:
        dump = "\n".join(db.iterdump())
    assert DIGITS not in dump and "234 567" not in dump


async def test_requests_survive_a_restart(make_broker: MakeBroker, tmp_path: Any) -> None:
    first = await make_broker(data_dir=tmp_path / "d", **FAST)
    cid = (await ask(first))["callback"]
    await act(first, first.staff_token("c1"), cid, "claim")
    await first.server.close()
    second = await make_broker(data_dir=tmp_path / "d", **FAST)
    (item,) = await worklist(second, second.staff_token("c1"))
    assert (item["callback"], item["state"], item["phone"]) == (cid, "mine", DIGITS)


async def test_two_brokers_one_claim(make_broker: MakeBroker, redis_server: RedisServer,
                                     postgres_dsn: str) -> None:  # noqa: F811
    """Two processes on one PostgreSQL and Redis: twenty counsellors claim one request
    through both at once, and exactly one gets it."""
    shared = {"redis_url": redis_server.url, "database_url": postgres_dsn, **FAST}
    a = await make_broker(**shared)
    b = await make_broker(**shared)
    cid = (await ask(a))["callback"]

    async def claim(i: int) -> int:
        via = (a, b)[i % 2]
        status, _ = await via.http("POST", f"/api/callbacks/{cid}/claim",
                                   via.staff_token(f"c{i}"))
        return status

    statuses = await asyncio.gather(*(claim(i) for i in range(20)))
    assert sorted(statuses) == [200] + [409] * 19
