"""Staff tokens from the identity provider: the key set we keep and what `verify` accepts.

Keys are generated here (RSA 2048, EC P-256, Ed25519) and published in a JWKS written by
hand; tokens are assembled by hand too (`forge`), so a test can put anything into the
header or the claims that an attacker could. The clock is the caller's: NOW is far in the
future (2096) so that pyjwt's own wall-clock checks could never be what decides.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from broker.errors import AccessDenied, ErrorCode
from broker.oidc import NBF_SKEW, KeySet, OidcConfig, OidcIdentity, verify
from broker.tokenrules import MAX_TOKEN_BYTES
from broker.types import Role, StaffId, TeamId

ISSUER = "https://idp.jobcenter.example/realms/jobcenter"
AUDIENCE = "counselling-broker"
NOW = 4_000_000_000.0  # 2096-10-02
EXP = int(NOW) + 300
ALGS = frozenset({"RS256", "PS256", "ES256", "EdDSA"})
CONFIG = OidcConfig(ISSUER, AUDIENCE, ALGS)
DROP = object()  # a claim or header value meaning "leave this out"


# ---------------------------------------------------------------- keys and tokens


@dataclass(frozen=True)
class Signer:
    """A private key and the kid under which its public half is published."""

    kid: str
    alg: str
    private: Any

    def public_jwk(self, *, declare_alg: bool = True, **extra: Any) -> dict[str, Any]:
        public = self.private.public_key()
        jwk: dict[str, Any]
        if isinstance(public, rsa.RSAPublicKey):
            jwk = dict(RSAAlgorithm.to_jwk(public, as_dict=True))
        elif isinstance(public, ec.EllipticCurvePublicKey):
            jwk = dict(ECAlgorithm.to_jwk(public, as_dict=True))
        else:
            jwk = dict(OKPAlgorithm.to_jwk(public, as_dict=True))
        jwk.update({"kid": self.kid, "use": "sig"})
        if declare_alg:
            jwk["alg"] = self.alg
        jwk.update(extra)
        return {k: v for k, v in jwk.items() if v is not DROP}

    def private_jwk(self) -> dict[str, Any]:
        key = self.private
        jwk: dict[str, Any]
        if isinstance(key, rsa.RSAPrivateKey):
            jwk = dict(RSAAlgorithm.to_jwk(key, as_dict=True))
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            jwk = dict(ECAlgorithm.to_jwk(key, as_dict=True))
        else:
            jwk = dict(OKPAlgorithm.to_jwk(key, as_dict=True))
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def public_pem(self) -> bytes:
        return bytes(self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


@dataclass(frozen=True)
class Provider:
    rsa: Signer  # publishes alg RS256
    rsa_any: Signer  # the same RSA key pair, published without an `alg`
    ps: Signer  # another RSA key, publishes alg PS256
    ec: Signer
    ed: Signer
    impostor: Signer  # a different RSA key pair claiming the kid of `rsa`
    keys: KeySet

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.rsa.public_jwk(), self.rsa_any.public_jwk(declare_alg=False),
                         self.ps.public_jwk(), self.ec.public_jwk(), self.ed.public_jwk()]}


@pytest.fixture(scope="module")
def idp() -> Provider:
    rsa_private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signers = dict(
        rsa=Signer("rsa-1", "RS256", rsa_private),
        rsa_any=Signer("rsa-any", "RS256", rsa_private),
        ps=Signer("ps-1", "PS256", rsa.generate_private_key(public_exponent=65537,
                                                           key_size=2048)),
        ec=Signer("ec-1", "ES256", ec.generate_private_key(ec.SECP256R1())),
        ed=Signer("ed-1", "EdDSA", ed25519.Ed25519PrivateKey.generate()),
        impostor=Signer("rsa-1", "RS256", rsa.generate_private_key(public_exponent=65537,
                                                                   key_size=2048)),
    )
    unpublished = Provider(**signers, keys=KeySet({}))
    return replace(unpublished, keys=KeySet.parse(json.dumps(unpublished.jwks()), ALGS))


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def segment(data: Any) -> str:
    return b64(json.dumps(data, separators=(",", ":")).encode())


def claims(**changes: Any) -> dict[str, Any]:
    """Claims a Keycloak-like provider would issue to a counsellor, with changes."""
    base: dict[str, Any] = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": "staff-42", "iat": int(NOW), "exp": EXP,
        "roles": ["counsellor"], "teams": ["team-a"],
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not DROP}


def forge(signer: Signer, payload: dict[str, Any] | None = None, *, alg: str | None = None,
          **header: Any) -> str:
    """A token signed by `signer`, header and claims exactly as given (no pyjwt checks)."""
    alg = alg or signer.alg
    head = {k: v for k, v in {"alg": alg, "typ": "JWT", "kid": signer.kid, **header}.items()
            if v is not DROP}
    signing_input = f"{segment(head)}.{segment(claims() if payload is None else payload)}"
    algorithm = jwt.get_algorithm_by_name(alg)
    signature = algorithm.sign(signing_input.encode(), algorithm.prepare_key(signer.private))
    return f"{signing_input}.{b64(signature)}"


def refusal(call: Callable[[], object]) -> AccessDenied:
    with pytest.raises(AccessDenied) as info:
        call()
    return info.value


def refused(token: Any, idp: Provider, config: OidcConfig = CONFIG,
            now: float = NOW) -> ErrorCode:
    return refusal(lambda: verify(token, config, idp.keys, now)).code


# ---------------------------------------------------------------- the key set


def test_parse_keeps_each_public_signing_key_by_kid(idp: Provider) -> None:
    """Every key the provider publishes for signing is usable, found by its kid."""
    assert len(idp.keys) == 5
    for kid in ("rsa-1", "rsa-any", "ps-1", "ec-1", "ed-1"):
        assert kid in idp.keys
    found = idp.keys.get("ps-1")
    assert found is not None and found[1] == "PS256"
    found = idp.keys.get("rsa-any")
    assert found is not None and found[1] is None
    assert idp.keys.get("nope") is None and "nope" not in idp.keys


def test_parse_accepts_bytes(idp: Provider) -> None:
    """The document as fetched (bytes) parses like text."""
    assert len(KeySet.parse(json.dumps(idp.jwks()).encode(), ALGS)) == 5


def entries(idp: Provider) -> Iterator[tuple[str, Any]]:
    """JWKS entries that must never become a verification key."""
    good = idp.rsa.public_jwk()
    yield "no kid", {k: v for k, v in good.items() if k != "kid"}
    yield "kid not a string", {**good, "kid": 7}
    yield "oct secret", {"kty": "oct", "kid": "hmac", "k": b64(b"s" * 32), "alg": "HS256"}
    yield "oct secret without alg", {"kty": "oct", "kid": "hmac", "k": b64(b"s" * 32)}
    yield "encryption key", idp.rsa.public_jwk(use="enc")
    yield "declares a refused alg", idp.rsa.public_jwk(alg="RS512")
    yield "declares HS256", idp.rsa.public_jwk(alg="HS256")
    yield "declares none", idp.rsa.public_jwk(alg="none")
    yield "RSA private key", idp.rsa.private_jwk()
    yield "EC private key", idp.ec.private_jwk()
    yield "Ed25519 private key", idp.ed.private_jwk()
    yield "not an object", "rsa-1"
    yield "null", None
    yield "a list", [good]
    yield "unknown kty", {**good, "kty": "RSA-HSM"}
    yield "no kty", {k: v for k, v in good.items() if k != "kty"}
    yield "RSA without modulus", {k: v for k, v in good.items() if k != "n"}
    yield "RSA modulus not a string", {**good, "n": 12345}
    yield "RSA modulus empty", {**good, "n": ""}
    yield "RSA key declaring ES256", idp.rsa.public_jwk(alg="ES256")
    yield "EC point not on the curve", {**idp.ec.public_jwk(), "x": b64(b"\1" * 32)}
    yield "EC unknown curve", {**idp.ec.public_jwk(), "crv": "P-999"}
    yield "OKP key-agreement curve", {**idp.ed.public_jwk(), "crv": "X25519"}
    yield "OKP truncated", {**idp.ed.public_jwk(), "x": "AAAA"}


def test_parse_drops_everything_but_public_signing_keys(idp: Provider) -> None:
    """Secrets, encryption keys, private keys, refused algorithms and junk are never used,
    and one bad entry does not spoil the provider's good keys beside it."""
    algs = ALGS | {"HS256"}  # even when a symmetric algorithm is (wrongly) allowed
    for name, raw in entries(idp):
        alone = KeySet.parse(json.dumps({"keys": [raw]}), algs)
        assert len(alone) == 0, name
        mixed = KeySet.parse(json.dumps({"keys": [raw, idp.ec.public_jwk()]}), algs)
        assert list(k for k in ("rsa-1", "hmac", "ec-1") if k in mixed) == ["ec-1"], name


