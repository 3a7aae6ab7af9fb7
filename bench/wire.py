"""What bench/relay.py and bench/capacity.py share: light clients and the peers they measure.

- `SioSocket`: one socket.io client (Engine.IO 4) over a bare aiohttp websocket. It answers
  the server's heartbeats, sends events and acknowledged calls and hands received events to
  a plain callback, with no task besides its reader: a load process holds thousands of them
  at a fraction of what `socketio.AsyncClient` costs per socket and per message.
- `PeerJSSocket`: one client of the PeerJS server over its own protocol (JSON over a
  websocket at `/peerjs`, a `HEARTBEAT` every 5 s as the PeerJS client library sends).
- `running_peerjs`, `running_bare`: the two peers as processes of their own on 127.0.0.1.
- /proc readings: CPU, resident memory, open files; `raise_open_files`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from bench.scaleout import machine_jiffies

BENCH = Path(__file__).resolve().parent
PEERJS_BIN = BENCH / "node_modules" / "peer" / "dist" / "bin" / "peerjs.js"
PEERJS_KEY = "peerjs"
PEERJS_HEARTBEAT = 5.0  # seconds, the PeerJS client library's `pingInterval`

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
EventHandler = Callable[[str, Any], None]
T = TypeVar("T")


class Refused(Exception):
    """The server refused a socket.io namespace connect (CONNECT_ERROR) or a PeerJS id."""


# ------------------------------------------------------------------ socket.io, raw


class SioSocket:
    """A socket.io client on one namespace, over a websocket opened directly (no polling)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, namespace: str,
                 on_event: EventHandler) -> None:
        self.ws = ws
        self.namespace = namespace
        self._prefix = "" if namespace == "/" else namespace + ","
        self.on_event = on_event
        loop = asyncio.get_running_loop()
        self.connected: asyncio.Future[Any] = loop.create_future()
        self._acks: dict[int, asyncio.Future[Any]] = {}
        self._next_ack = 0
        self.pings = 0  # heartbeats answered
        self.closed = False
        self.on_close: Callable[[], None] | None = None
        self._reader = loop.create_task(self._read())

    @classmethod
    async def open(cls, http: aiohttp.ClientSession, url: str, namespace: str,
                   auth: dict[str, Any], on_event: EventHandler,
                   within: float = 30.0) -> SioSocket:
        ws = await http.ws_connect(url + "/socket.io/?EIO=4&transport=websocket",
                                   autoping=True, compress=0, max_msg_size=0,
                                   timeout=aiohttp.ClientWSTimeout(ws_close=5.0))
        opening = await ws.receive(within)
        if opening.type is not aiohttp.WSMsgType.TEXT or not str(opening.data).startswith("0"):
            await ws.close()
            raise Refused(f"no Engine.IO open packet: {opening.type} {opening.data!r:.80}")
        self = cls(ws, namespace, on_event)
        await ws.send_str("40" + self._prefix + _dumps(auth))
        try:
            await asyncio.wait_for(asyncio.shield(self.connected), within)
        except BaseException:
            await self.close()
            raise
        return self

    async def emit(self, event: str, data: Any) -> None:
        await self.ws.send_str("42" + self._prefix + _dumps([event, data]))

    async def send_raw(self, packet: str) -> None:
        """A packet built beforehand with `event_packet`."""
        await self.ws.send_str(packet)

    def event_packet(self, event: str, data: Any) -> str:
        return "42" + self._prefix + _dumps([event, data])

    async def call(self, event: str, data: Any, within: float = 30.0) -> Any:
        """An event with an acknowledgement; returns the server's answer."""
        self._next_ack += 1
        ack = self._next_ack
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._acks[ack] = waiter
        await self.ws.send_str(f"42{self._prefix}{ack}" + _dumps([event, data]))
        try:
            return await asyncio.wait_for(waiter, within)
        finally:
            self._acks.pop(ack, None)

    async def close(self) -> None:
        self.closed = True
        with contextlib.suppress(Exception):
            await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    data: str = msg.data
                    kind = data[:1]
                    if kind == "4":
                        self._packet(data)
                    elif kind == "2":  # the server's heartbeat
                        self.pings += 1
                        await self.ws.send_str("3")
                    elif kind == "1":  # Engine.IO close
                        break
        finally:
            was_open = not self.closed
            self.closed = True
            if not self.connected.done():
                self.connected.set_exception(Refused("closed before the namespace connect"))
            if was_open and self.on_close is not None:
                self.on_close()

    def _packet(self, data: str) -> None:
        kind, rest = data[1:2], data[2:]
        if rest.startswith("/"):
            namespace, _, rest = rest.partition(",")
            if namespace != self.namespace:
                return
        elif self.namespace != "/":
            return
        ack_end = 0
        while ack_end < len(rest) and rest[ack_end].isdigit():
            ack_end += 1
        ack, body = rest[:ack_end], rest[ack_end:]
        if kind == "2":
            message = json.loads(body)
            self.on_event(message[0], message[1] if len(message) > 1 else None)
        elif kind == "3":
            waiter = self._acks.pop(int(ack), None) if ack else None
            if waiter is not None and not waiter.done():
                answer = json.loads(body)
                waiter.set_result(answer[0] if answer else None)
        elif kind == "0":
            if not self.connected.done():
                self.connected.set_result(json.loads(body) if body else None)
        elif kind == "4":
            if not self.connected.done():
                self.connected.set_exception(Refused(body[:300]))
        elif kind == "1":
            self.closed = True


