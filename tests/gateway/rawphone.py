"""A telephone made of sockets, for what SIPp cannot do precisely: send the very same
INVITE three times, keys by SIP INFO, hold by re-INVITE, garbage beside a live call.

Deliberately dumb: it writes SIP by hand (so it can also write it wrong), answers the
gateway's BYE, and keeps everything it receives for the test to look at.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from dataclasses import dataclass, field

from aiosipua import SipMessage, SipRequest, SipResponse

from tests.gateway.audio import RtpListener, RtpStream, alaw_encode, rtp_listener, tone
from tests.gateway.conftest import HOTLINE

_ports = itertools.count()


class _Sip(asyncio.DatagramProtocol):
    def __init__(self, phone: RawPhone) -> None:
        self.phone = phone

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.phone.received(data)


@dataclass
class RawPhone:
    gateway_port: int
    host: str = "127.0.0.1"
    number: str = HOTLINE
    domain: str = "127.0.0.1"
    call_id: str = field(default_factory=lambda: secrets.token_hex(8) + "@raw")
    tag: str = field(default_factory=lambda: secrets.token_hex(4))
    cseq: int = 1
    to_tag: str = ""
    responses: asyncio.Queue[SipResponse] = field(default_factory=asyncio.Queue)
    requests: asyncio.Queue[SipRequest] = field(default_factory=asyncio.Queue)
    all_responses: list[SipResponse] = field(default_factory=list)
    rtp: RtpListener | None = None
    transport: asyncio.DatagramTransport | None = None
    remote_rtp: tuple[str, int] | None = None
    answer_bye: bool = True

    async def open(self) -> RawPhone:
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(
            lambda: _Sip(self), local_addr=(self.host, 0))
        self.rtp = await rtp_listener()
        return self

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def received(self, data: bytes) -> None:
        msg = SipMessage.parse(data)
        if isinstance(msg, SipResponse):
            self.all_responses.append(msg)
            self.responses.put_nowait(msg)
            return
        self.requests.put_nowait(msg)
        if msg.method == "BYE" and self.answer_bye:
            self.send(self.reply_to(msg, 200, "OK"))

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.sendto(data, ("127.0.0.1", self.gateway_port))

    def sdp(self, pt: int = 8, direction: str = "sendrecv", port: int | None = None) -> str:
        assert self.rtp is not None
        codec = {0: "PCMU", 8: "PCMA"}[pt]
        return (f"v=0\r\no=raw 1 {self.cseq} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
                f"t=0 0\r\nm=audio {port or self.rtp.port} RTP/AVP {pt} 101\r\n"
                f"a=rtpmap:{pt} {codec}/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
                f"a=fmtp:101 0-16\r\na=ptime:20\r\na={direction}\r\n")

    def request(self, method: str, body: str = "", content_type: str = "application/sdp",
                branch: str | None = None, uri: str | None = None, cseq: int | None = None,
                extra: str = "") -> bytes:
        uri = uri or f"sip:{self.number}@{self.domain}:{self.gateway_port}"
        to = f"<sip:{self.number}@{self.domain}>" + (f";tag={self.to_tag}" if self.to_tag else "")
        branch = branch or "z9hG4bK" + secrets.token_hex(6)
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch={branch}",
            f"From: <sip:+4915112345678@127.0.0.1>;tag={self.tag}",
            f"To: {to}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq if cseq is None else cseq} {method}",
            f"Contact: <sip:raw@127.0.0.1:{self.port}>",
            "Max-Forwards: 70",
        ]
        if extra:
            lines.append(extra)
        if body:
            lines.append(f"Content-Type: {content_type}")
        lines += [f"Content-Length: {len(body.encode())}", "", body]
        return "\r\n".join(lines).encode()

    def reply_to(self, request: SipRequest, status: int, reason: str) -> bytes:
        head = [f"SIP/2.0 {status} {reason}"]
        for via in request.headers.get("via"):
            head.append(f"Via: {via}")
        for name in ("From", "To", "Call-ID", "CSeq"):
            head.append(f"{name}: {request.headers.get_first(name)}")
        return "\r\n".join([*head, "Content-Length: 0", "", ""]).encode()

    async def final(self, timeout: float = 5.0) -> SipResponse:
        """The next final response of this phone's current Call-ID (others are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                resp = await self.responses.get()
                if resp.status_code >= 200 and resp.call_id == self.call_id:
                    return resp

    async def call(self, pt: int = 8) -> SipResponse:
        """INVITE, the final answer, ACK; returns the final answer."""
        self.send(self.request("INVITE", self.sdp(pt)))
        resp = await self.final()
        if resp.status_code == 200:
            to = resp.to_addr
            assert to is not None and to.tag
            self.to_tag = to.tag
            from aiosipua import parse_sdp
            sdp = parse_sdp(resp.text)
            self.remote_rtp = sdp.rtp_address
            self.send(self.request("ACK", cseq=self.cseq))
        return resp

    async def bye(self) -> SipResponse:
        self.cseq += 1
        self.send(self.request("BYE"))
        return await self.final()

    async def info(self, key: str, kind: str = "application/dtmf-relay") -> SipResponse:
        self.cseq += 1
        body = f"Signal={key}\r\nDuration=160\r\n" if kind.endswith("relay") else key
        self.send(self.request("INFO", body, content_type=kind))
        return await self.final()

    async def reinvite(self, direction: str, pt: int = 8) -> SipResponse:
        self.cseq += 1
        self.send(self.request("INVITE", self.sdp(pt, direction)))
        resp = await self.final()
        self.send(self.request("ACK", cseq=self.cseq))
        return resp

    async def stream(self, stream: RtpStream) -> None:
        """Send RTP packets at their times, from the phone's RTP port."""
        assert self.rtp is not None and self.rtp.transport is not None and self.remote_rtp
        loop = asyncio.get_running_loop()
        start = loop.time()
        for at, packet in stream.packets:
            delay = start + at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.rtp.transport.sendto(packet, self.remote_rtp)

    async def talk(self, seconds: float, freq: float = 1000.0, pt: int = 8,
                   ssrc: int = 0x5151) -> None:
        samples = tone(freq, seconds)
        frames = [alaw_encode(samples[i:i + 160]) for i in range(0, samples.size, 160)]
        await self.stream(RtpStream(pt=pt, ssrc=ssrc).audio(frames))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        if self.rtp is not None:
            self.rtp.close()
