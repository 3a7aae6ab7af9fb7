"""The text chat beside the call (relayed, never stored) and the waiting customer hearing
that the counsellor signed in."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import Broker
from tests.functional.test_session_flow import active_pair, waiting_pair


async def test_chat_lines_reach_the_other_side_and_no_log(
        broker: Broker, caplog: pytest.LogCaptureFixture) -> None:
    """Both ways, cleaned of control and bidi characters, lines kept, never logged."""
    caplog.set_level(logging.DEBUG)
    created, counsellor, customer = await active_pair(broker)
    sid = created["session"]
    ack = await counsellor.call("chat", {"session": sid,
                                         "text": "Aktenzeichen:\n123-ABC\u202e"})
    assert ack["ok"]
    line = await customer.next("chat")
    assert (line["from"], line["text"]) == ("counsellor", "Aktenzeichen:\n123-ABC")
    assert (await customer.call("chat", {"text": "M-ü-l-l-e-r"}))["ok"]
    line = await counsellor.next("chat")
    assert (line["from"], line["session"], line["text"]) == ("customer", sid, "M-ü-l-l-e-r")
    assert "123-ABC" not in caplog.text and "M-ü-l-l-e-r" not in caplog.text
    record = await broker.service.contacts.contact(sid)
    assert record is None  # still running; nothing of the chat is kept anywhere
    on_disk = b"".join(f.read_bytes() for f in broker.settings.data_dir.iterdir())
    assert b"123-ABC" not in on_disk


async def test_chat_needs_an_active_call_and_sane_text(broker: Broker) -> None:
    """Before admission nothing is relayed; empty or oversized lines are refused."""
    created, counsellor, customer = await waiting_pair(broker)
    ack = await customer.call("chat", {"text": "hallo?"})
    assert ack["error"]["code"] == "not_admitted"
    await counsellor.next("customer_waiting")
    await counsellor.call("admit", {"session": created["session"]})
    for text, code in (("   \n ", "bad_request"), ("x" * 5000, "payload_too_large"),
                       (42, "bad_request")):
        ack = await customer.call("chat", {"text": text})
        assert ack["error"]["code"] == code, (text, ack)
    assert counsellor.pending("chat") == 0


async def test_a_waiting_customer_hears_when_the_counsellor_signs_in_and_out(
        broker: Broker) -> None:
    """The waiting room can tell the customer their counsellor is there."""
    token = broker.staff_token()
    created = await broker.create_session(token)
    customer = await broker.customer(created["customer_token"])
    assert (await customer.next("welcome"))["counsellor_present"] is False
    console = await broker.counsellor(token)
    second_tab = await broker.counsellor(token)
    note = await customer.next("counsellor_presence")
    assert note == {"session": created["session"], "present": True}
    await second_tab.close()
    await console.call("sync")
    assert customer.pending("counsellor_presence") == 0  # one tab still open
    await console.close()
    assert (await customer.next("counsellor_presence"))["present"] is False
