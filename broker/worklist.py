"""The callback worklist: customers' requests to be called back, and the counsellors who
settle them (around the pure steps of `broker.callbacks`).

Requests live in the contact database, not in live state: a restart or a crashed process
loses none, and every process sees the same list, so a claim is exact across processes
(the row lock orders it). A request made for a video callback hands the customer a
personal link: when the counsellor starts the call, that page rings with the session's
link. A phone number is sealed (AES-GCM under a key derived from the broker's secret) so
the database alone does not give it away, shown only to the counsellor holding the
request, deleted when the request is settled, and never logged.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
from collections.abc import Callable
from functools import partial
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from broker import callbacks as cb
from broker.background import Background, Sink, tell
from broker.callbacks import CallbackPolicy, CallbackRequest, Outcome, Reach, Source
from broker.contactlog.base import ContactLog
from broker.credentials import CallbackPrincipal, StaffPrincipal
from broker.deadlines import Calendar
from broker.errors import AccessDenied, BadInput, BrokerError, ErrorCode, NotFound
from broker.events import Cancel
from broker.record import ContactRecord
from broker.routing import Skills
from broker.service import SessionService
from broker.session import Session
from broker.types import Channel, CustomerRef, Kind, Role, SessionId, StaffId, State, TeamId

log = logging.getLogger("broker.worklist")

# how often the supervisors' callback figures are read again from the database (other
# processes' changes, and "due today" moving with the clock)
FIGURES_SECONDS = 10.0


class PhoneSeal:
    """Phone numbers at rest: readable by the broker that sealed them, not by the database."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, phone: str, callback_id: str) -> str:
        nonce = secrets.token_bytes(12)
        box = self._aead.encrypt(nonce, phone.encode(), callback_id.encode())
        return base64.urlsafe_b64encode(nonce + box).decode()

    def open(self, sealed: str, callback_id: str) -> str:
        raw = base64.urlsafe_b64decode(sealed)
        return self._aead.decrypt(raw[:12], raw[12:], callback_id.encode()).decode()


