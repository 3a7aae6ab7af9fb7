"""The session state machine, driven by a hand-moved clock: no sockets, no sleeps."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, get_args

import pytest

from broker.errors import BrokerError, ErrorCode, InvalidTransition
from broker.events import (
    Admit,
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
    input_from_log,
    input_to_log,
)
from broker.record import record_of
from broker.session import (
    _TRANSITIONS,
    Policy,
    Segment,
    Session,
    clone,
    session_from_dict,
    session_to_dict,
)
from broker.types import Channel, CustomerRef, EndReason, Role, SessionId, StaffId, State, TeamId

# ---------------------------------------------------------------- the clock and the cast

T0 = 10_000.0  # planned start
CREATED = T0 - 3600
JOINED = T0 - 60
ADMITTED = T0 + 5
CONNECTED = T0 + 8
GRACE = 30.0
NO_SHOW_AFTER = 900.0
POLICY = Policy(grace_seconds=GRACE, no_show_after_seconds=NO_SHOW_AFTER)
CODE = "123456789"

FULL = Capabilities()
NO_CAMERA = Capabilities(camera=False)
NO_WEBRTC = Capabilities(webrtc=False)


def new_session(planned: Channel = Channel.VIDEO) -> Session:
    return Session(
        id=SessionId("sess-0001"),
        team=TeamId("team-a"),
        counsellor=StaffId("c1"),
        customer_ref=CustomerRef("K-0001"),
        planned_start=T0,
        planned_channel=planned,
        created_at=CREATED,
        access_code=CODE,
        policy=POLICY,
    )


def waiting_session(caps: Capabilities = FULL, planned: Channel = Channel.VIDEO) -> Session:
    s = new_session(planned)
    s.handle(CustomerJoined(caps, "de", "Anna"), JOINED)
    return s


def active_session(
    customer: Capabilities = FULL,
    counsellor: Capabilities = FULL,
    planned: Channel = Channel.VIDEO,
    *,
    media: bool = True,
) -> Session:
    """Joined at JOINED, admitted at ADMITTED, media up at CONNECTED (when WebRTC)."""
    s = waiting_session(customer, planned)
    s.handle(Admit(counsellor), ADMITTED)
    if media and s.channel is not None and s.channel.webrtc:
        s.handle(MediaReported(Role.CUSTOMER, True), CONNECTED)
    return s


def in_state(state: State) -> Session:
    if state is State.SCHEDULED:
        return new_session()
    if state is State.WAITING:
        return waiting_session()
    s = active_session()
    if state is State.ENDED:
        s.handle(End(), T0 + 60)
    elif state is State.CANCELLED:
        s = new_session()
        s.handle(Cancel(), T0 - 100)
    elif state is State.NO_SHOW:
        s = new_session()
        s.handle(Tick(), T0 + NO_SHOW_AFTER)
    return s


def state_of(s: Session) -> State:
    """The state, read through a call so the type checker does not pin it between inputs."""
    return s.state


def segs(s: Session) -> list[tuple[Channel, float, float | None]]:
    return [(g.channel, g.start, g.end) for g in s.segments]


def notices(effects: list[Effect], event: str) -> list[Notify]:
    return [e for e in effects if isinstance(e, Notify) and e.event == event]


# one input of every type, for the tables below
SAMPLES: dict[type, Input] = {
    CustomerJoined: CustomerJoined(FULL, "de", "Anna"),
    Admit: Admit(FULL),
    MediaReported: MediaReported(Role.CUSTOMER, True),
    SwitchChannel: SwitchChannel(Role.COUNSELLOR, Channel.AUDIO),
    PhoneConnected: PhoneConnected(),
    Disconnected: Disconnected(Role.CUSTOMER),
    Reconnected: Reconnected(Role.CUSTOMER),
    Leave: Leave(),
    End: End(),
    Cancel: Cancel(),
    RevokeLink: RevokeLink(3, "123456789"),
    Tick: Tick(),
    Interrupt: Interrupt(T0 + 90),
}

NOW = T0 + 100
S, W, A = State.SCHEDULED, State.WAITING, State.ACTIVE

# (state, input, state afterwards): one row per entry of the transition table
ROWS: list[tuple[State, Input, State]] = [
    (S, SAMPLES[CustomerJoined], W),
    (S, SAMPLES[Disconnected], S),
    (S, SAMPLES[Reconnected], S),
    (S, SAMPLES[Cancel], State.CANCELLED),
    (S, SAMPLES[RevokeLink], S),
    (S, SAMPLES[Tick], S),
    (S, SAMPLES[PhoneConnected], A),
    (W, SAMPLES[CustomerJoined], W),
    (W, SAMPLES[Admit], A),
    (W, SAMPLES[Disconnected], W),
    (W, SAMPLES[Reconnected], W),
    (W, SAMPLES[Leave], S),
    (W, SAMPLES[Cancel], State.CANCELLED),
    (W, SAMPLES[RevokeLink], W),
    (W, SAMPLES[Tick], W),
    (W, SAMPLES[PhoneConnected], A),
    (A, SAMPLES[CustomerJoined], A),
    (A, SAMPLES[MediaReported], A),
    (A, SAMPLES[SwitchChannel], A),
    (A, SAMPLES[PhoneConnected], A),
    (A, SAMPLES[Disconnected], A),
    (A, SAMPLES[Reconnected], A),
    (A, SAMPLES[Leave], State.ENDED),
    (A, SAMPLES[End], State.ENDED),
    (A, SAMPLES[Tick], A),
    (A, SAMPLES[Interrupt], State.ENDED),
    (A, SAMPLES[RevokeLink], A),
]


def _row_id(row: tuple[State, Input, State]) -> str:
    return f"{row[0]}-{type(row[1]).__name__}"


# ---------------------------------------------------------------- the transition table


def test_samples_cover_every_input_type() -> None:
    """The tables here use one sample of every input type the core accepts."""
    assert set(SAMPLES) == set(get_args(Input))


def test_rows_cover_the_whole_transition_table() -> None:
    """Every (state, input) pair in the table is exercised by test_transition_row."""
    assert {(state, type(ev)) for state, ev, _ in ROWS} == set(_TRANSITIONS)


@pytest.mark.parametrize("row", ROWS, ids=_row_id)
def test_transition_row(row: tuple[State, Input, State]) -> None:
    """Each table row is accepted, lands in the expected state and stamps version and time."""
    state, event, expected = row
    s = in_state(state)
    version = s.version
    s.handle(event, NOW)
    assert state_of(s) is expected
    assert s.version == version + 1
    assert s.last_event_at == NOW


_IMPOSSIBLE = [
    (state, kind) for state in (S, W, A) for kind in SAMPLES if (state, kind) not in _TRANSITIONS
]


@pytest.mark.parametrize(
    ("state", "kind"), _IMPOSSIBLE, ids=[f"{s}-{k.__name__}" for s, k in _IMPOSSIBLE]
)
def test_impossible_pair_raises_invalid_transition_naming_both(state: State, kind: type) -> None:
    """A pair missing from the table raises InvalidTransition naming state and input."""
    s = in_state(state)
    before = session_to_dict(s)
    with pytest.raises(InvalidTransition) as info:
        s.handle(SAMPLES[kind], NOW)
    assert info.value.code is ErrorCode.INVALID_TRANSITION
    assert info.value.state == str(state)
    assert info.value.event == kind.__name__
    assert str(state) in info.value.message
    assert kind.__name__ in info.value.message
    assert session_to_dict(s) == before


_TERMINAL = [State.ENDED, State.CANCELLED, State.NO_SHOW]


@pytest.mark.parametrize("state", _TERMINAL, ids=str)
@pytest.mark.parametrize("kind", list(SAMPLES), ids=lambda k: k.__name__)
def test_terminal_session_refuses_everything_with_session_ended(state: State, kind: type) -> None:
    """Once final, every input is refused with SESSION_ENDED and nothing changes."""
    s = in_state(state)
    before = session_to_dict(s)
    with pytest.raises(BrokerError) as info:
        s.handle(SAMPLES[kind], NOW + 1000)
    assert info.value.code is ErrorCode.SESSION_ENDED
    assert not isinstance(info.value, InvalidTransition)
    assert session_to_dict(s) == before


def _customer_steps_up() -> tuple[Session, Input]:
    s = active_session()
    s.handle(SwitchChannel(Role.CUSTOMER, Channel.AUDIO), T0 + 50)
    return s, SwitchChannel(Role.CUSTOMER, Channel.VIDEO)


def _counsellor_steps_up_past_customer() -> tuple[Session, Input]:
    return active_session(customer=NO_CAMERA), SwitchChannel(Role.COUNSELLOR, Channel.VIDEO)


def _admit_absent_customer() -> tuple[Session, Input]:
    s = waiting_session()
    s.handle(Disconnected(Role.CUSTOMER), T0 - 10)
    return s, Admit(FULL)


def _end_with_timeout() -> tuple[Session, Input]:
    return active_session(), End(EndReason.TIMEOUT)


def _admit_scheduled() -> tuple[Session, Input]:
    return new_session(), Admit(FULL)


def _anything_after_end() -> tuple[Session, Input]:
    return in_state(State.ENDED), MediaReported(Role.CUSTOMER, True)


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        (_customer_steps_up, ErrorCode.CHANNEL_NOT_ALLOWED),
        (_counsellor_steps_up_past_customer, ErrorCode.CHANNEL_NOT_ALLOWED),
        (_admit_absent_customer, ErrorCode.CONFLICT),
        (_end_with_timeout, ErrorCode.BAD_REQUEST),
        (_admit_scheduled, ErrorCode.INVALID_TRANSITION),
        (_anything_after_end, ErrorCode.SESSION_ENDED),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)).strip("_"),
)
def test_refused_input_leaves_the_session_unchanged(setup: Any, code: ErrorCode) -> None:
    """An input that raises leaves every field, version and time included, as it was."""
    s, event = setup()
    before = session_to_dict(s)
    with pytest.raises(BrokerError) as info:
        s.handle(event, NOW)
    assert info.value.code is code
    assert session_to_dict(s) == before


# ---------------------------------------------------------------- the happy path


def test_happy_path_scheduled_waiting_active_ended_with_exact_times() -> None:
    """Join, admit, media up, end: one video segment and exact waiting and set-up times."""
    s = new_session()
    assert state_of(s) is State.SCHEDULED

    effects = s.handle(CustomerJoined(FULL, "en", "Anna"), JOINED)
    assert state_of(s) is State.WAITING
    assert s.joined_at == JOINED
    (waiting,) = notices(effects, "customer_waiting")
    assert waiting.to == "counsellor"
    assert waiting.data["name"] == "Anna"
    assert waiting.data["language"] == "en"
    assert waiting.data["waiting_since"] == JOINED

    effects = s.handle(Admit(FULL), ADMITTED)
    assert state_of(s) is State.ACTIVE
    assert s.admitted_at == ADMITTED
    assert s.channel is Channel.VIDEO
    assert s.segments == []  # nothing is timed until media flows
    starts = notices(effects, "start")
    assert {n.to: n.data["initiator"] for n in starts} == {"counsellor": True, "customer": False}
    assert all(n.data["proposed_channel"] == "video" for n in starts)

    s.handle(MediaReported(Role.COUNSELLOR, True), CONNECTED)
    s.handle(MediaReported(Role.CUSTOMER, True), CONNECTED + 0.5)  # second report: no new seg
    assert segs(s) == [(Channel.VIDEO, CONNECTED, None)]
    assert s.media_connected_at == CONNECTED

    effects = s.handle(End(), T0 + 1808)
    assert state_of(s) is State.ENDED
    assert s.end_reason is EndReason.COMPLETED
    assert s.ended_at == T0 + 1808
    assert segs(s) == [(Channel.VIDEO, CONNECTED, T0 + 1808)]
    assert effects == [
        Notify("both", "ended", {"session": "sess-0001", "reason": "completed"}),
        Closed(),
    ]

    record = record_of(s)
    assert record.waiting_seconds == 65.0
    assert record.setup_seconds == 3.0
    assert record.seconds == {"video": 1800.0, "audio": 0.0, "phone": 0.0}
    assert record.segments == ((Channel.VIDEO, CONNECTED, T0 + 1808),)
    assert record.fallback_used is False


def test_media_connected_opens_the_first_segment_and_sets_setup_time() -> None:
    """The first media-connected report opens the segment; set-up = connected - admitted."""
    s = active_session(media=False)
    assert s.open_segment is None
    effects = s.handle(MediaReported(Role.COUNSELLOR, True), ADMITTED + 2.25)
    assert s.media_up is True
    assert segs(s) == [(Channel.VIDEO, ADMITTED + 2.25, None)]
    assert s.media_connected_at == ADMITTED + 2.25
    assert effects == [
        Notify(
            "customer",
            "media_state",
            {"session": "sess-0001", "role": "counsellor", "connected": True},
        )
    ]


# ---------------------------------------------------------------- channels


def test_video_to_audio_with_media_up_opens_next_segment_without_gap() -> None:
    """Stepping video → audio on a live peer connection closes and opens at the same instant."""
    s = active_session()
    effects = s.handle(SwitchChannel(Role.CUSTOMER, Channel.AUDIO), T0 + 300)
    assert segs(s) == [(Channel.VIDEO, CONNECTED, T0 + 300), (Channel.AUDIO, T0 + 300, None)]
    assert s.media_up is True
    assert s.channel is Channel.AUDIO
    (notice,) = notices(effects, "channel")
    assert notice.to == "both"
    assert notice.data == {
        "session": "sess-0001",
        "channel": "audio",
        "by": "customer",
        "segment_open": True,
    }


def test_switch_with_media_down_opens_no_segment_until_media_connects() -> None:
    """Switching while media is down opens nothing; the next connected report does."""
    s = active_session(media=False)
    s.handle(SwitchChannel(Role.COUNSELLOR, Channel.AUDIO), T0 + 20)
    assert s.segments == []
    s.handle(MediaReported(Role.CUSTOMER, True), T0 + 25)
    assert segs(s) == [(Channel.AUDIO, T0 + 25, None)]


def test_switch_to_phone_closes_segment_and_phone_opens_only_on_phone_connected() -> None:
    """The phone segment is timed from the phone leg, not from the switch."""
    s = active_session()
    effects = s.handle(SwitchChannel(Role.COUNSELLOR, Channel.PHONE), T0 + 300)
    assert segs(s) == [(Channel.VIDEO, CONNECTED, T0 + 300)]
    assert s.open_segment is None
    assert s.media_up is False
    assert s.channel is Channel.PHONE
    (notice,) = notices(effects, "channel")
    assert notice.data["pin"] == CODE
    assert notice.data["segment_open"] is False

    s.handle(Tick(), T0 + 330)  # the dial-in takes a while: nothing is timed meanwhile
    assert s.open_segment is None

    effects = s.handle(PhoneConnected(), T0 + 360)
    assert segs(s) == [(Channel.VIDEO, CONNECTED, T0 + 300), (Channel.PHONE, T0 + 360, None)]
    assert notices(effects, "channel")[-1].data["segment_open"] is True

    s.handle(End(), T0 + 960)
    assert s.seconds_by_channel() == {"video": 292.0, "audio": 0.0, "phone": 600.0}


def test_phone_connected_without_switch_switches_implicitly() -> None:
    """A dial-in while on video closes the video segment and opens phone at the same time."""
    s = active_session()
    effects = s.handle(PhoneConnected(), T0 + 200)
    assert s.channel is Channel.PHONE
    assert s.media_up is False
    assert s.fallback_used is True
    assert segs(s) == [(Channel.VIDEO, CONNECTED, T0 + 200), (Channel.PHONE, T0 + 200, None)]
    last = notices(effects, "channel")[-1]
    assert last.data["channel"] == "phone"
    assert last.data["segment_open"] is True
    assert last.data["pin"] == CODE


def test_reached_by_phone_first_begins_the_call_on_the_phone() -> None:
    """A callback by phone: the counsellor's word that the customer answered admits them,
    and the phone segment runs from then; a planned phone call is no fallback."""
    s = new_session(planned=Channel.PHONE)
    effects = s.handle(PhoneConnected(), T0 + 40)
    assert s.state is State.ACTIVE
    assert s.admitted_at == T0 + 40
    assert segs(s) == [(Channel.PHONE, T0 + 40, None)]
    assert s.fallback_used is False
    assert notices(effects, "start")[0].data["proposed_channel"] == "phone"
    assert notices(effects, "channel")[-1].data["segment_open"] is True
    # the customer is not in the browser: only the counsellor's connection keeps it alive
    s.handle(Disconnected(Role.CUSTOMER), T0 + 50)
    s.handle(Tick(), T0 + 50 + POLICY.grace_seconds + 1)
    assert s.state is State.ACTIVE
    s.handle(End(), T0 + 340)
    assert s.seconds_by_channel() == {"video": 0.0, "audio": 0.0, "phone": 300.0}


def test_a_waiting_customer_called_instead_counts_as_a_fallback() -> None:
    """A customer waiting for a video call whom the counsellor phones instead: the phone
    is a step down from the plan."""
    s = waiting_session()
    s.handle(PhoneConnected(), T0 + 30)
    assert s.state is State.ACTIVE
    assert s.channel is Channel.PHONE
    assert s.fallback_used is True


def test_repeated_phone_connected_keeps_one_phone_segment() -> None:
    """A second PhoneConnected while the phone segment runs does not open another."""
    s = active_session()
    s.handle(PhoneConnected(), T0 + 200)
    s.handle(PhoneConnected(), T0 + 250)
    assert segs(s) == [(Channel.VIDEO, CONNECTED, T0 + 200), (Channel.PHONE, T0 + 200, None)]


def test_first_segment_may_be_phone_and_sets_setup_time() -> None:
    """Without WebRTC the customer is put on phone; set-up ends when the phone leg is up."""
    s = active_session(customer=NO_WEBRTC)
    assert s.channel is Channel.PHONE
    assert s.media_connected_at is None
    s.handle(PhoneConnected(), ADMITTED + 45)
    assert segs(s) == [(Channel.PHONE, ADMITTED + 45, None)]
    assert s.media_connected_at == ADMITTED + 45


def test_admit_onto_phone_tells_both_the_pin() -> None:
    """When the ladder proposes phone at admit, both parties get the channel notice and PIN."""
    s = waiting_session(NO_WEBRTC)
    effects = s.handle(Admit(FULL), ADMITTED)
    (notice,) = notices(effects, "channel")
    assert notice.to == "both"
    assert notice.data["channel"] == "phone"
    assert notice.data["pin"] == CODE


@pytest.mark.parametrize(
    ("start", "to"),
    [
        (Channel.VIDEO, Channel.AUDIO),
        (Channel.VIDEO, Channel.PHONE),
        (Channel.AUDIO, Channel.PHONE),
    ],
    ids=str,
)
@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.COUNSELLOR], ids=str)
def test_either_party_may_step_down(role: Role, start: Channel, to: Channel) -> None:
    """Stepping down the ladder is allowed to customer and counsellor alike."""
    s = active_session()
    if start is not Channel.VIDEO:
        s.handle(SwitchChannel(Role.COUNSELLOR, start), T0 + 40)
    s.handle(SwitchChannel(role, to), T0 + 50)
    assert s.channel is to


@pytest.mark.parametrize(
    ("start", "to"),
    [
        (Channel.AUDIO, Channel.VIDEO),
        (Channel.PHONE, Channel.VIDEO),
        (Channel.PHONE, Channel.AUDIO),
    ],
    ids=str,
)
def test_customer_may_not_step_up(start: Channel, to: Channel) -> None:
    """Only the counsellor steps back up; a customer's attempt is CHANNEL_NOT_ALLOWED."""
    s = active_session()
    s.handle(SwitchChannel(Role.CUSTOMER, start), T0 + 40)
    before = session_to_dict(s)
    with pytest.raises(BrokerError) as info:
        s.handle(SwitchChannel(Role.CUSTOMER, to), T0 + 50)
    assert info.value.code is ErrorCode.CHANNEL_NOT_ALLOWED
    assert session_to_dict(s) == before


