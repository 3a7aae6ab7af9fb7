"""A whole session, run by a real broker process at DEBUG level, leaves nothing personal
in its log: no name, SDP, candidate address, token, TURN credential, access code or
client address. The log is the process's own stderr, as an operator would collect it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import Peer
from tests.e2e.process import BrokerProcess
from tests.functional.test_session_flow import SDP
from tests.security.idp import LocalIdp

NAME = "Oksana Kovalenko"
CLIENT_ADDRESS = "203.0.113.77"
CANDIDATE_ADDRESS = "198.51.100.23"
TURN_SECRET = "turn-shared-secret-" + "q" * 20


async def http(base: str, method: str, path: str, token: str | None = None,
               body: Any = None) -> tuple[int, Any]:
    headers = {"X-Forwarded-For": CLIENT_ADDRESS}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as session, session.request(
            method, base + path, json=body, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_a_whole_session_at_debug_level_logs_nothing_personal(
        tmp_path: Path, idp: LocalIdp) -> None:
    log_file = tmp_path / "broker.log"
    env = {"CB_LOG_LEVEL": "DEBUG", "CB_TRUSTED_PROXIES": "127.0.0.0/8",
           "CB_TURN_URLS": "turn:127.0.0.1:3478", "CB_TURN_SECRET": TURN_SECRET}
    for key, value in idp.settings().items():
        env[f"CB_{key.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    broker = BrokerProcess(tmp_path / "data", env=env, log_file=log_file)
    await broker.start()
    secrets: list[str] = [NAME, "Oksana", "Kovalenko", CLIENT_ADDRESS, CANDIDATE_ADDRESS,
                          "v=0", "candidate:", TURN_SECRET]
    try:
        staff = idp.token(sub="idp-olena")
        status, created = await http(broker.url, "POST", "/api/sessions", staff,
                                     {"customer_ref": "K-4711"})
        assert status == 201, created
        sid = created["session"]
        secrets += [staff, created["customer_token"], created["access_code"]]

        headers = {"X-Forwarded-For": CLIENT_ADDRESS}
        counsellor = Peer(broker.url, "/staff", {"token": staff, "v": 1})
        await counsellor.sio.connect(broker.url, namespaces=["/staff"], auth=counsellor.auth,
                                     transports=["websocket"], headers=headers)
        customer = Peer(broker.url, "/customer", {"token": created["customer_token"], "v": 1})
        await customer.sio.connect(broker.url, namespaces=["/customer"], auth=customer.auth,
                                   transports=["websocket"], headers=headers)
        try:
            await customer.call("join", {"name": NAME, "language": "uk"})
            await counsellor.next("customer_waiting")
            await counsellor.call("admit", {"session": sid})
            start = await counsellor.next("start")
            turn = next(s for s in start["ice_servers"] if "username" in s)
            secrets += [turn["credential"], turn["username"]]
            await counsellor.call("signal", {"session": sid, "type": "offer", "sdp": SDP})
            await customer.call("signal", {"type": "candidate", "candidate": {
                "candidate": f"candidate:1 1 udp 2122260223 {CANDIDATE_ADDRESS} 50000 typ host",
                "sdpMid": "0", "sdpMLineIndex": 0}})
            await customer.call("signal", {"type": "bogus", "sdp": "v=0 bad input"})
            renewed = idp.token(sub="idp-olena", ttl=900)
            secrets.append(renewed)
            assert (await counsellor.call("reauth", {"token": renewed}))["ok"]
            await customer.call("switch_channel", {"to": "phone"})
            status, _ = await http(broker.url, "POST", "/api/join", None,
                                   {"code": created["access_code"]})
            assert status == 200
            status, _ = await http(broker.url, "POST", "/api/join", None, {"code": "123456780"})
            assert status == 404
            secrets.append("123456780")
            status, fresh = await http(broker.url, "POST", f"/api/sessions/{sid}/link", staff)
            assert status == 200
            secrets += [fresh["customer_token"], fresh["access_code"]]
            status, _ = await http(broker.url, "GET", "/api/sessions", "garbage.token.value")
            assert status == 401
            secrets.append("garbage.token.value")
            assert (await counsellor.call("end", {"session": sid}))["ok"]
        finally:
            await counsellor.close()
            await customer.close()
    finally:
        await broker.stop()

    text = log_file.read_text()
    assert sid in text and "DEBUG" in text, "the log must be a real debug log"
    for secret in secrets:
        spaced = " ".join(secret[i:i + 3] for i in range(0, len(secret), 3))
        assert secret not in text, f"{secret[:24]!r} leaked into the log"
        if secret.isdigit():
            assert spaced not in text, f"{spaced!r} leaked into the log"
