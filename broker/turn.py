"""TURN credentials by the TURN REST API scheme (what coturn's `use-auth-secret` checks).

The username is `<expiry>:<opaque>`, the password an HMAC-SHA1 of it under the secret
shared with the TURN server: nothing is stored, the relay checks the expiry itself, and
the opaque part names no person (a fresh random string per participant and hand-out).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from typing import Any


def turn_credentials(secret: str, now: float, ttl: float, opaque: str | None = None
                     ) -> tuple[str, str]:
    """(username, credential) valid until `now + ttl`."""
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    name = f"{int(now + ttl)}:{opaque or secrets.token_urlsafe(12)}"
    digest = hmac.new(secret.encode(), name.encode(), hashlib.sha1).digest()
    return name, base64.b64encode(digest).decode()


def ice_servers(static: Sequence[dict[str, Any]], turn_urls: Sequence[str], secret: str,
                ttl: float, now: float) -> list[dict[str, Any]]:
    """What a participant's RTCPeerConnection gets: the configured servers, plus the TURN
    relay with fresh credentials when one is configured."""
    servers = [dict(s) for s in static]
    if turn_urls:
        username, credential = turn_credentials(secret, now, ttl)
        servers.append({"urls": list(turn_urls), "username": username,
                        "credential": credential})
    return servers
