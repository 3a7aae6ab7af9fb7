"""Drop-in routing: which free counsellor gets which waiting customer. Pure: no I/O, no clock.

The `Dispatcher` holds the waiting customers (tickets), one queue per (team, topic,
language) ordered by when they joined, and the signed-in counsellors (agents) with their
presence, teams and skills. One dispatcher serves every team, so that a counsellor of
several teams is never rung twice at once. Two moments route, and each is a lookup in
per-skill indexes, never a walk along a queue:

- a customer arrives, or an offer made for them fell through: the **longest-idle** free
  counsellor who serves their topic and language, and has not declined them, gets the
  offer;
- a counsellor becomes free: of the tickets at the heads of the queues they serve, the one
  that has **waited longest** is offered. Waiting customers age across topics, so no topic
  starves, and a topic nobody free can serve holds up no other.

Looking for a queue's head steps only over tickets that hold an offer right now (at most
one per counsellor) and tickets this counsellor declined. An offer is open until it is
accepted, declined, expires (the counsellor did not answer: they are set away, as a
contact centre pauses an agent who misses a call) or is withdrawn (the customer left, the
counsellor went away). The ticket keeps its place throughout.

Presence: a counsellor chooses `available` or `away`; the broker sets `busy` while they
have a session (from accepting a drop-in, or from a scheduled call's admission, to its
end) and `wrap_up` for `wrap_up_seconds` after the last one, then returns them to what
they chose.

Every method takes `now` and returns what changed (`Change`s) for the adapter to tell
people; `next_deadline()` says when `tick` is next due.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import product
from typing import Any, NewType

from broker.errors import BrokerError, ErrorCode, NotFound
from broker.types import SessionId, StaffId, TeamId

TicketId = NewType("TicketId", str)
Queue = tuple[TeamId, str, str]  # (team, topic, language)


class Presence(StrEnum):
    AVAILABLE = "available"
    BUSY = "busy"
    WRAP_UP = "wrap_up"
    AWAY = "away"


CHOOSABLE = frozenset({Presence.AVAILABLE, Presence.AWAY})


class OfferGone(BrokerError):
    """The offer was accepted or declined too late: it expired, was withdrawn, or went to
    someone else. The client stops ringing."""

    def __init__(self, message: str = "this customer is no longer offered to you") -> None:
        super().__init__(ErrorCode.OFFER_GONE, message)


# the topics a drop-in customer can choose (CB_DROPIN_TOPICS picks among them; the pages
# have their names in every language)
TOPICS = ("benefits", "placement", "self_employed", "youth", "general")


@dataclass(frozen=True, slots=True)
class Skills:
    """What an admin sets for a counsellor: the teams whose drop-ins they take (empty: every
    team of their sign-in), the topics and the languages they counsel in."""

    teams: frozenset[TeamId] = frozenset()
    topics: frozenset[str] = frozenset(TOPICS)
    languages: frozenset[str] = frozenset({"de"})

    def to_dict(self) -> dict[str, list[str]]:
        return {"teams": sorted(self.teams), "topics": sorted(self.topics),
                "languages": sorted(self.languages)}


# ------------------------------------------------------------------ what changed


@dataclass(frozen=True, slots=True)
class Offered:
    ticket: TicketId
    staff: StaffId
    expires_at: float


@dataclass(frozen=True, slots=True)
class Withdrawn:
    """An open offer ended without being accepted: `why` is `left` (the customer), `away`
    (the counsellor), `expired` or `declined`."""

    ticket: TicketId
    staff: StaffId
    why: str


@dataclass(frozen=True, slots=True)
class PresenceChanged:
    staff: StaffId
    presence: Presence


@dataclass(frozen=True, slots=True)
class QueueMoved:
    """The order of a queue changed (someone joined, left or was answered): the adapter
    tells its customers their new positions."""

    queue: Queue


Change = Offered | Withdrawn | PresenceChanged | QueueMoved


# ------------------------------------------------------------------ state


class _Sorted:
    """Keys in ascending order; add and remove by binary search (no scan)."""

    __slots__ = ("_keys",)

    def __init__(self) -> None:
        self._keys: list[tuple[float, str]] = []

    def add(self, key: tuple[float, str]) -> None:
        bisect.insort(self._keys, key)

    def remove(self, key: tuple[float, str]) -> None:
        i = bisect.bisect_left(self._keys, key)
        if i < len(self._keys) and self._keys[i] == key:
            del self._keys[i]

    def rank(self, key: tuple[float, str]) -> int:
        return bisect.bisect_left(self._keys, key)

    def __iter__(self) -> Iterator[tuple[float, str]]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def first(self) -> tuple[float, str] | None:
        return self._keys[0] if self._keys else None


@dataclass(slots=True)
class Ticket:
    id: TicketId
    team: TeamId
    topic: str
    language: str
    joined_at: float
    offered_to: StaffId | None = None
    offer_expires: float | None = None
    declined: set[StaffId] = field(default_factory=set)

    @property
    def queue(self) -> Queue:
        return (self.team, self.topic, self.language)

    @property
    def key(self) -> tuple[float, str]:
        return (self.joined_at, self.id)


@dataclass(slots=True)
class Agent:
    """A signed-in counsellor as routing sees them."""

    staff: StaffId
    teams: frozenset[TeamId]
    topics: frozenset[str]
    languages: frozenset[str]
    chosen: Presence = Presence.AWAY
    sessions: set[SessionId] = field(default_factory=set)
    wrap_until: float | None = None
    idle_since: float = 0.0
    offer: TicketId | None = None
    indexed: bool = False  # in the free indexes of its queues

    @property
    def presence(self) -> Presence:
        if self.sessions:
            return Presence.BUSY
        if self.wrap_until is not None:
            return Presence.WRAP_UP
        return self.chosen

    @property
    def free(self) -> bool:
        return self.presence is Presence.AVAILABLE and self.offer is None

    @property
    def queues(self) -> Iterable[Queue]:
        return product(sorted(self.teams), sorted(self.topics), sorted(self.languages))

    def serves(self, queue: Queue) -> bool:
        team, topic, language = queue
        return team in self.teams and topic in self.topics and language in self.languages

    @property
    def key(self) -> tuple[float, str]:
        return (self.idle_since, self.staff)


@dataclass(slots=True)
class DayFigures:
    """Today's drop-ins (the adapter names the day): for the service level."""

    day: str = ""
    answered: int = 0
    answered_in_target: int = 0
    abandoned: int = 0


