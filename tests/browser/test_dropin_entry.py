"""The drop-in entry page `/t/<team>` in real Chromium, as a customer without an appointment
uses it: language and topic, the privacy notice, the camera check, the queue with its live
place and estimate, and the hand-over to the customer page of the session a counsellor
(a real socket.io client on `/staff`) accepted it into, the customer using only the
keyboard. Also: Arabic right to left, a reload that keeps the ticket, leaving and queueing
again, a network drop under a waiting page, a phone without a camera (sound only) and a
browser without WebRTC (phone), refusals in words, and axe-core in every state on a
desktop and a phone screen.
Screenshots go to test-artifacts/screenshots/dropin-{de,ar,axe}-*.png.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import Browser, Page

from broker.types import Role
from tests.browser.conftest import ConsoleErrors, axe, describe, new_context, shot
from tests.browser.test_journeys import until, visible
from tests.conftest import Broker, MakeBroker, Peer
from tests.ports import free_port

TEXTS = Path(__file__).parents[2] / "web" / "static" / "js" / "texts-customer.js"
CAPS = {"webrtc": True, "camera": True, "microphone": True}
ARABIC = re.compile(r"[\u0600-\u06FF]")
# a device without a camera (the fake devices always have one): asking for video fails
# the way it does on such a phone
NO_CAMERA = """
(() => {
  const media = navigator.mediaDevices;
  if (!media) return;
  const real = media.getUserMedia.bind(media);
  media.getUserMedia = (constraints) => constraints && constraints.video
    ? Promise.reject(new DOMException("Requested device not found", "NotFoundError"))
    : real(constraints);
})();
"""


# ------------------------------------------------------------ helpers


async def text_of(page: Page, selector: str) -> str:
    return (await page.locator(selector).inner_text()).strip()


async def focused(page: Page) -> str:
    return str(await page.evaluate("document.activeElement.id"))


async def has_text(page: Page, selector: str, wanted: str) -> bool:
    return wanted in await text_of(page, selector)


async def kept_ticket(page: Page, team: str = "t1") -> dict[str, Any] | None:
    """The ticket record the page keeps in localStorage (None: none)."""
    value = await page.evaluate(
        f"JSON.parse(localStorage.getItem('cb.dropin.{team}') || 'null')")
    return value if isinstance(value, dict) else None


async def choose_and_agree(page: Page, topic: str = "benefits") -> None:
    """Topic, notice, device check: the page is ready to queue."""
    await visible(page, "#step-choose")
    await page.check(f"#topic-{topic}")
    await page.click("#choose-next")
    await visible(page, "#step-consent")
    await page.check("#consent")
    await page.click("#consent-accept")
    await visible(page, "#queue")


async def queue_in_browser(page: Page, url: str, topic: str = "benefits") -> None:
    await page.goto(url)
    await choose_and_agree(page, topic)
    await page.click("#queue")
    await visible(page, "#step-wait")


async def rest_ticket(site: Broker, topic: str = "benefits", language: str = "de"
                      ) -> tuple[dict[str, Any], Peer]:
    """Another customer queues (REST) and keeps their waiting page open (`/queue`)."""
    status, ticket = await site.http("POST", "/api/dropin/t1", json={
        "topic": topic, "language": language, "capabilities": CAPS})
    assert status == 201, ticket
    page = await site.peer("/queue", {"token": ticket["token"], "v": 1}).connect()
    return dict(ticket), page


async def available_counsellor(site: Broker, staff: str = "c1") -> Peer:
    """A counsellor's console on `/staff`, taking drop-ins."""
    peer = await site.counsellor(site.staff_token(staff))
    welcome = await peer.next("welcome")
    assert welcome["dropin"]["presence"] == "away"
    ack = await peer.call("presence", {"presence": "available"})
    assert ack["ok"], ack
    return peer


async def position_of(peer: Peer, wanted: int, timeout: float = 5.0) -> None:
    """The `/queue` peer is told `wanted` as its place (earlier pushes skipped)."""
    while True:
        state = await peer.next("queue_state", timeout)
        if state["position"] == wanted:
            return


# ------------------------------------------------------------ the journeys


