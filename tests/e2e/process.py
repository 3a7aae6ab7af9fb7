"""A broker as its own OS process, and what the crash tests do to it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import SECRET, Peer
from tests.ports import free_port


class BrokerProcess:
    """`counselling-broker serve` as its own OS process, on a fixed data directory."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None,
                 log_file: Path | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None
        self.env = env or {}
        self.log_file = log_file  # the process's stderr (its log) goes here when given

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        env = {**os.environ, "CB_SECRET": SECRET, "CB_HEARTBEAT_SECONDS": "0.2",
               "CB_LOG_LEVEL": "WARNING", **self.env}
        log = self.log_file.open("ab") if self.log_file is not None else None
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "web.cli", "serve", "--port", str(self.port),
                "--data-dir", str(self.data_dir), env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log if log is not None else asyncio.subprocess.PIPE,
            )
        finally:
            if log is not None:
                log.close()  # the child holds its own descriptor
        deadline = time.monotonic() + 15
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                try:
                    async with http.get(self.url + "/healthz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                if self.proc.returncode is not None:
                    break
                await asyncio.sleep(0.05)
        err = (self.log_file.read_bytes() if self.log_file is not None
               else b"" if self.proc.stderr is None else await self.proc.stderr.read())
        raise AssertionError(f"broker did not start: {err.decode()[-2000:]}")

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self, patience: float = 15.0) -> None:
        """SIGTERM, a clean stop (it takes about two seconds, see the clean-stop test). One
        that has not ended after `patience` gets its stacks dumped into its log (SIGUSR1)
        and is killed, so one stuck process cannot hang the suite; that is reported."""
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.terminate()
        try:
            await asyncio.wait_for(self.proc.wait(), patience)
            return
        except TimeoutError:
            pass
        self.proc.send_signal(signal.SIGUSR1)
        await asyncio.sleep(0.5)
        self.proc.kill()
        await self.proc.wait()
        tail = self.log_file.read_text(errors="replace")[-4000:] if self.log_file else ""
        print(f"broker on port {self.port} did not stop within {patience} s after "
              f"SIGTERM; killed. Its log ends:\n{tail}", file=sys.stderr)


async def http(base: str, method: str, path: str, token: str | None = None,
               json: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as h, h.request(method, base + path, json=json,
                                                       headers=headers) as r:
        return r.status, await r.json()


async def talk_then_kill(process: BrokerProcess, staff: str, session: dict[str, Any],
                         name: str = "X") -> float:
    """Join, admit and talk for a second, then SIGKILL the broker; returns when it died."""
    sid = session["session"]
    k = await Peer(process.url, "/staff", {"token": staff}).connect()
    c = await Peer(process.url, "/customer", {"token": session["customer_token"]}).connect()
    try:
        await c.call("join", {"name": name, "capabilities": {"webrtc": True, "camera": True,
                                                             "microphone": True}})
        await k.call("admit", {"session": sid})
        await c.call("media_state", {"state": "connected"})
        await asyncio.sleep(1.0)  # talking; only heartbeats are written meanwhile
        killed_at = time.time()
        await process.kill()
    finally:
        for peer in (k, c):
            await peer.close()
    return killed_at
