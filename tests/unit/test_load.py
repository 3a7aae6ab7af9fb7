"""Live load: counters kept from before/after contributions, never by scanning sessions."""

from __future__ import annotations

from typing import Any

from broker.events import (
    Admit,
    Cancel,
    Capabilities,
    CustomerJoined,
    Disconnected,
    End,
    Input,
    Leave,
    SwitchChannel,
)
from broker.load import LiveLoad, contribution
from broker.session import Policy, Session, clone
from broker.types import Channel, CustomerRef, Role, SessionId, StaffId, TeamId

T0 = 20_000.0
A, B = TeamId("team-a"), TeamId("team-b")
FULL = Capabilities()


def new_session(sid: str, team: TeamId, counsellor: str) -> Session:
    return Session(
        id=SessionId(sid),
        team=team,
        counsellor=StaffId(counsellor),
        customer_ref=CustomerRef("K-" + sid),
        planned_start=T0,
        planned_channel=Channel.VIDEO,
        created_at=T0 - 3600,
        policy=Policy(grace_seconds=30.0, no_show_after_seconds=900.0),
    )


def create(load: LiveLoad, sid: str, team: TeamId, counsellor: str) -> Session:
    s = new_session(sid, team, counsellor)
    load.session_changed(None, s)
    return s


def apply(load: LiveLoad, s: Session, event: Input, now: float) -> None:
    """What the service does: handle on the live session, feed (before, after) to the load."""
    before = clone(s)
    s.handle(event, now)
    load.session_changed(before, s)


def team(load: LiveLoad, t: TeamId, now: float) -> dict[str, Any]:
    teams: dict[str, Any] = load.snapshot(now)["teams"]
    return dict(teams[t])


def test_contribution_of_each_state() -> None:
    """A session counts its state, and its channel while active; final sessions count nothing."""
    s = new_session("s1", A, "c1")
    assert contribution(None) == {}
    assert contribution(s) == {(A, "state", "scheduled"): 1}
    s.handle(CustomerJoined(FULL), T0)
    assert contribution(s) == {(A, "state", "waiting"): 1}
    s.handle(Admit(FULL), T0 + 1)
    assert contribution(s) == {(A, "state", "active"): 1, (A, "channel", "video"): 1}
    s.handle(End(), T0 + 2)
    assert contribution(s) == {}


def test_counters_follow_create_join_admit_switch_end_over_two_teams() -> None:
    """Each change moves exactly the counters it affects, in its own team only."""
    load = LiveLoad()
    a1 = create(load, "a1", A, "c1")
    a2 = create(load, "a2", A, "c2")
    b1 = create(load, "b1", B, "c3")
    assert team(load, A, T0)["sessions"] == {"scheduled": 2, "waiting": 0, "active": 0}
    assert team(load, B, T0)["sessions"] == {"scheduled": 1, "waiting": 0, "active": 0}

    apply(load, a1, CustomerJoined(FULL), T0 + 10)
    apply(load, a2, CustomerJoined(FULL), T0 + 30)
    apply(load, b1, CustomerJoined(FULL), T0 + 40)
    ta = team(load, A, T0 + 100)
    assert ta["sessions"] == {"scheduled": 0, "waiting": 2, "active": 0}
    assert ta["waiting"] == 2
    assert ta["oldest_wait_seconds"] == 90.0
    assert team(load, B, T0 + 100)["oldest_wait_seconds"] == 60.0

    apply(load, a1, Admit(FULL), T0 + 100)
    ta = team(load, A, T0 + 100)
    assert ta["sessions"] == {"scheduled": 0, "waiting": 1, "active": 1}
    assert ta["channels"] == {"video": 1, "audio": 0, "phone": 0}
    assert ta["waiting"] == 1
    assert ta["oldest_wait_seconds"] == 70.0  # a2 is now the earliest still waiting
    assert ta["counsellors"]["busy"] == 1

    apply(load, a1, SwitchChannel(Role.CUSTOMER, Channel.AUDIO), T0 + 200)
    assert team(load, A, T0 + 200)["channels"] == {"video": 0, "audio": 1, "phone": 0}
    apply(load, a1, SwitchChannel(Role.COUNSELLOR, Channel.PHONE), T0 + 210)
    assert team(load, A, T0 + 210)["channels"] == {"video": 0, "audio": 0, "phone": 1}

    apply(load, a1, End(), T0 + 300)
    ta = team(load, A, T0 + 300)
    assert ta["sessions"] == {"scheduled": 0, "waiting": 1, "active": 0}
    assert ta["channels"] == {"video": 0, "audio": 0, "phone": 0}
    assert ta["counsellors"]["busy"] == 0

    tb = team(load, B, T0 + 300)  # untouched by everything in team a
    assert tb["sessions"] == {"scheduled": 0, "waiting": 1, "active": 0}
    assert tb["channels"] == {"video": 0, "audio": 0, "phone": 0}


