"""aiosipua's UDP and TCP transports with our guard in front of its parser.

aiosipua parses whatever arrives and logs a warning with a traceback and the sender's
address for each datagram it cannot parse; it keeps a body shorter than its
Content-Length; it answers a retransmitted INVITE as a new call (two 200 OKs, two media
sessions). Here every message first passes `gateway.guard` (source address, size),
then a strict check (Content-Length, request line, mandatory headers, Via branch,
CSeq) before aiosipua sees it; what fails is counted, never logged one by one. A
retransmitted INVITE (same top Via branch and sent-by, RFC 3261 §17.2.3) is absorbed
here: the last response sent for it goes out again, and the user agent never sees it.

TCP: connections from outside the trunk list are closed at accept; a message larger
than the limit or a connection idle too long is dropped; responses go back on the
connection the request came on (the top Via is stamped with its source address and
port, RFC 3581, which is where aiosipua routes responses).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from aiosipua import (
    SipMessage,
    SipRequest,
    SipResponse,
    TcpSipTransport,
    UdpSipTransport,
    parse_via,
    stringify_via,
)
from aiosipua.utils import generate_tag

from gateway.guard import Guard

log = logging.getLogger("gateway.sip.transport")

_METHOD = re.compile(r"^[A-Z]{2,20}$")
_REQUIRED = ("via", "from", "to", "call-id", "cseq")
_CONTENT_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*(.*)$", re.I | re.M)
RETRANSMIT_WINDOW = 32.0  # 64*T1: how long an INVITE's last response is kept


class Refused(ValueError):
    """A message refused before parsing or by the strict check; `reason` is counted."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_length(data: bytes, max_bytes: int) -> bytes:
    """The message with its body cut to Content-Length; refuses a body shorter than
    declared (a truncated datagram), an absurd or malformed Content-Length."""
    head_end = data.find(b"\r\n\r\n")
    sep = 4
    if head_end < 0:
        head_end, sep = data.find(b"\n\n"), 2
    if head_end < 0:
        return data  # no body at all
    head, body = data[:head_end], data[head_end + sep:]
    lengths = _CONTENT_LENGTH.findall(head)
    if not lengths:
        return data
    if len(lengths) > 1:
        raise Refused("content_length")
    raw = lengths[0].strip()
    if not raw.isdigit() or len(raw) > 7 or int(raw) > max_bytes:
        raise Refused("content_length")
    declared = int(raw)
    if declared > len(body):
        raise Refused("truncated")
    return data[:head_end + sep + declared]


def parse_strict(data: bytes) -> SipRequest | SipResponse:
    """aiosipua's parser, plus the checks a request must pass before a handler sees it."""
    try:
        msg = SipMessage.parse(data)
    except Exception:
        raise Refused("unparseable") from None
    if isinstance(msg, SipResponse):
        if not 100 <= msg.status_code <= 699:
            raise Refused("bad_status")
        return msg
    if not _METHOD.match(msg.method) or not msg.uri.lower().startswith(("sip:", "sips:", "tel:")):
        raise Refused("bad_request_line")
    if any(not msg.headers.get(name) for name in _REQUIRED):
        raise Refused("missing_header")
    try:
        via = msg.via[0]
        cseq = msg.cseq
        from_addr, to_addr = msg.from_addr, msg.to_addr
    except Exception:
        raise Refused("bad_header") from None
    if cseq is None or cseq.method.upper() != msg.method or not 0 <= cseq.seq < 2**31:
        raise Refused("bad_cseq")
    if not via.branch or from_addr is None or to_addr is None or not from_addr.tag:
        raise Refused("bad_header")
    return msg


def make_response(request: SipRequest, status: int, reason: str,
                  headers: dict[str, str] | None = None) -> SipResponse:
    """A response outside any dialog (refusals): the request's Via, From, To with a tag
    of ours, Call-ID and CSeq."""
    resp = SipResponse(status_code=status, reason_phrase=reason)
    for via in request.headers.get("via"):
        resp.headers.append("Via", via)
    for name in ("from", "call-id", "cseq"):
        value = request.headers.get_first(name)
        if value is not None:
            resp.headers.set_single(name.title(), value)
    to = request.headers.get_first("to")
    if to is not None:
        resp.headers.set_single("To", to if ";tag=" in to else f"{to};tag={generate_tag()}")
    for name, value in (headers or {}).items():
        resp.headers.set_single(name, value)
    return resp


