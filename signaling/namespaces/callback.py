"""/callback: the customer's personal link to their callback request.

It holds a callback token (from `POST /api/callbacks`), hears the request's state
(`callback_state`) and, when a counsellor calls back by video, the session's link
(`callback_ringing`): from there the page is the customer page of that session. The page
may be opened on any device the customer likes (it only shows, never joins by itself);
joining the session is bound to one device as always.
"""

from __future__ import annotations

import logging
from typing import Any

from broker.credentials import CallbackPrincipal
from broker.errors import BrokerError
from broker.types import Role
from signaling import schemas
from signaling.auth import read_auth, refuse
from signaling.context import Conn
from signaling.namespaces.base import RoleNamespace
from signaling.rooms import callback_room

log = logging.getLogger("signaling.callback")


class CallbackNamespace(RoleNamespace):
    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        worklist = self.ctx.worklist
        try:
            address = await self.check_address(environ)
            fields = read_auth(auth)
            who = self.ctx.service.issuer.check_callback(fields.get("token"),
                                                         self.ctx.service.now())
            state = await worklist.mine(who)
        except BrokerError as err:
            log.info("callback page connect refused: %s", err.code)
            raise refuse(err) from None
        self.admit(sid, Conn(Role.CUSTOMER, self.ctx.bucket(), address=address, callback=who))
        await self.enter_room(sid, callback_room(who.callback_id))
        await self.emit("callback_state", state, to=sid)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self.forget(sid)

    def _who(self, conn: Conn) -> CallbackPrincipal:
        assert conn.callback is not None
        return conn.callback

    async def handle_sync(self, sid: str, conn: Conn, data: Any) -> dict[str, Any]:
        schemas.payload(data, set())
        return await self.ctx.worklist.mine(self._who(conn))

    async def handle_withdraw(self, sid: str, conn: Conn, data: Any) -> dict[str, Any]:
        schemas.payload(data, set())
        return await self.ctx.worklist.withdraw(self._who(conn))
