"""Drop-in routing: what a routing decision costs as the queue grows, and how long a
counsellor who becomes available waits for their offer with a full queue.

1. **Decision cost** (in this process, `broker.routing.Dispatcher` alone): with N customers
   waiting in 20 queues (5 topics x 4 languages) and 500 counsellors (each serving 2 topics
   in 2 languages), one counsellor at a time becomes available and is offered the
   longest-waiting customer of their queues, then goes away again (the offer is withdrawn
   and passed on). Microseconds per decision for N = 100 ... 100,000, and the ratio to
   N = 100: flat means no decision walks along a queue.
2. **Through the broker** (its own process, `counselling-broker serve`, uvloop): 2,000
   customers queue over REST (20 queues), 500 counsellors connect over `/staff` in a load
   process of their own, get their skills over the admin API, and each cycles: `presence
   available` -> their `dropin_offer` arrives -> `presence away` (the customer goes back to
   the queue, to the next free counsellor) -> a pause. Latency is the send of `available`
   to the arrival of the offer; CPU of the broker and of the load process per decision.

    .venv/bin/python -m bench.routing [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import statistics
import tempfile
import time
from itertools import product
from multiprocessing.connection import Connection
from pathlib import Path

import aiohttp
import socketio

from bench.process import SECRET, broker_process, runner
from bench.scaleout import cpu_seconds, pct, running_redis
from broker.credentials import TokenIssuer
from broker.routing import TOPICS, Dispatcher, Offered, Presence, Ticket, TicketId
from broker.types import Role, StaffId, TeamId

LANGS = ("de", "en", "tr", "ar")
QUEUES = list(product(TOPICS, LANGS))  # 20
TEAM = TeamId("t1")


def skills_of(i: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Counsellor i serves 2 topics in 2 languages (every queue is served by someone)."""
    return ((TOPICS[i % 5], TOPICS[(i + 1) % 5]), ("de", LANGS[1 + i % 3]))


# ------------------------------------------------------------------ 1. decision cost


def decision_cost(waiting: int, counsellors: int = 500, decisions: int = 20_000
                  ) -> tuple[float, float]:
    """(µs per available -> offer decision, µs per away -> passed-on decision)."""
    rng = random.Random(waiting)
    d = Dispatcher(offer_seconds=1e9)
    for i in range(counsellors):
        topics, languages = skills_of(i)
        d.sign_in(StaffId(f"c{i}"), (TEAM,), topics, languages, 0.0)
    for n in range(waiting):
        topic, language = QUEUES[n % len(QUEUES)]
        d.join(Ticket(TicketId(f"k{n}"), TEAM, topic, language, float(n)), float(n))
    now = float(waiting)
    staff = [StaffId(f"c{rng.randrange(counsellors)}") for _ in range(decisions)]
    offer_ns = away_ns = 0
    for who in staff:
        now += 0.001
        t0 = time.perf_counter_ns()
        changes = d.choose(who, Presence.AVAILABLE, now)
        t1 = time.perf_counter_ns()
        assert any(isinstance(c, Offered) for c in changes)
        d.choose(who, Presence.AWAY, now)
        t2 = time.perf_counter_ns()
        offer_ns += t1 - t0
        away_ns += t2 - t1
    return offer_ns / decisions / 1000, away_ns / decisions / 1000


def part_one(sizes: list[int]) -> float:
    print("1. decision cost, 500 counsellors, 20 queues (in-process)")
    print(f"{'waiting':>9} {'available->offer':>17} {'ratio':>6} {'away->passed on':>16} "
          f"{'ratio':>6}")
    base: tuple[float, float] | None = None
    worst = 1.0
    for n in sizes:
        offer_us, away_us = decision_cost(n)
        base = base or (offer_us, away_us)
        ratio = max(offer_us / base[0], away_us / base[1])
        worst = max(worst, ratio)
        print(f"{n:>9,} {offer_us:>14.1f} µs {offer_us / base[0]:>6.2f} "
              f"{away_us:>13.1f} µs {away_us / base[1]:>6.2f}")
    return worst


# ------------------------------------------------------------------ 2. through the broker


def load_process(conn: Connection, url: str, tokens: list[str], seconds: float,
                 pause: float) -> None:
    """500 consoles: connect, then cycle available -> offer -> away until told to stop."""
    async def main() -> None:
        clients = [socketio.AsyncClient(reconnection=False) for _ in tokens]
        offers: list[asyncio.Queue[float]] = [asyncio.Queue() for _ in tokens]
        for i, c in enumerate(clients):
            c.on("dropin_offer", lambda _d, i=i: offers[i].put_nowait(time.perf_counter()),
                 namespace="/staff")

        async def connect(i: int) -> None:
            await clients[i].connect(url, namespaces=["/staff"], transports=["websocket"],
                                     auth={"token": tokens[i]}, wait_timeout=30)

        for start in range(0, len(clients), 50):
            await asyncio.gather(*(connect(i) for i in range(start, min(start + 50,
                                                                        len(clients)))))
        conn.send(("ready", os.getpid()))
        await asyncio.to_thread(conn.recv)  # go
        latencies: list[float] = []
        missed = 0
        stop_at = time.perf_counter() + seconds

        async def cycle(i: int) -> None:
            nonlocal missed
            await asyncio.sleep(random.random() * pause)
            c = clients[i]
            while time.perf_counter() < stop_at:
                sent = time.perf_counter()
                await c.emit("presence", {"presence": "available"}, namespace="/staff")
                try:
                    got = await asyncio.wait_for(offers[i].get(), 10)
                    latencies.append(got - sent)
                except TimeoutError:
                    missed += 1
                await c.call("presence", {"presence": "away"}, namespace="/staff", timeout=10)
                await asyncio.sleep(pause * (0.5 + random.random()))

        await asyncio.gather(*(cycle(i) for i in range(len(clients))))
        conn.send(("result", (latencies, missed)))
        for c in clients:
            await c.disconnect()

    with runner() as r:
        r.run(main())


