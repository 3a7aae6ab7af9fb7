"""A counselling session: its states, its one transition table, and its deadlines.

Everything that changes a session's state lives in this file. `Session.handle(event, now)`
takes an input and the time and returns effects; `next_deadline()` says when the session
next wants a `Tick`. No I/O and no clock: the service in `broker.service` drives it, and the
unit tests drive it with a hand-moved clock.

Handlers check everything before they change anything, so an input that raises leaves the
session exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from broker import ladder
from broker.errors import BrokerError, ErrorCode, InvalidTransition
from broker.events import (
    Admit,
    Audience,
    Cancel,
    Capabilities,
    Closed,
    CustomerJoined,
    Disconnected,
    Effect,
    End,
    Input,
    Interrupt,
    Leave,
    MediaReported,
    Notify,
    PhoneConnected,
    Reconnected,
    RevokeLink,
    SwitchChannel,
    Tick,
)
from broker.types import (
    Channel,
    CustomerRef,
    EndReason,
    Kind,
    Role,
    SessionId,
    StaffId,
    State,
    TeamId,
)

# What a counsellor may give as the outcome of a call they end.
OUTCOMES = (EndReason.COMPLETED, EndReason.CONNECTION_FAILED, EndReason.CUSTOMER_LEFT)


@dataclass(frozen=True, slots=True)
class Policy:
    """Timers, configurable per deployment (and shortened in tests)."""

    grace_seconds: float = 30.0
    no_show_after_seconds: float = 900.0


@dataclass(slots=True)
class Segment:
    channel: Channel
    start: float
    end: float | None = None

    def seconds(self, now: float) -> float:
        return max(0.0, (self.end if self.end is not None else now) - self.start)


@dataclass(slots=True)
class Presence:
    """Whether a party's signalling connection is up; `gone_since` starts its grace period."""

    connected: bool = False
    gone_since: float | None = None