class Worklist:
    def __init__(self, sessions: SessionService, calendar: Calendar,
                 policy: CallbackPolicy | None = None, *,
                 topics: tuple[str, ...], languages: tuple[str, ...]) -> None:
        self.sessions = sessions
        self.calendar = calendar
        self.policy = policy or CallbackPolicy()
        self.topics = topics
        self.languages = languages
        key = bytes.fromhex(sessions.issuer.keyed_hash("callback-phone-seal", "v1"))
        self._seal = PhoneSeal(key)
        self.to_callback: Sink | None = None  # the customer's personal page(s)
        self.to_team: Sink | None = None  # the counsellors of a team: the list moved
        self.on_change: Callable[[], None] | None = None  # the supervisors' view moved
        self._figures: dict[str, dict[str, Any]] = {}
        self._figures_at = float("-inf")
        self._background = Background(log)

    @property
    def contacts(self) -> ContactLog:
        return self.sessions.contacts

    def now(self) -> float:
        return self.sessions.now()

    # ------------------------------------------------------------ customers

    async def request(self, team: TeamId, topic: str, language: str, *, urgent: bool,
                      reach: Reach, phone: str | None, window: tuple[float, float] | None,
                      source: Source) -> dict[str, Any]:
        """A customer asks to be called back: the request, its deadline, and their
        personal link's token."""
        if topic not in self.topics:
            raise BadInput(f"topic must be one of {', '.join(self.topics)}")
        if language not in self.languages:
            raise BadInput(f"language must be one of {', '.join(self.languages)}")
        now = self.now()
        if reach is Reach.PHONE and phone is None:
            raise BadInput("a phone callback needs a phone number")
        if window is not None and not (now - 3600 <= window[0] < window[1] <= now + 14 * 86400):
            raise BadInput("window must be a time span within the next 14 days")
        cid = secrets.token_urlsafe(12)
        deadline = self.calendar.deadline(now, urgent)
        r = CallbackRequest(
            id=cid, team=team, topic=topic, language=language, urgent=urgent, reach=reach,
            contact=None if phone is None else self._seal.seal(phone, cid),
            window_from=None if window is None else window[0],
            window_to=None if window is None else window[1],
            source=source, created_at=now, deadline=deadline)
        await self.contacts.add_callback(r)
        log.info("callback %s requested team=%s topic=%s urgent=%s reach=%s source=%s",
                 cid, team, topic, urgent, reach, source)
        await self._moved(team)
        expires = deadline + self.policy.keep_link_days * 86400
        return {"callback": cid, "token": self.sessions.issuer.callback_token(cid, now, expires),
                "expires_at": expires, **await self._customer_view(r)}

    async def mine(self, who: CallbackPrincipal) -> dict[str, Any]:
        """What the customer's personal page shows: the request's state, and whether a
        counsellor's call rings right now (with the session's link)."""
        return await self._customer_view(await self._get(who.callback_id))

    async def withdraw(self, who: CallbackPrincipal) -> dict[str, Any]:
        r = await self.contacts.change_callback(who.callback_id,
                                                partial(cb.cancel, now=self.now()))
        log.info("callback %s withdrawn by the customer", r.id)
        await self._told_customer(r)  # the customer's other pages
        await self._moved(r.team)
        return await self._customer_view(r)

    async def _customer_view(self, r: CallbackRequest) -> dict[str, Any]:
        out: dict[str, Any] = {
            "callback": r.id, "state": str(r.state), "team": r.team, "topic": r.topic,
            "language": r.language, "urgent": r.urgent, "reach": str(r.reach),
            "deadline": r.deadline, "window": _window(r), "ringing": None}
        if r.reach is Reach.VIDEO and r.session_id is not None and not r.state.settled:
            ringing = await self._ringing(r.session_id)
            out["ringing"] = ringing
        return out

    async def _ringing(self, sid: SessionId) -> dict[str, Any] | None:
        """The session's link while the counsellor waits for the customer in it (not once
        the call runs: the device that took it holds it)."""
        s = await self._live(sid)
        if s is None or s.state not in (State.SCHEDULED, State.WAITING):
            return None
        token, _ = self.sessions.customer_token(s)
        return {"session": sid, "token": token}

    # ------------------------------------------------------------ counsellors

    async def worklist(self, who: StaffPrincipal) -> dict[str, Any]:
        """Requests the counsellor may take (their teams; topics and languages they serve,
        as an admin set them), earliest deadline first, and those they hold."""
        self._counsellor(who)
        skills = await self.contacts.skills(who.staff_id) or Skills()
        teams = (skills.teams & who.teams) if skills.teams else who.teams
        now = self.now()
        items = []
        for r in await self.contacts.unsettled_callbacks(frozenset(teams)):
            mine = r.held_by(who.staff_id, now)
            if not mine and (r.topic not in skills.topics or r.language not in skills.languages):
                continue
            items.append(self._staff_view(r, who.staff_id, now))
        return {"callbacks": items, "now": now}

    async def claim(self, who: StaffPrincipal, callback_id: str) -> dict[str, Any]:
        self._counsellor(who)
        now = self.now()

        def claim(r: CallbackRequest) -> cb.Change:
            _may_serve(who, r)  # checked on the row the claim is made on
            return cb.claim(r, who.staff_id, now, self.policy)

        r = await self.contacts.change_callback(callback_id, claim)
        log.info("callback %s claimed", r.id)
        await self._told_customer(r)
        await self._moved(r.team)
        return self._staff_view(r, who.staff_id, now)

    async def release(self, who: StaffPrincipal, callback_id: str) -> dict[str, Any]:
        self._counsellor(who)
        now = self.now()
        r = await self.contacts.change_callback(
            callback_id, partial(cb.release, staff=who.staff_id, now=now))
        log.info("callback %s given back", r.id)
        await self._told_customer(r)
        await self._moved(r.team)
        return self._staff_view(r, who.staff_id, now)

    async def start(self, who: StaffPrincipal, callback_id: str) -> dict[str, Any]:
        """The counsellor calls back: a session of kind `callback` starts. By video, the
        customer's personal page rings with its link; by phone, the counsellor dials the
        number shown and reports the phone leg when the customer answers."""
        self._counsellor(who)
        r = await self._get(callback_id)
        now = self.now()
        if r.state.settled:
            raise cb.Settled(r.state)
        if not r.held_by(who.staff_id, now):
            raise cb.Taken("claim this callback first (or your claim ran out)")
        if r.session_id is not None:
            raise BrokerError(ErrorCode.CONFLICT, "a call for this callback is going on")
        channel = Channel.VIDEO if r.reach is Reach.VIDEO else Channel.PHONE
        created = await self.sessions.create(who, r.team, CustomerRef(f"callback-{r.id[:8]}"),
                                             now, channel, Kind.CALLBACK)
        sid = created.session.id
        try:
            r = await self.contacts.change_callback(
                callback_id, partial(cb.start, staff=who.staff_id, session=sid, now=now))
        except BrokerError:
            await self._drop_session(sid)
            raise
        log.info("callback %s started: session %s", r.id, sid)
        if r.reach is Reach.VIDEO:
            await tell(self.to_callback, r.id, "callback_ringing",
                             {"session": sid, "token": created.customer_token})
        await self._moved(r.team)
        return {"callback": self._staff_view(r, who.staff_id, now), "created": created}

    async def record(self, who: StaffPrincipal, callback_id: str,
                     outcome: Outcome) -> dict[str, Any]:
        """The counsellor records an attempt. A call started for it that has not begun is
        called off (nobody answered); one that runs is the counsellor's to end."""
        self._counsellor(who)
        now = self.now()
        before = await self._get(callback_id)
        if before.session_id is not None and outcome is not Outcome.REACHED:
            s = await self._live(before.session_id)
            if s is not None and s.state is State.ACTIVE:
                raise BrokerError(ErrorCode.CONFLICT, "end the call first: it is going on")
        r = await self.contacts.change_callback(
            callback_id, partial(cb.attempt, staff=who.staff_id, outcome=outcome, now=now,
                                 p=self.policy))
        log.info("callback %s attempt %s: now %s", r.id, outcome, r.state)
        if before.session_id is not None:
            await self._drop_session(before.session_id)
        await self._told_customer(r)
        await self._moved(r.team)
        return self._staff_view(r, who.staff_id, now)

    def session_closed(self, record: ContactRecord, written: bool) -> None:
        """From the session service: a callback's call ended. Talking at all settles the
        request; a call nobody joined is a failed attempt."""
        if written and record.kind == Kind.CALLBACK:
            self._background.spawn(self._settle_call(SessionId(record.session_id),
                                          sum(record.seconds.values()) > 0))

    async def _settle_call(self, sid: SessionId, talked: bool) -> None:
        r = await self.contacts.callback_of_session(sid)
        if r is None or r.state.settled or r.claimed_by is None:
            return
        outcome = Outcome.REACHED if talked else Outcome.NOT_REACHED
        r = await self.contacts.change_callback(
            r.id, partial(cb.attempt, staff=r.claimed_by, outcome=outcome, now=self.now(),
                          p=self.policy, session=sid))
        log.info("callback %s call ended: %s", r.id, r.state)
        await self._told_customer(r)
        await self._moved(r.team)

    async def reconcile(self) -> int:
        """At start: calls that ended while no broker was there to hear it settle their
        requests now (their records are in the log)."""
        done = 0
        for r in await self.contacts.unsettled_callbacks():
            if r.session_id is None:
                continue
            record = await self.contacts.contact(r.session_id)
            if record is not None:
                talked = sum(record["seconds"].values()) > 0
                await self._settle_call(r.session_id, talked)
                done += 1
        return done

    async def attempts(self, who: StaffPrincipal, callback_id: str) -> list[dict[str, Any]]:
        self._counsellor(who)
        _may_serve(who, await self._get(callback_id))
        return [{"at": a.at, "outcome": str(a.outcome)}
                for a in await self.contacts.callback_attempts(callback_id)]

    # ------------------------------------------------------------ figures

    def figures(self, team: TeamId) -> dict[str, Any] | None:
        return self._figures.get(team)

    def teams(self) -> set[TeamId]:
        return {TeamId(t) for t in self._figures}

    async def refresh(self) -> None:
        """Read the unsettled requests again (after a change here, and every few seconds
        for other processes' changes and the clock)."""
        rows = await self.contacts.unsettled_callbacks()
        figures = cb.figures(rows, self.now(), self.calendar.tz)
        changed = figures != self._figures
        self._figures, self._figures_at = figures, self.now()
        if changed and self.on_change is not None:
            self.on_change()

    async def refresh_forever(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:
                log.warning("callback figures not read this round")
            await asyncio.sleep(FIGURES_SECONDS)

    # ------------------------------------------------------------ inside

    def _staff_view(self, r: CallbackRequest, me: StaffId, now: float) -> dict[str, Any]:
        mine = r.held_by(me, now)
        phone: str | None = None
        if r.contact is not None:
            number = self._seal.open(r.contact, r.id)
            phone = number if mine else cb.mask_phone(number)
        state = "mine" if mine else "taken" if not r.claimable(now) else "open"
        return {
            "callback": r.id, "team": r.team, "topic": r.topic, "language": r.language,
            "urgent": r.urgent, "reach": str(r.reach), "phone": phone, "window": _window(r),
            "created_at": r.created_at, "deadline": r.deadline, "state": state,
            "status": str(r.state), "attempts": r.attempts,
            "last_outcome": None if r.outcome is None else str(r.outcome),
            "session": r.session_id if mine else None,
            "claim_until": r.claim_until if mine else None,
        }

    async def _get(self, callback_id: str) -> CallbackRequest:
        r = await self.contacts.callback(callback_id)
        if r is None:
            raise NotFound("callback request")
        return r

    def _counsellor(self, who: StaffPrincipal) -> None:
        if not who.has(Role.COUNSELLOR):
            raise AccessDenied(ErrorCode.FORBIDDEN, "only counsellors call customers back")

    async def _live(self, sid: SessionId) -> Session | None:
        try:
            return await self.sessions.get(sid)
        except NotFound:
            return None

    async def _drop_session(self, sid: SessionId) -> None:
        """Call off a callback's session that never began (nobody answered)."""
        s = await self._live(sid)
        if s is None or s.state not in (State.SCHEDULED, State.WAITING):
            return
        try:
            await self.sessions.apply(sid, Cancel())
        except BrokerError as err:
            log.info("callback session %s not called off: %s", sid, err.code)

    async def _told_customer(self, r: CallbackRequest) -> None:
        await tell(self.to_callback, r.id, "callback_state",
                         await self._customer_view(r))

    async def _moved(self, team: TeamId) -> None:
        await tell(self.to_team, team, "callbacks_changed", {"team": team})
        try:
            await self.refresh()
        except Exception:
            log.warning("callback figures not read after a change")

    async def close(self) -> None:
        self._background.close()


def _may_serve(who: StaffPrincipal, r: CallbackRequest) -> None:
    if r.team not in who.teams and not who.has(Role.ADMIN):
        raise AccessDenied(ErrorCode.FORBIDDEN, "not a member of that team")


def _window(r: CallbackRequest) -> list[float] | None:
    return None if r.window_from is None or r.window_to is None else [r.window_from,
                                                                      r.window_to]


