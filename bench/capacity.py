"""Capacity: many idle connected clients on one broker process, against the bare
python-socketio relay (bench/bare_relay.py) holding as many: memory per connection, CPU at
idle (heartbeats only), time to accept them all.

The broker (`python -m web.cli serve`, uvloop, memory state, SQLite contact log, limits
raised so nothing is throttled) holds a morning's idle population: half the clients are
counsellors with their console open (one /staff socket each), half are their customers,
one session each, connected to the customer page and then, in a separate step, sitting in
the waiting room (`join`). Sessions are created first (POST /api/sessions), so what is
measured is the cost of the sockets. The bare relay holds the same number of sockets, two
to a room. The clients are raw Engine.IO/socket.io websockets (bench/wire.py) in
`--workers` load processes of their own, each answering the server's heartbeat (every
10 s, as the broker is configured).

Measured from /proc: the time from the first connect until every socket has its namespace
connect answered, and the server's CPU meanwhile; resident memory before and after
(memory per connection = RSS delta ÷ clients); the server's CPU over an idle window of
`--idle` seconds; the load processes' CPU and `other` (anything outside this benchmark).

One process may hold as many sockets as its limit of open files allows: `ulimit -Hn` here is
20,000 and cannot be raised without CAP_SYS_RESOURCE, so a requested 20,000 clients becomes
the most that fit under that limit beside the server's own files (printed).

    .venv/bin/python -m bench.capacity [--quick] [--clients 10000,20000] [--idle 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import multiprocessing
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp

from bench.process import SECRET, runner
from bench.scaleout import broker_env, cpu_seconds, machine_jiffies, running_brokers
from bench.wire import (
    SioSocket,
    add_quiet_options,
    measured_quietly,
    open_files,
    py_spy,
    raise_open_files,
    running_bare,
    status_kib,
    stop_process,
)
from broker.credentials import TokenIssuer
from broker.types import Role, StaffId, TeamId

SERVERS = ("broker", "bare")
TITLES = {"broker": "our broker", "bare": "bare socket.io"}
CONCURRENCY = 50  # connects in flight per load process
STEP_TIMEOUT = 120.0
FILES_SPARE = 40  # open files a server needs besides its sockets, with room to spare
NS = 1_000_000_000
OTHER_TOLERATED = 0.15  # cores used outside the benchmark before its figures are suspect


# ------------------------------------------------------------------ the load (own processes)


@dataclass
class Holder:
    """One load process's share: pairs n (a counsellor and a customer, or two sockets in
    one room of the bare relay)."""

    server: str
    url: str
    numbers: list[int]

    def __post_init__(self) -> None:
        self.customer_tokens: dict[int, str] = {}
        self.sockets: list[SioSocket] = []
        self.customers: list[SioSocket] = []
        self.errors: Counter[str] = Counter()
        self.disconnects = 0

    def on_event(self, event: str, data: Any) -> None:
        if event == "error":
            self.errors[str(data.get("code") if isinstance(data, dict) else data)] += 1

    def gone(self) -> None:
        self.disconnects += 1

    def staff_token(self, n: int) -> str:
        issuer = TokenIssuer(SECRET.encode(), "counselling-broker")
        return issuer.staff_token(StaffId(f"k{n}"), frozenset({Role.COUNSELLOR}),
                                  frozenset({TeamId(f"t{n % 50}")}), time.time(), 6 * 3600)

    async def create_sessions(self) -> list[str]:
        """One scheduled session per counsellor (the broker only)."""
        failures: list[str] = []
        if self.server != "broker":
            return failures
        gate = asyncio.Semaphore(8)
        # few connections, closed before the sockets come: they would hold server files
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=8)) as http:
            async def one(n: int) -> None:
                async with gate:
                    try:
                        async with http.post(
                            self.url + "/api/sessions", json={"customer_ref": f"C-{n}"},
                            headers={"Authorization": f"Bearer {self.staff_token(n)}"},
                        ) as resp:
                            created = await resp.json()
                            if resp.status >= 300:
                                raise RuntimeError(f"{resp.status} {created}")
                        self.customer_tokens[n] = created["customer_token"]
                    except Exception as exc:  # reported; the run goes on with the rest
                        failures.append(f"session {n}: {type(exc).__name__}: {exc}"[:200])
            await asyncio.gather(*(one(n) for n in self.numbers))
        return failures

    async def connect_all(self, http: aiohttp.ClientSession) -> list[str]:
        failures: list[str] = []
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(n: int, side: int) -> None:
            async with gate:
                try:
                    if self.server == "bare":
                        namespace, auth = "/", {"room": f"p{n}"}
                    elif side == 0:
                        namespace, auth = "/staff", {"token": self.staff_token(n)}
                    elif n in self.customer_tokens:
                        namespace, auth = "/customer", {"token": self.customer_tokens[n]}
                    else:
                        return  # its session could not be created (reported)
                    sock = await SioSocket.open(http, self.url, namespace, auth, self.on_event,
                                                STEP_TIMEOUT)
                    sock.on_close = self.gone
                    self.sockets.append(sock)
                    if namespace == "/customer":
                        self.customers.append(sock)
                except Exception as exc:  # reported; the run goes on with the rest
                    failures.append(f"socket {n}/{side}: {type(exc).__name__}: {exc}"[:200])

        await asyncio.gather(*(one(n, side) for n in self.numbers for side in (0, 1)))
        return failures

    async def join_all(self) -> list[str]:
        """Every customer into the waiting room."""
        failures: list[str] = []
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(sock: SioSocket) -> None:
            async with gate:
                try:
                    answer = await sock.call("join", {"name": "", "capabilities": {
                        "webrtc": True, "camera": True, "microphone": True}}, STEP_TIMEOUT)
                    if not (isinstance(answer, dict) and answer.get("ok")):
                        raise RuntimeError(str(answer))
                except Exception as exc:  # reported; the run goes on with the rest
                    failures.append(f"join: {type(exc).__name__}: {exc}"[:200])

        await asyncio.gather(*(one(s) for s in self.customers))
        return failures


def worker(conn: Connection, server: str, url: str, numbers: list[int]) -> None:
    """A load process: create its sessions, then connect, join and close on command."""
    async def main() -> None:
        holder = Holder(server, url, numbers)
        conn.send(("ready", await holder.create_sessions()))
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        while True:
            command, at = await asyncio.to_thread(conn.recv)
            await asyncio.sleep(max(0.0, (at - time.monotonic_ns()) / NS))
            if command == "connect":
                failures = await holder.connect_all(http)
                conn.send(("connected", (time.monotonic_ns(), failures)))
            elif command == "join":
                failures = await holder.join_all()
                conn.send(("joined", (time.monotonic_ns(), failures)))
            else:
                alive = sum(1 for s in holder.sockets if not s.closed)
                conn.send(("result", (sum(s.pings for s in holder.sockets), alive,
                                      holder.disconnects, holder.errors)))
                # the benchmark ends this process: thousands of closing handshakes would
                # only make it wait
                await asyncio.sleep(3600)

    raise_open_files()
    with runner() as r:
        r.run(main())


# ------------------------------------------------------------------ one server, measured


@dataclass
class Outcome:
    server: str
    requested: int
    clients: int  # sockets connected
    ready_seconds: float  # load processes started (the broker: sessions created)
    accept_seconds: float
    accept_cpu: float  # server CPU seconds while accepting
    accept_other: float  # cores used outside the benchmark while accepting
    join_seconds: float  # broker: every customer into the waiting room
    idle_seconds: float
    idle_cpu: dict[str, float]  # server, load, other: CPU seconds in the idle window
    rss_start: int  # KiB, right after start
    rss_before: int  # before the first connect (the broker: sessions created)
    rss_connected: int
    rss_idle_end: int
    files: int
    pings: int  # heartbeats the clients answered
    alive: int  # sockets still open at the end
    disconnects: int
    errors: Counter[str]
    failures: list[str]

    def kib_per_connection(self) -> float:
        return (self.rss_connected - self.rss_before) / max(1, self.clients)

    def idle_cores(self, who: str = "server") -> float:
        return self.idle_cpu[who] / self.idle_seconds


@contextlib.contextmanager
def running_server(server: str, workdir: Path) -> Iterator[tuple[str, int]]:
    if server == "broker":
        with running_brokers(1, workdir, broker_env("", "")) as brokers:
            yield brokers[0].url, brokers[0].proc.pid
    else:
        with running_bare(workdir / "bare.log") as (url, proc):
            yield url, proc.pid


def _command(links: list[Connection], command: str, expect: str, timeout: float
             ) -> tuple[int, list[Any]]:
    """Tell every load process to do `command` from a moment shortly ahead; returns that
    moment and their answers."""
    at = time.monotonic_ns() + NS // 5
    for link in links:
        link.send((command, at))
    answers = []
    for link in links:
        if not link.poll(timeout):
            raise RuntimeError(f"a load process did not {command} within {timeout:.0f} s")
        kind, got = link.recv()
        assert kind == expect, (kind, expect)
        answers.append(got)
    return at, answers


def measure(server: str, requested: int, opts: Options, workdir: Path) -> Outcome:
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    with contextlib.ExitStack() as stack:
        url, pid = stack.enter_context(running_server(server, workdir))
        time.sleep(0.5)
        rss_start, base_files = status_kib(pid, "VmRSS"), open_files(pid)
        room = resource.getrlimit(resource.RLIMIT_NOFILE)[0] - base_files - FILES_SPARE
        clients = min(requested, room) // 2 * 2
        if clients < requested:
            print(f"  {requested} clients asked for, {clients} fit under the limit of open "
                  f"files ({resource.getrlimit(resource.RLIMIT_NOFILE)[0]}; the server has "
                  f"{base_files} of its own)", flush=True)
        ctx = multiprocessing.get_context("spawn")
        links: list[Connection] = []
        procs: list[Any] = []
        for w in range(opts.workers):
            ours, theirs = ctx.Pipe()
            numbers = list(range(w, clients // 2, opts.workers))
            p = ctx.Process(target=worker, args=(theirs, server, url, numbers), daemon=True)
            p.start()
            stack.callback(stop_process, p)
            links.append(ours)
            procs.append(p)
        failures: list[str] = []
        began = time.monotonic()
        for link in links:
            if not link.poll(600):
                raise RuntimeError("a load process did not get ready within 600 s")
            kind, got = link.recv()
            assert kind == "ready"
            failures += got
        ready_seconds = time.monotonic() - began
        time.sleep(0.5)
        rss_before = status_kib(pid, "VmRSS")
        accept_profiler = None if opts.profile is None else py_spy(
            pid, 600, opts.profile / f"{server}-accept-{clients}.txt")
        load_pids = [p.pid for p in procs] + [os.getpid()]
        before = Reading.now(pid, load_pids)
        at, answers = _command(links, "connect", "connected", 600)
        accept_cpu, _, accept_other, _ = before.until(Reading.now(pid, load_pids))
        if accept_profiler is not None:  # py-spy writes its samples when interrupted
            accept_profiler.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                accept_profiler.wait(30)
        # the server's CPU from the first connect to the last answer (`at` is a moment the
        # load processes wait for: the server idles until then)
        accept_seconds = (max(done for done, _ in answers) - at) / NS
        for _, got in answers:
            failures += got
        connected = clients - sum(1 for f in failures if f.startswith("socket"))
        time.sleep(1.0)
        rss_connected, files = status_kib(pid, "VmRSS"), open_files(pid)
        join_seconds = 0.0
        if server == "broker":
            at, answers = _command(links, "join", "joined", 600)
            join_seconds = (max(done for done, _ in answers) - at) / NS
            for _, got in answers:
                failures += got
        time.sleep(1.0)
        profiler = None if opts.profile is None else py_spy(
            pid, opts.idle, opts.profile / f"{server}-idle-{clients}.txt")
        before = Reading.now(pid, load_pids)
        time.sleep(opts.idle)
        server_cpu, load_cpu, other, idle_seconds = before.until(Reading.now(pid, load_pids))
        idle_cpu = {"server": server_cpu, "load": load_cpu, "other": other * idle_seconds}
        rss_idle_end = status_kib(pid, "VmRSS")
        if profiler is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                profiler.wait(30)
        _, results = _command(links, "close", "result", 120)
    pings = sum(r[0] for r in results)
    alive = sum(r[1] for r in results)
    errors: Counter[str] = Counter()
    for r in results:
        errors += r[3]
    return Outcome(server, requested, connected, ready_seconds, accept_seconds, accept_cpu,
                   accept_other, join_seconds,
                   idle_seconds, idle_cpu, rss_start, rss_before, rss_connected, rss_idle_end,
                   files, pings, alive, sum(r[2] for r in results), errors, failures)


@dataclass(frozen=True)
class Reading:
    """CPU seconds so far: the server, the load processes, the whole machine; and when."""

    server: float
    load: float
    busy: float
    at: float

    @classmethod
    def now(cls, pid: int, load_pids: list[int]) -> Reading:
        return cls(cpu_seconds(pid), sum(cpu_seconds(p) for p in load_pids),
                   machine_jiffies()[0] / os.sysconf("SC_CLK_TCK"), time.monotonic())

    def until(self, later: Reading) -> tuple[float, float, float, float]:
        """(server CPU, load CPU, cores used by anything else, seconds) in between."""
        server, load = later.server - self.server, later.load - self.load
        seconds = later.at - self.at
        return server, load, max(0.0, later.busy - self.busy - server - load) / seconds, seconds


# ------------------------------------------------------------------ report


@dataclass(frozen=True)
class Options:
    clients: list[int]
    servers: list[str]
    workers: int
    idle: float
    profile: Path | None
    retries: int  # measurements taken again while others used the machine
    quiet_wait: float  # seconds to wait for a quiet machine before each measurement


def report(outcomes: list[Outcome], opts: Options, took: float) -> None:
    print()
    print(f"idle capacity: {opts.workers} load processes, idle window {opts.idle:g} s, "
          f"heartbeat every 10 s, {os.cpu_count()} cores, whole run {took:.0f} s")
    print(f"{'clients':>8}  {'server':<15}{'accept s':>9}{'conn/s':>8}{'µs/conn':>8}"
          f"{'RSS before':>11}{'after':>8}{'KiB/conn':>9}{'idle cores':>11}{'µs/ping':>8}"
          f"{'load':>6}{'other':>6}{'join s':>7}{'other':>6}")
    for o in outcomes:
        rate = o.clients / o.accept_seconds if o.accept_seconds else float("nan")
        per_ping = o.idle_cpu["server"] / max(1, o.clients * o.idle_seconds / 10) * 1e6
        print(f"{o.clients:>8}  {TITLES[o.server]:<15}{o.accept_seconds:>9.1f}{rate:>8.0f}"
              f"{o.accept_cpu / max(1, o.clients) * 1e6:>8.0f}"
              f"{o.rss_before / 1024:>10.0f}M{o.rss_connected / 1024:>7.0f}M"
              f"{o.kib_per_connection():>9.1f}{o.idle_cores():>11.3f}{per_ping:>8.0f}"
              f"{o.idle_cores('load'):>6.2f}{o.idle_cores('other'):>6.2f}"
              f"{o.join_seconds:>7.1f}{o.accept_other:>6.2f}")
    print("accept s: first connect → every namespace connect answered; µs/conn: server CPU "
          "per accepted socket; µs/ping: idle server CPU per heartbeat (one per client every "
          "10 s); load, other: cores of the load processes and of anything else in the idle "
          "window; join s (broker): every customer into the waiting room, after the accept; "
          "the last other: cores of anything else while accepting")
    print()
    for o in outcomes:
        odd = [f"load ready in {o.ready_seconds:.1f} s"
               + (" (sessions created)" if o.server == "broker" else "")
               + f", RSS at start {o.rss_start / 1024:.0f} MiB, after the idle window "
               f"{o.rss_idle_end / 1024:.0f} MiB, {o.files} open files, {o.pings} heartbeats "
               f"answered"]
        if o.failures:
            odd.append(f"{len(o.failures)} failures, e.g. {o.failures[0]}")
        if o.errors:
            odd.append(f"errors {dict(o.errors)}")
        if o.disconnects or o.alive != o.clients:
            odd.append(f"{o.disconnects} sockets dropped, {o.alive} of {o.clients} open at "
                       "the end")
        print(f"{o.clients} {TITLES[o.server]}: " + "; ".join(odd))
    busy = [f"{o.clients} {TITLES[o.server]}" for o in outcomes
            if max(o.idle_cores("other"), o.accept_other) > OTHER_TOLERATED]
    if busy:
        print(f"WARNING: other processes used more than {OTHER_TOLERATED:g} cores while "
              f"measuring {', '.join(busy)}: those figures are disturbed; run again on a "
              "quiet machine")
    by = {(o.server, o.requested): o for o in outcomes}
    keys = []
    for n in opts.clients:
        ours, bare = by.get(("broker", n)), by.get(("bare", n))
        if ours is None or bare is None:
            continue
        keys.append(
            f"{ours.clients}: memory per connection {ours.kib_per_connection():.1f} / "
            f"{bare.kib_per_connection():.1f} KiB = "
            f"{ours.kib_per_connection() / bare.kib_per_connection():.2f}, idle CPU "
            f"{ours.idle_cores():.3f} / {bare.idle_cores():.3f} cores = "
            f"{ours.idle_cores() / max(1e-9, bare.idle_cores()):.2f}, accept time "
            f"{ours.accept_seconds:.1f} / {bare.accept_seconds:.1f} s = "
            f"{ours.accept_seconds / bare.accept_seconds:.2f}")
    print()
    print("ours / bare: " + ("; ".join(keys) if keys else "none (run both servers)"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true",
                    help="1,000 and 3,000 clients, 5 s idle window (~1 min)")
    ap.add_argument("--clients", help="idle clients per run, comma-separated "
                                      "(default 10000,20000; quick 1000,3000)")
    ap.add_argument("--servers", default=",".join(SERVERS),
                    help=f"which to run, in this order (default {','.join(SERVERS)})")
    ap.add_argument("--idle", type=float, help="idle window in seconds (default 20, quick 5)")
    ap.add_argument("--workers", type=int, default=4, help="load processes (default 4)")
    ap.add_argument("--profile", type=Path, metavar="DIR",
                    help="py-spy the servers while they accept and over the idle window "
                         "into DIR (collapsed stacks); the figures of a profiled run are not "
                         "the reported ones")
    add_quiet_options(ap, OTHER_TOLERATED)
    args = ap.parse_args()
    servers = [s for s in args.servers.split(",") if s]
    if unknown := set(servers) - set(SERVERS):
        ap.error(f"unknown server(s) {', '.join(sorted(unknown))}: {', '.join(SERVERS)}")
    clients = [int(v) for v in (args.clients or ("1000,3000" if args.quick else
                                                  "10000,20000")).split(",")]
    opts = Options(clients, servers, args.workers,
                   args.idle if args.idle is not None else (5.0 if args.quick else 20.0),
                   args.profile, args.retries, args.quiet_wait)
    limit = raise_open_files()
    per_worker = max(clients) // opts.workers + FILES_SPARE
    if per_worker > limit:
        sys.exit(f"{per_worker} sockets per load process exceed the limit of open files "
                 f"({limit}): use more --workers")
    started = time.monotonic()
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="cb-capacity-") as tmp:
        for n in opts.clients:
            for server in opts.servers:
                workdir = Path(tmp) / f"{server}-{n}"
                o = measured_quietly(
                    f"{n} idle clients, {TITLES[server]}",
                    functools.partial(measure, server, n, opts, workdir),
                    lambda o: max(o.idle_cores("other"), o.accept_other),
                    opts.retries, opts.quiet_wait, OTHER_TOLERATED)
                print(f"  accepted {o.clients} in {o.accept_seconds:.1f} s, "
                      f"{o.kib_per_connection():.1f} KiB per connection, idle "
                      f"{o.idle_cores():.3f} cores; other {o.accept_other:.2f} accepting, "
                      f"{o.idle_cores('other'):.2f} idle",
                      flush=True)
                outcomes.append(o)
    report(outcomes, opts, time.monotonic() - started)


if __name__ == "__main__":
    main()
