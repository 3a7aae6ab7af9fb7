"""A webhook receiver on loopback: a real aiohttp server that records every request, and
answers each one with the status a test chooses (or not at all, for a while)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from broker.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER, verify

SECRET = "webhook-test-secret-0123456789"
HANG = -1  # the status recorded for a request the receiver let hang


@dataclass(frozen=True)
class Delivery:
    """One request as it arrived."""

    raw: bytes
    headers: dict[str, str]
    status: int  # what the receiver answered
    arrived: float

    @property
    def event(self) -> dict[str, Any]:
        value = json.loads(self.raw)
        assert isinstance(value, dict)
        return value

    def signed_with(self, secret: str) -> bool:
        return verify(secret, self.raw, self.headers[SIGNATURE_HEADER], time.time())


# how to answer the n-th request carrying this event id (0: the first): a status, or a
# delay in seconds first (a hanging receiver) as (seconds, status)
Answer = Callable[[dict[str, Any], int], "int | tuple[float, int]"]


def always_ok(event: dict[str, Any], n: int) -> int:
    return 200


@dataclass
class Receiver:
    answer: Answer = always_ok
    port: int | None = None
    got: list[Delivery] = field(default_factory=list)
    _server: TestServer | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        assert self.port is not None
        return f"http://127.0.0.1:{self.port}/hooks/in?key=receiver-token"

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hooks/in", self._handle)
        self._server = TestServer(app, host="127.0.0.1", port=self.port)
        await self._server.start_server()
        self.port = self._server.port
        return self

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.close()
            self._server = None

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        event = json.loads(raw)
        n = sum(1 for d in self.got if d.event["id"] == event["id"])
        answer = self.answer(event, n)
        delay, status = answer if isinstance(answer, tuple) else (0.0, answer)
        # a hanging answer counts as none (HANG): the sender gives up before it comes
        self.got.append(Delivery(raw, dict(request.headers), HANG if delay else status,
                                 time.time()))
        self._arrived.set()
        if delay:
            await asyncio.sleep(delay)
        return web.Response(status=status)

    def accepted(self) -> list[Delivery]:
        return [d for d in self.got if 200 <= d.status < 300]

    def of(self, event_id: str) -> list[Delivery]:
        return [d for d in self.got if d.headers[EVENT_ID_HEADER] == event_id]

    async def wait_accepted(self, count: int, timeout: float = 5.0,
                            where: Callable[[Delivery], bool] = lambda d: True,
                            ) -> list[Delivery]:
        """Until `count` accepted deliveries (matching `where`) have arrived."""
        deadline = time.monotonic() + timeout
        while True:
            found = [d for d in self.accepted() if where(d)]
            if len(found) >= count:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                types = [(d.event["type"], d.status) for d in self.got]
                raise AssertionError(f"{len(found)} of {count} deliveries; got {types}")
            self._arrived.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)
