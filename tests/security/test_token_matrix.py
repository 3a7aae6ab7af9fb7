"""The token matrix: every forged, misused or stale token is refused at every door.

Doors: socket.io connect to /staff, /supervisor and /customer, and every REST endpoint that
takes a staff token (found from the router, so a new endpoint is covered without being
listed here). A refusal happens before anything is joined, and no log line holds the token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from broker.credentials import CUSTOMER_AUDIENCE, STAFF_AUDIENCE
from tests.conftest import SECRET, Broker
from tests.security.idp import AUDIENCE, LocalIdp, rsa_key
from web.keys import SERVICE, SIGNALING

PUBLIC_PATHS = {"/api/join", "/api/config", "/api/openapi.json", "/healthz",
                "/api/dropin/{team}",  # a team's entry page: no account
                "/api/callbacks/mine",  # a customer's personal callback link (its own tests)
                "/api/rating"}  # the last with a customer token: the customer matrix
NOW = time.time
NO_CALLBACK = "no-such-callback"  # the doors refuse before they look for one


def b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unsigned(claims: dict[str, Any], **header: Any) -> str:
    return f"{b64({'alg': 'none', 'typ': 'JWT', **header})}.{b64(claims)}."


def ours(audience: str, typ: str, secret: str = SECRET,
         headers: dict[str, Any] | None = None, **claims: Any) -> str:
    """A token in the built-in format, signed with `secret` (the broker's, unless told)."""
    now = int(NOW())
    body: dict[str, Any] = {"iss": "counselling-broker", "aud": audience, "sub": "c1",
                            "roles": ["counsellor"], "teams": ["t1"], "iat": now,
                            "exp": now + 600, "gen": 0}
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, secret, algorithm="HS256", headers={"typ": typ, **(headers or {})})


def staff_variant(**claims: Any) -> Callable[[LocalIdp], str]:
    return lambda idp: ours(STAFF_AUDIENCE, "cb-staff+jwt", **claims)


def idp_variant(**kw: Any) -> Callable[[LocalIdp], str]:
    return lambda idp: idp.token(**kw)


def hmac_with_public_key(idp: LocalIdp) -> str:
    """The classic confusion: the provider's public key used as an HMAC secret."""
    key = idp.keys[0]
    pem = key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    now = int(NOW())
    claims = {"iss": idp.issuer, "aud": AUDIENCE, "sub": "mallory", "iat": now,
              "exp": now + 600, "realm_access": {"roles": ["jc-counsellor"]}}
    # PyJWT refuses to sign with a PEM as HMAC key, so the token is put together by hand
    head = b64({"alg": "HS256", "typ": "at+jwt", "kid": key.kid})
    body = b64(claims)
    sig = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{base64.urlsafe_b64encode(sig).rstrip(b'=').decode()}"


def attacker_key_in_header(header: str) -> Callable[[LocalIdp], str]:
    def make(idp: LocalIdp) -> str:
        evil = rsa_key("key-1")  # same kid as the real key, another key pair
        extra: dict[str, Any] = {
            "jku": idp.jwks_url.replace("certs", "evil"),
            "x5u": "http://127.0.0.1:9/cert.pem",
            "jwk": evil.public_jwk(),
            "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"],
        }
        return idp.token(key=evil, headers={header: extra[header]})
    return make


