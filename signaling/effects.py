"""Core effects become socket.io emits: who hears what, and what the adapter adds.

The core says "tell the customer"; this module knows that means the room of that
session's customer in /customer, and that a `start` carries the ICE servers and a
switch to the phone carries the hotline number.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from broker.errors import ErrorCode
from broker.events import Notify
from broker.session import Session
from broker.types import Channel, SessionId, TeamId
from signaling.context import Context
from signaling.rooms import ALL_TEAMS, customer_room, staff_room, team_room

log = logging.getLogger("signaling.effects")


class Emitter:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def __call__(self, s: Session, note: Notify) -> None:
        data = self._enrich(note.event, note.data)
        sio = self.ctx.sio
        if note.to in ("counsellor", "both"):
            # `start` makes a tab create the offer: only the tab that admitted gets it
            to = self.ctx.counsellor_target(s) if note.event == "start" else staff_room(
                s.counsellor)
            await sio.emit(note.event, data, to=to, namespace="/staff")
        if note.to in ("customer", "both"):
            await sio.emit(note.event, data, to=customer_room(s.id), namespace="/customer")
        if note.event == "ended":
            self.ctx.call_sid.pop(s.id, None)
        log.debug("session %s: %s to %s", s.id, note.event, note.to)

    async def evict(self, session_id: SessionId, why: ErrorCode, newest: str | None) -> None:
        """Turn the session's customer sockets away: after it ended or its link was revoked
        they hold nothing, and a reconnect checks the session anew (and is refused). The
        sockets here, and the newest one wherever it is (older ones elsewhere were closed
        when it came)."""
        sio = self.ctx.sio
        room = customer_room(session_id)
        sids = [sid for sid, _ in sio.manager.get_participants("/customer", room)]
        if newest is not None and newest not in sids:
            sids.append(newest)
        if not sids:
            return
        message = ("the session has ended" if why is ErrorCode.SESSION_ENDED
                   else "this link has been replaced")
        await sio.emit("evicted", {"code": str(why), "message": message}, to=room,
                       namespace="/customer")
        for sid in sids:
            await sio.disconnect(sid, namespace="/customer")
        log.info("session %s: %d customer socket(s) turned away (%s)", session_id, len(sids),
                 why)

    def _enrich(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        if event == "start":
            return {**data, "ice_servers": self.ctx.ice_servers()}
        if event == "channel" and data.get("channel") == Channel.PHONE:
            return {**data, "hotline": self.ctx.settings.hotline_number}
        return data


class LoadPusher:
    """Pushes live load to supervisors on change, at most once per interval per team.

    Each process pushes to its own supervisors only. Alone it hears of every change
    (`poke`); with several processes the changes happen anywhere, so it watches the shared
    load version instead (`watch_forever`)."""

    def __init__(self, ctx: Context, interval: float) -> None:
        self.ctx = ctx
        self.interval = interval
        self._pending: asyncio.TimerHandle | None = None
        self._last_push = 0.0
        self._pushed_version: tuple[int, int] = (-1, -1)
        self._task: asyncio.Task[None] | None = None

    def poke(self) -> None:
        """Called on every change; cheap: at most one push is ever scheduled."""
        if self._pending is not None:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, self._last_push + self.interval - loop.time())
        self._pending = loop.call_later(delay, self._fire)

    def _fire(self) -> None:
        self._pending = None
        self._last_push = asyncio.get_running_loop().time()
        self._task = asyncio.get_running_loop().create_task(self.push())

    async def push(self) -> None:
        service = self.ctx.service
        sio = self.ctx.sio
        if not sio.manager.rooms.get("/supervisor"):
            return  # nobody here to tell (the version is read again once someone comes)
        try:
            version = (await service.store.load_version(), self.ctx.dropin.version)
            if version == self._pushed_version:
                return
            full = await self.ctx.load_snapshot()
        except Exception as exc:
            log.warning("live load not pushed: %s", type(exc).__name__)
            return
        self._pushed_version = version
        # to this process's supervisors only: every process pushes to its own
        await sio.emit("load", full, to=ALL_TEAMS, namespace="/supervisor", ignore_queue=True)
        for team, figures in full["teams"].items():
            one = {"at": full["at"], "version": full["version"], "teams": {team: figures}}
            await sio.emit("load", one, to=team_room(TeamId(team)), namespace="/supervisor",
                           ignore_queue=True)

    async def watch_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.push()

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
