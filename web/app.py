"""Assembly: `create_app(settings)` wires store, contact log, service, signaling and HTTP.

Lifetimes belong to cleanup contexts: the contact log opens (and recovers what a crash
left open) before the first request and closes after the last.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from broker.callbacks import CallbackPolicy
from broker.config import Settings
from broker.contactlog.base import ContactLog
from broker.contactlog.postgres import PostgresContactLog
from broker.contactlog.sqlite import SqliteContactLog
from broker.credentials import TokenIssuer
from broker.deadlines import Calendar
from broker.dropin import LANGUAGES, DropInPolicy, DropInService
from broker.holidays import parse_holidays
from broker.hours import parse_opening_hours
from broker.rollup import RollupBasis
from broker.service import SessionService
from broker.session import Policy
from broker.staffauth import staff_auth_for
from broker.store.memory import MemoryStore
from broker.store.redis import RedisStore
from broker.webhooks import WebhookEvents
from broker.worklist import Worklist
from signaling.server import create_signaling
from web import api, openapi, pages, reports, retention
from web import callbacks as callbacks_api
from web import dropin as dropin_api
from web.keys import DROPIN, SERVICE, SETTINGS, SIGNALING, STAFF_AUTH, WORKLIST
from web.middleware import error_middleware, refuse_compressed_signalling, security_headers
from web.secrets_file import load_or_create_secret
from web.webhooks import WebhookDeliverer

log = logging.getLogger("web.app")


def signing_secret(settings: Settings) -> tuple[bytes, bool]:
    if settings.secret:
        return settings.secret.encode(), False
    return load_or_create_secret(settings.data_dir)


def contact_log_for(settings: Settings) -> ContactLog:
    """PostgreSQL with DATABASE_URL, else the SQLite file in the data directory."""
    basis = RollupBasis(settings.report_timezone, settings.opening_hours)
    if settings.database_url:
        return PostgresContactLog(settings.database_url, basis=basis)
    return SqliteContactLog(settings.data_dir / "contacts.sqlite3",
                            synchronous=settings.sqlite_synchronous.upper(), basis=basis)


async def close_redis_manager(manager: Any) -> None:
    """socket.io's Redis manager never closes its connections: stop its listener and close
    them, or they linger (and are reported unclosed) after the app has stopped."""
    listener = getattr(manager, "thread", None)
    if isinstance(listener, asyncio.Task):
        listener.cancel()
        with suppress(asyncio.CancelledError, Exception):
            await listener
    for name in ("pubsub", "redis"):
        connection = getattr(manager, name, None)
        if connection is not None:
            with suppress(Exception):
                await connection.aclose()


def create_app(settings: Settings) -> web.Application:
    secret, _ = signing_secret(settings)
    policy = Policy(settings.grace_seconds, settings.no_show_after_seconds)
    issuer = TokenIssuer(secret, settings.issuer)
    contacts = contact_log_for(settings)
    service = SessionService(
        RedisStore(settings.redis_url, policy) if settings.redis_url else MemoryStore(policy),
        contacts, issuer, policy,
        link_valid_after_start=settings.link_valid_hours_after_start * 3600,
        node_timeout=settings.node_timeout_seconds,
        webhooks=WebhookEvents(settings.webhook_urls),
    )
    # webhooks: every process sends from the shared outbox; new rows wake it at once
    deliverer: WebhookDeliverer | None = None
    if settings.webhook_urls:
        deliverer = WebhookDeliverer(contacts, settings, service.node, service.now,
                                     alone=not service.store.shared)
        contacts.on_outbox = deliverer.wake
    app = web.Application(client_max_size=settings.max_body_bytes,
                          middlewares=[security_headers, error_middleware,
                                       refuse_compressed_signalling])
    app[SETTINGS] = settings
    app[SERVICE] = service
    staff_auth = staff_auth_for(settings, issuer, service.now)
    app[STAFF_AUTH] = staff_auth
    holidays, tz = parse_holidays(settings.holidays), ZoneInfo(settings.report_timezone)
    calendar = Calendar(reports.opening_hours_of(settings.opening_hours), holidays, tz)
    dropin_calendar = None if settings.dropin_hours == "always" else Calendar(
        parse_opening_hours(settings.dropin_hours), holidays, tz) if settings.dropin_hours \
        else calendar
    dropin = DropInService(service, DropInPolicy(
        topics=settings.dropin_topics, offer_seconds=settings.dropin_offer_seconds,
        wrap_up_seconds=settings.dropin_wrap_up_seconds,
        target_seconds=settings.dropin_target_seconds,
        handle_seconds=settings.dropin_handle_seconds, grace_seconds=settings.grace_seconds,
        max_wait_seconds=settings.dropin_max_wait_seconds,
        timezone=settings.report_timezone), dropin_calendar)
    app[DROPIN] = dropin
    worklist = Worklist(service, calendar, CallbackPolicy(
        max_attempts=settings.callback_max_attempts,
        claim_seconds=settings.callback_claim_minutes * 60), topics=settings.dropin_topics,
        languages=LANGUAGES)
    app[WORKLIST] = worklist
    ctx, pusher = create_signaling(settings, service, staff_auth, dropin, worklist)
    app[SIGNALING] = ctx
    ctx.sio.attach(app)
    api.setup(app)
    dropin_api.setup(app)
    callbacks_api.setup(app)
    openapi.setup(app)
    pages.setup(app)

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        await contacts.open()
        await service.ensure_alone(settings.heartbeat_seconds)
        await service.recover()
        await staff_auth.prefetch()
        settled = await worklist.reconcile()
        if settled:
            log.info("%d callback request(s) settled by calls that ended meanwhile", settled)
        loops = [asyncio.create_task(service.heartbeat_forever(settings.heartbeat_seconds))]
        if service.store.shared:  # several processes: reaper and live-load watcher
            loops.append(asyncio.create_task(service.reap_forever()))
            loops.append(asyncio.create_task(pusher.watch_forever()))
            loops.append(asyncio.create_task(dropin.watch_forever()))
        if deliverer is not None:
            loops.append(asyncio.create_task(deliverer.run_forever()))
        loops.append(asyncio.create_task(retention.purge_forever(contacts, settings,
                                                                 service.now)))
        loops.append(asyncio.create_task(worklist.refresh_forever()))
        log.info("broker ready on %s (node %s)", settings.base_url, service.node)
        yield
        for loop in loops:
            loop.cancel()
            with suppress(asyncio.CancelledError):
                await loop
        pusher.close()
        await dropin.close()
        await worklist.close()
        await service.close()
        await service.retire()
        await contacts.close()
        await service.store.close()
        await staff_auth.close()

    async def disconnect_clients(app: web.Application) -> None:
        """A clean stop closes every socket at once (at the engine.io level, so clients
        reconnect, to another process if there is one) and their parties are marked gone
        while the store is still open; else they would hang until the server gives up."""
        eio = ctx.sio.eio
        for sid, sock in list(eio.sockets.items()):
            # not `eio.disconnect()`: it waits for each socket's queue to drain, for ever if
            # the client went a moment ago
            try:
                await asyncio.wait_for(
                    sock.close(wait=False, reason=eio.reason.SERVER_DISCONNECT), 5.0)
                # end the transport now: browsers' engine.io ignores the CLOSE packet, and
                # the writer would otherwise close the websocket only when its wait for the
                # next packet times out (ping interval + timeout, 20 s)
                sock.queue.put_nowait(None)
            except Exception:
                log.warning("a socket could not be closed cleanly on stop")
            eio.sockets.pop(sid, None)
        await ctx.sio.shutdown()
        await close_redis_manager(ctx.sio.manager)

    app.cleanup_ctx.append(lifetime)
    app.on_shutdown.append(disconnect_clients)
    return app
