"""Tokens, access codes and device secrets; the caller gives the time, no clock is read.

NOW is far in the future on purpose (2096): pyjwt also compares `exp` with the wall clock,
so tokens issued at NOW stay valid for it and only the caller's `now` decides expiry.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest

from broker.credentials import (
    ACCESS_CODE_DIGITS,
    CUSTOMER_AUDIENCE,
    STAFF_AUDIENCE,
    CustomerPrincipal,
    TokenIssuer,
    derive_access_code,
    new_device_secret,
    new_session_id,
    normalise_access_code,
)
from broker.errors import AccessDenied, ErrorCode
from broker.types import Role, SessionId, StaffId, TeamId
from signaling import schemas

SECRET = b"unit-test-secret-" + b"k" * 32
OTHER_SECRET = b"another-secret-" + b"z" * 32
ISSUER = "jobcenter-musterstadt"
NOW = 4_000_000_000.0  # 2096-10-02
SID = SessionId("sess-tok-0001")
STAFF = StaffId("c1")
TEAMS = frozenset({TeamId("team-a"), TeamId("team-b")})


@pytest.fixture
def issuer() -> TokenIssuer:
    return TokenIssuer(SECRET, ISSUER)


def b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims(aud: str = CUSTOMER_AUDIENCE, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": aud,
        "sub": SID,
        "iat": int(NOW),
        "exp": int(NOW + 3600),
        "jti": "abc",
    }
    base.update(extra)
    return base


def hand_signed(data: dict[str, Any], secret: bytes = SECRET, alg: str = "HS256",
                typ: str = "cb-customer+jwt") -> str:
    """Signed like ours unless told otherwise (customer token type by default)."""
    return jwt.encode(data, secret, algorithm=alg, headers={"typ": typ})


def refusal(call: Any) -> ErrorCode:
    with pytest.raises(AccessDenied) as info:
        call()
    return info.value.code


# ---------------------------------------------------------------- round trips


def test_customer_token_round_trip(issuer: TokenIssuer) -> None:
    """A customer token checks back to its session and a token id."""
    token = issuer.customer_token(SID, NOW, NOW + 3600)
    principal = issuer.check_customer(token, NOW + 10)
    assert principal.session_id == SID
    assert principal.token_id


def test_each_customer_token_has_its_own_id(issuer: TokenIssuer) -> None:
    """Two links for the same session carry different token ids."""
    a = issuer.check_customer(issuer.customer_token(SID, NOW, NOW + 60), NOW)
    b = issuer.check_customer(issuer.customer_token(SID, NOW, NOW + 60), NOW)
    assert a.token_id != b.token_id


def test_staff_token_round_trip(issuer: TokenIssuer) -> None:
    """A staff token checks back to id, roles and teams."""
    roles = frozenset({Role.COUNSELLOR, Role.SUPERVISOR})
    token = issuer.staff_token(STAFF, roles, TEAMS, NOW, 3600)
    principal = issuer.check_staff(token, NOW + 3599)
    assert principal.staff_id == STAFF
    assert principal.roles == roles
    assert principal.teams == TEAMS
    assert principal.has(Role.SUPERVISOR)
    assert not principal.has(Role.ADMIN)


def test_admin_has_every_role(issuer: TokenIssuer) -> None:
    """An admin passes any role check."""
    token = issuer.staff_token(STAFF, frozenset({Role.ADMIN}), frozenset(), NOW, 60)
    principal = issuer.check_staff(token, NOW)
    assert principal.has(Role.COUNSELLOR) and principal.has(Role.SUPERVISOR)


@pytest.mark.parametrize(
    "roles",
    [frozenset(), frozenset({Role.CUSTOMER}), frozenset({Role.COUNSELLOR, Role.CUSTOMER})],
    ids=["none", "customer", "mixed"],
)
def test_staff_token_refuses_to_issue_non_staff_roles(
    issuer: TokenIssuer, roles: frozenset[Role]
) -> None:
    """Issuing a staff token needs at least one role, all of them staff roles."""
    with pytest.raises(ValueError, match="staff roles"):
        issuer.staff_token(STAFF, roles, TEAMS, NOW, 60)


def test_token_check_uses_the_callers_clock_not_the_wall_clock(issuer: TokenIssuer) -> None:
    """Pure computation: a token valid at the caller's `now` passes whatever the wall clock."""
    then = 1_000_000_000.0  # 2001: a hand-moved clock, or a test clock starting anywhere
    token = issuer.customer_token(SID, then, then + 3600)
    assert issuer.check_customer(token, then + 10).session_id == SID


