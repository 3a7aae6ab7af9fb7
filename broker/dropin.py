"""The async driver of drop-in routing: tickets, counsellors' presence, offers and their
timers, around the pure `broker.routing.Dispatcher`.

One lock orders every change, and the notices a change causes go out under it, so that a
counsellor never hears of an offer after hearing it was withdrawn. A customer's ticket is
a signed token that carries when they joined: after a restart of the broker, customers
reconnect and queue again at their old places, and counsellors' consoles sign in again
with the presence they had chosen.

One process keeps the routing state in memory. Several (`REDIS_URL`) share it in Redis:
every change runs under one Redis lock, reads the state, changes it and writes it back
(compared by version), so a counsellor on one process is offered a customer who queued on
another, and exactly one accept of a customer wins. Each process watches the state's
version and next deadline, so an offer expires and a wrap-up ends even when the process
that made them is gone, and a restart of every process keeps the queues.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from broker.background import Background, Sink, tell
from broker.credentials import StaffPrincipal, TicketPrincipal
from broker.deadlines import Calendar
from broker.errors import BadInput, BrokerError, ErrorCode, NotFound
from broker.queue_report import Wait
from broker.routing import (
    TOPICS,
    Change,
    Dispatcher,
    Offered,
    Presence,
    PresenceChanged,
    Queue,
    QueueMoved,
    Skills,
    Ticket,
    TicketId,
    Withdrawn,
)
from broker.service import CreatedSession, SessionService
from broker.store.base import ROUTING
from broker.types import Channel, CustomerRef, Kind, SessionId, StaffId, State, TeamId

log = logging.getLogger("broker.dropin")

# what a drop-in customer may ask to be counselled in: the customer page's languages
LANGUAGES = ("de", "en", "tr", "ar", "uk")
# positions are told at most this often per queue (a busy morning moves queues often)
POSITION_PUSH_SECONDS = 0.25



@dataclass(frozen=True, slots=True)
class DropInPolicy:
    topics: tuple[str, ...] = TOPICS
    offer_seconds: float = 20.0
    wrap_up_seconds: float = 60.0
    target_seconds: float = 120.0  # the service level: answered within this wait
    handle_seconds: float = 900.0  # a conversation's usual length, for the estimated wait
    ticket_hours: float = 8.0
    grace_seconds: float = 30.0  # a customer whose page is gone this long left the queue
    max_wait_seconds: float = 1800.0  # a longer estimated wait: a callback is offered
    timezone: str = "Europe/Berlin"  # "today" of the service level


@dataclass(slots=True)
class _Waiting:
    """What the broker keeps beside a ticket: the device's capabilities (for the offer and
    the planned channel) and whether its page is connected."""

    camera: bool | None  # None: not known (the ticket came back after a restart)
    microphone: bool | None
    webrtc: bool | None = None
    online: int = 0  # its pages connected, on every process
    told: tuple[int, int | None] | None = None  # the last (position, estimate) it heard

    def to_list(self) -> list[Any]:
        return [self.camera, self.microphone, self.webrtc, self.online,
                None if self.told is None else list(self.told)]

    @classmethod
    def from_list(cls, d: list[Any]) -> _Waiting:
        return cls(d[0], d[1], d[2], d[3], None if d[4] is None else (d[4][0], d[4][1]))


def planned_channel(w: _Waiting | None) -> Channel:
    """What the customer's device can do (not known after a restart: video, and the call
    steps down if it must)."""
    if w is not None and (w.webrtc is False or w.microphone is False):
        return Channel.PHONE
    if w is not None and w.camera is False:
        return Channel.AUDIO
    return Channel.VIDEO


class DropInService:
    def __init__(self, sessions: SessionService, policy: DropInPolicy | None = None,
                 calendar: Calendar | None = None) -> None:
        self.sessions = sessions
        self.policy = policy or DropInPolicy()
        self.calendar = calendar  # None: drop-ins at any hour
        self.dispatcher = Dispatcher(offer_seconds=self.policy.offer_seconds,
                                     wrap_up_seconds=self.policy.wrap_up_seconds,
                                     target_seconds=self.policy.target_seconds)
        self.to_ticket: Sink | None = None
        self.to_staff: Sink | None = None
        self.on_change: Callable[[], None] | None = None  # the supervisors' view moved
        # a wait ended: (team, answered, seconds waited), for the metrics
        self.on_finished: Callable[[TeamId, bool, float], None] | None = None
        self.version = 0
        self._tz = ZoneInfo(self.policy.timezone)
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._gone: dict[TicketId, asyncio.TimerHandle] = {}  # pages away: leave then
        self._shared_version = -1  # of the shared state held here (-1: read it again)
        self._saved = ""  # the shared state as last written or read
        self._waiting: dict[TicketId, _Waiting] = {}
        # ticket -> (its session's customer token, when); tickets that left -> when
        self._answered: dict[TicketId, tuple[str, float]] = {}
        self._left: dict[TicketId, float] = {}
        self._staff: dict[StaffId, frozenset[TeamId]] = {}  # the teams of their sign-in
        self._moved: set[Queue] = set()
        self._push: asyncio.TimerHandle | None = None
        self._background = Background(log)

    @property
    def shared(self) -> bool:
        return self.sessions.store.shared

    def now(self) -> float:
        return self.sessions.now()

    # ------------------------------------------------------------ the state

    @asynccontextmanager
    async def _held(self, write: bool = True) -> AsyncIterator[None]:
        """Hold the routing state: this process's lock, and with several processes the
        shared one, with the state read first and (if it changed) written back after.
        `write=False`: only to look at it (no shared lock, nothing written)."""
        async with self._lock:
            if not self.shared:
                yield
                return
            if not write:  # a look: the newest state, without keeping other processes out
                await self._read()
                yield
                return
            async with self.sessions.store.lock(ROUTING):
                await self._read()
                try:
                    yield
                except BaseException:
                    self._shared_version = -1  # half-done: read it again next time
                    raise
                await self._write()

    def _state_text(self) -> str:
        """The shared state as text; empty when there is nothing at all to keep (nobody
        waits or takes part, no figures today): then nothing stays in Redis."""
        d = self.dispatcher
        if not (d.tickets or d.agents or d.today or self._waiting or self._answered
                or self._left or self._staff):
            return ""
        return json.dumps({
            "dispatcher": self.dispatcher.to_state(),
            "waiting": {t: w.to_list() for t, w in self._waiting.items()},
            "answered": self._answered, "left": self._left,
            "staff": {s: sorted(t) for s, t in self._staff.items()},
        }, separators=(",", ":"))

    async def _read(self) -> None:
        store = self.sessions.store
        if (await store.routing_version())[0] == self._shared_version:
            return  # ours is the newest: the state itself need not travel
        version, text = await store.routing_state()
        self._shared_version, self._saved = version, text or ""
        state = json.loads(text) if text else {
            "dispatcher": Dispatcher().to_state(), "waiting": {}, "answered": {}, "left": {},
            "staff": {}}
        self.dispatcher.restore(state["dispatcher"])
        self._waiting = {TicketId(t): _Waiting.from_list(w)
                         for t, w in state["waiting"].items()}
        self._answered = {TicketId(t): (a[0], a[1]) for t, a in state["answered"].items()}
        self._left = {TicketId(t): at for t, at in state["left"].items()}
        self._staff = {StaffId(s): frozenset(TeamId(t) for t in teams)
                       for s, teams in state["staff"].items()}

    async def _write(self) -> None:
        text = self._state_text()
        if text == self._saved:
            return
        self._shared_version = await self.sessions.store.put_routing_state(
            text, self._shared_version, self.dispatcher.next_deadline())
        self._saved = text

    async def watch_forever(self, every: float = 0.5) -> None:
        """Several processes: follow the shared state (the supervisors' figures here stay
        current) and fire its deadlines, whichever process set them."""
        started = False
        while True:
            await asyncio.sleep(every)
            try:
                version, due = await self.sessions.store.routing_version()
                if version != self._shared_version:
                    async with self._held(write=False):
                        if not started:
                            self._orphans_leave()
                    if self.on_change is not None:
                        self.on_change()
                started = True
                if due is not None and due <= self.now():
                    await self._tick()
            except Exception:
                log.warning("the shared drop-in state could not be read this round")

    # ------------------------------------------------------------ customers

    def check_choice(self, topic: str, language: str) -> None:
        if topic not in self.policy.topics:
            raise BadInput(f"topic must be one of {', '.join(self.policy.topics)}")
        if language not in LANGUAGES:
            raise BadInput(f"language must be one of {', '.join(LANGUAGES)}")

    def is_open(self) -> bool:
        return self.calendar is None or self.calendar.open_at(self.now())

    def overflow(self, team: TeamId, topic: str, language: str) -> dict[str, Any]:
        """Whether a customer asking now is better offered a callback: `closed` (outside
        the team's hours: nobody waits then), `nobody` (no counsellor for the topic and
        language is taking drop-ins), `wait` (the estimated wait passes the limit); null:
        waiting is fine. Only `closed` refuses a ticket: in the other cases the customer
        may still choose to wait."""
        self.check_choice(topic, language)
        if not self.is_open():
            return {"overflow": "closed", "estimate_seconds": None}
        queue: Queue = (team, topic, language)
        servers = self.dispatcher.servers(queue)
        estimate = self._estimate(queue, len(self.dispatcher.queue_of(queue)) + 1, servers)
        reason = None
        if estimate is None:
            reason = "nobody"
        elif estimate > self.policy.max_wait_seconds:
            reason = "wait"
        return {"overflow": reason, "estimate_seconds": estimate}

    async def open_ticket(self, team: TeamId, topic: str, language: str, *, camera: bool,
                          microphone: bool, webrtc: bool = True) -> dict[str, Any]:
        """A customer queues: their ticket (and its token) and their place."""
        self.check_choice(topic, language)
        if not self.is_open():
            raise BrokerError(ErrorCode.QUEUE_CLOSED, "the team takes drop-ins during its "
                              "opening hours: ask for a callback instead")
        now = self.now()
        tid = TicketId(secrets.token_urlsafe(12))
        principal = TicketPrincipal(tid, team, topic, language, now,
                                    now + self.policy.ticket_hours * 3600)
        token = self.sessions.issuer.ticket_token(principal, now)
        async with self._held():
            self._forget_settled(now)
            self._waiting[tid] = _Waiting(camera, microphone, webrtc)
            # a ticket whose page never comes has left (the page connects at once)
            self._leave_later(tid, 2 * self.policy.grace_seconds)
            await self._apply(self.dispatcher.join(Ticket(tid, team, topic, language, now), now))
            state = self._state(tid)
        log.info("drop-in ticket queued team=%s topic=%s", team, topic)
        return {"ticket": tid, "token": token, "expires_at": principal.expires_at, **state}

    async def ticket_online(self, t: TicketPrincipal) -> dict[str, Any]:
        """The ticket's page connected (again): its state. After a restart of the broker the
        ticket queues again at the place its token says (what its device can do is then
        unknown until the counsellor sees it in the call)."""
        tid = TicketId(t.ticket)
        async with self._held():
            done = self._settled(tid)
            if done is not None:
                return done
            w = self._waiting.get(tid)
            if w is None:
                w = self._waiting[tid] = _Waiting(None, None)
            if tid not in self.dispatcher.tickets:
                await self._apply(self.dispatcher.join(
                    Ticket(tid, t.team, t.topic, t.language, t.joined_at), self.now()))
            w.online += 1
            self._stay(tid)
            t_now = self.dispatcher.tickets[tid]
            if w.online == 1 and t_now.offered_to is not None:
                # it may ring already (a ticket is offered the moment it queues): the
                # counsellor learns that the customer's page is there now
                await tell(self.to_staff, t_now.offered_to, "dropin_offer",
                                 self._offer_view(t_now))
            state = self._state(tid)
            w.told = (state["position"], state["estimate_seconds"])
            return state

    async def ticket_state(self, t: TicketPrincipal) -> dict[str, Any]:
        tid = TicketId(t.ticket)
        async with self._held():
            done = self._settled(tid)
            if done is not None:
                return done
            if tid not in self.dispatcher.tickets:
                return {"state": "left"}
            return self._state(tid)

    def _settled(self, tid: TicketId) -> dict[str, Any] | None:
        if tid in self._answered:
            return {"state": "answered", "token": self._answered[tid][0]}
        if tid in self._left:
            return {"state": "left"}
        return None

    def _forget_settled(self, now: float) -> None:
        """Settled tickets are remembered while their tokens are valid, then forgotten."""
        horizon = now - self.policy.ticket_hours * 3600
        for tid in [t for t, (_, at) in self._answered.items() if at < horizon]:
            del self._answered[tid]
        for tid in [t for t, at in self._left.items() if at < horizon]:
            del self._left[tid]

    def _leave_later(self, tid: TicketId, delay: float) -> None:
        """The ticket leaves after `delay` unless a page of it is connected by then (on any
        process: the count is in the shared state)."""
        self._stay(tid)
        loop = asyncio.get_running_loop()

        async def leave() -> None:
            self._gone.pop(tid, None)
            await self.leave(tid, gone=True)

        self._gone[tid] = loop.call_later(delay, lambda: self._background.spawn(leave()))

    def _orphans_leave(self) -> None:
        """At the start of a process: tickets no page holds (their processes stopped, or
        every process did) leave unless a page comes back within the grace period."""
        for tid, w in self._waiting.items():
            if w.online == 0 and tid in self.dispatcher.tickets and tid not in self._gone:
                self._leave_later(tid, 2 * self.policy.grace_seconds)

    def _stay(self, tid: TicketId) -> None:
        timer = self._gone.pop(tid, None)
        if timer is not None:
            timer.cancel()

    async def ticket_offline(self, ticket: str) -> None:
        """One of the ticket's pages went away: with none left for the grace period, the
        customer has left the queue."""
        tid = TicketId(ticket)
        async with self._held():
            w = self._waiting.get(tid)
            if w is None:
                return
            w.online = max(0, w.online - 1)
            if w.online == 0 and tid not in self._gone and tid in self.dispatcher.tickets:
                self._leave_later(tid, self.policy.grace_seconds)

    async def leave(self, ticket: str, *, gone: bool = False) -> dict[str, Any]:
        """The customer left the queue (their choice, or their page stayed away); every
        page of the ticket hears it. Returns how the wait ended (answered: with the link)."""
        tid = TicketId(ticket)
        async with self._held():
            if tid not in self.dispatcher.tickets:
                return self._settled(tid) or {"state": "left"}
            w = self._waiting.get(tid)
            if gone and w is not None and w.online > 0:
                return self._state(tid)  # a page came back meanwhile, perhaps elsewhere
            self._waiting.pop(tid, None)
            self._stay(tid)
            now = self.now()
            self._left[tid] = now
            t = self.dispatcher.tickets[tid]
            await self._apply(self.dispatcher.leave(tid, now))
            self._finished(t, False, now)
            await tell(self.to_ticket, tid, "dropin_left", {"state": "left"})
        log.info("drop-in ticket left (%s)", "page gone" if gone else "by choice")
        return {"state": "left"}

    # ------------------------------------------------------------ counsellors

    async def staff_online(self, who: StaffPrincipal) -> dict[str, Any]:
        """A counsellor's console connected (their first socket): they take part, with the
        skills an admin set (or the defaults), starting away."""
        return await self._sign_in(who.staff_id, who.teams)

    async def _sign_in(self, staff: StaffId, signed_teams: frozenset[TeamId]
                       ) -> dict[str, Any]:
        skills = await self.sessions.contacts.skills(staff) or Skills()
        teams = (skills.teams & signed_teams) if skills.teams else signed_teams
        calls = [s.id for s in await self.sessions.sessions_of(staff)
                 if s.state is State.ACTIVE]
        async with self._held():
            self._staff[staff] = signed_teams
            self._estimates_moved()
            now = self.now()
            changes = self.dispatcher.sign_in(staff, teams, skills.topics, skills.languages,
                                              now)
            for sid in calls:  # in a call already (their console reloaded): busy
                changes += self.dispatcher.session_active(staff, sid, now)
            await self._apply(changes)
            return self.staff_state(staff)

    async def staff_offline(self, staff: StaffId) -> None:
        async with self._held():
            self._staff.pop(staff, None)
            self._estimates_moved()
            await self._apply(self.dispatcher.sign_out(staff, self.now()))

    async def skills_changed(self, staff: StaffId) -> None:
        """An admin changed a counsellor's skills: a connected console routes by them now."""
        async with self._held(write=False):
            signed_teams = self._staff.get(staff)
        if signed_teams is not None:
            await self._sign_in(staff, signed_teams)

    async def choose(self, staff: StaffId, presence: Presence) -> dict[str, Any]:
        async with self._held():
            await self._apply(self.dispatcher.choose(staff, presence, self.now()))
            return self.staff_state(staff)

    async def accept(self, who: StaffPrincipal, ticket: str) -> CreatedSession:
        """The counsellor takes the customer: a drop-in session starts for them, and the
        customer's page is handed its link."""
        tid = TicketId(ticket)
        async with self._held():
            now = self.now()
            t = self.dispatcher.check_offer(tid, who.staff_id, now)
            w = self._waiting.get(tid)
            channel = planned_channel(w)
            created = await self.sessions.create(
                who, t.team, CustomerRef(f"drop-in-{tid[:8]}"), now, channel, Kind.DROP_IN)
            await self._apply(self.dispatcher.accept(tid, who.staff_id, created.session.id,
                                                     now))
            self._finished(t, True, now)
            self._waiting.pop(tid, None)
            self._answered[tid] = (created.customer_token, now)
            await tell(self.to_ticket, tid, "dropin_answered",
                             {"token": created.customer_token})
        log.info("drop-in ticket answered by a counsellor: session %s", created.session.id)
        return created

    async def decline(self, staff: StaffId, ticket: str) -> None:
        async with self._held():
            await self._apply(self.dispatcher.decline(TicketId(ticket), staff, self.now()))

    def session_activity(self, staff: StaffId, session: SessionId, active: bool) -> None:
        """From the session service: a session of this counsellor became active, or ended."""
        async def apply() -> None:
            async with self._held():
                if staff not in self.dispatcher.agents:
                    return
                now = self.now()
                if active:
                    changes = self.dispatcher.session_active(staff, session, now)
                else:
                    changes = self.dispatcher.session_closed(staff, session, now)
                await self._apply(changes)

        if self.shared or staff in self.dispatcher.agents:
            self._background.spawn(apply())

    async def current_state(self, staff: StaffId) -> dict[str, Any] | None:
        """A counsellor's drop-in state as it is now (None: not taking part)."""
        async with self._held(write=False):
            if staff not in self.dispatcher.agents:
                return None
            return self.staff_state(staff)

    def staff_state(self, staff: StaffId) -> dict[str, Any]:
        a = self.dispatcher.agents.get(staff)
        if a is None:
            raise NotFound("your drop-in presence (the console is not connected)")
        out: dict[str, Any] = {"presence": str(a.presence), "skills": {
            "teams": sorted(a.teams), "topics": sorted(a.topics),
            "languages": sorted(a.languages)}, "offer": None}
        if a.offer is not None:
            out["offer"] = self._offer_view(self.dispatcher.tickets[a.offer])
        return out

    # ------------------------------------------------------------ figures

    def snapshot(self, team: TeamId) -> dict[str, Any]:
        self._roll_day(self.now())
        return self.dispatcher.snapshot(team, self.now())

    def teams(self) -> set[TeamId]:
        """Teams with a queue or a counsellor taking part."""
        out = {t.team for t in self.dispatcher.tickets.values()}
        for a in self.dispatcher.agents.values():
            out |= a.teams
        return out

    # ------------------------------------------------------------ inside

    def _finished(self, t: Ticket, answered: bool, now: float) -> None:
        """A wait ended: into the metrics, and into the contact log for reports (a wait lost
        to a crash of the log's write is one customer fewer in a report, not a wrong one)."""
        if self.on_finished is not None:
            self.on_finished(t.team, answered, now - t.joined_at)
        wait = Wait(t.team, t.topic, t.language, t.joined_at, now, answered)

        async def keep() -> None:
            try:
                await self.sessions.contacts.add_wait(wait)
            except Exception:
                log.warning("a finished drop-in wait was not kept for reports")

        self._background.spawn(keep())

    def _state(self, tid: TicketId) -> dict[str, Any]:
        t = self.dispatcher.tickets[tid]
        position = self.dispatcher.position(tid)
        return {"state": "waiting", "team": t.team, "topic": t.topic, "language": t.language,
                "position": position, "estimate_seconds": self._estimate(t.queue, position)}

    def _estimate(self, queue: Queue, position: int, servers: int | None = None) -> int | None:
        """Seconds, in whole minutes (rounded up): a wait is not told to the second, and
        customers are not told again for every small change."""
        if servers is None:
            servers = self.dispatcher.servers(queue)
        if servers == 0:
            return None
        return 60 * math.ceil(position * self.policy.handle_seconds / (60 * servers))

    def _offer_view(self, t: Ticket) -> dict[str, Any]:
        w = self._waiting.get(t.id)
        return {"ticket": t.id, "team": t.team, "topic": t.topic, "language": t.language,
                "camera": None if w is None else w.camera,
                "microphone": None if w is None else w.microphone,
                "present": w is not None and w.online > 0,
                "waited_seconds": round(self.now() - t.joined_at, 1),
                "expires_at": t.offer_expires, "now": self.now()}

    def _roll_day(self, now: float) -> None:
        self.dispatcher.new_day(datetime.fromtimestamp(now, self._tz).date().isoformat())

    async def _apply(self, changes: list[Change]) -> None:
        """Under the lock: tell everyone what changed, re-arm the timer."""
        self._roll_day(self.now())
        for c in changes:
            if isinstance(c, Offered):
                t = self.dispatcher.tickets[c.ticket]
                await tell(self.to_staff, c.staff, "dropin_offer", self._offer_view(t))
            elif isinstance(c, Withdrawn):
                await tell(self.to_staff, c.staff, "dropin_withdrawn",
                                 {"ticket": c.ticket, "why": c.why})
            elif isinstance(c, PresenceChanged):
                await tell(self.to_staff, c.staff, "presence",
                                 {"presence": str(c.presence)})
                a = self.dispatcher.agents.get(c.staff)
                if a is not None:  # who serves their queues changed: so did the estimates
                    waiting = set(self.dispatcher.queues())
                    self._moved.update(q for q in a.queues if q in waiting)
            elif isinstance(c, QueueMoved):
                self._moved.add(c.queue)
        if self._moved and self._push is None and self.dispatcher.tickets:
            loop = asyncio.get_running_loop()
            self._push = loop.call_later(POSITION_PUSH_SECONDS,
                                         lambda: self._background.spawn(self._push_positions()))
        if changes:
            self.version += 1
            if self.on_change is not None:
                self.on_change()
        self._arm()

    def _estimates_moved(self) -> None:
        """Who can serve changed: every queue's estimated waits are told again (there are
        few queues; their customers are told at most every POSITION_PUSH_SECONDS)."""
        self._moved.update(self.dispatcher.queues())

    async def _push_positions(self) -> None:
        """Tell the connected pages of the moved queues their place and wait, where it
        changed. Worked out under the lock, sent after it: routing does not wait for it."""
        notes: list[tuple[TicketId, dict[str, Any]]] = []
        async with self._held():
            self._push = None
            moved, self._moved = self._moved, set()
            for queue in moved:
                servers = self.dispatcher.servers(queue)
                for i, tid in enumerate(self.dispatcher.queue_of(queue)):
                    w = self._waiting.get(tid)
                    if w is None or w.online == 0:
                        continue
                    told = (i + 1, self._estimate(queue, i + 1, servers))
                    if w.told != told:
                        w.told = told
                        team, topic, language = queue
                        notes.append((tid, {"state": "waiting", "team": team, "topic": topic,
                                            "language": language, "position": told[0],
                                            "estimate_seconds": told[1]}))
        for tid, data in notes:
            await tell(self.to_ticket, tid, "queue_state", data)

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        due = self.dispatcher.next_deadline()
        if due is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(max(0.0, due - self.now()),
                                          lambda: self._background.spawn(self._tick()))

    async def _tick(self) -> None:
        async with self._held():
            self._timer = None
            await self._apply(self.dispatcher.tick(self.now()))

    async def close(self) -> None:
        for handle in (self._timer, self._push):
            if handle is not None:
                handle.cancel()
        for timer in self._gone.values():
            timer.cancel()
        self._background.close()