def test_counsellor_may_step_up_when_both_devices_carry_it() -> None:
    """Phone → video by the counsellor works when both have cameras; media reopens it."""
    s = active_session()
    s.handle(SwitchChannel(Role.COUNSELLOR, Channel.PHONE), T0 + 100)
    s.handle(PhoneConnected(), T0 + 130)
    s.handle(SwitchChannel(Role.COUNSELLOR, Channel.VIDEO), T0 + 400)
    assert s.channel is Channel.VIDEO
    assert s.open_segment is None  # a fresh peer connection has to come up first
    s.handle(MediaReported(Role.CUSTOMER, True), T0 + 404)
    assert segs(s) == [
        (Channel.VIDEO, CONNECTED, T0 + 100),
        (Channel.PHONE, T0 + 130, T0 + 400),
        (Channel.VIDEO, T0 + 404, None),
    ]


@pytest.mark.parametrize(
    ("customer", "counsellor", "to", "who"),
    [
        (NO_CAMERA, FULL, Channel.VIDEO, "customer"),
        (FULL, NO_CAMERA, Channel.VIDEO, "counsellor"),
        (NO_WEBRTC, FULL, Channel.AUDIO, "customer"),
        (NO_WEBRTC, FULL, Channel.VIDEO, "customer"),
    ],
)
def test_counsellor_step_up_refused_when_a_device_cannot_carry_it(
    customer: Capabilities, counsellor: Capabilities, to: Channel, who: str
) -> None:
    """Stepping up past a device's abilities is CHANNEL_NOT_ALLOWED, naming whose device."""
    s = active_session(customer=customer, counsellor=counsellor)
    s.handle(SwitchChannel(Role.COUNSELLOR, Channel.PHONE), T0 + 100)
    with pytest.raises(BrokerError) as info:
        s.handle(SwitchChannel(Role.COUNSELLOR, to), T0 + 200)
    assert info.value.code is ErrorCode.CHANNEL_NOT_ALLOWED
    assert who in info.value.message
    assert s.channel is Channel.PHONE