# ---------------------------------------------------------------- audiences


def test_customer_token_refused_as_staff(issuer: TokenIssuer) -> None:
    """The audience names the token type: a customer link is not a staff login."""
    token = issuer.customer_token(SID, NOW, NOW + 3600)
    assert refusal(lambda: issuer.check_staff(token, NOW)) is ErrorCode.UNAUTHENTICATED


def test_staff_token_refused_as_customer(issuer: TokenIssuer) -> None:
    """A staff token cannot be used to join as a customer."""
    token = issuer.staff_token(STAFF, frozenset({Role.COUNSELLOR}), TEAMS, NOW, 3600)
    assert refusal(lambda: issuer.check_customer(token, NOW)) is ErrorCode.UNAUTHENTICATED


# ---------------------------------------------------------------- expiry


def test_customer_token_expires_exactly_at_exp(issuer: TokenIssuer) -> None:
    """Valid until just before exp; at and after exp it is TOKEN_EXPIRED."""
    token = issuer.customer_token(SID, NOW, NOW + 3600)
    assert issuer.check_customer(token, NOW + 3599.9).session_id == SID
    assert refusal(lambda: issuer.check_customer(token, NOW + 3600)) is ErrorCode.TOKEN_EXPIRED
    assert refusal(lambda: issuer.check_customer(token, NOW + 9e5)) is ErrorCode.TOKEN_EXPIRED


def test_staff_token_expired_by_callers_now(issuer: TokenIssuer) -> None:
    """A staff token past its ttl by the caller's clock is TOKEN_EXPIRED."""
    token = issuer.staff_token(STAFF, frozenset({Role.COUNSELLOR}), TEAMS, NOW, 60)
    assert refusal(lambda: issuer.check_staff(token, NOW + 61)) is ErrorCode.TOKEN_EXPIRED


def test_token_expired_by_wall_clock_is_token_expired(issuer: TokenIssuer) -> None:
    """A token whose exp is long past (by any clock) is TOKEN_EXPIRED, not just invalid."""
    token = hand_signed(claims(iat=1_000, exp=2_000))
    assert refusal(lambda: issuer.check_customer(token, NOW)) is ErrorCode.TOKEN_EXPIRED


# ---------------------------------------------------------------- forgeries and mistakes


def _tamper_signature(token: str) -> str:
    head, body, sig = token.split(".")
    first = "A" if sig[0] != "A" else "B"
    return f"{head}.{body}.{first}{sig[1:]}"


def _tamper_claims(token: str) -> str:
    _head, _body, sig = token.split(".")
    forged = b64({"alg": "HS256", "typ": "JWT"})
    return f"{forged}.{b64(claims(sub='sess-someone-else'))}.{sig}"


