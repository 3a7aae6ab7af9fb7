"""Webhooks from a real broker to a real receiver on loopback: signed, in order per
session, retried with back-off until accepted and then never again, nothing personal in
them; on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from broker.contactlog.base import DELIVERED
from broker.webhooks import EVENT_ID_HEADER, EVENT_TYPE_HEADER
from tests.conftest import Broker, MakeBroker
from tests.functional.test_session_flow import active_pair
from tests.pg import PostgresServer, session_server
from tests.webhook_receiver import HANG, SECRET, Answer, Receiver, always_ok

FAST = {"webhook_secret": SECRET, "webhook_retry_base_seconds": 0.05,
        "webhook_retry_max_seconds": 0.2, "webhook_timeout_seconds": 0.5}


@pytest.fixture(scope="session")
def postgres_server(pytestconfig: pytest.Config) -> PostgresServer:
    return session_server(pytestconfig)


@pytest.fixture
async def receivers() -> AsyncIterator[list[Receiver]]:
    started: list[Receiver] = []
    yield started
    for r in started:
        await r.stop()


async def receiver(receivers: list[Receiver], answer: Answer = always_ok) -> Receiver:
    r = await Receiver(answer).start()
    receivers.append(r)
    return r


async def whole_session(broker: Broker) -> str:
    """Create, admit, talk, step down to audio, end: the four kinds of event."""
    created, counsellor, customer = await active_pair(broker, customer_ref="K-4711")
    sid = str(created["session"])
    await customer.call("media_state", {"state": "connected"})
    assert (await customer.call("switch_channel", {"to": "audio"}))["channel"] == "audio"
    ack = await counsellor.call("end", {"session": sid, "outcome": "completed"})
    assert ack == {"ok": True, "state": "ended"}
    return sid


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_a_whole_session_arrives_in_order_signed_and_without_a_person(
    make_broker: MakeBroker, receivers: list[Receiver], request: pytest.FixtureRequest,
    database: str,
) -> None:
    """Every event's first attempt is refused (503): each is sent again, and still the
    receiver accepts created, started, channel_changed, ended in that order; every request
    carries a signature that verifies with the secret and not with another; no name,
    customer reference or access code is in any body."""
    hook = await receiver(receivers, lambda event, n: 503 if n == 0 else 204)
    extra: dict[str, Any] = {}
    if database == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        extra["database_url"] = await server.create_database("webhooks")
    broker = await make_broker(webhook_urls=(hook.url,), **FAST, **extra)
    sid = await whole_session(broker)

    accepted = await hook.wait_accepted(4)
    events = [d.event for d in accepted]
    assert [e["type"] for e in events] == ["session.created", "session.started",
                                           "session.channel_changed", "session.ended"]
    assert {e["session"] for e in events} == {sid}
    assert len({e["id"] for e in events}) == 4
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    changed, ended = events[2]["data"], events[3]["data"]
    assert (changed["from"], changed["to"], changed["by"]) == ("video", "audio", "customer")
    assert ended["end_reason"] == "completed" and ended["team"] == "t1"
    assert ended["counsellor"] == "c1" and set(ended["seconds"]) == {"video", "audio",
                                                                      "phone"}
    for d in hook.got:
        assert d.headers["Content-Type"] == "application/json"
        assert d.headers[EVENT_ID_HEADER] == d.event["id"]
        assert d.headers[EVENT_TYPE_HEADER] == d.event["type"]
        assert d.signed_with(SECRET)
        assert not d.signed_with("some-other-secret-0123456789")
        text = d.raw.decode()
        for personal in ("Ayşe", json.dumps("Ayşe")[1:-1], "K-4711", "customer_ref",
                         '"name"', '"language"'):
            assert personal not in text, (personal, text)
    codes = {str(v) for e in events for k, v in e["data"].items() if "code" in k or k == "pin"}
    assert codes == set()
    # each refused first attempt was repeated with the same id, and nothing else was sent
    assert [d.status for d in hook.got].count(503) == 4 and len(hook.got) == 8
    await asyncio.sleep(0.3)
    assert len(hook.got) == 8


async def test_a_receiver_that_fails_twice_gets_the_event_three_times_then_never(
    make_broker: MakeBroker, receivers: list[Receiver],
) -> None:
    """500, a hang past the timeout, then 200: three requests with one event id, spaced by
    the back-off, and the row is settled as delivered after its third attempt."""
    def answer(event: dict[str, Any], n: int) -> int | tuple[float, int]:
        if n == 0:
            return 500
        return (2.0, 200) if n == 1 else 200

    hook = await receiver(receivers, answer)
    broker = await make_broker(webhook_urls=(hook.url,), **FAST)
    began = time.time()
    created = await broker.create_session(broker.staff_token())
    [delivered] = await hook.wait_accepted(1)
    assert delivered.event["type"] == "session.created"
    got = hook.of(delivered.event["id"])
    assert [d.status for d in got] == [500, HANG, 200]
    assert got[0].arrived - began < 1.0, "a new event goes out at once, not at a poll"
    assert got[1].arrived - got[0].arrived >= 0.05 - 0.01, "back-off before the 2nd try"
    assert got[2].arrived - got[1].arrived >= 0.5, "the hang counted only after the timeout"
    assert {d.raw for d in got} == {delivered.raw}, "every attempt sends the same body"
    await asyncio.sleep(0.5)  # several back-off periods: nothing more comes
    assert len(hook.got) == 3
    [row] = await broker.service.contacts.outbox_rows(created["session"])
    assert (row.status, row.attempts) == (DELIVERED, 3)


async def test_each_url_gets_every_event_and_one_failing_url_holds_up_no_other(
    make_broker: MakeBroker, receivers: list[Receiver],
) -> None:
    down = await receiver(receivers, lambda event, n: 502)
    up = await receiver(receivers)
    broker = await make_broker(webhook_urls=(down.url, up.url), **FAST)
    sid = await whole_session(broker)
    events = [d.event for d in await up.wait_accepted(4)]
    assert [e["session"] for e in events] == [sid] * 4
    assert down.accepted() == [] and {d.event["type"] for d in down.got} == {
        "session.created"}, "the down receiver's later events wait behind its first"


async def test_without_urls_nothing_is_written_or_sent(broker: Broker) -> None:
    """The default: no outbox rows, no deliverer."""
    await whole_session(broker)
    assert await broker.service.contacts.outbox_rows() == []