@pytest.mark.parametrize(
    "document",
    ["", "not json", "[]", "null", '"keys"', "{}", '{"keys": {}}', '{"keys": "a"}',
     '{"jwks": []}', b"\xff\xfe"],
)
def test_parse_refuses_what_is_not_a_jwks(document: str | bytes) -> None:
    """A wrong document is an error the fetcher sees (it keeps the keys it had)."""
    with pytest.raises(ValueError):  # the documented contract: ValueError
        KeySet.parse(document, ALGS)


def test_parse_of_an_empty_key_list_is_an_empty_set() -> None:
    """A provider with no keys yet: nothing verifies, nothing crashes."""
    assert len(KeySet.parse('{"keys": []}', ALGS)) == 0


def test_a_key_left_out_of_the_set_verifies_nothing(idp: Provider) -> None:
    """A key published for encryption cannot sign staff in, even with its kid in the token."""
    enc = Signer("enc-1", "RS256", idp.rsa.private)
    keys = KeySet.parse(json.dumps({"keys": [enc.public_jwk(use="enc")]}), ALGS)
    with pytest.raises(AccessDenied):
        verify(forge(enc), CONFIG, keys, NOW)


# ---------------------------------------------------------------- accepted


@pytest.mark.parametrize("which", ["rsa", "rsa_any", "ps", "ec", "ed"])
def test_each_allowed_algorithm_signs_staff_in(idp: Provider, which: str) -> None:
    """RS256, PS256, ES256 and EdDSA tokens from the provider identify the staff member."""
    signer: Signer = getattr(idp, which)
    who = verify(forge(signer), CONFIG, idp.keys, NOW)
    assert who == OidcIdentity(StaffId("staff-42"), frozenset({Role.COUNSELLOR}),
                               frozenset({TeamId("team-a")}), float(EXP))


