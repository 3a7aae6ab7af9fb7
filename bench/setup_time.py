"""Set-up time: the counsellor's admit → both aiortc peers `connected`, through the broker,
against the same two peers exchanging SDP directly in one process (the floor).

The broker runs as its own process (`counselling-broker serve`); the peers and their
socket.io clients run here. Runs alternate (direct, broker, direct, …) so drift hits both.
Loopback only: host candidates are 127.0.0.1 and no ICE server is configured.

    .venv/bin/python -m bench.setup_time --runs 50 [--video]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import time
from typing import Any

import aiohttp
import aioice.ice
import socketio
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from bench.process import SECRET, running_broker
from broker.credentials import TokenIssuer
from broker.types import Role, StaffId, TeamId

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []


def pc_with_tracks(video: bool) -> RTCPeerConnection:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(AudioStreamTrack())
    if video:
        pc.addTrack(VideoStreamTrack())
    return pc


async def connected(pc: RTCPeerConnection) -> None:
    done = asyncio.Event()

    @pc.on("connectionstatechange")
    def _() -> None:
        if pc.connectionState == "connected":
            done.set()

    if pc.connectionState == "connected":
        return
    await asyncio.wait_for(done.wait(), 20)


async def direct_once(video: bool) -> float:
    a, b = pc_with_tracks(video), pc_with_tracks(video)
    try:
        started = time.perf_counter()
        both = asyncio.gather(connected(a), connected(b))
        await a.setLocalDescription(await a.createOffer())
        await b.setRemoteDescription(RTCSessionDescription(a.localDescription.sdp, "offer"))
        await b.setLocalDescription(await b.createAnswer())
        await a.setRemoteDescription(RTCSessionDescription(b.localDescription.sdp, "answer"))
        await both
        return time.perf_counter() - started
    finally:
        await a.close()
        await b.close()


class Side:
    def __init__(self, url: str, ns: str, token: str) -> None:
        self.ns = ns
        self.sio = socketio.AsyncClient(reconnection=False)
        self.url, self.token = url, token
        self.queues: dict[str, asyncio.Queue[Any]] = {}

        async def any_event(event: str, *args: Any) -> None:
            self.queues.setdefault(event, asyncio.Queue()).put_nowait(args[0] if args else None)

        self.sio.on("*", any_event, namespace=ns)

    async def connect(self) -> None:
        await self.sio.connect(self.url, namespaces=[self.ns], auth={"token": self.token},
                               transports=["websocket"])

    async def next(self, event: str) -> Any:
        return await asyncio.wait_for(self.queues.setdefault(event, asyncio.Queue()).get(), 20)

    async def call(self, event: str, data: Any) -> Any:
        return await self.sio.call(event, data, namespace=self.ns, timeout=20)


async def create_session(url: str, staff_token: str) -> dict[str, Any]:
    """A new session, as the counsellor's console creates it: its id, link and token."""
    async with aiohttp.ClientSession() as http, http.post(
        url + "/api/sessions", json={"customer_ref": "B-1"},
        headers={"Authorization": f"Bearer {staff_token}"},
    ) as resp:
        return dict(await resp.json())


async def broker_once(url: str, staff: Side, staff_token: str, video: bool) -> tuple[float, float]:
    created = await create_session(url, staff_token)
    sid = created["session"]
    link_opened = time.perf_counter()
    customer = Side(url, "/customer", created["customer_token"])
    await customer.connect()
    await customer.call("join", {"name": "", "capabilities": {"webrtc": True, "camera": video,
                                                              "microphone": True}})
    await staff.next("customer_waiting")
    ready = time.perf_counter() - link_opened
    k_pc, c_pc = pc_with_tracks(video), pc_with_tracks(video)
    try:
        started = time.perf_counter()
        both = asyncio.gather(connected(k_pc), connected(c_pc))
        await staff.call("admit", {"session": sid})
        await staff.next("start")
        await customer.next("start")
        await k_pc.setLocalDescription(await k_pc.createOffer())
        await staff.call("signal", {"session": sid, "type": "offer",
                                    "sdp": k_pc.localDescription.sdp})
        offer = await customer.next("signal")
        await c_pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        await c_pc.setLocalDescription(await c_pc.createAnswer())
        await customer.call("signal", {"type": "answer", "sdp": c_pc.localDescription.sdp})
        answer = await staff.next("signal")
        await k_pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        await both
        took = time.perf_counter() - started
        await staff.call("end", {"session": sid})
        return took, ready
    finally:
        await k_pc.close()
        await c_pc.close()
        await customer.sio.disconnect()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--video", action="store_true", help="audio+video instead of audio only")
    args = ap.parse_args()
    async with running_broker() as url:
        issuer = TokenIssuer(SECRET.encode(), "counselling-broker")
        token = issuer.staff_token(StaffId("bench"), frozenset({Role.COUNSELLOR}),
                                   frozenset({TeamId("t")}), time.time(), 3600)
        staff = Side(url, "/staff", token)
        await staff.connect()
        await direct_once(args.video)  # warm-up both paths
        await broker_once(url, staff, token, args.video)
        direct, brokered, ready = [], [], []
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        for _ in range(args.runs):
            direct.append(await direct_once(args.video))
            took, r = await broker_once(url, staff, token, args.video)
            brokered.append(took)
            ready.append(r)
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        await staff.sio.disconnect()
    media = "audio+video" if args.video else "audio"
    print(f"set-up time, {media}, {args.runs} runs each, aiortc {aiortc_version()}, loopback")
    print(f"{'path':<34}{'p50 ms':>10}{'p90 ms':>10}{'mean ms':>10}")
    for name, vals in (("direct (floor)", direct), ("through broker: admit→connected",
                                                     brokered),
                       ("link opened→in waiting room", ready)):
        print(f"{name:<34}{pct(vals, .5)*1e3:>10.1f}{pct(vals, .9)*1e3:>10.1f}"
              f"{statistics.mean(vals)*1e3:>10.1f}")
    gen_cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    print(f"load generator CPU: {gen_cpu:.2f} s over the measured runs")
    print(f"ratio broker/direct p50 = {pct(brokered, .5)/pct(direct, .5):.3f}, "
          f"p90 = {pct(brokered, .9)/pct(direct, .9):.3f}")


def aiortc_version() -> str:
    from importlib.metadata import version
    return version("aiortc")


if __name__ == "__main__":
    asyncio.run(main())