def test_counsellor_may_step_up_to_what_the_customer_can_carry() -> None:
    """Customer without camera: phone → audio is fine though video would not be."""
    s = active_session(customer=NO_CAMERA)
    assert s.channel is Channel.AUDIO
    s.handle(SwitchChannel(Role.COUNSELLOR, Channel.PHONE), T0 + 100)
    s.handle(SwitchChannel(Role.COUNSELLOR, Channel.AUDIO), T0 + 200)
    assert s.channel is Channel.AUDIO


def test_switch_to_current_channel_is_a_no_op() -> None:
    """Asking for the channel already in use changes nothing and tells nobody."""
    s = active_session()
    before = session_to_dict(s)
    assert s.handle(SwitchChannel(Role.CUSTOMER, Channel.VIDEO), T0 + 60) == []
    after = session_to_dict(s)
    for key in ("version", "last_event_at"):
        before.pop(key), after.pop(key)
    assert after == before


@pytest.mark.parametrize(
    ("planned", "steps", "expected"),
    [
        (Channel.VIDEO, [], False),
        (Channel.VIDEO, [Channel.AUDIO], True),
        (Channel.VIDEO, [Channel.PHONE, Channel.VIDEO], True),  # stays true once used
        (Channel.AUDIO, [], False),
        (Channel.AUDIO, [Channel.VIDEO], False),  # stepping above the plan is no fallback
        (Channel.AUDIO, [Channel.PHONE], True),
        (Channel.PHONE, [], False),
    ],
)
def test_fallback_used_means_a_channel_poorer_than_planned(
    planned: Channel, steps: list[Channel], expected: bool
) -> None:
    """fallback_used is set when the session ever runs poorer than its planned channel."""
    s = active_session(planned=planned)
    for i, to in enumerate(steps):
        s.handle(SwitchChannel(Role.COUNSELLOR, to), T0 + 100 + i)
    assert s.fallback_used is expected


