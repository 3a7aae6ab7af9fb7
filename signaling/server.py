"""The socket.io server: limits and origins from settings, one namespace per role."""

from __future__ import annotations

import logging
import math
import time

import socketio

from broker.config import Settings
from broker.service import SessionService
from broker.staffauth import StaffAuth
from signaling.clientaddr import parse_networks
from signaling.context import Context
from signaling.effects import Emitter, LoadPusher
from signaling.namespaces.customer import CustomerNamespace
from signaling.namespaces.staff import StaffNamespace
from signaling.namespaces.supervisor import SupervisorNamespace


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


def create_signaling(settings: Settings, service: SessionService, staff_auth: StaffAuth
                     ) -> tuple[Context, LoadPusher]:
    origins = [settings.base_url, *settings.allowed_origins]
    sio = socketio.AsyncServer(
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
                  trusted_proxies=parse_networks(settings.trusted_proxies))
    sio.register_namespace(StaffNamespace("/staff", ctx))
    sio.register_namespace(CustomerNamespace("/customer", ctx))
    sio.register_namespace(SupervisorNamespace("/supervisor", ctx))
    emitter = Emitter(ctx)
    service.notify = emitter
    service.evict = emitter.evict
    pusher = LoadPusher(ctx, settings.load_push_interval)
    service.on_load_change = pusher.poke
    return ctx, pusher