def test_key_without_declared_alg_accepts_either_rsa_scheme(idp: Provider) -> None:
    """An RSA key published without `alg` verifies PS256 as well as RS256."""
    who = verify(forge(idp.rsa_any, alg="PS256"), CONFIG, idp.keys, NOW)
    assert who.staff_id == "staff-42"


def test_pyjwt_can_sign_what_we_accept(idp: Provider) -> None:
    """A token made by an ordinary library (pyjwt's encoder) is accepted, not only ours."""
    token = jwt.encode(claims(), idp.ec.private, algorithm="ES256",
                       headers={"kid": idp.ec.kid})
    assert verify(token, CONFIG, idp.keys, NOW).staff_id == "staff-42"


@pytest.mark.parametrize("typ", [DROP, "JWT", "jwt", "at+jwt", "AT+JWT", "application/at+jwt"])
def test_access_token_types_accepted(idp: Provider, typ: Any) -> None:
    """Plain JWTs and RFC 9068 access tokens are accepted, `typ` compared without case."""
    assert verify(forge(idp.rsa, typ=typ), CONFIG, idp.keys, NOW).staff_id == "staff-42"


def test_expiry_is_the_tokens_exp(idp: Provider) -> None:
    """The socket is closed when the provider's token expires: expires_at is `exp`."""
    who = verify(forge(idp.rsa, claims(exp=EXP + 1234)), CONFIG, idp.keys, NOW)
    assert who.expires_at == float(EXP + 1234)


