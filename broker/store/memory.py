"""Live state in process memory: the embedded default, one process, no Redis.

Sessions are kept as JSON-shaped dicts, exactly as a shared store would hold them, so
that nobody can change a live session by holding on to an object.
"""

from __future__ import annotations

from typing import Any

from broker.errors import Conflict
from broker.session import Policy, Session, session_from_dict, session_to_dict
from broker.types import SessionId, StaffId


class MemoryStore:
    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        self._sessions: dict[SessionId, dict[str, Any]] = {}
        self._by_staff: dict[StaffId, set[SessionId]] = {}
        self._codes: dict[str, SessionId] = {}
        self._code_of: dict[SessionId, str] = {}
        self._devices: dict[SessionId, str] = {}

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
        self._sessions[session.id] = session_to_dict(session)
        self._by_staff.setdefault(session.counsellor, set()).add(session.id)

    async def remove(self, session_id: SessionId) -> None:
        data = self._sessions.pop(session_id, None)
        if data is not None:
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

    async def close(self) -> None:
        self._sessions.clear()
