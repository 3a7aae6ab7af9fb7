"""The gateway process's assembly: configuration, start, stop, and its calls.

`Gateway(config, admitter)` is everything the `counselling-broker sip-gateway` command
needs: it loads the prompts (a missing file stops it at start, not at a caller's
first call), listens for SIP, runs one `DialInCall` per call and ends them all on
stop. The admitter is the link to the broker (service token, code check, joining the
session); the gateway itself knows nothing of sockets to the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiortp import PortAllocator

from gateway.admission import Admitter
from gateway.call import CallContext, CallTimers, DialInCall
from gateway.ivr import IvrConfig
from gateway.media import MediaConfig
from gateway.sip import SipCall, SipConfig, SipServer
from gateway.voice import PROMPT_DIR, load_voice

log = logging.getLogger("gateway")
LIBRARY_LOGGERS = ("aiosipua", "aiortp")


class RedactArguments(logging.Filter):
    """aiosipua and aiortp put Call-IDs and addresses into some of their log lines
    ("No ACK for 2xx on <Call-ID>"): keep their message templates, drop the arguments
    (the line then reads "No ACK for 2xx on %s")."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.args = None
        return True


def redact_library_logs() -> None:
    """On every logger of the two libraries (a filter on a parent logger would not see
    its children's records); they are all created when their modules are imported."""
    names = [n for n in logging.root.manager.loggerDict
             if n in LIBRARY_LOGGERS or n.startswith(tuple(f"{p}." for p in LIBRARY_LOGGERS))]
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactArguments) for f in logger.filters):
            logger.addFilter(RedactArguments())


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    sip: SipConfig = field(default_factory=SipConfig)
    media: MediaConfig = field(default_factory=MediaConfig)
    ivr: IvrConfig = field(default_factory=IvrConfig)
    timers: CallTimers = field(default_factory=CallTimers)
    rtp_ports: tuple[int, int] = (20000, 30000)  # even RTP port, RTCP on the next
    prompt_dir: Path = PROMPT_DIR

    def __post_init__(self) -> None:
        low, high = self.rtp_ports
        if not 1024 <= low < high <= 65535:
            raise ValueError(f"rtp_ports: {low}-{high} is not a range of ports above 1023")


class Gateway:
    def __init__(self, config: GatewayConfig, admitter: Admitter) -> None:
        self.config = config
        self.admitter = admitter
        self.calls: dict[str, DialInCall] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._ctx: CallContext | None = None
        self.sip = SipServer(config.sip, self._on_call)

    async def start(self) -> None:
        redact_library_logs()
        c = self.config
        self._ctx = CallContext(admitter=self.admitter, voice=load_voice(c.prompt_dir),
                                media=c.media, ivr=c.ivr, timers=c.timers,
                                ports=PortAllocator(c.rtp_ports))
        await self.sip.start()
        log.info("SIP gateway listening: UDP %s, TCP %s", self.sip.udp_port,
                 self.sip.tcp_port if self.sip.tcp is not None else "off")

    async def stop(self) -> None:
        for call in list(self.calls.values()):
            await call.stop()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.sip.stop()

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _on_call(self, sip_call: SipCall) -> None:
        assert self._ctx is not None
        call = DialInCall(sip_call, self._ctx)
        self.calls[sip_call.call_id] = call
        task = asyncio.create_task(self._run(call))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, call: DialInCall) -> None:
        try:
            await call.run()
        finally:
            self.calls.pop(call.sip.call_id, None)

    def stats(self) -> dict[str, Any]:
        udp, tcp = self.sip.udp, self.sip.tcp
        return {
            "calls": len(self.calls),
            "absorbed_retransmissions": (udp.absorbed if udp else 0)
            + (tcp.absorbed if tcp else 0),
            "refused": dict(self.sip.guard.refused),
        }