def test_valid_until_the_last_instant(idp: Provider) -> None:
    """A token is still good a moment before its `exp`."""
    assert verify(forge(idp.rsa), CONFIG, idp.keys, EXP - 0.001).staff_id == "staff-42"


@pytest.mark.parametrize("ahead", [0.0, 1.0, NBF_SKEW])
def test_nbf_slightly_ahead_is_tolerated(idp: Provider, ahead: float) -> None:
    """The provider's clock may run up to NBF_SKEW seconds ahead of ours."""
    token = forge(idp.rsa, claims(nbf=NOW + ahead))
    assert verify(token, CONFIG, idp.keys, NOW).staff_id == "staff-42"


def test_audience_list_containing_ours_is_accepted(idp: Provider) -> None:
    """A token issued for several services, ours among them, is accepted (RFC 7519 4.1.3)."""
    token = forge(idp.rsa, claims(aud=["account", AUDIENCE]))
    assert verify(token, CONFIG, idp.keys, NOW).staff_id == "staff-42"


def test_subject_up_to_128_characters(idp: Provider) -> None:
    """Long but bounded user ids are kept whole."""
    sub = "u" * 128
    assert verify(forge(idp.rsa, claims(sub=sub)), CONFIG, idp.keys, NOW).staff_id == sub


# ---------------------------------------------------------------- roles and teams


def roles_of(idp: Provider, config: OidcConfig, **changes: Any) -> frozenset[Role]:
    return verify(forge(idp.rsa, claims(**changes)), config, idp.keys, NOW).roles


def test_roles_are_taken_as_named_without_a_map(idp: Provider) -> None:
    """Without a role map the provider issues our role names, several at once."""
    got = roles_of(idp, CONFIG, roles=["counsellor", "supervisor", "admin"])
    assert got == {Role.COUNSELLOR, Role.SUPERVISOR, Role.ADMIN}


def test_roles_as_a_space_separated_string(idp: Provider) -> None:
    """A roles claim written like `scope` ("a b") is split into roles."""
    assert roles_of(idp, CONFIG, roles="supervisor  counsellor") == {
        Role.SUPERVISOR, Role.COUNSELLOR}


def test_unknown_roles_and_non_strings_are_ignored(idp: Provider) -> None:
    """A provider issues many roles; only ours count, odd entries change nothing."""
    got = roles_of(idp, CONFIG,
                   roles=["offline_access", 7, None, {"x": 1}, "supervisor", "", "x" * 500])
    assert got == {Role.SUPERVISOR}


def test_keycloak_realm_roles_mapped_by_dotted_path(idp: Provider) -> None:
    """Keycloak's `realm_access.roles` with the Jobcenter's role names maps onto ours."""
    config = OidcConfig(ISSUER, AUDIENCE, ALGS, roles_claim="realm_access.roles",
                        teams_claim="groups",
                        role_map={"jc-beratung": "counsellor", "jc-teamleitung": "supervisor",
                                  "jc-it": "admin"})
    token = forge(idp.ec, claims(
        roles=DROP, teams=DROP, groups=["team-nord", "team-sued"],
        realm_access={"roles": ["jc-beratung", "jc-teamleitung", "offline_access",
                                "uma_authorization"]},
    ))
    who = verify(token, config, idp.keys, NOW)
    assert who.roles == {Role.COUNSELLOR, Role.SUPERVISOR}
    assert who.teams == {TeamId("team-nord"), TeamId("team-sued")}


