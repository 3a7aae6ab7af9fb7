"""Callback requests in real Chromium (issue 9): a customer outside drop-in hours asks to be
called back from the team's entry page and lands on the personal page of the request; a
counsellor takes a video callback from the console's worklist and calls, the customer's
personal page rings, the customer answers and both see each other; keyboard-only use, what
screen readers hear, axe-core, and Arabic right to left on a phone.
Screenshots go to test-artifacts/screenshots/callback-*.png.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from playwright.async_api import Browser, Page

from broker.callbacks import CallbackState, Reach, Source
from broker.types import Role
from tests.browser.conftest import (
    ConsoleErrors,
    axe,
    describe,
    frames_decoded,
    new_context,
    shot,
)
from tests.browser.test_dropin_console import COUNT_AUDIO, open_console
from tests.browser.test_dropin_entry import ARABIC, focused, has_text, text_of
from tests.browser.test_journeys import until, visible
from tests.conftest import Broker, MakeBroker
from tests.functional.test_callbacks import DIGITS, PHONE, ask, settled, worklist
from tests.functional.test_dropin import closed_all_day
from tests.ports import free_port

JS = Path(__file__).parents[2] / "web" / "static" / "js"
LANGUAGES = {"de", "en", "tr", "ar", "uk"}


async def closed_desk(make_broker: MakeBroker) -> Broker:
    """A broker whose drop-in hours leave out today: the entry page offers callbacks only."""
    return await make_broker(port=free_port(), load_push_interval=0.2,
                             dropin_hours=closed_all_day(), report_timezone="UTC")


def token_of(page: Page) -> str:
    """The personal link's token: in the fragment, never sent to the server."""
    return unquote(page.url.split("#", 1)[1])


async def rings(page: Page) -> bool:
    return await page.locator("#ring").is_visible()


# ------------------------------------------------------------ asking from the entry page


async def test_outside_hours_a_customer_asks_to_be_called_back_by_phone(
        make_broker: MakeBroker, chromium: Browser) -> None:
    """Closed today: the page says so and offers only the callback; the form
    refuses a number that is none, and the missing consent, where they are; sent, the page
    is the personal page of the request, with its deadline in local time and the link to
    keep. The request is in the contact log (sealed number, urgent, from the overflow), the
    counsellors' worklist has it (number masked), the team lead's board counts it."""
    site = await closed_desk(make_broker)
    lead = await (await new_context(chromium)).new_page()
    await lead.goto(f"{site.url}/supervisor#token={site.staff_token('lead', Role.SUPERVISOR)}")
    page = await (await new_context(chromium, phone=True)).new_page()
    errors = ConsoleErrors(page)
    await page.goto(f"{site.url}/t/t1")
    await visible(page, "#step-choose")
    await until(lambda: has_text(page, "#overflow", "geschlossen"), what="closed said")
    assert await page.locator("#choose-next").is_hidden(), "no queue to join when closed"
    await page.check("#topic-benefits")
    assert await page.get_attribute("#overflow", "role") == "status"
    await shot(page, "callback-de-1-closed")

    await page.click("#choose-callback")
    await visible(page, "#step-callback")
    assert await focused(page) == "callback-title"
    assert await has_text(page, "#callback-why", "geschlossen")
    assert await has_text(page, "#callback-intro", "Geld / Bürgergeld")
    assert await has_text(page, "#phone-hint", "0151 23456789")
    await page.fill("#phone", "12345")
    await page.click("#callback-send")
    await until(lambda: text_of(page, "#phone-error"), what="the number refused")
    assert await focused(page) == "phone"
    assert await page.get_attribute("#phone", "aria-invalid") == "true"
    assert "Haken" in await text_of(page, "#cb-consent-error")
    await shot(page, "callback-de-2-form-errors")
    await page.fill("#phone", PHONE)
    await page.check("#urgent-yes")
    await page.check("#cb-consent")
    await page.click("#callback-send")

    await page.wait_for_url(re.compile(r"/r\?lang=de#.+"))
    await visible(page, "#request")
    assert await text_of(page, "#request-title") == "Ihr Rückruf ist angefragt"
    state = await text_of(page, "#state-text")
    assert state.startswith("Wir rufen Sie bis spätestens"), state
    token = token_of(page)
    status, mine = await site.http("GET", "/api/callbacks/mine", token)
    assert status == 200 and mine["state"] == "open"
    # the deadline in the browser's own time zone, weekday and all
    zone = await page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
    local = datetime.fromtimestamp(mine["deadline"], ZoneInfo(zone))
    for piece in (local.strftime("%H:%M"), f"{local.day}.", "Uhr"):
        assert piece in state, (piece, state)
    assert await text_of(page, "#fact-urgent") == "Ja"
    assert await text_of(page, "#fact-reach") == "Per Telefon"
    link = await page.input_value("#personal-link")
    assert link == page.url and link.endswith("#" + token)
    assert "Lesezeichen" in await text_of(page, "#link-advice")
    assert DIGITS not in await page.content() and "234 567" not in await page.content()
    await shot(page, "callback-de-3-requested")

    record = await site.service.contacts.callback(mine["callback"])
    assert record is not None
    assert (record.team, record.topic, record.language, record.urgent) == (
        "t1", "benefits", "de", True)
    assert (record.reach, record.source, record.state) == (
        Reach.PHONE, Source.OVERFLOW, CallbackState.OPEN)
    assert record.contact is not None and DIGITS not in record.contact  # sealed
    (item,) = await worklist(site, site.staff_token("c1"))
    assert item["callback"] == mine["callback"] and item["phone"] != DIGITS

    # the entry page remembers the request; the team lead's board counts it
    await page.goto(f"{site.url}/t/t1")
    await visible(page, "#kept-callback")
    assert token in (await page.get_attribute("#kept-link", "href") or "")
    await until(lambda: lead.locator("#callback-rows tr[data-key='t1']").count(),
                what="the board's callback row")
    for field, value in (("open", "1"), ("claimed", "0"), ("overdue", "0")):
        cell = f"#callback-rows tr[data-key='t1'] [data-field='{field}']"
        assert await text_of(lead, cell) == value, field
    assert "1 offen" in await text_of(lead, "#callback-summary")
    await shot(lead, "callback-supervisor-de")
    assert errors.errors == []


