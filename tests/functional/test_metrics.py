"""/metrics: what Jobcenter IT scrapes, behind its own token, with no person in it."""

from __future__ import annotations

import asyncio

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Broker, MakeBroker
from tests.functional.test_session_flow import waiting_pair
from tests.ports import free_port

TOKEN = "scrape-token-0123456789"


async def scrape(broker: Broker, token: str | None = TOKEN) -> tuple[int, str, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(broker.url + "/metrics",
                                                         headers=headers) as r:
        return r.status, r.headers.get("Content-Type", ""), await r.text()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample by (name, labels), as a Prometheus server would read them."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)


async def test_metrics_are_off_without_a_token(broker: Broker) -> None:
    status, _, body = await scrape(broker, None)
    assert status == 404 and "CB_METRICS_TOKEN" in body


async def test_metrics_need_their_token(make_broker: MakeBroker) -> None:
    broker = await make_broker(metrics_token=TOKEN)
    for wrong in (None, "nope", TOKEN + "x", broker.staff_token()):
        status, _, body = await scrape(broker, wrong)
        assert status == 401 and "unauthenticated" in body, (wrong, status)
    status, content_type, _ = await scrape(broker)
    assert status == 200 and content_type.startswith("text/plain")


async def test_a_session_shows_in_the_metrics_and_no_person_does(
    make_broker: MakeBroker,
) -> None:
    """Live gauges while the customer waits; counters and histograms once the call ended;
    refusals by code over sockets and HTTP. Session ids, names, references and codes
    never appear."""
    broker = await make_broker(metrics_token=TOKEN)
    created, counsellor, customer = await waiting_pair(broker, customer_ref="K-4711")
    sid = created["session"]
    _, _, text = await scrape(broker)
    assert value(text, "cb_sessions", team="t1", state="waiting") == 1
    assert value(text, "cb_waiting_customers", team="t1") == 1
    assert value(text, "cb_counsellors", team="t1", status="online") == 1
    assert value(text, "cb_counsellors", team="t1", status="free") == 1

    await counsellor.next("customer_waiting")
    assert (await counsellor.call("admit", {"session": sid}))["ok"]
    await customer.next("start")
    await customer.call("media_state", {"state": "connected"})
    await counsellor.call("media_state", {"session": sid, "state": "connected"})
    _, _, text = await scrape(broker)
    assert value(text, "cb_sessions_started_total", team="t1", channel="video") == 1
    assert value(text, "cb_active_sessions", team="t1", channel="video") == 1
    assert value(text, "cb_counsellors", team="t1", status="busy") == 1

    assert (await customer.call("nonsense"))["error"]["code"] == "unknown_event"
    status, _ = await broker.http("GET", "/api/sessions/unknown-session-0000",
                                  broker.staff_token())
    assert status == 404
    assert (await counsellor.call("end", {"session": sid, "outcome": "completed"}))["ok"]
    _, _, text = await scrape(broker)
    assert value(text, "cb_sessions_ended_total", team="t1", channel="video",
                 reason="completed") == 1
    assert value(text, "cb_talk_seconds_total", team="t1", channel="video") > 0
    assert value(text, "cb_setup_seconds_count") == 1
    assert value(text, "cb_waiting_seconds_count") == 1
    assert value(text, "cb_sessions", team="t1", state="active") == 0
    assert value(text, "cb_errors_total", code="unknown_event", via="socket") == 1
    assert value(text, "cb_errors_total", code="not_found", via="http") == 1
    for secret in (sid, "K-4711", "Ayşe", created["access_code"], "unknown-session"):
        assert secret not in text


async def test_undelivered_webhooks_show_in_the_metrics(make_broker: MakeBroker) -> None:
    """A receiver that is down: the event waits in the outbox, and the metrics say how many
    wait and for how long (what an operator alerts on)."""
    nobody = f"http://127.0.0.1:{free_port()}/hook"
    broker = await make_broker(metrics_token=TOKEN, webhook_urls=(nobody,),
                               webhook_secret="s" * 32)
    _, _, text = await scrape(broker)
    assert value(text, "cb_webhook_outbox", status="pending") == 0
    assert value(text, "cb_webhook_oldest_pending_seconds") == 0
    await broker.create_session(broker.staff_token())
    await asyncio.sleep(0.3)
    _, _, text = await scrape(broker)
    assert value(text, "cb_webhook_outbox", status="pending") == 1
    assert value(text, "cb_webhook_outbox", status="delivered") == 0
    assert value(text, "cb_webhook_oldest_pending_seconds") > 0.2


async def test_drop_in_queues_and_outcomes_show_in_the_metrics(make_broker: MakeBroker) -> None:
    """Queue lengths by team and topic, counsellors by presence, answered and abandoned
    waits: and still no person and no ticket in the text."""
    broker = await make_broker(metrics_token=TOKEN)
    tickets = []
    for topic in ("benefits", "benefits", "placement"):
        status, t = await broker.http("POST", "/api/dropin/t1", json={"topic": topic})
        assert status == 201
        tickets.append(t)
    k = await broker.counsellor(broker.staff_token("c1"))
    await k.next("welcome")
    _, _, text = await scrape(broker)
    assert value(text, "cb_dropin_waiting", team="t1", topic="benefits") == 2
    assert value(text, "cb_dropin_waiting", team="t1", topic="placement") == 1
    assert value(text, "cb_dropin_oldest_wait_seconds", team="t1", topic="benefits") >= 0
    assert value(text, "cb_dropin_counsellors", team="t1", presence="away") == 1
    await k.call("presence", {"presence": "available"})
    offer = await k.next("dropin_offer")
    assert (await k.call("dropin_accept", {"ticket": offer["ticket"]}))["ok"]
    page = await broker.peer("/queue", {"token": tickets[2]["token"], "v": 1}).connect()
    assert (await page.call("leave"))["ok"]
    _, _, text = await scrape(broker)
    assert value(text, "cb_dropins_finished_total", team="t1", outcome="answered") == 1
    assert value(text, "cb_dropins_finished_total", team="t1", outcome="abandoned") == 1
    assert value(text, "cb_dropin_wait_seconds_count") == 1
    assert value(text, "cb_dropin_counsellors", team="t1", presence="busy") == 1
    for t in tickets:
        assert t["ticket"] not in text and t["token"] not in text
