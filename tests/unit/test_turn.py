"""TURN REST API credentials: what coturn's `use-auth-secret` accepts, and nothing more.

The relay checks them with the shared secret alone (no user database), so the username must
carry the expiry and the credential must be exactly base64(HMAC-SHA1(secret, username));
the opaque part is what a relay log shows about a participant, so it must name nobody.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import pytest

from broker.turn import ice_servers, turn_credentials

SECRET = "shared-with-coturn-0123456789"
NOW = 4_000_000_000.0  # the caller gives the time; no clock is read
TTL = 600.0
OPAQUE = re.compile(r"[A-Za-z0-9_-]{16,}")  # token_urlsafe: URL-safe, 96+ random bits
URLS = ("turn:turn.example.de:3478?transport=udp", "turns:turn.example.de:443?transport=tcp")


def reference_credential(secret: str, username: str) -> str:
    """The TURN REST API's password, spelled out apart from the code under test."""
    mac = hmac.new(secret.encode("utf-8"), username.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def test_username_is_expiry_then_opaque() -> None:
    """coturn reads the expiry before the first `:` and refuses the username after it."""
    username, _ = turn_credentials(SECRET, NOW, TTL)
    expiry, opaque = username.split(":", 1)
    assert expiry == str(int(NOW + TTL))
    assert OPAQUE.fullmatch(opaque), opaque


def test_expiry_is_a_whole_second_not_rounded_up() -> None:
    """The expiry is an integer (coturn parses digits only) and never later than now + ttl."""
    username, _ = turn_credentials(SECRET, 1000.7, 0.5)
    assert username.split(":", 1)[0] == "1001"


def test_credential_matches_a_known_vector() -> None:
    """Computed with `openssl dgst -sha1 -hmac <secret> -binary | base64`: a wrong hash,
    key/message swapped or hex instead of base64 would all fail here."""
    username, credential = turn_credentials(SECRET, NOW, TTL, opaque="beratung-test")
    assert username == "4000000600:beratung-test"
    assert credential == "6YlRlF0qfiGMWFqSOgSWRzmn118="


@pytest.mark.parametrize(("now", "ttl"), [(NOW, TTL), (1.0, 1.0), (1_700_000_000.25, 14400.0)])
def test_credential_is_the_hmac_of_the_exact_username(now: float, ttl: float) -> None:
    username, credential = turn_credentials(SECRET, now, ttl)
    assert credential == reference_credential(SECRET, username)
    assert credential != reference_credential("another-secret-0123456789", username)
    assert len(base64.b64decode(credential, validate=True)) == hashlib.sha1().digest_size


def test_a_changed_expiry_no_longer_matches() -> None:
    """A participant cannot extend its own credentials: the expiry is under the HMAC."""
    username, credential = turn_credentials(SECRET, NOW, TTL)
    _, opaque = username.split(":", 1)
    assert reference_credential(SECRET, f"{int(NOW + 86400)}:{opaque}") != credential


def test_opaque_part_is_fresh_and_random_each_time() -> None:
    """One hand-out cannot be linked to another (or to a person) through the username."""
    names = {turn_credentials(SECRET, NOW, TTL)[0] for _ in range(200)}
    assert len(names) == 200
    opaques = {n.split(":", 1)[1] for n in names}
    assert len(opaques) == 200 and all(OPAQUE.fullmatch(o) for o in opaques)


def test_opaque_part_holds_nothing_of_the_caller_unless_passed() -> None:
    """Without an opaque the username is expiry plus randomness: not the secret, not the
    time in any other form; a given opaque is used verbatim; an empty one is not shared."""
    username, _ = turn_credentials(SECRET, NOW, TTL)
    _, opaque = username.split(":", 1)
    assert SECRET not in username and str(int(NOW)) not in opaque
    assert turn_credentials(SECRET, NOW, TTL, opaque="p-1")[0] == f"{int(NOW + TTL)}:p-1"
    empty, _ = turn_credentials(SECRET, NOW, TTL, opaque="")
    assert OPAQUE.fullmatch(empty.split(":", 1)[1])  # never a bare "<expiry>:" everyone shares


@pytest.mark.parametrize("ttl", [0.0, -1.0, -0.5, -86400.0])
def test_non_positive_ttl_is_refused(ttl: float) -> None:
    """Credentials that are already expired would only fail later, at the relay, silently."""
    with pytest.raises(ValueError, match="ttl"):
        turn_credentials(SECRET, NOW, ttl)


def test_ice_servers_without_turn_are_the_static_ones() -> None:
    static = ({"urls": "stun:stun.example.de:3478"},)
    assert ice_servers(static, (), SECRET, TTL, NOW) == [{"urls": "stun:stun.example.de:3478"}]
    assert ice_servers((), (), SECRET, TTL, NOW) == []


def test_ice_servers_add_turn_after_the_static_ones() -> None:
    static = ({"urls": "stun:stun.example.de:3478"},
              {"urls": ["turn:other.example.de"], "username": "u", "credential": "c"})
    servers = ice_servers(static, URLS, SECRET, TTL, NOW)
    assert servers[:2] == list(static)
    turn = servers[2]
    assert set(turn) == {"urls", "username", "credential"}
    assert turn["urls"] == list(URLS)
    assert turn["username"].startswith(f"{int(NOW + TTL)}:")
    assert turn["credential"] == reference_credential(SECRET, turn["username"])


def test_ice_servers_hand_out_fresh_credentials_and_copies() -> None:
    """Each participant gets its own username; editing one answer changes no setting."""
    static = ({"urls": "stun:stun.example.de:3478"},)
    first = ice_servers(static, URLS, SECRET, TTL, NOW)
    second = ice_servers(static, URLS, SECRET, TTL, NOW)
    assert first[1]["username"] != second[1]["username"]
    first[0]["urls"] = "stun:evil.example"
    first[1]["urls"].append("turn:evil.example")
    assert static[0]["urls"] == "stun:stun.example.de:3478"
    assert second[1]["urls"] == list(URLS)
