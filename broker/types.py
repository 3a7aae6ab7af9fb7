"""Identifiers and small enumerations shared by every layer.

Ids are `NewType`s so that a session id cannot be passed where a staff id is meant.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NewType

SessionId = NewType("SessionId", str)
StaffId = NewType("StaffId", str)
TeamId = NewType("TeamId", str)
CustomerRef = NewType("CustomerRef", str)

PROTOCOL_VERSION = 1


class Role(StrEnum):
    COUNSELLOR = "counsellor"
    CUSTOMER = "customer"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class State(StrEnum):
    SCHEDULED = "scheduled"
    WAITING = "waiting"
    ACTIVE = "active"
    ENDED = "ended"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({State.ENDED, State.CANCELLED, State.NO_SHOW})


class Channel(StrEnum):
    """Ordered from richest to poorest: the ladder steps down this list."""

    VIDEO = "video"
    AUDIO = "audio"
    PHONE = "phone"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def webrtc(self) -> bool:
        return self is not Channel.PHONE


_RANK = {Channel.VIDEO: 0, Channel.AUDIO: 1, Channel.PHONE: 2}


class EndReason(StrEnum):
    COMPLETED = "completed"
    CUSTOMER_LEFT = "customer_left"
    NO_SHOW = "no_show"
    CONNECTION_FAILED = "connection_failed"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"


class Kind(StrEnum):
    SCHEDULED = "scheduled"
    DROP_IN = "drop-in"
    CALLBACK = "callback"
