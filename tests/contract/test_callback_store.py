"""Callback requests in the contact log, the same on SQLite and PostgreSQL: a step is
applied under the row's lock, so concurrent claims (from one log, and from two logs on one
database as two processes) have exactly one winner; what a step refuses changes nothing;
settled requests lose the number and go with retention."""

from __future__ import annotations

import asyncio
from functools import partial

import pytest

from broker import callbacks as cb
from broker.callbacks import (
    CallbackPolicy,
    CallbackRequest,
    CallbackState,
    Outcome,
    Reach,
    Source,
)
from broker.contactlog.base import ContactLog
from broker.errors import ErrorCode, NotFound
from broker.queue_report import Wait
from broker.types import SessionId, StaffId, TeamId
from tests.contract.conftest import Backend

T0 = 1_790_000_000.0
POLICY = CallbackPolicy(max_attempts=2, claim_seconds=600.0)


def request(n: int = 1, *, team: str = "t1", deadline: float = T0 + 3600,
            reach: Reach = Reach.PHONE) -> CallbackRequest:
    return CallbackRequest(
        id=f"cb-{n:04d}-xyz", team=TeamId(team), topic="benefits", language="de",
        urgent=n % 2 == 0, reach=reach, contact="sealed-number" if reach is Reach.PHONE
        else None, window_from=T0 + 60, window_to=T0 + 7200, source=Source.ENTRY,
        created_at=T0, deadline=deadline)


def claim_by(staff: str, now: float = T0 + 10) -> partial[cb.Change]:
    return partial(cb.claim, staff=StaffId(staff), now=now, p=POLICY)


async def test_a_request_reads_back_as_it_was_written(log: ContactLog) -> None:
    r = request()
    await log.add_callback(r)
    assert await log.callback(r.id) == r
    assert await log.callback("nope-nope") is None


async def test_concurrent_claims_have_one_winner(backend: Backend) -> None:
    """Thirty claims at once, spread over two logs on one database (two processes)."""
    logs = [await backend.open(), await backend.open()]
    await logs[0].add_callback(request())

    async def try_claim(i: int) -> str | None:
        try:
            await logs[i % 2].change_callback("cb-0001-xyz", claim_by(f"c{i}"))
        except cb.Taken:
            return None
        return f"c{i}"

    winners = [w for w in await asyncio.gather(*(try_claim(i) for i in range(30))) if w]
    assert len(winners) == 1
    stored = await logs[1].callback("cb-0001-xyz")
    assert stored is not None
    assert stored.state is CallbackState.CLAIMED
    assert stored.claimed_by == winners[0]


async def test_a_refused_step_changes_nothing(log: ContactLog) -> None:
    await log.add_callback(request())
    await log.change_callback("cb-0001-xyz", claim_by("c1"))
    before = await log.callback("cb-0001-xyz")
    with pytest.raises(cb.Taken) as refused:
        await log.change_callback("cb-0001-xyz", partial(
            cb.attempt, staff=StaffId("c2"), outcome=Outcome.REACHED, now=T0 + 20, p=POLICY))
    assert refused.value.code is ErrorCode.CALLBACK_TAKEN
    assert await log.callback("cb-0001-xyz") == before
    assert await log.callback_attempts("cb-0001-xyz") == []
    with pytest.raises(NotFound):
        await log.change_callback("missing-id", claim_by("c1"))


async def test_attempts_are_recorded_and_settling_forgets_the_number(log: ContactLog) -> None:
    await log.add_callback(request())
    await log.change_callback("cb-0001-xyz", claim_by("c1"))
    first = await log.change_callback("cb-0001-xyz", partial(
        cb.attempt, staff=StaffId("c1"), outcome=Outcome.NOT_REACHED, now=T0 + 30, p=POLICY))
    assert (first.state, first.attempts, first.claimed_by) == (CallbackState.OPEN, 1, None)
    assert first.contact == "sealed-number"  # still to be called
    await log.change_callback("cb-0001-xyz", claim_by("c2", T0 + 40))
    last = await log.change_callback("cb-0001-xyz", partial(
        cb.attempt, staff=StaffId("c2"), outcome=Outcome.NOT_REACHED, now=T0 + 50, p=POLICY))
    assert (last.state, last.attempts, last.closed_at) == (CallbackState.UNREACHED, 2, T0 + 50)
    assert last.contact is None
    stored = await log.callback("cb-0001-xyz")
    assert stored is not None
    assert stored.contact is None
    tried = await log.callback_attempts("cb-0001-xyz")
    assert [(a.staff, a.outcome, a.at) for a in tried] == [
        ("c1", Outcome.NOT_REACHED, T0 + 30), ("c2", Outcome.NOT_REACHED, T0 + 50)]


async def test_the_worklist_is_unsettled_requests_by_deadline(log: ContactLog) -> None:
    for n, deadline in ((1, T0 + 500), (2, T0 + 100), (3, T0 + 300)):
        await log.add_callback(request(n, deadline=deadline))
    await log.add_callback(request(4, team="t2", deadline=T0 + 50))
    await log.change_callback("cb-0003-xyz", partial(cb.cancel, now=T0 + 5))
    assert [r.id for r in await log.unsettled_callbacks(frozenset({"t1"}))] == [
        "cb-0002-xyz", "cb-0001-xyz"]
    assert [r.id for r in await log.unsettled_callbacks()] == [
        "cb-0004-xyz", "cb-0002-xyz", "cb-0001-xyz"]
    closed = await log.callbacks_closed(T0, T0 + 10)
    assert [r.id for r in closed] == ["cb-0003-xyz"]
    assert await log.callbacks_closed(T0, T0 + 10, frozenset({"t2"})) == []


async def test_a_call_is_found_by_its_session(log: ContactLog) -> None:
    await log.add_callback(request(reach=Reach.VIDEO))
    await log.change_callback("cb-0001-xyz", claim_by("c1"))
    await log.change_callback("cb-0001-xyz", partial(
        cb.start, staff=StaffId("c1"), session=SessionId("s-1"), now=T0 + 15))
    found = await log.callback_of_session("s-1")
    assert found is not None
    assert found.id == "cb-0001-xyz"
    assert await log.callback_of_session("s-2") is None


async def test_retention_deletes_settled_requests_only(log: ContactLog) -> None:
    await log.add_callback(request(1))
    await log.add_callback(request(2))
    await log.change_callback("cb-0002-xyz", claim_by("c1"))
    await log.change_callback("cb-0002-xyz", partial(
        cb.attempt, staff=StaffId("c1"), outcome=Outcome.REACHED, now=T0 + 60, p=POLICY))
    assert await log.purge_callbacks(T0 + 30) == 0  # settled after the cut-off: kept
    assert await log.purge_callbacks(T0 + 61) == 1
    assert await log.callback("cb-0002-xyz") is None
    assert await log.callback_attempts("cb-0002-xyz") == []
    assert await log.callback("cb-0001-xyz") is not None  # open: never purged


async def test_drop_in_waits_are_kept_for_reports_and_go_with_retention(
        log: ContactLog) -> None:
    waits = [Wait("t1", "benefits", "de", T0, T0 + 30, True),
             Wait("t2", "general", "tr", T0 + 5, T0 + 90, False)]
    for w in waits:
        await log.add_wait(w)
    assert await log.waits(T0, T0 + 100) == waits
    assert await log.waits(T0, T0 + 100, frozenset({"t2"})) == waits[1:]
    assert await log.waits(T0 + 31, T0 + 100) == waits[1:]
    await log.purge_callbacks(T0 + 60)
    assert await log.waits(T0, T0 + 100) == waits[1:]
