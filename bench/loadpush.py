"""Live load push: with 2,000 active sessions, how long a session event takes to reach the
supervisor's updated snapshot, and what the aggregation costs the broker.

The broker runs as its own process (`counselling-broker serve`, memory state). A load
process of its own sets up the active sessions (40 counsellors, 50 sessions each; one
customer socket per session: created over REST, joined, admitted). Then, twice in the same
run, the same event stream: new appointments created over REST at a steady rate (each
changes the team's `scheduled` count), once with a supervisor connected (the broker
aggregates and pushes) and once without (the floor: the same events, nothing to push).

- latency: the REST request for the new appointment -> the supervisor's `load` push that
  counts it. Pushes are throttled to one per `CB_LOAD_PUSH_INTERVAL` (default 1 s, the
  setting a deployment runs with; `--interval` changes it), so the latency is mostly that
  wait, which the run reports beside the interval;
- cost: broker CPU per event with and without the supervisor; the difference is what the
  aggregation and the push cost.

    .venv/bin/python -m bench.loadpush [--quick] [--interval 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import time
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import socketio

from bench.process import SECRET, broker_process, runner
from bench.scaleout import cpu_seconds, pct
from broker.credentials import TokenIssuer
from broker.types import Role, StaffId, TeamId

TEAM = TeamId("t1")


def staff_token(staff: str, role: Role = Role.COUNSELLOR) -> str:
    issuer = TokenIssuer(SECRET.encode(), "counselling-broker")
    return issuer.staff_token(StaffId(staff), frozenset({role}), frozenset({TEAM}),
                              time.time(), 7200)


def setup_process(conn: Connection, url: str, sessions: int, per_counsellor: int) -> None:
    """Holds the active sessions: counsellor and customer sockets, until told to stop."""
    async def main() -> None:
        counsellors: list[socketio.AsyncClient] = []
        customers: list[socketio.AsyncClient] = []
        async with aiohttp.ClientSession() as http:
            for c in range((sessions + per_counsellor - 1) // per_counsellor):
                token = staff_token(f"c{c}")
                k = socketio.AsyncClient(reconnection=False)
                await k.connect(url, namespaces=["/staff"], transports=["websocket"],
                                auth={"token": token}, wait_timeout=30)
                counsellors.append(k)

                async def one(token: str = token, k: socketio.AsyncClient = k) -> None:
                    async with http.post(f"{url}/api/sessions", json={"customer_ref": "K-1"},
                                         headers={"Authorization": f"Bearer {token}"}) as r:
                        created = await r.json()
                    cust = socketio.AsyncClient(reconnection=False)
                    await cust.connect(url, namespaces=["/customer"], transports=["websocket"],
                                       auth={"token": created["customer_token"]},
                                       wait_timeout=30)
                    customers.append(cust)
                    caps = {"webrtc": False, "camera": False, "microphone": True}
                    await cust.call("join", {"capabilities": caps}, namespace="/customer",
                                    timeout=30)
                    ack = await k.call("admit", {"session": created["session"]},
                                       namespace="/staff", timeout=30)
                    assert ack["ok"], ack

                n = min(per_counsellor, sessions - c * per_counsellor)
                await asyncio.gather(*(one() for _ in range(n)))
        conn.send(("ready", os.getpid()))
        await asyncio.to_thread(conn.recv)
        for client in customers + counsellors:
            await client.disconnect()

    with runner() as r:
        r.run(main())


async def events(url: str, pid: int, count: int, rate: float, watch: bool
                 ) -> tuple[list[float], float, float]:
    """`count` new appointments at `rate` per second: (latencies, seconds, broker CPU)."""
    token = staff_token("planner")
    pushes: asyncio.Queue[tuple[float, int]] = asyncio.Queue()
    base = 0
    sup = socketio.AsyncClient(reconnection=False)
    if watch:
        def on_load(data: dict[str, Any]) -> None:
            scheduled = data["teams"].get(TEAM, {}).get("sessions", {}).get("scheduled", 0)
            pushes.put_nowait((time.perf_counter(), scheduled))

        sup.on("load", on_load, namespace="/supervisor")
        await sup.connect(url, namespaces=["/supervisor"], transports=["websocket"],
                          auth={"token": staff_token("s1", Role.SUPERVISOR)}, wait_timeout=30)
        _, base = await pushes.get()  # the snapshot on connect: earlier phases' appointments
    created: list[tuple[float, int]] = []  # (sent at, scheduled count it makes)
    latencies: list[float] = []
    base_cpu = cpu_seconds(pid)
    started = time.perf_counter()
    async with aiohttp.ClientSession() as http:
        for n in range(count):
            due = started + n / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            # from the request's send: the event happens while the broker answers it, and
            # its push may arrive before the answer does
            created.append((time.perf_counter(), base + n + 1))
            async with http.post(f"{url}/api/sessions", json={"customer_ref": "K-2"},
                                 headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 201, await r.text()
            while not pushes.empty():
                at, scheduled = pushes.get_nowait()
                latencies += [at - t for t, k in created if k <= scheduled]
                created = [(t, k) for t, k in created if k > scheduled]
        deadline = time.perf_counter() + 5
        while watch and created and time.perf_counter() < deadline:
            try:
                at, scheduled = await asyncio.wait_for(pushes.get(), 5)
            except TimeoutError:
                break
            latencies += [at - t for t, k in created if k <= scheduled]
            created = [(t, k) for t, k in created if k > scheduled]
    took = time.perf_counter() - started
    cpu = cpu_seconds(pid) - base_cpu
    if watch:
        await sup.disconnect()
    return latencies, took, cpu


async def run(args: argparse.Namespace) -> None:
    settings = {"CB_MAX_CONNECTIONS_PER_ADDRESS": "1000000", "CB_EVENTS_PER_SECOND": "1000",
                "CB_EVENT_BURST": "10000", "CB_LOAD_PUSH_INTERVAL": str(args.interval),
                "CB_NO_SHOW_AFTER_SECONDS": "86400"}
    async with broker_process(settings) as (url, pid):
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        t0 = time.perf_counter()
        proc = ctx.Process(target=setup_process, args=(child, url, args.sessions, 50))
        proc.start()
        what, load_pid = await asyncio.to_thread(parent.recv)
        assert what == "ready"
        print(f"{args.sessions:,} active sessions set up in {time.perf_counter() - t0:.0f} s "
              f"(load process pid {load_pid})")
        rows = []
        # the floor first, then with the supervisor, then the floor again (drift shows)
        for watch in (False, True, False):
            latencies, took, cpu = await events(url, pid, args.events, args.rate, watch)
            rows.append((watch, latencies, took, cpu))
        parent.send("stop")
        proc.join(60)
    print(f"\n{args.events} new appointments at {args.rate:.0f}/s, pushes at most every "
          f"{args.interval} s")
    print(f"{'supervisor':<12} {'p50':>9} {'p90':>9} {'p99':>9} {'broker CPU/event':>17} "
          f"{'cores':>6}")
    floor = [cpu / args.events for watch, _, _, cpu in rows if not watch]
    with_sup = next(cpu / args.events for watch, _, _, cpu in rows if watch)
    for watch, latencies, took, cpu in rows:
        ms = [v * 1000 for v in latencies]
        lat = (f"{pct(ms, 0.5):>7.1f}ms {pct(ms, 0.9):>7.1f}ms {pct(ms, 0.99):>7.1f}ms"
               if ms else f"{'-':>9} {'-':>9} {'-':>9}")
        print(f"{'connected' if watch else 'none':<12} {lat} "
              f"{cpu / args.events * 1e6:>14.0f} µs {cpu / took:>6.2f}")
    floor_us = sum(floor) / len(floor) * 1e6
    print(f"aggregation and push: {with_sup * 1e6 - floor_us:.0f} µs per event over the floor "
          f"of {floor_us:.0f} µs (ratio {with_sup * 1e6 / floor_us:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.loadpush")
    parser.add_argument("--quick", action="store_true", help="200 sessions, 100 events")
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    if args.quick:
        args.sessions, args.events = 200, 100
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
