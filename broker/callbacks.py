"""Callback requests (Rückrufbitten): what a customer asked for, and every step that settles
it. Pure: the service gives the time, the contact log keeps the rows.

A request is `open` until a counsellor claims it. A claim is a lease: a counsellor who
claims and then goes home gives it back when the lease runs out, so nobody who asked is
forgotten. Each attempt is recorded; reaching the customer settles the request as `done`,
a wrong number or too many failed attempts as `unreached`, the customer's own withdrawal as
`cancelled`. A settled request forgets how to reach the customer (the phone number).

Every change goes through one function here that takes the row as it is in the database,
under its row lock, and returns the row as it must become: two counsellors claiming at
once are ordered by the database, and the second sees the first's claim.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from broker.errors import BadInput, BrokerError, ErrorCode
from broker.types import SessionId, StaffId, TeamId


class Reach(StrEnum):
    """How the customer wants to be called back."""

    PHONE = "phone"  # a number, called by the counsellor
    VIDEO = "video"  # their personal link's page rings


class CallbackState(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    DONE = "done"
    UNREACHED = "unreached"
    CANCELLED = "cancelled"

    @property
    def settled(self) -> bool:
        return self in (CallbackState.DONE, CallbackState.UNREACHED, CallbackState.CANCELLED)


class Outcome(StrEnum):
    REACHED = "reached"
    NOT_REACHED = "not_reached"
    WRONG_NUMBER = "wrong_number"


class Source(StrEnum):
    ENTRY = "entry"  # the team's entry page, by choice
    OVERFLOW = "overflow"  # the entry page, because waiting was not possible or too long
    API = "api"  # a contact form, a terminal in the building, a counsellor on the phone


@dataclass(frozen=True, slots=True)
class CallbackPolicy:
    max_attempts: int = 3  # failed attempts before a request closes as unreached
    claim_seconds: float = 1800.0  # a claim without an attempt returns to the list then
    keep_link_days: float = 7.0  # the personal link outlives its deadline by this much


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    """One request as stored. `contact` is how to reach the customer as the service keeps
    it (a sealed phone number; None for a video callback or once settled)."""

    id: str
    team: TeamId
    topic: str
    language: str
    urgent: bool
    reach: Reach
    contact: str | None
    window_from: float | None  # the customer's preferred time, if they gave one
    window_to: float | None
    source: Source
    created_at: float
    deadline: float
    state: CallbackState = CallbackState.OPEN
    claimed_by: StaffId | None = None
    claim_until: float | None = None
    attempts: int = 0  # failed ones (not reached, wrong number)
    session_id: SessionId | None = None  # the call started for the current claim
    closed_at: float | None = None
    outcome: Outcome | None = None  # of the last attempt

    def claimable(self, now: float) -> bool:
        """Open, or claimed by somebody whose lease ran out without a call going on."""
        if self.state is CallbackState.OPEN:
            return True
        return (self.state is CallbackState.CLAIMED and self.session_id is None
                and self.claim_until is not None and self.claim_until <= now)

    def held_by(self, staff: StaffId, now: float) -> bool:
        return (self.state is CallbackState.CLAIMED and self.claimed_by == staff
                and (self.session_id is not None
                     or (self.claim_until is not None and self.claim_until > now)))


@dataclass(frozen=True, slots=True)
class Attempt:
    callback_id: str
    at: float
    staff: StaffId
    outcome: Outcome
    session_id: SessionId | None


@dataclass(frozen=True, slots=True)
class Change:
    """What one step does to a row: the row as it becomes, and the attempt it records."""

    request: CallbackRequest
    attempt: Attempt | None = None


class Taken(BrokerError):
    def __init__(self, message: str = "another counsellor has claimed this callback") -> None:
        super().__init__(ErrorCode.CALLBACK_TAKEN, message)


class Settled(BrokerError):
    def __init__(self, state: CallbackState) -> None:
        super().__init__(ErrorCode.CALLBACK_SETTLED, f"this callback is settled ({state})")
        self.state = state


# ---------------------------------------------------------------- the steps


def claim(r: CallbackRequest, staff: StaffId, now: float, p: CallbackPolicy) -> Change:
    """Exactly one counsellor holds a request; claiming one's own again renews the lease."""
    _unsettled(r)
    if r.held_by(staff, now):
        if r.session_id is not None:
            return Change(r)
        return Change(replace(r, claim_until=now + p.claim_seconds))
    if not r.claimable(now):
        raise Taken()
    return Change(replace(r, state=CallbackState.CLAIMED, claimed_by=staff,
                          claim_until=now + p.claim_seconds, session_id=None))