def test_leaving_the_waiting_room_removes_the_wait() -> None:
    """A customer who leaves the waiting room no longer counts as waiting."""
    load = LiveLoad()
    s = create(load, "a1", A, "c1")
    apply(load, s, CustomerJoined(FULL), T0)
    apply(load, s, Leave(), T0 + 20)
    ta = team(load, A, T0 + 30)
    assert ta["waiting"] == 0
    assert ta["oldest_wait_seconds"] is None
    assert ta["sessions"] == {"scheduled": 1, "waiting": 0, "active": 0}


def test_oldest_wait_is_the_earliest_still_waiting_after_a_rejoin() -> None:
    """After a leave and rejoin, the oldest wait agrees with the wait starts the load keeps."""
    load = LiveLoad()
    a1 = create(load, "a1", A, "c1")
    a2 = create(load, "a2", A, "c1")
    apply(load, a1, CustomerJoined(FULL), T0 + 10)
    apply(load, a2, CustomerJoined(FULL), T0 + 30)
    apply(load, a1, Leave(), T0 + 40)
    apply(load, a1, CustomerJoined(FULL), T0 + 50)
    now = T0 + 100
    ta = team(load, A, now)
    assert ta["waiting"] == 2
    # Either answer (a1 waits since its first join, 90 s; or since its rejoin, 50 s, making
    # a2 the oldest at 70 s) is defensible, but the snapshot must agree with the start times
    # the load itself holds for the customers now waiting.
    starts = load._teams[A].waiting
    assert set(starts) == {a1.id, a2.id}
    assert ta["oldest_wait_seconds"] == round(now - min(starts.values()), 1)


def test_staff_online_busy_free() -> None:
    """Online per team from connections; busy while in an active session; free = online - busy."""
    load = LiveLoad()
    load.staff_online(StaffId("c1"), frozenset({A}), True)
    load.staff_online(StaffId("c2"), frozenset({A, B}), True)
    assert team(load, A, T0)["counsellors"] == {"online": 2, "busy": 0, "free": 2}
    assert team(load, B, T0)["counsellors"] == {"online": 1, "busy": 0, "free": 1}

    s = create(load, "a1", A, "c1")
    apply(load, s, CustomerJoined(FULL), T0)
    apply(load, s, Admit(FULL), T0 + 5)
    assert team(load, A, T0)["counsellors"] == {"online": 2, "busy": 1, "free": 1}

    load.staff_online(StaffId("c2"), frozenset({A, B}), False)
    assert team(load, A, T0)["counsellors"] == {"online": 1, "busy": 1, "free": 0}
    assert team(load, B, T0)["counsellors"] == {"online": 0, "busy": 0, "free": 0}

    apply(load, s, End(), T0 + 60)
    assert team(load, A, T0)["counsellors"] == {"online": 1, "busy": 0, "free": 1}


