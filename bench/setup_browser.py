"""Set-up time with a real browser: Chromium on the customer page (trickle ICE) against an
aiortc counsellor, through the broker, against the same page and the same aiortc peer
exchanging SDP and candidates directly (the floor).

Each run is what a customer does: a new browser context (tests/browser's) opens the link
(`/j#…`, web/static/customer.html), ticks the consent, lets the device check open the fake
camera and microphone, clicks "Weiter mit Video" (or "Nur mit Ton", `--audio`) and joins the
waiting room, at machine speed. Once the browser is idle there, the counsellor, an aiortc
peer on a socket.io client in this process (bench/setup_time.py's), admits, offers on
`start` with its candidates in the SDP (aiortc does not trickle) and takes the answer and
the browser's trickled candidates, as they come. Timed: admit → both peer connections
`connected`; and, apart, link opened → the counsellor is told the customer waits.

The floor is the same page with the broker taken out of the path: it is served from this
process with a stand-in for the socket.io client (FAKE_IO) that carries the page's events
over one plain websocket straight to this process and this process's events back: one
hop each way, where the broker path has two with the broker between (the DevTools protocol
would be no floor: Playwright's channel to a page takes ~1.5-3 ms a message here, more
than the broker's two hops). Everything else is the same code: the customer page's own
handlers, rtc.js's answer and trickle, the device check, the clicks, the aiortc
counsellor. Timed: `start` sent to the page (the counsellor offers at once) → both
`connected`. So the difference is what the broker costs: the admit round trip before
`start`, and the second hop, through the broker, for the offer, the answer and each
candidate. Its median shift (Hodges-Lehmann: all broker-direct differences) is printed
beside the ratio, being steadier than the difference of two medians when ICE scatters both.

Both peers' `connected` moments are taken where they happen: the counsellor's here, the
browser's in the page (an init script stamps `performance.timeOrigin + now()`), mapped to
this process's clock by the best of five `evaluate` round trips before each call. Runs
alternate (direct, broker, …) so drift hits both. Chromium (Debian's, through Playwright)
and the broker (`counselling-broker serve`) run as their own processes; their CPU, this
harness's and what the rest of the machine used meanwhile are printed. Nothing leaves the
machine: aiortc's only candidate is 127.0.0.1, Chromium's are the host's own addresses, no
ICE server is configured on either side, and Chromium runs without background networking.

    .venv/bin/python -m bench.setup_browser --runs 60 [--audio]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiortc import RTCSessionDescription
from aiortc.sdp import candidate_from_sdp
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from bench.process import SECRET, broker_process
from bench.scaleout import cpu_seconds, machine_jiffies
from bench.setup_time import (
    Side,
    aiortc_version,
    connected,
    create_session,
    pc_with_tracks,
    pct,
)
from broker.credentials import TokenIssuer
from broker.types import Role, StaffId, TeamId
from tests.browser.conftest import CHROMIUM, FLAGS, HAVE_CHROMIUM, new_context

STATIC = Path(__file__).parents[1] / "web" / "static"
QUIET = 0.25  # cores: the browser is idle in the waiting room (the preview plays)
SETTLE_MAX = 2.0  # seconds in the waiting room at most before the admit
TIMEOUT = 20.0

# Stamps, on the page's clock, when the page applies the offer (setRemoteDescription) and
# when each of its peer connections reaches `connected` (wraps whatever RTCPeerConnection
# the earlier init scripts left).
STAMPS = """
(() => {
  const Earlier = window.RTCPeerConnection;
  const stamps = (window.__stamps = { offer: [], connected: [] });
  const now = () => performance.timeOrigin + performance.now();
  const apply = Earlier.prototype.setRemoteDescription;
  Earlier.prototype.setRemoteDescription = function (...args) {
    stamps.offer.push(now());
    return apply.apply(this, args);
  };
  window.RTCPeerConnection = class extends Earlier {
    constructor(...args) {
      super(...args);
      this.addEventListener("connectionstatechange", () => {
        if (this.connectionState === "connected") stamps.connected.push(now());
      });
    }
  };
})();
"""

# The floor's socket.io client, served as /vendor/socket.io.min.js in place of the real
# one: the page's events go straight to the harness over one plain websocket, and the
# harness's to the page. Before the measured part it plays the broker itself: `welcome`
# on connect, and the acks of sync and join.
FAKE_IO = """
(() => {
  const handlers = {};
  const fire = (event, data) => (handlers[event] || []).forEach((fn) => fn(data));
  const acks = { join: { ok: true, state: "waiting" } };
  window.io = () => {
    const ws = new WebSocket(location.origin.replace("http", "ws") + "/floor");
    const send = (event, data) => ws.send(JSON.stringify({ event, data }));
    const socket = {
      connected: false,
      on(event, fn) { (handlers[event] = handlers[event] || []).push(fn); return socket; },
      emit(event, data) { send(event, data); return socket; },
      timeout: () => ({
        emitWithAck: async (event, data) => {
          send(event, data);
          return acks[event] || { ok: true };
        },
      }),
      disconnect() { socket.connected = false; ws.close(); },
    };
    ws.onmessage = (m) => { const { event, data } = JSON.parse(m.data); fire(event, data); };
    ws.onopen = () => {
      socket.connected = true;
      fire("connect");
      fire("welcome", { state: "scheduled", counsellor_present: true, hotline: "", pin: "" });
    };
    return socket;
  };
})();
"""

Send = Callable[[dict[str, Any]], Awaitable[Any]]


class Counsellor:
    """The aiortc side: offers with its candidates in the SDP (aiortc does not trickle),
    takes the answer and the browser's trickled candidates in the order they come."""

    def __init__(self, video: bool, send: Send) -> None:
        self.pc = pc_with_tracks(video)
        self.send = send
        self.answered = float("nan")  # when the answer arrived
        self.up: asyncio.Future[float] = asyncio.ensure_future(self._up())

    async def _up(self) -> float:
        await connected(self.pc)
        return time.perf_counter()

    async def offer(self) -> None:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        await self.send({"type": "offer", "sdp": self.pc.localDescription.sdp})

    async def serve(self, inbox: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        while True:
            m = await inbox()
            if m["type"] == "answer":
                self.answered = time.perf_counter()
                await self.pc.setRemoteDescription(RTCSessionDescription(m["sdp"], "answer"))
            elif m["type"] == "candidate" and m.get("candidate"):
                c = m["candidate"]
                ice = candidate_from_sdp(c["candidate"].removeprefix("candidate:"))
                ice.sdpMid, ice.sdpMLineIndex = c["sdpMid"], c["sdpMLineIndex"]
                await self.pc.addIceCandidate(ice)

    async def close(self) -> None:
        self.up.cancel()
        await self.pc.close()


@dataclass
class Run:
    """Seconds from `start` handed to the page (floor) or the admit (broker) until …"""

    offer: float  # … the page applies the offer
    answer: float  # … the answer reaches the counsellor
    counsellor: float  # … the aiortc peer is connected
    browser: float  # … the page's peer connection is connected

    @property
    def took(self) -> float:  # … both are connected
        return max(self.counsellor, self.browser)


@dataclass
class Ready:
    """Seconds from opening the link until …"""

    loaded: float  # … the page's load event
    checked: float  # … the device check offers "continue"
    joined: float  # … the click on "join" is done
    waiting: float  # … the counsellor is told the customer waits


async def clock_offset(page: Page) -> float:
    """The page's clock minus perf_counter, in seconds, from the shortest of five
    `evaluate` round trips (about 1 ms: the error is at most half of it)."""
    best = (float("inf"), 0.0)
    for _ in range(5):
        before = time.perf_counter()
        there = float(await page.evaluate("performance.timeOrigin + performance.now()"))
        after = time.perf_counter()
        best = min(best, (after - before, there / 1e3 - (before + after) / 2))
    return best[1]


async def open_page(browser: Browser) -> tuple[BrowserContext, Page]:
    """A new customer's browser (tests/browser's desktop context) with the stamps."""
    context = await new_context(browser)
    await context.add_init_script(STAMPS)
    return context, await context.new_page()


async def into_waiting_room(page: Page, link: str, video: bool,
                            waiting: Callable[[], Awaitable[Any]]) -> Ready:
    """What the customer does, at machine speed: open the link, consent, let the device
    check open camera and microphone, choose video (or audio), join without a name."""
    opened = time.perf_counter()
    await page.goto(link)
    loaded = time.perf_counter() - opened
    await page.check("#consent")
    await page.click("#consent-accept")
    choice = "#check-continue" if video else "#use-audio"
    await page.wait_for_selector(choice, state="visible")  # the device check is done
    checked = time.perf_counter() - opened
    await page.click(choice)
    await page.click("#join-button")
    joined = time.perf_counter() - opened
    await asyncio.wait_for(waiting(), TIMEOUT)
    return Ready(loaded, checked, joined, time.perf_counter() - opened)


async def quiet(root: int) -> None:
    """Until this process's children (the browser, mostly) are idle: a customer has sat in
    the waiting room a while when admitted, and a page just loaded keeps a core busy for
    a few hundred ms. Under QUIET cores over 0.2 s, or SETTLE_MAX seconds."""
    deadline = time.perf_counter() + SETTLE_MAX
    await asyncio.sleep(0.2)
    while time.perf_counter() < deadline:
        before, at = subtree_cpu(root), time.perf_counter()
        await asyncio.sleep(0.2)
        if (subtree_cpu(root) - before) / (time.perf_counter() - at) < QUIET:
            return


async def call_up(page: Page, counsellor: Counsellor, begin: Callable[[], Awaitable[None]],
                  inbox: Callable[[], Awaitable[dict[str, Any]]]) -> Run:
    """From the waiting room: `begin` (the admit, or `start` handed to the page), the
    counsellor's offer, the relayed signals, until both sides are `connected`."""
    offset = await clock_offset(page)
    started = time.perf_counter()
    relay = asyncio.ensure_future(counsellor.serve(inbox))
    try:
        await begin()
        await counsellor.offer()
        k_up = await asyncio.wait_for(counsellor.up, TIMEOUT)
        deadline = time.perf_counter() + TIMEOUT
        # polled (the customer page's CSP forbids wait_for_function's eval); the page
        # stamped the moment itself
        while not (stamps := await page.evaluate("window.__stamps"))["connected"]:
            if time.perf_counter() > deadline:
                raise TimeoutError("the page did not connect")
            await asyncio.sleep(0.005)
    finally:
        relay.cancel()
    offer, c_up = (float(stamps[k][0]) / 1e3 - offset for k in ("offer", "connected"))
    return Run(offer - started, counsellor.answered - started, k_up - started,
               c_up - started)


async def direct_once(browser: Browser, floor: Floor, video: bool) -> tuple[Run, Ready]:
    context, page = await open_page(browser)
    floor.reset()
    counsellor = Counsellor(video, lambda m: floor.deliver("signal", m))

    async def begin() -> None:  # `start` goes out; the counsellor offers at once
        await floor.deliver("start", {
            "session": "floor", "proposed_channel": "video" if video else "audio",
            "initiator": False, "peer": "counsellor", "ice_servers": []})

    try:
        ready = await into_waiting_room(page, floor.url, video, floor.inbox["join"].get)
        await quiet(os.getpid())
        run = await call_up(page, counsellor, begin, floor.inbox["signal"].get)
        return run, ready
    finally:
        await counsellor.close()
        await context.close()


async def next_for(side: Side, event: str, sid: str) -> Any:
    """The next `event` about session `sid` (a late candidate of an earlier run is dropped)."""
    while True:
        data = await side.next(event)
        if isinstance(data, dict) and data.get("session") == sid:
            return data


async def broker_once(url: str, staff: Side, token: str, browser: Browser,
                      video: bool) -> tuple[Run, Ready]:
    created = await create_session(url, token)
    sid = created["session"]
    context, page = await open_page(browser)

    async def signal(m: dict[str, Any]) -> None:  # fire and forget, as the console does
        await staff.sio.emit("signal", {"session": sid, **m}, namespace="/staff")

    counsellor = Counsellor(video, signal)
    admitting: list[asyncio.Future[Any]] = []

    async def begin() -> None:  # the admit; the counsellor offers on `start`
        admitting.append(asyncio.ensure_future(staff.call("admit", {"session": sid})))
        await next_for(staff, "start", sid)

    try:
        ready = await into_waiting_room(page, created["join_url"], video,
                                        lambda: next_for(staff, "customer_waiting", sid))
        await quiet(os.getpid())
        run = await call_up(page, counsellor, begin, lambda: next_for(staff, "signal", sid))
        await asyncio.gather(*admitting)
        await staff.call("end", {"session": sid})
        return run, ready
    finally:
        await counsellor.close()
        await context.close()


class Floor:
    """The floor's server, in this process: the customer page and its files with FAKE_IO
    for the socket.io client, and the page's websocket, one hop with no broker between."""

    def __init__(self) -> None:
        self.url = ""
        self.ws: web.WebSocketResponse | None = None
        self.inbox: dict[str, asyncio.Queue[Any]] = {}
        self.reset()

    def reset(self) -> None:
        """For the next page."""
        self.ws = None
        self.inbox = {"join": asyncio.Queue(), "signal": asyncio.Queue()}

    async def deliver(self, event: str, data: dict[str, Any]) -> None:
        assert self.ws is not None, "the page has not connected"
        await self.ws.send_str(json.dumps({"event": event, "data": data}))

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)  # as the broker: no permessage-deflate
        await ws.prepare(request)
        self.ws = ws
        async for message in ws:
            m = json.loads(message.data)
            self.inbox.setdefault(m["event"], asyncio.Queue()).put_nowait(m["data"])
        return ws

    async def serve(self) -> web.AppRunner:
        async def page(_: web.Request) -> web.FileResponse:
            return web.FileResponse(STATIC / "customer.html")

        async def fake_io(_: web.Request) -> web.Response:
            return web.Response(text=FAKE_IO, content_type="text/javascript")

        app = web.Application()
        app.router.add_get("/j", page)
        app.router.add_get("/vendor/socket.io.min.js", fake_io)
        app.router.add_get("/floor", self._socket)
        app.router.add_static("/static", STATIC)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        await web.TCPSite(runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}/j#floor"
        return runner