async def part_two(waiting: int, counsellors: int, seconds: float, pause: float,
                   redis_url: str = "") -> None:
    print(f"\n2. through the broker{' (routing state in Redis)' if redis_url else ''}: "
          f"{waiting:,} waiting in 20 queues, {counsellors} counsellors cycling available "
          f"-> offer -> away, {seconds:.0f} s")
    issuer = TokenIssuer(SECRET.encode(), "counselling-broker")
    now = time.time()
    tokens = [issuer.staff_token(StaffId(f"c{i}"), frozenset({Role.COUNSELLOR}),
                                 frozenset({TEAM}), now, 7200) for i in range(counsellors)]
    admin = issuer.staff_token(StaffId("a1"), frozenset({Role.ADMIN}), frozenset({TEAM}),
                               now, 7200)
    settings = {"CB_CODE_ATTEMPTS_PER_MINUTE": "1000000",
                "CB_MAX_CONNECTIONS_PER_ADDRESS": "1000000",
                "CB_EVENTS_PER_SECOND": "1000", "CB_EVENT_BURST": "10000",
                "CB_DROPIN_OFFER_SECONDS": "3600", "CB_DROPIN_TOPICS": ",".join(TOPICS),
                "CB_GRACE_SECONDS": "3600",  # tickets without a page stay (no pages here)
                "CB_DROPIN_HOURS": "always"}  # whatever hour the benchmark runs
    if redis_url:  # the several-process mode, here with one process
        settings["CB_REDIS_URL"] = redis_url
    async with broker_process(settings) as (url, pid), aiohttp.ClientSession() as http:
        auth = {"Authorization": f"Bearer {admin}"}
        for i in range(counsellors):
            topics, languages = skills_of(i)
            async with http.put(f"{url}/api/staff/c{i}/skills", headers=auth,
                                json={"topics": list(topics), "languages": list(languages)}
                                ) as r:
                assert r.status == 200, await r.text()

        async def ticket(n: int) -> None:
            topic, language = QUEUES[n % len(QUEUES)]
            async with http.post(f"{url}/api/dropin/t1",
                                 json={"topic": topic, "language": language}) as r:
                assert r.status == 201, await r.text()

        for start in range(0, waiting, 100):
            await asyncio.gather(*(ticket(n) for n in range(start, min(start + 100, waiting))))
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=load_process, args=(child, url, tokens, seconds, pause))
        proc.start()
        what, load_pid = await asyncio.to_thread(parent.recv)
        assert what == "ready"
        broker_cpu, load_cpu = cpu_seconds(pid), cpu_seconds(load_pid)
        started = time.perf_counter()
        parent.send("go")
        what, (latencies, missed) = await asyncio.to_thread(parent.recv)
        took = time.perf_counter() - started
        broker_cpu, load_cpu = cpu_seconds(pid) - broker_cpu, cpu_seconds(load_pid) - load_cpu
        proc.join(30)
    decisions = 2 * len(latencies)  # each cycle: an offer, and a customer passed on
    ms = [v * 1000 for v in latencies]
    print(f"{len(latencies):,} offers ({missed} missed) in {took:.1f} s: "
          f"{len(latencies) / took:,.0f} offers/s")
    print(f"available -> offer: p50 {pct(ms, 0.5):.2f} ms, p90 {pct(ms, 0.9):.2f} ms, "
          f"p99 {pct(ms, 0.99):.2f} ms, max {max(ms):.2f} ms (target p99 <= 50 ms)")
    print(f"broker CPU {broker_cpu / took:.2f} cores, {broker_cpu / decisions * 1e6:.0f} µs per "
          f"routing decision (with its socket events); load process {load_cpu / took:.2f} "
          f"cores")
    print(f"mean {statistics.fmean(ms):.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.routing")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--pause", type=float, default=1.0,
                        help="mean seconds a counsellor stays away between cycles")
    parser.add_argument("--redis", action="store_true",
                        help="also route with the state shared in Redis (a throwaway server)")
    args = parser.parse_args()
    sizes = [100, 1_000, 10_000] if args.quick else [100, 1_000, 10_000, 100_000]
    worst = part_one(sizes)
    counsellors, seconds = (100, 5.0) if args.quick else (500, args.seconds)
    asyncio.run(part_two(2_000, counsellors, seconds, args.pause))
    if args.redis:
        with tempfile.TemporaryDirectory() as tmp, running_redis(Path(tmp)) as (url, _):
            asyncio.run(part_two(2_000, counsellors, seconds, args.pause, url))
    print(f"decision cost at {sizes[-1]:,} waiting / at 100: {worst:.2f}")


if __name__ == "__main__":
    main()
