"""/queue: a drop-in customer's page while they wait for a free counsellor.

It holds a ticket token (from `POST /api/dropin/{team}`), hears its place (`queue_state`)
and, once a counsellor accepts, the link of its session (`dropin_answered`): from there the
page is the customer page of a scheduled session. Nothing else reaches it.
"""

from __future__ import annotations

import logging
from typing import Any

from broker.credentials import TicketPrincipal
from broker.errors import BrokerError
from broker.types import Role
from signaling import schemas
from signaling.auth import read_auth, refuse
from signaling.context import Conn
from signaling.namespaces.base import RoleNamespace
from signaling.rooms import ticket_room

log = logging.getLogger("signaling.queue")


class QueueNamespace(RoleNamespace):
    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        dropin = self.ctx.dropin
        try:
            address = await self.check_address(environ)
            fields = read_auth(auth)
            who = self.ctx.service.issuer.check_ticket(fields.get("token"),
                                                       self.ctx.service.now())
            state = await dropin.ticket_online(who)
        except BrokerError as err:
            log.info("queue connect refused: %s", err.code)
            raise refuse(err) from None
        self.admit(sid, Conn(Role.CUSTOMER, self.ctx.bucket(), address=address, ticket=who))
        await self.enter_room(sid, ticket_room(who.ticket))
        # the page's first word: its place, or (it reconnects) how its wait ended
        event = {"waiting": "queue_state", "answered": "dropin_answered"}.get(
            state["state"], "dropin_left")
        await self.emit(event, state, to=sid)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        conn = self.forget(sid)
        if conn is not None and conn.ticket is not None:
            await self.ctx.dropin.ticket_offline(conn.ticket.ticket)

    def _ticket(self, conn: Conn) -> TicketPrincipal:
        assert conn.ticket is not None
        return conn.ticket

    async def handle_leave(self, sid: str, conn: Conn, data: Any) -> dict[str, Any]:
        schemas.payload(data, set())
        return await self.ctx.dropin.leave(self._ticket(conn).ticket)

    async def handle_sync(self, sid: str, conn: Conn, data: Any) -> dict[str, Any]:
        schemas.payload(data, set())
        return await self.ctx.dropin.ticket_state(self._ticket(conn))
