"""Staff and customer tokens (pyjwt), access codes and device secrets.

Token rules (besides those of `broker.tokenrules`): one algorithm (HS256) pinned; `exp`,
`iat`, `iss`, `aud` and `sub` required; the token type is explicit twice, in the header's
`typ` and in the audience, so a customer token can never pass as a staff token or the
reverse. A customer token names its session and the link generation it belongs to: a
re-issued link revokes the older ones. Access codes and device secrets are kept by stores
and logs only as keyed hashes (the live session holds its code while it runs, to show it
as the phone PIN).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from broker.errors import AccessDenied, ErrorCode
from broker.tokenrules import check_times, safe_header
from broker.types import Role, SessionId, StaffId, TeamId

ALGORITHM = "HS256"
STAFF_AUDIENCE = "counselling-broker/staff"
CUSTOMER_AUDIENCE = "counselling-broker/customer"
TICKET_AUDIENCE = "counselling-broker/ticket"
CALLBACK_AUDIENCE = "counselling-broker/callback"
STAFF_TYPE = "cb-staff+jwt"
CUSTOMER_TYPE = "cb-customer+jwt"
TICKET_TYPE = "cb-ticket+jwt"
CALLBACK_TYPE = "cb-callback+jwt"
_TYPES = {STAFF_AUDIENCE: STAFF_TYPE, CUSTOMER_AUDIENCE: CUSTOMER_TYPE,
          TICKET_AUDIENCE: TICKET_TYPE, CALLBACK_AUDIENCE: CALLBACK_TYPE}
ACCESS_CODE_DIGITS = 9
STAFF_ROLES = frozenset({Role.COUNSELLOR, Role.SUPERVISOR, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class StaffPrincipal:
    staff_id: StaffId
    roles: frozenset[Role]
    teams: frozenset[TeamId]
    expires_at: float = float("inf")  # the token's `exp`: a socket does not outlive it

    def has(self, role: Role) -> bool:
        return role in self.roles or Role.ADMIN in self.roles


@dataclass(frozen=True, slots=True)
class CustomerPrincipal:
    session_id: SessionId
    token_id: str
    generation: int = 0  # of the link; a re-issue makes older generations invalid


@dataclass(frozen=True, slots=True)
class TicketPrincipal:
    """A drop-in customer's place in a queue: what they asked for and when, so that after
    a restart of the broker they queue again at the same place."""

    ticket: str
    team: TeamId
    topic: str
    language: str
    joined_at: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class CallbackPrincipal:
    """A customer's personal link to their callback request: what it says and whether the
    call rings is the request's (in the contact log), the token only names it."""

    callback_id: str
    expires_at: float


