"""Drop-ins on the staff pages, in real Chromium against a real broker (protocol 3.4).

A counsellor sets the console to "verfügbar"; a customer queues through the REST entry and
waits on `/queue` (a Python client, as the customer's page would); the console rings: an
alert with the topic, language, devices, wait and a countdown, and a ring tone from the Web
Audio API (counted where the page cannot fake it: at `OscillatorNode.start`). Accepted with
the keyboard, the customer's page gets its link, joins, and the console lets them in by
itself. Declining, not answering, a customer who leaves, a broker restart, and the team
lead's figures follow; axe-core checks the ringing console and the supervisor's drop-in
tables.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page

from broker.types import Role
from tests.browser.conftest import ConsoleErrors, axe, describe, new_context, shot
from tests.browser.test_journeys import until
from tests.conftest import Broker, MakeBroker, Peer
from tests.functional.test_dropin import queue
from tests.ports import free_port
from tests.redis_server import RedisServer

ROOT = Path(__file__).parents[2]
TEXTS = ROOT / "web" / "static" / "js" / "texts-staff.js"

# counts what the page's audio really does, below anything the page itself could claim
COUNT_AUDIO = """
(() => {
  const audio = { started: 0, contexts: [] };
  window.__audio = audio;
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (...args) {
    audio.started += 1;
    return start.apply(this, args);
  };
  const Native = window.AudioContext;
  window.AudioContext = class extends Native {
    constructor(...args) {
      super(...args);
      audio.contexts.push(this);
    }
  };
})();
"""
NO_CAMERA = {"webrtc": True, "camera": False, "microphone": True}


async def desk(make_broker: MakeBroker, **settings: Any) -> Broker:
    """A broker on the port the browser's origin names, with quick drop-in timers."""
    values: dict[str, Any] = {"port": free_port(), "load_push_interval": 0.2,
                              "dropin_wrap_up_seconds": 1.0}
    values.update(settings)
    return await make_broker(**values)


async def open_console(site: Broker, browser: Browser, staff: str = "c1"
                       ) -> tuple[Page, ConsoleErrors]:
    context = await new_context(browser)
    await context.add_init_script(COUNT_AUDIO)
    page = await context.new_page()
    errors = ConsoleErrors(page)
    await page.goto(f"{site.url}/staff#token={site.staff_token(staff)}")
    await page.wait_for_selector("#dropin", state="visible", timeout=15000)
    return page, errors


async def text(page: Page, selector: str) -> str:
    return (await page.locator(selector).inner_text()).strip()


async def has_text(page: Page, selector: str, wanted: str) -> bool:
    return wanted in await text(page, selector)


async def presence_is(page: Page, presence: str) -> bool:
    return await page.get_attribute("#presence-now", "data-presence") == presence


async def set_available(page: Page) -> None:
    """What a person does: click "verfügbar" (which also allows the page to make sound)."""
    await page.click("label[for='presence-available']")
    await until(lambda: presence_is(page, "available"), what="presence available")


async def ringing(page: Page) -> bool:
    return await page.locator("#dropin-offer").is_visible()


async def oscillators(page: Page) -> int:
    return int(await page.evaluate("window.__audio.started"))


async def ring_stopped(page: Page) -> None:
    """The alert is gone and no tone starts any more (a ring repeats every 2.6 s)."""
    await until(lambda: _not(ringing(page)), what="the alert to close")
    assert await page.get_attribute("#dropin-offer", "data-sound") == "off"
    before = await oscillators(page)
    await asyncio.sleep(3.0)
    assert await oscillators(page) == before, "the ring tone goes on after the offer ended"


async def _not(value: Awaitable[Any]) -> bool:
    return not await value


# ------------------------------------------------------------------ the whole way


