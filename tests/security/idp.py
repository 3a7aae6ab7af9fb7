"""A local identity provider for tests: generated keys, a JWKS served on loopback.

It issues OpenID Connect style access tokens the way a Jobcenter's provider would
(Keycloak-like claims: roles under `realm_access.roles`, teams in `groups`), and can rotate
its keys: the broker must find a new `kid` by fetching the key set again.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ISSUER_PATH = "/realms/jobcenter"
AUDIENCE = "counselling-broker"


@dataclass
class SigningKey:
    kid: str
    alg: str
    private: Any

    def public_jwk(self) -> dict[str, Any]:
        algo = jwt.get_algorithm_by_name(self.alg)
        jwk: dict[str, Any] = json.loads(algo.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}


def rsa_key(kid: str) -> SigningKey:
    return SigningKey(kid, "RS256", rsa.generate_private_key(public_exponent=65537,
                                                             key_size=2048))


def ec_key(kid: str) -> SigningKey:
    return SigningKey(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))


@dataclass
class LocalIdp:
    server: TestServer
    keys: list[SigningKey] = field(default_factory=list)
    jwks_requests: int = 0
    down: bool = False  # answer 503, as a provider in maintenance would

    @property
    def issuer(self) -> str:
        return str(self.server.make_url(ISSUER_PATH))

    @property
    def jwks_url(self) -> str:
        return str(self.server.make_url(ISSUER_PATH + "/protocol/openid-connect/certs"))

    def settings(self) -> dict[str, Any]:
        """Broker settings that trust this provider (as CB_OIDC_* would)."""
        return {
            "oidc_issuer": self.issuer, "oidc_audience": AUDIENCE,
            "oidc_jwks_url": self.jwks_url, "oidc_roles_claim": "realm_access.roles",
            "oidc_teams_claim": "groups",
            "oidc_role_map": {"jc-counsellor": "counsellor", "jc-teamlead": "supervisor",
                              "jc-admin": "admin"},
            "oidc_jwks_min_refresh_seconds": 0.0,
        }

    def token(self, sub: str = "idp-user-1", roles: tuple[str, ...] = ("jc-counsellor",),
              groups: tuple[str, ...] = ("t1",), key: SigningKey | None = None,
              headers: dict[str, Any] | None = None, ttl: float = 300,
              **claims: Any) -> str:
        key = key or self.keys[0]
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.issuer, "aud": AUDIENCE, "sub": sub, "iat": now, "exp": now + ttl,
            "jti": uuid.uuid4().hex, "realm_access": {"roles": list(roles)},
            "groups": list(groups), "azp": "counselling-console",
        }
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, key.private, algorithm=key.alg,
                          headers={"kid": key.kid, "typ": "at+jwt", **(headers or {})})

    def rotate(self) -> SigningKey:
        """A new signing key; the old one is withdrawn from the published set."""
        new = rsa_key(f"key-{len(self.keys) + 1}")
        self.keys = [new]
        return new


async def start_idp() -> LocalIdp:
    app = web.Application()
    idp = LocalIdp(TestServer(app, host="127.0.0.1"), [rsa_key("key-1"), ec_key("key-ec")])

    async def certs(request: web.Request) -> web.Response:
        idp.jwks_requests += 1
        if idp.down:
            raise web.HTTPServiceUnavailable()
        return web.json_response({"keys": [k.public_jwk() for k in idp.keys]})

    async def discovery(request: web.Request) -> web.Response:
        return web.json_response({"issuer": idp.issuer, "jwks_uri": idp.jwks_url})

    app.router.add_get(ISSUER_PATH + "/protocol/openid-connect/certs", certs)
    app.router.add_get(ISSUER_PATH + "/.well-known/openid-configuration", discovery)
    await idp.server.start_server()
    return idp