def test_fallback_used_when_admit_proposes_poorer_than_planned() -> None:
    """A customer without camera on a planned video call starts on audio: a fallback."""
    s = active_session(customer=NO_CAMERA)
    assert s.channel is Channel.AUDIO
    assert s.fallback_used is True


def test_media_failed_closes_segment_and_proposes_phone() -> None:
    """An ICE failure stops the clock on the segment and proposes the phone to both."""
    s = active_session()
    effects = s.handle(MediaReported(Role.CUSTOMER, False), T0 + 500)
    assert s.media_up is False
    assert segs(s) == [(Channel.VIDEO, CONNECTED, T0 + 500)]
    assert s.channel is Channel.VIDEO
    (proposal,) = notices(effects, "fallback_proposed")
    assert proposal.to == "both"
    assert proposal.data == {"session": "sess-0001", "to": "phone", "reason": "media_failed"}
    (note,) = notices(effects, "media_state")
    assert note.to == "counsellor"
    assert note.data["connected"] is False


def test_media_recovering_after_failure_opens_a_new_segment() -> None:
    """An ICE restart that succeeds opens a fresh segment; the gap is not counted."""
    s = active_session()
    s.handle(MediaReported(Role.CUSTOMER, False), T0 + 500)
    s.handle(MediaReported(Role.CUSTOMER, True), T0 + 520)
    assert segs(s) == [(Channel.VIDEO, CONNECTED, T0 + 500), (Channel.VIDEO, T0 + 520, None)]
    assert s.media_connected_at == CONNECTED  # set-up time is from the first connection