# name -> (token maker, codes a refusal may carry)
STAFF_MATRIX: dict[str, tuple[Callable[[LocalIdp], str], set[str]]] = {
    "alg-none": (lambda idp: unsigned({"iss": idp.issuer, "aud": AUDIENCE, "sub": "x",
                                       "exp": int(NOW()) + 600,
                                       "realm_access": {"roles": ["jc-counsellor"]}},
                                      kid="key-1"), {"unauthenticated"}),
    "alg-none-builtin": (lambda idp: unsigned({"iss": "counselling-broker",
                                               "aud": STAFF_AUDIENCE, "sub": "c1",
                                               "roles": ["counsellor"], "teams": ["t1"],
                                               "iat": int(NOW()), "exp": int(NOW()) + 600},
                                              typ="cb-staff+jwt"), {"unauthenticated"}),
    "hmac-signed-with-public-key": (hmac_with_public_key, {"unauthenticated"}),
    "unknown-kid": (lambda idp: idp.token(key=rsa_key("key-unknown")), {"unauthenticated"}),
    "known-kid-other-key": (lambda idp: idp.token(key=rsa_key("key-1")), {"unauthenticated"}),
    "jku-header": (attacker_key_in_header("jku"), {"unauthenticated"}),
    "x5u-header": (attacker_key_in_header("x5u"), {"unauthenticated"}),
    "jwk-header": (attacker_key_in_header("jwk"), {"unauthenticated"}),
    "x5c-header": (attacker_key_in_header("x5c"), {"unauthenticated"}),
    "unknown-crit": (idp_variant(headers={"crit": ["exp-bound"], "exp-bound": 1}),
                     {"unauthenticated"}),
    "missing-exp": (idp_variant(exp=None), {"unauthenticated"}),
    "expired": (idp_variant(ttl=-10), {"token_expired"}),
    "future-nbf": (idp_variant(nbf=int(NOW()) + 3600), {"unauthenticated"}),
    "wrong-aud": (idp_variant(aud="another-app"), {"unauthenticated"}),
    "missing-aud": (idp_variant(aud=None), {"unauthenticated"}),
    "iss-prefix": (lambda idp: idp.token(iss=idp.issuer + ".evil.example"),
                   {"unauthenticated"}),
    "iss-trailing-slash": (lambda idp: idp.token(iss=idp.issuer + "/"), {"unauthenticated"}),
    "no-staff-role": (idp_variant(roles=("offline_access",)), {"forbidden"}),
    "builtin-wrong-secret": (staff_variant(secret="another-secret-" + "y" * 40),
                             {"unauthenticated"}),
    "builtin-expired": (staff_variant(exp=int(NOW()) - 1), {"token_expired"}),
    "builtin-missing-exp": (staff_variant(exp=None), {"unauthenticated"}),
    "builtin-future-nbf": (staff_variant(nbf=int(NOW()) + 3600), {"unauthenticated"}),
    "builtin-wrong-aud": (staff_variant(aud="counselling-broker/other"), {"unauthenticated"}),
    "builtin-missing-aud": (staff_variant(aud=None), {"unauthenticated"}),
    "builtin-iss-prefix": (staff_variant(iss="counselling-broker-evil"), {"unauthenticated"}),
    "builtin-crit": (lambda idp: ours(STAFF_AUDIENCE, "cb-staff+jwt",
                                      headers={"crit": ["x"], "x": 1}), {"unauthenticated"}),
    "builtin-jwk-header": (lambda idp: ours(STAFF_AUDIENCE, "cb-staff+jwt",
                                            headers={"jwk": {"kty": "oct", "k": "AA"}}),
                           {"unauthenticated"}),
    "customer-token-as-staff": (lambda idp: ours(CUSTOMER_AUDIENCE, "cb-customer+jwt"),
                                {"unauthenticated"}),
    "staff-claims-customer-type": (lambda idp: ours(STAFF_AUDIENCE, "cb-customer+jwt"),
                                   {"unauthenticated"}),
    "customer-aud-staff-type": (lambda idp: ours(CUSTOMER_AUDIENCE, "cb-staff+jwt"),
                                {"unauthenticated"}),
    "garbage": (lambda idp: "not.a.token", {"unauthenticated"}),
    "huge": (lambda idp: "e" * 8_150, {"unauthenticated"}),  # just under the header limit
}


def _rooms(broker: Broker, namespace: str) -> int:
    rooms = broker.server.app[SIGNALING].sio.manager.rooms.get(namespace, {})
    return sum(len(members) for members in rooms.values())


async def _rest_doors(broker: Broker, session: str) -> list[tuple[str, str]]:
    """Every staff-token route of the app, with its path filled in."""
    doors = []
    for resource in broker.server.app.router.resources():
        path = resource.canonical
        if not path.startswith("/api/") or path in PUBLIC_PATHS:
            continue
        for route in resource:
            if route.method in {"HEAD", "OPTIONS", "*"}:
                continue
            doors.append((route.method,
                          path.replace("{session}", session).replace("{staff}", "c1")
                          .replace("{callback}", NO_CALLBACK)))
    assert len(doors) >= 8, doors  # the matrix must not silently shrink
    return doors


