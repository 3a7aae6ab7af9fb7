"""A drop-in from both sides in real Chromium: a customer on a phone enters at `/t/t1`,
queues, the counsellor's console (another browser) rings, the counsellor accepts, and the
two see each other's video: decoded frames, read from getStats, not the pages' claims.
The contact record says `drop-in`; the team lead's page counts the answered drop-in."""

from __future__ import annotations

from playwright.async_api import Browser

from broker.types import Role, StaffId
from tests.browser.conftest import ConsoleErrors, frames_decoded, new_context, shot
from tests.browser.test_dropin_console import (
    has_text,
    open_console,
    presence_is,
    ringing,
    set_available,
)
from tests.browser.test_dropin_entry import choose_and_agree
from tests.browser.test_journeys import until, visible
from tests.conftest import Broker, MakeBroker
from tests.ports import free_port


async def test_a_customer_enters_the_console_rings_and_video_flows(
        make_broker: MakeBroker, chromium: Browser) -> None:
    site: Broker = await make_broker(port=free_port(), load_push_interval=0.2)
    console, console_errors = await open_console(site, chromium)
    await set_available(console)
    lead = await (await new_context(chromium)).new_page()
    await lead.goto(f"{site.url}/supervisor#token={site.staff_token('lead', Role.SUPERVISOR)}")

    phone = await (await new_context(chromium, phone=True)).new_page()
    phone_errors = ConsoleErrors(phone)
    await phone.goto(f"{site.url}/t/t1")
    await choose_and_agree(phone, "placement")
    await phone.click("#queue")
    await visible(phone, "#step-wait")

    await until(lambda: ringing(console), what="the console to ring")
    assert await has_text(console, "#dropin-offer", "Arbeitsvermittlung")
    await shot(console, "dropin-journey-1-ringing")
    await console.click("#offer-accept")

    # the phone goes on to the customer page of the new session, and is let in by itself
    await phone.wait_for_url("**/j?*", timeout=15000)
    await visible(phone, "#step-call")
    await until(lambda: presence_is(console, "busy"), what="the counsellor busy")
    await until(lambda: frames_decoded(console), timeout=30, what="video in the console")
    await until(lambda: frames_decoded(phone), timeout=30, what="video on the phone")
    await shot(phone, "dropin-journey-2-in-call")
    await shot(console, "dropin-journey-3-in-call")

    # the team lead's live view has it as answered
    await until(lambda: lead.evaluate(
        "document.body.innerText.includes('100 %')"), what="the service level on the board")

    live = await site.service.sessions_of(StaffId("c1"))
    assert len(live) == 1 and str(live[0].kind) == "drop-in"
    await console.click("#end")
    await until(lambda: presence_is(console, "wrap_up"), what="wrap-up after the call")
    record = await until(lambda: site.service.contacts.contact(live[0].id),
                         what="the contact record")
    assert record["kind"] == "drop-in" and record["seconds"]["video"] > 0
    assert not [e for e in console_errors.errors if "WebSocket" not in e]
    assert not [e for e in phone_errors.errors if "WebSocket" not in e]