def test_media_report_on_phone_changes_no_segment() -> None:
    """A late report from the abandoned peer connection only relays the note."""
    s = active_session()
    s.handle(SwitchChannel(Role.COUNSELLOR, Channel.PHONE), T0 + 300)
    s.handle(PhoneConnected(), T0 + 320)
    before = segs(s)
    effects = s.handle(MediaReported(Role.CUSTOMER, False), T0 + 330)
    assert segs(s) == before
    assert [type(e) for e in effects] == [Notify]
    assert notices(effects, "fallback_proposed") == []


# ---------------------------------------------------------------- presence and grace


def test_disconnect_then_reconnect_within_grace_keeps_the_session() -> None:
    """A signalling drop shorter than the grace period changes nothing lasting."""
    s = active_session()
    effects = s.handle(Disconnected(Role.CUSTOMER), T0 + 100)
    (gone,) = notices(effects, "peer_presence")
    assert gone.to == "counsellor"
    assert gone.data == {"session": "sess-0001", "role": "customer", "present": False}
    assert s.next_deadline() == T0 + 100 + GRACE

    effects = s.handle(Reconnected(Role.CUSTOMER), T0 + 100 + GRACE - 1)
    assert notices(effects, "peer_presence")[0].data["present"] is True
    assert s.next_deadline() is None
    assert s.handle(Tick(), T0 + 100 + GRACE) == []
    assert state_of(s) is State.ACTIVE
    assert segs(s) == [(Channel.VIDEO, CONNECTED, None)]


def test_tick_before_grace_deadline_does_nothing() -> None:
    """A Tick that comes early (a stale timer) leaves the session as it was."""
    s = active_session()
    s.handle(Disconnected(Role.CUSTOMER), T0 + 100)
    assert s.handle(Tick(), T0 + 100 + GRACE - 0.001) == []
    assert state_of(s) is State.ACTIVE
    assert s.customer.gone_since == T0 + 100


def test_second_disconnect_does_not_restart_grace() -> None:
    """A repeated Disconnected neither notifies again nor moves the deadline."""
    s = active_session()
    s.handle(Disconnected(Role.CUSTOMER), T0 + 100)
    assert s.handle(Disconnected(Role.CUSTOMER), T0 + 110) == []
    assert s.next_deadline() == T0 + 100 + GRACE


def test_reconnect_while_connected_tells_nobody() -> None:
    """A Reconnected for a party already present produces no effects."""
    s = active_session()
    assert s.handle(Reconnected(Role.COUNSELLOR), T0 + 100) == []


@pytest.mark.parametrize(
    ("customer_gone", "staff_gone", "reason"),
    [
        (T0 + 100, None, EndReason.CUSTOMER_LEFT),
        (None, T0 + 100, EndReason.TIMEOUT),
        (T0 + 100, T0 + 100, EndReason.TIMEOUT),
        (T0 + 100, T0 + 110, EndReason.CUSTOMER_LEFT),  # counsellor still within grace
        (T0 + 110, T0 + 100, EndReason.TIMEOUT),  # customer still within grace
    ],
)
def test_tick_at_grace_deadline_ends_with_the_right_reason(
    customer_gone: float | None, staff_gone: float | None, reason: EndReason
) -> None:
    """At the first grace deadline the session ends; who has gone decides the reason."""
    s = active_session()
    if customer_gone is not None:
        s.handle(Disconnected(Role.CUSTOMER), customer_gone)
    if staff_gone is not None:
        s.handle(Disconnected(Role.COUNSELLOR), staff_gone)
    deadline = s.next_deadline()
    assert deadline == T0 + 100 + GRACE
    effects = s.handle(Tick(), deadline)
    assert state_of(s) is State.ENDED
    assert s.end_reason is reason
    assert s.ended_at == deadline
    assert segs(s) == [(Channel.VIDEO, CONNECTED, deadline)]
    assert effects[-1] == Closed()


def test_tick_long_after_grace_deadline_ends_when_the_grace_ran_out() -> None:
    """A late Tick (a broker that was down, a busy loop) still ends the session, as of when
    the grace ran out: the time after it is nobody's call."""
    s = active_session()
    s.handle(Disconnected(Role.COUNSELLOR), T0 + 100)
    s.handle(Tick(), T0 + 500)
    assert s.end_reason is EndReason.TIMEOUT
    assert s.ended_at == T0 + 100 + POLICY.grace_seconds < T0 + 500
    assert s.open_segment is None and s.segments[-1].end == s.ended_at


def test_active_deadline_counts_a_disconnect_at_time_zero() -> None:
    """A disconnect at clock 0.0 still arms the grace deadline (0.0 is a time, not 'none')."""
    s = Session(
        id=SessionId("sess-zero"),
        team=TeamId("t"),
        counsellor=StaffId("c"),
        customer_ref=CustomerRef("K"),
        planned_start=0.0,
        planned_channel=Channel.VIDEO,
        created_at=0.0,
        policy=POLICY,
    )
    s.handle(CustomerJoined(FULL), 0.0)
    s.handle(Admit(FULL), 0.0)
    s.handle(Disconnected(Role.CUSTOMER), 0.0)
    # _tick_active ends the session at 30.0, so next_deadline must say so
    assert s.next_deadline() == GRACE


def test_customer_on_connected_phone_leg_is_not_ended_by_socket_grace() -> None:
    """Once the phone leg carries the call, the customer's browser socket may drop freely."""
    s = active_session()
    s.handle(SwitchChannel(Role.CUSTOMER, Channel.PHONE), T0 + 300)
    s.handle(PhoneConnected(), T0 + 330)
    # dialling from the same mobile phone backgrounds the browser: its socket goes away
    s.handle(Disconnected(Role.CUSTOMER), T0 + 331)
    deadline = s.next_deadline()
    if deadline is not None:
        s.handle(Tick(), deadline)
    assert state_of(s) is State.ACTIVE  # the phone call is still running


