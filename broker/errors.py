"""The one error family clients ever see: a stable code they can act on, and a message.

Codes are part of the protocol (docs/protocol.md); messages are English and for people
debugging, the pages translate by code.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    # input
    BAD_REQUEST = "bad_request"
    UNKNOWN_EVENT = "unknown_event"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_VERSION = "unsupported_version"
    RATE_LIMITED = "rate_limited"
    # access
    UNAUTHENTICATED = "unauthenticated"
    TOKEN_EXPIRED = "token_expired"
    FORBIDDEN = "forbidden"
    LINK_IN_USE = "link_in_use"
    LINK_REVOKED = "link_revoked"
    INVALID_CODE = "invalid_code"
    # domain
    NOT_FOUND = "not_found"
    NOT_ADMITTED = "not_admitted"
    INVALID_TRANSITION = "invalid_transition"
    SESSION_ENDED = "session_ended"
    CHANNEL_NOT_ALLOWED = "channel_not_allowed"
    CONFLICT = "conflict"
    OFFER_GONE = "offer_gone"
    CALLBACK_TAKEN = "callback_taken"
    CALLBACK_SETTLED = "callback_settled"
    QUEUE_CLOSED = "queue_closed"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


_HTTP_STATUS = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.UNKNOWN_EVENT: 400,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_VERSION: 400,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.TOKEN_EXPIRED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.LINK_IN_USE: 409,
    ErrorCode.LINK_REVOKED: 401,
    ErrorCode.INVALID_CODE: 404,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.NOT_ADMITTED: 403,
    ErrorCode.INVALID_TRANSITION: 409,
    ErrorCode.OFFER_GONE: 409,
    ErrorCode.CALLBACK_TAKEN: 409,
    ErrorCode.CALLBACK_SETTLED: 409,
    ErrorCode.QUEUE_CLOSED: 409,
    ErrorCode.SESSION_ENDED: 410,
    ErrorCode.CHANNEL_NOT_ALLOWED: 409,
    ErrorCode.CONFLICT: 409,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
}


class BrokerError(Exception):
    """Anything refused. Carries a code a client can act on."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS[self.code]

    def to_dict(self) -> dict[str, Any]:
        return {"code": str(self.code), "message": self.message}


class InvalidTransition(BrokerError):
    """An event that the session's current state does not accept; names both."""

    def __init__(self, state: str, event: str) -> None:
        super().__init__(
            ErrorCode.INVALID_TRANSITION, f'Cannot handle "{event}" in session state "{state}"'
        )
        self.state = state
        self.event = event


class AccessDenied(BrokerError, PermissionError):
    pass


class NotFound(BrokerError, LookupError):
    def __init__(self, what: str) -> None:
        super().__init__(ErrorCode.NOT_FOUND, f"{what} not found")


class BadInput(BrokerError, ValueError):
    def __init__(self, message: str, code: ErrorCode = ErrorCode.BAD_REQUEST) -> None:
        super().__init__(code, message)


class Conflict(BrokerError):
    """Lost a race with another actor on the same session; the caller may retry."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.CONFLICT, message)


class RateLimited(BrokerError):
    """Too many attempts; `retry_after` seconds until the next one may pass."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(ErrorCode.RATE_LIMITED, message)
        self.retry_after = max(1, math.ceil(retry_after))  # never too soon

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "retry_after": self.retry_after}


class ContactLogUnavailable(BrokerError, ConnectionError):
    """The contact database cannot be reached or refuses work for now; try again later.
    Any backend may raise it; clients see `unavailable` (503)."""

    def __init__(self, message: str = "the contact log is unavailable, try again") -> None:
        super().__init__(ErrorCode.UNAVAILABLE, message)


class LiveStateUnavailable(BrokerError, ConnectionError):
    """The shared live-state store (Redis) cannot be reached, or a session stayed held by
    another process for too long; try again in a moment (`unavailable`, 503)."""

    def __init__(self, message: str = "live state is unavailable, try again") -> None:
        super().__init__(ErrorCode.UNAVAILABLE, message)