def test_with_a_map_only_mapped_names_count(idp: Provider) -> None:
    """Once a role map is configured, a provider role that happens to be called "admin"
    grants nothing unless the map says so."""
    config = OidcConfig(ISSUER, AUDIENCE, ALGS, role_map={"jc-beratung": "counsellor"})
    assert roles_of(idp, config, roles=["jc-beratung", "admin", "supervisor"]) == {
        Role.COUNSELLOR}
    assert refusal(lambda: verify(forge(idp.rsa, claims(roles=["admin"])), config, idp.keys,
                                  NOW)).code is ErrorCode.FORBIDDEN


@pytest.mark.parametrize(
    ("config", "changes"),
    [
        (CONFIG, {"roles": DROP}),
        (CONFIG, {"roles": []}),
        (CONFIG, {"roles": ""}),
        (CONFIG, {"roles": ["offline_access"]}),
        (CONFIG, {"roles": ["customer"]}),
        (CONFIG, {"roles": ["Counsellor", "ADMIN"]}),
        (CONFIG, {"roles": {"counsellor": True}}),
        (CONFIG, {"roles": 1}),
        (OidcConfig(ISSUER, AUDIENCE, ALGS, role_map={"kunde": "customer"}),
         {"roles": ["kunde"]}),
        (OidcConfig(ISSUER, AUDIENCE, ALGS, roles_claim="realm_access.roles"),
         {"realm_access": ["counsellor"]}),
        (OidcConfig(ISSUER, AUDIENCE, ALGS, roles_claim="realm_access.roles"),
         {"realm_access": {"roles": None}}),
    ],
    ids=["missing", "empty", "empty-string", "unknown", "customer", "wrong-case", "object",
         "number", "mapped-to-customer", "path-through-list", "path-to-null"],
)
def test_no_staff_role_is_forbidden(idp: Provider, config: OidcConfig,
                                    changes: dict[str, Any]) -> None:
    """A valid login without a staff role is told "forbidden", not let in."""
    code = refused(forge(idp.rsa, claims(**changes)), idp, config)
    assert code is ErrorCode.FORBIDDEN


def test_teams_claim_forms(idp: Provider) -> None:
    """Teams come as a list or a space-separated string; odd entries are dropped."""
    def teams(value: Any) -> frozenset[TeamId]:
        return verify(forge(idp.rsa, claims(teams=value)), CONFIG, idp.keys, NOW).teams

    assert teams("team-a team-b") == {"team-a", "team-b"}
    assert teams(["team-a", 3, None, "", "t" * 129, "team-b"]) == {"team-a", "team-b"}
    assert teams(DROP) == frozenset()
    assert teams({"team-a": 1}) == frozenset()


# ---------------------------------------------------------------- refused: header


def test_alg_none_is_refused(idp: Provider) -> None:
    """An unsigned token is refused, even if someone put "none" on the allow-list."""
    head = segment({"alg": "none", "typ": "JWT", "kid": "rsa-any"})
    token = f"{head}.{segment(claims())}."
    assert refused(token, idp) is ErrorCode.UNAUTHENTICATED
    loose = OidcConfig(ISSUER, AUDIENCE, ALGS | {"none"})
    assert refused(token, idp, loose) is ErrorCode.UNAUTHENTICATED


@pytest.mark.parametrize("kid", ["rsa-1", "rsa-any"])
def test_hmac_with_the_public_key_as_secret_is_refused(idp: Provider, kid: str) -> None:
    """Algorithm confusion: an HS256 token keyed with the provider's public RSA key (which
    anyone can fetch) is refused, even if HS256 were wrongly allowed."""
    head = segment({"alg": "HS256", "typ": "JWT", "kid": kid})
    signing_input = f"{head}.{segment(claims(roles=['admin']))}"
    mac = hmac.new(idp.rsa.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64(mac)}"
    assert refused(token, idp) is ErrorCode.UNAUTHENTICATED
    loose = OidcConfig(ISSUER, AUDIENCE, ALGS | {"HS256"})
    assert refused(token, idp, loose) is ErrorCode.UNAUTHENTICATED