def test_counsellor_with_two_active_sessions_is_busy_once_until_both_end() -> None:
    """Busy counts counsellors, not sessions, and stays until their last call ends."""
    load = LiveLoad()
    load.staff_online(StaffId("c1"), frozenset({A}), True)
    sessions = [create(load, f"a{i}", A, "c1") for i in range(2)]
    for s in sessions:
        apply(load, s, CustomerJoined(FULL), T0)
        apply(load, s, Admit(FULL), T0 + 1)
    assert team(load, A, T0)["counsellors"] == {"online": 1, "busy": 1, "free": 0}
    apply(load, sessions[0], End(), T0 + 2)
    assert team(load, A, T0)["counsellors"]["busy"] == 1
    apply(load, sessions[1], End(), T0 + 3)
    assert team(load, A, T0)["counsellors"]["busy"] == 0


def test_version_moves_only_on_change() -> None:
    """Pushers resend only when something visible changed: version counts real changes."""
    load = LiveLoad()
    assert load.version == 0
    s = create(load, "a1", A, "c1")
    assert load.version == 1
    apply(load, s, CustomerJoined(FULL), T0)
    after_join = load.version
    assert after_join > 1
    apply(load, s, CustomerJoined(FULL), T0 + 1)  # re-announce while waiting: same counts
    assert load.version == after_join
    apply(load, s, Admit(FULL), T0 + 2)
    after_admit = load.version
    assert after_admit > after_join
    apply(load, s, Disconnected(Role.CUSTOMER), T0 + 3)  # presence is not load
    apply(load, s, SwitchChannel(Role.CUSTOMER, Channel.VIDEO), T0 + 4)  # same channel
    assert load.version == after_admit

    load.staff_online(StaffId("c1"), frozenset({A}), True)
    assert load.version == after_admit + 1
    load.staff_online(StaffId("c1"), frozenset({A}), True)  # already online
    load.staff_online(StaffId("c9"), frozenset({A}), False)  # never was
    assert load.version == after_admit + 1
    load.staff_online(StaffId("c1"), frozenset({A}), False)
    assert load.version == after_admit + 2


def test_snapshot_shape_and_team_filter() -> None:
    """A snapshot carries time and version, lists teams sorted, and can be limited to teams."""
    load = LiveLoad()
    create(load, "b1", B, "c3")
    create(load, "a1", A, "c1")
    snap = load.snapshot(T0 + 5)
    assert snap["at"] == T0 + 5
    assert snap["version"] == load.version
    assert list(snap["teams"]) == [A, B]
    only_b = load.snapshot(T0 + 5, frozenset({B}))
    assert list(only_b["teams"]) == [B]
    assert only_b["teams"][B] == {
        "sessions": {"scheduled": 1, "waiting": 0, "active": 0},
        "channels": {"video": 0, "audio": 0, "phone": 0},
        "waiting": 0,
        "oldest_wait_seconds": None,
        "counsellors": {"online": 0, "busy": 0, "free": 0},
    }


def test_counters_never_go_negative_over_a_full_run() -> None:
    """After every session of a busy day ends, every counter is back to zero."""
    load = LiveLoad()
    sessions = [create(load, f"s{i}", A if i % 2 else B, f"c{i % 3}") for i in range(12)]
    for i, s in enumerate(sessions):
        apply(load, s, CustomerJoined(FULL), T0 + i)
        if i % 3:
            apply(load, s, Admit(FULL), T0 + 20 + i)
            apply(load, s, SwitchChannel(Role.CUSTOMER, Channel.AUDIO), T0 + 40 + i)
            apply(load, s, End(), T0 + 60 + i)
        else:
            apply(load, s, Leave(), T0 + 20 + i)
            apply(load, s, Cancel(), T0 + 30 + i)
        assert s.state.terminal
    for t in (A, B):
        data = team(load, t, T0 + 100)
        assert data["sessions"] == {"scheduled": 0, "waiting": 0, "active": 0}
        assert data["channels"] == {"video": 0, "audio": 0, "phone": 0}
        assert data["waiting"] == 0
        assert data["counsellors"] == {"online": 0, "busy": 0, "free": 0}
