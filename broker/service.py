"""The async driver of the session core: load, handle, log ahead, save, notify, arm timers.

One input at a time per session (the store's lock, across every process sharing it), so
the core never sees two at once. An input that changes nothing (a repeated media report, a
reconnect of a party already present) costs no write. Adapters register `notify` (socket
emits) and `evict`, and read the live load from the store.

With a shared store several processes run this service side by side. Each one states its
own sockets' presence in the store and beats there; the reaper (`reap_once`, on every
process) takes over the presence of a process that stopped beating, fires deadlines whose
process is gone, and restores the live sessions from the contact log when the store lost
its contents. Whoever gets a session's lock first acts; the others find nothing to do.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from broker.contactlog.base import ContactLog, LoggedEvent
from broker.credentials import (
    StaffPrincipal,
    TokenIssuer,
    derive_access_code,
    new_device_secret,
    new_session_id,
)
from broker.errors import AccessDenied, BadInput, BrokerError, Conflict, ErrorCode, NotFound
from broker.events import (
    Closed,
    Disconnected,
    Input,
    Interrupt,
    Leave,
    Notify,
    Reconnected,
    RevokeLink,
    Tick,
    input_from_log,
    input_to_log,
)
from broker.record import ContactRecord, record_of
from broker.session import Policy, Session, clone, session_to_dict
from broker.store.base import NodeParties, Store
from broker.types import Channel, CustomerRef, Kind, Role, SessionId, StaffId, State, TeamId
from broker.webhooks import WebhookEvents

log = logging.getLogger("broker.session")

NotifySink = Callable[[Session, Notify], Awaitable[None]]
# (session, why, the customer's newest socket as the store knew it)
EvictSink = Callable[[SessionId, ErrorCode, str | None], Awaitable[None]]
Condition = Callable[[], Awaitable[bool]]
# what a process re-states after the store forgot it (it was taken for dead, or lost data)
ReassertSink = Callable[[], Awaitable[None]]
MAX_PLANNING_AHEAD = 366 * 86400.0
_VOLATILE = ("version", "last_event_at")


@dataclass(frozen=True, slots=True)
class CreatedSession:
    session: Session
    access_code: str
    customer_token: str
    expires_at: float


def _created_entry(s: Session, nonce: int) -> dict[str, Any]:
    return {
        "type": "Created", "team": s.team, "counsellor": s.counsellor,
        "customer_ref": s.customer_ref, "planned_start": s.planned_start,
        "planned_channel": str(s.planned_channel), "kind": str(s.kind), "code_nonce": nonce,
    }


class SessionService:
    def __init__(
        self,
        store: Store,
        contacts: ContactLog,
        issuer: TokenIssuer,
        policy: Policy,
        *,
        link_valid_after_start: float = 4 * 3600.0,
        clock: Callable[[], float] = time.time,
        node: str | None = None,
        node_timeout: float = 6.0,
        webhooks: WebhookEvents | None = None,
    ) -> None:
        self.store = store
        self.contacts = contacts
        self.issuer = issuer
        self.policy = policy
        self.notify: NotifySink | None = None
        # turns a session's customer sockets away (ended, link revoked)
        self.evict: EvictSink | None = None
        self.on_load_change: Callable[[], None] | None = None
        self.reassert: ReassertSink | None = None
        # observers for metrics: a call began; a record was closed (written: by this call)
        self.on_started: Callable[[Session], None] | None = None
        self.on_closed: Callable[[ContactRecord, bool], None] | None = None
        # drop-in presence: a counsellor's session became active (True) or ended (False)
        self.on_activity: Callable[[StaffId, SessionId, bool], None] | None = None
        self._clock = clock
        self._link_valid_after_start = link_valid_after_start
        self._timers: dict[SessionId, asyncio.TimerHandle] = {}
        self._staff_sockets: Counter[StaffId] = Counter()  # on this process
        self._tasks: set[asyncio.Task[None]] = set()
        self.node = node or uuid.uuid4().hex[:12]
        self.node_timeout = node_timeout
        self._generation: str | None = None
        # the outbox entries each step causes, written with it (no URLs: none)
        self.webhooks = webhooks or WebhookEvents()

    def now(self) -> float:
        return self._clock()

    # ------------------------------------------------------------ creating and reading

    async def create(
        self,
        staff: StaffPrincipal,
        team: TeamId,
        customer_ref: CustomerRef,
        planned_start: float,
        planned_channel: Channel,
        kind: Kind = Kind.SCHEDULED,
    ) -> CreatedSession:
        if not staff.has(Role.COUNSELLOR):
            raise AccessDenied(ErrorCode.FORBIDDEN, "only counsellors create sessions")
        if team not in staff.teams and not staff.has(Role.ADMIN):
            raise AccessDenied(ErrorCode.FORBIDDEN, "not a member of that team")
        now = self.now()
        if not math.isfinite(planned_start) or abs(planned_start - now) > MAX_PLANNING_AHEAD:
            raise BadInput("planned_start must lie within a year of now")
        sid = new_session_id()
        token, expires = self._customer_token(sid, planned_start, now, 0)
        nonce, code = await self._new_code(sid, 0)
        s = Session(
            id=sid, team=team, counsellor=staff.staff_id, customer_ref=customer_ref,
            planned_start=planned_start, planned_channel=planned_channel, created_at=now,
            kind=kind, access_code=code, policy=self.policy, last_event_at=now,
            code_nonce=nonce,
        )
        await self.contacts.append(sid, 0, now, _created_entry(s, nonce),
                                   outbox=self.webhooks.created(s))
        await self.store.put(s, None)
        self._signal_load()
        await self._arm(s)
        log.info("session %s created team=%s channel=%s", sid, team, planned_channel)
        return CreatedSession(s, code, token, expires)

    async def get(self, session_id: SessionId) -> Session:
        s = await self.store.get(session_id)
        if s is not None:
            return s
        if await self.contacts.is_closed(session_id):
            raise BrokerError(ErrorCode.SESSION_ENDED, "the session has ended")
        if self.store.shared and await self._restore(session_id):
            # the shared store lost it (a Redis restart): the log brought it back
            s = await self.store.get(session_id)
            if s is not None:
                return s
        raise NotFound("session")

    async def sessions_of(self, staff_id: StaffId) -> list[Session]:
        found = [await self.store.get(sid) for sid in await self.store.by_counsellor(staff_id)]
        return sorted((s for s in found if s is not None), key=lambda s: s.planned_start)

    async def session_for_code(self, code: str) -> SessionId:
        sid = await self.store.by_code(self._code_hash(code))
        if sid is None:
            raise BrokerError(ErrorCode.INVALID_CODE, "no open session has this code")
        return sid

    def customer_token(self, s: Session) -> tuple[str, float]:
        """A link of the session's current generation."""
        return self._customer_token(s.id, s.planned_start, self.now(), s.link_generation)

    def _customer_token(self, sid: SessionId, planned_start: float, now: float,
                        generation: int) -> tuple[str, float]:
        expires = max(planned_start, now) + self._link_valid_after_start
        return self.issuer.customer_token(sid, now, expires, generation), expires

    async def _new_code(self, sid: SessionId, first_nonce: int) -> tuple[int, str]:
        for nonce in range(first_nonce, first_nonce + 32):
            code = derive_access_code(self.issuer, sid, nonce)
            if await self.store.set_code(self._code_hash(code), sid):
                return nonce, code
        # pragma: no cover - 32 collisions in a billion codes
        raise BrokerError(ErrorCode.UNAVAILABLE, "no free access code, try again")

    async def revoke_link(self, staff: StaffPrincipal, session_id: SessionId) -> Session:
        """Older links and the old access code stop working at once: sockets that came in
        with them are turned away, and the link may bind to a new device."""
        async with self.store.lock(session_id):
            s = await self.get(session_id)
            self.require_counsellor(staff, s)
            nonce, code = await self._new_code(session_id, s.code_nonce + 1)
            s = await self._apply_locked(session_id, RevokeLink(nonce, code))
            await self.store.set_device(session_id, None)
            socket = await self.store.customer_socket(session_id)
        log.info("session %s link revoked (generation %d)", session_id, s.link_generation)
        await self._evict(session_id, ErrorCode.LINK_REVOKED, socket)
        return s

    async def _evict(self, session_id: SessionId, why: ErrorCode, socket: str | None) -> None:
        if self.evict is not None:
            try:
                await self.evict(session_id, why, socket)
            except Exception:
                log.exception("session %s: turning sockets away failed", session_id)

    def require_counsellor(self, staff: StaffPrincipal, s: Session) -> None:
        """Only the session's own counsellor acts on it: the call, its notices and its
        presence all belong to that counsellor's console (admins included, no exception)."""
        if s.counsellor != staff.staff_id:
            raise AccessDenied(ErrorCode.FORBIDDEN, "this session belongs to someone else")

    def _code_hash(self, code: str) -> str:
        return self.issuer.keyed_hash("access-code", code)

    # ------------------------------------------------------------ applying inputs

    async def apply(self, session_id: SessionId, event: Input) -> Session:
        """Apply one input; a refusal raises for the caller to report."""
        async with self.store.lock(session_id):
            return await self._apply_locked(session_id, event)

    async def _apply_if(
        self, session_id: SessionId, event: Input, only_if: Condition, at: float | None = None
    ) -> None:
        """Apply only if `only_if` still holds once the session is ours: a disconnect queued
        behind a newer connect of the same party must not win."""
        async with self.store.lock(session_id):
            if await only_if():
                await self._apply_locked(session_id, event, at)

    async def _apply_locked(self, session_id: SessionId, event: Input,
                            at: float | None = None) -> Session:
        try:
            return await self._apply_once(session_id, event, at)
        except Conflict:
            # the log is a step ahead of the store: a process died between the two writes
            # (or held the session past its lock). The log is the truth: catch up, retry.
            if not await self._restore(session_id, replace=True):
                raise
            log.warning("session %s: live state caught up with the contact log", session_id)
            return await self._apply_once(session_id, event, at)

    async def _apply_once(self, session_id: SessionId, event: Input,
                          at: float | None) -> Session:
        before = await self.get(session_id)
        after = clone(before)
        # `at`: when it happened, if earlier than now (a dead process's last sign of life)
        now = self.now() if at is None else max(at, before.last_event_at)
        effects = after.handle(event, now)
        if _changed(before, after):
            await self.contacts.append(session_id, after.version, now, input_to_log(event),
                                       outbox=self.webhooks.step(before, after, event, now))
            await self.store.put(after, before.version)
            self._signal_load()
            if after.state is State.ACTIVE and before.state is not State.ACTIVE:
                if self.on_started is not None:
                    self.on_started(after)
                if self.on_activity is not None:
                    self.on_activity(after.counsellor, after.id, True)
        else:
            after = before
        await self._run_effects(after, effects)
        return after

    async def _run_effects(self, s: Session, effects: list[Any]) -> None:
        closed = False
        socket: str | None = None
        for effect in effects:
            if isinstance(effect, Closed):
                socket = await self.store.customer_socket(s.id)
                await self._close(s)
                closed = True
        if not s.state.terminal:
            await self._arm(s)
        # tell people only once the change is durable; one failed emit spoils no other
        if self.notify is not None:
            for effect in effects:
                if isinstance(effect, Notify):
                    try:
                        await self.notify(s, effect)
                    except Exception:
                        log.exception("session %s: notice %s failed", s.id, effect.event)
        if closed:  # after `ended` went out: the customer's sockets have nothing left to do
            # (outside this session's lock: their disconnects will want it)
            self._spawn(self._evict(s.id, ErrorCode.SESSION_ENDED, socket))

    async def _close(self, s: Session) -> None:
        record = record_of(s)
        written = await self._write_record(record)
        await self.store.remove(s.id)
        self._disarm(s.id)
        if self.on_closed is not None:
            self.on_closed(record, written)
        if self.on_activity is not None:
            self.on_activity(s.counsellor, s.id, False)
        log.info(
            "session %s closed state=%s reason=%s written=%s seconds=%s",
            s.id, s.state, s.end_reason, written, record.seconds,
        )

    async def _write_record(self, record: ContactRecord) -> bool:
        """The record, and with it (the first time only) its `session.ended` event."""
        return await self.contacts.close_session(record, outbox=self.webhooks.ended(record))

    # ------------------------------------------------------------ connections

    async def customer_connect(
        self, session_id: SessionId, device_secret: str | None, generation: int = 0,
        socket: str = "",
    ) -> tuple[Session, str, int, str | None]:
        """Bind the link to this device, or check it is the bound one. Returns the device
        secret, the connection's epoch (only the newest connection may later say it left)
        and the socket it replaces, on whichever process that one is.
        Every (re)connect checks the session anew: ended, or the link revoked, is refused."""
        async with self.store.lock(session_id):
            s = await self.get(session_id)
            if generation != s.link_generation:
                raise AccessDenied(ErrorCode.LINK_REVOKED, "this link has been replaced")
            bound = await self.store.device(session_id)
            given = None if not device_secret else self.issuer.keyed_hash("device", device_secret)
            if bound is not None and given == bound:
                secret = device_secret or ""
            elif bound is None or (s.state is State.SCHEDULED and not s.customer.connected):
                secret = new_device_secret()
                await self.store.set_device(session_id, self.issuer.keyed_hash("device", secret))
            else:
                log.warning("session %s refused a second device", session_id)
                raise AccessDenied(
                    ErrorCode.LINK_IN_USE, "this link is already in use on another device"
                )
            epoch, previous = await self.store.claim_customer(session_id, self.node, socket)
            s = await self._apply_locked(session_id, Reconnected(Role.CUSTOMER))
            return s, secret, epoch, previous

    async def customer_disconnect(self, session_id: SessionId, epoch: int) -> None:
        try:
            await self.store.release_customer(session_id, self.node, epoch)
        except BrokerError:  # it stays listed for this process: harmless, a takeover skips it
            log.warning("session %s: customer presence not released (store)", session_id)
        await self._customer_gone(session_id, epoch)

    async def _customer_gone(self, session_id: SessionId, epoch: int,
                             at: float | None = None) -> None:
        async def still_newest() -> bool:
            return await self.store.customer_epoch(session_id) == epoch

        await self._apply_quietly(session_id, Disconnected(Role.CUSTOMER), still_newest, at)

    async def staff_connect(self, staff: StaffPrincipal) -> tuple[list[Session], bool]:
        """Count one more socket of the counsellor; returns their sessions and whether they
        have just come online (on no process before)."""
        self._staff_sockets[staff.staff_id] += 1
        try:
            total = await self._count_staff(staff)
        except BrokerError:  # the connect is refused: it must not count
            self._forget_socket(staff.staff_id)
            raise
        first = total == 1
        if first:
            self._signal_load()
            await self._staff_back(staff.staff_id)
        return await self.sessions_of(staff.staff_id), first

    def _forget_socket(self, staff_id: StaffId) -> None:
        self._staff_sockets[staff_id] -= 1
        if self._staff_sockets[staff_id] <= 0:
            del self._staff_sockets[staff_id]

    async def _staff_back(self, staff_id: StaffId) -> None:
        """The counsellor's calls see them present again."""
        async def online() -> bool:
            return await self.staff_is_online(staff_id)

        for s in await self.sessions_of(staff_id):
            if s.state is State.ACTIVE:
                await self._apply_quietly(s.id, Reconnected(Role.COUNSELLOR), online)

    async def staff_disconnect(self, staff: StaffPrincipal) -> bool:
        """One socket fewer; True if the counsellor has none left on any process."""
        self._forget_socket(staff.staff_id)
        try:
            total = await self._count_staff(staff)
        except BrokerError:
            log.warning("counsellor presence not updated (store): tried again later")
            self._defer(0, lambda attempt: self._recount_staff(staff, attempt))
            return False
        if total > 0:
            return False
        self._signal_load()
        await self._staff_gone(staff.staff_id)
        return True

    async def _recount_staff(self, staff: StaffPrincipal, attempt: int) -> None:
        """A counsellor's socket count that could not be stored (an outage), again."""
        try:
            total = await self._count_staff(staff)
        except BrokerError:
            self._defer(attempt, lambda attempt: self._recount_staff(staff, attempt))
            return
        if total == 0:
            self._signal_load()
            try:
                await self._staff_gone(staff.staff_id)
            except BrokerError as exc:
                log.warning("counsellor's calls not marked (%s)", exc.code)

    async def _staff_gone(self, staff_id: StaffId, at: float | None = None) -> None:
        async def offline() -> bool:
            return not await self.staff_is_online(staff_id)

        for s in await self.sessions_of(staff_id):
            if s.state is State.ACTIVE:
                await self._apply_quietly(s.id, Disconnected(Role.COUNSELLOR), offline, at)

    async def staff_still_here(self, staff: StaffPrincipal) -> None:
        """After the store forgot this process: its sockets of the counsellor count again,
        and the counsellor's calls see them present."""
        if await self._count_staff(staff) > 0:
            await self._staff_back(staff.staff_id)

    async def customer_still_here(self, session_id: SessionId, socket: str) -> int:
        """The same for a customer's socket: a new epoch, and present again."""
        async with self.store.lock(session_id):
            epoch, _ = await self.store.claim_customer(session_id, self.node, socket)
            with suppress(BrokerError):
                await self._apply_locked(session_id, Reconnected(Role.CUSTOMER))
            return epoch

    async def _count_staff(self, staff: StaffPrincipal) -> int:
        return await self.store.set_staff_sockets(
            staff.staff_id, staff.teams, self.node, self._staff_sockets[staff.staff_id])

    async def staff_is_online(self, staff_id: StaffId) -> bool:
        return await self.store.staff_sockets(staff_id) > 0

    async def _apply_quietly(
        self, session_id: SessionId, event: Input, only_if: Condition | None = None,
        at: float | None = None, attempt: int = 0,
    ) -> None:
        """For inputs nobody waits on (timers, disconnects): log refusals, never raise. One
        that met an outage (Redis, the database) is tried again later, with back-off: a
        lost disconnect would keep a party present for ever, a lost tick a session open."""
        try:
            if only_if is None:
                await self.apply(session_id, event)
            else:
                await self._apply_if(session_id, event, only_if, at)
        except BrokerError as exc:
            if exc.code is ErrorCode.UNAVAILABLE and self._defer(
                    attempt, lambda attempt: self._apply_quietly(
                        session_id, event, only_if, at, attempt)):
                log.warning("session %s: %s deferred (%s)", session_id,
                            type(event).__name__, exc.code)
                return
            log.debug("session %s: %s ignored (%s)", session_id, type(event).__name__, exc.code)
        except Exception:
            log.exception("session %s: %s failed", session_id, type(event).__name__)

    def _defer(self, attempt: int, work: Callable[[int], Coroutine[Any, Any, None]]) -> bool:
        """Run `work(attempt + 1)` after a back-off (0.5 s doubling to 30 s); False once it
        has been tried often enough (about five minutes)."""
        if attempt >= 12:
            return False
        delay = min(30.0, 0.5 * 2 ** attempt)

        async def later() -> None:
            await asyncio.sleep(delay)
            await work(attempt + 1)

        self._spawn(later())
        return True

    # ------------------------------------------------------------ deadlines

    async def _arm(self, s: Session) -> None:
        """A timer here, and (shared) the deadline in the store, for when this process is
        gone by then: any other process's reaper fires it."""
        self._disarm(s.id)
        deadline = s.next_deadline()
        if self.store.shared:
            await self.store.set_deadline(s.id, deadline)
        if deadline is None:
            return
        delay = max(0.0, deadline - self.now())
        loop = asyncio.get_running_loop()
        self._timers[s.id] = loop.call_later(delay, self._fire, s.id)

    def _disarm(self, session_id: SessionId) -> None:
        handle = self._timers.pop(session_id, None)
        if handle is not None:
            handle.cancel()

    def _fire(self, session_id: SessionId) -> None:
        self._timers.pop(session_id, None)
        self._spawn(self._apply_quietly(session_id, Tick()))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ live load

    async def load_snapshot(self, teams: frozenset[TeamId] | None = None) -> dict[str, Any]:
        """Live load, from the store: with several processes it counts all of them."""
        return await self.store.load_snapshot(self.now(), teams)

    def _signal_load(self) -> None:
        if self.on_load_change is not None:
            self.on_load_change()

    # ------------------------------------------------------------ start and stop

    async def ensure_alone(self, beat_every: float) -> None:
        """Without a shared store, refuse to start beside a live broker on the same contact
        log: its recovery would close that broker's running calls as interrupted (several
        processes need REDIS_URL). A fresh heartbeat may also be our own predecessor,
        killed a moment ago: it is live only if it beats again."""
        if self.store.shared:
            return
        seen = await self.contacts.last_heartbeat(live_only=True)
        if seen is None or self.now() - seen > 3 * beat_every:
            return
        await asyncio.sleep(2.5 * beat_every)
        again = await self.contacts.last_heartbeat(live_only=True)
        if again is not None and again > seen:
            raise RuntimeError(
                "another broker process is running on this contact log; several processes "
                "need live state in Redis (REDIS_URL)")

    async def recover(self) -> dict[str, int]:
        """After a start. Alone: close what a crash interrupted, bring back what had not
        begun. Shared: join the others; restore what the store does not hold (all of it,
        if the store is new); what a dead process held is taken over by the reaper."""
        if self.store.shared:
            await self.store.beat(self.node)
            return await self._check_generation()
        counts: Counter[str] = Counter()
        last_alive = await self.contacts.last_heartbeat()
        for sid, events in (await self.contacts.unfinished()).items():
            try:
                outcome = await self._recover_one(SessionId(sid), events, last_alive)
            except Exception as exc:  # one bad stream must not keep the broker down
                log.error("session %s could not be recovered: %s", sid, type(exc).__name__)
                outcome = "failed"
            counts[outcome] += 1
        if counts:
            log.info("recovered sessions: %s", dict(counts))
        return dict(counts)

    def _replay(self, sid: SessionId, events: list[LoggedEvent]) -> Session:
        """A session as its logged inputs built it."""
        head = events[0]
        if head.seq != 0 or head.data.get("type") != "Created":
            raise ValueError("the event stream does not start with its creation")
        c = head.data
        s = Session(
            id=sid, team=TeamId(c["team"]), counsellor=StaffId(c["counsellor"]),
            customer_ref=CustomerRef(c["customer_ref"]), planned_start=c["planned_start"],
            planned_channel=Channel(c["planned_channel"]), created_at=head.at,
            kind=Kind(c["kind"]), policy=self.policy, last_event_at=head.at,
            code_nonce=int(c["code_nonce"]),
        )
        for ev in events[1:]:
            s.handle(input_from_log(ev.data), ev.at)
            s.version = ev.seq
        s.access_code = derive_access_code(self.issuer, sid, s.code_nonce)
        return s

    async def _recover_one(
        self, sid: SessionId, events: list[LoggedEvent], last_alive: float | None
    ) -> str:
        s = self._replay(sid, events)
        if s.state is State.ACTIVE:
            at = max(s.last_event_at, last_alive or 0.0)
            s.handle(Interrupt(at), self.now())
            await self.contacts.append(sid, s.version, at, input_to_log(Interrupt(at)))
        if s.state.terminal:
            await self._write_record(record_of(s))
            await self.store.remove(sid)
            log.info("session %s closed after restart as %s", sid, s.end_reason)
            return str(s.end_reason)
        # nobody is connected to a fresh process: the waiting room emptied with the old one
        if s.state is State.WAITING:
            s.handle(Leave(), s.last_event_at)
            await self.contacts.append(sid, s.version, s.last_event_at, input_to_log(Leave()))
        await self._log_everyone_gone(s, s.last_event_at)
        await self.store.set_code(self._code_hash(s.access_code), sid)
        await self.store.put(s, None)
        self._signal_load()
        await self._arm(s)
        return "restored"

    async def _log_everyone_gone(self, s: Session, at: float) -> None:
        for role in (Role.CUSTOMER, Role.COUNSELLOR):
            if s._presence(role).connected:
                gone = Disconnected(role)
                s.handle(gone, at)
                await self.contacts.append(s.id, s.version, at, input_to_log(gone))

    async def _restore(self, sid: SessionId, *, replace: bool = False) -> bool:
        """Bring one session back from the contact log into the shared store (which lost it,
        or, `replace`, holds an older step). Its parties count as gone from now: the
        processes still holding their sockets say so again (`reassert`), a reconnect finds
        the session, and whoever never comes back is timed out by the grace period. Several
        processes may try at once: the store's compare-and-set lets one win."""
        events = (await self.contacts.unfinished(sid)).get(sid)
        if not events:
            return False
        s = self._replay(sid, events)
        held = await self.store.get(sid)
        if held is not None and (not replace or held.version >= s.version):
            return True  # another process was quicker, or nothing to catch up
        if s.state.terminal:  # closed, but the record was never written: write it now
            await self._write_record(record_of(s))
            await self.store.remove(sid)
            return False
        try:
            if held is None:
                # gone as of the last sign of life of any process (now, if they are running;
                # long ago, if the whole cluster was down: then the grace has run out too)
                alive = await self.contacts.last_heartbeat()
                at = min(self.now(), max(s.last_event_at, alive or s.last_event_at))
                await self._log_everyone_gone(s, at)
            await self.store.set_code(self._code_hash(s.access_code), sid)
            await self.store.put(s, None if held is None else held.version)
        except Conflict:
            return True  # another process restored it (or logged a step) meanwhile
        self._signal_load()
        await self._arm(s)
        return True

    async def _check_generation(self) -> dict[str, int]:
        """Restore every unfinished session if the shared store's contents are new."""
        generation, created = await self.store.generation()
        known, self._generation = self._generation, generation
        if known is not None and known != generation and self.reassert is not None:
            await self.reassert()  # the store forgot what this process holds
        if not created:
            return {}
        counts: Counter[str] = Counter()
        for sid in await self.contacts.unfinished():
            try:
                restored = await self._restore(SessionId(sid))
                counts["restored" if restored else "closed"] += 1
            except BrokerError:
                counts["deferred"] += 1  # the next request for it tries again
            except Exception as exc:
                log.error("session %s could not be restored: %s", sid, type(exc).__name__)
                counts["failed"] += 1
        log.info("live state restored from the contact log: %s", dict(counts))
        if self.reassert is not None:
            await self.reassert()
        return dict(counts)

    # ------------------------------------------------------------ several processes

    async def reap_once(self) -> None:
        """One round of the reaper, on every process: beat, notice a store that lost its
        contents, take over dead processes, fire deadlines nobody else fired."""
        if not await self.store.beat(self.node):
            log.warning("node %s was taken for dead: stating its presence again", self.node)
            if self.reassert is not None:
                await self.reassert()
        await self._check_generation()
        for node in await self.store.dead_nodes(self.node_timeout):
            parties = await self.store.take_over(node, self.node_timeout)
            if parties is not None:
                await self._take_over(parties)
        # the process that armed a deadline fires it on time; this is the safety net
        for sid in await self.store.due(self.now() - 1.0, 200):
            await self._fire_due(sid)

    async def _fire_due(self, sid: SessionId) -> None:
        """A due deadline: the tick re-arms it (or clears it) from the session itself; one
        whose session is gone is dropped, or it would be picked again every round."""
        try:
            await self.apply(sid, Tick())
        except BrokerError as exc:
            if exc.code in (ErrorCode.NOT_FOUND, ErrorCode.SESSION_ENDED):
                await self.store.set_deadline(sid, None)
            elif exc.code is not ErrorCode.UNAVAILABLE:
                log.debug("session %s: due tick refused (%s)", sid, exc.code)

    async def _take_over(self, parties: NodeParties) -> None:
        log.warning("node %s stopped beating: %d customer(s) and %d counsellor(s) taken over",
                    parties.node, len(parties.customers), len(parties.staff_gone))
        # counsellors first: if the grace has run out already, a tick between the two must
        # not read "the customer left" while the counsellor vanished with the same process
        for staff_id, _teams in parties.staff_gone:
            await self._staff_gone(staff_id, parties.last_seen)
        for sid, epoch in parties.customers:
            await self._customer_gone(sid, epoch, parties.last_seen)
        if parties.staff_gone:
            self._signal_load()

    async def reap_forever(self) -> None:
        every = self.node_timeout / 4
        while True:
            try:
                await self.reap_once()
            except BrokerError as exc:
                log.warning("reaper: %s", exc.code)  # Redis away: the next round tries again
            except Exception:
                log.exception("reaper round failed")
            await asyncio.sleep(every)

    async def heartbeat_forever(self, every: float = 10.0) -> None:
        while True:
            try:
                await self.contacts.heartbeat(self.node, self.now())
            except Exception:  # the next beat tries again; the loop must not die
                log.exception("heartbeat failed")
            await asyncio.sleep(every)

    async def retire(self) -> None:
        """A clean stop: no longer a live broker on the contact log (nor in the store)."""
        try:
            await self.contacts.retire(self.node, self.now())
        except Exception:
            log.exception("could not mark this node stopped")
        if self.store.shared:
            try:
                await self.store.leave(self.node)
            except Exception:
                log.exception("could not leave the shared store")

    async def close(self) -> None:
        for sid in list(self._timers):
            self._disarm(sid)
        for task in list(self._tasks):
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task


def _changed(before: Session, after: Session) -> bool:
    a, b = session_to_dict(before), session_to_dict(after)
    for key in _VOLATILE:
        a.pop(key), b.pop(key)
    return a != b

