"""Drop-in routing (broker/routing.py) with a hand-moved clock: who gets which customer,
what happens on decline, timeout, leaving and going away, and invariants under random
sequences of everything (hypothesis)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.routing import (
    Dispatcher,
    Offered,
    OfferGone,
    Presence,
    PresenceChanged,
    Ticket,
    TicketId,
    Withdrawn,
)
from broker.types import SessionId, StaffId, TeamId

BEN, PLACE = "benefits", "placement"


def offers(changes: list[Any]) -> list[tuple[str, str]]:
    return [(c.ticket, c.staff) for c in changes if isinstance(c, Offered)]


T1, T2 = TeamId("t1"), TeamId("t2")


def agent(d: Dispatcher, name: str, at: float, topics: tuple[str, ...] = (BEN,),
          languages: tuple[str, ...] = ("de",), available: bool = True,
          teams: tuple[TeamId, ...] = (T1,)) -> list[Any]:
    changes = d.sign_in(StaffId(name), teams, topics, languages, at)
    if available:
        changes += d.choose(StaffId(name), Presence.AVAILABLE, at)
    return changes


def ticket(d: Dispatcher, name: str, at: float, topic: str = BEN,
           language: str = "de", team: TeamId = T1) -> list[Any]:
    return d.join(Ticket(TicketId(name), team, topic, language, at), at)


def test_the_longest_idle_matching_counsellor_gets_the_customer() -> None:
    d = Dispatcher()
    agent(d, "c-late", 30)
    agent(d, "c-early", 10)
    agent(d, "c-middle", 20)
    agent(d, "c-placement", 0, topics=(PLACE,))
    agent(d, "c-turkish", 5, languages=("tr",))
    assert offers(ticket(d, "k1", 40)) == [("k1", "c-early")]
    assert offers(ticket(d, "k2", 41)) == [("k2", "c-middle")]
    assert offers(ticket(d, "k3", 42, language="tr")) == [("k3", "c-turkish")]
    assert offers(ticket(d, "k4", 43, topic=PLACE)) == [("k4", "c-placement")]
    assert offers(ticket(d, "k5", 44, topic="self_employed")) == []  # nobody: it waits
    assert d.position(TicketId("k5")) == 1


def test_a_free_counsellor_gets_the_longest_waiting_of_their_queues() -> None:
    """First in, first out within a topic; across topics the oldest wait wins (ageing)."""
    d = Dispatcher()
    ticket(d, "ben-2", 5)
    ticket(d, "ben-1", 3)  # re-joined after a restart: its place is by when it joined
    ticket(d, "place-1", 1, topic=PLACE)
    ticket(d, "tr-1", 0, language="tr")
    assert d.queue_of((T1, BEN, "de")) == ["ben-1", "ben-2"]
    assert offers(agent(d, "c1", 10, topics=(BEN, PLACE))) == [("place-1", "c1")]
    assert offers(agent(d, "c2", 11)) == [("ben-1", "c2")]
    assert offers(agent(d, "c3", 12, topics=(BEN, PLACE))) == [("ben-2", "c3")]
    assert offers(agent(d, "c4", 13)) == []
    assert d.position(TicketId("tr-1")) == 1


def test_decline_passes_the_offer_on_and_the_customer_keeps_their_place() -> None:
    d = Dispatcher(offer_seconds=20)
    agent(d, "c1", 0)
    agent(d, "c2", 1)
    ticket(d, "k1", 10)
    ticket(d, "k2", 11)
    assert d.tickets[TicketId("k1")].offered_to == "c1"
    assert d.tickets[TicketId("k2")].offered_to == "c2"
    changes = d.decline(TicketId("k1"), StaffId("c1"), 12)
    assert Withdrawn(TicketId("k1"), StaffId("c1"), "declined") in changes
    # k1 waits for someone else; c1 is free but not offered k1 again (k2 is c2's)
    assert offers(changes) == []
    assert d.position(TicketId("k1")) == 1
    assert d.agents[StaffId("c1")].presence is Presence.AVAILABLE
    # c3 comes: k1 (the oldest) goes to them
    assert offers(agent(d, "c3", 13)) == [("k1", "c3")]
    # c2 declines k2: c1 (free, has not declined k2) gets it
    assert offers(d.decline(TicketId("k2"), StaffId("c2"), 14)) == [("k2", "c1")]
    with pytest.raises(OfferGone):
        d.decline(TicketId("k2"), StaffId("c2"), 15)


def test_no_answer_in_time_sets_the_counsellor_away_and_tries_the_next() -> None:
    d = Dispatcher(offer_seconds=20)
    agent(d, "c1", 0)
    agent(d, "c2", 1)
    agent(d, "c2", 1)  # a second console of the same counsellor changes nothing
    ticket(d, "k1", 10)
    assert d.next_deadline() == 30
    assert d.tick(29.9) == []
    changes = d.tick(30)
    assert Withdrawn(TicketId("k1"), StaffId("c1"), "expired") in changes
    assert PresenceChanged(StaffId("c1"), Presence.AWAY) in changes
    assert offers(changes) == [("k1", "c2")]
    assert d.position(TicketId("k1")) == 1
    with pytest.raises(OfferGone):  # too late
        d.accept(TicketId("k1"), StaffId("c1"), SessionId("s1"), 31)
    with pytest.raises(OfferGone):  # at the deadline itself the offer is gone
        d.accept(TicketId("k1"), StaffId("c2"), SessionId("s1"), 50)


def test_a_counsellor_going_away_or_signing_out_mid_offer() -> None:
    d = Dispatcher()
    agent(d, "c1", 0)
    agent(d, "c2", 1)
    ticket(d, "k1", 10)
    changes = d.choose(StaffId("c1"), Presence.AWAY, 11)
    assert Withdrawn(TicketId("k1"), StaffId("c1"), "away") in changes
    assert offers(changes) == [("k1", "c2")]
    changes = d.sign_out(StaffId("c2"), 12)
    assert Withdrawn(TicketId("k1"), StaffId("c2"), "away") in changes
    assert offers(changes) == []
    assert d.tickets[TicketId("k1")].offered_to is None
    assert offers(d.choose(StaffId("c1"), Presence.AVAILABLE, 13)) == [("k1", "c1")]


def test_skills_changing_mid_offer() -> None:
    d = Dispatcher()
    agent(d, "c1", 0)
    ticket(d, "k1", 10)
    changes = d.sign_in(StaffId("c1"), (T1,), (PLACE,), ("de",), 11)
    assert Withdrawn(TicketId("k1"), StaffId("c1"), "away") in changes
    assert d.tickets[TicketId("k1")].offered_to is None
    assert offers(d.sign_in(StaffId("c1"), (T1,), (PLACE, BEN), ("de",), 12)) == [("k1", "c1")]


def test_a_customer_leaving_mid_offer_frees_the_counsellor_for_the_next() -> None:
    d = Dispatcher()
    agent(d, "c1", 0)
    ticket(d, "k1", 10)
    ticket(d, "k2", 11)
    changes = d.leave(TicketId("k1"), 12)
    assert Withdrawn(TicketId("k1"), StaffId("c1"), "left") in changes
    assert offers(changes) == [("k2", "c1")]
    assert d.position(TicketId("k2")) == 1
    assert d.leave(TicketId("k1"), 13) == []
    assert d.snapshot(T1, 13)["today"] == {
        "answered": 0, "abandoned": 1, "service_level": None, "abandonment_rate": 1.0,
        "target_seconds": 120.0}


def test_accept_busy_wrap_up_and_back() -> None:
    d = Dispatcher(wrap_up_seconds=60, target_seconds=120)
    agent(d, "c1", 0)
    agent(d, "c2", 1, available=False)
    ticket(d, "k1", 10)
    changes = d.accept(TicketId("k1"), StaffId("c1"), SessionId("s1"), 15)
    assert PresenceChanged(StaffId("c1"), Presence.BUSY) in changes
    assert TicketId("k1") not in d.tickets
    ticket(d, "k2", 20)  # c1 is busy, c2 away: k2 waits
    assert d.tickets[TicketId("k2")].offered_to is None
    assert offers(d.choose(StaffId("c2"), Presence.AVAILABLE, 195)) == [("k2", "c2")]
    d.accept(TicketId("k2"), StaffId("c2"), SessionId("s2"), 200)  # waited 180 s
    ticket(d, "k3", 300)
    assert d.tickets[TicketId("k3")].offered_to is None  # everyone busy
    # a scheduled call of c1 became active too: still busy after the drop-in ends
    d.session_active(StaffId("c1"), SessionId("s9"), 301)
    assert d.session_closed(StaffId("c1"), SessionId("s1"), 400) == []
    changes = d.session_closed(StaffId("c1"), SessionId("s9"), 500)
    assert changes == [PresenceChanged(StaffId("c1"), Presence.WRAP_UP)]
    assert d.next_deadline() == 560
    changes = d.tick(560)
    assert PresenceChanged(StaffId("c1"), Presence.AVAILABLE) in changes
    assert offers(changes) == [("k3", "c1")]
    snap = d.snapshot(T1, 561)
    assert snap["today"] == {"answered": 2, "abandoned": 0, "service_level": 0.5,
                             "abandonment_rate": 0.0, "target_seconds": 120}
    assert snap["presence"] == {"available": 0, "busy": 1, "wrap_up": 0, "away": 0} | {
        "available": 1}
    assert snap["topics"] == {BEN: {"waiting": 1, "oldest_wait_seconds": 261.0}}


def test_teams_have_their_own_queues_and_one_counsellor_is_rung_once() -> None:
    d = Dispatcher()
    agent(d, "both", 0, teams=(T1, T2))
    agent(d, "only-t2", 1, teams=(T2,))
    assert offers(ticket(d, "k1", 5, team=T2)) == [("k1", "both")]
    assert offers(ticket(d, "k2", 6, team=T1)) == []  # "both" already rings for k1
    assert offers(ticket(d, "k3", 7, team=T2)) == [("k3", "only-t2")]
    changes = d.decline(TicketId("k1"), StaffId("both"), 8)
    assert offers(changes) == [("k2", "both")]  # k1 waits: its team's others are taken
    assert d.snapshot(T2, 9)["presence"] == {"available": 2, "busy": 0, "wrap_up": 0,
                                             "away": 0}
    assert d.snapshot(T1, 9)["topics"] == {BEN: {"waiting": 1, "oldest_wait_seconds": 3.0}}


def test_busy_counsellors_are_not_rung() -> None:
    d = Dispatcher()
    agent(d, "c1", 0)
    d.session_active(StaffId("c1"), SessionId("s1"), 1)
    assert offers(ticket(d, "k1", 2)) == []
    with pytest.raises(ValueError, match="set by the broker"):
        d.choose(StaffId("c1"), Presence.BUSY, 3)


# ------------------------------------------------------------------ invariants


def check_invariants(d: Dispatcher) -> None:
    offered_tickets = {t.id: t.offered_to for t in d.tickets.values() if t.offered_to}
    holding = {a.offer: a.staff for a in d.agents.values() if a.offer is not None}
    # an offer is one ticket to one counsellor, seen the same from both sides
    assert offered_tickets == holding
    for tid, staff in offered_tickets.items():
        a = d.agents[staff]
        t = d.tickets[tid]
        assert a.presence is Presence.AVAILABLE
        assert a.serves(t.queue) and staff not in t.declined
    # the deadline bookkeeping knows exactly the open offers and the wrap-ups
    assert d._offers == set(holding)
    assert d._wrapping == {a.staff for a in d.agents.values() if a.wrap_until is not None}
    # the free index holds exactly the free counsellors
    for a in d.agents.values():
        assert a.indexed == a.free
    # nobody who could take a waiting customer sits idle (work conserving)
    for t in d.tickets.values():
        if t.offered_to is None:
            for a in d.agents.values():
                assert not (a.free and a.serves(t.queue) and a.staff not in t.declined), (t, a)
    # positions are 1..n per queue, in joining order
    for queue in {t.queue for t in d.tickets.values()}:
        ids = d.queue_of(queue)
        keys = [d.tickets[i].key for i in ids]
        assert keys == sorted(keys)
        assert [d.position(i) for i in ids] == list(range(1, len(ids) + 1))


STAFF = [StaffId(f"c{i}") for i in range(4)]
SKILLS = [((BEN,), ("de",)), ((BEN, PLACE), ("de", "tr")), ((PLACE,), ("de",)),
          ((BEN,), ("tr",))]
op = st.one_of(
    st.tuples(st.just("join"), st.sampled_from([BEN, PLACE]), st.sampled_from(["de", "tr"]),
              st.sampled_from([T1, T2])),
    st.tuples(st.just("leave"), st.integers(0, 30)),
    st.tuples(st.just("sign_in"), st.integers(0, 3), st.integers(0, 3),
              st.sampled_from([(T1,), (T2,), (T1, T2)])),
    st.tuples(st.just("sign_out"), st.integers(0, 3)),
    st.tuples(st.just("choose"), st.integers(0, 3), st.booleans()),
    st.tuples(st.just("accept"), st.integers(0, 3)),
    st.tuples(st.just("decline"), st.integers(0, 3)),
    st.tuples(st.just("end_call"), st.integers(0, 3)),
    st.tuples(st.just("wait"), st.floats(0.5, 40)),
)


@dataclass
class Script:
    """Plays the random operations on a dispatcher, with the clock and ids they need."""

    d: Dispatcher
    now: float = 0.0
    joined: int = 0
    calls: int = 0

    def step(self, o: tuple[Any, ...]) -> list[Any]:
        d = self.d
        self.now += 0.1
        now, kind = self.now, o[0]
        if kind == "join":
            self.joined += 1
            return d.join(Ticket(TicketId(f"k{self.joined - 1}"), o[3], o[1], o[2], now), now)
        if kind == "leave":
            return d.leave(TicketId(f"k{o[1]}"), now)
        if kind == "sign_in":
            topics, languages = SKILLS[o[2]]
            return d.sign_in(STAFF[o[1]], o[3], topics, languages, now)
        if kind == "sign_out":
            return d.sign_out(STAFF[o[1]], now)
        if kind == "choose" and STAFF[o[1]] in d.agents:
            return d.choose(STAFF[o[1]], Presence.AVAILABLE if o[2] else Presence.AWAY, now)
        if kind in ("accept", "decline"):
            a = d.agents.get(STAFF[o[1]])
            if a is not None and a.offer is not None:
                if kind == "accept":
                    self.calls += 1
                    return d.accept(a.offer, a.staff, SessionId(f"s{self.calls}"), now)
                return d.decline(a.offer, a.staff, now)
        if kind == "end_call":
            a = d.agents.get(STAFF[o[1]])
            if a is not None and a.sessions:
                return d.session_closed(a.staff, min(a.sessions), now)
        if kind == "wait":
            self.now += o[1]
            due = d.next_deadline()
            if due is not None and due <= self.now:
                return d.tick(self.now)
        return []


@settings(max_examples=300, deadline=None)
@given(st.lists(op, max_size=60))
def test_invariants_hold_whatever_happens(ops: list[tuple[Any, ...]]) -> None:
    script = Script(Dispatcher(offer_seconds=20, wrap_up_seconds=15))
    for o in ops:
        script.step(o)
        check_invariants(script.d)


def test_a_scripted_morning_gives_the_supervisors_view() -> None:
    """08:00 opening with two counsellors; customers arrive, are answered, one leaves,
    one is answered late. The snapshot at 08:30, worked out by hand."""
    d = Dispatcher(wrap_up_seconds=30, target_seconds=120)
    m = 8 * 3600.0  # seconds of the morning, from midnight
    agent(d, "anna", m)
    agent(d, "ben", m + 1, topics=(BEN, PLACE))
    d.new_day("2026-11-23")
    ticket(d, "k1", m + 60)  # offered to anna (idle longest)
    d.accept(TicketId("k1"), StaffId("anna"), SessionId("s1"), m + 70)  # 10 s
    ticket(d, "k2", m + 100)  # ben
    d.accept(TicketId("k2"), StaffId("ben"), SessionId("s2"), m + 115)  # 15 s
    ticket(d, "k3", m + 200)  # everyone busy: waits
    ticket(d, "k4", m + 210, topic=PLACE)
    d.leave(TicketId("k3"), m + 400)  # gave up after 200 s
    d.session_closed(StaffId("ben"), SessionId("s2"), m + 900)
    d.tick(m + 930)  # ben back after wrap-up: offered k4 (he serves placement)
    d.accept(TicketId("k4"), StaffId("ben"), SessionId("s4"), m + 935)  # waited 725 s
    ticket(d, "k5", m + 1500)  # anna still busy, ben busy: waits
    ticket(d, "k6", m + 1700, language="tr")  # nobody speaks Turkish
    snap = d.snapshot(T1, m + 1800)
    assert snap["today"] == {"answered": 3, "abandoned": 1, "service_level": 0.6667,
                             "abandonment_rate": 0.25, "target_seconds": 120}
    assert snap["presence"] == {"available": 0, "busy": 2, "wrap_up": 0, "away": 0}
    assert snap["topics"] == {BEN: {"waiting": 2, "oldest_wait_seconds": 300.0}}


@settings(max_examples=100, deadline=None)
@given(st.lists(op, max_size=50), st.integers(0, 50))
def test_a_restored_dispatcher_routes_as_the_original(ops: list[tuple[Any, ...]],
                                                      cut: int) -> None:
    """Written out (as several processes keep it in Redis) and read back at any moment,
    the dispatcher answers every later step as the original does."""
    original = Script(Dispatcher(offer_seconds=20, wrap_up_seconds=15))
    for o in ops[:cut]:
        original.step(o)
    copy = Script(Dispatcher(offer_seconds=20, wrap_up_seconds=15), original.now,
                  original.joined, original.calls)
    copy.d.restore(json.loads(json.dumps(original.d.to_state())))
    assert copy.d.to_state() == original.d.to_state()
    check_invariants(copy.d)
    for o in ops[cut:]:  # the same changes (their order may follow a set's)
        assert sorted(map(repr, copy.step(o))) == sorted(map(repr, original.step(o)))
        check_invariants(copy.d)
    assert copy.d.to_state() == original.d.to_state()
    assert copy.d.next_deadline() == original.d.next_deadline()
