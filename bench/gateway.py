"""The SIP gateway: the latency it adds, and concurrent bridged calls per process.

    .venv/bin/python -m bench.gateway latency [--runs 20]
    .venv/bin/python -m bench.gateway load [--calls 10,25,50] [--seconds 10]

latency: one call, all in this process. A phone made of sockets sends RTP (silence, then a
1 kHz burst) and the counsellor (an aiortc peer) notes the first 20 ms frame that holds
the tone; the counsellor's track switches from silence to 440 Hz and the phone notes the
first RTP packet that holds it. The same onset is timed between two bare aiortc peers
(the WebRTC leg alone, no gateway): the difference is what the gateway adds. Bursts are
repeated; medians and 90th percentiles are printed.

load: the gateway as its own process (the `serve` subcommand), called by SIPp (N calls,
the code as RFC 4733 events, then a 1 kHz tone), each bridged to an aiortc counsellor
in this process through a small HTTP admitter. The gateway's CPU is read from /proc
while all N calls are bridged, and the gateway reports the RTP it moved: a run counts
only if it sent and received 50 packets/s per call. The counsellors and SIPp share the
same two cores, so on a 2-core machine they, not the gateway, run short first (about
20 calls); per-call CPU is the figure to keep.
Loopback only; aiortc always with an explicit empty ICE server list.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import fractions
import json
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import aioice.ice
import av
import numpy as np
from aiohttp import web
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from gateway.admission import CallInfo, HangupReason, WrongCode
from gateway.app import Gateway
from gateway.media import codec_preferences
from tests.gateway.audio import (
    RtpStream,
    decode,
    goertzel_share,
    rtp,
    tone,
    ulaw_encode,
    write_pcap,
)
from tests.gateway.conftest import HOTLINE, gateway_config, prompt_freq
from tests.gateway.counsellor import CODE
from tests.gateway.rawphone import RawPhone
from tests.ports import free_port

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []
RATE = 48000


def onset(samples: np.ndarray, freq: float, rate: int) -> bool:
    """A 20 ms frame that clearly holds `freq`."""
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0
    return rms > 1500 and goertzel_share(samples, freq, rate) > 0.5


class BurstTrack(MediaStreamTrack):
    """Silence, or a tone while `playing`; notes when the first frame of each burst left."""

    kind = "audio"

    def __init__(self, freq: float) -> None:
        super().__init__()
        self.freq = freq
        self.playing = False
        self.sent_at: float | None = None  # when the burst's first frame went to aiortc
        self._pts = 0
        self._start: float | None = None

    def reset(self) -> None:
        self.sent_at = None

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._pts / RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        n = RATE // 50
        if self.playing:
            t = (self._pts + np.arange(n)) / RATE
            pcm = (0.4 * 32767 * np.sin(2 * np.pi * self.freq * t)).astype(np.int16)
            if self.sent_at is None:
                self.sent_at = time.monotonic()
        else:
            pcm = np.zeros(n, np.int16)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts = RATE, self._pts
        frame.time_base = fractions.Fraction(1, RATE)
        self._pts += n
        return frame


@dataclass
class Ear:
    """Reads a remote track; notes the first frame of each burst of `freq`. Once armed,
    it first waits for quiet (the last burst's tail must not count)."""

    freq: float
    heard_at: float | None = None
    armed: bool = False
    frames: int = 0
    quiet: int = 0
    wants_quiet: int = 5

    def reset(self) -> None:
        self.armed, self.heard_at = False, None

    async def listen(self, track: MediaStreamTrack) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE,
                                      frame_size=RATE // 50)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            assert isinstance(frame, av.AudioFrame)
            for out in resampler.resample(frame):
                self.frames += 1
                if not self.armed or self.heard_at is not None:
                    self.quiet = 0
                    continue
                if not onset(out.to_ndarray().reshape(-1), self.freq, RATE):
                    self.quiet += 1
                elif self.quiet >= self.wants_quiet:
                    self.heard_at = time.monotonic()


async def until(check: Callable[[], bool], within: float, step: float = 0.005) -> None:
    """Poll `check` (the values come from media callbacks that set no event)."""
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110 - polled on purpose, see above
            await asyncio.sleep(step)


def pc() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


async def exchange(offerer: RTCPeerConnection, answerer: RTCPeerConnection) -> None:
    await offerer.setLocalDescription(await offerer.createOffer())
    await answerer.setRemoteDescription(offerer.localDescription)
    await answerer.setLocalDescription(await answerer.createAnswer())
    await offerer.setRemoteDescription(answerer.localDescription)


async def bursts(track: BurstTrack, ear: Ear, runs: int) -> list[float]:
    """Onset delays (ms) of `runs` bursts from `track` to `ear`."""
    out: list[float] = []
    for _ in range(runs):
        ear.reset()
        track.reset()
        await asyncio.sleep(0.3 + random.random() * 0.1)
        ear.armed = True
        await asyncio.sleep(0.2)
        track.playing = True
        await until(lambda: ear.heard_at is not None, 3)
        track.playing = False
        assert track.sent_at is not None
        assert ear.heard_at is not None
        out.append(1000 * (ear.heard_at - track.sent_at))
    return out


async def webrtc_alone(runs: int) -> list[float]:
    a, b = pc(), pc()
    track, ear = BurstTrack(1000.0), Ear(1000.0)
    # the same codec as the gateway's WebRTC leg (G.711 first, see gateway.media)
    a.addTransceiver(track, direction="sendrecv").setCodecPreferences(
        codec_preferences("g711", "PCMU"))
    b.on("track", lambda t: asyncio.ensure_future(ear.listen(t)))
    b.addTrack(BurstTrack(440.0))
    try:
        await exchange(a, b)
        await asyncio.sleep(1.0)
        return await bursts(track, ear, runs)
    finally:
        await a.close()
        await b.close()


@dataclass
class LatencyAdmission:
    info: CallInfo
    track: BurstTrack = field(default_factory=lambda: BurstTrack(440.0))
    ear: Ear = field(default_factory=lambda: Ear(1000.0))
    peer: RTCPeerConnection = field(default_factory=pc)
    flowing: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ice_servers(self) -> Sequence[RTCIceServer]:
        return []

    async def connect(self, gateway_pc: RTCPeerConnection) -> None:
        self.peer.addTrack(self.track)
        self.peer.on("track", lambda t: asyncio.ensure_future(self.ear.listen(t)))
        await exchange(gateway_pc, self.peer)

    async def media_flowing(self) -> None:
        self.flowing.set()

    async def ended(self) -> str:
        await asyncio.Event().wait()
        return ""

    async def hang_up(self, reason: HangupReason) -> None:
        pass


@dataclass
class LatencyAdmitter:
    admissions: asyncio.Queue[LatencyAdmission] = field(default_factory=asyncio.Queue)

    async def admit(self, code: str, call: CallInfo) -> LatencyAdmission:
        if code != CODE:
            raise WrongCode()
        admission = LatencyAdmission(call)
        self.admissions.put_nowait(admission)
        return admission


async def through_gateway(runs: int, prompts: Path) -> tuple[list[float], list[float],
                                                               dict[str, Any]]:
    admitter = LatencyAdmitter()
    gateway = Gateway(gateway_config(prompts), admitter)
    await gateway.start()
    phone = await RawPhone(gateway.sip.udp_port).open()
    try:
        assert (await phone.call(pt=0)).status_code == 200
        await phone.stream(RtpStream(pt=0, ssrc=9).keys(CODE))
        admission = await asyncio.wait_for(admitter.admissions.get(), 5)
        sender = PacedPhone(phone)
        sending = asyncio.create_task(sender.run())
        await asyncio.wait_for(admission.flowing.wait(), 10)
        await asyncio.sleep(1.5)
        to_counsellor = []
        for _ in range(runs):
            admission.ear.reset()
            await asyncio.sleep(0.3 + random.random() * 0.1)
            admission.ear.armed = True
            await asyncio.sleep(0.2)
            sent = await sender.burst(0.4)
            await until(lambda: admission.ear.heard_at is not None, 3)
            assert admission.ear.heard_at is not None
            to_counsellor.append(1000 * (admission.ear.heard_at - sent))
        to_phone = []
        assert phone.rtp is not None
        for _ in range(runs):
            await asyncio.sleep(0.3 + random.random() * 0.1)
            admission.track.reset()
            mark = len(phone.rtp.packets)
            admission.track.playing = True
            heard = None
            async with asyncio.timeout(3):
                while heard is None:
                    await asyncio.sleep(0.005)
                    heard = first_tone_packet(phone.rtp.packets[mark:], 440.0)
                    mark = max(mark, len(phone.rtp.packets) - 1)
            admission.track.playing = False
            assert admission.track.sent_at is not None
            to_phone.append(1000 * (heard - admission.track.sent_at))
        [call] = gateway.calls.values()
        assert call.leg is not None
        inside = call.leg.summary()
        sending.cancel()
        await phone.bye()
        await admission.peer.close()
        return to_counsellor, to_phone, inside
    finally:
        phone.close()
        await gateway.stop()


def first_tone_packet(packets: list[tuple[float, bytes]], freq: float) -> float | None:
    for at, data in packets:
        if len(data) > 12 and data[1] & 0x7F == 0 and onset(decode(data[12:], 0), freq, 8000):
            return at
    return None


class PacedPhone:
    """Continuous PCMU from the phone, silence or a 1 kHz burst, 20 ms paced."""

    def __init__(self, phone: RawPhone) -> None:
        self.phone = phone
        self.tone_until = 0.0
        self.first_tone_at: float | None = None
        frames = tone(1000.0, 1.0, amplitude=0.4)
        self.tone = [ulaw_encode(frames[i:i + 160]) for i in range(0, 8000, 160)]
        self.silence = ulaw_encode(np.zeros(160, np.int16))

    async def burst(self, seconds: float) -> float:
        self._clear()
        self.tone_until = time.monotonic() + seconds
        await until(lambda: self.first_tone_at is not None, 3, 0.002)
        assert self.first_tone_at is not None
        return self.first_tone_at

    def _clear(self) -> None:
        self.first_tone_at = None

    async def run(self) -> None:
        assert self.phone.rtp is not None
        assert self.phone.rtp.transport is not None
        assert self.phone.remote_rtp is not None
        seq, ts, n = 1, 1000, 0
        start = time.monotonic()
        while True:
            n += 1
            await asyncio.sleep(max(0.0, start + n * 0.02 - time.monotonic()))
            now = time.monotonic()
            on = now < self.tone_until
            payload = self.tone[n % 50] if on else self.silence
            self.phone.rtp.transport.sendto(rtp(0, seq, ts, 0x4242, payload),
                                            self.phone.remote_rtp)
            if on and self.first_tone_at is None:
                self.first_tone_at = now
            seq, ts = seq + 1, ts + 160


def stats(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return f"median {statistics.median(ordered):6.1f} ms   p90 {p90:6.1f} ms   (n={len(values)})"


async def latency(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        prompts = short_prompts(Path(tmp))
        alone = await webrtc_alone(runs)
        to_counsellor, to_phone, inside = await through_gateway(runs, prompts)
    print("one-way tone onset (first 20 ms frame holding the tone), loopback, 2 cores")
    print(f"  WebRTC leg alone (aiortc -> aiortc, PCMU):  {stats(alone)}")
    print(f"  phone -> gateway -> counsellor (PCMU in):   {stats(to_counsellor)}")
    print(f"  counsellor -> gateway -> phone (PCMU out):  {stats(to_phone)}")
    base = statistics.median(alone)
    print(f"  minus the WebRTC leg, phone -> counsellor:  "
          f"{statistics.median(to_counsellor) - base:6.1f} ms (onset alignment: +-20 ms)")
    print(f"  minus the WebRTC leg, counsellor -> phone:  "
          f"{statistics.median(to_phone) - base:6.1f} ms (onset alignment: +-20 ms)")
    into, out = inside["to_browser"], inside["to_phone"]
    print(f"  inside the gateway, per frame: RTP arrival -> aiortc {fmt(into)}")
    print(f"  inside the gateway, per frame: counsellor frame -> RTP sent {fmt(out)}")
    print("  (counsellor -> phone also waits in aiortc's receive jitter buffer: 4 frames, "
          "80 ms, as in any aiortc receiver)")
    print(f"  the phone's playout buffer: {inside['playout']}, trimmed {inside['trimmed']}")
    print(f"gateway latency: {into['p50_ms']:.0f} ms (p95 {into['p95_ms']:.0f} ms) phone -> "
          f"browser, {out['p50_ms']:.1f} ms browser -> phone, added inside the gateway per "
          "frame (target 60 ms)")


def fmt(delays: dict[str, float]) -> str:
    return (f"p50 {delays['p50_ms']:.1f} ms, p95 {delays['p95_ms']:.1f} ms, "
            f"max {delays['max_ms']:.1f} ms (n={delays['n']:.0f})")


def short_prompts(directory: Path) -> Path:
    from gateway.ivr import LANGUAGES, Prompt
    from tests.gateway.audio import write_wav
    for language in LANGUAGES:
        for prompt in Prompt:
            write_wav(directory / f"{language}_{prompt}.wav",
                      tone(prompt_freq(language, prompt), 0.3))
    return directory


# --- load: the gateway as its own process ---------------------------------------------

@dataclass
class HttpAdmission:
    """The gateway process's side of the bench's counsellor server."""

    info: CallInfo
    url: str
    call: str

    @property
    def ice_servers(self) -> Sequence[RTCIceServer]:
        return []

    async def connect(self, gateway_pc: RTCPeerConnection) -> None:
        await gateway_pc.setLocalDescription(await gateway_pc.createOffer())
        async with aiohttp.ClientSession() as http, http.post(
                f"{self.url}/offer/{self.call}", json={"sdp": gateway_pc.localDescription.sdp}
        ) as resp:
            answer = await resp.json()
        await gateway_pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))

    async def media_flowing(self) -> None:
        async with aiohttp.ClientSession() as http, http.post(f"{self.url}/flowing/{self.call}"):
            pass

    async def ended(self) -> str:
        await asyncio.Event().wait()
        return ""

    async def hang_up(self, reason: HangupReason) -> None:
        async with aiohttp.ClientSession() as http, http.post(f"{self.url}/hangup/{self.call}"):
            pass


@dataclass
class HttpAdmitter:
    url: str

    async def admit(self, code: str, call: CallInfo) -> HttpAdmission:
        if code != CODE:
            raise WrongCode()
        return HttpAdmission(call, self.url, call.call_ref)


async def serve(url: str, rtp_base: int) -> None:
    """The gateway process of the load bench: prints its SIP port, runs until stdin ends."""
    with tempfile.TemporaryDirectory() as tmp:
        config = gateway_config(short_prompts(Path(tmp)))
        from dataclasses import replace
        config = replace(config, rtp_ports=(rtp_base, rtp_base + 2000),
                         sip=replace(config.sip, limits=replace(
                             config.sip.limits, invite_rate=200.0, invite_burst=400,
                             max_calls=1000, report_interval=60.0)))
        gateway = Gateway(config, HttpAdmitter(url))
        await gateway.start()
        print(json.dumps({"udp": gateway.sip.udp_port}), flush=True)
        profile = cProfile.Profile() if os.environ.get("BENCH_PROFILE") else None
        if profile is not None:
            profile.enable()
        reporting = asyncio.create_task(report_counts(gateway))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)
        reporting.cancel()
        if profile is not None:
            profile.disable()
            pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime").print_stats(30)
        await gateway.stop()


