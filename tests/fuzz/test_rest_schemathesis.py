"""schemathesis against the served OpenAPI document, on a real broker process on loopback.

Every documented operation gets generated requests, valid ones and ones that break the
document (wrong types, missing or extra fields, bad ids), sent with the staff tokens a
counsellor, a supervisor, an admin, a stranger or nobody would hold. Every answer must be
documented (status, content type, headers, body) and none may be a 5xx. Requests naming a
session mostly name a real one (the fuzzer's own), so the handlers get past "not found".
Afterwards the broker is still healthy and a session created before the fuzzing is intact.

schemathesis is synchronous: the broker runs as its own process (`counselling-broker
serve`), so no event loop is ever blocked. Bounded: EXAMPLES inputs per operation.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from broker.types import Role
from tests.conftest import SECRET, staff_token
from tests.ports import free_port
from web.openapi import PATH, document

EXAMPLES = 200  # per operation; the whole file stays well under a minute on 2 cores
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, negative_data_rejection,
          ignored_auth]
OPERATIONS = [(method.upper(), path) for path, item in document()["paths"].items()
              for method in item]
TRIED: Counter[str] = Counter()




def get_json(url: str, token: str | None = None, data: Any = None,
             method: str = "GET") -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = None
    if data is not None:
        body = json.dumps(data).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return int(resp.status), json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@dataclass
class LiveBroker:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    schema: Any  # schemathesis' OpenApiSchema
    http: requests.Session
    counsellor: str
    keeper: str  # a counsellor the fuzzer never speaks as: owns the sentinel
    sentinel: dict[str, Any]
    victims: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)

    def victim(self) -> str:
        """A live session of the fuzzing counsellor (a new one once it has been closed)."""
        if not self.victims:
            status, body = get_json(self.url + "/api/sessions", self.counsellor,
                                    {"customer_ref": "K-fuzz"}, method="POST")
            assert status == 201, body
            self.victims.append(body["session"])
        return self.victims[-1]

    def victim_code(self) -> str:
        status, link = get_json(f"{self.url}/api/sessions/{self.victim()}/link",
                                self.counsellor)
        assert status == 200, link
        return str(link["access_code_display"])

    def closed(self, session: str) -> None:
        if session in self.victims:
            self.victims.remove(session)
            self.ended.append(session)

    def closed_session(self) -> str:
        """A session of the fuzzing counsellor that has ended (it has a contact record)."""
        if not self.ended:
            session = self.victim()
            status, body = get_json(f"{self.url}/api/sessions/{session}/cancel",
                                    self.counsellor, method="POST")
            assert status == 200, body
            self.closed(session)
        return self.ended[-1]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBroker]:
    data = tmp_path_factory.mktemp("rest-fuzz")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ, "CB_SECRET": SECRET, "CB_LOG_LEVEL": "WARNING",
        # the access-code guard would answer nearly every fuzzed join with 429
        "CB_CODE_ATTEMPTS_PER_MINUTE": "1000000", "CB_CODE_LOCKOUT_FAILURES": "1000000",
        "CB_CODE_FAILURES_PER_MINUTE": "1000000", "CB_CODE_USES_PER_WINDOW": "1000000",
    }
    log = data / "broker.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "web.cli", "serve", "--port", str(port),
             "--data-dir", str(data / "data")], env=env, stdout=sink, stderr=sink)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if get_json(url + "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"broker did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        keeper = staff_token("keeper")
        status, sentinel = get_json(url + "/api/sessions", keeper,
                                    {"customer_ref": "K-keep"}, method="POST")
        assert status == 201, sentinel
        with requests.Session() as http:
            yield LiveBroker(url, process, log, schemathesis.openapi.from_url(url + PATH), http,
                             staff_token(), keeper, sentinel)
    finally:
        process.terminate()
        process.wait(timeout=10)


IDENTITIES: dict[str, Callable[[], str]] = {
    "counsellor": staff_token,
    "supervisor": lambda: staff_token("s1", Role.SUPERVISOR),
    "admin": lambda: staff_token("a1", Role.ADMIN),
    "counsellor of two teams": lambda: staff_token("c9", teams=("t1", "t2")),
    "expired": lambda: staff_token(ttl=-60),
}
NOBODY = "nobody"  # no Authorization header at all
GENERATED = "generated"  # whatever schemathesis makes of the bearer scheme


def cases(operation: Any) -> st.SearchStrategy[tuple[str, Any]]:
    """(who, case): valid and document-breaking requests, under each identity, most of
    them as the counsellor whose sessions the real ids name.

    A token is fixed when the case is generated (not pasted in afterwards), so a case that
    schemathesis made invalid in its Authorization header stays invalid, and one it made
    valid stays valid: its negative-data check keeps its meaning."""
    modes = [GenerationMode.POSITIVE, GenerationMode.POSITIVE]
    if operation.path_parameters or operation.query or operation.body:
        modes.append(GenerationMode.NEGATIVE)
    table: dict[tuple[str, GenerationMode], st.SearchStrategy[Any]] = {}
    for mode in set(modes):
        for who, make in IDENTITIES.items():
            fixed = {"Authorization": f"Bearer {make()}"}
            table[(who, mode)] = operation.as_strategy(mode, headers=fixed)
        for who in (NOBODY, GENERATED):
            table[(who, mode)] = operation.as_strategy(mode)
    whos = ["counsellor"] * 4 + [*IDENTITIES, NOBODY, GENERATED]

    def pick(choice: tuple[str, GenerationMode]) -> st.SearchStrategy[tuple[str, Any]]:
        return st.tuples(st.just(choice[0]), table[choice])

    return st.tuples(st.sampled_from(whos), st.sampled_from(modes)).flatmap(pick)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_survives_fuzzing(live: LiveBroker, method: str, path: str) -> None:
    """No 5xx; every answer documented: status, content type, headers, body schema; inputs
    that break the document refused."""
    operation = live.schema[path][method]
    label = f"{method} {path}"
    statuses: Counter[int] = Counter()

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate, Phase.shrink],
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                     HealthCheck.data_too_large])
    @given(who_case=cases(operation), real_session=st.sampled_from([True, True, False]))
    def fuzz(who_case: tuple[str, Any], real_session: bool) -> None:
        who, case = who_case
        if who == NOBODY and case.headers:
            case.headers.pop("Authorization", None)  # a missing token is never valid
        positive = case.meta is None or not case.meta.generation.mode.is_negative
        if positive and real_session:
            if "session" in (case.path_parameters or {}):
                case.path_parameters["session"] = (
                    live.closed_session() if path.startswith("/api/contacts/")
                    else live.victim())
            elif path == "/api/join" and isinstance(case.body, dict) and "code" in case.body:
                case.body["code"] = live.victim_code()
        response = case.call(base_url=live.url, session=live.http, timeout=10)
        TRIED[label] += 1
        statuses[response.status_code] += 1
        if response.status_code == 200 and path.endswith("/cancel"):
            live.closed(case.path_parameters["session"])
        case.validate_response(response, checks=CHECKS, transport_kwargs={
            "base_url": live.url, "session": live.http})

    fuzz()
    logged = live.log.read_text(errors="replace")
    assert "Traceback" not in logged, f"the broker logged a failure:\n{logged[-3000:]}"
    print(f"\n{label}: {TRIED[label]} inputs, statuses {dict(sorted(statuses.items()))}")
    assert TRIED[label] > 0


# ---------------------------------------------------------------- edges the fuzzing found


@pytest.mark.parametrize("channel", [[{}], ["video"], {"video": 1}])
def test_a_list_or_object_channel_is_a_400(live: LiveBroker, channel: object) -> None:
    """Found by fuzzing (was a 500): an unhashable channel is bad input."""
    body = {"customer_ref": "K-edge", "planned_channel": channel}
    status, answer = get_json(live.url + "/api/sessions", live.counsellor, body, method="POST")
    assert status == 400, (status, answer)


def test_an_integer_too_large_for_a_float_is_a_400(live: LiveBroker) -> None:
    """Found by fuzzing (was a 500): an integer past the float range is no time."""
    body = {"customer_ref": "K-edge", "planned_start": 10**400}
    status, answer = get_json(live.url + "/api/sessions", live.counsellor, body, method="POST")
    assert status == 400, (status, answer)


def test_a_bearer_token_that_is_not_utf8_is_a_401(live: LiveBroker) -> None:
    """Found by fuzzing (was a 500): a token that cannot be a JWT is refused."""
    # requests (and so schemathesis) would refuse to send it; http.client sends it as Latin-1
    port = urllib.parse.urlsplit(live.url).port
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/api/sessions", headers={"Authorization": "Bearer \xff"})
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 401, (response.status, body)


# planned_start is a JSON number; Python's json reads any integer, however long
EDGE_TIMES = [1e308, -1e308, -0.0, 0, 2**63, -(2**63), "1e308", "-0", "NaN", "Infinity",
              "2026-02-30T10:00:00+01:00", "9999-12-31T23:59:59-23:59", "\u202e2026"]


@pytest.mark.parametrize("planned_start", EDGE_TIMES, ids=[repr(t) for t in EDGE_TIMES])
def test_edge_times_are_refused_or_taken(live: LiveBroker, planned_start: object) -> None:
    status, body = get_json(live.url + "/api/sessions", live.counsellor,
                            {"customer_ref": "K-edge", "planned_start": planned_start},
                            method="POST")
    assert status in (201, 400), (status, body)
    if status == 201:
        live.victims.append(body["session"])


def test_broker_survived_the_fuzzing(live: LiveBroker) -> None:
    """Runs last in this file: still healthy, the sentinel session untouched."""
    total = sum(TRIED.values())
    print(f"\nREST fuzzing: {total} inputs over {len(TRIED)} operations")
    assert live.process.poll() is None, live.log.read_text()[-2000:]
    status, health = get_json(live.url + "/healthz")
    assert status == 200 and health["status"] == "ok"
    sid = live.sentinel["session"]
    status, s = get_json(f"{live.url}/api/sessions/{sid}", live.keeper)
    assert status == 200 and s["state"] == "scheduled", s
    assert s["access_code"] == live.sentinel["access_code"]
    status, link = get_json(live.url + "/api/join", data={"code": s["access_code"]},
                            method="POST")
    assert status == 200 and link["session"] == sid, link
