"""Who is connecting: the token in socket.io's `auth` payload, checked before anything else."""

from __future__ import annotations

from typing import Any

from socketio.exceptions import ConnectionRefusedError as Refused

from broker.errors import BadInput, BrokerError, ErrorCode
from broker.types import PROTOCOL_VERSION


def refuse(err: BrokerError) -> Refused:
    """A refusal the client can show: socket.io's `connect_error` with `{code, message}`."""
    return Refused(str(err.code), err.to_dict())


def read_auth(auth: Any) -> dict[str, Any]:
    """The connect payload: `{token, v?, device?}`; nothing else, nothing large."""
    if not isinstance(auth, dict):
        raise BadInput("connect with auth {token}", ErrorCode.UNAUTHENTICATED)
    if set(auth) - {"token", "v", "device"}:
        raise BadInput("unknown fields in auth")
    if auth.get("v", PROTOCOL_VERSION) != PROTOCOL_VERSION:
        raise BadInput(
            f"protocol version {PROTOCOL_VERSION} is supported", ErrorCode.UNSUPPORTED_VERSION
        )
    device = auth.get("device")
    if device is not None and (not isinstance(device, str) or len(device) > 128):
        raise BadInput("device must be a short string")
    return auth