async def report_counts(gateway: Gateway) -> None:
    """Once a second, the RTP the gateway's calls sent and received so far (summed)."""
    done_out = done_in = 0
    seen: dict[str, tuple[int, int]] = {}
    while True:
        await asyncio.sleep(1.0)
        for call_id, call in gateway.calls.items():
            if call.leg is not None:
                seen[call_id] = (call.leg.stats.rtp_out, call.leg.stats.rtp_in)
        for call_id in [c for c in seen if c not in gateway.calls]:
            out, in_ = seen.pop(call_id)
            done_out, done_in = done_out + out, done_in + in_
        print(json.dumps({"t": time.monotonic(), "calls": len(gateway.calls),
                          "rtp_out": done_out + sum(o for o, _ in seen.values()),
                          "rtp_in": done_in + sum(i for _, i in seen.values())}), flush=True)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def read_counts(stream: asyncio.StreamReader, into: list[dict[str, float]]) -> None:
    while line := await stream.readline():
        into.append(json.loads(line))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Sink(asyncio.DatagramProtocol):
    """Where every SIPp caller's SDP points: counts the RTP the gateway sends to phones."""

    def __init__(self) -> None:
        self.packets = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.packets += 1


@dataclass
class CounsellorServer:
    peers: dict[str, RTCPeerConnection] = field(default_factory=dict)
    ears: dict[str, Ear] = field(default_factory=dict)
    flowing: set[str] = field(default_factory=set)

    def flowing_at_least(self, n: int) -> Callable[[], bool]:
        return lambda: len(self.flowing) >= n

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/offer/{call}", self.offer)
        app.router.add_post("/flowing/{call}", self.mark)
        app.router.add_post("/hangup/{call}", self.hangup)
        return app

    async def offer(self, request: web.Request) -> web.Response:
        call = request.match_info["call"]
        peer = pc()
        ear = Ear(1000.0, armed=True, wants_quiet=0)
        peer.addTrack(BurstTrack(440.0))
        peer.on("track", lambda t: asyncio.ensure_future(ear.listen(t)))
        self.peers[call], self.ears[call] = peer, ear
        body = await request.json()
        await peer.setRemoteDescription(RTCSessionDescription(body["sdp"], "offer"))
        await peer.setLocalDescription(await peer.createAnswer())
        return web.json_response({"sdp": peer.localDescription.sdp})

    async def mark(self, request: web.Request) -> web.Response:
        self.flowing.add(request.match_info["call"])
        return web.json_response({})

    async def hangup(self, request: web.Request) -> web.Response:
        peer = self.peers.pop(request.match_info["call"], None)
        if peer is not None:
            await peer.close()
        return web.json_response({})


