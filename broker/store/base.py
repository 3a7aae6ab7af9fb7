"""The live-state store interface. One process uses memory; several share Redis.

Every write of a session names the version it read (`expected_version`), so two actors
changing one session at once cannot silently overwrite each other: the loser gets
`Conflict`. On top of that, `lock` serialises the inputs of one session across every
process sharing the store, so a conflict is the exception, not the way races end.

Besides sessions the store holds what several processes must agree on: who is connected
where (presence: a process keeps its own sockets' count, the store adds them up), the next
deadline of every session (so that any process can fire it), and the live-load counters
(moved by `put` itself, in the same atomic step as the session they count).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from broker.session import Session
from broker.types import SessionId, StaffId, TeamId


@dataclass(frozen=True, slots=True)
class NodeParties:
    """What a dead process held, for the one process that takes it over."""

    node: str
    last_seen: float  # the dead process's last beat
    customers: list[tuple[SessionId, int]] = field(default_factory=list)  # (session, epoch)
    # counsellors who have no socket left on any process now
    staff_gone: list[tuple[StaffId, frozenset[TeamId]]] = field(default_factory=list)


# the pseudo-session whose lock orders every change to the drop-in routing state
ROUTING = SessionId("~dropin-routing")


class Store(Protocol):
    #: several processes share this store (Redis): the service then runs the reaper
    shared: bool

    async def get(self, session_id: SessionId) -> Session | None: ...

    async def put(self, session: Session, expected_version: int | None) -> None:
        """Save `session`; `expected_version=None` means it must not exist yet."""

    async def remove(self, session_id: SessionId) -> None: ...

    async def by_counsellor(self, staff_id: StaffId) -> list[SessionId]: ...

    async def by_code(self, code_hash: str) -> SessionId | None: ...

    async def set_code(self, code_hash: str, session_id: SessionId) -> bool:
        """Index the session's access code, replacing its previous one; False if the code
        is taken by another live session."""

    async def device(self, session_id: SessionId) -> str | None:
        """The keyed hash of the device the customer link is bound to."""

    async def set_device(self, session_id: SessionId, device_hash: str | None) -> None:
        """Bind the link to a device (None: unbind, after the link was re-issued)."""

    def lock(self, session_id: SessionId) -> AbstractAsyncContextManager[None]:
        """Hold the session: one input at a time, across every process."""

    # ------------------------------------------------------------ deadlines

    async def set_deadline(self, session_id: SessionId, at: float | None) -> None:
        """When the session next needs a `Tick` (None: never)."""

    async def due(self, before: float, limit: int) -> list[SessionId]:
        """Sessions whose deadline is before `before`, soonest first."""

    # ------------------------------------------------------------ presence

    async def claim_customer(self, session_id: SessionId, node: str, socket: str
                             ) -> tuple[int, str | None]:
        """A customer socket connects: its epoch (newest wins) and the socket it replaces."""

    async def customer_epoch(self, session_id: SessionId) -> int: ...

    async def customer_socket(self, session_id: SessionId) -> str | None:
        """The socket currently speaking for the session's customer (on any process)."""

    async def release_customer(self, session_id: SessionId, node: str, epoch: int) -> None:
        ...

    async def set_staff_sockets(self, staff_id: StaffId, teams: frozenset[TeamId], node: str,
                                count: int) -> int:
        """This process now holds `count` sockets of the counsellor; returns the total on
        all processes (0: offline)."""

    async def staff_sockets(self, staff_id: StaffId) -> int: ...

    async def set_connections(self, address: str, node: str, count: int) -> None:
        """This process now holds `count` sockets from the (keyed) client address."""

    async def connections(self, address: str) -> int:
        """Sockets from the address on all processes."""

    async def beat(self, node: str) -> bool:
        """This process is alive. False if the store did not know it (it was taken for dead,
        or the store lost its data): the process must state its presence again."""

    async def dead_nodes(self, silent_for: float) -> list[str]: ...

    async def take_over(self, node: str, silent_for: float) -> NodeParties | None:
        """Claim a dead process's presence; None if it is alive or another process won."""

    async def leave(self, node: str) -> None:
        """A clean stop: this process holds nothing any more."""

    async def generation(self) -> tuple[str, bool]:
        """An id of the store's contents, and whether this call created it: a new one means
        the store lost its data (a Redis restart without persistence), and the creator
        restores the live sessions from the contact log."""

    # ------------------------------------------------------------ live load

    async def load_version(self) -> int: ...

    # ------------------------------------------------------------ drop-in routing

    async def routing_state(self) -> tuple[int, str | None]:
        """(version, JSON) of the drop-in routing state every process shares; (0, None)
        before the first write. Read and written under `lock(ROUTING)`."""

    async def put_routing_state(self, state: str, expected_version: int,
                                next_deadline: float | None) -> int:
        """Write the routing state if it is still at `expected_version` (else Conflict),
        with when its next deadline falls due; returns the new version."""

    async def routing_version(self) -> tuple[int, float | None]:
        """(version, next deadline) of the routing state: cheap, for watching it."""

    async def load_snapshot(self, now: float, teams: frozenset[TeamId] | None = None
                            ) -> dict[str, Any]: ...

    async def close(self) -> None: ...
