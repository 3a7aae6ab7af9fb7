"""The phone leg's media, and the bridge between it and the WebRTC leg.

Phone -> browser: RTP (G.711, 20 ms) arrives on an aiortp session; audio goes into
aiortp's `AdaptivePlayout` (a jitter buffer that follows measured jitter, conceals loss
and re-primes after pauses) and `PhoneTrack.recv()`, which aiortc calls for every frame
it sends, takes one 20 ms frame from it on its own clock. So the playout clock is the
WebRTC sender's clock, with no queue in between; a backlog beyond the buffer's target
(a burst) is trimmed at once (`TRIM_MS`). With G.711 on the WebRTC leg too (preferred,
see `codec_preferences`) the frame goes to aiortc already encoded. Telephone-events
never reach aiortp (it would reset its buffer whenever their SSRC differs from the
audio's, and decodes any unknown payload type as audio): they go to `gateway.dtmf`.

Browser -> phone: the counsellor's remote track is read as it arrives, resampled to
8 kHz mono, encoded and sent at once; its RTP timestamps follow the wall clock, so a
pause becomes a timestamp jump with the marker bit, as RFC 3550 wants. Prompts play on
the same timeline (and silence the bridged audio while they play), and so do keys we
send (RFC 4733, paced, see `gateway.dtmf`).

Added latency is measured where it is added: per frame from RTP arrival to the frame
handed to aiortc, and from the counsellor's decoded frame to the RTP packet sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import math
import random
import statistics
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import av
from aiortc import RTCRtpCodecCapability, RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortp import AdaptivePlayout, PortAllocator, RtpPacket, RTPSession
from aiortp.codecs import Codec, get_codec

from gateway.dtmf import DtmfReceiver, event_packets
from gateway.sdp import MediaOffer

log = logging.getLogger("gateway.media")

RATE = 8000
FRAME_SAMPLES = 160  # 20 ms at 8 kHz
FRAME_BYTES = FRAME_SAMPLES * 2
FRAME_SECONDS = FRAME_SAMPLES / RATE
SILENCE = bytes(FRAME_BYTES)
TIME_BASE = fractions.Fraction(1, RATE)
CN_PAYLOAD_TYPE = 13  # comfort noise (RFC 3389): aiortp's playout turns it into noise
GAP_SLOTS = 3  # more than this many 20 ms slots without sending: a new talkspurt
# aiortp's playout shrinks an oversized buffer by one frame a second at most: after a
# burst (a sender catching up, a stalled process) that is seconds of extra delay. Past
# its own target plus this much, we drop the oldest frames at once: a short glitch
# instead of a conversation with a lag.
TRIM_MS = 60.0


@dataclass(frozen=True, slots=True)
class MediaConfig:
    bind_host: str = "127.0.0.1"
    advertised_host: str | None = None  # what the SDP says, when it differs (NAT)
    rtp_timeout: float = 30.0  # no RTP from a phone that should send: the leg ends
    hold_timeout: float = 3600.0  # on hold (sendonly, recvonly, inactive): the same, longer
    playout_max_delay_ms: int = 200
    symmetric_source: bool = True  # accept RTP only from the offer's IP address
    # the WebRTC leg's codec: "g711" (the phone's law first, then the other, Opus last)
    # costs a fraction of "opus" (Opus first) in CPU, and the phone is G.711 anyway
    webrtc_audio: str = "g711"

    def __post_init__(self) -> None:
        if self.webrtc_audio not in ("g711", "opus"):
            raise ValueError(f"webrtc_audio: {self.webrtc_audio!r} is neither g711 nor opus")

    @property
    def sdp_host(self) -> str:
        return self.advertised_host or self.bind_host


@dataclass
class Delays:
    """Recent per-frame delays (seconds) added by one direction of the bridge."""

    samples: deque[float] = field(default_factory=lambda: deque(maxlen=2000))

    def add(self, seconds: float) -> None:
        self.samples.append(seconds)

    def summary(self) -> dict[str, float]:
        if not self.samples:
            return {"n": 0}
        ordered = sorted(self.samples)
        return {"n": len(ordered), "p50_ms": 1000 * statistics.median(ordered),
                "p95_ms": 1000 * ordered[int(0.95 * (len(ordered) - 1))],
                "max_ms": 1000 * ordered[-1]}


@dataclass
class LegStats:
    rtp_in: int = 0
    rtp_out: int = 0
    events_in: int = 0
    keys: int = 0
    foreign_source: int = 0  # packets from an address other than the offer's
    foreign_type: int = 0  # payload types we did not negotiate
    malformed: int = 0
    trimmed: int = 0  # frames dropped to keep the phone -> browser delay down
    to_browser: Delays = field(default_factory=Delays)  # RTP arrival -> frame to aiortc
    to_phone: Delays = field(default_factory=Delays)  # counsellor's frame -> RTP sent


class PhoneRtpSession(RTPSession):
    """aiortp's RTP session (sockets, sender, RTCP) with our receive path.

    Every packet goes to the leg: audio and comfort noise to its playout buffer,
    telephone-events to its key receiver; other payload types and other sources are
    dropped and counted. Packets that arrive before the leg is attached are dropped.
    """

    leg: PhoneLeg | None = None

    def _handle_rtp(self, data: bytes, addr: tuple[str, int]) -> None:
        leg = self.leg
        if leg is None or self._closed:
            return
        if not leg.accepts_source(addr):
            leg.stats.foreign_source += 1
            return
        try:
            packet = RtpPacket.parse(data)
        except ValueError:
            leg.stats.malformed += 1
            return
        if packet.ssrc != self._remote_ssrc and packet.payload_type != leg.event_payload_type:
            self._remote_ssrc_changed(packet.ssrc)  # keeps RTCP receiver reports right
        if packet.ssrc == self._remote_ssrc:
            assert self._stream_stats is not None
            self._stream_stats.add(packet)
        leg.on_packet(packet)

    @property
    def local_port(self) -> int:
        assert self._rtp_transport is not None
        assert self._rtp_transport._transport is not None
        return int(self._rtp_transport._transport.get_extra_info("sockname")[1])

    def send_payload(self, payload_type: int, payload: bytes, timestamp: int,
                     marker: bool) -> None:
        """One packet on our stream (same SSRC and sequence for audio and keys)."""
        if self._sender is None or self._closed or self._remote_addr is None:
            return
        self._sender.send_raw(payload_type, payload, timestamp, int(marker),
                              addr=self._remote_addr)


class PhoneTrack(MediaStreamTrack):
    """The phone's voice as an aiortc audio track (8 kHz mono, 20 ms).

    `recv()` paces itself (aiortc's sender calls it back to back) and takes one frame
    from the leg's playout buffer per 20 ms; silence while the buffer is priming or
    the phone is on hold, so the counsellor's stream never stalls. When the WebRTC leg
    speaks G.711 it returns the frame already encoded (an `av.Packet`, which aiortc
    sends as it is): no resampler, no PyAV encoder, no thread hop per frame."""

    kind = "audio"

    def __init__(self, leg: PhoneLeg) -> None:
        super().__init__()
        self._leg = leg
        self._next: float | None = None
        self._pts = 0

    async def recv(self) -> av.AudioFrame | av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._next is None or now - self._next > 0.2:  # first frame, or we fell behind
            self._next = now
        else:
            self._next += FRAME_SECONDS
            if self._next > now:
                await asyncio.sleep(self._next - now)
        pcm = self._leg.playout_frame()
        codec = self._leg.webrtc_codec
        if codec is not None:
            packet = av.Packet(codec.encode(pcm))
            packet.pts = self._pts
            packet.time_base = TIME_BASE
            self._pts += FRAME_SAMPLES
            return packet
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        plane = frame.planes[0]
        plane.update(pcm if plane.buffer_size == len(pcm) else pcm.ljust(plane.buffer_size, b"\0"))
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = TIME_BASE
        self._pts += FRAME_SAMPLES
        return frame


class PhoneLeg:
    """One call's RTP: receive, play out, send prompts, bridged audio and keys."""

    def __init__(self, session: PhoneRtpSession, codec: Codec, offer: MediaOffer,
                 config: MediaConfig, allocator: PortAllocator, rtp_port: int,
                 on_key: Callable[[str], None], on_timeout: Callable[[], None]) -> None:
        self.session = session
        self.codec = codec
        self.offer = offer
        self.config = config
        self.stats = LegStats()
        self._allocator = allocator
        self._rtp_port = rtp_port
        self._on_key = on_key
        self._on_timeout = on_timeout
        self._loop = asyncio.get_running_loop()
        self._keys_in = DtmfReceiver()
        self._playout = AdaptivePlayout(codec, max_delay_ms=config.playout_max_delay_ms)
        self._arrivals: dict[int, float] = {}  # RTP timestamp -> arrival, for delays
        self._heard = self._loop.time()
        self._track: PhoneTrack | None = None
        self._pump: asyncio.Task[None] | None = None
        self._watchdog = asyncio.create_task(self._watch())
        self._closed = False
        # sending: a timeline on the wall clock
        self._t0 = self._loop.time()
        self._ts0 = random.getrandbits(32)
        self._last_slot = -1
        self._prompting = False  # a prompt plays: bridged audio is muted
        self._keying = False  # keys are being sent: audio is suppressed (RFC 4733 §2.5.1)
        self.webrtc_codec: Codec | None = None  # G.711 on the WebRTC leg: we encode
        self.flowing_in = asyncio.Event()  # first phone audio went to the counsellor
        self.flowing_out = asyncio.Event()  # first counsellor audio went to the phone
        session.leg = self

    @classmethod
    async def open(cls, offer: MediaOffer, config: MediaConfig, allocator: PortAllocator,
                   on_key: Callable[[str], None], on_timeout: Callable[[], None]) -> PhoneLeg:
        rtp_port, _ = await allocator.allocate()
        try:
            session = await PhoneRtpSession.create(
                local_addr=(config.bind_host, rtp_port), remote_addr=(offer.address, offer.port),
                payload_type=offer.payload_type, clock_rate=RATE,
                dtmf_payload_type=offer.event_payload_type or -1, cname="gateway")
        except BaseException:
            await allocator.release(rtp_port)
            raise
        assert isinstance(session, PhoneRtpSession)
        return cls(session, get_codec(offer.payload_type), offer, config, allocator, rtp_port,
                   on_key, on_timeout)

    @property
    def local_port(self) -> int:
        return self.session.local_port

    @property
    def event_payload_type(self) -> int | None:
        return self.offer.event_payload_type

    # -- receiving -----------------------------------------------------------------------

    def accepts_source(self, addr: tuple[str, int]) -> bool:
        return not self.config.symmetric_source or addr[0] == self.offer.address

    def on_packet(self, packet: RtpPacket) -> None:
        self.stats.rtp_in += 1
        self._heard = self._loop.time()
        pt = packet.payload_type
        if pt == self.offer.event_payload_type:
            self.stats.events_in += 1
            for key in self._keys_in.feed(packet.ssrc, packet.timestamp, packet.payload):
                self.stats.keys += 1
                self._on_key(key)
            return
        if pt == CN_PAYLOAD_TYPE:
            if self._track is not None and packet.payload:
                self._playout.set_cn(packet.payload[0] & 0x7F, packet.timestamp)
            return
        if pt != self.offer.payload_type:
            self.stats.foreign_type += 1
            return
        if self._track is None:
            return  # not bridged yet: the phone's voice has nowhere to go
        self._playout.put(packet.timestamp, packet.payload)
        if len(self._arrivals) < 64:
            self._arrivals[packet.timestamp] = self._heard

    def playout_frame(self) -> bytes:
        """The next 20 ms for the counsellor (silence while priming or on hold)."""
        playout = self._playout
        while playout.depth_ms > playout.target_ms + TRIM_MS:
            if playout.tick() is None:
                break
            self.stats.trimmed += 1
        out = playout.tick()
        if out is None:
            return SILENCE
        pcm, timestamp = out
        arrived = self._arrivals.pop(timestamp, None)
        if arrived is not None:
            self.stats.to_browser.add(self._loop.time() - arrived)
            self.flowing_in.set()
        if len(self._arrivals) >= 64:  # concealed or dropped frames leave entries behind
            self._arrivals.clear()
        return pcm if len(pcm) == FRAME_BYTES else pcm[:FRAME_BYTES].ljust(FRAME_BYTES, b"\0")

    async def _watch(self) -> None:
        """End the leg when the phone has been silent too long (much longer on hold: a
        phone on hold may send music or nothing, whatever its SDP says)."""
        while not self._closed:
            await asyncio.sleep(0.25)
            limit = self.config.hold_timeout if self.offer.on_hold else self.config.rtp_timeout
            if self._loop.time() - self._heard > limit:
                log.info("no RTP for %.1f s: ending the phone leg", limit)
                self._on_timeout()
                return

    def update(self, offer: MediaOffer) -> None:
        """A re-INVITE: hold, resume, or media moved."""
        if offer.payload_type != self.offer.payload_type:
            raise ValueError("the codec cannot change within a call")
        if (offer.address, offer.port) != (self.offer.address, self.offer.port) \
                and not offer.on_hold_address:
            self.session.update_remote((offer.address, offer.port))
        self.offer = offer
        self._heard = self._loop.time()

    # -- sending -------------------------------------------------------------------------

    def _slot(self) -> tuple[int, bool]:
        """The next RTP timestamp on the wall-clock timeline, and whether it starts a
        talkspurt (marker bit): the first packet, and the first after a pause."""
        wall = int((self._loop.time() - self._t0) / FRAME_SECONDS)
        if self._last_slot < 0 or wall - self._last_slot > GAP_SLOTS:
            slot, marker = wall, True
        else:
            slot, marker = self._last_slot + 1, False
        self._last_slot = slot
        return (self._ts0 + slot * FRAME_SAMPLES) & 0xFFFFFFFF, marker

    def _send_pcm(self, pcm: bytes) -> None:
        if not self.offer.we_send or self._keying or self._closed:
            return
        timestamp, marker = self._slot()
        self.session.send_payload(self.offer.payload_type, self.codec.encode(pcm),
                                  timestamp, marker)
        self.stats.rtp_out += 1

    async def play(self, pcm: bytes) -> None:
        """Play a prompt to its end, paced at 20 ms on absolute deadlines (cancel to stop);
        bridged audio is muted meanwhile."""
        self._prompting = True
        try:
            start = self._loop.time()
            for i, off in enumerate(range(0, len(pcm), FRAME_BYTES)):
                delay = start + i * FRAME_SECONDS - self._loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                self._send_pcm(pcm[off:off + FRAME_BYTES].ljust(FRAME_BYTES, b"\0"))
        finally:
            self._prompting = False

    async def send_keys(self, keys: str, duration_ms: int = 100, pause_ms: int = 80) -> None:
        """Send keys as RFC 4733 events on our audio timeline (audio paused meanwhile)."""
        if self.offer.event_payload_type is None:
            raise ValueError("the phone did not offer telephone-events")
        for key in keys:
            packets = event_packets(key, duration_ms)
            timestamp, _ = self._slot()
            first_slot = self._last_slot
            self._keying = True
            try:
                start = self._loop.time()
                for p in packets:
                    delay = start + p.offset_ms / 1000 - self._loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    self.session.send_payload(self.offer.event_payload_type, p.payload,
                                              timestamp, p.marker)
                    self.stats.rtp_out += 1
            finally:
                self._keying = False
                # audio resumes after the event's duration on the timeline
                self._last_slot = first_slot + math.ceil(duration_ms / 20) - 1
            await asyncio.sleep(pause_ms / 1000)

    # -- the bridge ----------------------------------------------------------------------

    def browser_track(self) -> PhoneTrack:
        """The phone's voice for the WebRTC leg (one per leg)."""
        if self._track is None:
            self._track = PhoneTrack(self)
        return self._track

    def use_webrtc_codec(self, mime_type: str) -> None:
        """The WebRTC leg's negotiated codec: G.711 is encoded here, by table."""
        payload_type = {"audio/pcmu": 0, "audio/pcma": 8}.get(mime_type.lower())
        self.webrtc_codec = get_codec(payload_type) if payload_type is not None else None

    def bridge_from(self, track: MediaStreamTrack) -> None:
        """Send the counsellor's audio to the phone."""
        if self._pump is not None:
            self._pump.cancel()
        self._pump = asyncio.create_task(self._pump_from(track))

    async def _pump_from(self, track: MediaStreamTrack) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE,
                                      frame_size=FRAME_SAMPLES)
        while not self._closed:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if not isinstance(frame, av.AudioFrame):
                continue
            got = time.monotonic()
            if frame.samples == FRAME_SAMPLES and frame.sample_rate == RATE \
                    and frame.format.name == "s16" and frame.layout.name == "mono":
                pcms = [bytes(frame.planes[0])[:FRAME_BYTES]]  # G.711 decoded: as it is
            else:
                pcms = [bytes(out.planes[0])[:FRAME_BYTES] for out in resampler.resample(frame)]
            for pcm in pcms:
                if self._prompting:
                    continue
                self._send_pcm(pcm)
                if self.offer.we_send:
                    self.stats.to_phone.add(time.monotonic() - got)
                    self.flowing_out.set()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in (self._watchdog, self._pump):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._track is not None:
            self._track.stop()
        self.session.leg = None
        await self.session.close()
        await self._allocator.release(self._rtp_port)

    def summary(self) -> dict[str, Any]:
        s = self.stats
        return {"rtp_in": s.rtp_in, "rtp_out": s.rtp_out, "keys": s.keys,
                "foreign_source": s.foreign_source, "foreign_type": s.foreign_type,
                "malformed": s.malformed, "trimmed": s.trimmed,
                "to_browser": s.to_browser.summary(),
                "to_phone": s.to_phone.summary(), "playout": self._playout.stats()}


def codec_preferences(webrtc_audio: str, phone_codec: str) -> list[RTCRtpCodecCapability]:
    """aiortc's audio codecs in our order of preference for the WebRTC leg."""
    laws = [f"audio/{phone_codec}", "audio/PCMA" if phone_codec == "PCMU" else "audio/PCMU"]
    order = [*laws, "audio/opus"] if webrtc_audio == "g711" else ["audio/opus", *laws]
    codecs = RTCRtpSender.getCapabilities("audio").codecs
    return sorted((c for c in codecs if c.mimeType in order),
                  key=lambda c: order.index(c.mimeType))


def pcm_of(prompts: Sequence[bytes]) -> bytes:
    """Prompts played back to back, with a short pause between them."""
    pause = bytes(FRAME_BYTES * 10)
    return pause.join(prompts)