async def test_a_drop_in_rings_is_accepted_by_keyboard_and_let_in(
    make_broker: MakeBroker, chromium: Browser,
) -> None:
    site = await desk(make_broker)
    page, errors = await open_console(site, chromium)
    assert await presence_is(page, "away"), "nobody is rung before choosing to be"
    assert await has_text(page, "#dropin-skills", "Leistungen/Bürgergeld")
    assert await has_text(page, "#dropin-skills", "Deutsch")
    await shot(page, "dropin-console-1-away")
    await set_available(page)
    assert await page.is_checked("#presence-available")
    assert await has_text(page, "#presence-now", "verfügbar")

    ticket, waiting_page = await queue(site, topic="placement", caps=NO_CAMERA)
    await until(lambda: ringing(page), what="the console to ring")
    alert = await text(page, "#dropin-offer")
    assert "Anruf aus der offenen Sprechstunde" in alert
    assert "Arbeitsvermittlung" in alert and "Deutsch" in alert
    assert "nur Mikrofon" in alert
    assert re.search(r"Noch \d+ Sekunden", alert), alert
    assert "nicht verbunden" not in alert  # its page opens a moment after the ticket
    assert await page.get_attribute("#dropin-offer", "role") == "alertdialog"
    # focus is on "Annehmen", and the tone plays through a running audio context
    assert await page.evaluate("document.activeElement.id") == "offer-accept"
    await until(lambda: oscillators(page), what="an oscillator to start")
    assert await page.evaluate("window.__audio.contexts.some((c) => c.state === 'running')")
    assert await page.get_attribute("#dropin-offer", "data-sound") == "playing"
    assert "Anruf" in await page.title()
    await shot(page, "dropin-console-2-ringing")

    await page.keyboard.press("Enter")
    answered = await waiting_page.next("dropin_answered")
    await ring_stopped(page)
    assert await has_text(page, "#dropin-note", "Angenommen (Arbeitsvermittlung)")
    assert await presence_is(page, "busy")
    await until(lambda: page.locator("#session-rows tr").count(), what="the new session")
    row = await text(page, "#session-rows")
    assert "drop-in-" in row and "ohne Termin" in row

    # the customer's page follows its link and joins; the console lets them in by itself
    customer = await site.customer(answered["token"])
    await customer.next("welcome")
    ack = await customer.call("join", {"language": "de", "capabilities": {
        "webrtc": False, "camera": False, "microphone": True}})
    assert ack["ok"], ack
    start = await customer.next("start", timeout=15)
    assert start["proposed_channel"] == "phone"  # no WebRTC on that side: nothing to stream
    await page.wait_for_selector("#call", state="visible", timeout=10000)
    assert await page.locator("#waiting-alert .waiting-card").count() == 0
    await shot(page, "dropin-console-3-admitted")

    # the end of the call: wrap-up, then available again (1 s here)
    await page.click("#end")
    await until(lambda: presence_is(page, "wrap_up"), what="wrap-up")
    assert await has_text(page, "#presence-now", "Nachbereitung")
    await until(lambda: presence_is(page, "available"), what="available after wrap-up")
    record = await site.service.contacts.contact(start["session"])
    assert record is not None and record["kind"] == "drop-in"
    assert errors.errors == []
    assert ticket["ticket"]


async def test_every_tab_rings_and_an_accept_in_one_stops_the_others(
    make_broker: MakeBroker, chromium: Browser,
) -> None:
    """Two windows of one counsellor ring; the one that accepts lets the customer in, the
    other stops ringing and says why (it hears only that its counsellor is busy)."""
    site = await desk(make_broker)
    first, first_errors = await open_console(site, chromium)
    second, second_errors = await open_console(site, chromium)
    await set_available(first)
    await until(lambda: presence_is(second, "available"), what="the other tab to follow")
    assert await second.is_checked("#presence-available")
    _, waiting_page = await queue(site)
    await until(lambda: ringing(first), what="the first tab to ring")
    await until(lambda: ringing(second), what="the second tab to ring")
    await second.click("#offer-accept")
    answered = await waiting_page.next("dropin_answered")
    await ring_stopped(first)
    assert await text(first, "#dropin-note") == "In einem anderen Fenster angenommen."
    assert await has_text(second, "#dropin-note", "Angenommen")
    customer = await site.customer(answered["token"])
    await customer.next("welcome")
    await customer.call("join", {"capabilities": {"webrtc": False}})
    await customer.next("start", timeout=15)
    await second.wait_for_selector("#call", state="visible", timeout=10000)
    assert await first.locator("#call").is_hidden(), "only the accepting tab holds the call"
    assert first_errors.errors == [] and second_errors.errors == []