class Dispatcher:
    def __init__(self, *, offer_seconds: float = 20.0, wrap_up_seconds: float = 60.0,
                 target_seconds: float = 120.0) -> None:
        self.offer_seconds = offer_seconds
        self.wrap_up_seconds = wrap_up_seconds
        self.target_seconds = target_seconds
        self.tickets: dict[TicketId, Ticket] = {}
        self.agents: dict[StaffId, Agent] = {}
        self._queues: dict[Queue, _Sorted] = {}
        self._free: dict[Queue, _Sorted] = {}  # free agents by how long they are idle
        self._offers: set[TicketId] = set()  # tickets with an open offer
        self._wrapping: set[StaffId] = set()  # counsellors in wrap-up
        self.today: dict[TeamId, DayFigures] = {}
        self._label = ""

    # -------------------------------------------------------------- customers

    def join(self, ticket: Ticket, now: float) -> list[Change]:
        """A customer queues (again, after a restart: at the place their `joined_at` gives).
        Joining twice with the same ticket is a no-op."""
        if ticket.id in self.tickets:
            return []
        self.tickets[ticket.id] = ticket
        self._queues.setdefault(ticket.queue, _Sorted()).add(ticket.key)
        changes: list[Change] = [QueueMoved(ticket.queue)]
        changes += self._route_ticket(ticket, now)
        return changes

    def leave(self, ticket_id: TicketId, now: float) -> list[Change]:
        """The customer left before being answered (abandoned)."""
        t = self.tickets.get(ticket_id)
        if t is None:
            return []
        self._day(t.team).abandoned += 1
        return self._drop(t, now, why="left")

    def position(self, ticket_id: TicketId) -> int:
        """1 for the head of its queue."""
        t = self.tickets[ticket_id]
        return self._queues[t.queue].rank(t.key) + 1

    def queue_of(self, queue: Queue) -> list[TicketId]:
        """The tickets of one queue, head first (for telling them their positions)."""
        return [TicketId(tid) for _, tid in self._queues.get(queue, ())]

    def queues(self) -> list[Queue]:
        """The queues that have someone waiting."""
        return list(self._queues)

    def servers(self, queue: Queue) -> int:
        """Signed-in counsellors who serve this queue and are not away."""
        return sum(1 for a in self.agents.values()
                   if a.presence is not Presence.AWAY and a.serves(queue))

    # -------------------------------------------------------------- counsellors

    def sign_in(self, staff: StaffId, teams: Iterable[TeamId], topics: Iterable[str],
                languages: Iterable[str], now: float) -> list[Change]:
        """A counsellor's console connected, or their teams or skills changed. Presence is
        kept (a new agent starts away: they choose to take drop-ins)."""
        a = self.agents.get(staff)
        teams, topics, languages = frozenset(teams), frozenset(topics), frozenset(languages)
        if a is None:
            a = self.agents[staff] = Agent(staff, teams, topics, languages, idle_since=now)
            return [PresenceChanged(staff, a.presence)]
        if (a.teams, a.topics, a.languages) == (teams, topics, languages):
            return []
        self._unindex(a)
        a.teams, a.topics, a.languages = teams, topics, languages
        changes: list[Change] = []
        if a.offer is not None and not a.serves(self.tickets[a.offer].queue):
            changes += self._withdraw(a, "away", now)
        return changes + self._sync(a, now)

    def sign_out(self, staff: StaffId, now: float) -> list[Change]:
        a = self.agents.get(staff)
        if a is None:
            return []
        self._unindex(a)
        del self.agents[staff]
        self._wrapping.discard(staff)
        return self._withdraw(a, "away", now) if a.offer is not None else []

    def choose(self, staff: StaffId, presence: Presence, now: float) -> list[Change]:
        """The counsellor picks `available` or `away`."""
        if presence not in CHOOSABLE:
            raise ValueError(f"{presence} is set by the broker")
        a = self._agent(staff)
        if a.chosen is presence:
            return []
        before = a.presence
        a.chosen = presence
        if presence is Presence.AVAILABLE and before is not Presence.AVAILABLE:
            a.idle_since = now
        changes = self._withdraw(a, "away", now) if a.offer is not None else []
        return changes + self._sync(a, now, before)

    def session_active(self, staff: StaffId, session: SessionId, now: float) -> list[Change]:
        """A session of theirs became active (or was accepted as a drop-in): busy."""
        a = self.agents.get(staff)
        if a is None or session in a.sessions:
            return []
        before = a.presence
        a.sessions.add(session)
        self._set_wrap(a, None)
        changes = self._withdraw(a, "away", now) if a.offer is not None else []
        return changes + self._sync(a, now, before)

    def session_closed(self, staff: StaffId, session: SessionId, now: float) -> list[Change]:
        """A session of theirs ended: after the last one, wrap-up."""
        a = self.agents.get(staff)
        if a is None or session not in a.sessions:
            return []
        before = a.presence
        a.sessions.discard(session)
        if not a.sessions:
            if self.wrap_up_seconds > 0:
                self._set_wrap(a, now + self.wrap_up_seconds)
            else:
                a.idle_since = now
        return self._sync(a, now, before)

    # -------------------------------------------------------------- offers

    def accept(self, ticket_id: TicketId, staff: StaffId, session: SessionId,
               now: float) -> list[Change]:
        """The counsellor takes the customer: the ticket leaves the queue and the counsellor
        is busy with `session` (created by the adapter for it)."""
        t = self._open_offer(ticket_id, staff, now)
        a = self.agents[staff]
        self._clear_offer(a)
        day = self._day(t.team)
        day.answered += 1
        day.answered_in_target += now - t.joined_at <= self.target_seconds
        self._remove(t)
        return [QueueMoved(t.queue), *self.session_active(staff, session, now)]

    def check_offer(self, ticket_id: TicketId, staff: StaffId, now: float) -> Ticket:
        """The open offer of this ticket to this counsellor (raises OfferGone otherwise):
        the adapter checks before it creates the session an accept needs."""
        return self._open_offer(ticket_id, staff, now)

    def decline(self, ticket_id: TicketId, staff: StaffId, now: float) -> list[Change]:
        t = self._open_offer(ticket_id, staff, now)
        t.declined.add(staff)
        a = self.agents[staff]
        return self._withdraw(a, "declined", now) + self._sync(a, now)

    # -------------------------------------------------------------- time

    def next_deadline(self) -> float | None:
        # only the open offers and the wrap-ups: a walk over every counsellor on each change
        # made signing in thousands of them quadratic
        times = [t.offer_expires for t in self._offered() if t.offer_expires is not None]
        times += [w for w in (self.agents[s].wrap_until for s in self._wrapping) if w is not None]
        return min(times, default=None)

    def tick(self, now: float) -> list[Change]:
        changes: list[Change] = []
        for t in list(self._offered()):
            if t.offer_expires is not None and t.offer_expires <= now:
                assert t.offered_to is not None
                a = self.agents[t.offered_to]
                before = a.presence
                a.chosen = Presence.AWAY  # did not answer: not at the desk
                changes += self._withdraw(a, "expired", now)
                changes += self._sync(a, now, before)
        for a in [self.agents[staff] for staff in list(self._wrapping)]:
            if a.wrap_until is not None and a.wrap_until <= now:
                before = a.presence
                self._set_wrap(a, None)
                a.idle_since = now
                changes += self._sync(a, now, before)
        return changes

    # -------------------------------------------------------------- figures

    def snapshot(self, team: TeamId, now: float) -> dict[str, object]:
        """One team: queues by topic (length, oldest wait), its counsellors by presence,
        today's figures."""
        topics: dict[str, dict[str, float | int | None]] = {}
        for (q_team, topic, _), q in sorted(self._queues.items()):
            if q_team != team:
                continue
            entry = topics.setdefault(topic, {"waiting": 0, "oldest_wait_seconds": None})
            head = q.first()
            entry["waiting"] = int(entry["waiting"] or 0) + len(q)
            if head is not None:
                wait = round(now - head[0], 1)
                old = entry["oldest_wait_seconds"]
                entry["oldest_wait_seconds"] = wait if old is None else max(float(old), wait)
        presence = {str(p): 0 for p in Presence}
        for a in self.agents.values():
            if team in a.teams:
                presence[str(a.presence)] += 1
        d = self.today.get(team, DayFigures())
        answered, finished = d.answered, d.answered + d.abandoned
        return {
            "topics": topics,
            "presence": presence,
            "today": {
                "answered": answered, "abandoned": d.abandoned,
                "service_level": None if answered == 0
                else round(d.answered_in_target / answered, 4),
                "abandonment_rate": None if finished == 0 else round(d.abandoned / finished, 4),
                "target_seconds": self.target_seconds,
            },
        }

    # -------------------------------------------------------------- as data

    def to_state(self) -> dict[str, Any]:
        """Everything the dispatcher knows, as JSON-ready data (several processes keep it in
        Redis); the indexes are rebuilt from it by `restore`."""
        return {
            "label": self._label,
            "tickets": [[t.id, t.team, t.topic, t.language, t.joined_at, t.offered_to,
                         t.offer_expires, sorted(t.declined)] for t in self.tickets.values()],
            "agents": [[a.staff, sorted(a.teams), sorted(a.topics), sorted(a.languages),
                        str(a.chosen), sorted(a.sessions), a.wrap_until, a.idle_since,
                        a.offer, a.indexed] for a in self.agents.values()],
            "today": [[team, d.day, d.answered, d.answered_in_target, d.abandoned]
                      for team, d in self.today.items()],
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Become the dispatcher `to_state` described (its settings stay this one's)."""
        self.tickets, self.agents, self.today = {}, {}, {}
        self._queues, self._free, self._offers, self._wrapping = {}, {}, set(), set()
        self._label = state["label"]
        for tid, team, topic, language, joined, offered_to, expires, declined in \
                state["tickets"]:
            t = Ticket(TicketId(tid), TeamId(team), topic, language, joined, offered_to,
                       expires, set(declined))
            self.tickets[t.id] = t
            self._queues.setdefault(t.queue, _Sorted()).add(t.key)
            if offered_to is not None:
                self._offers.add(t.id)
        for staff, teams, topics, languages, chosen, sessions, wrap_until, idle_since, \
                offer, indexed in state["agents"]:
            a = Agent(StaffId(staff), frozenset(teams), frozenset(topics),
                      frozenset(languages), Presence(chosen), set(sessions), wrap_until,
                      idle_since, offer, indexed)
            self.agents[a.staff] = a
            if wrap_until is not None:
                self._wrapping.add(a.staff)
            if indexed:
                for q in a.queues:
                    self._free.setdefault(q, _Sorted()).add(a.key)
        for team, day, answered, in_target, abandoned in state["today"]:
            self.today[TeamId(team)] = DayFigures(day, answered, in_target, abandoned)

    # -------------------------------------------------------------- inside

    def new_day(self, label: str) -> None:
        """The adapter's clock passed midnight: today's figures start again."""
        for team, day in list(self.today.items()):
            if day.day != label:
                self.today[team] = DayFigures(label)
        self._label = label

    def _day(self, team: TeamId) -> DayFigures:
        day = self.today.get(team)
        if day is None:
            day = self.today[team] = DayFigures(self._label)
        return day

    def _agent(self, staff: StaffId) -> Agent:
        a = self.agents.get(staff)
        if a is None:
            raise NotFound("your drop-in presence (the console is not connected)")
        return a

    def _offered(self) -> Iterator[Ticket]:
        for tid in list(self._offers):
            yield self.tickets[tid]

    def _clear_offer(self, a: Agent) -> None:
        if a.offer is not None:
            self._offers.discard(a.offer)
            a.offer = None

    def _set_wrap(self, a: Agent, until: float | None) -> None:
        a.wrap_until = until
        if until is None:
            self._wrapping.discard(a.staff)
        else:
            self._wrapping.add(a.staff)

    def _open_offer(self, ticket_id: TicketId, staff: StaffId, now: float) -> Ticket:
        t = self.tickets.get(ticket_id)
        if t is None or t.offered_to != staff or t.offer_expires is None \
                or t.offer_expires <= now:
            raise OfferGone()
        return t

    def _remove(self, t: Ticket) -> None:
        self._queues[t.queue].remove(t.key)
        if not self._queues[t.queue]:
            del self._queues[t.queue]
        del self.tickets[t.id]

    def _drop(self, t: Ticket, now: float, why: str) -> list[Change]:
        changes: list[Change] = [QueueMoved(t.queue)]
        a = self.agents.get(t.offered_to) if t.offered_to is not None else None
        self._remove(t)
        if a is not None:  # the counsellor it rang for is free for the next one
            self._clear_offer(a)
            changes += [Withdrawn(t.id, a.staff, why), *self._sync(a, now)]
        return changes

    def _withdraw(self, a: Agent, why: str, now: float) -> list[Change]:
        """End `a`'s open offer and pass its ticket to the next counsellor. The caller then
        `_sync`s `a` (who may have become free, or away)."""
        assert a.offer is not None
        t = self.tickets[a.offer]
        t.offered_to, t.offer_expires = None, None
        self._clear_offer(a)
        return [Withdrawn(t.id, a.staff, why), *self._route_ticket(t, now)]

    def _sync(self, a: Agent, now: float, before: Presence | None = None) -> list[Change]:
        """Keep the free indexes true to `a`; route them if they just became free."""
        changes: list[Change] = []
        if before is not None and before is not a.presence:
            changes.append(PresenceChanged(a.staff, a.presence))
        if a.free and not a.indexed:
            for q in a.queues:
                self._free.setdefault(q, _Sorted()).add(a.key)
            a.indexed = True
            changes += self._route_agent(a, now)
        elif not a.free and a.indexed:
            self._unindex(a)
        return changes

    def _unindex(self, a: Agent) -> None:
        if a.indexed:
            for q in a.queues:
                self._free[q].remove(a.key)
            a.indexed = False

    def _offer(self, t: Ticket, a: Agent, now: float) -> list[Change]:
        t.offered_to, t.offer_expires = a.staff, now + self.offer_seconds
        a.offer = t.id
        self._offers.add(t.id)
        self._unindex(a)
        return [Offered(t.id, a.staff, t.offer_expires)]

    def _route_ticket(self, t: Ticket, now: float) -> list[Change]:
        if t.offered_to is not None:
            return []
        for _, staff in self._free.get(t.queue, ()):  # longest idle first
            if staff not in t.declined:
                return self._offer(t, self.agents[StaffId(staff)], now)
        return []

    def _route_agent(self, a: Agent, now: float) -> list[Change]:
        if not a.free:
            return []
        best: Ticket | None = None
        for q in a.queues:
            for _, tid in self._queues.get(q, ()):
                t = self.tickets[TicketId(tid)]
                if t.offered_to is None and a.staff not in t.declined:
                    if best is None or t.key < best.key:
                        best = t
                    break  # this queue's head for `a`: later ones waited less
        return [] if best is None else self._offer(best, a, now)
