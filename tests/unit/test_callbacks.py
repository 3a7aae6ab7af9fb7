"""The steps of a callback request, without a database: claims and their leases, calls,
attempts, withdrawal; numbers as people type them; the supervisors' figures."""

from __future__ import annotations

from dataclasses import replace
from zoneinfo import ZoneInfo

import pytest

from broker import callbacks as cb
from broker.callbacks import CallbackPolicy, CallbackRequest, CallbackState, Outcome, Reach, Source
from broker.errors import BadInput, BrokerError, ErrorCode
from broker.types import SessionId, StaffId, TeamId

T0 = 1_790_000_000.0  # 2026-09-21 ... (a Monday), UTC
P = CallbackPolicy(max_attempts=3, claim_seconds=100.0)
A, B = StaffId("a"), StaffId("b")
S1 = SessionId("s1")


def fresh(**changes: object) -> CallbackRequest:
    r = CallbackRequest(id="r1", team=TeamId("t1"), topic="benefits", language="de",
                        urgent=False, reach=Reach.PHONE, contact="sealed", window_from=None,
                        window_to=None, source=Source.ENTRY, created_at=T0,
                        deadline=T0 + 86400)
    return replace(r, **changes)  # type: ignore[arg-type]


def test_a_claim_is_a_lease() -> None:
    r = cb.claim(fresh(), A, T0, P).request
    assert (r.state, r.claimed_by, r.claim_until) == (CallbackState.CLAIMED, A, T0 + 100)
    with pytest.raises(cb.Taken):
        cb.claim(r, B, T0 + 99.9, P)
    assert cb.claim(r, A, T0 + 50, P).request.claim_until == T0 + 150  # renewed
    taken = cb.claim(r, B, T0 + 100, P).request  # ran out: anyone may take it
    assert taken.claimed_by == B
    with pytest.raises(cb.Taken):
        cb.release(taken, A, T0 + 101)


def test_a_call_holds_the_claim_until_it_ends() -> None:
    r = cb.claim(fresh(), A, T0, P).request
    r = cb.start(r, A, S1, T0 + 10).request
    assert r.held_by(A, T0 + 10_000)  # long past the lease: the call holds it
    with pytest.raises(cb.Taken):
        cb.claim(r, B, T0 + 10_000, P)
    with pytest.raises(BrokerError) as busy:
        cb.start(r, A, SessionId("s2"), T0 + 20)
    assert busy.value.code is ErrorCode.CONFLICT
    with pytest.raises(BrokerError):
        cb.release(r, A, T0 + 20)


def test_the_end_of_a_call_settles_once() -> None:
    r = cb.start(cb.claim(fresh(), A, T0, P).request, A, S1, T0 + 10).request
    reached = cb.attempt(r, A, Outcome.REACHED, T0 + 400, P, session=S1)
    assert reached.attempt is not None
    assert (reached.request.state, reached.request.contact) == (CallbackState.DONE, None)
    # the counsellor had recorded not reached already: the call's end changes nothing
    tried = cb.attempt(r, A, Outcome.NOT_REACHED, T0 + 300, P).request
    assert cb.attempt(tried, A, Outcome.NOT_REACHED, T0 + 400, P, session=S1).attempt is None


def test_failed_attempts_add_up_to_unreached() -> None:
    r = fresh()
    for n in (1, 2):
        r = cb.claim(r, A, T0 + n, P).request
        r = cb.attempt(r, A, Outcome.NOT_REACHED, T0 + n, P).request
        assert (r.state, r.attempts, r.claimed_by) == (CallbackState.OPEN, n, None)
    r = cb.claim(r, B, T0 + 3, P).request
    last = cb.attempt(r, B, Outcome.NOT_REACHED, T0 + 3, P).request
    assert (last.state, last.attempts, last.contact) == (CallbackState.UNREACHED, 3, None)
    wrong = cb.attempt(cb.claim(fresh(), A, T0, P).request, A, Outcome.WRONG_NUMBER, T0, P)
    assert (wrong.request.state, wrong.request.attempts) == (CallbackState.UNREACHED, 1)
    with pytest.raises(cb.Settled) as settled:
        cb.claim(last, A, T0 + 4, P)
    assert settled.value.code is ErrorCode.CALLBACK_SETTLED


def test_only_the_holder_records_attempts() -> None:
    r = cb.claim(fresh(), A, T0, P).request
    with pytest.raises(cb.Taken):
        cb.attempt(r, B, Outcome.REACHED, T0 + 1, P)
    with pytest.raises(cb.Taken):
        cb.attempt(fresh(), A, Outcome.REACHED, T0 + 1, P)  # never claimed


def test_withdrawal() -> None:
    r = cb.cancel(fresh(), T0 + 5).request
    assert (r.state, r.contact, r.closed_at) == (CallbackState.CANCELLED, None, T0 + 5)
    assert cb.cancel(r, T0 + 9).request == r  # once
    done = cb.attempt(cb.claim(fresh(), A, T0, P).request, A, Outcome.REACHED, T0, P).request
    assert cb.cancel(done, T0 + 9).request == done  # too late to withdraw


@pytest.mark.parametrize(("typed", "kept"), [
    ("0151 234 567 89", "015123456789"),
    ("+49 (30) 1234-567", "+49301234567"),
    ("0049 30 1234567", "+49301234567"),
    ("030/123.45.67", "0301234567"),
    (" 0221 123456 ", "0221123456"),
])
def test_numbers_as_people_type_them(typed: str, kept: str) -> None:
    assert cb.normalise_phone(typed) == kept


@pytest.mark.parametrize("typed", ["12345", "0151 abc", "", "+", "0" * 30, "++49 30 123456",
                                   "030 12\n3456", "١٢٣٤٥٦٧٨", None, 15123456789])
def test_what_is_no_number(typed: object) -> None:
    with pytest.raises(BadInput):
        cb.normalise_phone(typed)


def test_a_masked_number_does_not_give_it_away() -> None:
    assert cb.mask_phone("+49301234567") == "+493…67"
    assert cb.mask_phone("012345") == "…"


def test_figures_per_team() -> None:
    tz = ZoneInfo("UTC")
    now = T0 + 12 * 3600  # noon
    rows = [
        fresh(deadline=now - 1),  # overdue
        fresh(id="r2", deadline=now + 3600),  # due today
        fresh(id="r3", deadline=now + 86400, topic="general"),  # tomorrow
        cb.claim(fresh(id="r4", deadline=now + 86400), A, now - 10, P).request,
        cb.claim(fresh(id="r5", deadline=now + 86400), A, now - 500, P).request,  # ran out
        cb.cancel(fresh(id="r6"), now).request,  # settled: not counted
        fresh(id="r7", team=TeamId("t2")),
    ]
    out = cb.figures(rows, now, tz)
    assert out["t1"] == {"open": 5, "claimed": 1, "due_today": 1, "overdue": 1,
                         "topics": {"benefits": 4, "general": 1}}
    assert out["t2"]["open"] == 1
