"""The async driver of the session core: load, handle, log ahead, save, notify, arm timers.

One input at a time per session (a keyed lock), so the core never sees two at once. An
input that changes nothing (a repeated media report, a reconnect of a party already
present) costs no write. Adapters register `notify` (socket emits) and read `load`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
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
from broker.errors import AccessDenied, BadInput, BrokerError, ErrorCode, NotFound
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
from broker.load import LiveLoad
from broker.record import record_of
from broker.session import Policy, Session, clone, session_to_dict
from broker.store.base import Store
from broker.types import Channel, CustomerRef, Kind, Role, SessionId, StaffId, State, TeamId

log = logging.getLogger("broker.session")

NotifySink = Callable[[Session, Notify], Awaitable[None]]
EvictSink = Callable[[SessionId, ErrorCode], Awaitable[None]]
MAX_PLANNING_AHEAD = 366 * 86400.0
_VOLATILE = ("version", "last_event_at")


@dataclass(frozen=True, slots=True)
class CreatedSession:
    session: Session
    access_code: str
    customer_token: str
    expires_at: float


class _KeyedLock:
    """One asyncio.Lock per key, dropped again when nobody holds or awaits it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def __call__(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


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
    ) -> None:
        self.store = store
        self.contacts = contacts
        self.issuer = issuer
        self.policy = policy
        self.load = LiveLoad()
        self.notify: NotifySink | None = None
        # turns a session's customer sockets away (ended, link revoked)
        self.evict: EvictSink | None = None
        self.on_load_change: Callable[[], None] | None = None
        self._clock = clock
        self._link_valid_after_start = link_valid_after_start
        self._lock = _KeyedLock()
        self._timers: dict[SessionId, asyncio.TimerHandle] = {}
        self._staff_sockets: Counter[StaffId] = Counter()
        self._customer_epoch: dict[SessionId, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.node = node or uuid.uuid4().hex[:12]

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
        await self.contacts.append(sid, 0, now, _created_entry(s, nonce))
        await self.store.put(s, None)
        self._load_changed(None, s)
        self._arm(s)
        log.info("session %s created team=%s channel=%s", sid, team, planned_channel)
        return CreatedSession(s, code, token, expires)

    async def get(self, session_id: SessionId) -> Session:
        s = await self.store.get(session_id)
        if s is not None:
            return s
        if await self.contacts.is_closed(session_id):
            raise BrokerError(ErrorCode.SESSION_ENDED, "the session has ended")
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
        async with self._lock(session_id):
            s = await self.get(session_id)
            self.require_counsellor(staff, s)
            nonce, code = await self._new_code(session_id, s.code_nonce + 1)
            s = await self._apply_locked(session_id, RevokeLink(nonce, code))
            await self.store.set_device(session_id, None)
        log.info("session %s link revoked (generation %d)", session_id, s.link_generation)
        await self._evict(session_id, ErrorCode.LINK_REVOKED)
        return s

    async def _evict(self, session_id: SessionId, why: ErrorCode) -> None:
        if self.evict is not None:
            try:
                await self.evict(session_id, why)
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
        async with self._lock(session_id):
            return await self._apply_locked(session_id, event)

    async def _apply_if(
        self, session_id: SessionId, event: Input, only_if: Callable[[], bool]
    ) -> None:
        """Apply only if `only_if` still holds once the session is ours: a disconnect queued
        behind a newer connect of the same party must not win."""
        async with self._lock(session_id):
            if only_if():
                await self._apply_locked(session_id, event)

    async def _apply_locked(self, session_id: SessionId, event: Input) -> Session:
        before = await self.get(session_id)
        after = clone(before)
        now = self.now()
        effects = after.handle(event, now)
        if _changed(before, after):
            await self.contacts.append(session_id, after.version, now, input_to_log(event))
            await self.store.put(after, before.version)
            self._load_changed(before, after)
        else:
            after = before
        await self._run_effects(after, effects)
        return after

    async def _run_effects(self, s: Session, effects: list[Any]) -> None:
        closed = False
        for effect in effects:
            if isinstance(effect, Closed):
                await self._close(s)
                closed = True
        if not s.state.terminal:
            self._arm(s)
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
            self._spawn(self._evict(s.id, ErrorCode.SESSION_ENDED))

    async def _close(self, s: Session) -> None:
        record = record_of(s)
        written = await self.contacts.close_session(record)
        await self.store.remove(s.id)
        self._customer_epoch.pop(s.id, None)
        self._disarm(s.id)
        log.info(
            "session %s closed state=%s reason=%s written=%s seconds=%s",
            s.id, s.state, s.end_reason, written, record.seconds,
        )

    # ------------------------------------------------------------ connections

    async def customer_connect(
        self, session_id: SessionId, device_secret: str | None, generation: int = 0
    ) -> tuple[Session, str, int]:
        """Bind the link to this device, or check it is the bound one. Returns the device
        secret and the connection's epoch: only the newest connection may later say it left.
        Every (re)connect checks the session anew: ended, or the link revoked, is refused."""
        async with self._lock(session_id):
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
            epoch = self._customer_epoch[session_id] = self._customer_epoch.get(session_id, 0) + 1
            s = await self._apply_locked(session_id, Reconnected(Role.CUSTOMER))
            return s, secret, epoch

    async def customer_disconnect(self, session_id: SessionId, epoch: int) -> None:
        def still_newest() -> bool:
            return self._customer_epoch.get(session_id) == epoch

        await self._apply_quietly(session_id, Disconnected(Role.CUSTOMER), still_newest)

    async def staff_connect(self, staff: StaffPrincipal) -> list[Session]:
        self._staff_sockets[staff.staff_id] += 1
        if self._staff_sockets[staff.staff_id] == 1:
            self.load.staff_online(staff.staff_id, staff.teams, True)
            self._signal_load()
            for s in await self.sessions_of(staff.staff_id):
                if s.state is State.ACTIVE:
                    await self._apply_quietly(s.id, Reconnected(Role.COUNSELLOR),
                                              lambda: self.staff_is_online(staff.staff_id))
        return await self.sessions_of(staff.staff_id)

    async def staff_disconnect(self, staff: StaffPrincipal) -> None:
        self._staff_sockets[staff.staff_id] -= 1
        if self._staff_sockets[staff.staff_id] > 0:
            return
        del self._staff_sockets[staff.staff_id]
        self.load.staff_online(staff.staff_id, staff.teams, False)
        self._signal_load()
        for s in await self.sessions_of(staff.staff_id):
            if s.state is State.ACTIVE:
                await self._apply_quietly(s.id, Disconnected(Role.COUNSELLOR),
                                          lambda: not self.staff_is_online(staff.staff_id))

    def staff_is_online(self, staff_id: StaffId) -> bool:
        return self._staff_sockets[staff_id] > 0

    async def _apply_quietly(
        self, session_id: SessionId, event: Input, only_if: Callable[[], bool] | None = None
    ) -> None:
        """For inputs nobody waits on (timers, disconnects): log refusals, never raise."""
        try:
            if only_if is None:
                await self.apply(session_id, event)
            else:
                await self._apply_if(session_id, event, only_if)
        except BrokerError as exc:
            log.debug("session %s: %s ignored (%s)", session_id, type(event).__name__, exc.code)
        except Exception:
            log.exception("session %s: %s failed", session_id, type(event).__name__)

    # ------------------------------------------------------------ deadlines

    def _arm(self, s: Session) -> None:
        self._disarm(s.id)
        deadline = s.next_deadline()
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

    def _load_changed(self, before: Session | None, after: Session) -> None:
        self.load.session_changed(before, after)
        self._signal_load()

    def _signal_load(self) -> None:
        if self.on_load_change is not None:
            self.on_load_change()

    # ------------------------------------------------------------ start and stop

    async def ensure_alone(self, beat_every: float) -> None:
        """Refuse to start beside a live broker on the same contact log: recovery would
        close that broker's running calls as interrupted. Sharing one log needs the
        multi-process mode, which is not there yet. A fresh heartbeat may also be our own
        predecessor, killed a moment ago: it is live only if it beats again."""
        seen = await self.contacts.last_heartbeat(live_only=True)
        if seen is None or self.now() - seen > 3 * beat_every:
            return
        await asyncio.sleep(2.5 * beat_every)
        again = await self.contacts.last_heartbeat(live_only=True)
        if again is not None and again > seen:
            raise RuntimeError(
                "another broker process is running on this contact log; one log serves one "
                "process until several processes are supported")

    async def recover(self) -> dict[str, int]:
        """After a start: close what a crash interrupted, bring back what had not begun."""
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

    async def _recover_one(
        self, sid: SessionId, events: list[LoggedEvent], last_alive: float | None
    ) -> str:
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
        if s.state is State.ACTIVE:
            at = max(s.last_event_at, last_alive or 0.0)
            s.handle(Interrupt(at), self.now())
            await self.contacts.append(sid, s.version, at, input_to_log(Interrupt(at)))
        if s.state.terminal:
            await self.contacts.close_session(record_of(s))
            await self.store.remove(sid)  # a shared store may still hold it
            log.info("session %s closed after restart as %s", sid, s.end_reason)
            return str(s.end_reason)
        # nobody is connected to a fresh process: the waiting room emptied with the old one
        if s.state is State.WAITING:
            s.handle(Leave(), s.last_event_at)
            await self.contacts.append(sid, s.version, s.last_event_at, input_to_log(Leave()))
        for role in (Role.CUSTOMER, Role.COUNSELLOR):
            if s._presence(role).connected:
                gone = Disconnected(role)
                s.handle(gone, s.last_event_at)
                await self.contacts.append(sid, s.version, s.last_event_at, input_to_log(gone))
        await self.store.set_code(self._code_hash(s.access_code), sid)
        # a shared store (Redis) outlives the process: replace what it still holds
        # (its version is never ahead of the log: every change is logged before it is saved)
        held = await self.store.get(sid)
        await self.store.put(s, None if held is None else held.version)
        self._load_changed(None, s)
        self._arm(s)
        return "restored"

    async def heartbeat_forever(self, every: float = 10.0) -> None:
        while True:
            try:
                await self.contacts.heartbeat(self.node, self.now())
            except Exception:  # the next beat tries again; the loop must not die
                log.exception("heartbeat failed")
            await asyncio.sleep(every)

    async def retire(self) -> None:
        """A clean stop: no longer a live broker on the contact log."""
        try:
            await self.contacts.retire(self.node, self.now())
        except Exception:
            log.exception("could not mark this node stopped")

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

