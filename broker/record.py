"""The contact record: what a Jobcenter reports about one session, computed from it.

One per session, written once when the session reaches a final state. It holds no name,
no address and no access code: the customer is the counsellor's pseudonymous reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from broker.session import Session
from broker.types import Channel, EndReason, Kind, State


@dataclass(frozen=True, slots=True)
class ContactRecord:
    session_id: str
    team: str
    counsellor: str
    customer_ref: str
    kind: Kind
    state: State
    planned_channel: Channel
    planned_start: float
    created_at: float
    joined_at: float | None
    admitted_at: float | None
    media_connected_at: float | None
    ended_at: float
    end_reason: EndReason
    segments: tuple[tuple[Channel, float, float], ...]
    seconds: dict[str, float]
    waiting_seconds: float | None
    setup_seconds: float | None
    fallback_used: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "team": self.team,
            "counsellor": self.counsellor,
            "customer_ref": self.customer_ref,
            "kind": str(self.kind),
            "state": str(self.state),
            "planned_channel": str(self.planned_channel),
            "planned_start": self.planned_start,
            "created_at": self.created_at,
            "joined_at": self.joined_at,
            "admitted_at": self.admitted_at,
            "media_connected_at": self.media_connected_at,
            "ended_at": self.ended_at,
            "end_reason": str(self.end_reason),
            "segments": [[str(c), a, b] for c, a, b in self.segments],
            "seconds": self.seconds,
            "waiting_seconds": self.waiting_seconds,
            "setup_seconds": self.setup_seconds,
            "fallback_used": self.fallback_used,
        }


def _diff(later: float | None, earlier: float | None) -> float | None:
    if later is None or earlier is None:
        return None
    return round(max(0.0, later - earlier), 3)


def record_of(s: Session) -> ContactRecord:
    """The record of a session in a final state."""
    if not s.state.terminal or s.ended_at is None or s.end_reason is None:
        raise ValueError(f"session {s.id} is {s.state}, not final")
    segments = tuple((g.channel, g.start, g.end if g.end is not None else s.ended_at)
                     for g in s.segments)
    return ContactRecord(
        session_id=s.id,
        team=s.team,
        counsellor=s.counsellor,
        customer_ref=s.customer_ref,
        kind=s.kind,
        state=s.state,
        planned_channel=s.planned_channel,
        planned_start=s.planned_start,
        created_at=s.created_at,
        joined_at=s.joined_at,
        admitted_at=s.admitted_at,
        media_connected_at=s.media_connected_at,
        ended_at=s.ended_at,
        end_reason=s.end_reason,
        segments=segments,
        seconds={k: round(v, 3) for k, v in s.seconds_by_channel(s.ended_at).items()},
        waiting_seconds=_diff(s.admitted_at, s.joined_at),
        setup_seconds=_diff(s.media_connected_at, s.admitted_at),
        fallback_used=s.fallback_used,
    )