def test_hmac_with_a_published_secret_is_refused(idp: Provider) -> None:
    """A shared secret in the JWKS (`oct`) is never a key: its kid is unknown to us."""
    secret = b"s" * 32
    doc = {"keys": [{"kty": "oct", "kid": "hmac", "k": b64(secret)}, idp.rsa.public_jwk()]}
    algs = ALGS | {"HS256"}
    keys = KeySet.parse(json.dumps(doc), algs)
    token = jwt.encode(claims(), secret, algorithm="HS256", headers={"kid": "hmac"})
    with pytest.raises(AccessDenied):
        verify(token, OidcConfig(ISSUER, AUDIENCE, algs), keys, NOW)


@pytest.mark.parametrize("kid", [DROP, "unknown", "", "rsa-1 ", "RSA-1", None, 1, ["rsa-1"]])
def test_unknown_or_missing_kid_is_refused(idp: Provider, kid: Any) -> None:
    """The key is chosen by an exact kid from our copy of the provider's set, or not at all."""
    assert refused(forge(idp.rsa, kid=kid), idp) is ErrorCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("name", "value"),
    [("jku", "https://evil.example/jwks.json"),
     ("x5u", "https://evil.example/cert.pem"),
     ("jwk", "own-key"),
     ("x5c", ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]),
     ("jku", None)],
)
def test_token_naming_its_own_key_is_refused(idp: Provider, name: str, value: Any) -> None:
    """A token may not carry or point to the key it should be checked with."""
    if value == "own-key":
        value = idp.rsa.public_jwk()  # even the right key, embedded, is refused
    token = forge(idp.rsa, **{name: value})
    assert refused(token, idp) is ErrorCode.UNAUTHENTICATED


@pytest.mark.parametrize("crit", [["exp"], ["b64"], [], "b64"])
def test_any_crit_is_refused(idp: Provider, crit: Any) -> None:
    """We understand no critical extension, so every `crit` header is refused."""
    assert refused(forge(idp.rsa, crit=crit), idp) is ErrorCode.UNAUTHENTICATED


def test_algorithm_not_on_the_allow_list_is_refused(idp: Provider) -> None:
    """RS512 from a key we know is still refused when only RS256/PS256/ES256/EdDSA are
    configured."""
    assert refused(forge(idp.rsa_any, alg="RS512"), idp) is ErrorCode.UNAUTHENTICATED
    narrow = OidcConfig(ISSUER, AUDIENCE, frozenset({"ES256"}))
    assert refused(forge(idp.rsa), idp, narrow) is ErrorCode.UNAUTHENTICATED


def test_algorithm_must_fit_the_key_type(idp: Provider) -> None:
    """An ES256 header naming an RSA key is refused before any signature is checked."""
    token = forge(idp.ec, kid="rsa-any")
    err = refusal(lambda: verify(token, CONFIG, idp.keys, NOW))
    assert err.code is ErrorCode.UNAUTHENTICATED
    assert "does not match its key" in err.message
    token = forge(idp.rsa, kid="ed-1")  # RS256 header, Ed25519 key
    assert "does not match its key" in refusal(
        lambda: verify(token, CONFIG, idp.keys, NOW)).message


def test_algorithm_must_fit_the_keys_declared_alg(idp: Provider) -> None:
    """A key published for RS256 does not verify PS256, though the signature is genuine."""
    token = forge(idp.rsa, alg="PS256")
    err = refusal(lambda: verify(token, CONFIG, idp.keys, NOW))
    assert err.code is ErrorCode.UNAUTHENTICATED
    assert "does not match its key" in err.message


