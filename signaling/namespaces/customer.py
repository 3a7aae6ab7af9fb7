"""/customer: the person who opened the link. One session, one device, nothing before admission."""

from __future__ import annotations

import logging
from typing import Any

from broker.errors import AccessDenied, BrokerError, ErrorCode
from broker.events import CustomerJoined, Leave, MediaReported, SwitchChannel
from broker.session import Session
from broker.types import Role, State
from signaling import schemas
from signaling.auth import read_auth, refuse
from signaling.context import Conn
from signaling.namespaces.base import RoleNamespace
from signaling.rooms import customer_room, staff_room

log = logging.getLogger("signaling.customer")


class CustomerNamespace(RoleNamespace):
    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        service = self.ctx.service
        try:
            address = await self.check_address(environ)
            fields = read_auth(auth)
            who = service.issuer.check_customer(fields.get("token"), service.now())
            s, device, epoch, previous = await service.customer_connect(
                who.session_id, fields.get("device"), who.generation, sid)
            welcome = await self._welcome(s, device)
        except BrokerError as err:
            log.info("customer connect refused: %s", err.code)
            raise refuse(err) from None
        self.ctx.customer_sid[s.id] = (epoch, sid)
        self.admit(sid, Conn(Role.CUSTOMER, self.ctx.bucket(), address=address, customer=who,
                             epoch=epoch))
        await self.enter_room(sid, customer_room(s.id))
        if previous is not None and previous != sid:  # same device, newer socket (on any
            await self.ctx.sio.disconnect(previous, namespace=self.namespace)  # process)
        await self.emit("welcome", welcome, to=sid)
        log.info("session %s customer connected", s.id)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        conn = self.forget(sid)
        if conn is None:
            return
        if self.ctx.customer_sid.get(conn.session_id) == (conn.epoch, sid):
            del self.ctx.customer_sid[conn.session_id]
        # the service ignores this if a newer connection of the customer exists by now
        await self.ctx.service.customer_disconnect(conn.session_id, conn.epoch)

    async def _welcome(self, s: Session, device: str) -> dict[str, Any]:
        view = s.view(Role.CUSTOMER)
        if s.state is not State.ACTIVE:  # before admission: is the counsellor signed in?
            view["counsellor_present"] = await self.ctx.service.staff_is_online(s.counsellor)
        view["device"] = device
        view["role"] = str(Role.CUSTOMER)
        if s.state is State.ACTIVE:
            view["ice_servers"] = self.ctx.ice_servers()
        view["hotline"] = self.ctx.settings.hotline_number
        return view

    async def _session(self, sid: str, conn: Conn, *, admitted: bool) -> Session:
        if self.ctx.customer_sid.get(conn.session_id) != (conn.epoch, sid):
            raise AccessDenied(ErrorCode.LINK_IN_USE, "another device has taken over this link")
        s = await self.ctx.service.get(conn.session_id)
        if s.state.terminal:  # read in the moment between its end and its removal
            raise BrokerError(ErrorCode.SESSION_ENDED, "the session has ended")
        if admitted and s.state is not State.ACTIVE:
            raise AccessDenied(ErrorCode.NOT_ADMITTED, "wait until the counsellor admits you")
        return s

    # ------------------------------------------------------------ events

    async def handle_join(self, sid: str, conn: Conn, data: Any) -> dict[str, Any]:
        name, language, caps = schemas.join(data)
        await self._session(sid, conn, admitted=False)
        s = await self.ctx.service.apply(conn.session_id, CustomerJoined(caps, language, name))
        return {"state": str(s.state)}

    async def handle_signal(self, sid: str, conn: Conn, data: Any) -> None:
        message = schemas.signal(data, with_session=False)
        s = await self._session(sid, conn, admitted=True)
        message["session"] = s.id
        await self.ctx.relay("signal", message, self.ctx.local_call_tab(s),
                             staff_room(s.counsellor), "/staff")

    async def handle_chat(self, sid: str, conn: Conn, data: Any) -> dict[str, Any]:
        line = schemas.chat_text(schemas.payload(data, {"text"}))
        s = await self._session(sid, conn, admitted=True)
        message = {"session": s.id, "from": "customer", "text": line,
                   "at": self.ctx.service.now()}
        await self.ctx.sio.emit("chat", message, to=staff_room(s.counsellor), namespace="/staff")
        return {"at": message["at"]}

    async def handle_switch_channel(self, sid: str, conn: Conn, data: Any) -> dict[str, Any]:
        to = schemas.channel(schemas.payload(data, {"to"}))
        await self._session(sid, conn, admitted=True)
        s = await self.ctx.service.apply(conn.session_id, SwitchChannel(Role.CUSTOMER, to))
        return {"channel": str(s.channel)}

    async def handle_media_state(self, sid: str, conn: Conn, data: Any) -> None:
        connected, _stats = schemas.media_state(schemas.payload(data, {"state", "stats"}))
        await self._session(sid, conn, admitted=True)
        await self.ctx.service.apply(conn.session_id, MediaReported(Role.CUSTOMER, connected))

    async def handle_leave(self, sid: str, conn: Conn, data: Any) -> dict[str, Any]:
        schemas.payload(data, set())
        await self._session(sid, conn, admitted=False)
        s = await self.ctx.service.apply(conn.session_id, Leave())
        return {"state": str(s.state)}

    async def handle_sync(self, sid: str, conn: Conn, data: Any) -> dict[str, Any]:
        schemas.payload(data, set())
        s = await self._session(sid, conn, admitted=False)
        return {"session": await self._welcome(s, "")}
