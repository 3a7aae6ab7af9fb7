"""The webhook outbox, on every contact log backend (SQLite and PostgreSQL): written in the
same transaction as its cause, claimed by one process at a time, in order per session and
URL, retried, given up, forgotten once settled."""

from __future__ import annotations

import asyncio

import pytest

from broker.contactlog.base import DELIVERED, GAVE_UP, PENDING, ContactLog, OutboxEntry
from broker.errors import Conflict
from tests.contract.conftest import Backend
from tests.contract.test_contactlog import ended_record

URL_A = "https://a.example/hook"
URL_B = "https://b.example/hook"
LEASE = 30.0


def entry(session: str, n: int, url: str = URL_A, at: float = 100.0) -> OutboxEntry:
    return OutboxEntry(f"ev-{session}-{n}", session, "session.test", at, url,
                       f'{{"id":"ev-{session}-{n}"}}')


REFUSE_OUTBOX = {
    "sqlite": "CREATE TRIGGER refuse_outbox BEFORE INSERT ON webhook_outbox "
              "BEGIN SELECT RAISE(ABORT, 'outbox refused'); END;",
    "postgres": "CREATE FUNCTION refuse_outbox() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'outbox refused'; END $$; "
                "CREATE TRIGGER refuse_outbox BEFORE INSERT ON webhook_outbox "
                "FOR EACH ROW EXECUTE FUNCTION refuse_outbox();",
}


async def test_a_step_and_its_events_are_written_together(log: ContactLog) -> None:
    """The entries go in with the step; a step that conflicts writes none of its own."""
    await log.append("s1", 0, 100.0, {"type": "Created"}, outbox=[entry("s1", 0),
                                                                  entry("s1", 0, URL_B)])
    with pytest.raises(Conflict):
        await log.append("s1", 0, 101.0, {"type": "Created"}, outbox=[entry("s1", 9)])
    rows = await log.outbox_rows()
    assert [(r.event_id, r.url) for r in rows] == [("ev-s1-0", URL_A), ("ev-s1-0", URL_B)]
    r = rows[0]
    assert (r.session_id, r.type, r.at, r.body) == ("s1", "session.test", 100.0,
                                                    '{"id":"ev-s1-0"}')
    assert (r.status, r.attempts, r.next_at, r.done_at) == (PENDING, 0, 100.0, None)


async def test_an_event_that_cannot_be_written_takes_its_cause_with_it(
    backend: Backend, log: ContactLog,
) -> None:
    """One transaction: no step without its events, no record without its event."""
    await log.append("s1", 0, 100.0, {"type": "Created"})
    await backend.sql(REFUSE_OUTBOX[backend.name])
    with pytest.raises(Exception, match="outbox refused"):  # each database its own kind
        await log.append("s1", 1, 101.0, {"type": "Admit"}, outbox=[entry("s1", 1)])
    assert [e.seq for e in (await log.unfinished())["s1"]] == [0]
    record = ended_record("s1")
    with pytest.raises(Exception, match="outbox refused"):
        await log.close_session(record, outbox=[entry("s1", 2)])
    assert await log.is_closed("s1") is False
    assert await log.outbox_rows() == []


async def test_the_ended_event_is_written_with_the_first_close_only(
    backend: Backend, log: ContactLog,
) -> None:
    other = await backend.open()
    record = ended_record("s1")
    wrote = await asyncio.gather(*(c.close_session(record, outbox=[entry("s1", 7)])
                                   for c in (log, other, log, other)))
    assert sorted(wrote) == [False, False, False, True]
    assert [r.event_id for r in await other.outbox_rows()] == ["ev-s1-7"]


async def test_writes_with_events_wake_the_deliverer(log: ContactLog) -> None:
    woken: list[int] = []
    log.on_outbox = lambda: woken.append(1)
    await log.append("s1", 0, 100.0, {"type": "Created"})
    assert woken == []
    await log.append("s1", 1, 100.0, {"type": "Admit"}, outbox=[entry("s1", 1)])
    assert woken == [1]
    with pytest.raises(Conflict):
        await log.append("s1", 1, 100.0, {"type": "Admit"}, outbox=[entry("s1", 8)])
    assert await log.close_session(ended_record("s1"), outbox=[entry("s1", 2)])
    assert not await log.close_session(ended_record("s1"), outbox=[entry("s1", 3)])
    assert woken == [1, 1]