def subtree_cpu(root: int) -> float:
    """CPU seconds of the live processes below `root`, with their reaped children's."""
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        times[int(entry.name)] = sum(int(f) for f in fields[11:15]) / tick
    total, todo = 0.0, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        total += times.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total


def rows(values: dict[str, list[float]]) -> None:
    for name, v in values.items():
        print(f"{name:<42}{pct(v, .5) * 1e3:>9.1f}{pct(v, .9) * 1e3:>9.1f}"
              f"{statistics.mean(v) * 1e3:>9.1f}")


def report(direct: list[tuple[Run, Ready]], brokered: list[tuple[Run, Ready]]) -> None:
    print(f"{'from start (floor) / admit (broker) to …':<42}{'p50 ms':>9}{'p90 ms':>9}"
          f"{'mean ms':>9}")
    for name, pairs in (("direct (floor)", direct), ("through broker", brokered)):
        runs = [run for run, _ in pairs]
        rows({f"{name}: both connected": [r.took for r in runs],
              "  the page applies the offer": [r.offer for r in runs],
              "  the answer reaches the counsellor": [r.answer for r in runs],
              "  counsellor (aiortc) connected": [r.counsellor for r in runs],
              "  browser connected": [r.browser for r in runs]})
    print("from opening the link (clicks at machine speed) to …")
    for name, pairs in (("direct (floor)", direct), ("through broker", brokered)):
        ready = [r for _, r in pairs]
        rows({f"{name}: the counsellor told": [r.waiting for r in ready],
              "  the page's load event": [r.loaded for r in ready],
              "  the device check done": [r.checked for r in ready],
              "  the click on join done": [r.joined for r in ready]})


