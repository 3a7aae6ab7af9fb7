"""What the gateway asks of the broker, and how the broker says no.

The gateway owns the telephone and the media; the broker owns sessions, codes and their
rate limits. This file is the whole contract between the two: an `Admitter` checks an
access code and lets the caller into that session, handing back an `Admission` through
which the gateway negotiates its WebRTC leg with the counsellor and learns when the
session lets go of the phone. The gateway never imports the broker's service or any
transport: the implementation (socket.io and HTTP to the broker) plugs in here, and the
tests plug in a small in-process one with a real aiortc counsellor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from aiortc import RTCIceServer, RTCPeerConnection


class AdmissionErrorCode(StrEnum):
    """Why a caller was not let in; each has its own spoken prompt."""

    WRONG_CODE = "wrong_code"  # no live session has this code (counts as a failed try)
    LOCKED_OUT = "locked_out"  # too many wrong codes from this caller or overall
    SESSION_GONE = "session_gone"  # the code was right but its session has ended
    UNAVAILABLE = "unavailable"  # the broker could not be asked (down, timeout)


class AdmissionError(Exception):
    """A refusal from the broker, with a code the dial-in dialogue acts on."""

    code: AdmissionErrorCode = AdmissionErrorCode.UNAVAILABLE

    def __init__(self, message: str = "") -> None:
        super().__init__(f"{self.code}: {message}" if message else str(self.code))
        self.message = message


class WrongCode(AdmissionError):
    code = AdmissionErrorCode.WRONG_CODE


class LockedOut(AdmissionError):
    code = AdmissionErrorCode.LOCKED_OUT

    def __init__(self, message: str = "", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SessionGone(AdmissionError):
    code = AdmissionErrorCode.SESSION_GONE


class BrokerUnavailable(AdmissionError):
    code = AdmissionErrorCode.UNAVAILABLE


class HangupReason(StrEnum):
    """Why the phone side ended a call; passed to `Admission.hang_up`."""

    CALLER_HUNG_UP = "caller_hung_up"  # BYE from the phone
    RTP_TIMEOUT = "rtp_timeout"  # no media from the phone for too long
    MEDIA_FAILED = "media_failed"  # the WebRTC leg to the counsellor failed or never came up
    GATEWAY_STOPPING = "gateway_stopping"  # the process is shutting down


@dataclass(frozen=True, slots=True)
class CallInfo:
    """What the broker may know about a call: no number, no address.

    `caller_key` is a keyed hash of the caller's number (HMAC with the gateway's key),
    so the broker can rate-limit and lock out per caller (every call arrives from the
    same trunk address, so the address is no key) without ever holding the number.
    It is empty when the caller withheld their number.
    """

    call_ref: str  # short, log-safe reference of this call (a hash of its Call-ID)
    caller_key: str
    language: str  # "de" or "en": what the caller chose at the prompt
    codec: str  # "PCMA" or "PCMU": the phone leg's codec
    answered_at: float  # wall-clock time the call was answered (for the record)


class Admission(Protocol):
    """A caller let into a session: how their audio reaches the counsellor."""

    @property
    def ice_servers(self) -> Sequence[RTCIceServer]:
        """The session's TURN/STUN servers for the gateway's peer ([] on loopback).

        Added to the shape first sketched: the gateway builds its own
        `RTCPeerConnection`, and must never fall back to aiortc's default (a public
        STUN server), so the broker hands over the servers it gives every peer.
        """
        ...

    async def connect(self, pc: RTCPeerConnection) -> None:
        """Negotiate the WebRTC leg; `pc` already carries the phone's audio track and a
        `track` handler. Returns when the answer is applied."""
        ...

    async def media_flowing(self) -> None:
        """Audio has flowed both ways for the first time: the phone segment starts now.

        Also an addition: the issue times the phone segment from this moment, and only
        the gateway sees it (first RTP from the phone bridged and first counsellor
        audio sent to the phone). Called at most once."""
        ...

    async def ended(self) -> str:
        """Resolves with a reason when the broker ends the phone leg (session over,
        switched back to video). Never raises for that; cancelled when the phone
        side ends first."""
        ...

    async def hang_up(self, reason: HangupReason) -> None:
        """The phone side ended: tell the broker. Idempotent."""
        ...


class Admitter(Protocol):
    async def admit(self, code: str, call: CallInfo) -> Admission:
        """Check `code` (nine digits) and join the caller into its session.

        Raises WrongCode, LockedOut, SessionGone or BrokerUnavailable."""
        ...
