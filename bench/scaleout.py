"""Scale-out: signalling throughput and latency with 1, 2 and 3 broker processes sharing
live state through Redis (and the contact log in PostgreSQL), beside the embedded default
(one process, memory state, SQLite).

Everything runs on this machine: a throwaway redis-server and PostgreSQL, N broker
processes (`python -m web.cli serve`, uvloop), and the load in `--workers` processes of its
own (python-socketio clients over websocket, uvloop). `--pairs` sessions are set up through
join → admit → start; pair n has its counsellor on process n mod N and its customer on
process n+1 mod N, so with N > 1 every relayed message crosses processes through Redis.
Then, after an idle window (all connected, nothing sent: the brokers' background cost), two
phases, each a warm-up and a measured window:

- saturated: every pair bounces one `signal` (a candidate) back and forth as fast as it
  comes back (closed loop, `--inflight` messages per pair): the most the layout relays;
- paced: `--rate` messages per second in all, spread over the pairs, alternating
  direction, whether or not earlier ones have arrived (open loop): latency at a load every
  layout carries.

The send time rides in the candidate's `usernameFragment`; latency is send → the other
party's `signal` event. CPU per relayed message comes from /proc for the brokers, Redis and
the load processes over the measured windows; on 2 cores they all compete, which the
`busy` column (the whole machine) and `other` (cores used by anything outside this
benchmark, e.g. a test run in another session) show.

    .venv/bin/python -m bench.scaleout [--quick] [--pairs 150] [--seconds 10] [--rate 600]
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import glob
import multiprocessing
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import socketio

from bench.process import SECRET, runner
from broker.credentials import TokenIssuer
from broker.types import Role, StaffId, TeamId

UNLIMITED = "1000000"  # per-socket event rate and burst, sockets per address
SETUP_TIMEOUT = 30.0  # seconds for any one step of a pair's set-up
SETUP_CONCURRENCY = 10  # pairs being set up at once, per load process
TICK = 0.005  # seconds between the paced sender's bursts
PHASES = ("s", "p")  # saturated, paced: the first letter of every tag
_PR_SET_PDEATHSIG = 1


# ------------------------------------------------------------------ small helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, all cores."""
    parts = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + parts[4]  # idle + iowait
    return sum(parts) - idle, sum(parts)


def sleep_until(deadline_ns: int) -> None:
    delay = (deadline_ns - time.monotonic_ns()) / 1e9
    if delay > 0:
        time.sleep(delay)


# ------------------------------------------------------------------ Redis and PostgreSQL


def answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.25) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def running_redis(workdir: Path) -> Iterator[tuple[str, int]]:
    """A fresh redis-server (loopback, no persistence); yields (url, pid)."""
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed: apt-get install redis-server")
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(  # noqa: S603 - our own argument list
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--daemonize", "no", "--dir", str(workdir),
         "--logfile", str(workdir / "redis.log")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while not answers_ping(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.01)
        yield f"redis://127.0.0.1:{port}/0", proc.pid
    finally:
        proc.terminate()
        proc.wait()


def _die_with_parent() -> None:  # runs in the child between fork and exec
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGINT)


@dataclass
class Postgres:
    bindir: Path
    root: Path  # socket directory, data directory, log
    as_user: dict[str, Any]
    count: int = 0

    def new_database(self) -> str:
        """A fresh database; returns its URL (unix socket, trust authentication)."""
        self.count += 1
        name = f"scaleout_{self.count}"
        subprocess.run(  # noqa: S603 - our own argument list
            [str(self.bindir / "createdb"), "-h", str(self.root), "-U", "postgres", name],
            check=True, capture_output=True)
        return f"postgresql://postgres@/{name}?host={quote(str(self.root))}"