# ------------------------------------------------------------ calling back by video


async def oscillators(page: Page) -> int:
    return int(await page.evaluate("window.__audio.started"))


async def active_action(page: Page) -> str:
    return str(await page.evaluate("document.activeElement.dataset.action || ''"))


async def test_a_video_callback_rings_the_personal_page_and_the_call_connects(
        make_broker: MakeBroker, chromium: Browser) -> None:
    """The customer's personal page is open on a phone. The counsellor takes the request
    from the console's worklist by keyboard and calls: the page rings (an alert dialog with
    the focus on "Annehmen", a tone, the tab's title), the customer answers with Enter,
    lands in the session's customer page without being asked again, is let in by the
    console by itself, and both decode each other's video. The end of the call settles the
    request: gone from the worklist, "done" on the personal page."""
    site = await make_broker(port=free_port(), load_push_interval=0.2)
    asked = await ask(site, reach="video")
    cid = asked["callback"]
    context = await new_context(chromium, phone=True)
    await context.add_init_script(COUNT_AUDIO)
    phone = await context.new_page()
    phone_errors = ConsoleErrors(phone)
    await phone.goto(f"{site.url}/r#{asked['token']}")
    await visible(phone, "#request")
    assert await text_of(phone, "#request-title") == "Ihre Rückrufbitte"
    assert await has_text(phone, "#state-text", "bis spätestens")
    assert await has_text(phone, "#fact-reach", "Per Video")
    assert await phone.locator("#next-video-ring").is_visible()
    assert await rings(phone) is False

    console, console_errors = await open_console(site, chromium)
    entry = f"#callback-list li[data-callback='{cid}']"
    await visible(console, entry)
    assert await has_text(console, entry, "Per Video")
    assert await has_text(console, "#callbacks-summary", "1 Rückruf offen")
    await console.focus(f"{entry} [data-action='claim']")
    await console.keyboard.press("Enter")
    await until(lambda: _is(active_action(console), "start"), what="Anrufen focused next")
    assert await has_text(console, entry, "Bei Ihnen bis")
    await shot(console, "callback-console-1-taken")
    await console.keyboard.press("Enter")

    await until(lambda: rings(phone), what="the personal page to ring")
    assert await focused(phone) == "ring-accept"
    assert await phone.get_attribute("#ring", "role") == "alertdialog"
    await until(lambda: oscillators(phone), what="the ring tone")
    assert await phone.get_attribute("#ring", "data-sound") == "playing"
    assert await phone.title() == "Anruf vom Jobcenter"
    violations = await axe(phone)
    assert not violations, describe(violations)
    await shot(phone, "callback-de-4-ringing")
    assert await has_text(console, entry, "klingelt")
    await until(lambda: console.locator("#session-rows tr").count(), what="the session")
    assert await has_text(console, "#session-rows", "Rückruf")

    await phone.keyboard.press("Enter")
    await phone.wait_for_url(re.compile(r"/j\?lang=de#.+"), timeout=15000)
    await visible(phone, "#step-call", timeout=20)
    assert await phone.locator("#step-consent").is_hidden()
    await console.wait_for_selector("#call", state="visible", timeout=15000)
    await until(lambda: frames_decoded(console), timeout=30, what="video in the console")
    await until(lambda: frames_decoded(phone), timeout=30, what="video on the phone")
    await shot(phone, "callback-de-5-in-call")
    await shot(console, "callback-console-2-in-call")

    await console.click("#end")
    await settled(site, cid, "done")
    await visible(console, "#callbacks-empty")
    await visible(phone, "#step-ended")
    await phone.go_back()
    await until(lambda: has_text(phone, "#state-text", "Erledigt"), what="done on the page")
    assert await phone.locator("#link-box").is_hidden()
    assert await rings(phone) is False
    await shot(phone, "callback-de-6-done")
    assert not [e for e in console_errors.errors if "WebSocket" not in e]
    assert not [e for e in phone_errors.errors if "WebSocket" not in e]


