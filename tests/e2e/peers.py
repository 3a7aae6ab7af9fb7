"""aiortc peers that speak our signalling protocol: the counsellor offers, the customer answers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import AudioStreamTrack, MediaStreamTrack
from aiortc.sdp import candidate_from_sdp
from av import AudioFrame

from tests.conftest import Peer


def peer_connection(ice_servers: list[dict[str, Any]], *, relay_only: bool = False
                    ) -> RTCPeerConnection:
    """Always an explicit ICE list: aiortc would otherwise ask a public STUN server.
    `relay_only` gathers relayed candidates only (no host, no server-reflexive)."""
    servers = [RTCIceServer(**s) for s in ice_servers]
    policy = RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL
    return RTCPeerConnection(RTCConfiguration(iceServers=servers, iceTransportPolicy=policy))


@dataclass
class MediaPeer:
    """One side of a call: its signalling client and its peer connection."""

    signalling: Peer
    session: str
    pc: RTCPeerConnection | None = None
    channel: RTCDataChannel | None = None
    messages: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    tracks: asyncio.Queue[MediaStreamTrack] = field(default_factory=asyncio.Queue)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    relay_only: bool = False

    def _watch(self, pc: RTCPeerConnection) -> None:
        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState == "connected":
                self.connected.set()

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self.tracks.put_nowait(track)

        @pc.on("datachannel")
        def on_channel(channel: RTCDataChannel) -> None:
            self.channel = channel
            channel.on("message", self.messages.put_nowait)

    async def send_signal(self, payload: dict[str, Any]) -> None:
        if self.signalling.namespace == "/staff":
            payload = {"session": self.session, **payload}
        ack = await self.signalling.call("signal", payload)
        assert ack["ok"], ack

    async def offer(self, start: dict[str, Any]) -> None:
        self.pc = pc = peer_connection(start["ice_servers"], relay_only=self.relay_only)
        self._watch(pc)
        pc.addTrack(AudioStreamTrack())
        self.channel = pc.createDataChannel("chat")
        self.channel.on("message", self.messages.put_nowait)
        await pc.setLocalDescription(await pc.createOffer())
        await self.send_signal({"type": "offer", "sdp": pc.localDescription.sdp})

    async def answer(self, start: dict[str, Any], offer: dict[str, Any]) -> None:
        self.pc = pc = peer_connection(start["ice_servers"], relay_only=self.relay_only)
        self._watch(pc)
        await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        pc.addTrack(AudioStreamTrack())
        await pc.setLocalDescription(await pc.createAnswer())
        await self.send_signal({"type": "answer", "sdp": pc.localDescription.sdp})

    async def accept_answer(self, answer: dict[str, Any]) -> None:
        assert self.pc is not None
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))

    async def add_candidate(self, message: dict[str, Any]) -> None:
        assert self.pc is not None
        cand = message["candidate"]
        if cand is None:
            return
        ice = candidate_from_sdp(cand["candidate"].removeprefix("candidate:"))
        ice.sdpMid, ice.sdpMLineIndex = cand["sdpMid"], cand["sdpMLineIndex"]
        await self.pc.addIceCandidate(ice)

    async def close(self) -> None:
        if self.pc is not None:
            await self.pc.close()


async def receives_audio(media: MediaPeer, timeout: float = 5.0) -> None:
    """The peer got the other side's audio track and decoded a frame of it."""
    track = await asyncio.wait_for(media.tracks.get(), timeout)
    assert track.kind == "audio"
    frame = await asyncio.wait_for(track.recv(), timeout)
    assert isinstance(frame, AudioFrame) and frame.samples > 0


async def channel_open(peer: MediaPeer, timeout: float = 5.0) -> RTCDataChannel:
    """The peer's data channel, once it is open."""
    async def opened() -> None:
        while peer.channel is None or peer.channel.readyState != "open":
            await asyncio.sleep(0.01)

    await asyncio.wait_for(opened(), timeout)
    assert peer.channel is not None
    return peer.channel