@contextmanager
def running_postgres() -> Iterator[Postgres]:
    """A throwaway PostgreSQL on a unix socket only, durability off (as tests/pg.py)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if not found:
        sys.exit("PostgreSQL is not installed: apt-get install postgresql")
    bindir = Path(found[0]).parent
    root = Path(tempfile.mkdtemp(prefix="cb-bench-pg-"))
    as_user: dict[str, Any] = {}
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
    data = root / "data"
    proc: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(  # noqa: S603 - our own argument list
            [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
             "--no-sync", "--no-locale", "-E", "UTF8"],
            check=True, capture_output=True, env=env, cwd=root, **as_user)
        with (root / "postgres.log").open("wb") as log:
            proc = subprocess.Popen(  # noqa: S603 - our own argument list
                [str(bindir / "postgres"), "-D", str(data), "-c", "listen_addresses=",
                 "-c", f"unix_socket_directories={root}", "-c", "fsync=off",
                 "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 "-c", "max_connections=200"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, cwd=root,
                preexec_fn=_die_with_parent, **as_user)
        deadline = time.monotonic() + 15
        while True:
            pid_lines = (data / "postmaster.pid").read_text().splitlines() \
                if (data / "postmaster.pid").exists() else []
            if len(pid_lines) >= 8 and pid_lines[7].strip() == "ready":
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("PostgreSQL did not start: "
                                   + (root / "postgres.log").read_text()[-2000:])
            time.sleep(0.02)
        yield Postgres(bindir, root, as_user)
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(root, ignore_errors=True)


# ------------------------------------------------------------------ broker processes


@dataclass
class Broker:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path


def broker_env(redis_url: str, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CB_") and k not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(CB_SECRET=SECRET, CB_LOG_LEVEL="WARNING", CB_EVENTS_PER_SECOND=UNLIMITED,
               CB_EVENT_BURST=UNLIMITED, CB_MAX_CONNECTIONS_PER_ADDRESS=UNLIMITED)
    if redis_url:
        env["REDIS_URL"] = redis_url
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


@contextmanager
def running_brokers(n: int, workdir: Path, env: dict[str, str]) -> Iterator[list[Broker]]:
    """N broker processes started together; yields them once every one answers /healthz."""
    brokers: list[Broker] = []
    try:
        for i in range(n):
            port = free_port()
            log = workdir / f"broker{i}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(  # noqa: S603 - our own argument list
                    [sys.executable, "-m", "web.cli", "serve", "--port", str(port),
                     "--data-dir", str(workdir / f"d{i}")],
                    env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
            brokers.append(Broker(f"http://127.0.0.1:{port}", proc, log))
        deadline = time.monotonic() + 90  # a refused start shows up within ~30 s
        for b in brokers:
            while True:
                try:
                    with urllib.request.urlopen(b.url + "/healthz", timeout=2):  # noqa: S310
                        break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
                if b.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"broker {b.url} did not start:\n"
                                       + b.log.read_text(errors="replace")[-3000:])
                time.sleep(0.05)
        yield brokers
    finally:
        for b in brokers:
            if b.proc.poll() is None:
                b.proc.terminate()
        for b in brokers:
            try:
                b.proc.wait(15)
            except subprocess.TimeoutExpired:
                b.proc.kill()
                b.proc.wait()


def log_complaints(brokers: list[Broker]) -> Counter[str]:
    """The brokers' log lines of level WARNING and up (without their time), and each
    traceback by its last line: what the figures may hide."""
    seen: Counter[str] = Counter()
    for b in brokers:
        in_traceback = False
        for line in b.log.read_text(errors="replace").splitlines():
            if line.startswith("Traceback"):
                in_traceback = True
            elif in_traceback and line and not line[0].isspace():
                seen["traceback: " + line[:120]] += 1
                in_traceback = False
            elif any(f" {w} " in line for w in ("WARNING", "ERROR", "CRITICAL")):
                seen[line.split(" ", 2)[-1][:120]] += 1
    return seen


# ------------------------------------------------------------------ the load (own processes)


@dataclass(frozen=True)
class Plan:
    """Moments on CLOCK_MONOTONIC (ns), shared by all processes of this machine."""

    sat_start: int
    sat_from: int
    sat_end: int
    paced_start: int
    paced_from: int
    paced_end: int
    done: int
    rate: float  # messages per second from this load process in the paced phase
    inflight: int


@dataclass
class PhaseCounts:
    sent: int = 0
    received: int = 0  # at any time (lost = sent - received once drained)
    in_window: int = 0  # received inside the measured window
    latencies: list[int] = field(default_factory=list)  # ns, received inside the window


@dataclass
class WorkerResult:
    phases: dict[str, PhaseCounts]
    errors: Counter[str]
    disconnects: int
    stalled_pairs: int  # saturated phase: pairs with nothing received in the window
    setup_failures: list[str]


class Party:
    """One socket.io client: a counsellor's console or a customer's page."""

    def __init__(self, url: str, ns: str, token: str, load: Load) -> None:
        self.url, self.ns, self.token, self.load = url, ns, token, load
        self.sio = socketio.AsyncClient(reconnection=False)
        self.queues: dict[str, asyncio.Queue[Any]] = {}
        self.sio.on("*", self._any, namespace=ns)
        self.sio.on("disconnect", self._gone, namespace=ns)
        self.sio.on("connect_error", self._refused, namespace=ns)
        self.refusal: Any = None

    async def _refused(self, data: Any = None) -> None:
        self.refusal = data

    async def _any(self, event: str, *args: Any) -> None:
        if event == "error":
            self.load.errors[str(args[0].get("code") if args else "?")] += 1
        self.queues.setdefault(event, asyncio.Queue()).put_nowait(args[0] if args else None)

    async def _gone(self, *_: Any) -> None:
        self.load.disconnects += 1

    async def connect(self) -> None:
        try:
            await self.sio.connect(self.url, namespaces=[self.ns], auth={"token": self.token},
                                   transports=["websocket"], wait_timeout=int(SETUP_TIMEOUT))
        except socketio.exceptions.ConnectionError as exc:
            raise RuntimeError(f"{self.ns} refused: {self.refusal}") from exc

    async def next(self, event: str) -> Any:
        return await asyncio.wait_for(self.queues.setdefault(event, asyncio.Queue()).get(),
                                      SETUP_TIMEOUT)

    async def call(self, event: str, data: Any) -> Any:
        reply = await self.sio.call(event, data, namespace=self.ns, timeout=SETUP_TIMEOUT)
        if not (isinstance(reply, dict) and reply.get("ok")):
            raise RuntimeError(f"{self.ns} {event}: {reply}")
        return reply


def candidate(tag: str, n: int) -> dict[str, Any]:
    """A trickled ICE candidate as a browser sends it; the tag carries phase and send time."""
    return {"type": "candidate", "candidate": {
        "candidate": f"candidate:{n} 1 udp 2122260223 127.0.0.1 {50000 + n % 10000} typ host "
                     "generation 0 ufrag Zb7q network-id 1",
        "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": tag}}


class Pair:
    def __init__(self, n: int, staff: Party, customer: Party, load: Load) -> None:
        self.n, self.staff, self.customer, self.load = n, staff, customer, load
        self.session = ""
        self.got_in_window = 0
        staff.sio.on("signal", self._at_staff, namespace="/staff")
        customer.sio.on("signal", self._at_customer, namespace="/customer")

    async def from_staff(self, phase: str) -> None:
        message = candidate(f"{phase}{time.monotonic_ns()}", self.n)
        message["session"] = self.session
        self.load.sent(phase)
        await self.staff.sio.emit("signal", message, namespace="/staff")

    async def from_customer(self, phase: str) -> None:
        message = candidate(f"{phase}{time.monotonic_ns()}", self.n)
        self.load.sent(phase)
        await self.customer.sio.emit("signal", message, namespace="/customer")

    async def _at_staff(self, data: dict[str, Any]) -> None:
        if self.load.received(self, data):
            await self.from_staff("s")

    async def _at_customer(self, data: dict[str, Any]) -> None:
        if self.load.received(self, data):
            await self.from_customer("s")


class Load:
    """One load process: its pairs, its counters, the two phases."""

    def __init__(self) -> None:
        self.phases = {p: PhaseCounts() for p in PHASES}
        self.errors: Counter[str] = Counter()
        self.disconnects = 0
        self.plan: Plan | None = None
        self.pairs: list[Pair] = []

    def sent(self, phase: str) -> None:
        self.phases[phase].sent += 1

    def received(self, pair: Pair, data: dict[str, Any]) -> bool:
        """Count one relayed message; True when the saturated phase wants it answered."""
        now = time.monotonic_ns()
        tag = data["candidate"]["usernameFragment"]
        phase = tag[0]
        counts = self.phases[phase]
        counts.received += 1
        plan = self.plan
        assert plan is not None
        start, end = ((plan.sat_from, plan.sat_end) if phase == "s"
                      else (plan.paced_from, plan.paced_end))
        if start <= now < end:
            counts.in_window += 1
            counts.latencies.append(now - int(tag[1:]))
            if phase == "s":
                pair.got_in_window += 1
        return phase == "s" and now < plan.sat_end

    async def open_pair(self, n: int, urls: list[str], http: aiohttp.ClientSession) -> Pair:
        here, there = urls[n % len(urls)], urls[(n + 1) % len(urls)]
        issuer = TokenIssuer(SECRET.encode(), "counselling-broker")
        token = issuer.staff_token(StaffId(f"k{n}"), frozenset({Role.COUNSELLOR}),
                                   frozenset({TeamId("bench")}), time.time(), 3600)
        staff = Party(here, "/staff", token, self)
        await staff.connect()
        async with http.post(here + "/api/sessions", json={"customer_ref": f"S-{n}"},
                             headers={"Authorization": f"Bearer {token}"}) as resp:
            created = await resp.json()
            if resp.status >= 300:
                raise RuntimeError(f"POST /api/sessions: {resp.status} {created}")
        customer = Party(there, "/customer", created["customer_token"], self)
        pair = Pair(n, staff, customer, self)
        pair.session = created["session"]
        await customer.connect()
        await customer.call("join", {"name": "", "capabilities": {
            "webrtc": True, "camera": True, "microphone": True}})
        await staff.next("customer_waiting")
        await staff.call("admit", {"session": pair.session})
        await staff.next("start")
        await customer.next("start")
        return pair

    async def setup(self, urls: list[str], numbers: list[int]) -> list[str]:
        failures: list[str] = []
        gate = asyncio.Semaphore(SETUP_CONCURRENCY)
        async with aiohttp.ClientSession() as http:
            async def one(n: int) -> None:
                async with gate:
                    try:
                        self.pairs.append(await self.open_pair(n, urls, http))
                    except Exception as exc:  # reported, the run goes on with the rest
                        failures.append(f"pair {n}: {type(exc).__name__}: {exc}"[:200])
            await asyncio.gather(*(one(n) for n in numbers))
        return failures

    async def paced(self, plan: Plan) -> None:
        """Open loop: `rate` messages a second over the pairs in turn, alternating direction."""
        per_ns = plan.rate / 1e9
        sent = 0
        count = len(self.pairs)
        while count and (now := time.monotonic_ns()) < plan.paced_end:
            due = int((now - plan.paced_start) * per_ns)
            while sent < due:
                pair = self.pairs[sent % count]
                if (sent // count) % 2:
                    await pair.from_staff("p")
                else:
                    await pair.from_customer("p")
                sent += 1
            await asyncio.sleep(TICK)

    async def run(self, plan: Plan) -> None:
        self.plan = plan
        await asyncio.sleep(max(0.0, (plan.sat_start - time.monotonic_ns()) / 1e9))
        for pair in self.pairs:  # the first of each pair's bouncing messages
            for _ in range(plan.inflight):
                await pair.from_customer("s")
        await asyncio.sleep(max(0.0, (plan.paced_start - time.monotonic_ns()) / 1e9))
        await self.paced(plan)
        await asyncio.sleep(max(0.0, (plan.done - time.monotonic_ns()) / 1e9))

    async def close(self) -> None:
        for pair in self.pairs:
            for party in (pair.customer, pair.staff):
                with suppress(Exception):
                    await party.sio.disconnect()

    def result(self, failures: list[str]) -> WorkerResult:
        return WorkerResult(self.phases, self.errors, self.disconnects,
                            sum(1 for p in self.pairs if p.got_in_window == 0), failures)


def worker(conn: Connection, urls: list[str], numbers: list[int]) -> None:
    """A load process: set up its pairs, say ready, run the plan it is sent, report."""
    async def main() -> None:
        load = Load()
        failures = await load.setup(urls, numbers)
        conn.send(("ready", failures))
        plan: Plan = await asyncio.to_thread(conn.recv)
        await load.run(plan)
        result = load.result(failures)  # before we close the sockets ourselves
        await load.close()
        conn.send(("result", result))

    with runner() as r:
        r.run(main())


# ------------------------------------------------------------------ one layout, measured


@dataclass(frozen=True)
class Layout:
    name: str
    processes: int
    shared: bool  # Redis live state + PostgreSQL contact log


@dataclass
class Outcome:
    layout: Layout
    window: float  # seconds of each measured window
    idle: float  # seconds of the idle window (connected, nothing sent) before them
    sat: PhaseCounts
    paced: PhaseCounts
    cpu: dict[str, dict[str, float]]  # phase (i, s, p) → component → CPU seconds
    busy: dict[str, float]  # phase → machine busy fraction (of all cores)
    errors: Counter[str]
    disconnects: int
    stalled: int
    setup_failures: list[str]
    complaints: Counter[str]

    def rate(self, counts: PhaseCounts) -> float:
        return counts.in_window / self.window

    def per_message_us(self, phase: str, component: str) -> float:
        counts = self.sat if phase == "s" else self.paced
        return self.cpu[phase][component] / max(1, counts.in_window) * 1e6


@dataclass(frozen=True)
class Options:
    pairs: int
    workers: int
    warmup: float
    seconds: float
    idle: float
    rate: float
    inflight: int


def measure(layout: Layout, opts: Options, workdir: Path, pg: Postgres | None) -> Outcome:
    with ExitStack() as stack:
        redis_url, database_url, redis_pid = "", "", 0
        if layout.shared:
            assert pg is not None
            redis_url, redis_pid = stack.enter_context(running_redis(workdir / "redis"))
            database_url = pg.new_database()
        brokers = stack.enter_context(
            running_brokers(layout.processes, workdir, broker_env(redis_url, database_url)))
        urls = [b.url for b in brokers]
        ctx = multiprocessing.get_context("spawn")
        links: list[Connection] = []
        procs: list[Any] = []
        for w in range(opts.workers):
            ours, theirs = ctx.Pipe()
            numbers = list(range(w, opts.pairs, opts.workers))
            p = ctx.Process(target=worker, args=(theirs, urls, numbers), daemon=True)
            p.start()
            stack.callback(_stop_process, p)
            links.append(ours)
            procs.append(p)
        failures: list[str] = []
        for link in links:
            kind, got = _receive(link, 180)
            assert kind == "ready"
            failures += got
        if len(failures) >= opts.pairs:
            raise RuntimeError("no pair could be set up:\n" + "\n".join(failures[:5]))
        # the plan, on the clock every process shares
        ns = 1_000_000_000
        idle_from = time.monotonic_ns() + ns // 2
        t0 = idle_from + int(opts.idle * ns)  # first all pairs connected and silent
        warm, win = int(opts.warmup * ns), int(opts.seconds * ns)
        sat_end = t0 + warm + win
        paced_start = sat_end + ns  # a second for the bouncing messages to come home
        paced_end = paced_start + warm + win
        plan = Plan(t0, t0 + warm, sat_end, paced_start, paced_start + warm, paced_end,
                    paced_end + ns, opts.rate / opts.workers, opts.inflight)
        for link in links:
            link.send(plan)
        components: dict[str, list[int]] = {
            "brokers": [b.proc.pid for b in brokers],
            "redis": [redis_pid] if redis_pid else [],
            "load": [p.pid for p in procs],
        }
        cpu: dict[str, dict[str, float]] = {}
        busy: dict[str, float] = {}
        for phase, start, end in (("i", idle_from, t0), ("s", plan.sat_from, plan.sat_end),
                                  ("p", plan.paced_from, plan.paced_end)):
            sleep_until(start)
            before = {c: sum(cpu_seconds(p) for p in pids) for c, pids in components.items()}
            m0 = machine_jiffies()
            sleep_until(end)
            cpu[phase] = {c: sum(cpu_seconds(p) for p in pids) - before[c]
                          for c, pids in components.items()}
            m1 = machine_jiffies()
            busy[phase] = (m1[0] - m0[0]) / max(1, m1[1] - m0[1])
            # whatever else ran on the machine meanwhile (other people's tests, say)
            cpu[phase]["others"] = max(0.0, (m1[0] - m0[0]) / os.sysconf("SC_CLK_TCK")
                                       - sum(cpu[phase].values()))
        results: list[WorkerResult] = []
        for link in links:
            kind, got = _receive(link, 120)
            assert kind == "result"
            results.append(got)
        for p in procs:
            p.join(30)
    merged = {phase: PhaseCounts() for phase in PHASES}
    errors: Counter[str] = Counter()
    for r in results:
        for phase, c in r.phases.items():
            m = merged[phase]
            m.sent += c.sent
            m.received += c.received
            m.in_window += c.in_window
            m.latencies += c.latencies
        errors += r.errors
    return Outcome(layout, opts.seconds, opts.idle, merged["s"], merged["p"], cpu, busy, errors,
                   sum(r.disconnects for r in results), sum(r.stalled_pairs for r in results),
                   failures, log_complaints(brokers))


def _receive(link: Connection, timeout: float) -> tuple[str, Any]:
    if not link.poll(timeout):
        raise RuntimeError(f"a load process did not answer within {timeout:.0f} s")
    got: tuple[str, Any] = link.recv()
    return got


def _stop_process(p: Any) -> None:
    if p.is_alive():
        p.terminate()
        p.join(10)


# ------------------------------------------------------------------ report


def ms(ns_values: list[int], q: float) -> float:
    return pct([float(v) for v in ns_values], q) / 1e6


def report(outcomes: list[Outcome], opts: Options, took: float) -> None:
    print()
    print(f"scale-out, {opts.pairs} pairs (counsellor on process i, customer on i+1 mod N), "
          f"{opts.workers} load processes, windows of {opts.seconds:g} s after "
          f"{opts.warmup:g} s warm-up, {os.cpu_count()} cores, whole run {took:.0f} s")
    head = (f"{'layout':<22}{'msg/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'broker':>8}{'redis':>7}"
            f"{'load':>7}{'busy':>6}{'other':>6}  |{'msg/s':>7}{'p50 ms':>8}{'p99 ms':>8}"
            f"{'broker':>8}{'busy':>6}{'other':>6}{'lost':>6}")
    print(f"{'':<22}{'saturated (closed loop)':^58}  |{f'paced {opts.rate:g}/s':^49}")
    print(head)
    print(f"{'':<22}{'':>24}{'CPU µs per message':^22}{'':>6}{'cores':>6}  |{'':>23}"
          f"{'µs/msg':>8}{'':>6}{'cores':>6}")
    for o in outcomes:
        s, p = o.sat, o.paced
        print(f"{o.layout.name:<22}{o.rate(s):>8.0f}{ms(s.latencies, .5):>8.2f}"
              f"{ms(s.latencies, .99):>8.2f}{o.per_message_us('s', 'brokers'):>8.0f}"
              f"{o.per_message_us('s', 'redis'):>7.0f}{o.per_message_us('s', 'load'):>7.0f}"
              f"{o.busy['s']:>6.0%}{o.cpu['s']['others'] / o.window:>6.2f}  |"
              f"{o.rate(p):>7.0f}{ms(p.latencies, .5):>8.2f}{ms(p.latencies, .99):>8.2f}"
              f"{o.per_message_us('p', 'brokers'):>8.0f}{o.busy['p']:>6.0%}"
              f"{o.cpu['p']['others'] / o.window:>6.2f}{p.sent - p.received:>6}")
    print()
    for o in outcomes:
        odd = []
        if o.sat.sent != o.sat.received:
            odd.append(f"saturated: {o.sat.sent - o.sat.received} of {o.sat.sent} not received")
        if o.paced.sent != o.paced.received:
            odd.append(f"paced: {o.paced.sent - o.paced.received} of {o.paced.sent} "
                       "not received")
        if o.stalled:
            odd.append(f"{o.stalled} pairs received nothing in the saturated window")
        if o.errors:
            odd.append(f"error events {dict(o.errors)}")
        if o.disconnects:
            odd.append(f"{o.disconnects} sockets dropped during the run")
        if o.setup_failures:
            odd.append(f"{len(o.setup_failures)} pairs not set up, e.g. {o.setup_failures[0]}")
        if o.complaints:
            top = ", ".join(f"{n} x {line}" for line, n in o.complaints.most_common(3))
            odd.append(f"broker log: {top}")
        idle = o.cpu["i"]
        print(f"{o.layout.name}: idle {idle['brokers'] / o.idle:.3f} cores in the brokers, "
              f"{idle['redis'] / o.idle:.3f} in Redis; "
              + ("; ".join(odd) if odd else "nothing lost, no errors"))
    memory = next((o for o in outcomes if not o.layout.shared), None)
    redis1 = next((o for o in outcomes if o.layout.shared and o.layout.processes == 1), None)
    print()
    if memory and redis1:
        cpu = (redis1.per_message_us("s", "brokers")
               / memory.per_message_us("s", "brokers"))
        p99 = ms(redis1.paced.latencies, .99) / ms(memory.paced.latencies, .99)
        print(f"Redis 1 process / memory 1 process: throughput "
              f"{redis1.rate(redis1.sat) / memory.rate(memory.sat):.2f}, broker CPU per "
              f"message {cpu:.2f}, paced p99 {p99:.2f}")
    for o in outcomes:
        if not o.layout.shared or o.layout.processes == 1:
            continue
        line = f"{o.layout.processes} processes:"
        if redis1:
            t1 = redis1.rate(redis1.sat)
            line += (f" throughput x{o.rate(o.sat) / t1:.2f} of Redis 1 process, scale-out "
                     f"efficiency {o.rate(o.sat) / (o.layout.processes * t1):.2f}")
        if memory:
            line += f"; x{o.rate(o.sat) / memory.rate(memory.sat):.2f} of memory 1 process"
        print(line)
    # what the cores here cannot show: the CPU one relayed message costs the brokers
    print("with a core for each broker (CPU-bound, Redis not the limit):")
    for o in outcomes:
        us = o.per_message_us("s", "brokers")
        line = (f"  {o.layout.name}: {us:.0f} µs broker CPU per message, "
                f"{o.layout.processes * 1e6 / us:.0f} msg/s")
        if redis1 and o.layout.shared and o.layout.processes > 1:
            line += (f", CPU efficiency {redis1.per_message_us('s', 'brokers') / us:.2f} "
                     "of Redis 1 process")
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="40 pairs, 3 s windows (~1 min)")
    ap.add_argument("--pairs", type=int, help="sessions (default 150, quick 40)")
    ap.add_argument("--seconds", type=float, help="each measured window (default 10, quick 3)")
    ap.add_argument("--warmup", type=float, help="before each window (default 2, quick 1)")
    ap.add_argument("--idle", type=float,
                    help="first, all pairs connected and silent (default 3, quick 2)")
    ap.add_argument("--rate", type=float, default=600.0,
                    help="paced phase: messages per second in all (default 600)")
    ap.add_argument("--inflight", type=int, default=1,
                    help="saturated phase: messages bouncing per pair (default 1)")
    ap.add_argument("--workers", type=int, default=2, help="load processes (default 2)")
    ap.add_argument("--processes", default="1,2,3", help="broker processes with Redis")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory baseline")
    args = ap.parse_args()
    opts = Options(
        pairs=args.pairs or (40 if args.quick else 150), workers=args.workers,
        warmup=args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0),
        seconds=args.seconds or (3.0 if args.quick else 10.0),
        idle=args.idle if args.idle is not None else (2.0 if args.quick else 3.0), rate=args.rate,
        inflight=args.inflight)
    layouts = [] if args.no_memory else [Layout("memory, 1 process", 1, False)]
    layouts += [Layout(f"Redis+PG, {n} process{'es' if n > 1 else ''}", n, True)
                for n in (int(v) for v in args.processes.split(","))]
    started = time.monotonic()
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="cb-scaleout-") as tmp, ExitStack() as stack:
        pg = stack.enter_context(running_postgres()) if any(x.shared for x in layouts) \
            else None
        for i, layout in enumerate(layouts):
            workdir = Path(tmp) / f"layout{i}"
            workdir.mkdir()
            print(f"{layout.name}: measuring …", flush=True)
            o = measure(layout, opts, workdir, pg)
            print(f"  saturated {o.rate(o.sat):.0f} msg/s, p99 {ms(o.sat.latencies, .99):.1f} "
                  f"ms; paced {o.rate(o.paced):.0f} msg/s, p99 "
                  f"{ms(o.paced.latencies, .99):.1f} ms", flush=True)
            outcomes.append(o)
    report(outcomes, opts, time.monotonic() - started)


if __name__ == "__main__":
    main()