@dataclass(slots=True)
class Session:
    id: SessionId
    team: TeamId
    counsellor: StaffId
    customer_ref: CustomerRef
    planned_start: float
    planned_channel: Channel
    created_at: float
    kind: Kind = Kind.SCHEDULED
    access_code: str = field(default="", repr=False)
    policy: Policy = field(default_factory=Policy)

    state: State = State.SCHEDULED
    version: int = 0
    last_event_at: float = 0.0
    # the customer, as announced on join (display name and language are live state only)
    display_name: str = field(default="", repr=False)
    language: str = "de"
    customer_caps: Capabilities = field(default_factory=Capabilities)
    counsellor_caps: Capabilities = field(default_factory=Capabilities)
    customer: Presence = field(default_factory=Presence)
    staff: Presence = field(default_factory=Presence)
    # timeline
    joined_at: float | None = None
    admitted_at: float | None = None
    media_connected_at: float | None = None
    ended_at: float | None = None
    end_reason: EndReason | None = None
    # channels
    channel: Channel | None = None
    media_up: bool = False
    fallback_used: bool = False
    fallback_offered: bool = False  # the phone was proposed after a failure, not yet answered
    segments: list[Segment] = field(default_factory=list)
    # the customer link: tokens of an older generation are revoked
    link_generation: int = 0
    code_nonce: int = 0

    # ------------------------------------------------------------ driving

    def handle(self, event: Input, now: float) -> list[Effect]:
        """Apply one input at time `now`; return what the adapters must do."""
        if self.state.terminal:
            raise BrokerError(ErrorCode.SESSION_ENDED, f"session has {self.state}")
        handler = _TRANSITIONS.get((self.state, type(event)))
        if handler is None:
            raise InvalidTransition(str(self.state), type(event).__name__)
        effects = handler(self, event, now)
        self.version += 1
        self.last_event_at = now
        return effects

    def next_deadline(self) -> float | None:
        """When this session next needs a `Tick`, or None."""
        if self.state is State.SCHEDULED:
            return self.planned_start + self.policy.no_show_after_seconds
        grace = self.policy.grace_seconds
        if self.state is State.WAITING:
            gone = self.customer.gone_since
            return None if gone is None else gone + grace
        if self.state is State.ACTIVE:
            times = [p.gone_since + grace for p in self._watched() if p.gone_since is not None]
            return min(times) if times else None
        return None

    # ------------------------------------------------------------ views

    @property
    def open_segment(self) -> Segment | None:
        if self.segments and self.segments[-1].end is None:
            return self.segments[-1]
        return None

    def seconds_by_channel(self, now: float | None = None) -> dict[str, float]:
        at = now if now is not None else (self.ended_at or self.last_event_at)
        totals = {str(c): 0.0 for c in Channel}
        for seg in self.segments:
            totals[str(seg.channel)] += seg.seconds(at)
        return totals

    def view(self, role: Role) -> dict[str, Any]:
        """What a participant is told about the session when it (re)connects."""
        data: dict[str, Any] = {
            "session": self.id,
            "state": str(self.state),
            "channel": None if self.channel is None else str(self.channel),
            "planned_channel": str(self.planned_channel),
            "planned_start": self.planned_start,
            "media_up": self.media_up,
            "end_reason": None if self.end_reason is None else str(self.end_reason),
        }
        if role is Role.CUSTOMER:
            data["counsellor_present"] = self.staff.connected
            # the customer holds the link, which is worth as much: the page can always
            # offer the phone (hotline + this PIN), even before admission
            data["pin"] = self.access_code
        else:
            data["customer_present"] = self.customer.connected
            data["customer"] = self._customer_card() if self.joined_at is not None else None
            data["access_code"] = self.access_code
            data["team"] = self.team
            data["customer_ref"] = self.customer_ref
            data["kind"] = str(self.kind)
        return data

    def _customer_card(self) -> dict[str, Any]:
        return {
            "name": self.display_name,
            "language": self.language,
            "capabilities": self.customer_caps.to_dict(),
            "waiting_since": self.joined_at,
        }

    # ------------------------------------------------------------ helpers

    def _close_segment(self, now: float) -> None:
        seg = self.open_segment
        if seg is not None:
            seg.end = now

    def _open_segment(self, now: float) -> None:
        assert self.channel is not None
        assert self.open_segment is None
        self.segments.append(Segment(self.channel, now))
        if self.media_connected_at is None:
            self.media_connected_at = now

    def _set_channel(self, to: Channel) -> None:
        self.channel = to
        if to.rank > self.planned_channel.rank:
            self.fallback_used = True

    def _finish(self, state: State, reason: EndReason, now: float) -> list[Effect]:
        self._close_segment(now)
        self.state = state
        self.end_reason = reason
        self.ended_at = now
        self.media_up = False
        ended = {"session": self.id, "reason": str(reason)}
        return [Notify("both", "ended", ended), Closed()]

    def _channel_notice(self, by: Role) -> Notify:
        data: dict[str, Any] = {
            "session": self.id,
            "channel": str(self.channel),
            "by": str(by),
            "segment_open": self.open_segment is not None,
        }
        if self.channel is Channel.PHONE:
            data["pin"] = self.access_code
        return Notify("both", "channel", data)

    def _watched(self) -> tuple[Presence, ...]:
        """Whose signalling connection keeps an active session alive. A customer on the
        phone leaves the browser (often the same mobile phone): only the counsellor counts."""
        if self.channel is Channel.PHONE:
            return (self.staff,)
        return (self.customer, self.staff)

    def _presence(self, role: Role) -> Presence:
        return self.customer if role is Role.CUSTOMER else self.staff


# ---------------------------------------------------------------- handlers
# Each takes (session, event, now) and returns effects. Check first, then change.


def _join(s: Session, ev: CustomerJoined, now: float) -> list[Effect]:
    s.customer_caps = ev.capabilities
    s.language = ev.language
    s.display_name = ev.display_name
    s.customer = Presence(connected=True)
    if s.state is State.ACTIVE:  # re-announce after a reconnect: nothing else changes
        return [Notify("counsellor", "peer_presence", _presence_data(s, Role.CUSTOMER))]
    if s.joined_at is None:
        s.joined_at = now
    s.state = State.WAITING
    card = {"session": s.id, **s._customer_card()}
    return [Notify("counsellor", "customer_waiting", card)]


