"""Retention: contact records are deleted a configured number of days after the day they
ended (`CB_RETENTION_DAYS`, 90 by default); their figures stay in the daily roll-up.
Settled callback requests go by the same rule.

Every process runs the same loop: the delete is idempotent, so several at once only repeat
each other's work. `counselling-broker purge` does one round by hand.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from broker.config import Settings
from broker.contactlog.base import ContactLog
from broker.report import retention_cutoff

log = logging.getLogger("web.retention")

# how often a running broker looks: a record outlives its retention by at most this much
INTERVAL_SECONDS = 3600.0


async def purge_once(contacts: ContactLog, settings: Settings, now: float) -> int:
    """Delete the records past retention; returns how many there were."""
    tz = ZoneInfo(settings.report_timezone)
    cutoff = retention_cutoff(now, settings.retention_days, tz)
    deleted = await contacts.purge_contacts(cutoff)
    day = datetime.fromtimestamp(cutoff, tz).date().isoformat()
    if deleted:
        log.info("retention: %s contact records that ended before %s deleted (their daily "
                 "totals stay)", deleted, day)
    # settled callback requests (their phone numbers went when they were settled)
    requests = await contacts.purge_callbacks(cutoff)
    if requests:
        log.info("retention: %s callback requests settled before %s deleted", requests, day)
    return deleted


async def purge_forever(contacts: ContactLog, settings: Settings,
                        clock: Callable[[], float]) -> None:
    while True:
        try:
            await purge_once(contacts, settings, clock())
        except Exception as exc:  # the database may be away: the next round tries again
            log.warning("retention round failed: %s", type(exc).__name__)
        await asyncio.sleep(INTERVAL_SECONDS)
