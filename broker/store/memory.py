"""Live state in process memory: the embedded default, one process, no Redis.

Sessions are kept as JSON-shaped dicts, exactly as a shared store would hold them, so
that nobody can change a live session by holding on to an object. One process is the only
node: presence is its own count, no node ever dies, and the contents are never lost while
the process lives.
"""

from __future__ import annotations

from collections import Counter
from contextlib import AbstractAsyncContextManager
from typing import Any

from broker.errors import Conflict
from broker.load import LiveLoad
from broker.session import Policy, Session, session_from_dict, session_to_dict
from broker.store.base import NodeParties
from broker.store.locks import KeyedLock
from broker.types import SessionId, StaffId, TeamId


class MemoryStore:
    shared = False

    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        self._lock = KeyedLock()
        self._load = LiveLoad()
        self._epochs: dict[SessionId, int] = {}
        self._customer_sockets: dict[SessionId, str] = {}
        self._staff: Counter[StaffId] = Counter()
        self._connections: dict[str, int] = {}
        self._sessions: dict[SessionId, dict[str, Any]] = {}
        self._by_staff: dict[StaffId, set[SessionId]] = {}
        self._codes: dict[str, SessionId] = {}
        self._code_of: dict[SessionId, str] = {}
        self._devices: dict[SessionId, str] = {}
        self._routing: tuple[int, str | None, float | None] = (0, None, None)

    async def get(self, session_id: SessionId) -> Session | None:
        data = self._sessions.get(session_id)
        return None if data is None else session_from_dict(data, self._policy)

    async def put(self, session: Session, expected_version: int | None) -> None:
        current = self._sessions.get(session.id)
        if expected_version is None and current is not None:
            raise Conflict(f"session {session.id} exists already")
        if expected_version is not None and (
            current is None or current["version"] != expected_version
        ):
            raise Conflict(f"session {session.id} was changed meanwhile")
        before = None if current is None else session_from_dict(current, self._policy)
        self._load.session_changed(before, session)
        self._sessions[session.id] = session_to_dict(session)
        self._by_staff.setdefault(session.counsellor, set()).add(session.id)

    async def remove(self, session_id: SessionId) -> None:
        data = self._sessions.pop(session_id, None)
        self._epochs.pop(session_id, None)
        self._customer_sockets.pop(session_id, None)
        if data is not None:
            self._load.session_changed(session_from_dict(data, self._policy), None)
            staff = self._by_staff.get(data["counsellor"])
            if staff is not None:
                staff.discard(session_id)
                if not staff:
                    del self._by_staff[data["counsellor"]]
        code = self._code_of.pop(session_id, None)
        if code is not None:
            self._codes.pop(code, None)
        self._devices.pop(session_id, None)

    async def by_counsellor(self, staff_id: StaffId) -> list[SessionId]:
        return sorted(self._by_staff.get(staff_id, ()))

    async def by_code(self, code_hash: str) -> SessionId | None:
        return self._codes.get(code_hash)

    async def set_code(self, code_hash: str, session_id: SessionId) -> bool:
        holder = self._codes.get(code_hash)
        if holder is not None and holder != session_id:
            return False
        previous = self._code_of.get(session_id)
        if previous is not None and previous != code_hash:
            del self._codes[previous]
        self._codes[code_hash] = session_id
        self._code_of[session_id] = code_hash
        return True

    async def device(self, session_id: SessionId) -> str | None:
        return self._devices.get(session_id)

    async def set_device(self, session_id: SessionId, device_hash: str | None) -> None:
        if device_hash is None:
            self._devices.pop(session_id, None)
        else:
            self._devices[session_id] = device_hash

    def lock(self, session_id: SessionId) -> AbstractAsyncContextManager[None]:
        return self._lock(session_id)

    # deadlines: the one process arms its own timers; nobody else could fire them
    async def set_deadline(self, session_id: SessionId, at: float | None) -> None:
        return None

    async def due(self, before: float, limit: int) -> list[SessionId]:
        return []

    # ------------------------------------------------------------ presence

    async def claim_customer(self, session_id: SessionId, node: str, socket: str
                             ) -> tuple[int, str | None]:
        epoch = self._epochs[session_id] = self._epochs.get(session_id, 0) + 1
        previous = self._customer_sockets.get(session_id)
        self._customer_sockets[session_id] = socket
        return epoch, previous

    async def customer_epoch(self, session_id: SessionId) -> int:
        return self._epochs.get(session_id, 0)

    async def customer_socket(self, session_id: SessionId) -> str | None:
        return self._customer_sockets.get(session_id)

    async def release_customer(self, session_id: SessionId, node: str, epoch: int) -> None:
        return None

    async def set_staff_sockets(self, staff_id: StaffId, teams: frozenset[TeamId], node: str,
                                count: int) -> int:
        was = self._staff[staff_id]
        if count > 0:
            self._staff[staff_id] = count
        else:
            self._staff.pop(staff_id, None)
        if (was > 0) != (count > 0):
            self._load.staff_online(staff_id, teams, count > 0)
        return max(count, 0)

    async def staff_sockets(self, staff_id: StaffId) -> int:
        return self._staff[staff_id]

    async def set_connections(self, address: str, node: str, count: int) -> None:
        if count > 0:
            self._connections[address] = count
        else:
            self._connections.pop(address, None)

    async def connections(self, address: str) -> int:
        return self._connections.get(address, 0)

    async def beat(self, node: str) -> bool:
        return True

    async def dead_nodes(self, silent_for: float) -> list[str]:
        return []

    async def take_over(self, node: str, silent_for: float) -> NodeParties | None:
        return None

    async def leave(self, node: str) -> None:
        return None

    async def generation(self) -> tuple[str, bool]:
        return "memory", False

    # ------------------------------------------------------------ live load

    async def load_version(self) -> int:
        return self._load.version

    async def routing_state(self) -> tuple[int, str | None]:
        return self._routing[0], self._routing[1]

    async def put_routing_state(self, state: str, expected_version: int,
                                next_deadline: float | None) -> int:
        if self._routing[0] != expected_version:
            raise Conflict("the routing state changed meanwhile")
        self._routing = (expected_version + 1, state or None, next_deadline)
        self._load.version += 1
        return expected_version + 1

    async def routing_version(self) -> tuple[int, float | None]:
        return self._routing[0], self._routing[2]

    async def load_snapshot(self, now: float, teams: frozenset[TeamId] | None = None
                            ) -> dict[str, Any]:
        return self._load.snapshot(now, teams)

    async def close(self) -> None:
        self._sessions.clear()
