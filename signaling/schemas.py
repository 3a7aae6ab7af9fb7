"""Turn untrusted event payloads into checked values, or refuse them with a clear code.

Every field has a type and a size; unknown fields are refused, so nothing unbounded ever
reaches the core or the other party. An SDP is at most 64 KiB, a candidate at most 2 KiB.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from broker.errors import BadInput, ErrorCode
from broker.events import Capabilities
from broker.session import OUTCOMES
from broker.types import PROTOCOL_VERSION, Channel, EndReason, SessionId

MAX_SDP = 64 * 1024
MAX_CANDIDATE = 2 * 1024
MAX_NAME = 64
LANGUAGES = ("de", "en", "tr", "ar", "uk")
SIGNAL_TYPES = ("offer", "answer", "candidate", "bye")
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
# control characters and the bidi overrides/isolates that can disguise a name
_UNSAFE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
_BREAKS = {"Cc", "Zl", "Zp"}


def payload(data: Any, allowed: set[str]) -> dict[str, Any]:
    """The event's payload as a dict with only known keys and a supported version."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BadInput("the payload must be a JSON object")
    unknown = set(data) - allowed - {"v"}
    if unknown:
        raise BadInput(f"unknown field(s): {', '.join(sorted(map(str, unknown)))[:200]}")
    if "v" in data and (type(data["v"]) is not int or data["v"] != PROTOCOL_VERSION):
        raise BadInput(
            f"protocol version {PROTOCOL_VERSION} is supported", ErrorCode.UNSUPPORTED_VERSION
        )
    return data


def text(data: dict[str, Any], key: str, limit: int, *, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise BadInput(f"{key} is required")
        return None
    if not isinstance(value, str):
        raise BadInput(f"{key} must be a string")
    if len(value) > limit or len(value.encode("utf-8", "surrogatepass")) > limit:
        raise BadInput(f"{key} is longer than {limit} bytes", ErrorCode.PAYLOAD_TOO_LARGE)
    return value


def session_id(data: dict[str, Any]) -> SessionId:
    value = data.get("session")
    if not isinstance(value, str) or not SESSION_ID.fullmatch(value):
        raise BadInput("session must be a session id")
    return SessionId(value)


def choice(data: dict[str, Any], key: str, options: tuple[str, ...], default: str | None) -> str:
    value = data.get(key, default)
    if value not in options:
        raise BadInput(f"{key} must be one of {', '.join(options)}")
    return str(value)


def display_name(raw: str | None) -> str:
    """A name safe to show anywhere: no control or bidi-override characters, trimmed."""
    if not raw:
        return ""
    clean = "".join(_safe(ch) for ch in unicodedata.normalize("NFC", raw))
    return " ".join(clean.split())[:MAX_NAME]


MAX_CHAT = 1000


def chat_text(data: dict[str, Any]) -> str:
    """A chat line (a name spelt out, a reference): relayed, never stored or logged. Lines
    stay; control and bidi-override characters go, as in names."""
    raw = text(data, "text", MAX_CHAT * 4) or ""
    lines = ("".join(_safe(ch) for ch in line).strip()
             for line in unicodedata.normalize("NFC", raw).splitlines())
    clean = "\n".join(line for line in lines if line)[:MAX_CHAT]
    if not clean:
        raise BadInput("the message is empty")
    return clean


def _safe(ch: str) -> str:
    category = unicodedata.category(ch)
    if category in _BREAKS:
        return " "  # "Anna\nSchmidt" stays two words
    return "" if category in _UNSAFE else ch


def capabilities(data: dict[str, Any], key: str = "capabilities") -> Capabilities:
    value = data.get(key, {})
    if not isinstance(value, dict) or set(value) - {"webrtc", "camera", "microphone"}:
        raise BadInput(f"{key} must be an object with webrtc, camera, microphone")
    if not all(isinstance(v, bool) for v in value.values()):
        raise BadInput(f"{key} values must be true or false")
    return Capabilities.from_dict(value)


def join(data: Any) -> tuple[str, str, Capabilities]:
    d = payload(data, {"name", "language", "capabilities"})
    name = display_name(text(d, "name", 256, required=False))
    return name, choice(d, "language", LANGUAGES, "de"), capabilities(d)


def signal(data: Any, *, with_session: bool) -> dict[str, Any]:
    """An offer, answer, trickled candidate or bye, reduced to exactly what is relayed."""
    keys = {"type", "sdp", "candidate"} | ({"session"} if with_session else set())
    d = payload(data, keys)
    kind = choice(d, "type", SIGNAL_TYPES, None)
    out: dict[str, Any] = {"type": kind}
    if kind in ("offer", "answer"):
        out["sdp"] = text(d, "sdp", MAX_SDP)
    elif kind == "candidate":
        out["candidate"] = _candidate(d.get("candidate"))
    return out


def _candidate(value: Any) -> dict[str, Any] | None:
    if value is None:  # end of candidates
        return None
    if not isinstance(value, dict):
        raise BadInput("candidate must be an object")
    allowed = {"candidate", "sdpMid", "sdpMLineIndex", "usernameFragment"}
    if set(value) - allowed:
        raise BadInput("candidate has unknown fields")
    cand = text(value, "candidate", MAX_CANDIDATE)
    mid = text(value, "sdpMid", 64, required=False)
    ufrag = text(value, "usernameFragment", 256, required=False)
    index = value.get("sdpMLineIndex")
    if index is not None and (type(index) is not int or not 0 <= index < 256):
        raise BadInput("candidate.sdpMLineIndex must be a small integer")
    if mid is None and index is None:
        raise BadInput("candidate needs sdpMid or sdpMLineIndex")
    return {"candidate": cand, "sdpMid": mid, "sdpMLineIndex": index, "usernameFragment": ufrag}


def channel(data: dict[str, Any]) -> Channel:
    return Channel(choice(data, "to", tuple(c.value for c in Channel), None))


def media_state(data: dict[str, Any]) -> tuple[bool, dict[str, float]]:
    state = choice(data, "state", ("connected", "failed"), None)
    stats = data.get("stats", {})
    if not isinstance(stats, dict) or len(stats) > 8:
        raise BadInput("stats must be an object of at most 8 numbers")
    clean: dict[str, float] = {}
    for k, v in stats.items():
        if not isinstance(k, str) or len(k) > 32:
            raise BadInput("stats keys must be short strings")
        if isinstance(v, bool) or not isinstance(v, int | float) or v != v:
            raise BadInput("stats values must be numbers")
        try:
            clean[k] = float(v)
        except OverflowError:  # an integer past the float range
            raise BadInput("stats values must be numbers") from None
    return state == "connected", clean


def outcome(data: dict[str, Any]) -> EndReason:
    return EndReason(choice(data, "outcome", tuple(str(o) for o in OUTCOMES), "completed"))


TICKET_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")


def ticket_id(data: dict[str, Any]) -> str:
    value = data.get("ticket")
    if not isinstance(value, str) or not TICKET_ID.fullmatch(value):
        raise BadInput("ticket must be a ticket id")
    return value


def flag(data: dict[str, Any], key: str) -> bool | None:
    value = data.get(key)
    if value is not None and not isinstance(value, bool):
        raise BadInput(f"{key} must be true or false")
    return value