# ------------------------------------------------------------------ PeerJS, its own protocol


class PeerJSSocket:
    """A PeerJS client: `OPEN` on connect, then JSON messages `{type, dst, payload}`."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse,
                 on_message: Callable[[dict[str, Any]], None]) -> None:
        self.ws = ws
        self.on_message = on_message
        self.closed = False
        self.on_close: Callable[[], None] | None = None
        loop = asyncio.get_running_loop()
        self._reader = loop.create_task(self._read())
        self._heartbeat = loop.create_task(self._beat())

    @classmethod
    async def open(cls, http: aiohttp.ClientSession, url: str, peer_id: str, token: str,
                   on_message: Callable[[dict[str, Any]], None],
                   within: float = 30.0) -> PeerJSSocket:
        ws = await http.ws_connect(
            f"{url}/peerjs?key={PEERJS_KEY}&id={peer_id}&token={token}&version=1.5.4",
            autoping=True, compress=0, max_msg_size=0,
            timeout=aiohttp.ClientWSTimeout(ws_close=5.0))
        first = await ws.receive(within)
        if first.type is not aiohttp.WSMsgType.TEXT or json.loads(first.data).get(
                "type") != "OPEN":
            await ws.close()
            raise Refused(f"PeerJS did not open {peer_id}: {first.data!r:.120}")
        return cls(ws, on_message)

    def encode(self, message: dict[str, Any]) -> str:
        return _dumps(message)

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_str(_dumps(message))

    async def send_raw(self, packet: str) -> None:
        await self.ws.send_str(packet)

    async def close(self) -> None:
        self.closed = True
        self._heartbeat.cancel()
        with contextlib.suppress(Exception):
            await self.ws.close()
        self._reader.cancel()
        for task in (self._reader, self._heartbeat):
            with contextlib.suppress(BaseException):
                await task

    async def _beat(self) -> None:
        beat = _dumps({"type": "HEARTBEAT"})
        await asyncio.sleep(PEERJS_HEARTBEAT * random.random())
        while not self.closed:
            with contextlib.suppress(Exception):
                await self.ws.send_str(beat)
            await asyncio.sleep(PEERJS_HEARTBEAT)

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    self.on_message(json.loads(msg.data))
        finally:
            was_open = not self.closed
            self.closed = True
            self._heartbeat.cancel()
            if was_open and self.on_close is not None:
                self.on_close()


# ------------------------------------------------------------------ the peers as processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_answering(url: str, proc: subprocess.Popen[bytes], what: str,
                   seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own 127.0.0.1
                return
        except urllib.error.HTTPError:
            return  # it answers, if not with 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start (exit code {proc.poll()})")
        time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def peerjs_missing() -> str | None:
    """Why the PeerJS server cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed: apt-get install nodejs npm"
    if not PEERJS_BIN.is_file():
        return ("the PeerJS server is not installed: run `npm ci --prefix bench` "
                "(installs the `peer` package into bench/node_modules)")
    return None


