"""Webhook delivery: sends the contact log's outbox to the configured URLs.

The service writes each event into the outbox in the same transaction as the step that
causes it (`broker.webhooks`); this loop only pumps: claim due rows, POST each one signed,
then mark it delivered or due again after a back-off. At least once: a row is settled only
after its receiver answered 2xx, so a crash between sending and settling sends it again,
with the same event id, for the receiver to de-duplicate.

- Claiming leases rows to this process for `2 x timeout + 5 s` (PostgreSQL: `FOR UPDATE
  SKIP LOCKED`), so several processes on one database do not normally send the same row; a
  process that dies holding a lease leaves its rows to the others once the lease ends (a
  process alone on its contact log, without Redis, ends such leases when it starts).
- Order: only the oldest unsettled row of each (session, URL) is claimable, so one
  receiver hears a session's events in order; a given-up row no longer holds the rest back.
- Back-off after a failure (non-2xx, redirect, timeout, connection error): base, 2 x base,
  4 x base ... capped (settings `webhook_retry_*`, default 1 s to 10 min); given up and
  logged once the event is `webhook_give_up_hours` old (48 h) or after `MAX_ATTEMPTS`.
- Waking: the contact log calls `wake` after every write that added outbox rows, so a
  new event goes out at once; otherwise the loop sleeps until the next row falls due, and
  at most `POLL_SECONDS` (1 s: rows written by another process that died before sending
  them; one cheap indexed query per second).
- Settled rows (delivered or given up) are deleted after `KEEP_SETTLED_SECONDS` (7 days).

Logs name the session, the event type and the target as scheme://host:port only (a URL's
path or query may hold a receiver's token); never a payload.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import suppress
from urllib.parse import urlsplit

import aiohttp

from broker.config import Settings
from broker.contactlog.base import ContactLog, OutboxRow
from broker.errors import BrokerError
from broker.webhooks import EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, sign

log = logging.getLogger("web.webhooks")

MAX_ATTEMPTS = 300  # with the default back-off about the 48 h; a bound for short back-offs
BATCH = 50  # rows claimed (and sent concurrently) at once
POLL_SECONDS = 1.0  # an idle process looks this often (rows another one left behind)
MIN_IDLE_SECONDS = 0.05  # never spin, whatever the database says is due
KEEP_SETTLED_SECONDS = 7 * 86400.0
PURGE_EVERY_SECONDS = 3600.0
USER_AGENT = "counselling-broker-webhooks/1"


def backoff(attempts: int, base: float, cap: float) -> float:
    """The wait after the `attempts`-th failed attempt (1: base)."""
    return float(min(cap, base * 2 ** min(max(attempts - 1, 0), 60)))


def target(url: str) -> str:
    """A URL as it may be logged."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


class WebhookDeliverer:
    def __init__(self, contacts: ContactLog, settings: Settings, node: str,
                 clock: Callable[[], float] = time.time, *, alone: bool = False) -> None:
        self.contacts = contacts
        self._secret = settings.webhook_secret.encode()
        self._base = settings.webhook_retry_base_seconds
        self._cap = settings.webhook_retry_max_seconds
        self._give_up_after = settings.webhook_give_up_hours * 3600.0
        self._timeout = settings.webhook_timeout_seconds
        self.lease_seconds = 2 * self._timeout + 5.0
        self.node = node
        self._clock = clock
        self._wake = asyncio.Event()
        self._purged_at = 0.0
        # the only process on this contact log: leases found at the start are stale
        self._alone = alone

    def wake(self) -> None:
        """New rows were written: look now."""
        self._wake.set()

    async def run_forever(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        async with aiohttp.ClientSession(
            timeout=timeout, cookie_jar=aiohttp.DummyCookieJar(),
            headers={"User-Agent": USER_AGENT},
        ) as http:
            if self._alone:
                await self._release_stale_leases()
            while True:
                self._wake.clear()  # before looking: a write from now on wakes the wait
                try:
                    if await self.deliver_once(http):
                        continue  # there may be more, or the next of a session's events
                    await self._purge_if_due()
                    wait = await self._idle_time()
                except BrokerError as exc:  # the database is away: the next round retries
                    log.warning("webhook delivery paused: %s", exc.code)
                    wait = POLL_SECONDS
                except Exception:
                    log.exception("webhook delivery round failed")
                    wait = POLL_SECONDS
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)

    async def _release_stale_leases(self) -> None:
        """Alone, rows still leased were being sent when the last process died: send them
        now rather than when their leases run out."""
        try:
            released = await self.contacts.release_outbox_leases()
        except BrokerError as exc:  # they wait for their leases to run out, that is all
            log.warning("webhook leases not released: %s", exc.code)
            return
        if released:
            log.info("webhook outbox: %d rows a stopped process was sending, sent again",
                     released)

    async def _idle_time(self) -> float:
        due = await self.contacts.outbox_next_due()
        if due is None:
            return POLL_SECONDS
        return min(POLL_SECONDS, max(MIN_IDLE_SECONDS, due - self._clock()))

    async def deliver_once(self, http: aiohttp.ClientSession) -> int:
        """Claim due rows and send them; returns how many were claimed."""
        rows = await self.contacts.claim_outbox(self.node, self._clock(), self.lease_seconds,
                                                BATCH)
        results = await asyncio.gather(*(self._send(http, row) for row in rows),
                                       return_exceptions=True)
        for row, result in zip(rows, results, strict=True):
            if isinstance(result, BaseException):
                # not settled: its lease runs out and it is sent again
                log.warning("session %s: webhook %s not settled: %s", row.session_id,
                            row.type, type(result).__name__)
        return len(rows)

    async def _send(self, http: aiohttp.ClientSession, row: OutboxRow) -> None:
        payload = row.body.encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self._secret, payload, int(self._clock())),
            EVENT_ID_HEADER: row.event_id,
            EVENT_TYPE_HEADER: row.type,
        }
        try:
            async with http.post(row.url, data=payload, headers=headers,
                                 allow_redirects=False) as resp:
                status = resp.status
            error = "" if 200 <= status < 300 else f"HTTP {status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = type(exc).__name__
        now = self._clock()
        if not error:
            await self.contacts.outbox_delivered(row.id, now)
            log.debug("session %s: webhook %s delivered to %s (attempt %d)", row.session_id,
                      row.type, target(row.url), row.attempts)
            return
        if row.attempts >= MAX_ATTEMPTS or now - row.at >= self._give_up_after:
            await self.contacts.outbox_failed(row.id, now, None, error)
            log.error("session %s: webhook %s to %s given up after %d attempts: %s",
                      row.session_id, row.type, target(row.url), row.attempts, error)
            return
        delay = backoff(row.attempts, self._base, self._cap)
        await self.contacts.outbox_failed(row.id, now, now + delay, error)
        log.warning("session %s: webhook %s to %s failed (%s), attempt %d, again in %.1f s",
                    row.session_id, row.type, target(row.url), error, row.attempts, delay)

    async def _purge_if_due(self) -> None:
        now = self._clock()
        if now - self._purged_at < PURGE_EVERY_SECONDS:
            return
        self._purged_at = now
        purged = await self.contacts.purge_outbox(now - KEEP_SETTLED_SECONDS)
        if purged:
            log.info("webhook outbox: %d settled rows deleted", purged)
