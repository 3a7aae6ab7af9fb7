"""The broker under measurement, as its own process (`counselling-broker serve`, uvloop)."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

SECRET = "bench-secret-" + "z" * 40


@asynccontextmanager
async def running_broker(log_level: str = "WARNING") -> AsyncIterator[str]:
    """A fresh broker on a throw-away data directory; yields its URL once it answers."""
    async with broker_process({"CB_LOG_LEVEL": log_level}) as (url, _pid):
        yield url


@asynccontextmanager
async def broker_process(settings: dict[str, str]) -> AsyncIterator[tuple[str, int]]:
    """The same, with more settings (`CB_*` variables); yields (URL, process id)."""
    port = 18000 + os.getpid() % 1000
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CB_SECRET": SECRET, "CB_LOG_LEVEL": "WARNING", **settings}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "web.cli", "serve", "--port", str(port), "--data-dir",
            str(Path(tmp) / "d"), env=env, stdout=asyncio.subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    async with aiohttp.ClientSession() as h, h.get(url + "/healthz"):
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            else:
                raise RuntimeError("the broker did not start")
            yield url, proc.pid
        finally:
            proc.terminate()
            await proc.wait()


def runner() -> asyncio.Runner:
    """An event loop as the broker runs it (uvloop), for load processes too."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)