async def _is(value: Awaitable[str], wanted: str) -> bool:
    return await value == wanted


# ------------------------------------------------------------ calling back by phone


async def test_a_phone_callback_is_dialled_from_the_console(make_broker: MakeBroker,
                                                            chromium: Browser) -> None:
    """Two requests. One a colleague takes while this console still shows it free: the
    console says so in words. The other the counsellor takes and calls: the full number
    appears (a tel: link), the counsellor dials it on their own phone, says "Telefon ist
    verbunden" in the entry, and the call runs in the console on the phone; its end
    settles the request, which leaves the list."""
    site = await make_broker(port=free_port(), load_push_interval=0.2)
    first = (await ask(site, topic="placement"))["callback"]
    console, errors = await open_console(site, chromium)
    mine = f"#callback-list li[data-callback='{first}']"
    await visible(console, mine)
    assert not await has_text(console, mine, DIGITS)  # masked until taken

    # a colleague is quicker (this console does not hear of it: its list reads are held up)
    other = (await ask(site, topic="general"))["callback"]
    theirs = f"#callback-list li[data-callback='{other}']"
    await visible(console, theirs)
    await console.route("**/api/callbacks", lambda route: route.abort())
    status, _ = await site.http("POST", f"/api/callbacks/{other}/claim",
                                site.staff_token("c2"))
    assert status == 200
    await console.click(f"{theirs} [data-action='claim']")
    await until(lambda: has_text(console, "#callbacks-note", "jemand anderes"),
                what="the refusal in words")
    await console.unroute("**/api/callbacks")
    await console.click("#callbacks-refresh")
    await until(lambda: has_text(console, theirs, "Kollegin"), what="shown as taken")
    assert await console.locator(f"{theirs} button").count() == 0

    await console.click(f"{mine} [data-action='claim']")
    await until(lambda: console.locator(f"{mine} a.phone-number").count(), what="the number")
    assert await console.get_attribute(f"{mine} a.phone-number", "href") == f"tel:{DIGITS}"
    await console.click(f"{mine} [data-action='start']")
    await until(lambda: has_text(console, "#callbacks-note", f"Wählen Sie jetzt {DIGITS}"),
                what="dial now")
    await visible(console, f"{mine} [data-action='phone-connected']")
    assert await has_text(console, mine, "Telefon ist verbunden")
    await shot(console, "callback-console-3-dial")
    await console.click(f"{mine} [data-action='phone-connected']")
    await console.wait_for_selector("#call", state="visible", timeout=10000)
    await visible(console, "#phone-info")
    assert await console.locator("#phone-connected").is_hidden()  # the phone runs already
    await until(lambda: has_text(console, mine, "Im Gespräch"), what="in the call")
    assert await has_text(console, "#callbacks-note", "") and not await text_of(
        console, "#callbacks-note")
    await console.click("#end")
    done = await settled(site, first, "done")
    assert done.contact is None  # the number went with the request
    await until(lambda: _gone(console, mine), what="the request to leave the list")
    record = await site.service.contacts.contact(str(done.session_id))
    assert record is not None and record["kind"] == "callback" and record["seconds"]["phone"] > 0

    # by video, nobody answers: "Nicht erreicht" calls it off, the personal page stops
    # ringing, and the request is free again with the attempt counted
    asked = await ask(site, reach="video")
    video = f"#callback-list li[data-callback='{asked['callback']}']"
    personal = await site.peer("/callback", {"token": asked["token"], "v": 1}).connect()
    await visible(console, video)
    await console.click(f"{video} [data-action='claim']")
    await console.click(f"{video} [data-action='start']")
    assert (await personal.next("callback_ringing"))["session"]
    # the card as it is once the call started (before, the claimed card had every outcome)
    await until(lambda: _gone(console, f"{video} [data-action='start']"),
                what="the card of a started call")
    await visible(console, f"{video} [data-action='not_reached']")
    assert await console.locator(f"{video} [data-action='reached']").count() == 0
    assert await console.locator(f"{video} [data-action='wrong_number']").count() == 0
    await console.click(f"{video} [data-action='not_reached']")
    while (told := await personal.next("callback_state"))["ringing"] is not None:
        pass
    assert told["state"] == "open"
    await until(lambda: has_text(console, video, "Versuche: 1 (zuletzt nicht erreicht)"),
                what="the attempt counted")
    assert await has_text(console, video, "Frei")
    assert await has_text(console, "#callbacks-note", "nicht erreicht")
    # the held-up list reads and the refused claim, nothing else
    assert not [e for e in errors.errors if "ERR_FAILED" not in e and "409" not in e]