async def test_with_several_processes_the_console_takes_drop_ins_too(
    make_broker: MakeBroker, chromium: Browser, redis_server: RedisServer,
) -> None:
    """Several processes (Redis) share the routing: the console shows the drop-in area
    and its presence, as with one process."""
    site = await desk(make_broker, redis_url=redis_server.url)
    context = await new_context(chromium)
    page = await context.new_page()
    errors = ConsoleErrors(page)
    await page.goto(f"{site.url}/staff#token={site.staff_token()}")
    await page.wait_for_selector("#customer-ref", state="visible", timeout=15000)
    await page.wait_for_selector("#dropin", state="visible", timeout=15000)
    assert await page.locator("#dropin-offer").is_hidden()  # nothing rings
    assert errors.errors == []


# ------------------------------------------------------------------ no, too late, gone


async def test_declined_unanswered_and_left_offers_stop_ringing(
    make_broker: MakeBroker, chromium: Browser,
) -> None:
    """Escape declines; an offer nobody answers sets the counsellor away (and the console
    says so); a customer who leaves while it rings stops it too."""
    site = await desk(make_broker, dropin_offer_seconds=2.5)
    page, errors = await open_console(site, chromium)
    await page.fill("#customer-ref", "K-typing")
    await page.focus("#customer-ref")  # busy with something else when it rings
    await set_available(page)
    await page.focus("#customer-ref")

    first, _first_page = await queue(site)
    await until(lambda: ringing(page), what="the first offer")
    assert "Leistungen/Bürgergeld" in await text(page, "#offer-topic")
    await page.keyboard.press("Escape")
    await ring_stopped(page)
    assert await has_text(page, "#dropin-note", "Abgelehnt")
    # focus goes back to where the counsellor was
    assert await page.evaluate("document.activeElement.id") == "customer-ref"
    assert await presence_is(page, "available")

    # the next customer: nobody answers within 2.5 s
    second, second_page = await queue(site, topic="general")
    await until(lambda: ringing(page), what="the second offer")
    assert "Allgemein" in await text(page, "#offer-topic")
    await until(lambda: has_text(page, "#dropin-note", "Nicht angenommen"), timeout=8,
                what="the offer to expire")
    assert await text(page, "#dropin-note") == (
        "Nicht angenommen: Sie wurden auf abwesend gesetzt.")
    await ring_stopped(page)
    await until(lambda: presence_is(page, "away"), what="set away")
    assert await page.is_checked("#presence-away")
    await shot(page, "dropin-console-4-expired")

    # available again: the same customer rings again, and leaves while it rings
    await set_available(page)
    await until(lambda: ringing(page), what="the second customer again")
    await second_page.call("leave")
    await until(lambda: has_text(page, "#dropin-note", "Warteschlange verlassen"),
                what="the customer left")
    await ring_stopped(page)
    assert await presence_is(page, "available")
    assert first["ticket"] != second["ticket"]
    assert errors.errors == []


# ------------------------------------------------------------------ a broker restart


async def test_after_a_broker_restart_the_console_is_available_again(
    make_broker: MakeBroker, chromium: Browser, tmp_path: Path,
) -> None:
    """The broker's drop-in state is its memory: restarted, it sees the counsellor `away`.
    The console, reconnected, says `available` again because that was the choice."""
    port = free_port()
    data = tmp_path / "restart"
    site = await desk(make_broker, port=port, data_dir=data)
    page, errors = await open_console(site, chromium)
    await set_available(page)
    stopping = time.monotonic()
    await site.server.close()
    # a clean stop closes the browser's websocket at once (it used to wait for the ping
    # timeout, 20 s: rolling restarts stalled)
    assert time.monotonic() - stopping < 8
    await until(lambda: _not(has_text(page, "#status", "Angemeldet")), what="the drop noticed")
    again = await desk(make_broker, port=port, data_dir=data)
    await until(lambda: has_text(page, "#status", "Angemeldet"), timeout=20,
                what="the console to reconnect")
    await until(lambda: presence_is(page, "available"), what="available again")
    _, _waiting = await queue(again)
    await until(lambda: ringing(page), what="the console to ring after the restart")
    assert not [e for e in errors.errors if "WebSocket" not in e]