def stamp_via(request: SipRequest, addr: tuple[str, int], always: bool) -> None:
    """Record the source in the top Via (RFC 3261 §18.2.1, RFC 3581): `received` when
    the host differs, `rport` when asked for, and both always on TCP, so responses find
    the connection the request came on."""
    vias = request.headers.get("via")
    via = parse_via(vias[0])
    asked = "rport" in via.params and not via.params["rport"]
    if not (always or asked or via.host != addr[0]):
        return
    via.params["received"] = addr[0]
    if always or asked:
        via.params["rport"] = str(addr[1])
    rest = vias[1:]
    request.headers.remove("Via")
    request.headers.append("Via", stringify_via(via))
    for v in rest:
        request.headers.append("Via", v)


def transaction_key(request: SipRequest) -> tuple[str, str, str]:
    """The server transaction an INVITE belongs to (RFC 3261 §17.2.3)."""
    via = request.via[0]
    return (via.branch or "", f"{via.host}:{via.port or 5060}", request.method)


class _Guarded:
    """What the UDP and TCP transports share: the pipeline in front of aiosipua."""

    guard: Guard
    reliable_stamp: bool = False
    on_message: Any

    def _setup_guard(self, guard: Guard) -> None:
        self.guard = guard
        self.last_responses: OrderedDict[tuple[str, str, str], tuple[float, SipResponse,
                                                                        tuple[str, int]]] = (
            OrderedDict())
        self.absorbed = 0  # retransmitted INVITEs answered from memory
        self._traceback_logged_at = -1e9
        # last touches on what goes out (the user agent sets it: Record-Route, Contact)
        self.outgoing: Callable[[SipRequest | SipResponse, Any], None] | None = None

    def _dispatch(self, data: bytes, addr: tuple[str, int]) -> None:
        guard = self.guard
        try:
            if not guard.allows_source(addr[0]) or not guard.allows_size(len(data)):
                return
            if not data.strip(b"\r\n\t "):
                return  # keep-alive
            msg = parse_strict(check_length(data, guard.limits.max_message_bytes))
        except Refused as exc:
            guard.refuse(exc.reason)
            self._answer_refusal(data, addr, exc.reason)
            return
        finally:
            self._report()
        if isinstance(msg, SipRequest):
            stamp_via(msg, addr, self.reliable_stamp)
            if msg.method == "INVITE" and self._absorb(msg):
                return
        try:
            if self.on_message is not None:
                self.on_message(msg, addr)
        except Exception:
            guard.refuse("handler_error")
            now = time.monotonic()
            if now - self._traceback_logged_at >= guard.limits.report_interval:
                self._traceback_logged_at = now
                log.exception("a SIP %s could not be handled (one traceback per %.0f s)",
                              getattr(msg, "method", "response"), guard.limits.report_interval)

    def _answer_refusal(self, data: bytes, addr: tuple[str, int], reason: str) -> None:
        """A 400 when the request is sound enough to route a response (its Via parses),
        nothing otherwise."""
        if reason in ("foreign_source", "oversized", "unparseable", "truncated"):
            return
        try:
            msg = SipMessage.parse(data[: self.guard.limits.max_message_bytes])
            if not isinstance(msg, SipRequest) or msg.method == "ACK" or not msg.via:
                return
            stamp_via(msg, addr, self.reliable_stamp)
            resp = make_response(msg, 400, "Bad Request")
            self.send(resp, self._reply_address(resp))
        except Exception:  # noqa: S110 - no answer is a fine answer to garbage
            pass

    def _reply_address(self, resp: SipResponse) -> tuple[str, int]:
        via = resp.via[0]
        port = via.rport if via.rport else None
        return (via.received or via.host, int(port) if port else (via.port or 5060))

    def _absorb(self, request: SipRequest) -> bool:
        """A retransmitted INVITE: send its last response again, and stop here."""
        entry = self.last_responses.get(transaction_key(request))
        if entry is None:
            return False
        _, resp, dest = entry
        self.absorbed += 1
        self.send(resp, dest)
        return True

    def remember(self, message: SipRequest | SipResponse, addr: tuple[str, int]) -> None:
        if not isinstance(message, SipResponse) or message.cseq is None \
                or message.cseq.method != "INVITE" or not message.via:
            return
        via = message.via[0]
        key = (via.branch or "", f"{via.host}:{via.port or 5060}", "INVITE")
        now = time.monotonic()
        self.last_responses[key] = (now, message, addr)
        self.last_responses.move_to_end(key)
        while self.last_responses:
            first = next(iter(self.last_responses.values()))
            if now - first[0] < RETRANSMIT_WINDOW and len(self.last_responses) <= 50_000:
                break
            self.last_responses.popitem(last=False)

    def _report(self) -> None:
        counts = self.guard.report(time.monotonic())
        if counts:
            log.warning("SIP input refused (counts since the last report): %s",
                        ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))

    def send(self, message: SipRequest | SipResponse, addr: tuple[str, int]) -> None:
        raise NotImplementedError


