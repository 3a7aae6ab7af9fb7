"""Relay latency of quiet sessions while one socket floods the broker at 1,000 events/s.

The broker runs as its own process; so does the flooder (a staff socket sending `sync`,
the dearest read, and reconnecting whenever it is cut off, as a stubborn attacker would).
The probes run here: `--sessions` active sessions, each customer sending a `signal` that
the broker relays to its counsellor, one probe every 20 ms in turn. Windows alternate
between no flood and flood, so drift hits both; the figure is the ratio of latencies.

    .venv/bin/python -m bench.flood [--sessions 20] [--windows 6] [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time

import aiohttp
import socketio

from bench.process import SECRET, running_broker
from bench.setup_time import Side, pct
from broker.credentials import TokenIssuer
from broker.types import Role, StaffId, TeamId

RATE = 1000  # events per second from the flooder


def staff_token(staff: str) -> str:
    issuer = TokenIssuer(SECRET.encode(), "counselling-broker")
    return issuer.staff_token(StaffId(staff), frozenset({Role.COUNSELLOR}),
                              frozenset({TeamId("t")}), time.time(), 3600)


async def flooder(url: str, seconds: float) -> None:
    """Send RATE events a second for `seconds`; reconnect when cut off. Prints counts."""
    sent = cutoffs = 0
    token = staff_token("flooder")
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sio = socketio.AsyncClient(reconnection=False)
        try:
            await sio.connect(url, namespaces=["/staff"], auth={"token": token},
                              transports=["websocket"])
        except socketio.exceptions.ConnectionError:
            await asyncio.sleep(0.1)
            continue
        tick = time.monotonic()
        while sio.connected and time.monotonic() < end:
            for _ in range(RATE // 100):
                await sio.emit("sync", {}, namespace="/staff")
                sent += 1
            tick += 0.01
            await asyncio.sleep(max(0.0, tick - time.monotonic()))
        if not sio.connected:
            cutoffs += 1
        await sio.disconnect()
    print(f"flooder: {sent} events sent, cut off {cutoffs} times", flush=True)


async def make_session(url: str, staff: Side, token: str, n: int) -> Side:
    async with aiohttp.ClientSession() as http, http.post(
        url + "/api/sessions", json={"customer_ref": f"B-{n}"},
        headers={"Authorization": f"Bearer {token}"},
    ) as resp:
        created = await resp.json()
    customer = Side(url, "/customer", created["customer_token"])
    await customer.connect()
    await customer.call("join", {"name": ""})
    await staff.next("customer_waiting")
    await staff.call("admit", {"session": created["session"]})
    await staff.next("start")
    await customer.next("start")
    return customer


async def probe_window(customers: list[tuple[Side, Side]], seconds: float) -> list[float]:
    """Relay latencies (s) of customer → counsellor signals, one every 20 ms in turn."""
    took: list[float] = []
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        customer, counsellor = customers[i % len(customers)]
        i += 1
        started = time.perf_counter()
        await customer.sio.emit("signal", {"type": "candidate", "candidate": {
            "candidate": f"candidate:{i} 1 udp 1 127.0.0.1 {9000 + i % 1000} typ host",
            "sdpMid": "0", "sdpMLineIndex": 0}}, namespace="/customer")
        await counsellor.next("signal")
        took.append(time.perf_counter() - started)
        await asyncio.sleep(0.02)
    return took


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--windows", type=int, default=6, help="pairs of (quiet, flood) windows")
    ap.add_argument("--seconds", type=float, default=3.0, help="length of one window")
    ap.add_argument("--flooder", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.flooder:
        await flooder(args.flooder, args.seconds)
        return
    async with running_broker(log_level="ERROR") as url:
        pairs: list[tuple[Side, Side]] = []
        for n in range(args.sessions):
            token = staff_token(f"c{n}")
            counsellor = Side(url, "/staff", token)
            await counsellor.connect()
            pairs.append((await make_session(url, counsellor, token, n), counsellor))
        await probe_window(pairs, 1.0)  # warm-up
        quiet: list[float] = []
        flooded: list[float] = []
        reports: list[str] = []
        for _ in range(args.windows):
            quiet += await probe_window(pairs, args.seconds)
            flood = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.flood", "--flooder", url,
                "--seconds", str(args.seconds + 0.5), stdout=asyncio.subprocess.PIPE)
            await asyncio.sleep(0.5)  # let it reach full rate
            flooded += await probe_window(pairs, args.seconds)
            out, _ = await flood.communicate()
            reports.append(out.decode().strip())
        for customer, counsellor in pairs:
            await customer.sio.disconnect()
            await counsellor.sio.disconnect()
    print(f"relay latency of {args.sessions} quiet sessions, {args.windows} windows of "
          f"{args.seconds:.0f} s each, flood {RATE}/s from one staff socket (own process)")
    print(f"{'':<22}{'probes':>8}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'mean ms':>9}")
    for name, vals in (("no flood", quiet), ("under flood", flooded)):
        print(f"{name:<22}{len(vals):>8}{pct(vals, .5)*1e3:>9.2f}{pct(vals, .9)*1e3:>9.2f}"
              f"{pct(vals, .99)*1e3:>9.2f}{statistics.mean(vals)*1e3:>9.2f}")
    for line in reports[:1] + reports[-1:]:
        print(line)
    print(f"ratio flood/quiet p50 = {pct(flooded, .5)/pct(quiet, .5):.3f}, "
          f"p99 = {pct(flooded, .99)/pct(quiet, .99):.3f}")


if __name__ == "__main__":
    asyncio.run(main())