# ------------------------------------------------------------------ the team lead


async def lead_page(site: Broker, browser: Browser) -> Page:
    page = await (await new_context(browser)).new_page()
    await page.goto(f"{site.url}/supervisor#token={site.staff_token('lead', Role.SUPERVISOR)}")
    return page


async def cell(page: Page, table: str, key: str, field: str) -> str:
    return await text(page, f"#{table} tr[data-key='{key}'] [data-field='{field}']")


async def python_console(site: Broker, staff: str, available: bool) -> Peer:
    peer = await site.counsellor(site.staff_token(staff))
    await peer.next("welcome")
    if available:
        assert (await peer.call("presence", {"presence": "available"}))["ok"]
    return peer


async def drop_in_morning(site: Broker) -> None:
    """One customer answered at once, one who gives up, one still waiting; one counsellor
    busy with the first, one away."""
    quick = await python_console(site, "c1", available=True)
    await python_console(site, "c2", available=False)
    await queue(site)
    offer = await quick.next("dropin_offer")
    assert (await quick.call("dropin_accept", {"ticket": offer["ticket"]}))["ok"]
    _, leaving = await queue(site, topic="placement")
    await queue(site, topic="placement")
    assert (await leaving.call("leave"))["ok"]


async def test_the_team_lead_sees_queues_presence_and_service_level(
    make_broker: MakeBroker, chromium: Browser,
) -> None:
    site = await desk(make_broker)
    page = await lead_page(site, chromium)
    errors = ConsoleErrors(page)
    await page.wait_for_selector("#load", state="visible", timeout=15000)
    assert await page.locator("#dropin-load").is_hidden(), "no drop-in figures yet"
    await drop_in_morning(site)
    await page.wait_for_selector("#dropin-load", state="visible", timeout=10000)
    await until(lambda: _is(cell(page, "dropin-rows", "t1", "abandoned"), "1"),
                what="the pushed figures")
    expected = {"waiting": "1", "available": "0", "busy": "1", "wrap_up": "0", "away": "1",
                "answered": "1", "abandoned": "1", "service_level": "100 % in 2 min",
                "abandonment": "50 %"}
    for field, value in expected.items():
        assert await cell(page, "dropin-rows", "t1", field) == value, field
    row = page.locator("#queue-rows tr[data-key='t1|placement']")
    assert [c.strip() for c in await row.locator("th, td").all_inner_texts()][:3] == [
        "t1", "Arbeitsvermittlung", "1"]
    # the wait keeps counting between pushes
    first = await cell(page, "queue-rows", "t1|placement", "oldest_wait")
    await until(lambda: _differs(cell(page, "queue-rows", "t1|placement", "oldest_wait"), first),
                what="the wait to count on")
    assert "1 Person in der Warteschlange" in await text(page, "#dropin-summary")
    await shot(page, "dropin-supervisor-de")
    await page.select_option("#lang", "en")
    await until(lambda: _is(cell(page, "dropin-rows", "t1", "service_level"),
                            "100 % within 2 min"), what="English figures")
    assert await cell(page, "queue-rows", "t1|placement", "waiting") == "1"
    assert "Job placement" in await text(page, "#queue-rows")
    await shot(page, "dropin-supervisor-en")
    assert errors.errors == []


async def _is(value: Awaitable[str | None], wanted: str) -> bool:
    return await value == wanted


async def _differs(value: Awaitable[str], old: str) -> bool:
    return await value != old


# ------------------------------------------------------------------ accessibility


