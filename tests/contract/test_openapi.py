"""The OpenAPI document (web/openapi.py) tells the truth about the REST API.

Every route the app serves under /api and /healthz is documented with the same methods and
nothing documented is missing; the document is valid OpenAPI 3.1; real responses of a whole
session's flow, and of every refusal we can provoke, validate against the documented
status, content type, headers and body schema.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema_rs
import pytest
import schemathesis
from aiohttp import web

from broker.errors import ErrorCode
from broker.types import Role
from tests.conftest import Broker, MakeBroker, settings_for
from tests.functional.test_session_flow import active_pair
from web.app import create_app
from web.openapi import PATH, document

DOC = document()
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
DOCUMENTED = {(path, method) for path, item in DOC["paths"].items()
              for method in item if method in METHODS}
A_SESSION_ID = "A" * 22  # well-formed, belongs to nobody


def served_routes(app: web.Application) -> set[tuple[str, str]]:
    """(path template, method) of every REST route; HEAD comes with GET (aiohttp adds it)."""
    routes: set[tuple[str, str]] = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if path.startswith("/api/") or path == "/healthz":
            routes.add((path, route.method.lower()))
    gets = {path for path, method in routes if method == "get"}
    return {(p, m) for p, m in routes if not (m == "head" and p in gets)}


def test_every_route_is_documented_and_every_documented_route_served(tmp_path: Path) -> None:
    """Adding an endpoint (or a method) without documenting it fails here, and so does a
    documented one that no longer exists."""
    served = served_routes(create_app(settings_for(tmp_path)))
    assert served, "no routes found: has the app's layout changed?"
    assert served - DOCUMENTED == set(), "served but not in web/openapi.py"
    assert DOCUMENTED - served == set(), "documented but not served"


def test_document_is_valid_openapi_31() -> None:
    """The meta-schema check schemathesis runs; a broken document would be refused."""
    schemathesis.openapi.from_dict(DOC).validate()
    broken = {**DOC, "paths": {"/x": {"get": {"responses": {"200": {"content": 5}}}}}}
    with pytest.raises(jsonschema_rs.ValidationError):
        schemathesis.openapi.from_dict(broken).validate()


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_references_resolve_and_schemas_are_valid_json_schema() -> None:
    for pointer in set(_refs(DOC)):
        assert pointer.startswith("#/"), pointer
        node: Any = DOC
        for part in pointer[2:].split("/"):
            node = node[part]
    for name, schema in DOC["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name


def test_error_codes_are_the_brokers() -> None:
    """Every documented error code is an ErrorCode and every ErrorCode is documented."""
    documented: set[str] = set()
    for status, response in DOC["components"]["responses"].items():
        schema = response["content"]["application/json"]["schema"]
        codes = schema["properties"]["error"]["properties"]["code"]["enum"]
        assert codes, status
        documented |= set(codes)
    assert documented == {str(c) for c in ErrorCode}
    all_codes = DOC["components"]["schemas"]["Error"]["properties"]["error"]
    assert set(all_codes["properties"]["code"]["enum"]) == documented


def test_every_staff_operation_declares_the_bearer_scheme() -> None:
    public = {"/api/join", "/api/config", PATH, "/healthz", "/api/dropin/{team}"}
    customer = {"/api/rating": "customerBearer",  # with the customer link's token
                "/api/callbacks/mine": "callbackBearer"}  # with the personal link's
    either = {("/api/callbacks", "post")}  # a customer, or a counsellor noting a call
    for path, method in DOCUMENTED:
        security = DOC["paths"][path][method]["security"]
        want: list[dict[str, list[str]]] = (
            [] if path in public else [{customer[path]: []}] if path in customer
            else [{}, {"staffBearer": []}] if (path, method) in either
            else [{"staffBearer": []}])
        assert security == want, (path, method)
        if security:
            needed = {"401"} if path in customer else {"401", "403"}
            assert needed <= set(DOC["paths"][path][method]["responses"]), path


# ---------------------------------------------------------------- checking real responses


class Checker:
    """Validates real responses against the document and remembers what it saw."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.seen: set[tuple[str, str, int]] = set()
        self._validators: dict[str, jsonschema_rs.Validator] = {}

    def _validator(self, schema: dict[str, Any]) -> jsonschema_rs.Validator:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._validators:
            # the component schemas travel along, so `#/components/...` resolves
            root = {**schema, "components": DOC["components"]}
            self._validators[key] = jsonschema_rs.Draft202012Validator(root)
        return self._validators[key]

    async def call(self, method: str, template: str, token: str | None = None, *,
                   session: str | None = None, json_body: Any = None, raw: bytes | None = None,
                   query: dict[str, str] | None = None, expect: int | None = None,
                   callback: str = "") -> Any:
        """Send, check against the document, and return the JSON body."""
        url = self.broker.url + template.replace("{session}", session or "").replace(
            "{team}", "t1").replace("{staff}", "c1").replace("{callback}", callback)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if raw is not None:
            headers["Content-Type"] = "application/json"
        async with aiohttp.ClientSession() as http, http.request(
            method, url, json=json_body, data=raw, headers=headers, params=query
        ) as resp:
            text = await resp.text()
            status, content_type, got_headers = resp.status, resp.content_type, resp.headers
        body = json.loads(text)
        if expect is not None:
            assert status == expect, (method, template, status, body)
        operation = DOC["paths"][template][method.lower()]
        response = operation["responses"].get(str(status))
        assert response is not None, f"{method} {template}: status {status} not documented"
        if "$ref" in response:
            response = DOC["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
        assert content_type in response["content"], (content_type, list(response["content"]))
        for name, header in response.get("headers", {}).items():
            if header.get("required"):
                assert name in got_headers, f"{method} {template} {status}: no {name} header"
                assert self._validator(header["schema"]).is_valid(got_headers[name])
        schema = response["content"][content_type]["schema"]
        problems = [f"{'/'.join(map(str, e.instance_path))}: {e.message}"
                    for e in self._validator(schema).iter_errors(body)]
        assert not problems, f"{method} {template} {status}: {problems}\n{body}"
        self.seen.add((template, method.lower(), status))
        return body


async def test_a_whole_session_validates_against_the_document(make_broker: MakeBroker) -> None:
    """Create, read, list, re-issue and revoke links, join by code, admit, end, then read
    the records and the load: every response matches the documented schema."""
    broker = await make_broker()
    c = Checker(broker)
    staff = broker.staff_token()
    sup = broker.staff_token("s1", Role.SUPERVISOR)
    admin = broker.staff_token("a1", Role.ADMIN)

    created = await c.call("POST", "/api/sessions", staff, expect=201, json_body={
        "customer_ref": "K-0001", "planned_channel": "audio",
        "planned_start": datetime.fromtimestamp(time.time() + 600, UTC).isoformat()})
    sid = created["session"]
    await c.call("GET", "/api/sessions/{session}", staff, session=sid, expect=200)
    listed = await c.call("GET", "/api/sessions", staff, expect=200)
    assert [s["session"] for s in listed["sessions"]] == [sid]
    link = await c.call("GET", "/api/sessions/{session}/link", staff, session=sid, expect=200)
    assert link["access_code"] == created["access_code"]
    again = await c.call("POST", "/api/sessions/{session}/link", staff, session=sid, expect=200)
    assert again["link_generation"] == link["link_generation"] + 1
    await c.call("POST", "/api/join", json_body={"code": created["access_code"]}, expect=404)
    joined = await c.call("POST", "/api/join", expect=200,
                          json_body={"code": again["access_code_display"]})
    assert joined["session"] == sid
    await c.call("GET", "/api/load", sup, expect=200)
    await c.call("GET", "/api/load", admin, expect=200)
    await c.call("GET", "/api/config", expect=200)
    await c.call("GET", "/healthz", expect=200)
    served = await c.call("GET", PATH, expect=200)
    assert served == json.loads(json.dumps(DOC)), "the served document is web/openapi.py's"

    # a call: the session view now carries the customer's card and a channel
    other = await c.call("POST", "/api/sessions", staff, json_body={"customer_ref": "K:2"},
                         expect=201)
    revoked = await c.call("DELETE", "/api/sessions/{session}/link", staff,
                           session=other["session"], expect=200)
    assert revoked["revoked"] is True
    cancelled = await c.call("POST", "/api/sessions/{session}/cancel", staff,
                             session=other["session"], expect=200)
    assert cancelled["state"] == "cancelled"
    created2, counsellor, _customer = await active_pair(broker)
    await c.call("POST", "/api/rating", created2["customer_token"], json_body={"score": 5},
                 expect=409)  # not before the end
    sid2 = created2["session"]
    view = await c.call("GET", "/api/sessions/{session}", staff, session=sid2, expect=200)
    assert view["state"] == "active" and view["customer"]["language"] == "tr"
    await c.call("GET", "/api/load", sup, expect=200)
    ack = await counsellor.call("end", {"session": sid2, "outcome": "completed"})
    assert ack["ok"], ack

    rated = await c.call("POST", "/api/rating", created2["customer_token"],
                         json_body={"score": 5}, expect=200)
    assert rated == {"session": sid2, "satisfaction": 5}
    await c.call("POST", "/api/rating", created2["customer_token"], json_body={"score": 1},
                 expect=409)
    await c.call("POST", "/api/rating", staff, json_body={"score": 1}, expect=401)
    await c.call("POST", "/api/rating", created2["customer_token"], json_body={"score": 9},
                 expect=400)
    record = await c.call("GET", "/api/contacts/{session}", staff, session=sid2, expect=200)
    assert record["end_reason"] == "completed" and record["segments"] == []
    assert record["satisfaction"] == 5
    await c.call("GET", "/api/contacts/{session}", sup, session=sid2, expect=200)
    contacts = await c.call("GET", "/api/contacts", sup, expect=200)
    assert {r["session_id"] for r in contacts["contacts"]} == {other["session"], sid2}
    await c.call("GET", "/api/contacts", staff, expect=200,
                 query={"from": "2020-01-01T00:00:00Z", "to": str(time.time() + 10)})
    listed = await c.call("GET", "/api/sessions", staff, expect=200)
    assert {r["session_id"] for r in listed["closed_today"]} == {other["session"], sid2}
    report = await c.call("GET", "/api/reports", sup, expect=200, query={
        "from": str(time.time() - 86400), "to": str(time.time() + 10),
        "group_by": "day,team,channel,kind"})
    assert report["total"]["contacts"] == 1 and len(report["rows"]) == 1  # + a cancelled one
    assert report["total"]["satisfaction"] == {"count": 1, "mean": 5.0}  # the rating above

    # drop-ins: the entry page, a ticket, a counsellor's skills, the queue in the load
    entry = await c.call("GET", "/api/dropin/{team}", expect=200)
    assert entry["staffed"] is True and "benefits" in entry["topics"]  # c1 is in wrap-up
    ticket = await c.call("POST", "/api/dropin/{team}", expect=201, json_body={
        "topic": "benefits", "language": "ar",
        "capabilities": {"webrtc": True, "camera": False, "microphone": True}})
    assert (ticket["position"], ticket["estimate_seconds"]) == (1, None)
    await c.call("POST", "/api/dropin/{team}", expect=400, json_body={"topic": "astrology"})
    skills = await c.call("GET", "/api/staff/{staff}/skills", admin, expect=200)
    assert skills["set"] is False and skills["languages"] == ["de"]
    await c.call("PUT", "/api/staff/{staff}/skills", admin, expect=200, json_body={
        "topics": ["benefits"], "languages": ["de", "ar"], "teams": ["t1"]})
    await c.call("PUT", "/api/staff/{staff}/skills", staff, expect=403, json_body={
        "topics": ["benefits"], "languages": ["de"]})
    await c.call("PUT", "/api/staff/{staff}/skills", admin, expect=400, json_body={
        "topics": [], "languages": ["de"]})
    got = await c.call("GET", "/api/staff/{staff}/skills", admin, expect=200)
    assert got == {"staff": "c1", "set": True, "teams": ["t1"], "topics": ["benefits"],
                   "languages": ["ar", "de"]}
    load = await c.call("GET", "/api/load", sup, expect=200)
    assert load["teams"]["t1"]["dropin"]["topics"]["benefits"]["waiting"] == 1

    # callback requests: asked for, worked, withdrawn
    asked = await c.call("POST", "/api/callbacks", json_body={
        "team": "t1", "topic": "benefits", "reach": "phone", "phone": "030 1234567",
        "urgent": True, "consent": True, "window": {"from": time.time() + 60,
                                                    "to": "2099-01-01T10:00:00+01:00"}},
        expect=400)  # a window past 14 days
    asked = await c.call("POST", "/api/callbacks", json_body={
        "team": "t1", "topic": "benefits", "reach": "phone", "phone": "030 1234567",
        "urgent": True, "consent": True}, expect=201)
    cid = asked["callback"]
    await c.call("GET", "/api/callbacks/mine", asked["token"], expect=200)
    listed = await c.call("GET", "/api/callbacks", staff, expect=200)
    assert [i["callback"] for i in listed["callbacks"]] == [cid]
    await c.call("POST", "/api/callbacks/{callback}/claim", staff, callback=cid, expect=200)
    await c.call("POST", "/api/callbacks/{callback}/claim", broker.staff_token("c2"),
                 callback=cid, expect=409)
    await c.call("POST", "/api/callbacks/{callback}/release", staff, callback=cid,
                 expect=200)
    await c.call("POST", "/api/callbacks/{callback}/claim", staff, callback=cid, expect=200)
    started = await c.call("POST", "/api/callbacks/{callback}/start", staff, callback=cid,
                           expect=201)
    assert started["session"]["kind"] == "callback"
    await c.call("POST", "/api/callbacks/{callback}/attempts", staff, callback=cid,
                 json_body={"outcome": "not_reached"}, expect=201)
    tried = await c.call("GET", "/api/callbacks/{callback}/attempts", staff, callback=cid,
                         expect=200)
    assert [a["outcome"] for a in tried["attempts"]] == ["not_reached"]
    noted = await c.call("POST", "/api/callbacks", staff, json_body={
        "team": "t1", "topic": "general", "reach": "video"}, expect=201)
    await c.call("DELETE", "/api/callbacks/mine", noted["token"], expect=200)
    await c.call("GET", "/api/callbacks/mine", staff, expect=401)
    await c.call("POST", "/api/callbacks/{callback}/claim", staff, callback="nope-nope-nope",
                 expect=404)
    load = await c.call("GET", "/api/load", sup, expect=200)
    assert load["teams"]["t1"]["callbacks"]["open"] == 1

    # every documented operation answered its success status at least once
    successes = {(p, m) for p, m, status in c.seen if status < 300}
    assert successes == DOCUMENTED, DOCUMENTED - successes


async def test_refusals_validate_against_the_document(make_broker: MakeBroker) -> None:
    """The documented error statuses, provoked for real: 400, 401, 403, 404, 409, 410, 413."""
    broker = await make_broker()
    c = Checker(broker)
    staff = broker.staff_token()
    sup = broker.staff_token("s1", Role.SUPERVISOR)
    expired = broker.staff_token(ttl=-10)
    created = await broker.create_session(staff)
    sid = created["session"]

    await c.call("POST", "/api/sessions", expect=401, json_body={"customer_ref": "K-1"})
    await c.call("POST", "/api/sessions", "not-a-jwt", expect=401,
                 json_body={"customer_ref": "K-1"})
    err = await c.call("GET", "/api/sessions", expired, expect=401)
    assert err["error"]["code"] == "token_expired"
    await c.call("POST", "/api/sessions", sup, expect=403, json_body={"customer_ref": "K-1"})
    await c.call("POST", "/api/sessions", staff, expect=403,
                 json_body={"customer_ref": "K-1", "team": "not-mine"})
    for bad in (b"{not json", b"[1]", b'{"customer_ref": "K-1", "extra": 1}',
                b'{"customer_ref": "K-1", "planned_start": NaN}',
                b'{"customer_ref": "K-1", "planned_start": "2026-11-23T10:00:00"}'):
        await c.call("POST", "/api/sessions", staff, raw=bad, expect=400)
    big = b'{"customer_ref": "' + b"K" * 70_000 + b'"}'
    await c.call("POST", "/api/sessions", staff, raw=big, expect=413)
    await c.call("POST", "/api/join", raw=b'{"code": 5}', expect=404)
    await c.call("POST", "/api/join", raw=b'{"code": "1", "x": 1}', expect=400)
    await c.call("GET", "/api/sessions/{session}", staff, session="../x", expect=404)
    await c.call("GET", "/api/sessions/{session}", staff, session="bad.id", expect=400)
    await c.call("GET", "/api/sessions/{session}", staff, session=A_SESSION_ID, expect=404)
    other = broker.staff_token("c2")
    await c.call("GET", "/api/sessions/{session}/link", other, session=sid, expect=403)
    await c.call("GET", "/api/contacts", staff, query={"from": "yesterday"}, expect=400)
    await c.call("GET", "/api/contacts/{session}", staff, session=sid, expect=404)
    await c.call("GET", "/api/load", staff, expect=403)
    await c.call("GET", "/api/reports", staff, query={"from": "0", "to": "1"}, expect=403)
    await c.call("GET", "/api/reports", sup, query={"from": "1", "to": "0"}, expect=400)

    created2, _counsellor, _customer = await active_pair(broker)
    await c.call("POST", "/api/sessions/{session}/cancel", staff,
                 session=created2["session"], expect=409)
    await c.call("POST", "/api/sessions/{session}/cancel", staff, session=sid, expect=200)
    for method, template in (("GET", "/api/sessions/{session}"),
                             ("POST", "/api/sessions/{session}/cancel"),
                             ("POST", "/api/sessions/{session}/link"),
                             ("DELETE", "/api/sessions/{session}/link")):
        err = await c.call(method, template, staff, session=sid, expect=410)
        assert err["error"]["code"] == "session_ended"
    await c.call("GET", "/api/contacts/{session}", other, session=sid, expect=403)


async def test_access_code_lockout_answers_429_with_retry_after(make_broker: MakeBroker) -> None:
    broker = await make_broker(code_attempts_per_minute=3)
    c = Checker(broker)
    for i in range(3):
        await c.call("POST", "/api/join", json_body={"code": f"{i:09d}"}, expect=404)
    err = await c.call("POST", "/api/join", json_body={"code": "000000009"}, expect=429)
    assert err["error"]["retry_after"] >= 1


async def test_staff_operations_refuse_without_a_token(broker: Broker) -> None:
    """What `security` promises: each staff operation is 401 without a bearer token,
    the public ones never ask for one."""
    c = Checker(broker)
    for path, method in sorted(DOCUMENTED):
        operation = DOC["paths"][path][method]
        body = {"customer_ref": "K-1"} if path == "/api/sessions" else {"code": "1"}
        got = await c.call(method.upper(), path, session=A_SESSION_ID,
                           callback="no-such-callback",
                           json_body=body if "requestBody" in operation else None)
        unauthenticated = got.get("error", {}).get("code") == "unauthenticated"
        token_optional = {} in operation["security"]
        assert unauthenticated == bool(operation["security"] and not token_optional), (
            method, path, got)


async def _undocumented_methods(broker: Broker) -> list[tuple[str, str, int, Any, set[str]]]:
    """(method, path, status, body, Allow) for each method a documented path does not list."""
    staff = broker.staff_token()
    out = []
    async with aiohttp.ClientSession() as http:
        for path, item in DOC["paths"].items():
            listed = {m for m in item if m in METHODS}
            for method in sorted({"get", "post", "put", "patch", "delete"} - listed):
                url = broker.url + path.replace("{session}", A_SESSION_ID).replace(
                    "{team}", "t1").replace("{staff}", "c1").replace("{callback}",
                                                                     "no-such-callback")
                async with http.request(method.upper(), url,
                                        headers={"Authorization": f"Bearer {staff}"}) as resp:
                    body = await resp.json() if path.startswith("/api/") else None
                    allow = {m.strip().lower()
                             for m in resp.headers.get("Allow", "").split(",") if m.strip()}
                    out.append((method, path, resp.status, body, allow))
    return out


async def test_undocumented_methods_are_405(broker: Broker) -> None:
    """A method a documented path does not list is 405 with the error body."""
    found = await _undocumented_methods(broker)
    assert found
    for method, path, status, body, _allow in found:
        assert status == 405, (method, path, status)
        if body is not None:
            assert body["error"]["code"] == "bad_request", (method, path, body)


async def test_405_names_the_allowed_methods(broker: Broker) -> None:
    for method, path, _status, _body, allow in await _undocumented_methods(broker):
        listed = {m for m in DOC["paths"][path] if m in METHODS}
        assert listed <= allow <= listed | {"head"}, (method, path, allow)