@contextlib.contextmanager
def running_peerjs() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The PeerJS server (`peer` from npm) on 127.0.0.1 with node; yields (url, process)."""
    missing = peerjs_missing()
    if missing:
        sys.exit(missing)
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603 - our own argument list
        [shutil.which("node") or "node", str(PEERJS_BIN), "--port", str(port),
         "-H", "127.0.0.1", "--key", PEERJS_KEY, "--concurrent_limit", "1000000"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_answering(url + "/", proc, "the PeerJS server")
        yield url, proc
    finally:
        stop(proc)


@contextlib.contextmanager
def running_bare(log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The bare python-socketio relay (bench/bare_relay.py) as its own process."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own argument list
            [sys.executable, "-m", "bench.bare_relay", "--port", str(port)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=BENCH.parent)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_answering(url + "/healthz", proc, "the bare relay")
        yield url, proc
    finally:
        stop(proc)


# ------------------------------------------------------------------ /proc


def status_kib(pid: int, key: str) -> int:
    """A `kB` line of /proc/<pid>/status (VmRSS, VmHWM), 0 once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def open_files(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def py_spy(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy sampling a Python server for `seconds` into `out` as collapsed stacks, if it
    is installed in the venv (`pip install py-spy`); it does not pause the server."""
    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():
        print("  (no profile: py-spy is not installed in the venv: pip install py-spy)")
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(  # noqa: S603 - our own argument list
        [str(spy), "record", "--pid", str(pid), "--rate", "200", "--duration",
         str(max(1, round(seconds))), "--format", "raw", "--output", str(out), "--nonblocking"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def machine_busy(seconds: float) -> float:
    """Cores the whole machine keeps busy over the next `seconds`."""
    b0, t0 = machine_jiffies()
    time.sleep(seconds)
    b1, t1 = machine_jiffies()
    return (b1 - b0) / max(1, t1 - t0) * (os.cpu_count() or 1)


def wait_quiet(limit: float, most: float = 0.1) -> float:
    """Wait up to `limit` seconds for the machine to use at most `most` cores (someone
    else's test run, say); returns the last reading."""
    deadline = time.monotonic() + limit
    while True:
        busy = machine_busy(2.0)
        if busy <= most or time.monotonic() >= deadline:
            return busy


def measured_quietly(title: str, run: Callable[[], T], other: Callable[[T], float],
                     retries: int, quiet_wait: float, tolerated: float) -> T:
    """`run()` (a measurement), again up to `retries` times while processes outside the
    benchmark used more than `tolerated` cores (`other` of the outcome); before each try,
    wait up to `quiet_wait` seconds for a quiet machine."""
    for attempt in range(retries + 1):
        if quiet_wait:
            wait_quiet(quiet_wait)
        print(f"{title}: measuring …", flush=True)
        outcome = run()
        used = other(outcome)
        if used <= tolerated or attempt == retries:
            return outcome
        print(f"  others used {used:.2f} cores meanwhile: once more", flush=True)
    raise AssertionError("unreachable")


def add_quiet_options(ap: argparse.ArgumentParser, tolerated: float) -> None:
    """--retries and --quiet-wait, for `measured_quietly`."""
    ap.add_argument("--retries", type=int, default=0,
                    help="measure a case again (up to N times) when other processes used "
                         f"more than {tolerated:g} cores meanwhile (default 0)")
    ap.add_argument("--quiet-wait", type=float, default=0.0, metavar="SECONDS",
                    help="before each case, wait up to this long for the machine to be "
                         "quiet (default 0)")


def receive(link: Connection, timeout: float) -> tuple[str, Any]:
    """The next message from a load process."""
    if not link.poll(timeout):
        raise RuntimeError(f"a load process did not answer within {timeout:.0f} s")
    got: tuple[str, Any] = link.recv()
    return got


def stop_process(p: Any) -> None:
    if p.is_alive():
        p.terminate()
        p.join(10)


def raise_open_files() -> int:
    """Lift this process's soft limit of open files to its hard limit (children inherit
    it); returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1_048_576
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard

