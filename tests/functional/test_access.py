"""Nobody gets in where they do not belong: tokens, devices, roles, admission."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import jwt
import pytest

from broker.credentials import CUSTOMER_AUDIENCE, TokenIssuer
from broker.types import Role, SessionId
from tests.conftest import SECRET, Broker
from tests.functional.test_session_flow import SDP, waiting_pair


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _tampered(token: str, **claims: object) -> str:
    """The same token with changed claims and the old signature."""
    head, body, sig = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload.update(claims)
    return f"{head}.{_b64(payload)}.{sig}"


async def test_customer_token_is_bound_to_its_session(broker: Broker) -> None:
    """A token for session A with its subject changed to B is refused, not routed to B."""
    staff = broker.staff_token()
    a = await broker.create_session(staff)
    b = await broker.create_session(staff)
    forged = _tampered(a["customer_token"], sub=b["session"])
    refusal = await broker.peer("/customer", {"token": forged}).refused()
    assert refusal["code"] == "unauthenticated"


@pytest.mark.parametrize(
    ("make_token", "code"),
    [
        pytest.param(lambda sid, now: TokenIssuer(SECRET.encode(), "counselling-broker")
                     .customer_token(SessionId(sid), now - 7200, now - 1), "token_expired",
                     id="expired"),
        pytest.param(lambda sid, now: TokenIssuer(b"another-secret-" + b"y" * 40,
                                                  "counselling-broker")
                     .customer_token(SessionId(sid), now, now + 600), "unauthenticated",
                     id="other-secret"),
        pytest.param(lambda sid, now: _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(
            {"sub": sid, "aud": CUSTOMER_AUDIENCE, "iss": "counselling-broker",
             "iat": int(now), "exp": int(now) + 600}) + ".", "unauthenticated", id="alg-none"),
        pytest.param(lambda sid, now: jwt.encode(
            {"sub": sid, "aud": CUSTOMER_AUDIENCE, "iss": "counselling-broker-evil",
             "iat": int(now), "exp": int(now) + 600}, SECRET, algorithm="HS256"),
            "unauthenticated", id="wrong-issuer"),
        pytest.param(lambda sid, now: "not-a-token", "unauthenticated", id="garbage"),
        pytest.param(lambda sid, now: "", "unauthenticated", id="empty"),
    ],
)
async def test_bad_customer_tokens_are_refused(broker: Broker, make_token, code: str) -> None:
    """Expired, foreign, unsigned and mangled tokens never reach a session."""
    created = await broker.create_session(broker.staff_token())
    token = make_token(created["session"], time.time())
    refusal = await broker.peer("/customer", {"token": token}).refused()
    assert refusal["code"] == code


async def test_missing_auth_is_refused(broker: Broker) -> None:
    """Connecting without the auth payload (or with junk in it) is refused with a code."""
    for auth in ({}, {"token": 5}, {"token": "x", "extra": 1}, {"token": "x", "v": 2}):
        refusal = await broker.peer("/customer", auth).refused()
        assert refusal["code"] in {"unauthenticated", "bad_request", "unsupported_version"}


async def test_second_device_is_refused_while_the_first_holds_the_link(broker: Broker) -> None:
    """A forwarded link cannot take over: another device gets `link_in_use`."""
    created, _counsellor, customer = await waiting_pair(broker)
    refusal = await broker.peer("/customer", {"token": created["customer_token"]}).refused()
    assert refusal["code"] == "link_in_use"
    # a wrong device secret is just another device
    wrong = {"token": created["customer_token"], "device": "guess"}
    assert (await broker.peer("/customer", wrong).refused())["code"] == "link_in_use"
    # the first device is unaffected
    assert (await customer.call("sync"))["ok"] is True


async def test_same_device_takes_over_its_own_older_socket(broker: Broker) -> None:
    """The bound device reconnecting (a reload) replaces its stale socket."""
    created, _counsellor, customer = await waiting_pair(broker)
    device = customer.seen[0][1]["device"]
    again = await broker.customer(created["customer_token"], device=device)
    assert (await again.next("welcome"))["state"] == "waiting"
    for _ in range(50):
        if not customer.sio.connected:
            break
        await __import__("asyncio").sleep(0.02)
    assert not customer.sio.connected


async def test_wrong_namespace_for_the_token(broker: Broker) -> None:
    """A customer token opens neither /staff nor /supervisor; roles are checked per namespace."""
    created = await broker.create_session(broker.staff_token())
    customer_token = created["customer_token"]
    for ns in ("/staff", "/supervisor"):
        assert (await broker.peer(ns, {"token": customer_token}).refused())["code"] == \
            "unauthenticated"
    counsellor = broker.staff_token("c1", Role.COUNSELLOR)
    supervisor = broker.staff_token("s1", Role.SUPERVISOR)
    assert (await broker.peer("/supervisor", {"token": counsellor}).refused())["code"] == \
        "forbidden"
    assert (await broker.peer("/staff", {"token": supervisor}).refused())["code"] == "forbidden"
    assert (await broker.peer("/customer", {"token": counsellor}).refused())["code"] == \
        "unauthenticated"


async def test_rest_needs_the_right_staff_token(broker: Broker) -> None:
    """REST staff endpoints: no token 401, customer token 401, wrong role 403."""
    created = await broker.create_session(broker.staff_token())
    body = {"customer_ref": "K-1"}
    assert (await broker.http("POST", "/api/sessions", None, json=body))[0] == 401
    status, data = await broker.http("POST", "/api/sessions", created["customer_token"], json=body)
    assert (status, data["error"]["code"]) == (401, "unauthenticated")
    lead = broker.staff_token("s1", Role.SUPERVISOR)
    assert (await broker.http("POST", "/api/sessions", lead, json=body))[0] == 403
    assert (await broker.http("GET", "/api/load", broker.staff_token()))[0] == 403
    other = broker.staff_token("c2")
    status, data = await broker.http("GET", f"/api/sessions/{created['session']}", other)
    assert (status, data["error"]["code"]) == (403, "forbidden")
    status, data = await broker.http("POST", "/api/sessions", broker.staff_token(teams=("t2",)),
                                     json={**body, "team": "t1"})
    assert status == 403


async def test_counsellor_cannot_signal_before_admission(broker: Broker) -> None:
    """Even the own counsellor cannot push SDP to a customer who is still waiting."""
    created, counsellor, customer = await waiting_pair(broker)
    ack = await counsellor.call("signal", {"session": created["session"], "type": "offer",
                                           "sdp": SDP})
    assert ack["error"]["code"] == "not_admitted"
    assert customer.pending("signal") == 0


async def test_link_is_bound_from_the_first_connect(broker: Broker) -> None:
    """Even before joining the waiting room, a second device cannot take the link over."""
    created = await broker.create_session(broker.staff_token())
    first = await broker.customer(created["customer_token"])
    device = (await first.next("welcome"))["device"]
    refusal = await broker.peer("/customer", {"token": created["customer_token"]}).refused()
    assert refusal["code"] == "link_in_use"
    await first.close()
    await asyncio.sleep(0.1)
    # once the first device has gone (and never joined), the link may move to another device
    second = await broker.customer(created["customer_token"])
    assert (await second.next("welcome"))["device"] != device