@pytest.mark.parametrize("case", list(STAFF_MATRIX))
async def test_staff_token_matrix(case: str, oidc_broker: Broker, idp: LocalIdp,
                                  caplog: pytest.LogCaptureFixture) -> None:
    """Refused on /staff, /supervisor and every staff REST endpoint, nothing joined,
    nothing done, and the token never written to a log."""
    caplog.set_level(logging.DEBUG)
    broker = oidc_broker
    good = broker.staff_token()
    created = await broker.create_session(good)
    make, codes = STAFF_MATRIX[case]
    token = make(idp)
    online_before = (await broker.server.app[SERVICE].load_snapshot())["teams"]

    for namespace in ("/staff", "/supervisor"):
        before = _rooms(broker, namespace)
        refusal = await broker.peer(namespace, {"token": token, "v": 1}).refused()
        assert refusal["code"] in codes, (namespace, refusal)
        assert _rooms(broker, namespace) == before
    for method, path in await _rest_doors(broker, created["session"]):
        status, body = await broker.http(method, path, token,
                                         json={} if method in {"POST", "PUT"} else None)
        assert status in {401, 403}, (method, path, status, body)
        assert body["error"]["code"] in codes, (method, path, body)

    # nothing changed: no one came online, the session is as it was
    assert (await broker.server.app[SERVICE].load_snapshot())["teams"] == online_before
    status, same = await broker.http("GET", f"/api/sessions/{created['session']}", good)
    assert status == 200 and same["state"] == "scheduled"
    assert token[:40] not in caplog.text and token[-20:] not in caplog.text


# doors that answer 200 only with their required parameters
REQUIRED_QUERY = {"/api/reports": "?from=2026-01-01&to=2026-02-01"}


async def test_good_provider_token_opens_every_staff_door(oidc_broker: Broker,
                                                          idp: LocalIdp) -> None:
    """The control for the matrix: the same doors open for a valid provider token."""
    token = idp.token(roles=("jc-counsellor", "jc-teamlead", "jc-admin"))
    status, created = await oidc_broker.http("POST", "/api/sessions", token,
                                             json={"customer_ref": "K-9"})
    assert status == 201, created
    await oidc_broker.counsellor(token)
    await oidc_broker.supervisor(token)
    for method, path in await _rest_doors(oidc_broker, created["session"]):
        if method == "GET" and not path.startswith("/api/contacts/") \
                and NO_CALLBACK not in path:  # no record, no callback request yet
            status, body = await oidc_broker.http(method, path + REQUIRED_QUERY.get(path, ""),
                                                  token)
            assert status == 200, (path, body)