def _admit(s: Session, ev: Admit, now: float) -> list[Effect]:
    if not s.customer.connected:
        raise BrokerError(ErrorCode.CONFLICT, "the customer is not connected right now")
    s.counsellor_caps = ev.counsellor_capabilities
    s.state = State.ACTIVE
    s.admitted_at = now
    s.staff = Presence(connected=True)
    s._set_channel(ladder.propose(s.planned_channel, s.counsellor_caps, s.customer_caps))
    start = {"session": s.id, "proposed_channel": str(s.channel)}
    effects: list[Effect] = [
        Notify("counsellor", "start", {**start, "initiator": True, "peer": "customer"}),
        Notify("customer", "start", {**start, "initiator": False, "peer": "counsellor"}),
    ]
    if s.channel is Channel.PHONE:
        effects.append(s._channel_notice(Role.COUNSELLOR))
    return effects


def _media(s: Session, ev: MediaReported, now: float) -> list[Effect]:
    data = {"session": s.id, "role": str(ev.role), "connected": ev.connected}
    note = Notify(_other(ev.role), "media_state", data)
    if s.channel is None or not s.channel.webrtc:
        return [note]  # a late report from a peer connection we have already left
    if ev.connected:
        s.media_up = True
        s.fallback_offered = False
        if s.open_segment is None:
            s._open_segment(now)
        return [note]
    if s.fallback_offered:
        return [note]  # the other side's report of the same failure
    s.media_up = False
    s.fallback_offered = True
    s._close_segment(now)
    proposal = {"session": s.id, "to": str(Channel.PHONE), "reason": "media_failed"}
    return [note, Notify("both", "fallback_proposed", proposal)]


def _switch(s: Session, ev: SwitchChannel, now: float) -> list[Effect]:
    assert s.channel is not None
    if ev.to is s.channel:
        return []
    refusal = ladder.may_switch(ev.role, s.channel, ev.to, s.counsellor_caps, s.customer_caps)
    if refusal is not None:
        raise BrokerError(ErrorCode.CHANNEL_NOT_ALLOWED, refusal)
    if ev.to.webrtc and not s.customer.connected:
        # from the phone back to the browser: only if the customer's page is there
        raise BrokerError(ErrorCode.CONFLICT, "the customer's page is not connected right now")
    was_webrtc_up = s.channel.webrtc and s.media_up
    s.fallback_offered = False
    s._close_segment(now)
    s._set_channel(ev.to)
    if ev.to.webrtc and was_webrtc_up:
        s._open_segment(now)  # same peer connection, tracks toggled: no gap
    elif not ev.to.webrtc:
        s.media_up = False  # the phone segment opens when the phone leg is up
    return [s._channel_notice(ev.role)]


def _phone_connected(s: Session, ev: PhoneConnected, now: float) -> list[Effect]:
    if s.channel is Channel.PHONE and s.open_segment is not None:
        return []  # already running
    if s.channel is not Channel.PHONE:  # the customer dialled in without a switch first
        _switch(s, SwitchChannel(Role.COUNSELLOR, Channel.PHONE), now)
    s._open_segment(now)
    return [s._channel_notice(Role.COUNSELLOR)]


def _phone_first(s: Session, ev: PhoneConnected, now: float) -> list[Effect]:
    """The counsellor reached the customer by telephone before any browser call (a
    callback by phone, or a customer whose page never got far): the call begins there,
    and the counsellor's word is the admission."""
    s.state = State.ACTIVE
    s.admitted_at = now
    s.staff = Presence(connected=True)
    s._set_channel(Channel.PHONE)
    s._open_segment(now)
    start = {"session": s.id, "proposed_channel": str(Channel.PHONE)}
    return [
        Notify("counsellor", "start", {**start, "initiator": True, "peer": "customer"}),
        Notify("customer", "start", {**start, "initiator": False, "peer": "counsellor"}),
        s._channel_notice(Role.COUNSELLOR),
    ]


