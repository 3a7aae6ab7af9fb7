"""/supervisor: team leads watching live load, per team they lead (admins: all teams)."""

from __future__ import annotations

import logging
from typing import Any

from broker.errors import AccessDenied, BrokerError, ErrorCode
from broker.types import Role
from signaling import schemas
from signaling.auth import read_auth, refuse
from signaling.context import Conn
from signaling.namespaces.base import RoleNamespace
from signaling.rooms import ALL_TEAMS, team_room

log = logging.getLogger("signaling.supervisor")


class SupervisorNamespace(RoleNamespace):
    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        try:
            address = await self.check_address(environ)
            fields = read_auth(auth)
            who = await self.ctx.staff_auth.check(fields.get("token"))
            if not who.has(Role.SUPERVISOR):
                raise AccessDenied(ErrorCode.FORBIDDEN, "this is for supervisors")
        except BrokerError as err:
            log.info("supervisor connect refused: %s", err.code)
            raise refuse(err) from None
        self.admit(sid, Conn(Role.SUPERVISOR, self.ctx.bucket(), address=address, staff=who))
        rooms = [ALL_TEAMS] if who.has(Role.ADMIN) else [team_room(t) for t in who.teams]
        for room in rooms:
            await self.enter_room(sid, room)
        try:
            snapshot = await self._snapshot(self.conns[sid])
        except BrokerError as err:
            snapshot = None
            await self.emit("error", {**err.to_dict(), "event": "load"}, to=sid)
        if snapshot is not None:
            await self.emit("load", snapshot, to=sid)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self.forget(sid)

    async def _snapshot(self, conn: Conn) -> dict[str, Any]:
        assert conn.staff is not None
        teams = None if conn.staff.has(Role.ADMIN) else conn.staff.teams
        return await self.ctx.load_snapshot(teams)

    async def handle_sync(self, sid: str, conn: Conn, data: Any) -> dict[str, Any]:
        schemas.payload(data, set())
        return {"load": await self._snapshot(conn)}