CUSTOMER_MATRIX: dict[str, tuple[Callable[[str, LocalIdp], str], set[str]]] = {
    "alg-none": (lambda sid, idp: unsigned({"iss": "counselling-broker",
                                            "aud": CUSTOMER_AUDIENCE, "sub": sid,
                                            "iat": int(NOW()), "exp": int(NOW()) + 600},
                                           typ="cb-customer+jwt"), {"unauthenticated"}),
    "wrong-secret": (lambda sid, idp: ours(CUSTOMER_AUDIENCE, "cb-customer+jwt",
                                           secret="z" * 48, sub=sid), {"unauthenticated"}),
    "staff-token-as-customer": (lambda sid, idp: ours(STAFF_AUDIENCE, "cb-staff+jwt",
                                                      sub=sid), {"unauthenticated"}),
    "provider-token-as-customer": (lambda sid, idp: idp.token(sub=sid), {"unauthenticated"}),
    "customer-type-staff-aud": (lambda sid, idp: ours(STAFF_AUDIENCE, "cb-customer+jwt",
                                                      sub=sid), {"unauthenticated"}),
    "expired": (lambda sid, idp: ours(CUSTOMER_AUDIENCE, "cb-customer+jwt", sub=sid,
                                      exp=int(NOW()) - 1), {"token_expired"}),
    "missing-exp": (lambda sid, idp: ours(CUSTOMER_AUDIENCE, "cb-customer+jwt", sub=sid,
                                          exp=None), {"unauthenticated"}),
    "future-nbf": (lambda sid, idp: ours(CUSTOMER_AUDIENCE, "cb-customer+jwt", sub=sid,
                                         nbf=int(NOW()) + 600), {"unauthenticated"}),
    "missing-aud": (lambda sid, idp: ours(CUSTOMER_AUDIENCE, "cb-customer+jwt", sub=sid,
                                          aud=None), {"unauthenticated"}),
    "iss-prefix": (lambda sid, idp: ours(CUSTOMER_AUDIENCE, "cb-customer+jwt", sub=sid,
                                         iss="counselling-broker.evil"), {"unauthenticated"}),
    "crit": (lambda sid, idp: ours(CUSTOMER_AUDIENCE, "cb-customer+jwt", sub=sid,
                                   headers={"crit": ["x"], "x": 1}), {"unauthenticated"}),
    "jku": (lambda sid, idp: ours(CUSTOMER_AUDIENCE, "cb-customer+jwt", sub=sid,
                                  headers={"jku": idp.jwks_url}), {"unauthenticated"}),
    "older-link-generation": (lambda sid, idp: ours(CUSTOMER_AUDIENCE, "cb-customer+jwt",
                                                    sub=sid, gen=-1), {"unauthenticated"}),
    "future-link-generation": (lambda sid, idp: ours(CUSTOMER_AUDIENCE, "cb-customer+jwt",
                                                     sub=sid, gen=7), {"link_revoked"}),
    "unknown-session": (lambda sid, idp: ours(CUSTOMER_AUDIENCE, "cb-customer+jwt",
                                              sub="A" * 22), {"not_found"}),
}


@pytest.mark.parametrize("case", list(CUSTOMER_MATRIX))
async def test_customer_token_matrix(case: str, oidc_broker: Broker, idp: LocalIdp,
                                     caplog: pytest.LogCaptureFixture) -> None:
    """Refused on /customer before any room is joined; the session is untouched."""
    caplog.set_level(logging.DEBUG)
    broker = oidc_broker
    created = await broker.create_session(broker.staff_token())
    sid = created["session"]
    make, codes = CUSTOMER_MATRIX[case]
    token = make(sid, idp)
    before = _rooms(broker, "/customer")
    refusal = await broker.peer("/customer", {"token": token, "v": 1}).refused()
    assert refusal["code"] in codes, refusal
    assert _rooms(broker, "/customer") == before
    # the rightful link still works, on the first device, as if nothing had happened
    customer = await broker.customer(created["customer_token"])
    assert (await customer.next("welcome"))["state"] == "scheduled"
    assert token[:40] not in caplog.text and token[-20:] not in caplog.text
    # the customer's own REST door (the rating) refuses it the same way
    status, body = await broker.http("POST", "/api/rating", token, json={"score": 5})
    assert body["error"]["code"] in codes and status in (401, 404), (status, body)
    # customer tokens open no staff REST door either
    status, _ = await broker.http("GET", "/api/sessions", created["customer_token"])
    assert status == 401


async def test_session_a_token_reaches_nothing_of_session_b(broker: Broker) -> None:
    """A customer of session A cannot address session B: events carry no session field,
    and one that tries is refused while B hears nothing."""
    token = broker.staff_token()
    a = await broker.create_session(token)
    b = await broker.create_session(token, customer_ref="K-0002")
    customer_a = await broker.customer(a["customer_token"])
    customer_b = await broker.customer(b["customer_token"])
    ack = await customer_a.call("join", {"session": b["session"], "name": "X"})
    assert ack["ok"] is False and ack["error"]["code"] == "bad_request"
    ack = await customer_a.call("signal", {"session": b["session"], "type": "offer",
                                           "sdp": "v=0"})
    assert ack["ok"] is False
    assert customer_b.pending("signal") == 0
    assert (await broker.service.get(b["session"])).state.value == "scheduled"
