"""The contact record computed from a final session: times, seconds, and nothing personal."""

from __future__ import annotations

import json

import pytest

from broker.events import (
    Admit,
    Cancel,
    Capabilities,
    CustomerJoined,
    End,
    Leave,
    MediaReported,
    PhoneConnected,
    SwitchChannel,
    Tick,
)
from broker.record import ContactRecord, record_of
from broker.session import Policy, Session
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

T0 = 50_000.0
FULL = Capabilities()
NAME = "Zeynep Öztürk"
CODE = "987654321"


def new_session(kind: Kind = Kind.SCHEDULED, planned: Channel = Channel.VIDEO) -> Session:
    return Session(
        id=SessionId("sess-rec-1"),
        team=TeamId("team-b"),
        counsellor=StaffId("c7"),
        customer_ref=CustomerRef("BG-4711"),
        planned_start=T0,
        planned_channel=planned,
        created_at=T0 - 86_400,
        kind=kind,
        access_code=CODE,
        policy=Policy(grace_seconds=30.0, no_show_after_seconds=900.0),
    )


def three_channel_session() -> Session:
    """Video 10 s → audio 20.5 s → (dial-in gap of 30 s) → phone 100.25 s."""
    s = new_session()
    s.handle(CustomerJoined(FULL, "de", NAME), T0 - 120.5)
    s.handle(Admit(FULL), T0)
    s.handle(MediaReported(Role.CUSTOMER, True), T0 + 1.75)
    s.handle(SwitchChannel(Role.CUSTOMER, Channel.AUDIO), T0 + 11.75)
    s.handle(SwitchChannel(Role.COUNSELLOR, Channel.PHONE), T0 + 32.25)
    s.handle(PhoneConnected(), T0 + 62.25)
    s.handle(End(EndReason.CONNECTION_FAILED), T0 + 162.5)
    return s


def test_record_of_a_three_channel_session() -> None:
    """Segments, seconds per channel, waiting and set-up time are exact; gaps are not counted."""
    record = record_of(three_channel_session())
    assert record.segments == (
        (Channel.VIDEO, T0 + 1.75, T0 + 11.75),
        (Channel.AUDIO, T0 + 11.75, T0 + 32.25),
        (Channel.PHONE, T0 + 62.25, T0 + 162.5),
    )
    assert record.seconds == {"video": 10.0, "audio": 20.5, "phone": 100.25}
    assert record.waiting_seconds == 120.5
    assert record.setup_seconds == 1.75
    assert record.fallback_used is True
    assert record.end_reason is EndReason.CONNECTION_FAILED
    assert record.state is State.ENDED
    assert record.ended_at == T0 + 162.5
    assert record.joined_at == T0 - 120.5
    assert record.admitted_at == T0
    assert record.media_connected_at == T0 + 1.75


def test_record_carries_the_session_identity() -> None:
    """The record names session, team, counsellor, reference, kind and plan."""
    s = new_session(Kind.CALLBACK, Channel.AUDIO)
    s.handle(Cancel(), T0 - 10)
    record = record_of(s)
    assert (record.session_id, record.team, record.counsellor, record.customer_ref) == (
        "sess-rec-1",
        "team-b",
        "c7",
        "BG-4711",
    )
    assert record.kind is Kind.CALLBACK
    assert record.planned_channel is Channel.AUDIO
    assert record.planned_start == T0
    assert record.created_at == T0 - 86_400


def test_record_holds_no_name_and_no_access_code() -> None:
    """Nothing personal leaves through the record: no display name, no code or PIN."""
    data = record_of(three_channel_session()).to_dict()
    text = json.dumps(data, ensure_ascii=False)
    assert NAME not in text
    assert "Zeynep" not in text
    assert CODE not in text
    assert not {"display_name", "name", "access_code", "pin", "language"} & set(data)


def test_record_to_dict_is_json_ready() -> None:
    """to_dict gives plain strings and numbers that survive a JSON round trip unchanged."""
    data = record_of(three_channel_session()).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["kind"] == "scheduled"
    assert data["state"] == "ended"
    assert data["end_reason"] == "connection_failed"
    assert data["segments"][0] == ["video", T0 + 1.75, T0 + 11.75]


def test_no_show_record_has_no_waiting_or_setup_time() -> None:
    """A customer who never came has no waiting or set-up time and no segments."""
    s = new_session()
    s.handle(Tick(), T0 + 900)
    record = record_of(s)
    assert record.state is State.NO_SHOW
    assert record.end_reason is EndReason.NO_SHOW
    assert record.joined_at is None
    assert record.waiting_seconds is None
    assert record.setup_seconds is None
    assert record.segments == ()
    assert record.seconds == {"video": 0.0, "audio": 0.0, "phone": 0.0}


def test_left_from_waiting_room_record_has_join_but_no_admit() -> None:
    """Came, waited, left, never returned: joined_at kept, waiting time unknown."""
    s = new_session()
    s.handle(CustomerJoined(FULL, "de", NAME), T0 - 30)
    s.handle(Leave(), T0 - 5)
    s.handle(Tick(), T0 + 900)
    record = record_of(s)
    assert record.end_reason is EndReason.CUSTOMER_LEFT
    assert record.joined_at == T0 - 30
    assert record.waiting_seconds is None


def test_ended_before_media_connected_has_no_setup_time() -> None:
    """Admitted but media never came up: waiting time known, set-up time None."""
    s = new_session()
    s.handle(CustomerJoined(FULL), T0 - 10)
    s.handle(Admit(FULL), T0)
    s.handle(End(EndReason.CONNECTION_FAILED), T0 + 60)
    record = record_of(s)
    assert record.waiting_seconds == 10.0
    assert record.setup_seconds is None
    assert record.segments == ()


def test_record_times_are_rounded_to_milliseconds() -> None:
    """Seconds, waiting and set-up times are rounded to three decimals."""
    s = new_session()
    s.handle(CustomerJoined(FULL), T0 - 1.00049)
    s.handle(Admit(FULL), T0)
    s.handle(MediaReported(Role.CUSTOMER, True), T0 + 0.12345)
    s.handle(End(), T0 + 10.0)
    record = record_of(s)
    assert record.waiting_seconds == 1.0
    assert record.setup_seconds == 0.123
    assert record.seconds["video"] == 9.877


@pytest.mark.parametrize("state", [State.SCHEDULED, State.WAITING, State.ACTIVE], ids=str)
def test_record_of_open_session_is_refused(state: State) -> None:
    """Only a session in a final state has a record."""
    s = new_session()
    if state is not State.SCHEDULED:
        s.handle(CustomerJoined(FULL), T0)
    if state is State.ACTIVE:
        s.handle(Admit(FULL), T0 + 1)
    assert s.state is state
    with pytest.raises(ValueError, match="not final"):
        record_of(s)


def test_record_is_frozen() -> None:
    """A record cannot be altered after it is computed."""
    s = new_session()
    s.handle(Cancel(), T0)
    record: ContactRecord = record_of(s)
    with pytest.raises(AttributeError):
        record.end_reason = EndReason.COMPLETED  # type: ignore[misc]