def _alg_none() -> str:
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims())}."


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda t: _tamper_signature(t), id="tampered-signature"),
        pytest.param(lambda t: _tamper_claims(t), id="tampered-claims"),
        pytest.param(lambda t: _alg_none(), id="alg-none"),
        pytest.param(lambda t: hand_signed(claims(), OTHER_SECRET), id="other-secret"),
        pytest.param(lambda t: hand_signed(claims(), SECRET, "HS384"), id="other-alg-same-key"),
        pytest.param(lambda t: hand_signed(claims(iss="someone-else")), id="wrong-issuer"),
        pytest.param(lambda t: hand_signed(claims(aud="counselling-broker/x")), id="wrong-aud"),
        pytest.param(lambda t: t + "x", id="trailing-garbage"),
        pytest.param(lambda t: "not-a-jwt", id="garbage"),
        pytest.param(lambda t: "", id="empty"),
        pytest.param(lambda t: None, id="none"),
        pytest.param(lambda t: 12345, id="number"),
        pytest.param(lambda t: "a" * 5000, id="oversized"),
    ],
)
def test_forged_or_broken_customer_tokens_are_unauthenticated(
    issuer: TokenIssuer, make: Any
) -> None:
    """Anything but a genuine, correctly addressed HS256 token is UNAUTHENTICATED."""
    genuine = issuer.customer_token(SID, NOW, NOW + 3600)
    assert issuer.check_customer(genuine, NOW).session_id == SID  # the base is good
    bad = make(genuine)
    assert refusal(lambda: issuer.check_customer(bad, NOW)) is ErrorCode.UNAUTHENTICATED


def test_other_issuer_with_same_secret_is_refused() -> None:
    """Two deployments sharing a secret by mistake still do not accept each other's tokens."""
    ours = TokenIssuer(SECRET, ISSUER)
    theirs = TokenIssuer(SECRET, "jobcenter-anderswo")
    token = theirs.customer_token(SID, NOW, NOW + 60)
    assert refusal(lambda: ours.check_customer(token, NOW)) is ErrorCode.UNAUTHENTICATED


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "aud", "sub"])
def test_token_missing_a_required_claim_is_unauthenticated(issuer: TokenIssuer, claim: str) -> None:
    """exp, iat, iss, aud and sub are all required."""
    data = claims()
    del data[claim]
    token = hand_signed(data)
    assert refusal(lambda: issuer.check_customer(token, NOW)) is ErrorCode.UNAUTHENTICATED


def _staff_claims(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"sub": STAFF, "roles": ["counsellor"], "teams": ["team-a"]}
    base.update(extra)
    return claims(STAFF_AUDIENCE, **base)


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"roles": ["janitor"]}, ErrorCode.UNAUTHENTICATED),
        ({"roles": ["counsellor", "root"]}, ErrorCode.UNAUTHENTICATED),
        ({"roles": "counsellor"}, ErrorCode.UNAUTHENTICATED),
        ({"teams": "team-a"}, ErrorCode.UNAUTHENTICATED),
        ({"roles": []}, ErrorCode.FORBIDDEN),
        ({"roles": ["customer"]}, ErrorCode.FORBIDDEN),
    ],
    ids=[
        "unknown-role",
        "one-unknown-role",
        "roles-not-list",
        "teams-not-list",
        "no-roles",
        "customer-role",
    ],
)
def test_staff_token_with_bad_roles_is_refused(
    issuer: TokenIssuer, overrides: dict[str, Any], code: ErrorCode
) -> None:
    """A validly signed staff token still needs a list of known staff roles."""
    good = hand_signed(_staff_claims(), typ="cb-staff+jwt")
    assert issuer.check_staff(good, NOW).staff_id == STAFF
    token = hand_signed(_staff_claims(**overrides), typ="cb-staff+jwt")
    assert refusal(lambda: issuer.check_staff(token, NOW)) is code


def test_staff_token_without_roles_claim_is_refused(issuer: TokenIssuer) -> None:
    """A staff token with no roles claim at all is UNAUTHENTICATED."""
    data = _staff_claims()
    del data["roles"]
    assert refusal(lambda: issuer.check_staff(hand_signed(data), NOW)) is ErrorCode.UNAUTHENTICATED


def test_access_denied_is_also_a_permission_error(issuer: TokenIssuer) -> None:
    """Callers may catch the builtin PermissionError as well as BrokerError."""
    with pytest.raises(PermissionError):
        issuer.check_customer("nope", NOW)


def test_secret_must_be_at_least_32_bytes() -> None:
    """A short signing secret is refused at construction."""
    with pytest.raises(ValueError, match="32 bytes"):
        TokenIssuer(b"x" * 31, ISSUER)
    TokenIssuer(b"x" * 32, ISSUER)


