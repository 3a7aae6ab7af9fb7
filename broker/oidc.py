"""Staff tokens from the Jobcenter's identity provider: OpenID Connect access tokens,
signed with keys the provider publishes as a JWKS.

Pure checking, given the key set; fetching and caching keys is the adapter's job
(`broker.jwks`). The rules follow RFC 8725: an allow-list of asymmetric algorithms, the
key chosen by `kid` from our own copy of the provider's set and never from the token
(`jku`, `x5u`, `jwk`, `x5c` are refused), no `crit` extension we do not know (we know
none), the exact issuer, our audience, and times against the caller's clock.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from broker.errors import AccessDenied, ErrorCode
from broker.tokenrules import check_times, refused, safe_header
from broker.types import Role, StaffId, TeamId

STAFF_TOKEN_TYPES = frozenset({"", "jwt", "at+jwt", "application/at+jwt"})
NBF_SKEW = 5.0  # seconds the provider's clock may run ahead of ours
_TEAM = re.compile(r"[A-Za-z0-9._-]{1,64}")
_KEY_TYPES = {"RSA": ("RS", "PS"), "EC": ("ES",), "OKP": ("EdDSA",)}
_ROLES = {r.value: r for r in Role if r is not Role.CUSTOMER}


@dataclass(frozen=True, slots=True)
class OidcConfig:
    issuer: str
    audience: str
    algorithms: frozenset[str]
    roles_claim: str = "roles"
    teams_claim: str = "teams"
    role_map: Mapping[str, str] = field(default_factory=dict)


class KeySet:
    """A provider's published keys by `kid`; built from the JWKS document."""

    def __init__(self, keys: Mapping[str, tuple[jwt.PyJWK, str | None]]) -> None:
        self._keys = dict(keys)  # kid -> (key, the algorithm the key declares)

    @classmethod
    def parse(cls, document: str | bytes, algorithms: frozenset[str]) -> KeySet:
        """Only public signing keys with a `kid` are kept: no shared-secret (`oct`) key, no
        encryption key, no key declaring an algorithm we refuse."""
        data = json.loads(document)
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise ValueError("not a JWKS document")
        keys: dict[str, tuple[jwt.PyJWK, str | None]] = {}
        seen: set[str] = set()
        ambiguous: set[str] = set()
        for raw in data["keys"]:
            if not isinstance(raw, dict) or not isinstance(raw.get("kid"), str):
                continue
            declared = raw.get("alg")
            if (raw.get("kty") not in _KEY_TYPES or raw.get("use", "sig") != "sig"
                    or (declared is not None and declared not in algorithms)
                    or "d" in raw):  # a private key published by mistake: refuse to use it
                continue
            try:
                key = jwt.PyJWK(raw)
            except jwt.PyJWTError:
                continue  # a key type this build cannot use
            if raw["kid"] in seen:  # two usable keys, one kid: which is meant is unknowable
                ambiguous.add(raw["kid"])
            seen.add(raw["kid"])
            keys[raw["kid"]] = (key, declared)
        return cls({kid: k for kid, k in keys.items() if kid not in ambiguous})

    def get(self, kid: str) -> tuple[jwt.PyJWK, str | None] | None:
        return self._keys.get(kid)

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def __len__(self) -> int:
        return len(self._keys)


@dataclass(frozen=True, slots=True)
class OidcIdentity:
    staff_id: StaffId
    roles: frozenset[Role]
    teams: frozenset[TeamId]
    expires_at: float


def verify(token: str, config: OidcConfig, keys: KeySet, now: float) -> OidcIdentity:
    header = safe_header(token, config.algorithms)
    typ = header.get("typ", "")
    if not isinstance(typ, str) or typ.lower() not in STAFF_TOKEN_TYPES:
        raise refused("not an access token")
    kid = header.get("kid")
    found = keys.get(kid) if isinstance(kid, str) else None
    if found is None:
        raise refused("the token is signed with an unknown key")
    key, declared = found
    alg = header["alg"]
    if (declared is not None and declared != alg) or not alg.startswith(
            _KEY_TYPES.get(key.key_type or "", ("-",))):
        raise refused("the token's algorithm does not match its key")
    try:
        claims: dict[str, Any] = jwt.decode(
            token, key.key, algorithms=[alg], audience=config.audience, issuer=config.issuer,
            options={"require": ["exp", "iss", "aud", "sub"], "verify_exp": False,
                     "verify_iat": False, "verify_nbf": False},
        )
    except jwt.PyJWTError:
        raise refused() from None
    expires_at = check_times(claims, now, NBF_SKEW)
    sub = claims["sub"]
    if not isinstance(sub, str) or not sub or len(sub) > 128 or not sub.isprintable():
        raise refused("the token names no user")
    roles = _map_roles(_claim(claims, config.roles_claim), config.role_map)
    if not roles:
        raise AccessDenied(ErrorCode.FORBIDDEN, "the token has no staff role")
    # team ids become room names and database values: the API's own pattern, others dropped
    teams = frozenset(TeamId(t) for t in _strings(_claim(claims, config.teams_claim))
                      if _TEAM.fullmatch(t))
    return OidcIdentity(StaffId(sub), roles, teams, expires_at)


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    """A claim by name (which may hold dots, e.g. a URL), else by dotted path (Keycloak
    puts roles in `realm_access.roles`)."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.split()  # a space-separated list, like `scope`
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and 0 < len(v) <= 128]
    return []


def _map_roles(value: Any, role_map: Mapping[str, str]) -> frozenset[Role]:
    """The provider's role names mapped to ours; without a map, ours are expected as is.
    Roles we do not know are ignored (a provider issues many)."""
    found = set()
    for name in _strings(value):
        ours = role_map.get(name, name if not role_map else "")
        if ours in _ROLES:
            found.add(_ROLES[ours])
    return frozenset(found)
