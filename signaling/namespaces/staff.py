"""/staff: counsellors. Each acts only on their own sessions (admins on any)."""

from __future__ import annotations

import logging
from typing import Any

from broker.credentials import StaffPrincipal
from broker.errors import AccessDenied, BrokerError, ErrorCode
from broker.events import (
    Admit,
    Cancel,
    End,
    MediaReported,
    PhoneConnected,
    SwitchChannel,
)
from broker.routing import Presence
from broker.session import Session
from broker.types import Role, State
from signaling import schemas
from signaling.auth import read_auth, refuse
from signaling.context import Conn
from signaling.namespaces.base import RoleNamespace
from signaling.rooms import counsellors_room, customer_room, staff_room

log = logging.getLogger("signaling.staff")


class StaffNamespace(RoleNamespace):
    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        service = self.ctx.service
        try:
            address = await self.check_address(environ)
            fields = read_auth(auth)
            who = await self.ctx.staff_auth.check(fields.get("token"))
            if not who.has(Role.COUNSELLOR):
                raise AccessDenied(ErrorCode.FORBIDDEN, "this is for counsellors")
            sessions, first = await service.staff_connect(who)
            dropin = await (self.ctx.dropin.staff_online(who) if first
                            else self.ctx.dropin.current_state(who.staff_id))
        except BrokerError as err:
            log.info("staff connect refused: %s", err.code)
            raise refuse(err) from None
        self.admit(sid, Conn(Role.COUNSELLOR, self.ctx.bucket(), address=address, staff=who))
        self.ctx.staff_sids.add(sid)
        await self.enter_room(sid, staff_room(who.staff_id))
        for team in who.teams:  # their teams' callback worklists
            await self.enter_room(sid, counsellors_room(team))
        await self.emit("welcome", {**self._welcome(who, sessions), "dropin": dropin}, to=sid)
        if first:
            await self._tell_early_customers(sessions, present=True)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        conn = self.forget(sid)
        self.ctx.staff_sids.discard(sid)
        if conn is not None and conn.staff is not None:
            service = self.ctx.service
            if await service.staff_disconnect(conn.staff):
                await self.ctx.dropin.staff_offline(conn.staff.staff_id)
                sessions = await service.sessions_of(conn.staff.staff_id)
                await self._tell_early_customers(sessions, present=False)

    async def _tell_early_customers(self, sessions: list[Session], *, present: bool) -> None:
        """Customers who came before admission hear that their counsellor signed in (or
        out): the waiting room can say "you will be let in shortly". In a call, presence
        runs through the core (`peer_presence`)."""
        for s in sessions:
            if s.state in (State.SCHEDULED, State.WAITING):
                await self.ctx.sio.emit("counsellor_presence",
                                        {"session": s.id, "present": present},
                                        to=customer_room(s.id), namespace="/customer")

    def _welcome(self, who: StaffPrincipal, sessions: list[Session]) -> dict[str, Any]:
        views = [self._view(s) for s in sessions]
        return {"role": "counsellor", "staff": who.staff_id, "teams": sorted(who.teams),
                "sessions": views}

    def _view(self, s: Session) -> dict[str, Any]:
        view = s.view(Role.COUNSELLOR)
        if s.state is State.ACTIVE:
            view["ice_servers"] = self.ctx.ice_servers()
        return view

    async def _own(self, conn: Conn, data: dict[str, Any], *, active: bool) -> Session:
        assert conn.staff is not None
        s = await self.ctx.service.get(schemas.session_id(data))
        self.ctx.service.require_counsellor(conn.staff, s)
        if s.state.terminal:  # read in the moment between its end and its removal
            raise BrokerError(ErrorCode.SESSION_ENDED, "the session has ended")
        if active and s.state is not State.ACTIVE:
            raise AccessDenied(ErrorCode.NOT_ADMITTED, "the customer has not been admitted")
        return s

    # ------------------------------------------------------------ events

    async def handle_admit(self, sid: str, conn: Conn, data: Any) -> dict[str, Any]:
        d = schemas.payload(data, {"session", "capabilities"})
        caps = schemas.capabilities(d)
        s = await self._own(conn, d, active=False)
        previous = self.ctx.call_sid.get(s.id)
        self.ctx.call_sid[s.id] = sid  # this tab holds the call (and gets `start`)
        try:
            s = await self.ctx.service.apply(s.id, Admit(caps))
        except BrokerError:
            if previous is None:  # a stale tab's admit must not steal the call
                self.ctx.call_sid.pop(s.id, None)
            else:
                self.ctx.call_sid[s.id] = previous
            raise
        return {"channel": str(s.channel)}

    async def handle_signal(self, sid: str, conn: Conn, data: Any) -> None:
        message = schemas.signal(data, with_session=True)
        s = await self._own(conn, data, active=True)
        self.ctx.call_sid[s.id] = sid  # the tab that signals is the one holding the call
        message["session"] = s.id
        await self.ctx.relay("signal", message, self.ctx.local_customer(s.id),
                             customer_room(s.id), "/customer")

    async def handle_chat(self, sid: str, conn: Conn, data: Any) -> dict[str, Any]:
        d = schemas.payload(data, {"session", "text"})
        line = schemas.chat_text(d)
        s = await self._own(conn, d, active=True)
        message = {"session": s.id, "from": "counsellor", "text": line,
                   "at": self.ctx.service.now()}
        await self.ctx.sio.emit("chat", message, to=customer_room(s.id), namespace="/customer")
        # the counsellor's other tabs show the line too
        await self.ctx.sio.emit("chat", message, to=staff_room(s.counsellor),
                                namespace="/staff", skip_sid=sid)
        return {"at": message["at"]}

    async def handle_switch_channel(self, sid: str, conn: Conn, data: Any) -> dict[str, Any]:
        d = schemas.payload(data, {"session", "to"})
        to = schemas.channel(d)
        s = await self._own(conn, d, active=True)
        s = await self.ctx.service.apply(s.id, SwitchChannel(Role.COUNSELLOR, to))
        return {"channel": str(s.channel)}

    async def handle_media_state(self, sid: str, conn: Conn, data: Any) -> None:
        d = schemas.payload(data, {"session", "state", "stats"})
        connected, _stats = schemas.media_state(d)
        s = await self._own(conn, d, active=True)
        await self.ctx.service.apply(s.id, MediaReported(Role.COUNSELLOR, connected))

    async def handle_phone_connected(self, sid: str, conn: Conn, data: Any) -> dict[str, Any]:
        d = schemas.payload(data, {"session"})
        s = await self._own(conn, d, active=False)
        if s.state is not State.ACTIVE:  # reached by phone first: this tab holds the call
            self.ctx.call_sid[s.id] = sid
        s = await self.ctx.service.apply(s.id, PhoneConnected())
        return {"channel": str(s.channel)}

    async def handle_end(self, sid: str, conn: Conn, data: Any) -> dict[str, Any]:
        d = schemas.payload(data, {"session", "outcome"})
        reason = schemas.outcome(d)
        s = await self._own(conn, d, active=True)
        s = await self.ctx.service.apply(s.id, End(reason))
        return {"state": str(s.state)}

    async def handle_cancel(self, sid: str, conn: Conn, data: Any) -> dict[str, Any]:
        d = schemas.payload(data, {"session"})
        s = await self._own(conn, d, active=False)
        s = await self.ctx.service.apply(s.id, Cancel())
        return {"state": str(s.state)}

    async def handle_sync(self, sid: str, conn: Conn, data: Any) -> dict[str, Any]:
        schemas.payload(data, set())
        assert conn.staff is not None
        sessions = await self.ctx.service.sessions_of(conn.staff.staff_id)
        dropin = await self.ctx.dropin.current_state(conn.staff.staff_id)
        return {**self._welcome(conn.staff, sessions), "dropin": dropin}

    # ------------------------------------------------------------ drop-ins

    def _dropin_staff(self, conn: Conn) -> StaffPrincipal:
        assert conn.staff is not None
        return conn.staff

    async def handle_presence(self, sid: str, conn: Conn, data: Any) -> dict[str, Any]:
        """The counsellor takes drop-ins (`available`) or not (`away`)."""
        d = schemas.payload(data, {"presence"})
        chosen = Presence(schemas.choice(d, "presence", ("available", "away"), None))
        who = self._dropin_staff(conn)
        return await self.ctx.dropin.choose(who.staff_id, chosen)

    async def handle_dropin_accept(self, sid: str, conn: Conn, data: Any) -> dict[str, Any]:
        """Take the offered customer: their session, to admit once they are in."""
        d = schemas.payload(data, {"ticket"})
        ticket = schemas.ticket_id(d)
        who = self._dropin_staff(conn)
        created = await self.ctx.dropin.accept(who, ticket)
        return {"session": self._view(created.session)}

    async def handle_dropin_decline(self, sid: str, conn: Conn, data: Any) -> None:
        d = schemas.payload(data, {"ticket"})
        ticket = schemas.ticket_id(d)
        who = self._dropin_staff(conn)
        await self.ctx.dropin.decline(who.staff_id, ticket)