async def test_a_customer_queues_waits_and_is_taken_into_the_call(
        site: Broker, chromium: Browser) -> None:
    """German on a phone: topic, notice, check, queue at 1; a second customer is 2; a
    counsellor signs in (the estimate follows), is offered the first, accepts; the page
    goes on as the customer page of the new session, which joins without asking for
    consent again, and the call starts when the counsellor admits."""
    context = await new_context(chromium, phone=True)
    page = await context.new_page()
    errors = ConsoleErrors(page)
    await page.goto(f"{site.url}/t/t1")
    await visible(page, "#step-choose")
    assert await page.evaluate("document.documentElement.lang") == "de"
    assert await page.locator("#unstaffed").is_visible(), "nobody is signed in: say so"
    # the topics the broker offers (CB_DROPIN_TOPICS: "youth" is not among the defaults)
    assert await page.locator("label[for='topic-youth']").is_hidden()
    assert await page.locator("label[for='topic-general']").is_visible()
    await shot(page, "dropin-de-1-choose")

    # by keyboard alone; nothing chosen: the page says what is missing, and where
    await page.focus("#choose-next")
    await page.keyboard.press("Enter")
    await until(lambda: text_of(page, "#topic-error"), what="topic missing")
    assert await focused(page) == "topic-benefits"
    await page.keyboard.press("Space")
    await page.keyboard.press("Tab")
    assert await focused(page) == "choose-next"
    await page.keyboard.press("Enter")
    await visible(page, "#step-consent")
    assert await focused(page) == "consent-title"  # the new step's heading is read out
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    assert await focused(page) == "consent-accept"
    await page.keyboard.press("Enter")
    await until(lambda: text_of(page, "#consent-error"), what="consent missing")
    assert await focused(page) == "consent"
    await shot(page, "dropin-de-2-consent")
    await page.keyboard.press("Space")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await visible(page, "#queue")
    assert "funktioniert" in await text_of(page, "#cam-result")
    assert "gefunden" in await text_of(page, "#mic-result")
    assert "Bild und Ton" in await text_of(page, "#check-mode")
    await shot(page, "dropin-de-3-check")
    await page.keyboard.press("Tab")
    assert await focused(page) == "queue"
    await page.keyboard.press("Enter")

    await visible(page, "#step-wait")
    await until(lambda: has_text(page, "#position", "Sie sind an Position 1"), what="place 1")
    assert "noch unbekannt" in await text_of(page, "#estimate")
    assert await page.locator("#nobody").is_visible()
    ticket = await kept_ticket(page)
    assert ticket is not None and ticket["mode"] == "video" and ticket["topic"] == "benefits"
    assert await page.evaluate("!!document.querySelector('#check-preview').srcObject") is False
    await shot(page, "dropin-de-4-waiting")

    second, second_page = await rest_ticket(site)
    assert second["position"] == 2
    await position_of(second_page, 2)

    counsellor = await available_counsellor(site)
    # one counsellor serves the queue now: the estimate is known, and said in minutes
    await until(lambda: has_text(page, "#estimate", "15 Minuten"), what="estimate")
    assert await page.locator("#nobody").is_hidden()
    offer = await counsellor.next("dropin_offer")
    assert offer["ticket"] != second["ticket"]  # the browser queued first
    assert (offer["topic"], offer["language"]) == ("benefits", "de")
    assert (offer["camera"], offer["microphone"], offer["present"]) == (True, True, True)

    ack = await counsellor.call("dropin_accept", {"ticket": offer["ticket"]})
    assert ack["ok"], ack
    session = ack["session"]["session"]
    await position_of(second_page, 1)  # the second customer moves up

    waiting = await counsellor.next("customer_waiting", timeout=15)
    assert waiting["session"] == session
    assert waiting["language"] == "de"
    assert waiting["capabilities"] == CAPS
    assert re.search(r"/j\?lang=de#.+", page.url), page.url
    await visible(page, "#step-wait")  # the customer page's waiting room, no consent again
    assert await page.locator("#step-consent").is_hidden()
    assert await kept_ticket(page) is None
    assert await page.evaluate("sessionStorage.getItem('cb.handover')") is None
    await shot(page, "dropin-de-5-handed-over")

    ack = await counsellor.call("admit", {"session": session})
    assert ack["ok"], ack
    await visible(page, "#step-call")
    await counsellor.call("end", {"session": session, "outcome": "completed"})
    await visible(page, "#step-ended")
    record = await site.service.contacts.contact(session)
    assert record is not None and record["kind"] == "drop-in"
    assert errors.errors == []