def test_waiting_customer_gone_past_grace_goes_back_to_scheduled() -> None:
    """The waiting room forgets a customer whose socket stayed away past grace."""
    s = waiting_session()
    s.handle(Disconnected(Role.CUSTOMER), T0 - 40)
    assert s.next_deadline() == T0 - 40 + GRACE
    assert s.handle(Tick(), T0 - 40 + GRACE - 1) == []
    assert state_of(s) is State.WAITING

    effects = s.handle(Tick(), T0 - 40 + GRACE)
    assert state_of(s) is State.SCHEDULED
    assert effects == [Notify("counsellor", "customer_left", {"session": "sess-0001"})]
    assert s.customer.connected is False
    assert s.customer.gone_since is None
    assert s.joined_at == JOINED  # the first join is kept for the record
    assert s.next_deadline() == T0 + NO_SHOW_AFTER


def test_waiting_customer_reconnect_clears_the_deadline() -> None:
    """A waiting customer who comes back within grace keeps their place."""
    s = waiting_session()
    s.handle(Disconnected(Role.CUSTOMER), T0 - 40)
    s.handle(Reconnected(Role.CUSTOMER), T0 - 30)
    assert s.next_deadline() is None
    s.handle(Tick(), T0)
    assert state_of(s) is State.WAITING


def test_rejoin_keeps_first_join_time() -> None:
    """Leaving the waiting room and joining again keeps joined_at at the first join."""
    s = waiting_session()
    s.handle(Leave(), T0 - 30)
    assert state_of(s) is State.SCHEDULED
    s.handle(CustomerJoined(FULL, "de", "Anna"), T0 - 10)
    assert state_of(s) is State.WAITING
    assert s.joined_at == JOINED


def test_customer_joined_while_active_reannounces_presence_only() -> None:
    """A re-announce after a reconnect clears the grace deadline and keeps the call as it is."""
    s = active_session()
    s.handle(Disconnected(Role.CUSTOMER), T0 + 100)
    effects = s.handle(CustomerJoined(FULL, "de", "Anna"), T0 + 110)
    assert state_of(s) is State.ACTIVE
    assert s.next_deadline() is None
    assert segs(s) == [(Channel.VIDEO, CONNECTED, None)]
    assert s.joined_at == JOINED
    assert effects == [
        Notify(
            "counsellor",
            "peer_presence",
            {"session": "sess-0001", "role": "customer", "present": True},
        )
    ]


def test_admit_refused_while_waiting_customer_is_disconnected() -> None:
    """Admitting a customer whose socket is gone (within grace) is a CONFLICT."""
    s, event = _admit_absent_customer()
    with pytest.raises(BrokerError) as info:
        s.handle(event, T0)
    assert info.value.code is ErrorCode.CONFLICT
    assert state_of(s) is State.WAITING


# ---------------------------------------------------------------- no-show, leave, end, cancel


def test_no_show_at_planned_start_plus_no_show_after() -> None:
    """Nobody came: a Tick at planned_start + no_show_after ends it as NO_SHOW."""
    s = new_session()
    deadline = T0 + NO_SHOW_AFTER
    assert s.next_deadline() == deadline
    assert s.handle(Tick(), deadline - 0.001) == []
    assert state_of(s) is State.SCHEDULED
    effects = s.handle(Tick(), deadline)
    assert state_of(s) is State.NO_SHOW
    assert s.end_reason is EndReason.NO_SHOW
    assert s.ended_at == deadline
    assert s.segments == []
    assert effects[-1] == Closed()


def test_joined_then_left_before_no_show_deadline_ends_as_customer_left() -> None:
    """A customer who came and left the waiting room is not a no-show but customer_left."""
    s = waiting_session()
    s.handle(Leave(), T0 - 20)
    s.handle(Tick(), T0 + NO_SHOW_AFTER)
    assert state_of(s) is State.ENDED
    assert s.end_reason is EndReason.CUSTOMER_LEFT


def test_leave_during_call_ends_as_customer_left() -> None:
    """The customer hanging up ends the session and closes the segment."""
    s = active_session()
    effects = s.handle(Leave(), T0 + 700)
    assert s.end_reason is EndReason.CUSTOMER_LEFT
    assert segs(s) == [(Channel.VIDEO, CONNECTED, T0 + 700)]
    assert effects == [
        Notify("both", "ended", {"session": "sess-0001", "reason": "customer_left"}),
        Closed(),
    ]


@pytest.mark.parametrize(
    "reason",
    [EndReason.COMPLETED, EndReason.CONNECTION_FAILED, EndReason.CUSTOMER_LEFT],
    ids=str,
)
def test_end_accepts_outcomes(reason: EndReason) -> None:
    """The counsellor ends with one of the three outcomes."""
    s = active_session()
    s.handle(End(reason), T0 + 700)
    assert state_of(s) is State.ENDED
    assert s.end_reason is reason
    assert s.media_up is False


@pytest.mark.parametrize(
    "reason",
    [EndReason.TIMEOUT, EndReason.NO_SHOW, EndReason.INTERRUPTED, EndReason.CANCELLED],
    ids=str,
)
def test_end_refuses_reasons_that_are_not_outcomes(reason: EndReason) -> None:
    """Reasons the broker decides itself cannot be chosen by the counsellor."""
    s = active_session()
    with pytest.raises(BrokerError) as info:
        s.handle(End(reason), T0 + 700)
    assert info.value.code is ErrorCode.BAD_REQUEST
    assert state_of(s) is State.ACTIVE


@pytest.mark.parametrize("state", [S, W], ids=str)
def test_cancel_before_the_call(state: State) -> None:
    """Cancelling a scheduled or waiting session ends it as CANCELLED with no segments."""
    s = in_state(state)
    effects = s.handle(Cancel(), T0 - 5)
    assert state_of(s) is State.CANCELLED
    assert s.end_reason is EndReason.CANCELLED
    assert s.ended_at == T0 - 5
    assert effects[-1] == Closed()


