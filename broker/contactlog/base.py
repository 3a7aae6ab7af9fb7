"""What the contact log promises, whatever database is underneath.

- `append` writes a session's inputs ahead, as they happen, so a crash loses nothing;
  `(session_id, seq)` is unique, so the same step can never be written twice.
- `close` writes the contact record once: a second close of the same session is a no-op
  that returns False. It also drops the session's write-ahead events (data minimisation).
- `unfinished` returns the event streams of sessions that have no record yet, for recovery.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from broker.record import ContactRecord

# the contacts table's columns, the same on every backend
CONTACT_COLUMNS = (
    "session_id", "team", "counsellor", "customer_ref", "kind", "state", "planned_channel",
    "planned_start", "created_at", "joined_at", "admitted_at", "media_connected_at",
    "ended_at", "end_reason", "video_seconds", "audio_seconds", "phone_seconds",
    "waiting_seconds", "setup_seconds", "fallback_used", "segments",
)
_CHANNELS = ("video", "audio", "phone")


def contact_values(r: ContactRecord) -> dict[str, Any]:
    """A record as column -> value (segments still a list: each backend stores it its way)."""
    d = r.to_dict()
    seconds = d.pop("seconds")
    d.update({f"{c}_seconds": seconds[c] for c in _CHANNELS})
    return {column: d[column] for column in CONTACT_COLUMNS}


def contact_from_columns(row: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse: the shape of `ContactRecord.to_dict()` (segments already decoded)."""
    d = dict(row)
    d["fallback_used"] = bool(d["fallback_used"])
    d["seconds"] = {c: d.pop(f"{c}_seconds") for c in _CHANNELS}
    return d


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    seq: int
    at: float
    data: dict[str, Any]


class ContactLog(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def append(self, session_id: str, seq: int, at: float, data: dict[str, Any]) -> None:
        ...

    async def close_session(self, record: ContactRecord) -> bool: ...

    async def unfinished(self, session_id: str | None = None) -> dict[str, list[LoggedEvent]]:
        """Event streams of sessions without a record (`session_id`: of that one only)."""

    async def heartbeat(self, node: str, at: float) -> None:
        """Mark this node alive at `at`: recovery closes interrupted sessions no earlier."""

    async def last_heartbeat(self, live_only: bool = False) -> float | None:
        """The latest beat of any node (`live_only`: of nodes that did not stop cleanly)."""

    async def retire(self, node: str, at: float) -> None:
        """This node stops cleanly at `at`: its last beat still times interrupted calls, but
        it no longer counts as a live broker."""

    async def is_closed(self, session_id: str) -> bool: ...

    async def contact(self, session_id: str) -> dict[str, Any] | None: ...

    async def contacts(
        self, since: float, until: float, teams: frozenset[str] | None = None,
        counsellor: str | None = None,
    ) -> list[dict[str, Any]]: ...