async def test_the_arabic_page_is_right_to_left_and_in_arabic(site: Broker,
                                                             chromium: Browser) -> None:
    """Arabic chosen on the page itself: every text in Arabic, the page right to left, the
    ticket in Arabic (offered to a counsellor who speaks it), nothing wider than the phone."""
    admin = site.staff_token("a1", Role.ADMIN)
    status, _ = await site.http("PUT", "/api/staff/c2/skills", admin, json={
        "topics": ["general"], "languages": ["ar"]})
    assert status == 200
    page = await (await new_context(chromium, phone=True)).new_page()
    errors = ConsoleErrors(page)
    await page.goto(f"{site.url}/t/t1")
    await visible(page, "#step-choose")
    await page.check("#language-ar")
    await until(lambda: page.evaluate("document.documentElement.lang === 'ar'"), what="ar")
    assert await page.evaluate("document.documentElement.dir") == "rtl"
    assert await page.input_value("#lang") == "ar"  # the header's choice follows
    assert await text_of(page, "#choose-title") == "التحدث مع مركز العمل"
    assert await page.title() == "استشارة بدون موعد – استشارة عبر الإنترنت"
    translated = await page.eval_on_selector_all(
        "header [data-i18n], #step-choose [data-i18n]",
        "nodes => nodes.filter(n => n.offsetParent !== null).map(n => n.textContent)")
    assert translated and all(ARABIC.search(text) for text in translated), translated
    await shot(page, "dropin-ar-1-choose")

    await choose_and_agree(page, "general")
    assert ARABIC.search(await text_of(page, "#cam-result"))
    await page.click("#queue")
    await visible(page, "#step-wait")
    await until(lambda: text_of(page, "#position"), what="place")
    assert ARABIC.search(await text_of(page, "#position"))
    assert ARABIC.search(await text_of(page, "#wait-topic"))
    assert await page.evaluate(
        "document.documentElement.scrollWidth <= window.innerWidth"), "wider than the phone"
    assert (await kept_ticket(page) or {}).get("language") == "ar"
    counsellor = await available_counsellor(site, "c2")
    offer = await counsellor.next("dropin_offer")
    assert (offer["language"], offer["topic"]) == ("ar", "general")
    await until(lambda: has_text(page, "#estimate", "حوالي"), what="estimate in minutes")
    await shot(page, "dropin-ar-2-waiting")
    assert errors.errors == []


async def test_a_reload_keeps_the_ticket_and_leaving_forgets_it(site: Broker,
                                                               chromium: Browser) -> None:
    """Three customers are ahead; a reload resumes the same ticket at the same place (a
    customer queueing after it is behind it, not behind a second ticket); as the three
    leave, the place counts down and screen readers hear it once it settles, not at every
    step; leaving shows a goodbye and forgets the ticket; queueing again is one click."""
    ahead = [await rest_ticket(site) for _ in range(3)]
    page = await (await new_context(chromium)).new_page()
    errors = ConsoleErrors(page)
    await queue_in_browser(page, f"{site.url}/t/t1")
    await until(lambda: has_text(page, "#position", "Position 4"), what="place 4")
    before = await kept_ticket(page)
    assert before is not None

    await page.reload()
    await visible(page, "#step-wait")
    await until(lambda: has_text(page, "#position", "Position 4"), what="place 4 again")
    assert await has_text(page, "#status", "Platz behalten")
    assert await kept_ticket(page) == before
    _, behind_page = await rest_ticket(site)
    await position_of(behind_page, 5)  # the reload did not queue a second time
    await page.evaluate("""() => {
      window.__told = [];
      new MutationObserver(() => window.__told.push(
          document.querySelector('#place-live').textContent))
        .observe(document.querySelector('#place-live'), {childList: true, subtree: true,
                                                          characterData: true});
    }""")

    for _, ahead_page in ahead:
        assert (await ahead_page.call("leave"))["state"] == "left"
    await until(lambda: has_text(page, "#position", "Position 1"), what="place 1")
    assert await has_text(page, "#position-next", "als Nächstes")
    await until(lambda: has_text(page, "#place-live", "Position 1"), what="told place 1")
    told = [t for t in await page.evaluate("window.__told") if t]
    assert 1 <= len(told) <= 2, told  # not once for every step of the queue
    assert told[-1] == "Sie sind an Position 1. Sie sind als Nächstes dran."

    await page.click("#leave")
    await visible(page, "#step-left")
    assert await text_of(page, "#left-title") == "Sie haben die Warteschlange verlassen"
    assert await kept_ticket(page) is None
    await position_of(behind_page, 1)  # the broker let the place go
    await shot(page, "dropin-de-6-left")

    await page.click("#again")
    await visible(page, "#step-wait")
    await until(lambda: has_text(page, "#position", "Position 2"), what="behind again")
    again = await kept_ticket(page)
    assert again is not None and again["token"] != before["token"]
    await page.click("#leave")
    await visible(page, "#step-left")
    assert errors.errors == []