@pytest.mark.parametrize(
    "typ", ["cb-customer+jwt", "cb-staff+jwt", "id_token+jwt", "logout+jwt", "dpop+jwt",
            "JOSE", "jwt ", 1, None, ["JWT"]],
)
def test_other_token_types_are_refused(idp: Provider, typ: Any) -> None:
    """Only access tokens: our own customer/staff tokens, logout and DPoP tokens are not."""
    assert refused(forge(idp.rsa, typ=typ), idp) is ErrorCode.UNAUTHENTICATED


def test_impostor_key_with_the_right_kid_is_refused(idp: Provider) -> None:
    """A token signed by someone else's key pair fails even when it names a valid kid."""
    assert refused(forge(idp.impostor), idp) is ErrorCode.UNAUTHENTICATED


def test_tampered_claims_are_refused(idp: Provider) -> None:
    """Changing the claims of a genuine token (counsellor → admin) breaks its signature."""
    head, _, sig = forge(idp.rsa).split(".")
    token = f"{head}.{segment(claims(roles=['admin']))}.{sig}"
    assert refused(token, idp) is ErrorCode.UNAUTHENTICATED


@pytest.mark.parametrize("alg", [["RS256"], {"RS256": 1}])
def test_unhashable_alg_is_refused_not_a_crash(idp: Provider, alg: Any) -> None:
    """Anyone can send a header with a non-string alg; it must be a refusal, not a crash."""
    head = segment({"alg": alg, "typ": "JWT", "kid": "rsa-1"})
    token = f"{head}.{segment(claims())}.c2ln"
    assert refused(token, idp) is ErrorCode.UNAUTHENTICATED


# ---------------------------------------------------------------- refused: claims


@pytest.mark.parametrize("claim", ["exp", "iss", "aud", "sub"])
def test_required_claims(idp: Provider, claim: str) -> None:
    """A token without expiry, issuer, audience or subject is refused."""
    token = forge(idp.rsa, claims(**{claim: DROP}))
    assert refused(token, idp) is ErrorCode.UNAUTHENTICATED


@pytest.mark.parametrize("exp", [int(NOW), int(NOW) - 1, int(NOW) - 86_400, 0, -1])
def test_expired_tokens_are_refused(idp: Provider, exp: int) -> None:
    """At or after `exp` the token is expired, and the client is told so."""
    token = forge(idp.rsa, claims(exp=exp))
    assert refused(token, idp) is ErrorCode.TOKEN_EXPIRED


def test_token_expires_at_exactly_exp(idp: Provider) -> None:
    """The token accepted at EXP - 1 is expired at EXP (hand-moved clock)."""
    token = forge(idp.rsa)
    assert verify(token, CONFIG, idp.keys, EXP - 1).expires_at == EXP
    assert refused(token, idp, now=EXP) is ErrorCode.TOKEN_EXPIRED


@pytest.mark.parametrize("ahead", [NBF_SKEW + 0.001, NBF_SKEW + 1, 3600.0])
def test_not_yet_valid_is_refused(idp: Provider, ahead: float) -> None:
    """A token from a clock further ahead than NBF_SKEW is not valid yet."""
    token = forge(idp.rsa, claims(nbf=NOW + ahead))
    assert refused(token, idp) is ErrorCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    "exp", [True, float("nan"), str(EXP), None, [EXP], {"t": EXP}],
    ids=["bool", "nan", "string", "null", "list", "object"],
)
def test_exp_must_be_a_number(idp: Provider, exp: Any) -> None:
    """Only a real number is an expiry: not a bool (True == 1), NaN (never <=) or text."""
    assert refused(forge(idp.rsa, claims(exp=exp)), idp) is ErrorCode.UNAUTHENTICATED