@dataclass
class Cpu:
    """CPU seconds used: this harness, its other children (Chromium and Playwright's
    driver), the broker, the whole machine; and when."""

    harness: float
    children: float
    broker: float
    machine: float
    at: float

    @classmethod
    def now(cls, broker_pid: int) -> Cpu:
        own = resource.getrusage(resource.RUSAGE_SELF)
        broker = cpu_seconds(broker_pid)
        return cls(own.ru_utime + own.ru_stime, subtree_cpu(os.getpid()) - broker, broker,
                   machine_jiffies()[0] / os.sysconf("SC_CLK_TCK"), time.perf_counter())

    def until(self, later: Cpu) -> str:
        used = [later.harness - self.harness, later.children - self.children,
                later.broker - self.broker]
        other = (later.machine - self.machine - sum(used)) / (later.at - self.at)
        return (f"CPU over the measured runs: harness {used[0]:.2f} s, Chromium + Playwright "
                f"driver {used[1]:.2f} s, broker {used[2]:.2f} s; outside this benchmark "
                f"{max(0.0, other):.2f} cores on average")


async def measure(runs: int, video: bool, floor: Floor, token: str
                  ) -> tuple[list[tuple[Run, Ready]], list[tuple[Run, Ready]], str, str]:
    """Alternate runs (direct, broker, …) after a warm-up of each: (direct, brokered,
    Chromium's version, the CPU line)."""
    direct, brokered = [], []
    async with broker_process({"CB_LOG_LEVEL": "WARNING"}) as (url, pid), \
            async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        staff = Side(url, "/staff", token)
        await staff.connect()
        await direct_once(browser, floor, video)
        await broker_once(url, staff, token, browser, video)
        before = Cpu.now(pid)
        for _ in range(runs):
            direct.append(await direct_once(browser, floor, video))
            brokered.append(await broker_once(url, staff, token, browser, video))
        cpu = before.until(Cpu.now(pid))
        await staff.sio.disconnect()
        version = browser.version
        await browser.close()
    return direct, brokered, version, cpu


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--audio", action="store_true", help="audio only instead of audio+video")
    args = ap.parse_args()
    if not HAVE_CHROMIUM:
        sys.exit(f"Chromium is missing at {CHROMIUM}: apt-get install chromium")
    issuer = TokenIssuer(SECRET.encode(), "counselling-broker")
    token = issuer.staff_token(StaffId("bench"), frozenset({Role.COUNSELLOR}),
                               frozenset({TeamId("t")}), time.time(), 3600)
    floor = Floor()
    runner = await floor.serve()
    try:
        direct, brokered, version, cpu = await measure(args.runs, not args.audio, floor, token)
    finally:
        await runner.cleanup()
    media = "audio" if args.audio else "audio+video"
    print(f"set-up time, Chromium {version} customer page (trickle ICE) ↔ aiortc "
          f"{aiortc_version()} counsellor, {media}, {args.runs} runs each, loopback")
    report(direct, brokered)
    print(cpu)
    b, d = [r.took for r, _ in brokered], [r.took for r, _ in direct]
    # Hodges-Lehmann: steadier than a difference of two medians when ICE scatters both
    added = statistics.median(x - y for x in b for y in d)
    print(f"the broker's share: {added * 1e3:.1f} ms (median of all broker-direct differences)")
    print(f"ratio broker/direct p50 = {pct(b, .5) / pct(d, .5):.3f}, "
          f"p90 = {pct(b, .9) / pct(d, .9):.3f}")


if __name__ == "__main__":
    asyncio.run(main())
