"""One dial-in call, driven end to end: answer, dialogue, admission, bridge, hang-up.

The driver of `gateway.ivr.Dialogue`: it feeds the dialogue everything that happens
(keys from RTP or INFO, prompts played out, the broker's answer, the WebRTC leg coming
up or failing, the session ending, the phone going) through one queue, arms its
deadline, and runs the effects it returns. All waiting happens here; the dialogue
itself decides nothing by the clock of its own.

How a call ends, and whom we tell:
- the caller hangs up (BYE, CANCEL) or their RTP stops: the broker hears `hang_up`
  with the reason (and we send BYE for the RTP timeout);
- the broker ends the phone leg (`Admission.ended`): the caller hears "the session has
  ended", then BYE;
- the WebRTC leg fails or never comes up: the caller hears "technical problem", then
  BYE, and the broker hears `hang_up(media_failed)`;
- the gateway stops: BYE, and `hang_up(gateway_stopping)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack
from aiortc.sdp import SessionDescription
from aiortp import PortAllocator

from gateway.admission import Admission as AdmissionT
from gateway.admission import (
    AdmissionError,
    AdmissionErrorCode,
    Admitter,
    CallInfo,
    HangupReason,
)
from gateway.ivr import (
    Admitted,
    Answered,
    Bridged,
    BridgeFailed,
    CheckCode,
    Connect,
    Dialogue,
    Effect,
    EndReason,
    Event,
    HangUp,
    IvrConfig,
    Key,
    PhoneGone,
    Play,
    PromptDone,
    Refused,
    SessionEnded,
    State,
    StopPlaying,
    Tick,
)
from gateway.media import MediaConfig, PhoneLeg, codec_preferences, pcm_of
from gateway.sdp import MediaOffer, build_answer, keeping_codec
from gateway.sip import SipCall
from gateway.voice import Voice

log = logging.getLogger("gateway.call")


@dataclass(frozen=True, slots=True)
class CallTimers:
    ack_wait: float = 2.0  # after our 200 OK, wait this long for the ACK before greeting
    admit_timeout: float = 10.0  # the broker's answer to a code
    connect_timeout: float = 15.0  # the WebRTC leg, from admission to connected


@dataclass(frozen=True, slots=True)
class CallContext:
    """What every call of one gateway shares."""

    admitter: Admitter
    voice: Voice
    media: MediaConfig
    ivr: IvrConfig
    timers: CallTimers
    ports: PortAllocator


class DialInCall:
    def __init__(self, sip: SipCall, ctx: CallContext) -> None:
        self.sip = sip
        self.ctx = ctx
        self.ref = sip.call_ref
        self.dialogue = Dialogue(ctx.ivr)
        self.leg: PhoneLeg | None = None
        self.pc: RTCPeerConnection | None = None
        self.admission: AdmissionT | None = None
        self.answered_at = 0.0
        self.phone_reason: HangupReason | None = None  # why the phone side ended, if it did
        self.broker_ended: str | None = None
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._play_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sdp_version = 1
        self._loop = asyncio.get_running_loop()

    # -- the whole call ------------------------------------------------------------------

    async def run(self) -> None:
        try:
            if await self._answer():
                await self._converse()
        except Exception:
            log.exception("call %s: failed", self.ref)
            self.phone_reason = self.phone_reason or HangupReason.MEDIA_FAILED
        finally:
            await self._finish()

    async def _answer(self) -> bool:
        offer = self.sip.offer
        try:
            self.leg = await PhoneLeg.open(offer, self.ctx.media, self.ctx.ports,
                                           on_key=self._on_key, on_timeout=self._on_rtp_timeout)
        except (RuntimeError, OSError):
            log.warning("call %s: no RTP port free, refused", self.ref)
            self.sip.reject(503, "Service Unavailable")
            return False
        if self.sip.gone.done():  # CANCEL while we opened the media
            return False
        self.sip.on_key = self._on_key
        self.sip.on_reoffer = self._on_reoffer
        self.sip.answer(build_answer(offer, self.ctx.media.sdp_host, self.leg.local_port,
                                     self._sdp_version))
        self.answered_at = time.time()
        self.sip.gone.add_done_callback(self._on_sip_gone)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.ctx.timers.ack_wait):
                await self.sip.acked.wait()
        log.info("call %s: answered", self.ref)
        return not self.sip.gone.done()

    async def _converse(self) -> None:
        self._feed(Answered())
        while self.dialogue.state is not State.DONE:
            deadline = self.dialogue.next_deadline()
            event: Event
            try:
                async with asyncio.timeout_at(deadline):
                    event = await self._events.get()
            except TimeoutError:
                event = Tick()
            self._feed(event)

    def _feed(self, event: Event) -> None:
        for effect in self.dialogue.handle(event, self._loop.time()):
            self._run(effect)

    # -- effects -------------------------------------------------------------------------

    def _run(self, effect: Effect) -> None:
        if isinstance(effect, Play):
            self._stop_playing()
            self._play_task = self._spawn(self._play(effect))
        elif isinstance(effect, StopPlaying):
            self._stop_playing()
        elif isinstance(effect, CheckCode):
            self._spawn(self._check(effect))
        elif isinstance(effect, Connect):
            self._spawn(self._connect())
        elif isinstance(effect, HangUp):
            log.info("call %s: the dialogue hangs up: %s", self.ref, effect.reason)
            if effect.reason is EndReason.BRIDGE_FAILED:
                self.phone_reason = HangupReason.MEDIA_FAILED
            self.sip.hang_up()

    async def _play(self, play: Play) -> None:
        assert self.leg is not None
        pcm = pcm_of([self.ctx.voice.get(play.language, p) for p in play.prompts])
        await self.leg.play(pcm)
        self._events.put_nowait(PromptDone(play.play_id))

    def _stop_playing(self) -> None:
        if self._play_task is not None:
            self._play_task.cancel()
            self._play_task = None

    async def _check(self, check: CheckCode) -> None:
        info = CallInfo(call_ref=self.ref, caller_key=self.sip.caller_key,
                        language=check.language, codec=self.sip.offer.codec,
                        answered_at=self.answered_at)
        log.info("call %s: checking a code", self.ref)
        try:
            async with asyncio.timeout(self.ctx.timers.admit_timeout):
                admission = await self.ctx.admitter.admit(check.code, info)
        except AdmissionError as exc:
            log.info("call %s: code refused: %s", self.ref, exc.code)
            self._events.put_nowait(Refused(exc.code))
            return
        except Exception as exc:
            log.warning("call %s: the broker could not check the code: %s", self.ref,
                        type(exc).__name__)
            self._events.put_nowait(Refused(AdmissionErrorCode.UNAVAILABLE))
            return
        if self.dialogue.state is State.DONE:  # the caller left meanwhile
            await admission.hang_up(self.phone_reason or HangupReason.CALLER_HUNG_UP)
            return
        self.admission = admission
        log.info("call %s: admitted", self.ref)
        self._spawn(self._watch_session(admission))
        self._events.put_nowait(Admitted())

    async def _watch_session(self, admission: AdmissionT) -> None:
        reason = await admission.ended()
        self.broker_ended = reason
        log.info("call %s: the broker ended the phone leg: %s", self.ref, reason)
        self._events.put_nowait(SessionEnded(reason))

    async def _connect(self) -> None:
        assert self.leg is not None
        assert self.admission is not None
        leg, admission = self.leg, self.admission
        self.pc = pc = RTCPeerConnection(RTCConfiguration(iceServers=list(admission.ice_servers)))
        transceiver = pc.addTransceiver(leg.browser_track(), direction="sendrecv")
        transceiver.setCodecPreferences(codec_preferences(self.ctx.media.webrtc_audio,
                                                          self.sip.offer.codec))
        connected = asyncio.Event()

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio":
                leg.bridge_from(track)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState == "connected":
                connected.set()
            elif pc.connectionState in ("failed", "closed") and connected.is_set():
                self._events.put_nowait(BridgeFailed())

        try:
            async with asyncio.timeout(self.ctx.timers.connect_timeout):
                await admission.connect(pc)
                leg.use_webrtc_codec(negotiated_audio_codec(pc))
                await connected.wait()
        except Exception as exc:
            log.warning("call %s: the WebRTC leg did not come up: %s", self.ref,
                        type(exc).__name__)
            log.debug("call %s: the WebRTC leg's failure", self.ref, exc_info=True)
            self._events.put_nowait(BridgeFailed())
            return
        log.info("call %s: bridged", self.ref)
        self._events.put_nowait(Bridged())
        await leg.flowing_in.wait()
        await leg.flowing_out.wait()
        await admission.media_flowing()

    # -- what happens to us --------------------------------------------------------------

    def _on_key(self, key: str) -> None:
        self._events.put_nowait(Key(key))

    def _on_rtp_timeout(self) -> None:
        if self.phone_reason is None:
            self.phone_reason = HangupReason.RTP_TIMEOUT
        self.sip.hang_up()
        self._events.put_nowait(PhoneGone())

    def _on_sip_gone(self, gone: asyncio.Future[str]) -> None:
        if self.phone_reason is None and gone.result() in ("bye", "cancel", "no_ack"):
            self.phone_reason = HangupReason.CALLER_HUNG_UP
        self._events.put_nowait(PhoneGone())

    def _on_reoffer(self, offer: MediaOffer) -> str:
        assert self.leg is not None
        offer = keeping_codec(offer, self.leg.offer.payload_type)
        self.leg.update(offer)
        self._sdp_version += 1
        log.info("call %s: media updated (%s)", self.ref, offer.direction)
        return build_answer(offer, self.ctx.media.sdp_host, self.leg.local_port,
                            self._sdp_version)

    async def stop(self) -> None:
        """The gateway is stopping: end this call now."""
        if self.phone_reason is None:
            self.phone_reason = HangupReason.GATEWAY_STOPPING
        self.sip.hang_up()
        self._events.put_nowait(PhoneGone())

    # -- the end -------------------------------------------------------------------------

    async def _finish(self) -> None:
        self.sip.hang_up()  # no-op when the phone side already went
        self._stop_playing()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.admission is not None and self.broker_ended is None:
            reason = self.phone_reason or HangupReason.CALLER_HUNG_UP
            try:
                await self.admission.hang_up(reason)
            except Exception as exc:
                log.warning("call %s: could not tell the broker: %s", self.ref,
                            type(exc).__name__)
        if self.pc is not None:
            await self.pc.close()
        if self.leg is not None:
            log.info("call %s: ended; media %s", self.ref, self.leg.summary())
            await self.leg.close()
        # our BYE, if any, goes on being retransmitted until answered (SipServer owns it)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def negotiated_audio_codec(pc: RTCPeerConnection) -> str:
    """The WebRTC leg's audio codec: the first in the answer's audio section."""
    local, remote = pc.localDescription, pc.remoteDescription
    answer = remote if remote is not None and remote.type == "answer" else local
    for media in SessionDescription.parse(answer.sdp).media:
        if media.kind == "audio" and media.rtp.codecs:
            return str(media.rtp.codecs[0].mimeType)
    return ""
