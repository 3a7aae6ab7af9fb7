"""The broker's side, in process: an Admitter whose counsellor is a real aiortc peer.

`connect` exchanges SDP directly between the gateway's peer and the counsellor's (no
broker, no socket.io): the counsellor sends a 440 Hz tone and records what it hears,
so a test can ask whether the caller's 1 kHz arrived. Every peer has an explicit empty
ICE server list (aiortc would otherwise ask a public STUN server).
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import av
import numpy as np
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from gateway.admission import (
    CallInfo,
    HangupReason,
    LockedOut,
    SessionGone,
    WrongCode,
)
from tests.gateway.audio import has_tone

CODE = "123456789"


class ToneTrack(MediaStreamTrack):
    """A steady tone at 48 kHz, 20 ms frames, paced like a microphone."""

    kind = "audio"

    def __init__(self, freq: float = 440.0, rate: int = 48000) -> None:
        super().__init__()
        self.freq, self.rate = freq, rate
        self._samples = rate // 50
        self._pts = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._pts / self.rate - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        t = (self._pts + np.arange(self._samples)) / self.rate
        pcm = (0.3 * 32767 * np.sin(2 * np.pi * self.freq * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.rate
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, self.rate)
        self._pts += self._samples
        return frame


@dataclass
class Counsellor:
    """The counsellor's browser, played by aiortc."""

    pc: RTCPeerConnection = field(
        default_factory=lambda: RTCPeerConnection(RTCConfiguration(iceServers=[])))
    heard: list[np.ndarray] = field(default_factory=list)  # mono int16 at `rate`
    rate: int = 48000
    tone_at: float | None = None  # when 1 kHz was first heard (monotonic)
    _reader: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.pc.addTrack(ToneTrack(440.0))

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._reader = asyncio.create_task(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=self.rate)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            assert isinstance(frame, av.AudioFrame)
            for out in resampler.resample(frame):
                pcm = out.to_ndarray().reshape(-1).copy()
                self.heard.append(pcm)
                if self.tone_at is None and has_tone(pcm, 1000.0, self.rate, block=0.02,
                                                     min_blocks=1, share=0.5):
                    self.tone_at = time.monotonic()

    def hears(self, freq: float) -> bool:
        if not self.heard:
            return False
        return has_tone(np.concatenate(self.heard), freq, self.rate)

    async def answer(self, gateway_pc: RTCPeerConnection) -> None:
        await gateway_pc.setLocalDescription(await gateway_pc.createOffer())
        await self.pc.setRemoteDescription(gateway_pc.localDescription)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        await gateway_pc.setRemoteDescription(self.pc.localDescription)

    async def close(self) -> None:
        await self.pc.close()
        if self._reader is not None:
            self._reader.cancel()


@dataclass
class FakeAdmission:
    """One admitted call, as the broker's link would hold it."""

    info: CallInfo
    counsellor: Counsellor = field(default_factory=Counsellor)
    flowing: asyncio.Event = field(default_factory=asyncio.Event)
    hung_up: list[HangupReason] = field(default_factory=list)
    _ended: asyncio.Future[str] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())

    @property
    def ice_servers(self) -> Sequence[RTCIceServer]:
        return []

    async def connect(self, pc: RTCPeerConnection) -> None:
        await self.counsellor.answer(pc)

    async def media_flowing(self) -> None:
        self.flowing.set()

    async def ended(self) -> str:
        return await asyncio.shield(self._ended)

    async def hang_up(self, reason: HangupReason) -> None:
        self.hung_up.append(reason)

    def end(self, reason: str = "session_over") -> None:
        """The counsellor ends the session."""
        if not self._ended.done():
            self._ended.set_result(reason)


@dataclass
class FakeAdmitter:
    """Accepts `code`; `refusal` (if set) is raised for every other code."""

    code: str = CODE
    refusal: type[WrongCode] | type[LockedOut] | type[SessionGone] = WrongCode
    attempts: list[tuple[str, CallInfo]] = field(default_factory=list)
    admissions: asyncio.Queue[FakeAdmission] = field(default_factory=asyncio.Queue)
    all: list[FakeAdmission] = field(default_factory=list)

    async def admit(self, code: str, call: CallInfo) -> FakeAdmission:
        self.attempts.append((code, call))
        if code != self.code:
            raise self.refusal("not a live session's code")
        admission = FakeAdmission(call)
        self.all.append(admission)
        self.admissions.put_nowait(admission)
        return admission

    async def close(self) -> None:
        for admission in self.all:
            await admission.counsellor.close()