async def test_a_claim_leases_due_heads_and_counts_an_attempt(
    backend: Backend, log: ContactLog,
) -> None:
    """Not before the row is due; a claimed row is out of reach of another process until
    its lease ends; then it is claimed again (at least once, after a crash)."""
    other = await backend.open()
    await log.append("s1", 0, 100.0, {"type": "Created"}, outbox=[entry("s1", 0)])
    assert await log.claim_outbox("a", 99.0, LEASE) == []
    assert await log.outbox_next_due() == 100.0
    [row] = await log.claim_outbox("a", 100.0, LEASE)
    assert row.event_id == "ev-s1-0" and row.attempts == 1
    assert await other.claim_outbox("b", 100.0, LEASE) == []
    assert await other.outbox_next_due() == 100.0 + LEASE
    [again] = await other.claim_outbox("b", 100.0 + LEASE, LEASE)
    assert again.id == row.id and again.attempts == 2
    # a process alone on the log, starting after a crash, need not wait for the lease
    assert await other.release_outbox_leases() == 1
    [third] = await log.claim_outbox("a", 100.0 + LEASE, LEASE)
    assert third.id == row.id and third.attempts == 3
    assert await log.release_outbox_leases() == 1
    assert await log.release_outbox_leases() == 0


async def test_a_sessions_events_go_out_in_order_per_url(log: ContactLog) -> None:
    """The second event of a session waits until the first is settled (per URL); another
    session and another URL do not wait."""
    long = 1000.0  # no lease runs out in this test
    await log.append("s1", 0, 100.0, {"type": "Created"},
                     outbox=[entry("s1", 0), entry("s1", 0, URL_B)])
    await log.append("s1", 1, 101.0, {"type": "Admit"},
                     outbox=[entry("s1", 1, at=101.0), entry("s1", 1, URL_B, at=101.0)])
    await log.append("s2", 0, 102.0, {"type": "Created"}, outbox=[entry("s2", 0, at=102.0)])
    claimed = await log.claim_outbox("a", 200.0, long)
    assert [(r.event_id, r.url) for r in claimed] == [
        ("ev-s1-0", URL_A), ("ev-s1-0", URL_B), ("ev-s2-0", URL_A)]
    first_a = claimed[0]
    await log.outbox_delivered(first_a.id, 201.0)
    [next_a] = await log.claim_outbox("a", 201.0, long)
    assert (next_a.event_id, next_a.url) == ("ev-s1-1", URL_A)
    # URL B's first failed: its second stays back until the first is settled
    await log.outbox_failed(claimed[1].id, 201.0, 260.0, "HTTP 500")
    assert await log.claim_outbox("a", 259.0, long) == []
    held = {(r.event_id, r.url): r.next_at for r in await log.outbox_rows("s1")}
    assert held[("ev-s1-1", URL_B)] == 260.0, "queued behind it: not due before it"
    assert held[("ev-s1-1", URL_A)] == 101.0
    assert await log.outbox_next_due() == 260.0
    [retried] = await log.claim_outbox("a", 260.0, long)
    assert retried.id == claimed[1].id and retried.attempts == 2
    # given up: it stops holding the session's later events back
    await log.outbox_failed(retried.id, 261.0, None, "HTTP 500")
    [later_b] = await log.claim_outbox("a", 261.0, long)
    assert (later_b.event_id, later_b.url) == ("ev-s1-1", URL_B)
    by_key = {(r.event_id, r.url): r for r in await log.outbox_rows("s1")}
    assert by_key[("ev-s1-0", URL_A)].status == DELIVERED
    assert by_key[("ev-s1-0", URL_A)].done_at == 201.0
    gave_up = by_key[("ev-s1-0", URL_B)]
    assert (gave_up.status, gave_up.done_at, gave_up.last_error) == (GAVE_UP, 261.0,
                                                                     "HTTP 500")


async def test_two_processes_claim_disjoint_rows(backend: Backend, log: ContactLog) -> None:
    """Claiming at the same moment, several processes never get the same row."""
    logs = [log, *[await backend.open() for _ in range(3)]]
    for n in range(40):
        await log.append(f"s{n}", 0, 100.0, {"type": "Created"}, outbox=[entry(f"s{n}", 0)])
    claims = await asyncio.gather(*(c.claim_outbox(f"node{i}", 100.0, LEASE, limit=15)
                                    for i, c in enumerate(logs)))
    ids = [r.id for claim in claims for r in claim]
    assert len(ids) == len(set(ids)), "a row was claimed twice"
    assert len(ids) == 40
    assert {r.attempts for claim in claims for r in claim} == {1}


async def test_settled_rows_are_purged_after_a_while(log: ContactLog) -> None:
    for n in range(3):
        await log.append("s1", n, 100.0, {"type": "x"}, outbox=[entry("s1", n, url=f"{URL_A}{n}")])
    claimed = await log.claim_outbox("a", 100.0, LEASE)
    await log.outbox_delivered(claimed[0].id, 110.0)
    await log.outbox_failed(claimed[1].id, 120.0, None, "timeout")
    assert await log.purge_outbox(115.0) == 1
    assert await log.purge_outbox(1e12) == 1
    [left] = await log.outbox_rows()
    assert left.status == PENDING, "pending rows are never purged"
    assert await log.purge_outbox(1e12) == 0
