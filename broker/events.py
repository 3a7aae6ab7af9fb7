"""Inputs to a session and the effects it hands back: small frozen dataclasses.

Inputs are what happened (a client said something, a deadline passed); effects are what
the adapters must now do (tell someone, write the contact record). The session core
takes the time as an argument and never reads a clock.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from broker.types import Channel, EndReason, Role


@dataclass(frozen=True, slots=True)
class Capabilities:
    webrtc: bool = True
    camera: bool = True
    microphone: bool = True

    def to_dict(self) -> dict[str, bool]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Capabilities:
        return cls(
            webrtc=bool(data.get("webrtc", True)),
            camera=bool(data.get("camera", True)),
            microphone=bool(data.get("microphone", True)),
        )


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class CustomerJoined:
    """The customer entered the waiting room (or re-announced itself after a reconnect).

    `display_name` is live state only: it is never written to the contact log.
    """

    capabilities: Capabilities
    language: str = "de"
    display_name: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class Admit:
    counsellor_capabilities: Capabilities = Capabilities()


@dataclass(frozen=True, slots=True)
class MediaReported:
    role: Role
    connected: bool


@dataclass(frozen=True, slots=True)
class SwitchChannel:
    role: Role
    to: Channel


@dataclass(frozen=True, slots=True)
class PhoneConnected:
    """The phone leg is up: from now on the phone segment runs."""


@dataclass(frozen=True, slots=True)
class Disconnected:
    role: Role


@dataclass(frozen=True, slots=True)
class Reconnected:
    role: Role


@dataclass(frozen=True, slots=True)
class Leave:
    """The customer left on purpose (closed the call or the waiting room)."""


@dataclass(frozen=True, slots=True)
class End:
    reason: EndReason = EndReason.COMPLETED


@dataclass(frozen=True, slots=True)
class Cancel:
    pass


@dataclass(frozen=True, slots=True)
class RevokeLink:
    """The counsellor revoked the customer link (and the access code), perhaps to hand out
    a new one: tokens of older generations stop working, the new code has `code_nonce`.

    `access_code` is live state only; the log keeps the nonce it is derived from.
    """

    code_nonce: int
    access_code: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class Tick:
    """A deadline from `Session.next_deadline()` has passed."""


@dataclass(frozen=True, slots=True)
class Interrupt:
    """The broker went down while the session ran; closes it at `at` (last known moment)."""

    at: float


Input = (
    CustomerJoined
    | Admit
    | MediaReported
    | SwitchChannel
    | PhoneConnected
    | Disconnected
    | Reconnected
    | Leave
    | End
    | Cancel
    | RevokeLink
    | Tick
    | Interrupt
)

def input_to_log(event: Input) -> dict[str, Any]:
    """What the write-ahead log keeps of an input: no names, nothing personal."""
    data = asdict(event)
    data.pop("display_name", None)
    data.pop("access_code", None)
    data["type"] = type(event).__name__
    return data


def input_from_log(data: dict[str, Any]) -> Input:
    """The inverse of `input_to_log` (the display name and access code stay lost, on
    purpose: recovery derives the code again from its nonce)."""
    match data["type"]:
        case "CustomerJoined":
            caps = Capabilities.from_dict(data["capabilities"])
            return CustomerJoined(caps, language=data["language"])
        case "Admit":
            return Admit(Capabilities.from_dict(data["counsellor_capabilities"]))
        case "MediaReported":
            return MediaReported(Role(data["role"]), bool(data["connected"]))
        case "SwitchChannel":
            return SwitchChannel(Role(data["role"]), Channel(data["to"]))
        case "Disconnected":
            return Disconnected(Role(data["role"]))
        case "Reconnected":
            return Reconnected(Role(data["role"]))
        case "End":
            return End(EndReason(data["reason"]))
        case "Interrupt":
            return Interrupt(float(data["at"]))
        case "PhoneConnected":
            return PhoneConnected()
        case "Leave":
            return Leave()
        case "Cancel":
            return Cancel()
        case "Tick":
            return Tick()
        case "RevokeLink":
            return RevokeLink(int(data["code_nonce"]))
    raise ValueError(f"unknown logged input {data['type']!r}")


# ---------------------------------------------------------------- effects

Audience = Literal["counsellor", "customer", "both"]


@dataclass(frozen=True, slots=True)
class Notify:
    """Tell one or both parties of the session something (a socket event)."""

    to: Audience
    event: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Closed:
    """The session reached a final state: write its contact record (exactly once)."""


Effect = Notify | Closed