def _disconnected(s: Session, ev: Disconnected, now: float) -> list[Effect]:
    p = s._presence(ev.role)
    if not p.connected:
        return []
    p.connected = False
    p.gone_since = now
    return _peer_notice(s, ev.role)


def _reconnected(s: Session, ev: Reconnected, now: float) -> list[Effect]:
    p = s._presence(ev.role)
    was = p.connected
    p.connected = True
    p.gone_since = None
    return [] if was else _peer_notice(s, ev.role)


def _leave_waiting(s: Session, ev: Leave, now: float) -> list[Effect]:
    s.state = State.SCHEDULED
    return [Notify("counsellor", "customer_left", {"session": s.id})]


def _leave_call(s: Session, ev: Leave, now: float) -> list[Effect]:
    return s._finish(State.ENDED, EndReason.CUSTOMER_LEFT, now)


def _end(s: Session, ev: End, now: float) -> list[Effect]:
    if ev.reason not in OUTCOMES:
        raise BrokerError(ErrorCode.BAD_REQUEST, f"{ev.reason} is not an outcome to end with")
    return s._finish(State.ENDED, ev.reason, now)


def _cancel(s: Session, ev: Cancel, now: float) -> list[Effect]:
    return s._finish(State.CANCELLED, EndReason.CANCELLED, now)


def _revoke_link(s: Session, ev: RevokeLink, now: float) -> list[Effect]:
    """Older links and the old code stop working; the adapter turns their sockets away."""
    s.link_generation += 1
    s.code_nonce = ev.code_nonce
    if ev.access_code:
        s.access_code = ev.access_code
    return []


def _interrupt(s: Session, ev: Interrupt, now: float) -> list[Effect]:
    return s._finish(State.ENDED, EndReason.INTERRUPTED, ev.at)


def _tick_scheduled(s: Session, ev: Tick, now: float) -> list[Effect]:
    deadline = s.next_deadline()
    if deadline is None or now < deadline:
        return []
    if s.joined_at is not None:  # came, left the waiting room, never came back
        return s._finish(State.ENDED, EndReason.CUSTOMER_LEFT, now)
    return s._finish(State.NO_SHOW, EndReason.NO_SHOW, now)


def _tick_waiting(s: Session, ev: Tick, now: float) -> list[Effect]:
    deadline = s.next_deadline()
    if deadline is None or now < deadline:
        return []
    s.customer = Presence()  # gone for good; a new connect starts afresh
    return _leave_waiting(s, Leave(), now)


def _tick_active(s: Session, ev: Tick, now: float) -> list[Effect]:
    grace = s.policy.grace_seconds
    watched = s._watched()
    gone = {
        role: p.gone_since + grace <= now
        for role, p in ((Role.CUSTOMER, s.customer), (Role.COUNSELLOR, s.staff))
        if p.gone_since is not None and p in watched
    }
    # a late tick (a process that was down, a busy loop) ends the call when its grace ran
    # out, not later: the record must not count time nobody was there
    deadline = s.next_deadline()
    at = now if deadline is None else max(s.last_event_at, min(now, deadline))
    if gone.get(Role.CUSTOMER) and not gone.get(Role.COUNSELLOR):
        # the counsellor is still here (or within grace): the customer has gone
        return s._finish(State.ENDED, EndReason.CUSTOMER_LEFT, at)
    if any(gone.values()):
        return s._finish(State.ENDED, EndReason.TIMEOUT, at)
    return []


def _other(role: Role) -> Audience:
    return "counsellor" if role is Role.CUSTOMER else "customer"


def _peer_notice(s: Session, role: Role) -> list[Effect]:
    return [Notify(_other(role), "peer_presence", _presence_data(s, role))]


def _presence_data(s: Session, role: Role) -> dict[str, Any]:
    return {"session": s.id, "role": str(role), "present": s._presence(role).connected}


Handler = Callable[[Session, Any, float], list[Effect]]

_S, _W, _A = State.SCHEDULED, State.WAITING, State.ACTIVE

