"""Logs and records hold no names, SDP, ICE candidates, tokens or access codes."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import Broker
from tests.functional.test_session_flow import CANDIDATE, SDP


async def test_debug_logs_of_a_whole_session_hold_nothing_personal(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    """Run a session end to end at DEBUG and search every log line for secrets."""
    caplog.set_level(logging.DEBUG)
    staff = broker.staff_token()
    created = await broker.create_session(staff)
    sid = created["session"]
    counsellor = await broker.counsellor(staff)
    customer = await broker.customer(created["customer_token"])
    await customer.call("join", {"name": "Zeynep Yılmaz", "language": "tr"})
    await counsellor.call("admit", {"session": sid})
    # the write-ahead log on disk holds the session's steps, not the person
    on_disk = b"".join(f.read_bytes() for f in broker.settings.data_dir.iterdir()
                       if f.name.startswith("contacts"))
    assert b'"CustomerJoined"' in on_disk, "the join should be logged ahead"
    for secret in (b"Zeynep", created["access_code"].encode()):
        assert secret not in on_disk
    await counsellor.call("signal", {"session": sid, "type": "offer", "sdp": SDP})
    await customer.call("signal", {"type": "candidate", "candidate": CANDIDATE})
    await customer.call("signal", {"type": "hello", "sdp": "secret-sdp-in-bad-input"})
    await broker.peer("/customer", {"token": created["customer_token"]}).refused()
    await broker.http("POST", "/api/join", json={"code": created["access_code"]})
    await broker.http("POST", "/api/join", json={"code": "999999999"})
    await customer.call("switch_channel", {"to": "phone"})
    await counsellor.call("end", {"session": sid})

    text = "\n".join(r.getMessage() for r in caplog.records)
    assert sid in text, "logs should name the session, or they are no use"
    for secret in ("Zeynep", "Yılmaz", "v=0", "192.0.2.1", "candidate:",
                   "secret-sdp-in-bad-input", created["access_code"], "999999999",
                   created["customer_token"], staff, created["customer_token"][-20:]):
        assert secret not in text, f"{secret!r} leaked into the logs"

    record = await broker.service.contacts.contact(sid)
    assert record is not None
    assert "Zeynep" not in str(record) and created["access_code"] not in str(record)