def test_interrupt_closes_at_the_given_time() -> None:
    """Recovery closes an active session at its last known moment, not at handling time."""
    s = active_session()
    s.handle(SwitchChannel(Role.CUSTOMER, Channel.AUDIO), T0 + 300)
    s.handle(Interrupt(T0 + 450), T0 + 9000)
    assert state_of(s) is State.ENDED
    assert s.end_reason is EndReason.INTERRUPTED
    assert s.ended_at == T0 + 450
    assert segs(s) == [(Channel.VIDEO, CONNECTED, T0 + 300), (Channel.AUDIO, T0 + 300, T0 + 450)]
    assert record_of(s).seconds == {"video": 292.0, "audio": 150.0, "phone": 0.0}


# ---------------------------------------------------------------- next_deadline


def test_next_deadline_in_each_state() -> None:
    """Scheduled: no-show; waiting/active: grace only when someone is gone; final: none."""
    s = new_session()
    assert s.next_deadline() == T0 + NO_SHOW_AFTER

    s.handle(CustomerJoined(FULL), JOINED)
    assert s.next_deadline() is None
    s.handle(Disconnected(Role.CUSTOMER), JOINED + 1)
    assert s.next_deadline() == JOINED + 1 + GRACE
    s.handle(Reconnected(Role.CUSTOMER), JOINED + 2)
    assert s.next_deadline() is None

    s.handle(Admit(FULL), ADMITTED)
    assert s.next_deadline() is None
    s.handle(Disconnected(Role.COUNSELLOR), T0 + 50)
    s.handle(Disconnected(Role.CUSTOMER), T0 + 60)
    assert s.next_deadline() == T0 + 50 + GRACE  # the earlier of the two
    s.handle(Reconnected(Role.COUNSELLOR), T0 + 61)
    assert s.next_deadline() == T0 + 60 + GRACE

    s.handle(End(), T0 + 70)
    assert s.next_deadline() is None


@pytest.mark.parametrize("state", _TERMINAL, ids=str)
def test_final_states_have_no_deadline(state: State) -> None:
    """A final session never wants a Tick."""
    assert in_state(state).next_deadline() is None


def test_policy_changes_the_deadlines() -> None:
    """Deadlines come from the session's policy (shortened in tests, set per deployment)."""
    s = new_session()
    s.policy = Policy(grace_seconds=5.0, no_show_after_seconds=60.0)
    assert s.next_deadline() == T0 + 60.0
    s.handle(CustomerJoined(FULL), T0)
    s.handle(Disconnected(Role.CUSTOMER), T0 + 1)
    assert s.next_deadline() == T0 + 6.0


# ---------------------------------------------------------------- views


def test_customer_view_shows_the_pin_and_no_staff_details() -> None:
    """The customer is never shown the team or reference; the PIN always (the page can
    offer the phone at any step, and the customer holds the link, worth as much)."""
    assert new_session().view(Role.CUSTOMER)["pin"] == CODE
    s = active_session()
    view = s.view(Role.CUSTOMER)
    assert view["pin"] == CODE
    assert "access_code" not in view
    assert "customer_ref" not in view and "team" not in view
    assert view["counsellor_present"] is True


def test_counsellor_view_shows_customer_card_once_joined() -> None:
    """The counsellor sees the access code always and the customer's card after a join."""
    s = new_session()
    assert s.view(Role.COUNSELLOR)["customer"] is None
    assert s.view(Role.COUNSELLOR)["access_code"] == CODE
    s.handle(CustomerJoined(NO_CAMERA, "uk", "Olena"), JOINED)
    card = s.view(Role.COUNSELLOR)["customer"]
    assert card == {
        "name": "Olena",
        "language": "uk",
        "capabilities": {"webrtc": True, "camera": False, "microphone": True},
        "waiting_since": JOINED,
    }


# ---------------------------------------------------------------- persistence shape


def test_session_dict_round_trip_through_json() -> None:
    """session_to_dict survives JSON and session_from_dict rebuilds an equal session."""
    s = active_session()
    s.handle(SwitchChannel(Role.COUNSELLOR, Channel.AUDIO), T0 + 100)
    s.handle(Disconnected(Role.CUSTOMER), T0 + 120)
    data = json.loads(json.dumps(session_to_dict(s)))
    back = session_from_dict(data, POLICY)
    assert back == s
    assert session_to_dict(back) == session_to_dict(s)


def test_clone_is_independent() -> None:
    """Handling an input on a clone leaves the original untouched."""
    s = active_session()
    before = session_to_dict(s)
    c = clone(s)
    c.handle(End(), T0 + 100)
    assert session_to_dict(s) == before
    assert c.state is State.ENDED


def test_segment_seconds_never_negative() -> None:
    """A segment whose end precedes its start counts zero seconds."""
    assert Segment(Channel.VIDEO, 10.0, 5.0).seconds(20.0) == 0.0
    assert Segment(Channel.VIDEO, 10.0).seconds(25.5) == 15.5


# ---------------------------------------------------------------- the write-ahead log of inputs

LOG_SAMPLES: list[Input] = [
    CustomerJoined(Capabilities(webrtc=True, camera=False, microphone=True), "ar", "Anna Schmidt"),
    Admit(Capabilities(camera=False)),
    MediaReported(Role.CUSTOMER, False),
    MediaReported(Role.COUNSELLOR, True),
    SwitchChannel(Role.CUSTOMER, Channel.PHONE),
    PhoneConnected(),
    Disconnected(Role.COUNSELLOR),
    Reconnected(Role.CUSTOMER),
    Leave(),
    End(EndReason.CONNECTION_FAILED),
    Cancel(),
    RevokeLink(7, "987654321"),
    Tick(),
    Interrupt(12345.625),
]


def test_log_samples_cover_every_input_type() -> None:
    """The round-trip test below sees every input type."""
    assert {type(x) for x in LOG_SAMPLES} == set(get_args(Input))


@pytest.mark.parametrize("event", LOG_SAMPLES, ids=lambda e: type(e).__name__)
def test_input_log_round_trip_through_json(event: Input) -> None:
    """input_from_log(input_to_log(x)) == x, through JSON, with the display name dropped."""
    logged = input_to_log(event)
    assert logged["type"] == type(event).__name__
    restored = input_from_log(json.loads(json.dumps(logged)))
    if isinstance(event, CustomerJoined):
        assert "display_name" not in logged
        assert "Anna Schmidt" not in json.dumps(logged)
        assert restored == dataclasses.replace(event, display_name="")
    elif isinstance(event, RevokeLink):
        assert "987654321" not in json.dumps(logged)  # the code is derived again, not kept
        assert restored == dataclasses.replace(event, access_code="")
    else:
        assert restored == event