async def test_a_waiting_page_rides_out_a_lost_connection(site: Broker,
                                                        chromium: Browser) -> None:
    """The phone loses its network while waiting: the page says so at once, socket.io
    reconnects by itself when the network is back, and the place was kept meanwhile (a
    customer who queued during the drop is behind it)."""
    context = await new_context(chromium, phone=True)
    page = await context.new_page()
    errors = ConsoleErrors(page)
    await queue_in_browser(page, f"{site.url}/t/t1")
    await until(lambda: has_text(page, "#position", "Position 1"), what="place 1")
    before = await kept_ticket(page)

    await context.set_offline(True)
    await until(lambda: has_text(page, "#status", "unterbrochen"), what="drop shown")
    assert await has_text(page, "#status", "freigehalten")
    await shot(page, "dropin-de-7-connection-lost")
    meanwhile, _ = await rest_ticket(site)
    assert meanwhile["position"] == 2
    await context.set_offline(False)
    await until(lambda: page.evaluate("document.querySelector('#status').textContent === ''"),
                what="reconnected")
    assert await has_text(page, "#position", "Position 1")
    assert await kept_ticket(page) == before
    assert [e for e in errors.errors if "ERR_INTERNET_DISCONNECTED" not in e] == []


async def test_without_webrtc_a_customer_still_queues_and_talks_by_phone(
        site: Broker, chromium: Browser) -> None:
    """An old browser: the check says so, the customer queues all the same, the counsellor
    sees neither camera nor microphone, and the customer page shows hotline and PIN."""
    page = await (await new_context(chromium, phone=True, webrtc=False)).new_page()
    await page.goto(f"{site.url}/t/t1")
    await choose_and_agree(page, "general")
    assert await has_text(page, "#check-note", "keine Video-Gespräche")
    assert await has_text(page, "#check-mode", "per Telefon")
    await page.click("#queue")
    await visible(page, "#step-wait")
    counsellor = await available_counsellor(site)
    offer = await counsellor.next("dropin_offer")
    assert (offer["camera"], offer["microphone"]) == (False, False)
    ack = await counsellor.call("dropin_accept", {"ticket": offer["ticket"]})
    assert ack["session"]["planned_channel"] == "phone"  # no WebRTC: the phone it is
    waiting = await counsellor.next("customer_waiting", timeout=15)
    assert waiting["capabilities"]["webrtc"] is False
    await visible(page, "#step-phone")
    pin = (await text_of(page, "#pin")).replace(" ", "")
    assert pin == ack["session"]["access_code"]
    await shot(page, "dropin-de-8-phone")


async def test_without_a_camera_a_customer_queues_to_talk_by_sound(
        site: Broker, chromium: Browser) -> None:
    """A phone whose camera cannot be found: the check says so and that the customer will
    talk with sound only; the counsellor is offered a customer without camera, and the
    session is planned as audio."""
    context = await new_context(chromium, phone=True)
    await context.add_init_script(NO_CAMERA)
    page = await context.new_page()
    await page.goto(f"{site.url}/t/t1")
    await choose_and_agree(page, "placement")
    assert await has_text(page, "#cam-result", "nicht gefunden")
    assert await has_text(page, "#check-mode", "nur mit Ton")
    await page.click("#queue")
    await visible(page, "#step-wait")
    counsellor = await available_counsellor(site)
    offer = await counsellor.next("dropin_offer")
    assert (offer["camera"], offer["microphone"]) == (False, True)
    ack = await counsellor.call("dropin_accept", {"ticket": offer["ticket"]})
    assert ack["session"]["planned_channel"] == "audio"
    waiting = await counsellor.next("customer_waiting", timeout=15)
    assert waiting["capabilities"] == {"webrtc": True, "camera": False, "microphone": True}


