"""Staff sign in with the Jobcenter's identity provider: mapped roles and teams, key
rotation by `kid`, and the built-in key still working beside it."""

from __future__ import annotations

from tests.conftest import Broker, MakeBroker
from tests.security.idp import LocalIdp, ec_key


async def test_provider_token_signs_a_counsellor_in_with_mapped_role_and_team(
        oidc_broker: Broker, idp: LocalIdp) -> None:
    """Roles come from `realm_access.roles` through the role map, teams from `groups`."""
    token = idp.token(sub="idp-anna", roles=("jc-counsellor", "offline_access"),
                      groups=("team-nord",))
    console = await oidc_broker.counsellor(token)
    welcome = await console.next("welcome")
    assert welcome["staff"] == "idp-anna" and welcome["teams"] == ["team-nord"]
    status, created = await oidc_broker.http("POST", "/api/sessions", token,
                                             json={"customer_ref": "K-1"})
    assert status == 201 and created["team"] == "team-nord"
    # a counsellor is no supervisor
    refusal = await oidc_broker.peer("/supervisor", {"token": token, "v": 1}).refused()
    assert refusal["code"] == "forbidden"
    lead = idp.token(sub="idp-lead", roles=("jc-teamlead",), groups=("team-nord",))
    board = await oidc_broker.supervisor(lead)
    load = await board.next("load")
    assert "team-nord" in load["teams"]


async def test_ec_keys_are_accepted_too(oidc_broker: Broker, idp: LocalIdp) -> None:
    """The provider may sign with an EC key (ES256) from the same set."""
    token = idp.token(key=idp.keys[1])
    assert idp.keys[1].alg == "ES256"
    status, _ = await oidc_broker.http("GET", "/api/sessions", token)
    assert status == 200


async def test_key_rotation_is_followed_by_kid(oidc_broker: Broker, idp: LocalIdp) -> None:
    """After the provider rotates its key, a token with the new `kid` is accepted (the
    broker fetches the set again) and one with the withdrawn key is refused."""
    old = idp.token()
    assert (await oidc_broker.http("GET", "/api/sessions", old))[0] == 200
    fetched = idp.jwks_requests
    idp.rotate()
    new = idp.token()
    status, body = await oidc_broker.http("GET", "/api/sessions", new)
    assert status == 200, body
    assert idp.jwks_requests == fetched + 1
    # the withdrawn key: its kid is unknown now, another fetch does not bring it back
    status, body = await oidc_broker.http("GET", "/api/sessions", old)
    assert status == 401 and body["error"]["code"] == "unauthenticated"


async def test_made_up_kids_do_not_hammer_the_provider(make_broker: MakeBroker,
                                                       idp: LocalIdp) -> None:
    """Tokens with unknown `kid`s make the broker refetch at most once per interval."""
    broker = await make_broker(**{**idp.settings(), "oidc_jwks_min_refresh_seconds": 60.0})
    await broker.http("GET", "/api/sessions", idp.token())
    fetched = idp.jwks_requests
    for i in range(20):
        stranger = ec_key(f"made-up-{i}")
        status, _ = await broker.http("GET", "/api/sessions", idp.token(key=stranger))
        assert status == 401
    assert idp.jwks_requests - fetched <= 1


async def test_builtin_tokens_keep_working_beside_the_provider(oidc_broker: Broker) -> None:
    """The embedded default's own key (CLI, demo accounts) is still accepted."""
    status, _ = await oidc_broker.http("GET", "/api/sessions", oidc_broker.staff_token())
    assert status == 200


async def test_provider_down_at_start_recovers_later(make_broker: MakeBroker,
                                                     idp: LocalIdp) -> None:
    """An unreachable provider at start is no crash; sign-in works once it answers."""
    idp.down = True
    broker = await make_broker(**idp.settings())
    status, body = await broker.http("GET", "/api/sessions", idp.token())
    assert status == 401  # no keys yet
    idp.down = False
    status, body = await broker.http("GET", "/api/sessions", idp.token())
    assert status == 200, body


async def test_odd_subjects_and_teams_from_the_provider_are_not_taken_in(
        oidc_broker: Broker, idp: LocalIdp) -> None:
    """Team ids become room names and database values: only the API's own pattern is
    kept; a subject with control characters is refused."""
    token = idp.token(groups=("t1", "bad\x00team", "<b>x</b>", "ok.team-2"))
    console = await oidc_broker.counsellor(token)
    assert (await console.next("welcome"))["teams"] == ["ok.team-2", "t1"]
    status, body = await oidc_broker.http("GET", "/api/sessions", idp.token(sub="a\x00b"))
    assert status == 401 and body["error"]["code"] == "unauthenticated"