async def _gone(page: Page, selector: str) -> bool:
    return await page.locator(selector).count() == 0


# ------------------------------------------------------------ keyboard, screen readers, Arabic


async def test_keyboard_only_screen_readers_and_arabic(make_broker: MakeBroker,
                                                       chromium: Browser) -> None:
    """The form and the personal page by keyboard alone, in the order they are read; what
    changes is in live regions; the withdrawal asks first (the safe answer focused, Escape
    keeps the request). Arabic: both pages right to left, in Arabic, no wider than the
    phone. axe-core (WCAG 2.1 AA) on the form, the personal page, the console's worklist
    and the team lead's callback table."""
    site = await make_broker(port=free_port(), load_push_interval=0.2)
    found: dict[str, list[dict[str, Any]]] = {}
    page = await (await new_context(chromium)).new_page()
    errors = ConsoleErrors(page)
    await page.goto(f"{site.url}/t/t1")
    await visible(page, "#step-choose")
    await page.focus("#topic-placement")
    await page.keyboard.press("Space")
    # nobody is signed in: said where the buttons are; waiting stays possible
    await until(lambda: has_text(page, "#overflow", "niemand"), what="nobody said")
    for wanted in ("choose-next", "choose-callback"):
        await page.keyboard.press("Tab")
        assert await focused(page) == wanted
    await page.keyboard.press("Enter")
    await visible(page, "#step-callback")
    assert await focused(page) == "callback-title"
    found["form desktop de"] = await axe(page)
    await page.keyboard.press("Tab")
    assert await focused(page) == "reach-phone"
    await page.keyboard.press("Tab")
    assert await focused(page) == "phone"
    await page.keyboard.type("+49 30 1234567")
    await page.keyboard.press("Tab")
    assert await focused(page) == "urgent-no"
    await page.keyboard.press("ArrowDown")
    assert await page.is_checked("#urgent-yes")
    await page.keyboard.press("Tab")
    assert (await focused(page)).startswith("window-")
    await page.keyboard.press("Tab")
    assert await focused(page) == "cb-consent"
    await page.keyboard.press("Space")
    await page.keyboard.press("Tab")
    assert await focused(page) == "callback-send"
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/r\?lang=de#.+"))
    await visible(page, "#request")
    live = {node: await page.get_attribute(node, "role")
            for node in ("#status", "#error", "#state-text", "#copy-status", "#request-error")}
    assert live == {"#status": "status", "#error": "alert", "#state-text": "status",
                    "#copy-status": "status", "#request-error": "alert"}
    assert await page.get_attribute("#ring", "role") == "alertdialog"
    found["personal page desktop de"] = await axe(page)
    await page.focus("#copy-link")
    await page.keyboard.press("Enter")
    await until(lambda: text_of(page, "#copy-status"), what="the copy said")

    # withdrawing asks first; Escape keeps the request; then withdrawn by keyboard
    await page.focus("#withdraw")
    await page.keyboard.press("Enter")
    assert await focused(page) == "withdraw-no"
    assert await page.get_attribute("#withdraw", "aria-expanded") == "true"
    await page.keyboard.press("Escape")
    assert await focused(page) == "withdraw"
    assert await page.locator("#withdraw-confirm").is_hidden()
    await page.keyboard.press("Enter")
    await page.keyboard.press("Shift+Tab")
    assert await focused(page) == "withdraw-yes"
    await page.keyboard.press("Enter")
    await until(lambda: has_text(page, "#state-text", "zurückgezogen"), what="withdrawn")
    assert await focused(page) == "request-title"
    assert await site.service.contacts.unsettled_callbacks() == []  # withdrawn: none left
    assert errors.errors == []

    # Arabic on a phone: the form, then a personal page
    phone = await (await new_context(chromium, phone=True)).new_page()
    phone_errors = ConsoleErrors(phone)
    await phone.goto(f"{site.url}/t/t1?lang=ar")
    await visible(phone, "#step-choose")
    await phone.check("#topic-general")
    await phone.click("#choose-callback")
    await visible(phone, "#step-callback")
    assert await phone.evaluate("document.documentElement.dir") == "rtl"
    await phone.check("#reach-video")
    assert await phone.locator("#phone-field").is_hidden()
    translated = await phone.eval_on_selector_all(
        "#step-callback [data-i18n], #step-callback label.choice",
        "nodes => nodes.filter(n => n.offsetParent !== null).map(n => n.textContent.trim())")
    assert translated and all(ARABIC.search(t) for t in translated), translated
    assert await phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    found["form phone ar"] = await axe(phone)
    await shot(phone, "callback-ar-1-form")
    await phone.check("#cb-consent")
    await phone.click("#callback-send")
    await phone.wait_for_url(re.compile(r"/r\?lang=ar#.+"))
    await visible(phone, "#request")
    assert await phone.evaluate("document.documentElement.dir") == "rtl"
    assert await phone.evaluate("document.documentElement.lang") == "ar"
    for node in ("#request-title", "#state-text", "#fact-topic", "#fact-reach", "#link-advice"):
        assert ARABIC.search(await text_of(phone, node)), node
    assert await phone.title() == "معاودة الاتصال – استشارة عبر الإنترنت"
    assert await phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    found["personal page phone ar"] = await axe(phone)
    await shot(phone, "callback-ar-2-requested")
    assert phone_errors.errors == []

    # the console's worklist (of a counsellor who speaks Arabic) and the lead's table
    status, _ = await site.http("PUT", "/api/staff/c1/skills", site.staff_token("a1", Role.ADMIN),
                                json={"topics": ["general"], "languages": ["de", "ar"]})
    assert status == 200
    console, _ = await open_console(site, chromium)
    await visible(console, "#callback-list li")
    found["console worklist"] = await axe(console)
    narrow = await (await new_context(chromium, phone=True)).new_page()
    await narrow.goto(f"{site.url}/supervisor#token={site.staff_token('lead', Role.SUPERVISOR)}")
    await visible(narrow, "#callback-rows tr")
    assert await narrow.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    found["supervisor phone"] = await axe(narrow)
    await shot(narrow, "callback-supervisor-phone")
    failures = {where: v for where, v in found.items() if v}
    assert not failures, "\n".join(f"{w}: {describe(v)}" for w, v in failures.items())


# ------------------------------------------------------------ texts


def test_every_callback_text_exists_in_every_language() -> None:
    """texts-callback.js: the five languages have the same keys, and every key the pages
    use is one of them (a missing one would show German, or the key)."""
    source = (JS / "texts-callback.js").read_text(encoding="utf-8")
    keys: dict[str, set[str]] = {}
    for language, block in re.findall(r'register\("(\w+)", \{\n(.*?)\n\}\);', source, re.S):
        keys.setdefault(language, set()).update(re.findall(r'^\s*"([\w.]+)":', block, re.M))
    assert set(keys) == LANGUAGES
    for language, found in keys.items():
        assert found == keys["de"], (language, sorted(found ^ keys["de"]))
    used: set[str] = set()
    for path in (JS / "dropin.js", JS / "callback.js", JS.parent / "dropin.html",
                 JS.parent / "callback.html"):
        used |= set(re.findall(r'"(callback\.[\w.]+)"', path.read_text(encoding="utf-8")))
    # "callback.state." + state: a prefix some keys begin with
    unknown = {u for u in used if not (u in keys["de"] or (u.endswith(".") and any(
        k.startswith(u) for k in keys["de"])))}
    assert used and not unknown, sorted(unknown)
