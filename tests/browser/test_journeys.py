"""The three pages in real Chromium, as their people use them.

A counsellor creates a session in the console and copies the link; the customer opens it
on a phone-sized screen, consents, passes the device check, waits and is admitted; both
see each other's video (frames decoded, read from getStats); the counsellor moves the call
to the phone and ends it; the supervisor's table follows along; the contact record has a
video and a phone segment. Then the access-code path, the no-WebRTC fallback, and axe-core
scans in German and Arabic. Screenshots of every state go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from playwright.async_api import Browser, Page

from broker.types import Role
from tests.browser.conftest import (
    ConsoleErrors,
    axe,
    describe,
    frames_decoded,
    new_context,
    shot,
)
from tests.conftest import Broker
from tests.functional.test_session_flow import active_pair


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 20.0,
                what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy (pages update on their own)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def visible(page: Page, selector: str, timeout: float = 15.0) -> None:
    await page.wait_for_selector(selector, state="visible", timeout=timeout * 1000)


async def field(page: Page, team: str, name: str) -> str:
    cell = page.locator(f"tr[data-team='{team}'] [data-field='{name}']")
    return (await cell.inner_text()).strip() if await cell.count() else ""


async def session_by_ref(site: Broker, token: str, ref: str) -> dict[str, Any]:
    status, body = await site.http("GET", "/api/sessions", token)
    assert status == 200
    [found] = [s for s in body["sessions"] if s["customer_ref"] == ref]
    return dict(found)


async def customer_into_waiting_room(page: Page, name: str, lang_shots: str) -> None:
    """Consent, device check, name, join: what a customer does before being let in."""
    await visible(page, "#step-consent")
    await shot(page, f"customer-{lang_shots}-1-consent")
    await page.check("#consent")
    await page.click("#consent-accept")
    await visible(page, "#step-check")
    await until(lambda: page.locator("#net-check").inner_text(), what="connection check")
    await shot(page, f"customer-{lang_shots}-2-device-check")
    await page.click("#check-continue")
    await visible(page, "#name")
    await page.fill("#name", name)
    await page.click("#join-button")
    await visible(page, "#step-wait")
    await shot(page, f"customer-{lang_shots}-3-waiting-room")


async def test_video_call_moves_to_the_phone_and_is_logged(site: Broker,
                                                           chromium: Browser) -> None:
    token = site.staff_token()
    lead = site.staff_token("lead", role=Role.SUPERVISOR)
    staff_ctx = await new_context(chromium)
    staff = await staff_ctx.new_page()
    staff_errors = ConsoleErrors(staff)
    board_ctx = await new_context(chromium)
    board = await board_ctx.new_page()
    await board.goto(f"{site.url}/supervisor#token={lead}")
    await staff.goto(f"{site.url}/staff#token={token}")

    # the counsellor creates the session and copies the link
    await visible(staff, "#customer-ref")
    await staff.fill("#customer-ref", "K-4711")
    await staff.click("#create")
    link = await until(lambda: staff.input_value("#created-link"), what="the new link")
    assert "/j#" in link
    code = (await staff.locator("#created-code").inner_text()).replace(" ", "")
    assert code.isdigit() and len(code) == 9
    await shot(staff, "console-1-session-created")
    sid = (await session_by_ref(site, token, "K-4711"))["session"]

    # the customer, on a phone, gets as far as the waiting room
    customer_ctx = await new_context(chromium, phone=True)
    customer = await customer_ctx.new_page()
    customer_errors = ConsoleErrors(customer)
    await customer.goto(link)
    await customer_into_waiting_room(customer, "Ayşe Yılmaz", "de")

    # announced in the console, with the chosen name; admitted
    await visible(staff, "#waiting-alert [data-action='admit']")
    assert "Ayşe Yılmaz" in await staff.locator("#waiting-alert").inner_text()
    chimes = await staff.locator("#chime-toggle").get_attribute("data-chimes")
    assert int(chimes or 0) >= 1, "the waiting customer is announced audibly too"
    await shot(staff, "console-2-customer-waiting")
    await staff.click(f"#waiting-alert [data-action='admit'][data-session='{sid}']")
    await visible(staff, "#call")
    await visible(customer, "#step-call")

    # both see decoded video of the other
    await until(lambda: frames_decoded(staff), what="video decoded in the console")
    await until(lambda: frames_decoded(customer), what="video decoded on the phone")
    await until(lambda: field(board, "t1", "active"), what="supervisor: active")
    assert await field(board, "t1", "active") == "1"
    await shot(staff, "console-3-in-call")
    await shot(customer, "customer-de-4-in-call")
    await shot(board, "supervisor-1-call-running")

    # a chat line, both ways
    await staff.fill("#chat-input", "Aktenzeichen 123-ABC")
    await staff.click("#chat-send")
    await until(lambda: _has_text(customer, "#chat-log", "123-ABC"), what="chat to customer")

    # to the phone: the customer sees the hotline and the PIN
    await staff.click("#to-phone")
    await visible(customer, "#step-phone")
    pin = (await customer.locator("#pin").inner_text()).replace(" ", "")
    assert pin == code
    assert (await customer.locator("#hotline").get_attribute("href") or "").startswith("tel:")
    await shot(customer, "customer-de-5-phone")
    await until(lambda: _is(board, "t1", "phone", "1"), what="supervisor: on the phone")
    await staff.click("#phone-connected")
    await asyncio.sleep(0.5)
    await staff.select_option("#outcome", "completed")
    await staff.click("#end")
    await visible(customer, "#step-ended")
    await until(lambda: _attr_is(customer, "#rating-form", "hidden", None), what="rating form")
    await shot(customer, "customer-de-6-ended")
    await until(lambda: _is(board, "t1", "active", "0"), what="supervisor: call over")
    await shot(board, "supervisor-2-call-ended")
    # the optional rating: sending without a choice asks for one, then four stars
    await customer.click("#rating-send")
    await until(lambda: customer.locator("#rating-error").inner_text(), what="choose first")
    await customer.check("#score-4")
    await customer.click("#rating-send")
    await until(lambda: customer.locator("#rating-done").inner_text(), what="thanks")
    assert await customer.locator("#rating-form").is_hidden()
    await shot(customer, "customer-de-7-rated")

    record = await site.service.contacts.contact(sid)
    assert record is not None and record["end_reason"] == "completed"
    assert record["satisfaction"] == 4
    channels = [segment[0] for segment in record["segments"]]
    assert channels[0] == "video" and channels[-1] == "phone", record["segments"]
    assert record["seconds"]["video"] > 0 and record["seconds"]["phone"] > 0
    assert staff_errors.errors == [] and customer_errors.errors == []


async def _has_text(page: Page, selector: str, text: str) -> bool:
    return text in await page.locator(selector).inner_text()


async def _is(page: Page, team: str, name: str, value: str) -> bool:
    return await field(page, team, name) == value


async def _attr_is(page: Page, selector: str, name: str, value: str | None) -> bool:
    return await page.locator(selector).get_attribute(name) == value


async def test_access_code_leads_to_the_session(site: Broker, chromium: Browser) -> None:
    """A customer types the code from the letter, with spaces, on a phone."""
    created = await site.create_session(site.staff_token())
    context = await new_context(chromium, phone=True)
    page = await context.new_page()
    errors = ConsoleErrors(page)
    await page.goto(f"{site.url}/join")
    code = created["access_code"]
    await page.fill("#code", f"{code[:3]} {code[3:6]} {code[6:]}")
    await shot(page, "join-1-code-typed")
    await page.click("#code-submit")
    await visible(page, "#step-consent")
    assert "/j" in page.url
    await shot(page, "join-2-arrived")
    await page.goto(f"{site.url}/join")
    await page.fill("#code", "999 999 999")
    await page.click("#code-submit")
    await until(lambda: page.locator("#code-error").inner_text(), what="code error")
    await shot(page, "join-3-wrong-code")
    assert errors.errors == [] or all("404" in e for e in errors.errors)


async def test_without_webrtc_the_customer_goes_on_by_phone(site: Broker,
                                                            chromium: Browser) -> None:
    """An old browser without WebRTC: offered the phone with hotline and PIN, and the
    session completes as a phone contact."""
    token = site.staff_token()
    created = await site.create_session(token)
    sid = created["session"]
    counsellor = await site.counsellor(token)
    context = await new_context(chromium, phone=True, webrtc=False)
    page = await context.new_page()
    await page.goto(created["join_url"])
    await visible(page, "#step-consent")
    await page.check("#consent")
    await page.click("#consent-accept")
    await visible(page, "#step-nowebrtc")
    await shot(page, "customer-nowebrtc-1-offered-phone")
    await page.click("#nowebrtc-phone")
    await visible(page, "#step-phone")
    assert (await page.locator("#pin").inner_text()).replace(" ", "") == created["access_code"]
    await shot(page, "customer-nowebrtc-2-phone")
    waiting = await counsellor.next("customer_waiting")
    assert waiting["capabilities"]["webrtc"] is False
    ack = await counsellor.call("admit", {"session": sid})
    assert ack == {"ok": True, "channel": "phone"}
    assert (await counsellor.call("phone_connected", {"session": sid}))["ok"]
    await asyncio.sleep(0.3)
    assert (await counsellor.call("end", {"session": sid}))["state"] == "ended"
    await visible(page, "#step-ended")
    record = await site.service.contacts.contact(sid)
    assert record is not None and [s[0] for s in record["segments"]] == ["phone"]


async def test_declining_the_camera_is_no_dead_end(site: Broker, chromium: Browser) -> None:
    """Whoever does not want the camera is offered the phone right away."""
    created = await site.create_session(site.staff_token())
    context = await new_context(chromium, phone=True)
    page = await context.new_page()
    await page.goto(created["join_url"])
    await visible(page, "#step-consent")
    await page.click("#consent-decline")
    await visible(page, "#step-phone")
    assert (await page.locator("#hotline").get_attribute("href") or "").startswith("tel:")
    await shot(page, "customer-declined-phone")


async def test_pages_pass_axe_in_german_and_arabic(site: Broker, chromium: Browser) -> None:
    """WCAG 2.1 AA by axe-core: the customer's consent, waiting room and call in German and
    Arabic (right to left, on a phone screen); the console and the supervisor board in
    German and English (the staff pages' two languages)."""
    token = site.staff_token()
    lead = site.staff_token("lead", role=Role.SUPERVISOR)
    found: dict[str, list[dict[str, Any]]] = {}

    staff_ctx = await new_context(chromium)
    staff = await staff_ctx.new_page()
    await staff.goto(f"{site.url}/staff#token={token}")
    await visible(staff, "#customer-ref")
    board = await (await new_context(chromium)).new_page()
    await board.goto(f"{site.url}/supervisor#token={lead}")
    await visible(board, "tr[data-team]")
    found["supervisor de"] = await axe(board)
    await board.select_option("#lang", "en")
    await until(lambda: _attr_is(board, "html", "lang", "en"), what="supervisor in English")
    found["supervisor en"] = await axe(board)
    await shot(board, "supervisor-en")

    for lang, name in (("de", "Jana Krüger"), ("ar", "أحمد")):
        created = await site.create_session(token, customer_ref=f"K-{lang}")
        customer = await (await new_context(chromium, phone=True)).new_page()
        await customer.goto(f"{created['join_url'].replace('/j#', f'/j?lang={lang}#')}")
        await visible(customer, "#step-consent")
        assert await customer.evaluate("document.documentElement.dir") == (
            "rtl" if lang == "ar" else "ltr")
        found[f"customer {lang} consent"] = await axe(customer)
        await customer_into_waiting_room(customer, name, lang)
        found[f"customer {lang} waiting room"] = await axe(customer)
        await visible(staff, f"#waiting-alert [data-session='{created['session']}']")
        found["console waiting"] = await axe(staff)
        await staff.click(f"#waiting-alert [data-action='admit'][data-session='"
                          f"{created['session']}']")
        await visible(customer, "#step-call")
        await visible(staff, "#call")
        found[f"customer {lang} call"] = await axe(customer)
        found["console call"] = await axe(staff)
        # a phone screen: nothing sticks out sideways
        assert await customer.evaluate(
            "document.documentElement.scrollWidth <= window.innerWidth"), lang
        await shot(customer, f"customer-{lang}-axe-call")
        await staff.select_option("#outcome", "completed")
        await staff.click("#end")
        await visible(customer, "#step-ended")

    await staff.select_option("#lang", "en")
    await until(lambda: _attr_is(staff, "html", "lang", "en"), what="console in English")
    found["console en"] = await axe(staff)
    await shot(staff, "console-en")

    failures = {where: v for where, v in found.items() if v}
    assert not failures, "\n".join(f"{w}: {describe(v)}" for w, v in failures.items())


async def test_a_new_sign_in_link_renews_the_open_console(site: Broker,
                                                          chromium: Browser) -> None:
    """A counsellor whose sign-in runs out opens a fresh sign-in link in the same tab: the
    console renews its socket (`reauth`) instead of reloading and losing the call."""
    page = await (await new_context(chromium)).new_page()
    errors = ConsoleErrors(page)
    await page.goto(f"{site.url}/staff#token={site.staff_token(ttl=600)}")
    await visible(page, "#customer-ref")
    await page.evaluate(f"location.hash = '#token={site.staff_token(ttl=3600)}'")
    await until(lambda: _has_text(page, "#status", "erneuert"), what="renewed sign-in")
    assert errors.errors == []


async def test_a_team_lead_reads_and_downloads_the_contact_report(
    site: Broker, chromium: Browser,
) -> None:
    """A call ran today; the team lead opens the reports, sees it in the chart, the
    duration table and the contact table (with the total), switches to English, and
    downloads the German spreadsheet file. The view passes axe-core."""
    created, counsellor, customer = await active_pair(site, customer_ref="K-report")
    await customer.call("media_state", {"state": "connected"})
    await asyncio.sleep(0.3)  # talking
    ack = await counsellor.call("end", {"session": created["session"], "outcome": "completed"})
    assert ack["ok"], ack
    for peer in (counsellor, customer):
        await peer.close()

    lead = site.staff_token("lead", role=Role.SUPERVISOR)
    page = await (await new_context(chromium)).new_page()
    await page.goto(f"{site.url}/supervisor#token={lead}")
    await visible(page, "#reports")
    await page.check("input[name='rep-by'][value='channel']")
    await page.click("#report-form button[type='submit']")
    await visible(page, "#rep-results")
    total = page.locator("#rep-table tfoot td").first
    assert (await total.inner_text()).strip() == "1"
    assert await page.locator("#rep-duration-rows tr[data-channel='video']").count() == 1
    assert await page.locator("#rep-period-chart rect.bar-video").count() == 1
    assert "1" in await page.locator("#rep-status").inner_text()
    await shot(page, "supervisor-report-de")
    assert not await axe(page), describe(await axe(page))

    await page.select_option("#lang", "en")
    await until(lambda: _text_has(page, "#rep-table thead", "Contacts"), what="English report")
    async with page.expect_download() as info:
        await page.click("#rep-csv-de")
    download = await info.value
    assert download.suggested_filename.endswith(".csv")
    path = await download.path()
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "Excel needs the BOM to read UTF-8"
    lines = raw.decode("utf-8-sig").splitlines()
    assert ";" in lines[0] and len(lines) >= 2


async def _text_has(page: Page, selector: str, text: str) -> bool:
    return text in await page.locator(selector).inner_text()