@pytest.mark.parametrize("state", [S, W, A])
def test_revoking_the_link_moves_to_a_new_generation_and_code(state: State) -> None:
    """A revoke changes only the link: generation up, the new code and its nonce, nothing
    said to anyone by the core (the adapter turns the old sockets away)."""
    s = in_state(state)
    before = session_to_dict(s)
    effects = s.handle(RevokeLink(5, "555000111"), NOW)
    assert effects == []
    assert (s.link_generation, s.code_nonce, s.access_code) == (1, 5, "555000111")
    after = session_to_dict(s)
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {"link_generation", "code_nonce", "access_code", "version",
                       "last_event_at"}


def test_unknown_logged_input_is_refused() -> None:
    """A log entry of an unknown type raises ValueError rather than guessing."""
    with pytest.raises(ValueError, match="Teleport"):
        input_from_log({"type": "Teleport"})


SCENARIO: list[tuple[Input, float]] = [
    (CustomerJoined(FULL, "tr", "Ayşe Yılmaz"), JOINED),
    (Disconnected(Role.CUSTOMER), JOINED + 10),
    (Reconnected(Role.CUSTOMER), JOINED + 15),
    (Admit(FULL), ADMITTED),
    (MediaReported(Role.COUNSELLOR, True), CONNECTED),
    (MediaReported(Role.CUSTOMER, True), CONNECTED + 1),
    (SwitchChannel(Role.CUSTOMER, Channel.AUDIO), T0 + 300),
    (Disconnected(Role.COUNSELLOR), T0 + 350),
    (Tick(), T0 + 360),
    (Reconnected(Role.COUNSELLOR), T0 + 370),
    (MediaReported(Role.CUSTOMER, False), T0 + 400),
    (SwitchChannel(Role.COUNSELLOR, Channel.PHONE), T0 + 410),
    (PhoneConnected(), T0 + 470),
    (End(EndReason.COMPLETED), T0 + 900),
]


def _run(events: list[tuple[Input, float]]) -> tuple[Session, list[tuple[str, float]]]:
    s = new_session()
    log: list[tuple[str, float]] = []
    for event, at in events:
        s.handle(event, at)
        log.append((json.dumps(input_to_log(event)), at))
    return s, log


def _replay(log: list[tuple[str, float]]) -> Session:
    fresh = new_session()
    for data, at in log:
        fresh.handle(input_from_log(json.loads(data)), at)
    return fresh


def test_replaying_the_log_rebuilds_the_same_session() -> None:
    """Crash recovery: the logged inputs, replayed into a fresh session, give the same state."""
    live, log = _run(SCENARIO)
    replayed = _replay(log)
    a, b = session_to_dict(live), session_to_dict(replayed)
    assert a.pop("display_name") == "Ayşe Yılmaz"
    assert b.pop("display_name") == ""
    assert a == b
    assert record_of(replayed) == record_of(live)
    assert "Ayşe" not in "".join(data for data, _ in log)


@pytest.mark.parametrize("cut", range(1, len(SCENARIO)))
def test_replaying_any_prefix_rebuilds_that_moment(cut: int) -> None:
    """After any number of inputs, the replayed session equals the live one at that point."""
    live, log = _run(SCENARIO[:cut])
    replayed = _replay(log)
    a, b = session_to_dict(live), session_to_dict(replayed)
    a.pop("display_name"), b.pop("display_name")
    assert a == b
    assert replayed.next_deadline() == live.next_deadline()


def test_replay_then_interrupt_closes_at_the_last_known_moment() -> None:
    """Recovering a session that was active: replay, then Interrupt at the last event."""
    _, log = _run(SCENARIO[:7])  # on audio since T0 + 300
    s = _replay(log)
    assert state_of(s) is State.ACTIVE
    last = s.last_event_at
    s.handle(Interrupt(last), T0 + 50_000)
    record = record_of(s)
    assert record.end_reason is EndReason.INTERRUPTED
    assert record.ended_at == T0 + 300
    assert record.segments == (
        (Channel.VIDEO, CONNECTED, T0 + 300),
        (Channel.AUDIO, T0 + 300, T0 + 300),
    )


# ---------------------------------------------------------------- found in review


def test_step_up_from_phone_needs_the_customers_page() -> None:
    """The customer closed the browser to talk on the phone: stepping back up is refused
    (not an instant end of the call by an old grace deadline)."""
    s = active_session()
    s.handle(SwitchChannel(Role.COUNSELLOR, Channel.PHONE), T0 + 10)
    s.handle(PhoneConnected(), T0 + 20)
    s.handle(Disconnected(Role.CUSTOMER), T0 + 30)
    assert s.next_deadline() is None
    before = session_to_dict(s)
    with pytest.raises(BrokerError) as caught:
        s.handle(SwitchChannel(Role.COUNSELLOR, Channel.VIDEO), T0 + 900)
    assert caught.value.code is ErrorCode.CONFLICT
    assert session_to_dict(s) == before
    s.handle(Reconnected(Role.CUSTOMER), T0 + 910)
    s.handle(SwitchChannel(Role.COUNSELLOR, Channel.VIDEO), T0 + 911)
    assert state_of(s) is State.ACTIVE and s.next_deadline() is None


def test_fallback_is_proposed_once_per_failure() -> None:
    """Both sides reporting one failure give one proposal; a later failure after a switch
    gives another."""
    s = active_session()
    first = s.handle(MediaReported(Role.CUSTOMER, False), T0 + 5)
    second = s.handle(MediaReported(Role.COUNSELLOR, False), T0 + 5.1)
    assert len(notices(first, "fallback_proposed")) == 1
    assert notices(second, "fallback_proposed") == []
    s.handle(SwitchChannel(Role.COUNSELLOR, Channel.AUDIO), T0 + 6)
    s.handle(MediaReported(Role.CUSTOMER, True), T0 + 7)
    again = s.handle(MediaReported(Role.CUSTOMER, False), T0 + 20)
    assert len(notices(again, "fallback_proposed")) == 1
