"""The rules every token obeys, whoever signed it: edges not already pinned through
`broker.oidc.verify` (tests/unit/test_oidc.py) or `TokenIssuer` (test_credentials.py)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from broker.errors import AccessDenied, ErrorCode
from broker.tokenrules import (
    KEY_BEARING_HEADERS,
    MAX_TOKEN_BYTES,
    check_times,
    refused,
    safe_header,
    unverified_issuer,
)

ALLOWED = frozenset({"RS256", "ES256"})
NOW = 4_000_000_000.0


def segment(data: Any) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def token(header: Any, payload: Any = None, signature: str = "c2ln") -> str:
    """An unsigned-looking token: these rules read it before any key is involved."""
    return f"{segment(header)}.{segment({} if payload is None else payload)}.{signature}"


def refusal(call: Callable[[], object]) -> AccessDenied:
    with pytest.raises(AccessDenied) as info:
        call()
    return info.value


# ---------------------------------------------------------------- safe_header


def test_safe_header_returns_the_header() -> None:
    """A header we could accept is handed back for the verifier to pick the key."""
    header = {"alg": "ES256", "typ": "JWT", "kid": "k1"}
    assert safe_header(token(header), ALLOWED) == header


@pytest.mark.parametrize("value", [None, "", b"x.y.z", 1, ["x.y.z"]])
def test_safe_header_needs_a_string(value: object) -> None:
    """No token, or not text: refused as missing, with UNAUTHENTICATED."""
    err = refusal(lambda: safe_header(value, ALLOWED))
    assert err.code is ErrorCode.UNAUTHENTICATED


def test_safe_header_length_boundary() -> None:
    """Exactly MAX_TOKEN_BYTES is read; one more is refused before any parsing."""
    base = token({"alg": "RS256"}, signature="")
    at_limit = base + "A" * (MAX_TOKEN_BYTES - len(base))
    assert safe_header(at_limit, ALLOWED)["alg"] == "RS256"
    assert refusal(lambda: safe_header(at_limit + "A", ALLOWED)).message == (
        "the token is too long")


@pytest.mark.parametrize(
    "header",
    [{}, {"alg": None}, {"alg": "rs256"}, {"alg": "RS256 "}, {"alg": "HS256"},
     {"alg": "none"}, {"alg": "NONE"}, {"alg": 256}, {"typ": "JWT"}],
)
def test_safe_header_algorithm_must_be_allowed_exactly(header: dict[str, Any]) -> None:
    """The allow-list is compared exactly: no case folding, no missing alg."""
    assert refusal(lambda: safe_header(token(header), ALLOWED)).message == (
        "the token's algorithm is not accepted")


@pytest.mark.parametrize("alg", [["RS256"], {"RS256": True}])
def test_safe_header_unhashable_algorithm_is_refused(alg: Any) -> None:
    """A JSON array or object as alg is a refusal like any other bad alg, not a crash."""
    assert refusal(lambda: safe_header(token({"alg": alg}), ALLOWED)).code is (
        ErrorCode.UNAUTHENTICATED)


@pytest.mark.parametrize("name", sorted(KEY_BEARING_HEADERS))
def test_safe_header_refuses_key_bearing_headers(name: str) -> None:
    """jku, x5u, jwk and x5c are refused whatever their value, even empty."""
    values: list[Any] = ["", None, [], {}]
    for value in values:
        header = token({"alg": "RS256", name: value})
        err = refusal(lambda: safe_header(header, ALLOWED))  # noqa: B023 - called at once
        assert err.message == "the token may not name its own key"


@pytest.mark.parametrize("crit", [[], ["b64"], ["exp"], "b64", None])
def test_safe_header_refuses_crit_even_empty(crit: Any) -> None:
    """No critical extension is understood, so any `crit`, even empty, is refused."""
    err = refusal(lambda: safe_header(token({"alg": "RS256", "crit": crit}), ALLOWED))
    assert err.code is ErrorCode.UNAUTHENTICATED


@pytest.mark.parametrize("kid", [1, None, ["k"], {"k": 1}])
def test_safe_header_refuses_a_non_string_kid(kid: Any) -> None:
    """A kid that is not text cannot select a key: refused, not passed on."""
    err = refusal(lambda: safe_header(token({"alg": "RS256", "kid": kid}), ALLOWED))
    assert err.code is ErrorCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    "value", ["x", "x.y", "x.y.z", f"{segment([])}.e30.c2ln", "=.=.=", "\u00e9.\u00e9.\u00e9"])
def test_safe_header_refuses_garbage(value: str) -> None:
    """Garbage is the plain refusal "the token is not valid"."""
    assert refusal(lambda: safe_header(value, ALLOWED)).message == "the token is not valid"


def test_refused_is_unauthenticated() -> None:
    """Every rule failure carries UNAUTHENTICATED (HTTP 401) unless told otherwise."""
    err = refused()
    assert err.code is ErrorCode.UNAUTHENTICATED and err.http_status == 401


# ---------------------------------------------------------------- unverified_issuer


def test_unverified_issuer_reads_iss_without_a_key() -> None:
    """Routing only: the issuer is read from a token whose signature nobody checked."""
    assert unverified_issuer(token({"alg": "RS256"}, {"iss": "https://idp"})) == "https://idp"


@pytest.mark.parametrize("iss", [None, 1, ["https://idp"], {"a": 1}, True])
def test_unverified_issuer_without_a_string_iss_is_empty(iss: Any) -> None:
    """No usable issuer routes nowhere ("" matches no configured issuer)."""
    assert unverified_issuer(token({"alg": "RS256"}, {"iss": iss})) == ""
    assert unverified_issuer(token({"alg": "RS256"}, {"sub": "x"})) == ""


@pytest.mark.parametrize(
    "value", ["", "x", "x.y.z", f"{segment({'alg': 'RS256'})}.{segment([1])}.c2ln",
              f"{segment({'alg': 'RS256'})}.bm90IGpzb24.c2ln"])
def test_unverified_issuer_refuses_garbage(value: str) -> None:
    """An unreadable token or a payload that is not an object is refused."""
    assert refusal(lambda: unverified_issuer(value)).code is ErrorCode.UNAUTHENTICATED


def test_unverified_issuer_refuses_long_tokens() -> None:
    """The length limit applies before anything is decoded."""
    long = token({"alg": "RS256"}, {"iss": "i" * MAX_TOKEN_BYTES})
    assert refusal(lambda: unverified_issuer(long)).message == "the token is too long"


# ---------------------------------------------------------------- check_times


def test_check_times_returns_exp_as_float() -> None:
    """The expiry comes back as a float, from an int or a fractional `exp`."""
    assert check_times({"exp": int(NOW) + 1}, NOW) == NOW + 1
    assert type(check_times({"exp": int(NOW) + 1}, NOW)) is float
    assert check_times({"exp": NOW + 0.5}, NOW) == NOW + 0.5


def test_check_times_exp_boundary() -> None:
    """Valid strictly before `exp`, expired at it (TOKEN_EXPIRED, so clients renew)."""
    assert check_times({"exp": NOW}, NOW - 0.001) == NOW
    assert refusal(lambda: check_times({"exp": NOW}, NOW)).code is ErrorCode.TOKEN_EXPIRED


def test_check_times_nbf_boundary() -> None:
    """`nbf` up to now + skew is accepted; beyond, the token is not valid yet."""
    assert check_times({"exp": NOW + 60, "nbf": NOW}, NOW) == NOW + 60
    assert check_times({"exp": NOW + 60, "nbf": NOW + 5}, NOW, nbf_skew=5) == NOW + 60
    for nbf, skew in ((NOW + 0.001, 0.0), (NOW + 5.001, 5.0)):
        times = {"exp": NOW + 60, "nbf": nbf}
        err = refusal(lambda: check_times(times, NOW, skew))  # noqa: B023 - called at once
        assert err.code is ErrorCode.UNAUTHENTICATED
        assert err.message == "the token is not valid yet"


def test_check_times_missing_exp_is_invalid_not_expired() -> None:
    """A token without expiry is malformed (UNAUTHENTICATED), not "expired"."""
    assert refusal(lambda: check_times({}, NOW)).code is ErrorCode.UNAUTHENTICATED


def test_check_times_expired_wins_over_not_yet_valid() -> None:
    """Both wrong: the client is told it expired, the error it can act on (renew)."""
    err = refusal(lambda: check_times({"exp": NOW - 1, "nbf": NOW + 100}, NOW))
    assert err.code is ErrorCode.TOKEN_EXPIRED


@pytest.mark.parametrize("claim", ["exp", "nbf"])
def test_check_times_huge_integer_is_refused(claim: str) -> None:
    """A time claim too large for a float (JSON allows any integer) is refused, not a crash."""
    times: dict[str, Any] = {"exp": NOW + 60, claim: 10**400}
    assert refusal(lambda: check_times(times, NOW)).code is ErrorCode.UNAUTHENTICATED