def release(r: CallbackRequest, staff: StaffId, now: float) -> Change:
    """The counsellor gives the request back untried (not with a call going on)."""
    _unsettled(r)
    _held(r, staff, now)
    if r.session_id is not None:
        raise BrokerError(ErrorCode.CONFLICT, "end the callback's call first")
    return Change(replace(r, state=CallbackState.OPEN, claimed_by=None, claim_until=None))


def start(r: CallbackRequest, staff: StaffId, session: SessionId, now: float) -> Change:
    """A call starts for the claim: it holds the request until the call ends."""
    _unsettled(r)
    _held(r, staff, now)
    if r.session_id is not None:
        raise BrokerError(ErrorCode.CONFLICT, "a call for this callback is going on")
    return Change(replace(r, session_id=session))


def attempt(r: CallbackRequest, staff: StaffId, outcome: Outcome, now: float,
            p: CallbackPolicy, *, session: SessionId | None = None) -> Change:
    """An attempt by the claimer. `session`: the attempt is the end of that call (told by
    the broker, not the counsellor: it is settled only if that call is still the one)."""
    _unsettled(r)
    if session is not None:
        if r.session_id != session:
            return Change(r)  # that call's attempt was recorded already
    else:
        _held(r, staff, now)
    done = Attempt(r.id, now, staff, outcome, r.session_id)
    if outcome is Outcome.REACHED:
        return Change(_settle(r, CallbackState.DONE, outcome, now), done)
    failed = r.attempts + 1
    if outcome is Outcome.WRONG_NUMBER or failed >= p.max_attempts:
        return Change(replace(_settle(r, CallbackState.UNREACHED, outcome, now),
                              attempts=failed), done)
    return Change(replace(r, state=CallbackState.OPEN, claimed_by=None, claim_until=None,
                          session_id=None, attempts=failed, outcome=outcome), done)


def cancel(r: CallbackRequest, now: float) -> Change:
    """The customer withdraws (from their personal link); a call going on is not stopped."""
    if r.state.settled:
        return Change(r)
    return Change(_settle(r, CallbackState.CANCELLED, None, now))


def _settle(r: CallbackRequest, state: CallbackState, outcome: Outcome | None,
            now: float) -> CallbackRequest:
    return replace(r, state=state, contact=None, closed_at=now, claim_until=None,
                   outcome=outcome if outcome is not None else r.outcome)


def _unsettled(r: CallbackRequest) -> None:
    if r.state.settled:
        raise Settled(r.state)


def _held(r: CallbackRequest, staff: StaffId, now: float) -> None:
    if not r.held_by(staff, now):
        raise Taken("claim this callback first (or your claim ran out)")


# ---------------------------------------------------------------- input

_PHONE_CHARS = re.compile(r"[0-9 ()/.\-]+")


def normalise_phone(raw: object) -> str:
    """A German or international number as people write it ("0151 234 567 89",
    "+49 (30) 1234-567"): `+` and digits only, or a clear error."""
    if not isinstance(raw, str) or len(raw) > 40:
        raise BadInput("phone must be a telephone number")
    text = raw.strip()
    plus = text.startswith("+")
    body = text[1:] if plus else text
    if not body or not _PHONE_CHARS.fullmatch(body):
        raise BadInput("phone may hold digits, spaces and + ( ) / - . only")
    digits = "".join(ch for ch in body if ch.isdigit())
    if text.startswith("00"):
        plus, digits = True, digits[2:]
    if not plus and not digits.startswith("0"):
        raise BadInput("phone must start with 0 (a German number) or + (international)")
    if not 6 <= len(digits) <= 17:
        raise BadInput("phone must have 6 to 17 digits")
    return ("+" if plus else "") + digits


def mask_phone(phone: str) -> str:
    """What a counsellor sees before claiming: enough to recognise a repeated request,
    not enough to call."""
    return phone[:4] + "…" + phone[-2:] if len(phone) > 6 else "…"


# ---------------------------------------------------------------- figures


def figures(requests: Iterable[CallbackRequest], now: float, tz: ZoneInfo
            ) -> dict[str, dict[str, int]]:
    """Per team: requests not settled, those due by the end of today (local), and those
    overdue (`topics`: the open ones by topic)."""
    today = datetime.fromtimestamp(now, tz).date()
    out: dict[str, dict[str, Any]] = {}
    for r in requests:
        if r.state.settled:
            continue
        f = out.setdefault(r.team, {"open": 0, "claimed": 0, "due_today": 0, "overdue": 0,
                                    "topics": {}})
        f["open"] += 1
        if r.state is CallbackState.CLAIMED and not r.claimable(now):
            f["claimed"] += 1
        if r.deadline <= now:
            f["overdue"] += 1
        elif datetime.fromtimestamp(r.deadline, tz).date() <= today:
            f["due_today"] += 1
        f["topics"][r.topic] = f["topics"].get(r.topic, 0) + 1
    return out