class TokenIssuer:
    """Signs and checks tokens with one secret; pure computation, the caller gives the time."""

    def __init__(self, secret: bytes, issuer: str) -> None:
        if len(secret) < 32:
            raise ValueError("the signing secret must be at least 32 bytes")
        self._secret = secret
        self._issuer = issuer

    # -------------------------------------------------------------- issuing

    def staff_token(
        self,
        staff_id: StaffId,
        roles: frozenset[Role],
        teams: frozenset[TeamId],
        now: float,
        ttl: float,
    ) -> str:
        unknown = roles - STAFF_ROLES
        if not roles or unknown:
            raise ValueError(f"staff roles must be among {sorted(STAFF_ROLES)}")
        claims = {
            "iss": self._issuer,
            "aud": STAFF_AUDIENCE,
            "sub": staff_id,
            "roles": sorted(roles),
            "teams": sorted(teams),
            "iat": int(now),
            "exp": int(now + ttl),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM,
                          headers={"typ": STAFF_TYPE})

    def customer_token(self, session_id: SessionId, now: float, expires_at: float,
                       generation: int = 0) -> str:
        claims = {
            "iss": self._issuer,
            "aud": CUSTOMER_AUDIENCE,
            "sub": session_id,
            "gen": generation,
            "iat": int(now),
            "exp": int(expires_at),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM,
                          headers={"typ": CUSTOMER_TYPE})

    def ticket_token(self, t: TicketPrincipal, now: float) -> str:
        claims = {
            "iss": self._issuer,
            "aud": TICKET_AUDIENCE,
            "sub": t.ticket,
            "team": t.team,
            "topic": t.topic,
            "lang": t.language,
            "joined": t.joined_at,
            "iat": int(now),
            "exp": int(t.expires_at),
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM,
                          headers={"typ": TICKET_TYPE})

    def callback_token(self, callback_id: str, now: float, expires_at: float) -> str:
        claims = {
            "iss": self._issuer,
            "aud": CALLBACK_AUDIENCE,
            "sub": callback_id,
            "iat": int(now),
            "exp": int(expires_at),
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM,
                          headers={"typ": CALLBACK_TYPE})

    @property
    def issuer(self) -> str:
        return self._issuer

    # -------------------------------------------------------------- checking

    def _decode(self, token: object, audience: str, now: float) -> dict[str, Any]:
        header = safe_header(token, frozenset({ALGORITHM}))
        assert isinstance(token, str)
        if header.get("typ") != _TYPES[audience]:
            raise AccessDenied(ErrorCode.UNAUTHENTICATED, "this is the wrong kind of token")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=self._issuer,
                leeway=0,
                options={
                    "require": ["exp", "iat", "iss", "aud", "sub"],
                    # time is the caller's: checked below against `now`, not the wall clock
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError:
            raise AccessDenied(ErrorCode.UNAUTHENTICATED, "the token is not valid") from None
        claims["exp"] = check_times(claims, now)
        return claims

    def check_staff(self, token: object, now: float) -> StaffPrincipal:
        claims = self._decode(token, STAFF_AUDIENCE, now)
        roles, teams = claims.get("roles"), claims.get("teams")
        if not isinstance(roles, list) or not isinstance(teams, list):
            raise AccessDenied(ErrorCode.UNAUTHENTICATED, "the token has no roles")
        try:
            role_set = frozenset(Role(r) for r in roles) & STAFF_ROLES
        except ValueError:
            raise AccessDenied(ErrorCode.UNAUTHENTICATED, "the token has an unknown role") from None
        if not role_set:
            raise AccessDenied(ErrorCode.FORBIDDEN, "the token has no staff role")
        return StaffPrincipal(
            StaffId(str(claims["sub"])), role_set, frozenset(TeamId(str(t)) for t in teams),
            claims["exp"],
        )

    def check_customer(self, token: object, now: float) -> CustomerPrincipal:
        claims = self._decode(token, CUSTOMER_AUDIENCE, now)
        gen = claims.get("gen", 0)
        if not isinstance(gen, int) or isinstance(gen, bool) or gen < 0:
            raise AccessDenied(ErrorCode.UNAUTHENTICATED, "the token is not valid")
        return CustomerPrincipal(SessionId(str(claims["sub"])), str(claims.get("jti", "")), gen)

    def check_ticket(self, token: object, now: float) -> TicketPrincipal:
        claims = self._decode(token, TICKET_AUDIENCE, now)
        team, topic, lang, joined = (claims.get(k) for k in ("team", "topic", "lang", "joined"))
        if not (isinstance(team, str) and isinstance(topic, str) and isinstance(lang, str)
                and isinstance(joined, int | float) and not isinstance(joined, bool)):
            raise AccessDenied(ErrorCode.UNAUTHENTICATED, "the token is not valid")
        return TicketPrincipal(str(claims["sub"]), TeamId(team), topic, lang, float(joined),
                               claims["exp"])

    def check_callback(self, token: object, now: float) -> CallbackPrincipal:
        claims = self._decode(token, CALLBACK_AUDIENCE, now)
        return CallbackPrincipal(str(claims["sub"]), claims["exp"])

    # -------------------------------------------------------------- secrets

    def keyed_hash(self, purpose: str, value: str) -> str:
        """A stable, keyed digest: stores can index codes and secrets without holding them."""
        mac = hmac.new(self._secret, f"{purpose}\0{value}".encode(), hashlib.sha256)
        return mac.hexdigest()


def derive_access_code(issuer: TokenIssuer, session_id: SessionId, nonce: int) -> str:
    """The session's access code, recomputable from the secret: the log keeps only the nonce."""
    digest = issuer.keyed_hash("access-code", f"{session_id}:{nonce}")
    return f"{int(digest, 16) % 10**ACCESS_CODE_DIGITS:0{ACCESS_CODE_DIGITS}d}"


def new_session_id() -> SessionId:
    return SessionId(secrets.token_urlsafe(16))


def normalise_access_code(raw: object) -> str | None:
    """Accept what people type ("123 456 789", "123-456-789"); None if it cannot be a code."""
    if not isinstance(raw, str) or len(raw) > 32:
        return None
    digits = "".join(ch for ch in raw if not ch.isspace() and ch not in "-./")
    if len(digits) != ACCESS_CODE_DIGITS or not digits.isascii() or not digits.isdigit():
        return None
    return digits


def new_device_secret() -> str:
    return secrets.token_urlsafe(24)
