"""Webhook events: what other systems hear about sessions, and how each request is signed.

No I/O. The service asks `WebhookEvents` for the outbox entries a step causes and hands them
to the contact log, which writes them in the same transaction as the step (or the record);
the deliverer (`web.webhooks`) sends them. One entry per (event, target URL).

The events, and what causes them:
- `session.created`: a session was created (its first logged step);
- `session.started`: the counsellor admitted the customer (a step into `active`);
- `session.channel_changed`: the call moved to another channel (not its first channel,
  which `session.started` carries);
- `session.ended`: the contact record was written (once per session, whoever closes it).

A body is `{"id", "type", "at", "session", "data"}`; the id is derived from the session
and the step, so it is unique and the same on every attempt (receivers de-duplicate by it).

Data minimisation: payloads carry the session id, team, counsellor id, kind, channels,
times, the end reason and seconds per channel. Never the customer's display name or
language, never the customer reference (pseudonymous, still personal data: a receiver that
needs it reads the contact record through the API with its own authorisation), never
access codes, PINs, tokens, SDP, candidates or addresses. The builders below name every
field they send; nothing is copied wholesale from the session.

Signature: `X-CB-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`,
over the exact body bytes; `t` is the time of sending, so receivers can refuse old replays.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from broker.contactlog.base import OutboxEntry
from broker.events import Input, SwitchChannel
from broker.record import ContactRecord
from broker.session import Session
from broker.types import State

CREATED = "session.created"
STARTED = "session.started"
CHANNEL_CHANGED = "session.channel_changed"
ENDED = "session.ended"
EVENT_TYPES = (CREATED, STARTED, CHANNEL_CHANGED, ENDED)

SIGNATURE_HEADER = "X-CB-Signature"
EVENT_ID_HEADER = "X-CB-Event-Id"
EVENT_TYPE_HEADER = "X-CB-Event"
SIGNATURE_VERSION = "v1"
# a receiver should refuse a signature whose `t` is further than this from its clock
SIGNATURE_TOLERANCE_SECONDS = 300

# event ids are UUIDv5 of (session, cause) in this namespace: stable, opaque, unique
_ID_NAMESPACE = uuid.UUID("0b9d6c55-3c6e-4f0a-9a55-6a3e4c2f7b11")


def event_id(session_id: str, cause: str) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, f"{session_id}/{cause}"))


def _t(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def body(event: str, type_: str, at: float, session_id: str, data: Mapping[str, Any]) -> str:
    """The JSON text of one event, as sent (compact, keys in a fixed order)."""
    return json.dumps(
        {"id": event, "type": type_, "at": _t(at), "session": session_id, "data": dict(data)},
        separators=(",", ":"), allow_nan=False,
    )


def sign(secret: str | bytes, payload: bytes, t: int) -> str:
    """The signature header's value for `payload` sent at `t`."""
    key = secret.encode() if isinstance(secret, str) else secret
    mac = hmac.new(key, f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},{SIGNATURE_VERSION}={mac}"


def verify(secret: str | bytes, payload: bytes, header: str, now: float,
           tolerance: float = SIGNATURE_TOLERANCE_SECONDS) -> bool:
    """What a receiver does: the header's `t` is recent and one `v1` matches the body."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        t = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs(now - t) > tolerance:
        return False
    expected = sign(secret, payload, t).rpartition("=")[2]
    return any(hmac.compare_digest(expected, given)
               for given in parts.get(SIGNATURE_VERSION, []))


def _who(s: Session | ContactRecord) -> dict[str, Any]:
    return {"team": s.team, "counsellor": s.counsellor, "kind": str(s.kind)}


@dataclass(frozen=True, slots=True)
class WebhookEvents:
    """Builds the outbox entries for the configured URLs (none configured: none built)."""

    urls: tuple[str, ...] = ()

    def _entries(self, session_id: str, cause: str, type_: str, at: float,
                 data: Mapping[str, Any]) -> list[OutboxEntry]:
        if not self.urls:
            return []
        eid = event_id(session_id, cause)
        text = body(eid, type_, at, session_id, data)
        return [OutboxEntry(eid, session_id, type_, at, url, text) for url in self.urls]

    def created(self, s: Session) -> list[OutboxEntry]:
        data = {**_who(s), "planned_channel": str(s.planned_channel),
                "planned_start": _t(s.planned_start), "created_at": _t(s.created_at)}
        return self._entries(s.id, "0", CREATED, s.created_at, data)

    def step(self, before: Session, after: Session, event: Input,
             at: float) -> list[OutboxEntry]:
        """What one logged step (`after.version`) causes, if anything."""
        cause = str(after.version)
        if after.state is State.ACTIVE and before.state is not State.ACTIVE:
            assert after.channel is not None
            data = {**_who(after), "channel": str(after.channel),
                    "planned_channel": str(after.planned_channel),
                    "joined_at": _t(after.joined_at), "admitted_at": _t(after.admitted_at),
                    "waiting_seconds": _t(None if after.joined_at is None
                                          or after.admitted_at is None
                                          else max(0.0, after.admitted_at - after.joined_at))}
            return self._entries(after.id, cause, STARTED, at, data)
        if (before.channel is not None and after.channel is not None
                and after.channel is not before.channel):
            by = str(event.role) if isinstance(event, SwitchChannel) else None
            data = {**_who(after), "from": str(before.channel), "to": str(after.channel),
                    "by": by, "fallback_used": after.fallback_used}
            return self._entries(after.id, cause, CHANNEL_CHANGED, at, data)
        return []

    def ended(self, r: ContactRecord) -> list[OutboxEntry]:
        data = {**_who(r), "state": str(r.state), "end_reason": str(r.end_reason),
                "planned_channel": str(r.planned_channel),
                "channel": str(r.segments[-1][0]) if r.segments else None,
                "planned_start": _t(r.planned_start), "created_at": _t(r.created_at),
                "joined_at": _t(r.joined_at), "admitted_at": _t(r.admitted_at),
                "media_connected_at": _t(r.media_connected_at), "ended_at": _t(r.ended_at),
                "seconds": dict(r.seconds), "waiting_seconds": r.waiting_seconds,
                "setup_seconds": r.setup_seconds, "fallback_used": r.fallback_used}
        return self._entries(r.session_id, "ended", ENDED, r.ended_at, data)