async def load(calls: list[int], seconds: float, loop: str) -> None:
    from tests.gateway.phones import SCENARIOS
    server = CounsellorServer()
    runner = web.AppRunner(server.app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for n in calls:
            server.flowing.clear()
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.gateway", "serve", "--url",
                f"http://127.0.0.1:{port}", "--rtp-base", str(random.randrange(20000, 40000, 2)),
                "--loop", loop,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
            assert proc.stdout is not None
            assert proc.stdin is not None
            udp = json.loads(await proc.stdout.readline())["udp"]
            counts: list[dict[str, float]] = []
            reading = asyncio.create_task(read_counts(proc.stdout, counts))
            talk = seconds + 4 + n / 20
            samples = tone(1000.0, talk)
            frames = [ulaw_encode(samples[i:i + 160]) for i in range(0, samples.size, 160)]
            stream = RtpStream(pt=0, ssrc=0x6666).keys(CODE)
            stream.pause(0.2).audio(frames)
            write_pcap(tmp / "caller.pcap", stream.packets)
            sink = await asyncio.get_running_loop().create_datagram_endpoint(
                Sink, local_addr=("127.0.0.1", 0))
            sink_port = sink[0].get_extra_info("sockname")[1]
            text = (SCENARIOS / "uac_dialin.xml").read_text()
            for name, value in {"PT": "0", "CODEC": "PCMU", "TALK_MS": str(int(talk * 1000)),
                                "CALLER_PCAP": str(tmp / "caller.pcap"),
                                "RTP_LISTEN": str(sink_port)}.items():
                text = text.replace(f"@{name}@", value)
            (tmp / "load.xml").write_text(text)
            sipp = await asyncio.create_subprocess_exec(
                "sipp", f"127.0.0.1:{udp}", "-sf", str(tmp / "load.xml"), "-m", str(n),
                "-l", str(n), "-r", "20", "-i", "127.0.0.1", "-p", str(free_port()),
                "-mp", str(free_port()), "-s", HOTLINE, "-nostdin", "-timeout",
                f"{int(talk + 30)}s", cwd=tmp, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL)
            await until(server.flowing_at_least(n), 30 + n, 0.1)
            await asyncio.sleep(1.0)
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            frames0 = sum(ear.frames for ear in server.ears.values())
            packets0 = sink[1].packets
            inside0 = counts[-1]
            await asyncio.sleep(seconds)
            took = time.monotonic() - t0
            inside1 = counts[-1]
            span = inside1["t"] - inside0["t"]
            sent = (inside1["rtp_out"] - inside0["rtp_out"]) / span / n
            got = (inside1["rtp_in"] - inside0["rtp_in"]) / span / n
            cpu = (cpu_seconds(proc.pid) - cpu0) / took
            to_counsellors = (sum(ear.frames for ear in server.ears.values()) - frames0) / took / n
            to_phones = (sink[1].packets - packets0) / took / n
            hearing = sum(1 for ear in server.ears.values() if ear.heard_at is not None)
            # valid when the gateway itself moved 50 packets/s each way per call (what the
            # load side then managed to read is printed, but is the load side's business)
            valid = min(sent, got) >= 47.0
            if valid:
                rows.append((n, cpu, rss_mb(proc.pid), hearing))
            print(f"  {n:>4} calls: gateway CPU {100 * cpu:5.1f} % of a core, "
                  f"{1000 * cpu / n:5.1f} ms CPU per call-second, RSS {rss_mb(proc.pid):.0f} MB; "
                  f"per call: the gateway sent {sent:4.1f} and received {got:4.1f} RTP "
                  f"packets/s on the phone leg; the load side got {to_phones:4.1f} packets/s "
                  f"(phone) and {to_counsellors:4.1f} frames/s (counsellor), 50 each when "
                  "all is well; counsellors "
                  f"hearing 1 kHz: {hearing}/{n}; machine load {os.getloadavg()[0]:.1f}"
                  + ("" if valid else " -- NOT VALID: the gateway was fed less than 50/s "
                     "(the load side shares the cores; see the docstring)"), flush=True)
            await sipp.wait()
            sink[0].close()
            proc.stdin.close()
            await proc.wait()
            reading.cancel()
            for peer in list(server.peers.values()):
                await peer.close()
            server.peers.clear()
            server.ears.clear()
    await runner.cleanup()
    if not rows:
        print("gateway load: no valid run (the load side could not keep up)")
        return
    n, cpu, _, _ = max(rows)
    print(f"gateway load: {1000 * cpu / n:.1f} ms CPU per call-second at {n} calls, "
          f"about {int(n / cpu)} bridged calls per core")


def main() -> None:
    ap = argparse.ArgumentParser(prog="bench.gateway")
    sub = ap.add_subparsers(dest="what", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("--runs", type=int, default=20)
    ld = sub.add_parser("load")
    ld.add_argument("--calls", default="10,25,50")
    ld.add_argument("--seconds", type=float, default=10.0)
    sv = sub.add_parser("serve")
    sv.add_argument("--url", required=True)
    sv.add_argument("--rtp-base", type=int, default=30000)
    sv.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    ld.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop",
                    help="the gateway process's event loop (the CLI's is uvloop)")
    args = ap.parse_args()
    if args.what == "latency":
        asyncio.run(latency(args.runs))
    elif args.what == "load":
        asyncio.run(load([int(n) for n in args.calls.split(",")], args.seconds, args.loop))
    elif args.loop == "uvloop":
        import uvloop
        uvloop.run(serve(args.url, args.rtp_base))
    else:
        asyncio.run(serve(args.url, args.rtp_base))


if __name__ == "__main__":
    main()
