"""What the drop-in and callback services share: telling people without letting a failed
notice spoil the step that caused it, and work started for later that is never lost
silently (a failure is logged) and stops with the service."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

Sink = Callable[[str, str, dict[str, Any]], Awaitable[None]]  # (to, event, data)
_log = logging.getLogger("broker.notices")


async def tell(sink: Sink | None, to: str, event: str, data: dict[str, Any],
               log: logging.Logger = _log) -> None:
    """One notice; a failure is logged, never raised (the change it reports is made)."""
    if sink is None:
        return
    try:
        await sink(to, event, data)
    except Exception:
        log.exception("notice %s failed", event)


class Background:
    """Tasks a service starts and does not await; `close` cancels those still running."""

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:
                self._log.exception("background step failed")

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
