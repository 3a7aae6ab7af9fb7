"""A broker process killed with SIGKILL while its webhook receiver is down loses no event:
the next start delivers them all, each once, in order per session."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import staff_token
from tests.e2e.process import BrokerProcess, http, talk_then_kill
from tests.ports import free_port
from tests.webhook_receiver import SECRET, Receiver

NAME = "Xaver Geheimname"


def outbox(data_dir: Path) -> list[sqlite3.Row]:
    db = sqlite3.connect(data_dir / "contacts.sqlite3")
    db.row_factory = sqlite3.Row
    try:
        return list(db.execute("SELECT * FROM webhook_outbox ORDER BY id"))
    finally:
        db.close()


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    r = Receiver(port=free_port())  # known before it starts: the broker is told it
    yield r
    await r.stop()


@pytest.fixture
async def process(tmp_path: Path, hook: Receiver) -> AsyncIterator[BrokerProcess]:
    p = BrokerProcess(tmp_path / "data", env={
        "CB_WEBHOOK_URLS": hook.url, "CB_WEBHOOK_SECRET": SECRET,
        "CB_WEBHOOK_RETRY_BASE_SECONDS": "0.05", "CB_WEBHOOK_RETRY_MAX_SECONDS": "0.2",
        "CB_WEBHOOK_TIMEOUT_SECONDS": "1",
    }, log_file=tmp_path / "broker.log")
    yield p
    await p.stop()


async def test_events_written_while_the_receiver_was_down_survive_sigkill(
    process: BrokerProcess, hook: Receiver,
) -> None:
    """Receiver down: a session is created and cancelled, another is created, admitted and
    talking when the broker is killed. Attempts were made and failed. Receiver up, broker
    restarted: both sessions' events arrive, the interrupted call's `ended` too (written by
    the recovery), each event once and in order; a second restart sends nothing again."""
    await process.start()
    staff = staff_token()
    status, cancelled = await http(process.url, "POST", "/api/sessions", staff,
                                   {"customer_ref": "K-1"})
    assert status == 201
    status, _ = await http(process.url, "POST",
                           f"/api/sessions/{cancelled['session']}/cancel", staff)
    assert status == 200
    status, talked = await http(process.url, "POST", "/api/sessions", staff,
                                {"customer_ref": "K-2"})
    assert status == 201
    await talk_then_kill(process, staff, talked, name=NAME)

    rows = outbox(process.data_dir)
    assert [r["type"] for r in rows] == ["session.created", "session.ended",
                                         "session.created", "session.started"]
    assert all(r["status"] == "pending" for r in rows)
    # each session's first event was tried (and failed); the later ones wait behind it
    assert [r["attempts"] >= 1 and bool(r["last_error"]) for r in rows] == [
        True, False, True, False]

    await hook.start()
    await process.start()
    await hook.wait_accepted(5, timeout=10)
    by_session: dict[str, list[str]] = defaultdict(list)
    for d in hook.accepted():
        assert d.signed_with(SECRET)
        assert NAME not in d.raw.decode() and "K-2" not in d.raw.decode()
        by_session[d.event["session"]].append(d.event["type"])
    assert by_session == {
        cancelled["session"]: ["session.created", "session.ended"],
        talked["session"]: ["session.created", "session.started", "session.ended"],
    }
    ids = [d.event["id"] for d in hook.accepted()]
    assert len(ids) == len(set(ids)) == 5
    assert set(ids) >= {r["event_id"] for r in rows}, "the same ids as before the crash"
    ended = hook.accepted()[-1].event
    assert ended["session"] == talked["session"]
    assert ended["data"]["end_reason"] == "interrupted"
    for _ in range(100):  # the receiver counted it before the broker heard its answer
        if all(r["status"] == "delivered" for r in outbox(process.data_dir)):
            break
        await asyncio.sleep(0.02)
    assert [r["status"] for r in outbox(process.data_dir)] == ["delivered"] * 5

    await process.kill()
    await process.start()
    await asyncio.sleep(0.5)
    assert len(hook.got) == 5, "nothing is sent twice after a second restart"
