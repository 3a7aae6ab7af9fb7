"""Rules every token we accept obeys, whoever signed it (RFC 8725, JWT best practice).

The header is read and judged before any key is chosen: the algorithm must be on the
verifier's allow-list, the token may not carry its own key or key location (`jku`, `x5u`,
`jwk`, `x5c`), and no `crit` extension is understood, so any is refused. Times are checked
against the caller's clock, so the core stays testable with a hand-moved one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jwt

from broker.errors import AccessDenied, ErrorCode

# headers that would let the token choose its own key
KEY_BEARING_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c"})
MAX_TOKEN_BYTES = 8192


def refused(message: str = "the token is not valid") -> AccessDenied:
    return AccessDenied(ErrorCode.UNAUTHENTICATED, message)


def safe_header(token: object, allowed: frozenset[str]) -> dict[str, Any]:
    """The token's header, if it is one we would ever accept; checked before any key."""
    if not isinstance(token, str) or not token:
        raise refused("a token is required")
    if len(token) > MAX_TOKEN_BYTES:
        raise refused("the token is too long")
    if not token.isascii():  # a JWT is base64url and dots; PyJWT would fail to encode it
        raise refused()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise refused() from None
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in allowed:
        raise refused("the token's algorithm is not accepted")
    if KEY_BEARING_HEADERS & header.keys():
        raise refused("the token may not name its own key")
    if "crit" in header:
        raise refused("the token needs extensions we do not support")
    return header


def unverified_issuer(token: str) -> str:
    """Only to route the token to the right verifier; the verifier checks it again."""
    if len(token) > MAX_TOKEN_BYTES:
        raise refused("the token is too long")
    if not token.isascii():
        raise refused()
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise refused() from None
    iss = claims.get("iss")
    return iss if isinstance(iss, str) else ""


def check_times(claims: Mapping[str, Any], now: float, nbf_skew: float = 0.0) -> float:
    """The token's expiry, if it is valid at `now`."""
    exp, nbf = _number(claims.get("exp")), _number(claims.get("nbf", 0))
    if exp <= now:
        raise AccessDenied(ErrorCode.TOKEN_EXPIRED, "the token has expired")
    if nbf > now + nbf_skew:
        raise refused("the token is not valid yet")
    return exp


def _number(value: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise refused()
    try:
        number = float(value)
    except OverflowError:
        raise refused() from None
    if not math.isfinite(number):  # NaN, or an "exp" that never comes
        raise refused()
    return number