class _Datagrams(asyncio.DatagramProtocol):
    """aiosipua's own protocol asserts `isinstance(transport, asyncio.DatagramTransport)`,
    which Python 3.11's selector transport is not: an error logged at every start."""

    def __init__(self, owner: GuardedUdpTransport) -> None:
        self._owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self._owner._dispatch(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        self._owner.guard.refuse("udp_error")  # e.g. ICMP port unreachable from a peer


class GuardedUdpTransport(_Guarded, UdpSipTransport):
    def __init__(self, local_addr: tuple[str, int], guard: Guard) -> None:
        UdpSipTransport.__init__(self, local_addr=local_addr)
        self._setup_guard(guard)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self),
                                                           local_addr=self.local_addr)
        self._udp_transport = transport
        self.local_addr = transport.get_extra_info("sockname")[:2]

    def send(self, message: SipRequest | SipResponse, addr: tuple[str, int]) -> None:
        if self.outgoing is not None:
            self.outgoing(message, self)
        self.remember(message, addr)
        UdpSipTransport.send(self, message, addr)


class GuardedTcpTransport(_Guarded, TcpSipTransport):
    reliable_stamp = True

    def __init__(self, local_addr: tuple[str, int], guard: Guard) -> None:
        TcpSipTransport.__init__(self, local_addr=local_addr)
        self._setup_guard(guard)
        self.unroutable = 0  # responses or requests for a connection that is gone

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle_connection, host=self.local_addr[0], port=self.local_addr[1],
            limit=self.guard.limits.max_message_bytes)
        if self.local_addr[1] == 0:
            self.local_addr = self._server.sockets[0].getsockname()[:2]

    def send(self, message: SipRequest | SipResponse, addr: tuple[str, int]) -> None:
        if self.outgoing is not None:
            self.outgoing(message, self)
        self.remember(message, addr)
        try:
            TcpSipTransport.send(self, message, addr)
        except RuntimeError:  # the peer closed its connection
            self.unroutable += 1

    async def _handle_connection(self, reader: asyncio.StreamReader,
                                 writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if not peer:
            writer.close()
            return
        addr = (str(peer[0]), int(peer[1]))
        limits = self.guard.limits
        allowed = self.guard.allows_source(addr[0])
        if allowed and len(self._connections) >= limits.max_tcp_connections:
            allowed = self.guard.refuse("tcp_connections")
        if not allowed:
            self._report()
            writer.close()
            return
        self._connections[addr] = (reader, writer)
        try:
            while True:
                async with asyncio.timeout(limits.tcp_idle_timeout):
                    data = await self._read_message(reader, writer)
                if data is None:
                    break
                self._dispatch(data, addr)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ConnectionError, ValueError):
            pass
        finally:
            self._connections.pop(addr, None)
            writer.close()
            with contextlib.suppress(ConnectionError, TimeoutError):
                async with asyncio.timeout(2):
                    await writer.wait_closed()

    async def _read_message(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> bytes | None:
        """One message by Content-Length framing; None at EOF. Keep-alives (RFC 5626
        double CRLF) get their single CRLF pong."""
        max_bytes = self.guard.limits.max_message_bytes
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if exc.partial.strip():
                    self.guard.refuse("truncated")
                return None
            except asyncio.LimitOverrunError:
                self.guard.refuse("oversized")
                return None
            if head.strip(b"\r\n"):
                break
            writer.write(b"\r\n")
        found = _CONTENT_LENGTH.findall(head)
        raw = found[0].strip() if found else b"0"
        if len(found) > 1 or not raw.isdigit() or int(raw) + len(head) > max_bytes:
            self.guard.refuse("oversized" if raw.isdigit() else "content_length")
            return None
        body = await reader.readexactly(int(raw)) if int(raw) else b""
        return head + body
