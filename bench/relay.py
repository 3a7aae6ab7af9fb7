"""Signalling relay under load: our broker, the PeerJS server and a bare python-socketio
relay carrying the same workload, one after the other, on this machine.

For each number of concurrent sessions (default 500, 1,000, 2,000) and each server:

- broker: `python -m web.cli serve` (uvloop, memory state, SQLite contact log, event rate
  limits and sockets per address raised so nothing is throttled); every session goes
  through join → admit → start first, then the counsellor (/staff) and the customer
  (/customer) exchange `signal`s;
- peerjs: the PeerJS server (npm `peer`, node) over its own protocol: two peer ids per
  session exchanging OFFER, ANSWER and CANDIDATE messages, each client sending HEARTBEAT
  every 5 s as the PeerJS client library does;
- bare: bench/bare_relay.py, a room per pair and every `signal` re-emitted to the other
  side, on the broker's stack (aiohttp, uvloop, python-socketio, same settings): the floor.

The workload, the same for all three: every session does a set-up burst, the counsellor
sending an offer (a Chrome-like audio+video SDP, 4.4 kB) and 20 trickled candidates 5 ms
apart, the customer answering (3.0 kB) on receipt of the offer and trickling its 20; the
sessions start evenly spread over a window of sessions ÷ `--setup-rate` seconds (100 a second:
a morning rush, or every call renegotiating after a failover). After its burst each party
sends one stats-sized message every `--period` seconds. The broker relays `media_state`
without its stats (they are validated and dropped, docs/protocol.md 3.1), so the periodic
message is a `signal` candidate (~250 bytes on the wire), the one message all three relay.

Measured, from /proc: the set-up window (bursts arriving, stats of the sessions already up)
and, after a settling gap, a steady window (stats only). Latency is send → receipt at the
other party (the send time rides in the candidate's `usernameFragment` and in the SDP's
`o=` line; every process here shares CLOCK_MONOTONIC). CPU per relayed message and cores
for the server, the load processes (raw websocket clients, uvloop, `--workers` processes)
and `other` (anything outside this benchmark); resident memory of the server.

    .venv/bin/python -m bench.relay [--quick] [--sessions 500,1000,2000] [--servers ...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp

from bench.process import SECRET, runner
from bench.scaleout import (
    broker_env,
    cpu_seconds,
    machine_jiffies,
    pct,
    running_brokers,
    sleep_until,
)
from bench.wire import (
    PeerJSSocket,
    SioSocket,
    add_quiet_options,
    measured_quietly,
    open_files,
    peerjs_missing,
    py_spy,
    receive,
    running_bare,
    running_peerjs,
    status_kib,
    stop_process,
)
from broker.credentials import TokenIssuer
from broker.types import Role, StaffId, TeamId

SERVERS = ("broker", "peerjs", "bare")
TITLES = {"broker": "our broker", "peerjs": "PeerJS server", "bare": "bare socket.io"}
CANDIDATES = 20  # trickled each way in a set-up
SETUP_TIMEOUT = 60.0
SETUP_CONCURRENCY = 25  # sessions being connected at once, per load process
NS = 1_000_000_000
OTHER_TOLERATED = 0.15  # cores used outside the benchmark before its figures are suspect


# ------------------------------------------------------------------ the messages


def _chrome_like_sdp(offer: bool) -> tuple[str, str]:
    """An audio+video SDP shaped like Chrome's (bundle, trickle, the usual codecs); the
    send time goes into the `o=` line between the two halves."""
    video = [("VP8/90000", ""), ("VP9/90000", "profile-id=0"), ("VP9/90000", "profile-id=2"),
             ("H264/90000", "level-asymmetry-allowed=1;packetization-mode=1;"
                            "profile-level-id=42001f"),
             ("H264/90000", "level-asymmetry-allowed=1;packetization-mode=0;"
                            "profile-level-id=42001f"),
             ("H264/90000", "level-asymmetry-allowed=1;packetization-mode=1;"
                            "profile-level-id=42e01f"),
             ("H264/90000", "level-asymmetry-allowed=1;packetization-mode=1;"
                            "profile-level-id=4d001f"),
             ("AV1/90000", "level-idx=5;profile=0;tier=0")]
    if not offer:
        video = video[:4]
    audio = ["opus/48000/2", "red/48000/2", "G722/8000", "PCMU/8000", "PCMA/8000", "CN/8000",
             "telephone-event/48000", "telephone-event/8000"]
    if not offer:
        audio = [audio[0], audio[6]]
    ice = ("a=ice-ufrag:Zb7q\r\na=ice-pwd:Qx1u3mTQ0lhNZk7ixTHoG9vk\r\na=ice-options:trickle\r\n"
           "a=fingerprint:sha-256 " + ":".join(f"{(i * 37) % 256:02X}" for i in range(32))
           + f"\r\na=setup:{'actpass' if offer else 'active'}\r\n")
    a_types = [111, 63, 9, 0, 8, 13, 110, 126][:len(audio)]
    lines = ["m=audio 9 UDP/TLS/RTP/SAVPF " + " ".join(map(str, a_types)),
             "c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0", ice.rstrip("\r\n"), "a=mid:0"]
    lines += [f"a=extmap:{i} {u}" for i, u in enumerate(
        ("urn:ietf:params:rtp-hdrext:ssrc-audio-level",
         "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
         "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
         "urn:ietf:params:rtp-hdrext:sdes:mid"), 1)]
    lines += ["a=sendrecv", "a=msid:3e1f1b5c-5b1e-4a0e-9d0a-7a9a1f6f0b2e "
              "8b7c6d5e-4f3a-2b1c-0d9e-8f7a6b5c4d3e", "a=rtcp-mux", "a=rtcp-rsize"]
    for pt, codec in zip(a_types, audio, strict=True):
        lines.append(f"a=rtpmap:{pt} {codec}")
        if codec.startswith("opus"):
            lines += [f"a=rtcp-fb:{pt} transport-cc", f"a=fmtp:{pt} minptime=10;useinbandfec=1"]
    lines.append("a=ssrc:2815461011 cname:hX2bYQ0vG7kLm3Np")
    v_types = list(range(96, 96 + 2 * len(video))) + ([114, 115, 116] if offer else [114])
    lines += ["m=video 9 UDP/TLS/RTP/SAVPF " + " ".join(map(str, v_types)),
              "c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0", ice.rstrip("\r\n"), "a=mid:1"]
    lines += [f"a=extmap:{i} {u}" for i, u in enumerate(
        ("urn:ietf:params:rtp-hdrext:toffset",
         "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
         "urn:3gpp:video-orientation",
         "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
         "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
         "http://www.webrtc.org/experiments/rtp-hdrext/video-content-type",
         "http://www.webrtc.org/experiments/rtp-hdrext/video-timing",
         "http://www.webrtc.org/experiments/rtp-hdrext/color-space",
         "urn:ietf:params:rtp-hdrext:sdes:mid"), 14)]
    lines += ["a=sendrecv", "a=msid:3e1f1b5c-5b1e-4a0e-9d0a-7a9a1f6f0b2e "
              "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d", "a=rtcp-mux", "a=rtcp-rsize"]
    for i, (codec, fmtp) in enumerate(video):
        pt = 96 + 2 * i
        lines.append(f"a=rtpmap:{pt} {codec}")
        lines += [f"a=rtcp-fb:{pt} {fb}" for fb in
                  ("goog-remb", "transport-cc", "ccm fir", "nack", "nack pli")]
        if fmtp:
            lines.append(f"a=fmtp:{pt} {fmtp}")
        lines += [f"a=rtpmap:{pt + 1} rtx/90000", f"a=fmtp:{pt + 1} apt={pt}"]
    lines += ["a=rtpmap:114 red/90000"]
    if offer:
        lines += ["a=rtpmap:115 rtx/90000", "a=fmtp:115 apt=114", "a=rtpmap:116 ulpfec/90000"]
    lines += ["a=ssrc-group:FID 1570291452 3915327890",
              "a=ssrc:1570291452 cname:hX2bYQ0vG7kLm3Np",
              "a=ssrc:3915327890 cname:hX2bYQ0vG7kLm3Np"]
    head = "v=0\r\no=- "
    tail = (" 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\na=extmap-allow-mixed\r\n"
            "a=msid-semantic: WMS 3e1f1b5c-5b1e-4a0e-9d0a-7a9a1f6f0b2e\r\n"
            + "\r\n".join(lines) + "\r\n")
    return head, tail


OFFER = _chrome_like_sdp(True)
ANSWER = _chrome_like_sdp(False)
_KINDS = ("host", "srflx", "relay")


def candidate_line(side: int, i: int) -> str:
    """The i-th trickled candidate of a side, as browsers write them."""
    kind = _KINDS[i % 3]
    port = 50000 + side * 1000 + i
    extra = "" if kind == "host" else f" raddr 0.0.0.0 rport {port - 100}"
    return (f"candidate:{1900000000 + side * 100 + i} {1 + i % 2} udp "
            f"{2122260223 - i * 1000} 127.0.0.1 {port} typ {kind}{extra} generation 0 "
            f"ufrag Zb7q network-id 1 network-cost 10")


def sdp_sent_at(sdp: str) -> int:
    start = sdp.index("o=- ") + 4
    return int(sdp[start:sdp.index(" ", start)])


# ------------------------------------------------------------------ the load (own processes)


@dataclass(frozen=True)
class Plan:
    """Moments on CLOCK_MONOTONIC (ns), shared by every process of this machine."""

    start: int  # the first set-up begins
    setup_window: int  # set-ups begin evenly spread over this many ns
    setup_end: int
    steady_from: int
    steady_end: int  # no message is sent after this
    done: int  # the last ones have arrived
    period: int  # ns between one party's stats messages
    gap: int  # ns between two trickled candidates
    sessions: int  # in all, over every load process


@dataclass
class Window:
    received: int = 0
    latencies: list[int] = field(default_factory=list)  # ns


@dataclass
class WorkerResult:
    sent: int
    received: int
    setup: Window
    steady: Window
    errors: Counter[str]
    disconnects: int
    failures: list[str]


class Party:
    """One side of a session: its socket and how it words a message on its server's wire."""

    def __init__(self, load: Load, pair: Pair, side: int) -> None:
        self.load, self.pair, self.side = load, pair, side
        self.sio: SioSocket | None = None
        self.peer: PeerJSSocket | None = None
        self.waiting: dict[str, asyncio.Future[Any]] = {}
        self.peer_id = ""
        self.task: asyncio.Task[None] | None = None

    # the wire, per server
    def packet(self, kind: str, stamp: str, index: int) -> str:
        server = self.load.server
        if kind in ("offer", "answer"):
            head, tail = OFFER if kind == "offer" else ANSWER
            body: dict[str, Any] = {"type": kind, "sdp": head + stamp + tail}
        else:
            body = {"type": "candidate", "candidate": {
                "candidate": candidate_line(self.side, index), "sdpMid": str(index % 2),
                "sdpMLineIndex": index % 2, "usernameFragment": stamp}}
        if server == "peerjs":
            other = self.pair.parties[1 - self.side].peer_id
            payload: dict[str, Any] = {"type": "media", "connectionId": self.pair.connection}
            if kind == "candidate":
                payload["candidate"] = body["candidate"]
            else:
                payload["sdp"] = body
                payload["metadata" if kind == "offer" else "browser"] = (
                    None if kind == "offer" else "chrome")
            assert self.peer is not None
            return self.peer.encode({"type": kind.upper(), "dst": other, "payload": payload})
        if server == "broker" and self.side == 0:
            body["session"] = self.pair.session
        assert self.sio is not None
        return self.sio.event_packet("signal", body)

    async def send(self, kind: str, index: int = 0) -> None:
        packet = self.packet(kind, str(time.monotonic_ns()), index)
        self.load.sent += 1
        if self.peer is not None:
            await self.peer.send_raw(packet)
        elif self.sio is not None:
            await self.sio.send_raw(packet)

    # receiving
    def on_event(self, event: str, data: Any) -> None:
        if event == "signal":
            kind = data["type"]
            sent = (sdp_sent_at(data["sdp"]) if kind in ("offer", "answer")
                    else int(data["candidate"]["usernameFragment"]))
            self.arrived(kind, sent)
            return
        if event == "error":
            self.load.errors[str(data.get("code") if isinstance(data, dict) else data)] += 1
        waiter = self.waiting.pop(event, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(data)

    def on_peerjs(self, message: dict[str, Any]) -> None:
        kind = str(message.get("type", "")).lower()
        payload = message.get("payload") or {}
        if kind in ("offer", "answer"):
            self.arrived(kind, sdp_sent_at(payload["sdp"]["sdp"]))
        elif kind == "candidate":
            self.arrived(kind, int(payload["candidate"]["usernameFragment"]))
        else:
            self.load.errors[f"PeerJS {kind}"] += 1

    def arrived(self, kind: str, sent: int) -> None:
        self.load.arrived(sent)
        if kind == "offer" and self.side == 1:
            self.task = asyncio.get_running_loop().create_task(self.answer())

    def expect(self, event: str) -> asyncio.Future[Any]:
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiting[event] = waiter
        return waiter

    def gone(self) -> None:
        self.load.disconnects += 1

    # the script of a session
    async def trickle(self) -> None:
        plan = self.load.plan
        assert plan is not None
        for i in range(CANDIDATES):
            await asyncio.sleep(plan.gap / NS)
            await self.send("candidate", i)
        # then a stats-sized message every period, from a random phase on
        due = time.monotonic_ns() + int(random.random() * plan.period)
        while due < plan.steady_end:
            await asyncio.sleep(max(0.0, (due - time.monotonic_ns()) / NS))
            await self.send("candidate", CANDIDATES)
            due += plan.period

    async def offer(self, at: int) -> None:
        await asyncio.sleep(max(0.0, (at - time.monotonic_ns()) / NS))
        await self.send("offer")
        await self.trickle()

    async def answer(self) -> None:
        await self.send("answer")
        await self.trickle()

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        for sock in (self.sio, self.peer):
            if sock is not None:
                await sock.close()


class Pair:
    def __init__(self, load: Load, n: int) -> None:
        self.n = n
        self.session = ""
        self.connection = f"mc_{n:08x}{random.getrandbits(32):08x}"
        self.parties = (Party(load, self, 0), Party(load, self, 1))


class Load:
    """One load process: its sessions, its counters."""

    def __init__(self, server: str, url: str) -> None:
        self.server, self.url = server, url
        self.plan: Plan | None = None
        self.pairs: list[Pair] = []
        self.sent = self.received = self.disconnects = 0
        self.setup = Window()
        self.steady = Window()
        self.errors: Counter[str] = Counter()

    def arrived(self, sent: int) -> None:
        now = time.monotonic_ns()
        self.received += 1
        plan = self.plan
        if plan is None:
            return
        if plan.start <= now < plan.setup_end:
            window = self.setup
        elif plan.steady_from <= now < plan.steady_end:
            window = self.steady
        else:
            return
        window.received += 1
        window.latencies.append(now - sent)

    async def open_pair(self, n: int, http: aiohttp.ClientSession) -> Pair:
        pair = Pair(self, n)
        a, b = pair.parties
        if self.server == "peerjs":
            a.peer_id, b.peer_id = f"k{n}", f"c{n}"
            for p in (a, b):
                p.peer = await PeerJSSocket.open(http, self.url, p.peer_id,
                                                 f"{random.getrandbits(48):x}", p.on_peerjs)
                p.peer.on_close = p.gone
        elif self.server == "bare":
            for p in (a, b):
                p.sio = await SioSocket.open(http, self.url, "/", {"room": f"p{n}"}, p.on_event)
                p.sio.on_close = p.gone
        else:
            await self.open_session(pair, http)
        return pair

    async def open_session(self, pair: Pair, http: aiohttp.ClientSession) -> None:
        """join → admit → start, as the pages do it."""
        staff, customer = pair.parties
        issuer = TokenIssuer(SECRET.encode(), "counselling-broker")
        token = issuer.staff_token(StaffId(f"k{pair.n}"), frozenset({Role.COUNSELLOR}),
                                   frozenset({TeamId("bench")}), time.time(), 3600)
        staff.sio = await SioSocket.open(http, self.url, "/staff", {"token": token},
                                         staff.on_event)
        staff.sio.on_close = staff.gone
        async with http.post(self.url + "/api/sessions", json={"customer_ref": f"R-{pair.n}"},
                             headers={"Authorization": f"Bearer {token}"}) as resp:
            created = await resp.json()
            if resp.status >= 300:
                raise RuntimeError(f"POST /api/sessions: {resp.status} {created}")
        pair.session = created["session"]
        customer.sio = await SioSocket.open(http, self.url, "/customer",
                                            {"token": created["customer_token"]},
                                            customer.on_event)
        customer.sio.on_close = customer.gone
        waiting = staff.expect("customer_waiting")
        joined = await customer.sio.call("join", {"name": "", "capabilities": {
            "webrtc": True, "camera": True, "microphone": True}}, SETUP_TIMEOUT)
        if not joined.get("ok"):
            raise RuntimeError(f"join: {joined}")
        await asyncio.wait_for(waiting, SETUP_TIMEOUT)
        started = (staff.expect("start"), customer.expect("start"))
        admitted = await staff.sio.call("admit", {"session": pair.session}, SETUP_TIMEOUT)
        if not admitted.get("ok"):
            raise RuntimeError(f"admit: {admitted}")
        await asyncio.wait_for(asyncio.gather(*started), SETUP_TIMEOUT)

    async def open_all(self, numbers: list[int]) -> tuple[aiohttp.ClientSession, list[str]]:
        failures: list[str] = []
        gate = asyncio.Semaphore(SETUP_CONCURRENCY)
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

        async def one(n: int) -> None:
            async with gate:
                try:
                    self.pairs.append(await asyncio.wait_for(self.open_pair(n, http),
                                                             SETUP_TIMEOUT))
                except Exception as exc:  # reported; the run goes on with the rest
                    failures.append(f"session {n}: {type(exc).__name__}: {exc}"[:200])

        await asyncio.gather(*(one(n) for n in numbers))
        return http, failures

    async def run(self, plan: Plan) -> None:
        self.plan = plan
        for pair in self.pairs:
            at = plan.start + plan.setup_window * pair.n // plan.sessions
            staff = pair.parties[0]
            staff.task = asyncio.get_running_loop().create_task(staff.offer(at))
        await asyncio.sleep(max(0.0, (plan.done - time.monotonic_ns()) / NS))

    def result(self, failures: list[str]) -> WorkerResult:
        return WorkerResult(self.sent, self.received, self.setup, self.steady, self.errors,
                            self.disconnects, failures)

    async def close(self) -> None:
        await asyncio.gather(*(p.close() for pair in self.pairs for p in pair.parties),
                             return_exceptions=True)


def worker(conn: Connection, server: str, url: str, numbers: list[int]) -> None:
    """A load process: connect its sessions, say ready, run the plan it is sent, report."""
    async def main() -> None:
        load = Load(server, url)
        http, failures = await load.open_all(numbers)
        # the collector would add its pauses to the latencies measured here
        gc.collect()
        gc.freeze()
        gc.disable()
        conn.send(("ready", failures))
        plan: Plan = await asyncio.to_thread(conn.recv)
        await load.run(plan)
        conn.send(("result", load.result(failures)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(load.close(), 10)
        await http.close()

    with runner() as r:
        r.run(main())


# ------------------------------------------------------------------ one server, measured


@dataclass(frozen=True)
class Options:
    sessions: list[int]
    servers: list[str]
    workers: int
    setup_rate: float  # sessions beginning their set-up per second
    period: float  # seconds between one party's stats messages
    gap: float  # seconds between trickled candidates
    settle: float  # seconds between the set-up window and the steady window
    seconds: float  # the steady window
    profile: Path | None
    retries: int  # measurements taken again while others used the machine
    quiet_wait: float  # seconds to wait for a quiet machine before each measurement


@dataclass
class Outcome:
    server: str
    sessions: int
    connected: int  # sessions set up
    setup_seconds: float  # connecting them (and, for the broker, join → admit → start)
    windows: dict[str, Window]  # "setup", "steady"
    lengths: dict[str, float]  # seconds of each window
    cpu: dict[str, dict[str, float]]  # window → server / load / other → CPU seconds
    rss_start: int  # KiB, right after the server started
    rss_ready: int  # all sessions connected
    rss_end: int  # after the steady window
    rss_peak: int
    files: int  # the server's open files with every session connected
    sent: int
    received: int
    errors: Counter[str]
    disconnects: int
    failures: list[str]

    def rate(self, window: str) -> float:
        return self.windows[window].received / self.lengths[window]

    def cores(self, window: str, who: str) -> float:
        return self.cpu[window][who] / self.lengths[window]

    def us_per_message(self, window: str, who: str = "server") -> float:
        return self.cpu[window][who] / max(1, self.windows[window].received) * 1e6

    def ms(self, window: str, q: float) -> float:
        return pct([float(v) for v in self.windows[window].latencies], q) / 1e6


@contextlib.contextmanager
def running_server(server: str, workdir: Path) -> Iterator[tuple[str, int]]:
    """The server under measurement as its own process; yields (url, pid)."""
    if server == "broker":
        with running_brokers(1, workdir, broker_env("", "")) as brokers:
            yield brokers[0].url, brokers[0].proc.pid
    elif server == "peerjs":
        with running_peerjs() as (url, proc):
            yield url, proc.pid
    else:
        with running_bare(workdir / "bare.log") as (url, proc):
            yield url, proc.pid


def measure(server: str, sessions: int, opts: Options, workdir: Path) -> Outcome:
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    with contextlib.ExitStack() as stack:
        url, pid = stack.enter_context(running_server(server, workdir))
        time.sleep(0.5)
        rss_start = status_kib(pid, "VmRSS")
        ctx = multiprocessing.get_context("spawn")
        links: list[Connection] = []
        procs: list[Any] = []
        began = time.monotonic()
        for w in range(opts.workers):
            ours, theirs = ctx.Pipe()
            numbers = list(range(w, sessions, opts.workers))
            p = ctx.Process(target=worker, args=(theirs, server, url, numbers), daemon=True)
            p.start()
            stack.callback(stop_process, p)
            links.append(ours)
            procs.append(p)
        failures: list[str] = []
        for link in links:
            kind, got = receive(link, 600)
            assert kind == "ready"
            failures += got
        setup_seconds = time.monotonic() - began
        if len(failures) >= sessions:
            raise RuntimeError(f"{server}: no session could be set up:\n"
                               + "\n".join(failures[:5]))
        time.sleep(0.5)
        rss_ready, files = status_kib(pid, "VmRSS"), open_files(pid)
        start = time.monotonic_ns() + NS
        window = int(sessions / opts.setup_rate * NS)
        steady_from = start + window + int(opts.settle * NS)
        steady_end = steady_from + int(opts.seconds * NS)
        plan = Plan(start, window, start + window, steady_from, steady_end, steady_end + NS,
                    int(opts.period * NS), int(opts.gap * NS), sessions)
        for link in links:
            link.send(plan)
        profiler = None
        if opts.profile is not None and server != "peerjs":
            profiler = py_spy(pid, (steady_end - start) / NS,
                                opts.profile / f"{server}-{sessions}.txt")
        load_pids = [p.pid for p in procs] + [os.getpid()]
        cpu: dict[str, dict[str, float]] = {}
        lengths: dict[str, float] = {}
        for name, t0, t1 in (("setup", start, start + window),
                             ("steady", steady_from, steady_end)):
            sleep_until(t0)
            s0, l0, m0 = cpu_seconds(pid), sum(cpu_seconds(p) for p in load_pids), \
                machine_jiffies()
            sleep_until(t1)
            s1, l1, m1 = cpu_seconds(pid), sum(cpu_seconds(p) for p in load_pids), \
                machine_jiffies()
            busy = (m1[0] - m0[0]) / os.sysconf("SC_CLK_TCK")
            cpu[name] = {"server": s1 - s0, "load": l1 - l0,
                         "other": max(0.0, busy - (s1 - s0) - (l1 - l0))}
            lengths[name] = (t1 - t0) / NS
        rss_end, rss_peak = status_kib(pid, "VmRSS"), status_kib(pid, "VmHWM")
        results: list[WorkerResult] = []
        for link in links:
            kind, got = receive(link, 120)
            assert kind == "result"
            results.append(got)
        if profiler is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                profiler.wait(30)
    windows = {"setup": Window(), "steady": Window()}
    errors: Counter[str] = Counter()
    for r in results:
        for name, got in (("setup", r.setup), ("steady", r.steady)):
            windows[name].received += got.received
            windows[name].latencies += got.latencies
        errors += r.errors
    return Outcome(server, sessions, sessions - len(failures), setup_seconds, windows, lengths,
                   cpu, rss_start, rss_ready, rss_end, rss_peak, files,
                   sum(r.sent for r in results), sum(r.received for r in results), errors,
                   sum(r.disconnects for r in results), failures)


# ------------------------------------------------------------------ report


def _table(outcomes: list[Outcome], window: str, title: str) -> None:
    print(title)
    print(f"{'sessions':>8}  {'server':<15}{'msg/s':>8}{'p50 ms':>10}{'p99 ms':>10}"
          f"{'µs/msg':>8}{'msg/s/core':>11}{'cores':>7}{'load':>6}{'other':>6}")
    for o in outcomes:
        us = o.us_per_message(window)
        print(f"{o.sessions:>8}  {TITLES[o.server]:<15}{o.rate(window):>8.0f}"
              f"{o.ms(window, .5):>10.2f}{o.ms(window, .99):>10.2f}{us:>8.0f}"
              f"{1e6 / us if us else float('nan'):>11.0f}{o.cores(window, 'server'):>7.2f}"
              f"{o.cores(window, 'load'):>6.2f}{o.cores(window, 'other'):>6.2f}")
    print()


def report(outcomes: list[Outcome], opts: Options, took: float) -> None:
    print()
    print(f"relay under load: set-ups {opts.setup_rate:g}/s (offer, answer, {CANDIDATES} "
          f"candidates each way, {opts.gap * 1e3:g} ms apart), then a stats message every "
          f"{opts.period:g} s per party; steady window {opts.seconds:g} s; {opts.workers} "
          f"load processes; {os.cpu_count()} cores; whole run {took:.0f} s")
    print("µs/msg: server CPU per relayed message; msg/s/core: what one busy core relays at "
          "that cost; cores, load, other: CPU of the server, the load processes and the rest "
          "of the machine")
    print()
    _table(outcomes, "setup", "set-up window (sessions setting up, stats of those already up)")
    _table(outcomes, "steady", "steady window (stats messages only)")
    print(f"{'sessions':>8}  {'server':<15}{'set up in':>10}{'RSS start':>10}{'ready':>8}"
          f"{'end':>8}{'peak':>8}{'KiB/session':>12}{'files':>7}{'lost':>6}")
    for o in outcomes:
        per = (o.rss_end - o.rss_start) / max(1, o.connected)
        print(f"{o.sessions:>8}  {TITLES[o.server]:<15}{o.setup_seconds:>9.1f}s"
              f"{o.rss_start / 1024:>9.0f}M{o.rss_ready / 1024:>7.0f}M{o.rss_end / 1024:>7.0f}M"
              f"{o.rss_peak / 1024:>7.0f}M{per:>12.1f}{o.files:>7}{o.sent - o.received:>6}")
    print()
    for o in outcomes:
        odd = []
        if o.failures:
            odd.append(f"{len(o.failures)} sessions not set up, e.g. {o.failures[0]}")
        if o.errors:
            odd.append(f"errors {dict(o.errors)}")
        if o.disconnects:
            odd.append(f"{o.disconnects} sockets dropped")
        if o.sent != o.received:
            odd.append(f"{o.sent - o.received} of {o.sent} messages not received")
        if odd:
            print(f"{o.sessions} {TITLES[o.server]}: " + "; ".join(odd))
    busy = [f"{o.sessions} {TITLES[o.server]}" for o in outcomes
            if max(o.cores("setup", "other"), o.cores("steady", "other")) > OTHER_TOLERATED]
    if busy:
        print(f"WARNING: other processes used more than {OTHER_TOLERATED:g} cores while "
              f"measuring {', '.join(busy)}: those figures are disturbed; run again on a "
              "quiet machine")
    by = {(o.server, o.sessions): o for o in outcomes}
    keys: list[str] = []
    for n in opts.sessions:
        ours, peer, bare = by.get(("broker", n)), by.get(("peerjs", n)), by.get(("bare", n))
        if ours is None:
            continue
        parts = []
        for w in ("setup", "steady"):
            line = f"{n} sessions, {w}:"
            if peer is not None:
                line += (f" p99 ours {ours.ms(w, .99):.2f} / PeerJS {peer.ms(w, .99):.2f} ms "
                         f"= {ours.ms(w, .99) / peer.ms(w, .99):.2f} (target ≤ 1);"
                         f" msg/s per core ours / PeerJS "
                         f"{peer.us_per_message(w) / ours.us_per_message(w):.3f} (target ≥ 1);")
            if bare is not None:
                line += (f" µs/msg ours / bare {ours.us_per_message(w):.0f} / "
                         f"{bare.us_per_message(w):.0f} = "
                         f"{ours.us_per_message(w) / bare.us_per_message(w):.2f} (target ≤ 1.3)")
            print(line)
        if peer is not None:
            parts.append(f"p99/PeerJS {ours.ms('setup', .99) / peer.ms('setup', .99):.1f}|"
                         f"{ours.ms('steady', .99) / peer.ms('steady', .99):.1f}")
            parts.append(f"per-core/PeerJS "
                         f"{peer.us_per_message('setup') / ours.us_per_message('setup'):.2f}")
        if bare is not None:
            parts.append(f"cost/bare "
                         f"{ours.us_per_message('setup') / bare.us_per_message('setup'):.2f}|"
                         f"{ours.us_per_message('steady') / bare.us_per_message('steady'):.2f}")
        keys.append(f"{n}: " + " ".join(parts))
    print()
    print("key ratios (set-up|steady window), ours against: "
          + ("; ".join(keys) if keys else "none (run our broker beside a peer)"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true",
                    help="500 sessions, 4 s steady window (~1 min)")
    ap.add_argument("--sessions", help="concurrent sessions, comma-separated "
                                       "(default 500,1000,2000; quick 500)")
    ap.add_argument("--servers", default=",".join(SERVERS),
                    help=f"which to run, in this order (default {','.join(SERVERS)})")
    ap.add_argument("--setup-rate", type=float, default=100.0,
                    help="sessions beginning their set-up per second (default 100)")
    ap.add_argument("--period", type=float, default=3.0,
                    help="seconds between one party's stats messages (default 3)")
    ap.add_argument("--gap", type=float, default=0.005,
                    help="seconds between trickled candidates (default 0.005)")
    ap.add_argument("--seconds", type=float, help="steady window (default 8, quick 4)")
    ap.add_argument("--workers", type=int, default=2, help="load processes (default 2)")
    ap.add_argument("--profile", type=Path, metavar="DIR",
                    help="py-spy the broker and the bare relay into DIR (collapsed stacks); "
                         "the figures of a profiled run are not the reported ones")
    add_quiet_options(ap, OTHER_TOLERATED)
    args = ap.parse_args()
    servers = [s for s in args.servers.split(",") if s]
    if unknown := set(servers) - set(SERVERS):
        ap.error(f"unknown server(s) {', '.join(sorted(unknown))}: {', '.join(SERVERS)}")
    if "peerjs" in servers and (missing := peerjs_missing()):
        sys.exit(missing)
    sessions = [int(v) for v in (args.sessions or ("500" if args.quick else
                                                    "500,1000,2000")).split(",")]
    opts = Options(sessions, servers, args.workers, args.setup_rate, args.period, args.gap,
                   settle=args.period + 1.0,
                   seconds=args.seconds or (4.0 if args.quick else 8.0), profile=args.profile,
                   retries=args.retries, quiet_wait=args.quiet_wait)
    started = time.monotonic()
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="cb-relay-") as tmp:
        for n in opts.sessions:
            for server in opts.servers:
                workdir = Path(tmp) / f"{server}-{n}"
                o = measured_quietly(
                    f"{n} sessions, {TITLES[server]}",
                    functools.partial(measure, server, n, opts, workdir),
                    lambda o: max(o.cores("setup", "other"), o.cores("steady", "other")),
                    opts.retries, opts.quiet_wait, OTHER_TOLERATED)
                print(f"  set up in {o.setup_seconds:.1f} s; set-up window {o.rate('setup'):.0f} "
                      f"msg/s, p99 {o.ms('setup', .99):.2f} ms, {o.us_per_message('setup'):.0f}"
                      f" µs/msg; steady {o.rate('steady'):.0f} msg/s, p99 "
                      f"{o.ms('steady', .99):.2f} ms, {o.us_per_message('steady'):.0f} µs/msg; "
                      f"other {o.cores('setup', 'other'):.2f}/{o.cores('steady', 'other'):.2f}",
                      flush=True)
                outcomes.append(o)
    report(outcomes, opts, time.monotonic() - started)


if __name__ == "__main__":
    main()
