"""The phone leg's SDP: what we accept in an offer, and our answer.

aiosipua parses and negotiates; around it we refuse what it would take silently: a
media port out of range (99999 killed media without a word), a host name instead of an
address (no DNS lookups on a caller's say-so), multicast, SRTP or no G.711 at all. The
answer carries the offer's own telephone-event payload type (aiosipua would put its
101 there, and keys sent with the offered type would be lost).
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, replace

from aiosipua import SdpMessage, SdpNegotiationError, negotiate_sdp, parse_sdp, serialize_sdp

CODECS = {8: "PCMA", 0: "PCMU"}  # what the phone leg speaks; the offer's order decides
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")


class BadOffer(ValueError):
    """An SDP offer we cannot take; `status` is the SIP answer (400 or 488)."""

    def __init__(self, code: str, message: str, status: int = 488) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.status = status


@dataclass(frozen=True, slots=True)
class MediaOffer:
    """The phone's media as offered: where to send, in what, and which way."""

    address: str  # an IP literal
    port: int
    payload_type: int  # 8 (PCMA) or 0 (PCMU)
    event_payload_type: int | None  # telephone-event, as offered (None: keys by INFO only)
    direction: str  # as offered: sendrecv, sendonly (we only receive), recvonly, inactive
    sdp: SdpMessage
    offered: tuple[int, ...] = ()  # every G.711 payload type offered, in the offer's order

    @property
    def codec(self) -> str:
        return CODECS[self.payload_type]

    @property
    def we_send(self) -> bool:
        """Whether the phone wants media from us (not on hold, not inactive)."""
        return self.direction in ("sendrecv", "recvonly") and not self.on_hold_address

    @property
    def we_receive(self) -> bool:
        return self.direction in ("sendrecv", "sendonly") and not self.on_hold_address

    @property
    def on_hold(self) -> bool:
        """Any kind of hold: a phone on hold may send music, or nothing at all."""
        return self.direction != "sendrecv" or self.on_hold_address

    @property
    def on_hold_address(self) -> bool:
        """c=0.0.0.0: the old (RFC 2543) way of putting a call on hold."""
        return ipaddress.ip_address(self.address).is_unspecified


def parse_offer(text: str) -> MediaOffer:
    try:
        sdp = parse_sdp(text)
    except (ValueError, IndexError) as exc:
        raise BadOffer("malformed_sdp", "the SDP does not parse", 400) from exc
    audio = sdp.audio
    if audio is None:
        raise BadOffer("no_audio", "the offer has no audio stream")
    if not 0 < audio.port <= 65535:
        raise BadOffer("bad_port", f"audio port {audio.port} is out of range")
    if audio.proto.upper() not in ("RTP/AVP", "RTP/AVPF"):
        raise BadOffer("bad_profile", f"media profile {audio.proto} is not plain RTP")
    conn = audio.connection or sdp.connection
    if conn is None:
        raise BadOffer("no_address", "the offer has no connection address")
    try:
        address = ipaddress.ip_address(conn.address)
    except ValueError:
        raise BadOffer("bad_address", "the connection address is not an IP address") from None
    if address.is_multicast:
        raise BadOffer("bad_address", "multicast media is not supported")
    offered = tuple(c.payload_type for c in audio.codecs if c.payload_type in CODECS)
    if not offered:
        raise BadOffer("no_codec", "the offer has neither PCMA nor PCMU")
    events = [c.payload_type for c in audio.codecs
              if c.encoding_name.lower() == "telephone-event" and c.clock_rate == 8000
              and 96 <= c.payload_type <= 127]
    return MediaOffer(address=str(address), port=audio.port, payload_type=offered[0],
                      event_payload_type=events[0] if events else None,
                      direction=audio.direction, sdp=sdp, offered=offered)


def keeping_codec(offer: MediaOffer, payload_type: int) -> MediaOffer:
    """A re-offer answered with the codec the call already uses, when it is offered
    (a phone may reorder its codecs on hold; the call's codec does not change)."""
    if payload_type == offer.payload_type or payload_type not in offer.offered:
        return offer
    return replace(offer, payload_type=payload_type)


def build_answer(offer: MediaOffer, host: str, port: int, version: int,
                 session_id: str | None = None) -> str:
    """Our answer: the chosen codec, the offered telephone-event type, our address."""
    try:
        answer, chosen = negotiate_sdp(
            offer.sdp, local_ip=host, rtp_port=port, supported_codecs=[offer.payload_type],
            dtmf_payload_type=offer.event_payload_type or 0,
            session_id=session_id or str(int(time.time())), session_name="-")
    except SdpNegotiationError as exc:
        raise BadOffer("no_codec", str(exc)) from exc
    answer.origin.session_version = str(version)
    assert chosen == offer.payload_type
    return serialize_sdp(answer)