def test_customer_principal_shape(issuer: TokenIssuer) -> None:
    """check_customer returns a CustomerPrincipal with the token's jti."""
    token = hand_signed(claims(jti="link-42"))
    assert issuer.check_customer(token, NOW) == CustomerPrincipal(SID, "link-42")


# ---------------------------------------------------------------- access codes and secrets


def test_access_code_is_nine_ascii_digits(issuer: TokenIssuer) -> None:
    """Every derived code has exactly nine ASCII digits (leading zeros kept)."""
    for nonce in range(200):
        code = derive_access_code(issuer, SID, nonce)
        assert len(code) == ACCESS_CODE_DIGITS == 9
        assert code.isascii() and code.isdigit()


def test_access_code_is_stable_and_depends_on_nonce_session_and_secret(
    issuer: TokenIssuer,
) -> None:
    """Same (session, nonce) gives the same code; another nonce, session or secret does not."""
    code = derive_access_code(issuer, SID, 7)
    assert derive_access_code(TokenIssuer(SECRET, ISSUER), SID, 7) == code
    assert derive_access_code(issuer, SID, 8) != code
    assert derive_access_code(issuer, SessionId("sess-tok-0002"), 7) != code
    assert derive_access_code(TokenIssuer(OTHER_SECRET, ISSUER), SID, 7) != code


def test_keyed_hash_separates_purposes(issuer: TokenIssuer) -> None:
    """The same value hashed for two purposes gives two digests; neither contains it."""
    a = issuer.keyed_hash("access-code", "123456789")
    b = issuer.keyed_hash("device", "123456789")
    assert a != b
    assert a == issuer.keyed_hash("access-code", "123456789")
    assert "123456789" not in a


@pytest.mark.parametrize(
    "raw",
    [
        "123456789",
        "123 456 789",
        "123-456-789",
        " 123456789 ",
        "123.456.789",
        "123/456/789",
        "12 34 56 789",
        "123\t456\u00a0789",
    ],
)
def test_normalise_access_code_accepts_what_people_type(raw: str) -> None:
    """Spaces, dashes, dots and slashes between the digits are ignored."""
    assert normalise_access_code(raw) == "123456789"


@pytest.mark.parametrize(
    "raw",
    [
        "12345678",  # 8 digits
        "1234567890",  # 10 digits
        "12345678a",
        "ABCDEFGHI",
        "١٢٣٤٥٦٧٨٩",  # Arabic-Indic digits
        "１２３４５６７８９",  # fullwidth digits
        "12345678٩",  # one non-ASCII digit
        "¹²³⁴⁵⁶⁷⁸⁹",  # superscripts (isdigit() is true for them)
        "",
        "-" * 40 + "123456789",  # too long to be typed
        "123_456_789",
    ],
)
def test_normalise_access_code_refuses_non_codes(raw: str) -> None:
    """Letters, wrong lengths and digits from other scripts are not codes."""
    assert normalise_access_code(raw) is None


@pytest.mark.parametrize("raw", [None, 123456789, 123456789.0, b"123456789", ["123456789"]])
def test_normalise_access_code_refuses_non_strings(raw: object) -> None:
    """Only strings can be codes."""
    assert normalise_access_code(raw) is None


def test_new_session_ids_are_unguessable_and_valid_on_the_wire() -> None:
    """Session ids are long, random, URL-safe and pass the signalling schema."""
    ids = {new_session_id() for _ in range(100)}
    assert len(ids) == 100
    for sid in ids:
        assert len(sid) >= 22
        assert schemas.session_id({"session": sid}) == sid


def test_device_secrets_are_random_and_long() -> None:
    """Device secrets are distinct and carry at least 192 bits."""
    secrets = {new_device_secret() for _ in range(100)}
    assert len(secrets) == 100
    assert all(len(s) >= 32 for s in secrets)
