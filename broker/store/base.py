"""The live-state store interface. One process uses memory; several will share Redis.

Every write of a session names the version it read (`expected_version`), so two actors
changing one session at once cannot silently overwrite each other: the loser gets
`Conflict` and retries or reports it.
"""

from __future__ import annotations

from typing import Protocol

from broker.session import Session
from broker.types import SessionId, StaffId


class Store(Protocol):
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

    async def close(self) -> None: ...