@pytest.mark.parametrize("nbf", [True, float("nan"), "0", None])
def test_nbf_must_be_a_number_when_present(idp: Provider, nbf: Any) -> None:
    """A malformed `nbf` is refused rather than ignored."""
    assert refused(forge(idp.rsa, claims(nbf=nbf)), idp) is ErrorCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    "aud",
    ["account", AUDIENCE + "/", AUDIENCE.upper(), "", [], ["account"], [AUDIENCE + "x"],
     None, 1],
)
def test_wrong_audience_is_refused(idp: Provider, aud: Any) -> None:
    """A token the provider issued for another service does not sign anyone in here."""
    assert refused(forge(idp.rsa, claims(aud=aud)), idp) is ErrorCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    "iss",
    [ISSUER + "/", ISSUER + "-evil", ISSUER + "/../other", ISSUER[:-3],
     ISSUER.replace("https", "http"), ISSUER.upper(), "", [ISSUER], None,
     "https://evil.example/realms/jobcenter"],
    ids=["trailing-slash", "prefix", "path", "substring", "http", "case", "empty", "list",
         "null", "other-host"],
)
def test_issuer_must_match_exactly(idp: Provider, iss: Any) -> None:
    """Only the exact configured issuer: no prefix, substring or trailing-slash variant."""
    assert refused(forge(idp.rsa, claims(iss=iss)), idp) is ErrorCode.UNAUTHENTICATED


@pytest.mark.parametrize("sub", ["", "u" * 129, 42, None, ["staff-42"]])
def test_subject_must_name_a_user(idp: Provider, sub: Any) -> None:
    """An empty, overlong or non-string `sub` names nobody."""
    assert refused(forge(idp.rsa, claims(sub=sub)), idp) is ErrorCode.UNAUTHENTICATED


# ---------------------------------------------------------------- refused: the string


def padded(idp: Provider, length: int) -> str:
    """A genuine token of exactly `length` characters."""
    bare = len(forge(idp.rsa, claims(pad="")))
    start = max(0, (length - bare) * 3 // 4 - 8)
    for pad in range(start, start + 24):
        for extra in range(4):
            token = forge(idp.rsa, claims(pad="p" * pad), x="x" * extra)
            if len(token) == length:
                return token
    raise AssertionError(f"no padding gives a token of {length} characters")


def test_token_length_limit(idp: Provider) -> None:
    """Tokens up to MAX_TOKEN_BYTES are read; a longer one is refused unread."""
    at_limit = padded(idp, MAX_TOKEN_BYTES)
    assert verify(at_limit, CONFIG, idp.keys, NOW).staff_id == "staff-42"
    over = padded(idp, MAX_TOKEN_BYTES + 1)
    assert refusal(lambda: verify(over, CONFIG, idp.keys, NOW)).message == (
        "the token is too long")


@pytest.mark.parametrize(
    "token",
    ["", " ", "a", "a.b", "a.b.c", "..", "...", "a.b.c.d.e", "\x00" * 40, "é.é.é",
     "Bearer x.y.z", f"{segment([1])}.{segment({})}.c2ln", f"{segment('x')}.e30.c2ln",
     "eyJhbGciOiJSUzI1NiJ9.!!!!.c2ln", "eyJhbGciOiJSUzI1NiJ9.e30.@@@"],
)
def test_garbage_strings_are_refused(idp: Provider, token: str) -> None:
    """Whatever a client sends as a token, the answer is a refusal, never a crash."""
    assert refused(token, idp) is ErrorCode.UNAUTHENTICATED


@pytest.mark.parametrize("token", [None, 0, 1.5, b"bytes", ["a.b.c"], {"token": "a.b.c"}])
def test_non_string_tokens_are_refused(idp: Provider, token: Any) -> None:
    """A socket.io auth payload can hold anything; only strings are tokens."""
    assert refused(token, idp) is ErrorCode.UNAUTHENTICATED


def test_genuine_token_as_bytes_is_refused(idp: Provider) -> None:
    """Even a genuine token must arrive as text (one representation, one code path)."""
    assert refused(forge(idp.rsa).encode(), idp) is ErrorCode.UNAUTHENTICATED


def test_genuine_token_with_bearer_prefix_is_refused(idp: Provider) -> None:
    """The adapter strips `Bearer `; the core does not guess."""
    assert refused("Bearer " + forge(idp.rsa), idp) is ErrorCode.UNAUTHENTICATED
