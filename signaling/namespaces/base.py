"""What every role's namespace does the same way: dispatch, limits, errors.

A handler is `async def handle_<event>(self, sid, conn, data)`; it validates, calls the
core, and returns the ack payload. Anything refused becomes `error {code, message, event}`
for the client (and `{ok: false, error}` as the ack), while the connection stays up.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Coroutine
from typing import Any

import socketio
from socketio.exceptions import ConnectionRefusedError as Refused

from broker.errors import AccessDenied, BadInput, BrokerError, ErrorCode
from signaling import schemas
from signaling.auth import refuse
from signaling.clientaddr import client_address
from signaling.context import Conn, Context

log = logging.getLogger("signaling.events")
# A connected client can send an event with any name, these included: they must never
# reach the lifecycle handlers (a fake "disconnect" would mark a party gone).
_LIFECYCLE = frozenset({"connect", "disconnect"})


class RoleNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    def __init__(self, namespace: str, ctx: Context) -> None:
        super().__init__(namespace)
        self.ctx = ctx
        self.conns: dict[str, Conn] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def check_address(self, environ: dict[str, Any]) -> str:
        """The client's (keyed) address, if it may open one more connection (counted over
        every process: the store adds up what each one holds)."""
        request = environ.get("aiohttp.request")
        peer = getattr(request, "remote", None)
        forwarded = request.headers.get("X-Forwarded-For") if request is not None else None
        address = client_address(peer, forwarded, self.ctx.trusted_proxies)
        key = self.ctx.service.issuer.keyed_hash("address", address)[:16]
        try:
            held = await self.ctx.service.store.connections(key)
        except BrokerError:  # the store is away: this process's own count still holds
            held = self.ctx.per_address[key]
        if max(held, self.ctx.per_address[key]) >= self.ctx.settings.max_connections_per_address:
            log.warning("%s connect refused: too many connections from client %s",
                        self.namespace, key)
            raise BrokerError(ErrorCode.RATE_LIMITED, "too many connections from your network")
        return key

    def admit(self, sid: str, conn: Conn) -> None:
        """Register a connected socket; one whose token can end is turned away when it does."""
        conn.patience = self.ctx.patience()
        self.conns[sid] = conn
        if conn.address:
            self.ctx.per_address[conn.address] += 1
            self._share_count(conn.address)
        self._watch_expiry(sid, conn)

    def forget(self, sid: str) -> Conn | None:
        conn = self.conns.pop(sid, None)
        if conn is None:
            return None
        if conn.expiry is not None:
            conn.expiry.cancel()
        if conn.address:
            self.ctx.per_address[conn.address] -= 1
            if self.ctx.per_address[conn.address] <= 0:
                del self.ctx.per_address[conn.address]
            self._share_count(conn.address)
        return conn

    def _share_count(self, address: str) -> None:
        """Tell the store this process's count for the address (as it is when the write
        runs: several pending writes end with the newest count)."""
        self._spawn(self.ctx.share_count(address))

    async def _cut_off(self, sid: str, event: str) -> dict[str, Any]:
        err = BrokerError(ErrorCode.RATE_LIMITED, "too many events: disconnected")
        refusal = await self._refuse(sid, event, err)
        log.warning("%s socket cut off: it kept flooding", self.namespace)
        await self.disconnect(sid)
        return refusal

    def _watch_expiry(self, sid: str, conn: Conn) -> None:
        if conn.expiry is not None:
            conn.expiry.cancel()
            conn.expiry = None
        expires_at = conn.staff.expires_at if conn.staff is not None else math.inf
        if math.isinf(expires_at):
            return
        delay = max(0.0, expires_at - self.ctx.service.now())
        conn.expiry = asyncio.get_running_loop().call_later(delay, self._spawn_expire, sid)

    def _spawn_expire(self, sid: str) -> None:
        self._spawn(self._expire(sid))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _expire(self, sid: str) -> None:
        if sid not in self.conns:
            return
        err = AccessDenied(ErrorCode.TOKEN_EXPIRED, "your sign-in has expired, sign in again")
        await self.emit("error", {**err.to_dict(), "event": "reauth"}, to=sid)
        await self.disconnect(sid)
        log.info("%s socket closed: token expired", self.namespace)

    async def handle_reauth(self, sid: str, conn: Conn, data: Any) -> dict[str, Any]:
        """A renewed staff token (identity providers issue short-lived ones) keeps the socket
        open past the old token's end; it must be the same person with the same rights."""
        if conn.staff is None:
            raise BadInput('unknown event "reauth"', ErrorCode.UNKNOWN_EVENT)
        d = schemas.payload(data, {"token"})
        who = await self.ctx.staff_auth.check(d.get("token"))
        old = conn.staff
        if (who.staff_id, who.roles, who.teams) != (old.staff_id, old.roles, old.teams):
            raise AccessDenied(ErrorCode.FORBIDDEN, "reconnect to sign in as someone else")
        conn.staff = who
        self._watch_expiry(sid, conn)
        return {"expires_at": who.expires_at}

    async def trigger_event(self, event: str, *args: Any) -> Any:
        sid = args[0]
        if event in _LIFECYCLE and not self.server.manager.is_connected(sid, self.namespace):
            # the real ones: socket.io calls them while the socket is (dis)connecting
            try:
                return await super().trigger_event(event, *args)
            except Refused as refusal:
                self.ctx.metrics.refused(str(refusal.error_args.get("message", "?")), "socket")
                raise
            except Exception:  # an answer, never a connect left hanging
                log.exception("%s %s failed", self.namespace, event)
                if event == "connect":
                    raise refuse(BrokerError(ErrorCode.INTERNAL,
                                             "something went wrong on our side")) from None
                return None
        conn = self.conns.get(sid)
        if conn is None:
            return None
        name = event[:64] if isinstance(event, str) else "?"
        handler = getattr(self, f"handle_{name}", None) if name.isidentifier() else None
        known = name if handler is not None else "?"  # logs never echo client-chosen text
        try:
            if not conn.bucket.take():
                if conn.patience is not None and not conn.patience.take():
                    return await self._cut_off(sid, name)
                if conn.bucket.refused % 100 != 1:  # report a flood, not every dropped event
                    self.ctx.metrics.refused(ErrorCode.RATE_LIMITED, "socket")
                    return _refusal(ErrorCode.RATE_LIMITED, "too many events, slow down")
                raise BrokerError(ErrorCode.RATE_LIMITED, "too many events, slow down")
            if handler is None:
                raise BadInput(f'unknown event "{name}"', ErrorCode.UNKNOWN_EVENT)
            if len(args) > 2:
                raise BadInput("an event carries one JSON object")
            result = await handler(sid, conn, args[1] if len(args) > 1 else None)
            return {"ok": True, **(result or {})}
        except BrokerError as err:
            log.info("refused %s from %s: %s", known, conn.role, err.code)
            return await self._refuse(sid, name, err)
        except Exception:
            log.exception("event %s from %s failed", known, conn.role)
            internal = BrokerError(ErrorCode.INTERNAL, "something went wrong on our side")
            return await self._refuse(sid, name, internal)

    async def _refuse(self, sid: str, event: str, err: BrokerError) -> dict[str, Any]:
        """`error` for clients that listen, and the same as the ack for those that wait."""
        self.ctx.metrics.refused(err.code, "socket")
        await self.emit("error", {**err.to_dict(), "event": event}, to=sid)
        return {"ok": False, "error": err.to_dict()}


def _refusal(code: ErrorCode, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": str(code), "message": message}}