async def test_refusals_are_said_in_words(make_broker: MakeBroker, chromium: Browser) -> None:
    """Too many new tickets from one address: the page explains, keeps the choices, and
    the customer can try again; a failed first request is said and can be retried. A team
    id that is none is no page."""
    site = await make_broker(port=free_port(), code_attempts_per_minute=1)
    page = await (await new_context(chromium)).new_page()
    await queue_in_browser(page, f"{site.url}/t/t1")
    await page.click("#leave")
    await visible(page, "#step-left")
    await page.click("#again")
    await until(lambda: text_of(page, "#left-error"), what="rate limit explained")
    assert "eine Minute" in await text_of(page, "#left-error")
    assert await page.locator("#step-left").is_visible()
    await shot(page, "dropin-de-9-rate-limited")

    # the network fails as the page asks what the team offers: said, and tried again
    other = await (await new_context(chromium, phone=True)).new_page()
    await other.route("**/api/dropin/t1", lambda route: route.abort("internetdisconnected"))
    await other.goto(f"{site.url}/t/t1")
    await visible(other, "#retry")
    assert "Internetverbindung" in await text_of(other, "#error")
    assert await other.locator("#step-choose").is_hidden()
    await other.unroute("**/api/dropin/t1")
    await other.click("#retry")
    await visible(other, "#step-choose")
    assert await text_of(other, "#error") == ""

    async with aiohttp.ClientSession() as http:
        for path, wanted in [("/t/t1", 200), ("/t/team.a-1_b", 200), ("/t/", 404),
                             ("/t/a%20b", 404), ("/t/" + "x" * 65, 404), ("/t/t1/x", 404)]:
            async with http.get(site.url + path) as resp:
                assert resp.status == wanted, path
                if wanted == 200:
                    # the entry page checks camera and microphone: the policy lets it
                    policy = resp.headers["Permissions-Policy"]
                    assert "camera=(self)" in policy and "microphone=(self)" in policy


async def test_the_entry_page_passes_axe_in_every_state(site: Broker,
                                                        chromium: Browser) -> None:
    """WCAG 2.1 AA by axe-core: choosing, the notice, the check, waiting (with nobody
    there, then with an estimate) and the goodbye, on a desktop in German and on a phone in
    German and Arabic; on the phone nothing is wider than the screen."""
    found: dict[str, list[dict[str, Any]]] = {}
    for phone, lang in ((False, "de"), (True, "de"), (True, "ar")):
        where = f"{'phone' if phone else 'desktop'} {lang}"
        page = await (await new_context(chromium, phone=phone)).new_page()
        await page.goto(f"{site.url}/t/t1?lang={lang}")
        await visible(page, "#step-choose")
        found[f"{where} choose"] = await axe(page)
        await shot(page, f"dropin-axe-{where}-choose")
        await page.click("#choose-next")  # the error state too
        await visible(page, "#topic-error")
        found[f"{where} choose error"] = await axe(page)
        await choose_and_agree(page, "self_employed")
        found[f"{where} check"] = await axe(page)
        await page.click("#queue")
        await visible(page, "#step-wait")
        await page.wait_for_function("document.querySelector('#position').textContent")
        found[f"{where} waiting"] = await axe(page)
        if phone:
            assert await page.evaluate(
                "document.documentElement.scrollWidth <= window.innerWidth"), where
        await shot(page, f"dropin-axe-{where}-waiting")
        await page.click("#leave")
        await visible(page, "#step-left")
        found[f"{where} left"] = await axe(page)
    failures = {where: v for where, v in found.items() if v}
    assert not failures, "\n".join(f"{w}: {describe(v)}" for w, v in failures.items())


# ------------------------------------------------------------ the texts


def test_every_customer_text_exists_in_every_language() -> None:
    """texts-customer.js: each of the five languages has exactly the German keys (a missing
    one would show German, or the key, to someone who reads Arabic)."""
    source = TEXTS.read_text(encoding="utf-8")
    keys: dict[str, set[str]] = {}
    for language, block in re.findall(r'register\("(\w+)", \{\n(.*?)\n\}\);', source, re.S):
        keys.setdefault(language, set()).update(re.findall(r'^\s*"([\w.]+)":', block, re.M))
    assert set(keys) == {"de", "en", "tr", "ar", "uk"}
    for language, found in keys.items():
        assert found == keys["de"], (language, sorted(found ^ keys["de"]))
    assert {"dropin.position", "topic.benefits", "dropin.leave"} <= keys["de"]