async def test_the_ringing_console_and_the_drop_in_figures_pass_axe(
    make_broker: MakeBroker, chromium: Browser,
) -> None:
    """WCAG 2.1 AA by axe-core: the console while it rings and the supervisor's drop-in
    tables, in German and English; and on a phone-sized screen nothing sticks out."""
    site = await desk(make_broker)
    found: dict[str, list[dict[str, Any]]] = {}
    page, _ = await open_console(site, chromium)
    await set_available(page)
    await queue(site, topic="self_employed", caps=NO_CAMERA)
    await until(lambda: ringing(page), what="the console to ring")
    found["console ringing de"] = await axe(page)
    await page.select_option("#lang", "en")
    await until(lambda: has_text(page, "#offer-title", "Drop-in call"), what="English")
    assert "Self-employment" in await text(page, "#offer-topic")
    found["console ringing en"] = await axe(page)
    await shot(page, "dropin-console-en-ringing")

    narrow = await (await new_context(chromium, phone=True)).new_page()
    await narrow.goto(f"{site.url}/staff#token={site.staff_token()}")
    await until(lambda: ringing(narrow), what="the second tab to ring")
    assert await narrow.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await shot(narrow, "dropin-console-narrow-ringing")
    # a tab nobody has touched yet may not sound; the first key press lets it
    assert await narrow.get_attribute("#dropin-offer", "data-sound") == "blocked"
    assert await has_text(narrow, "#offer-sound", "Ohne Ton")
    await narrow.keyboard.press("Shift")
    await until(lambda: _is(narrow.get_attribute("#dropin-offer", "data-sound"), "playing"),
                what="the tone after the first key press")
    assert await has_text(narrow, "#offer-sound", "") and not await text(narrow, "#offer-sound")

    await drop_in_morning_for_axe(site, page)
    board = await lead_page(site, chromium)
    await board.wait_for_selector("#queue-rows tr", state="visible", timeout=10000)
    found["supervisor drop-in de"] = await axe(board)
    await board.select_option("#lang", "en")
    await until(lambda: has_text(board, "#dropin-load-title", "Drop-in"), what="English")
    found["supervisor drop-in en"] = await axe(board)
    phone = await (await new_context(chromium, phone=True)).new_page()
    await phone.goto(f"{site.url}/supervisor#token={site.staff_token('lead', Role.SUPERVISOR)}")
    await phone.wait_for_selector("#queue-rows tr", state="visible", timeout=10000)
    assert await phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    found["supervisor drop-in phone"] = await axe(phone)
    await shot(phone, "dropin-supervisor-phone")

    failures = {where: v for where, v in found.items() if v}
    assert not failures, "\n".join(f"{w}: {describe(v)}" for w, v in failures.items())


async def drop_in_morning_for_axe(site: Broker, page: Page) -> None:
    """The ringing console declines and goes away; another customer queues."""
    await page.click("#offer-decline")
    await ring_stopped(page)
    await page.click("label[for='presence-away']")
    await until(lambda: presence_is(page, "away"), what="away")
    await queue(site, topic="general")


# ------------------------------------------------------------------ texts


def test_every_drop_in_text_exists_in_german_and_english() -> None:
    """The staff pages' two languages have the same keys (a missing English text would
    show the German one)."""
    source = TEXTS.read_text()
    blocks = re.findall(r'register\("(\w+)", \{(.*?)\n\}\);', source, re.S)
    keys = {lang: set(re.findall(r'^\s+"([\w.-]+)":', body, re.M)) for lang, body in blocks}
    assert set(keys) == {"de", "en"}
    assert keys["de"] == keys["en"], keys["de"] ^ keys["en"]
    for topic in ("benefits", "placement", "self_employed", "youth", "general"):
        assert f"topic.{topic}" in keys["de"]
    for presence in ("available", "busy", "wrap_up", "away"):
        assert f"presence.{presence}" in keys["de"]
    for why in ("declined", "expired", "left", "away", "gone", "taken", "accepted"):
        assert f"dropin.ended_{why}" in keys["de"]
