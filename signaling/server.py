"""The socket.io server: limits and origins from settings, one namespace per role."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import socketio

from broker.config import Settings
from broker.dropin import DropInService
from broker.record import ContactRecord
from broker.service import SessionService
from broker.staffauth import StaffAuth
from broker.types import StaffId, TeamId
from broker.worklist import Worklist
from signaling.clientaddr import parse_networks
from signaling.context import Context
from signaling.effects import Emitter, LoadPusher
from signaling.namespaces.callback import CallbackNamespace
from signaling.namespaces.customer import CustomerNamespace
from signaling.namespaces.queue import QueueNamespace
from signaling.namespaces.staff import StaffNamespace
from signaling.namespaces.supervisor import SupervisorNamespace
from signaling.rooms import callback_room, counsellors_room, staff_room, ticket_room

REDIS_CHANNEL = "cb:socketio"


class _QuietUndecodable(logging.Filter):
    """engine.io logs a full traceback for every packet python-socketio cannot decode (a
    client can send them at will, and they bypass our rate limit): keep one short line a
    minute instead, so a hostile client cannot flood the log."""

    def __init__(self) -> None:
        super().__init__()
        self._last = -math.inf
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage() != "message async handler error":
            return True
        now = time.monotonic()
        if now - self._last < 60:
            self.dropped += 1
            return False
        self._last = now
        record.msg, record.args, record.exc_info, record.exc_text = (
            "undecodable packet(s) dropped (%d more since the last report)",
            (self.dropped,), None, None)
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        self.dropped = 0
        return True


_ENGINEIO_FILTER = _QuietUndecodable()
log = logging.getLogger("signaling.server")


def create_signaling(settings: Settings, service: SessionService, staff_auth: StaffAuth,
                     dropin: DropInService, worklist: Worklist) -> tuple[Context, LoadPusher]:
    origins = [settings.base_url, *settings.allowed_origins]
    # several processes: emits to rooms (and disconnects) reach clients on every process
    manager = (socketio.AsyncRedisManager(settings.redis_url, channel=REDIS_CHANNEL)
               if settings.redis_url else None)
    sio = socketio.AsyncServer(
        client_manager=manager,
        async_mode="aiohttp",
        cors_allowed_origins=origins,
        async_handlers=False,  # one event at a time per connection: candidates stay in order
        # a hard ceiling per packet; the per-field limits in `schemas` are far lower, so an
        # oversized field gets a clear error while the connection stays up
        max_http_buffer_size=settings.max_packet_bytes,
        ping_interval=settings.ping_interval,
        ping_timeout=settings.ping_timeout,
        http_compression=False,
        logger=False,
        engineio_logger=False,
    )
    engineio_log = logging.getLogger("engineio.server")
    if _ENGINEIO_FILTER not in engineio_log.filters:
        engineio_log.addFilter(_ENGINEIO_FILTER)
    ctx = Context(service=service, settings=settings, sio=sio, staff_auth=staff_auth,
                  dropin=dropin, worklist=worklist,
                  trusted_proxies=parse_networks(settings.trusted_proxies))
    staff = StaffNamespace("/staff", ctx)
    customers = CustomerNamespace("/customer", ctx)
    sio.register_namespace(staff)
    sio.register_namespace(customers)
    sio.register_namespace(SupervisorNamespace("/supervisor", ctx))
    sio.register_namespace(QueueNamespace("/queue", ctx))
    sio.register_namespace(CallbackNamespace("/callback", ctx))

    async def reassert() -> None:
        """The shared store forgot this process (taken for dead, or it lost its data):
        state again who is connected here."""
        for address in list(ctx.per_address):
            await ctx.share_count(address)
        people = {c.staff.staff_id: c.staff for c in staff.conns.values() if c.staff}
        for who in people.values():
            await service.staff_still_here(who)
        for sid, conn in list(customers.conns.items()):
            if ctx.customer_sid.get(conn.session_id) != (conn.epoch, sid):
                continue  # superseded: not the customer's voice any more
            try:
                conn.epoch = await service.customer_still_here(conn.session_id, sid)
            except Exception:
                log.warning("a customer's presence could not be stated again")
                continue
            ctx.customer_sid[conn.session_id] = (conn.epoch, sid)

    service.reassert = reassert
    service.on_started = ctx.metrics.session_started

    def closed(record: ContactRecord, written: bool) -> None:
        ctx.metrics.session_closed(record, written)
        worklist.session_closed(record, written)

    service.on_closed = closed
    emitter = Emitter(ctx)
    service.notify = emitter
    service.evict = emitter.evict
    pusher = LoadPusher(ctx, settings.load_push_interval)
    service.on_load_change = pusher.poke

    async def to_ticket(ticket: str, event: str, data: dict[str, Any]) -> None:
        await sio.emit(event, data, to=ticket_room(ticket), namespace="/queue")

    async def to_staff(staff: str, event: str, data: dict[str, Any]) -> None:
        await sio.emit(event, data, to=staff_room(StaffId(staff)), namespace="/staff")

    dropin.to_ticket, dropin.to_staff = to_ticket, to_staff
    dropin.on_change = pusher.poke
    dropin.on_finished = ctx.metrics.dropin_finished
    service.on_activity = dropin.session_activity

    async def to_callback(callback_id: str, event: str, data: dict[str, Any]) -> None:
        await sio.emit(event, data, to=callback_room(callback_id), namespace="/callback")

    async def to_team(team: str, event: str, data: dict[str, Any]) -> None:
        await sio.emit(event, data, to=counsellors_room(TeamId(team)), namespace="/staff")

    worklist.to_callback, worklist.to_team = to_callback, to_team
    worklist.on_change = pusher.poke
    return ctx, pusher