# The whole state machine. A (state, input) pair missing here raises InvalidTransition.
_TRANSITIONS: dict[tuple[State, type], Handler] = {
    (_S, CustomerJoined): _join,
    (_S, Disconnected): _disconnected,
    (_S, Reconnected): _reconnected,
    (_S, Cancel): _cancel,
    (_S, RevokeLink): _revoke_link,
    (_S, Tick): _tick_scheduled,
    (_S, PhoneConnected): _phone_first,
    (_W, CustomerJoined): _join,
    (_W, Admit): _admit,
    (_W, Disconnected): _disconnected,
    (_W, Reconnected): _reconnected,
    (_W, Leave): _leave_waiting,
    (_W, Cancel): _cancel,
    (_W, RevokeLink): _revoke_link,
    (_W, Tick): _tick_waiting,
    (_W, PhoneConnected): _phone_first,
    (_A, CustomerJoined): _join,
    (_A, MediaReported): _media,
    (_A, SwitchChannel): _switch,
    (_A, PhoneConnected): _phone_connected,
    (_A, Disconnected): _disconnected,
    (_A, Reconnected): _reconnected,
    (_A, Leave): _leave_call,
    (_A, End): _end,
    (_A, Tick): _tick_active,
    (_A, Interrupt): _interrupt,
    (_A, RevokeLink): _revoke_link,
}


# ---------------------------------------------------------------- persistence shape


def session_to_dict(s: Session) -> dict[str, Any]:
    """A JSON-ready copy of the live state (for the Redis store and for cloning)."""
    return {
        "id": s.id, "team": s.team, "counsellor": s.counsellor,
        "customer_ref": s.customer_ref, "planned_start": s.planned_start,
        "planned_channel": str(s.planned_channel), "created_at": s.created_at,
        "kind": str(s.kind), "access_code": s.access_code, "state": str(s.state),
        "version": s.version, "last_event_at": s.last_event_at,
        "display_name": s.display_name, "language": s.language,
        "customer_caps": s.customer_caps.to_dict(),
        "counsellor_caps": s.counsellor_caps.to_dict(),
        "customer": [s.customer.connected, s.customer.gone_since],
        "staff": [s.staff.connected, s.staff.gone_since],
        "joined_at": s.joined_at, "admitted_at": s.admitted_at,
        "media_connected_at": s.media_connected_at, "ended_at": s.ended_at,
        "end_reason": None if s.end_reason is None else str(s.end_reason),
        "channel": None if s.channel is None else str(s.channel),
        "media_up": s.media_up, "fallback_used": s.fallback_used,
        "fallback_offered": s.fallback_offered,
        "segments": [[str(g.channel), g.start, g.end] for g in s.segments],
        "link_generation": s.link_generation, "code_nonce": s.code_nonce,
    }


def session_from_dict(d: dict[str, Any], policy: Policy) -> Session:
    return Session(
        id=SessionId(d["id"]), team=TeamId(d["team"]), counsellor=StaffId(d["counsellor"]),
        customer_ref=CustomerRef(d["customer_ref"]), planned_start=d["planned_start"],
        planned_channel=Channel(d["planned_channel"]), created_at=d["created_at"],
        kind=Kind(d["kind"]), access_code=d["access_code"], policy=policy,
        state=State(d["state"]), version=d["version"], last_event_at=d["last_event_at"],
        display_name=d["display_name"], language=d["language"],
        customer_caps=Capabilities.from_dict(d["customer_caps"]),
        counsellor_caps=Capabilities.from_dict(d["counsellor_caps"]),
        customer=Presence(*d["customer"]), staff=Presence(*d["staff"]),
        joined_at=d["joined_at"], admitted_at=d["admitted_at"],
        media_connected_at=d["media_connected_at"], ended_at=d["ended_at"],
        end_reason=None if d["end_reason"] is None else EndReason(d["end_reason"]),
        channel=None if d["channel"] is None else Channel(d["channel"]),
        media_up=d["media_up"], fallback_used=d["fallback_used"],
        fallback_offered=d["fallback_offered"],
        segments=[Segment(Channel(c), a, b) for c, a, b in d["segments"]],
        link_generation=d["link_generation"], code_nonce=d["code_nonce"],
    )


def clone(s: Session) -> Session:
    return session_from_dict(session_to_dict(s), s.policy)
