"""What every namespace needs: the service, the settings, the socket.io server, limits."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import socketio

from broker.config import Settings
from broker.credentials import (
    CallbackPrincipal,
    CustomerPrincipal,
    StaffPrincipal,
    TicketPrincipal,
)
from broker.dropin import DropInService
from broker.load import TeamLoad
from broker.service import SessionService
from broker.session import Session
from broker.staffauth import StaffAuth
from broker.turn import ice_servers
from broker.types import Role, SessionId, TeamId
from broker.worklist import Worklist
from signaling.clientaddr import Network
from signaling.metrics import Metrics
from signaling.ratelimit import TokenBucket
from signaling.rooms import staff_room

log = logging.getLogger("signaling.context")


@dataclass
class Conn:
    """One socket's identity, fixed at connect (a staff token may be renewed by `reauth`)."""

    role: Role
    bucket: TokenBucket
    staff: StaffPrincipal | None = None
    customer: CustomerPrincipal | None = None
    ticket: TicketPrincipal | None = None  # a drop-in customer's place in a queue
    callback: CallbackPrincipal | None = None  # a customer's callback request
    epoch: int = 0  # a customer's connection number for its session (newest wins)
    expiry: asyncio.TimerHandle | None = None  # turns the socket away when its token ends
    # refused events are tolerated for a while (a burst, a reconnect storm); a socket that
    # keeps flooding after that is cut off
    patience: TokenBucket | None = None
    address: str = ""  # pseudonymous key of the client's address, for the connection limit

    @property
    def session_id(self) -> SessionId:
        assert self.customer is not None
        return self.customer.session_id


@dataclass
class Context:
    service: SessionService
    settings: Settings
    sio: socketio.AsyncServer
    staff_auth: StaffAuth
    dropin: DropInService
    worklist: Worklist
    # the socket currently speaking for each session's customer (a newer one replaces it)
    customer_sid: dict[SessionId, tuple[int, str]] = field(default_factory=dict)
    # the console tab holding each call, and the staff sockets connected to this process
    call_sid: dict[SessionId, str] = field(default_factory=dict)
    staff_sids: set[str] = field(default_factory=set)

    def counsellor_target(self, s: Session) -> str:
        """Where the customer's signals go: the tab holding the call, or (after that tab
        reloaded) every tab of the counsellor, until one of them signals back."""
        return self.local_call_tab(s) or staff_room(s.counsellor)

    def local_call_tab(self, s: Session) -> str | None:
        """The console tab holding the call, if it is connected to this process."""
        sid = self.call_sid.get(s.id)
        return sid if sid is not None and sid in self.staff_sids else None

    def local_customer(self, session_id: SessionId) -> str | None:
        """The customer's current socket, if it is connected to this process."""
        current = self.customer_sid.get(session_id)
        return None if current is None else current[1]

    async def relay(self, event: str, message: dict[str, Any], local: str | None,
                    room: str, namespace: str) -> None:
        """To a socket on this process directly; else to the room, wherever its members are
        (with several processes that goes through Redis, and costs every process a
        decode: a pair on one process should not pay for it)."""
        if local is not None:
            await self.sio.emit(event, message, to=local, namespace=namespace,
                                ignore_queue=True)
        else:
            await self.sio.emit(event, message, to=room, namespace=namespace)

    trusted_proxies: tuple[Network, ...] = ()
    metrics: Metrics = field(default_factory=Metrics)
    # connections per client address (keyed), across namespaces
    per_address: Counter[str] = field(default_factory=Counter)

    async def share_count(self, address: str) -> None:
        """This process's sockets from `address`, into the store (best effort: a failed
        write is put right by the next change, or when presence is stated again)."""
        try:
            await self.service.store.set_connections(address, self.service.node,
                                                     self.per_address[address])
        except Exception:
            log.debug("connection count not shared")

    async def load_snapshot(self, teams: frozenset[TeamId] | None = None) -> dict[str, Any]:
        """Live load (sessions, counsellors) with each team's drop-in queues and callback
        requests beside it."""
        full = await self.service.load_snapshot(teams)

        def figures_of(team: str) -> dict[str, Any]:
            figures: dict[str, Any] = full["teams"].setdefault(
                team, TeamLoad().figures(full["at"]))
            return figures

        for team in self.dropin.teams():
            if teams is None or team in teams:
                figures_of(team)["dropin"] = self.dropin.snapshot(team)
        for team in self.worklist.teams():
            if teams is None or team in teams:
                figures_of(team)["callbacks"] = self.worklist.figures(team)
        full["teams"] = dict(sorted(full["teams"].items()))
        return full

    def bucket(self) -> TokenBucket:
        return TokenBucket(self.settings.events_per_second, self.settings.event_burst)

    def patience(self) -> TokenBucket:
        return TokenBucket(self.settings.events_per_second, self.settings.event_burst * 10)

    def ice_servers(self) -> list[dict[str, Any]]:
        """For admitted participants only: TURN credentials are handed out with `start` (and
        the welcome of a reconnect into an active call), never before admission."""
        st = self.settings
        return ice_servers(st.ice_servers, st.turn_urls, st.turn_secret, st.turn_ttl_seconds,
                           self.service.now())
