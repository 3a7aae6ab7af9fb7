"""The gateway's SIP user agent for dial-in: aiosipua underneath, our rules on top.

A `SipServer` listens on UDP and TCP (one aiosipua `SipUAS` per transport, behind the
guarded transports of `gateway.siptransport`) and hands each acceptable new call to
the application as a `SipCall`. What it decides before aiosipua sees a request:

- Methods: INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE and PRACK. Other SIP methods
  get 405 with our Allow (REFER too: we never transfer a call anywhere), anything
  else 501.
- Never a relay: a new INVITE must be addressed to us (a host in `domains`, 403
  otherwise) and, when hotline numbers are configured, to one of them (404). The
  gateway forwards nothing, whatever a Route header says.
- A token bucket for new INVITEs (503 and Retry-After), a ceiling on calls (503, so a
  proxy in front tries another gateway), and an SDP offer we can take (488/400, see
  `gateway.sdp`) before a call exists.
- INFO carries keys (application/dtmf-relay, application/dtmf) within a dialog.

And what it adds around aiosipua's gaps: Record-Route copied into our responses (a
proxy in front stays in the path), Contact with `transport=tcp` on TCP, BYE
retransmitted over UDP until answered, calls dropped from aiosipua's table when they
end (it keeps rejected or locally ended calls for ever), keys from INFO.

Nothing here logs a number or an address: calls are named by `call_ref`, a short hash
of the Call-ID; the caller's number reaches the broker only as a keyed hash.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiosipua import (
    IncomingCall,
    SipRequest,
    SipResponse,
    SipUAS,
    parse_sdp,
    parse_uri,
)
from aiosipua.dialog import DialogState, dialog_matches, remote_cseq_valid
from aiosipua.utils import format_addr

from gateway.dtmf import digit_from_info
from gateway.guard import Guard, SipLimits, retry_after
from gateway.sdp import BadOffer, MediaOffer, parse_offer
from gateway.siptransport import GuardedTcpTransport, GuardedUdpTransport, make_response

log = logging.getLogger("gateway.sip")

ALLOWED = ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "UPDATE", "PRACK")
KNOWN_NOT_ALLOWED = frozenset({"REGISTER", "SUBSCRIBE", "NOTIFY", "PUBLISH", "MESSAGE",
                               "REFER"})
ALLOW_HEADER = ", ".join(ALLOWED)
T1, T2 = 0.5, 4.0


@dataclass(frozen=True, slots=True)
class SipConfig:
    host: str = "127.0.0.1"
    udp_port: int = 5060  # 0: any free port (tests)
    tcp_port: int | None = 5060  # None: no TCP
    advertised_host: str | None = None  # the address in Via and Contact, when it differs
    domains: tuple[str, ...] = ()  # request-URI hosts that are us (besides host, advertised)
    numbers: tuple[str, ...] = ()  # request-URI users we answer (hotline numbers); () = any
    limits: SipLimits = field(default_factory=SipLimits)
    user_agent: str = "counselling-broker-gateway"
    caller_key_secret: bytes = b""  # keys the caller hash the broker sees; empty: per process


class SipCall:
    """One dial-in dialog, as the application sees it."""

    def __init__(self, server: SipServer, incoming: IncomingCall, offer: MediaOffer,
                 transport: GuardedUdpTransport | GuardedTcpTransport) -> None:
        self._server = server
        self.incoming = incoming
        self.offer = offer
        self.transport = transport
        self.call_id = incoming.call_id
        self.call_ref = call_ref(self.call_id)
        self.caller_key = server.caller_key(incoming)
        self.acked = asyncio.Event()
        self.gone: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.on_key: Callable[[str], None] | None = None
        # a re-INVITE's offer -> our answer SDP (raise BadOffer to refuse it)
        self.on_reoffer: Callable[[MediaOffer], str] | None = None
        self._bye_task: asyncio.Task[None] | None = None
        self._bye_answered = asyncio.Event()

    @property
    def answered(self) -> bool:
        return self.incoming.dialog.state is DialogState.CONFIRMED

    def answer(self, sdp: str) -> None:
        self.incoming.accept(parse_sdp(sdp))

    def reject(self, status: int, reason: str = "") -> None:
        if not self.answered and not self.gone.done():
            self.incoming.reject(status, reason)
        self._end("rejected")

    def hang_up(self) -> None:
        """BYE (retransmitted over UDP until answered), once; or 480 before the answer."""
        if self.gone.done():
            return
        if not self.answered:
            self.reject(480, "Temporarily Unavailable")
            return
        self.incoming._stop_retransmissions()  # no more 200 OK after our BYE
        dialog = self.incoming.dialog
        host, port = self._server.signalling_address(self.transport)
        bye = dialog.create_request(
            "BYE", via_host=host, via_port=port,
            via_transport="TCP" if isinstance(self.transport, GuardedTcpTransport) else "UDP")
        dialog.terminate()
        self._end("hung_up")
        self.transport.send(bye, self.incoming.source_addr)
        if isinstance(self.transport, GuardedUdpTransport):
            self._bye_task = asyncio.create_task(self._retransmit(bye))
            self._server.pending_byes[self.call_id] = self

    async def _retransmit(self, bye: SipRequest) -> None:
        interval, waited = T1, 0.0
        try:
            while waited < 32 * T1:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(interval):
                        await self._bye_answered.wait()
                    return
                waited += interval
                self.transport.send(bye, self.incoming.source_addr)
                interval = min(2 * interval, T2)
        finally:
            self._server.pending_byes.pop(self.call_id, None)

    def bye_answered(self) -> None:
        self._bye_answered.set()

    def _end(self, reason: str) -> None:
        if not self.gone.done():
            self.gone.set_result(reason)
        self._server.forget(self)

    async def close(self) -> None:
        if self._bye_task is not None:
            self._bye_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._bye_task


def call_ref(call_id: str) -> str:
    """A short, log-safe name for a call (Call-IDs may carry addresses)."""
    return hashlib.sha256(call_id.encode()).hexdigest()[:10]


class SipServer:
    def __init__(self, config: SipConfig, on_call: Callable[[SipCall], None]) -> None:
        self.config = config
        self.on_call = on_call
        self.guard = Guard(config.limits)
        self.calls: dict[str, SipCall] = {}
        self.pending_byes: dict[str, SipCall] = {}
        self._key = config.caller_key_secret or secrets.token_bytes(32)
        self._offers: dict[str, MediaOffer] = {}  # checked offers of INVITEs passed on
        self._record_routes: dict[str, list[str]] = {}
        self._uases: list[tuple[SipUAS, GuardedUdpTransport | GuardedTcpTransport]] = []
        self.udp: GuardedUdpTransport | None = None
        self.tcp: GuardedTcpTransport | None = None
        self._domains = {d.lower().strip("[]") for d in
                         (*config.domains, config.host, config.advertised_host or "") if d}

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        c = self.config
        self.udp = GuardedUdpTransport((c.host, c.udp_port), self.guard)
        transports: list[GuardedUdpTransport | GuardedTcpTransport] = [self.udp]
        if c.tcp_port is not None:
            self.tcp = GuardedTcpTransport((c.host, c.tcp_port), self.guard)
            transports.append(self.tcp)
        for transport in transports:
            advertised = (c.advertised_host, 0) if c.advertised_host else None
            uas = SipUAS(transport, user_agent=c.user_agent, advertised_addr=advertised)
            self._wire(uas, transport)
            await uas.start()
            if advertised is not None:
                uas.advertised_addr = (advertised[0], transport.local_addr[1])
            transport.on_message = self._filter_for(uas, transport)
            transport.outgoing = self._outgoing
            self._uases.append((uas, transport))

    async def stop(self) -> None:
        for call in list(self.calls.values()):
            call.hang_up()
        for call in list(self.pending_byes.values()):
            await call.close()
        for uas, _ in self._uases:
            await uas.stop()
        self._uases.clear()

    @property
    def udp_port(self) -> int:
        assert self.udp is not None
        return int(self.udp.local_addr[1])

    @property
    def tcp_port(self) -> int:
        assert self.tcp is not None
        return int(self.tcp.local_addr[1])

    def signalling_address(self, transport: GuardedUdpTransport | GuardedTcpTransport
                           ) -> tuple[str, int]:
        return (self.config.advertised_host or transport.local_addr[0],
                int(transport.local_addr[1]))

    def caller_key(self, incoming: IncomingCall) -> str:
        """A keyed hash of the caller's number (empty when withheld)."""
        try:
            user = parse_uri(incoming.caller).user or ""
        except (ValueError, IndexError):
            user = ""
        if not user or user.lower() in ("anonymous", "unknown", "restricted"):
            return ""
        digits = "".join(ch for ch in user if ch.isdigit() or ch == "+")
        return hmac.new(self._key, digits.encode(), hashlib.sha256).hexdigest()[:24]

    def forget(self, call: SipCall) -> None:
        """Drop a finished call here and from aiosipua's table (which would keep it)."""
        self.calls.pop(call.call_id, None)
        self._offers.pop(call.call_id, None)
        self._record_routes.pop(call.call_id, None)
        for uas, _ in self._uases:
            if uas._calls.get(call.call_id) is call.incoming:
                uas._calls.pop(call.call_id, None)
                uas._remove_invite_transaction(call.incoming.invite)

    # -- aiosipua's callbacks ------------------------------------------------------------

    def _wire(self, uas: SipUAS, transport: GuardedUdpTransport | GuardedTcpTransport) -> None:
        def on_invite(incoming: IncomingCall) -> None:
            offer = self._offers.get(incoming.call_id)
            if offer is None:  # cannot happen: the filter checked the offer first
                incoming.reject(500, "Server Internal Error")
                return
            call = SipCall(self, incoming, offer, transport)
            self.calls[call.call_id] = call
            log.info("call %s: incoming over %s (%s)", call.call_ref,
                     "TCP" if transport is self.tcp else "UDP", offer.codec)
            self.on_call(call)

        def on_bye(incoming: IncomingCall, request: SipRequest) -> None:
            call = self.calls.get(incoming.call_id)
            if call is not None:
                call._end("bye")

        def on_cancel(request: SipRequest, addr: tuple[str, int]) -> None:
            call = self.calls.get(request.call_id or "")
            if call is not None:
                call._end("cancel")

        def on_ack_timeout(incoming: IncomingCall) -> None:
            call = self.calls.get(incoming.call_id)
            if call is not None:
                call._end("no_ack")

        def on_reinvite(incoming: IncomingCall) -> None:
            call = self.calls.get(incoming.call_id)
            offer = self._offers.pop(incoming.call_id + "/re", None)
            if call is None or offer is None or call.on_reoffer is None:
                incoming._send_response(488, "Not Acceptable Here")
                return
            try:
                answer = call.on_reoffer(offer)
            except (BadOffer, ValueError):
                incoming._send_response(488, "Not Acceptable Here")
                return
            call.offer = offer
            incoming.accept(parse_sdp(answer))

        def on_options(request: SipRequest, addr: tuple[str, int]) -> None:
            self._reply(transport, request, 200, "OK",
                        {"Allow": ALLOW_HEADER, "Accept": "application/sdp"})

        uas.on_invite = on_invite
        uas.on_bye = on_bye
        uas.on_cancel = on_cancel
        uas.on_ack_timeout = on_ack_timeout
        uas.on_reinvite = on_reinvite
        uas.on_options = on_options

    # -- our rules in front of aiosipua --------------------------------------------------

    def _filter_for(self, uas: SipUAS, transport: GuardedUdpTransport | GuardedTcpTransport
                    ) -> Callable[[SipRequest | SipResponse, tuple[str, int]], None]:
        def on_message(msg: SipRequest | SipResponse, addr: tuple[str, int]) -> None:
            if isinstance(msg, SipResponse):
                self._on_response(msg)
                return
            method = msg.method
            if method not in ALLOWED:
                if method == "ACK":
                    return
                if method in KNOWN_NOT_ALLOWED:
                    self._reply(transport, msg, 405, "Method Not Allowed",
                                {"Allow": ALLOW_HEADER})
                else:
                    self._reply(transport, msg, 501, "Not Implemented", {"Allow": ALLOW_HEADER})
                return
            if method == "INVITE":
                if not self._screen_invite(msg, transport):
                    return
            elif method == "INFO":
                self._on_info(msg, transport)
                return
            uas._on_message(msg, addr)
            if method == "ACK":
                call = self.calls.get(msg.call_id or "")
                if call is not None:
                    call.acked.set()

        return on_message

    def _screen_invite(self, request: SipRequest,
                       transport: GuardedUdpTransport | GuardedTcpTransport) -> bool:
        """Everything a new INVITE or a re-INVITE must pass; answers what fails."""
        call_id = request.call_id or ""
        to = request.to_addr
        existing = self.calls.get(call_id)
        if to is not None and to.tag:  # within a dialog: a re-INVITE
            if existing is None:
                self._reply(transport, request, 481, "Call/Transaction Does Not Exist")
                return False
            if not existing.answered:
                self._reply(transport, request, 491, "Request Pending")
                return False
            offer = self._check_offer(request, transport)
            if offer is None:
                return False
            self._offers[call_id + "/re"] = offer
            return True
        if existing is not None or call_id in self._offers:
            # same Call-ID, new transaction, no tag: a loop or a second INVITE
            self._reply(transport, request, 482, "Loop Detected")
            return False
        refusal = self._addressed_to_us(request.uri)
        if refusal is not None:
            self.guard.refuse("not_ours")
            self._reply(transport, request, *refusal)
            return False
        wait = self.guard.take_invite(time.monotonic())
        if wait is not None:
            self._reply(transport, request, 503, "Service Unavailable",
                        {"Retry-After": retry_after(wait)})
            return False
        if len(self.calls) >= self.config.limits.max_calls:
            self.guard.refuse("max_calls")
            self._reply(transport, request, 503, "Service Unavailable", {"Retry-After": "5"})
            return False
        offer = self._check_offer(request, transport)
        if offer is None:
            return False
        self._offers[call_id] = offer
        record_route = request.headers.get("record-route")
        if record_route:
            self._record_routes[call_id] = list(record_route)
        return True

    def _check_offer(self, request: SipRequest,
                     transport: GuardedUdpTransport | GuardedTcpTransport) -> MediaOffer | None:
        kind = (request.content_type or "").split(";")[0].strip().lower()
        if not request.body or kind != "application/sdp":
            # no offer in the INVITE (a late offer) is not supported
            self.guard.refuse("no_offer")
            self._reply(transport, request, 488, "Not Acceptable Here")
            return None
        try:
            return parse_offer(request.text)
        except BadOffer as exc:
            self.guard.refuse(f"offer_{exc.code}")
            self._reply(transport, request, exc.status,
                        "Bad Request" if exc.status == 400 else "Not Acceptable Here")
            return None

    def _addressed_to_us(self, uri: str) -> tuple[int, str] | None:
        """None if the request-URI is ours; else the refusal (status, reason)."""
        if not uri.lower().startswith("sip:"):
            return (416, "Unsupported URI Scheme")
        try:
            parsed = parse_uri(uri)
        except (ValueError, IndexError):
            return (400, "Bad Request")
        if parsed.host.lower().strip("[]") not in self._domains:
            return (403, "Forbidden")  # we relay nothing
        if self.config.numbers and (parsed.user or "") not in self.config.numbers:
            return (404, "Not Found")
        return None

    def _on_info(self, request: SipRequest,
                 transport: GuardedUdpTransport | GuardedTcpTransport) -> None:
        call = self.calls.get(request.call_id or "")
        if call is None or not dialog_matches(call.incoming.dialog, request):
            self._reply(transport, request, 481, "Call/Transaction Does Not Exist")
            return
        if not remote_cseq_valid(call.incoming.dialog, request):
            self._reply(transport, request, 500, "Server Internal Error")
            return
        kind = (request.content_type or "").split(";")[0].strip().lower()
        if kind not in ("application/dtmf-relay", "application/dtmf"):
            self._reply(transport, request, 415, "Unsupported Media Type",
                        {"Accept": "application/dtmf-relay, application/dtmf"})
            return
        resp = call.incoming.dialog.create_response(request, 200, "OK")
        transport.send_reply(resp)
        key = digit_from_info(kind, request.text)
        if key is not None and call.on_key is not None:
            call.on_key(key)

    def _on_response(self, response: SipResponse) -> None:
        cseq = response.cseq
        if cseq is not None and cseq.method == "BYE" and response.status_code >= 200:
            call = self.pending_byes.get(response.call_id or "")
            if call is not None:
                call.bye_answered()

    def _reply(self, transport: GuardedUdpTransport | GuardedTcpTransport,
               request: SipRequest, status: int, reason: str,
               headers: dict[str, str] | None = None) -> None:
        if request.method == "ACK":
            return
        resp = make_response(request, status, reason, headers)
        resp.headers.set_single("User-Agent", self.config.user_agent)
        transport.send_reply(resp)

    def _outgoing(self, message: SipRequest | SipResponse,
                  transport: GuardedUdpTransport | GuardedTcpTransport) -> None:
        """Last touches on what aiosipua sends: Record-Route into our responses to an
        INVITE (RFC 3261 §12.1.1), and `transport=tcp` in our Contact over TCP."""
        if not isinstance(message, SipResponse):
            return
        cseq = message.cseq
        if cseq is None or cseq.method != "INVITE" or not 100 < message.status_code < 300:
            return
        routes = self._record_routes.get(message.call_id or "")
        if routes and not message.headers.get("record-route"):
            for route in routes:
                message.headers.append("Record-Route", route)
        if isinstance(transport, GuardedTcpTransport):
            host, port = self.signalling_address(transport)
            message.headers.set_single("Contact", f"<sip:{format_addr(host, port)};transport=tcp>")
