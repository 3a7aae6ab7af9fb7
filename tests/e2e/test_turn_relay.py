"""The TURN relay works with what the broker hands out: real coturn, real aiortc, loopback.

The peers are built relay-only, so they have no host candidate at all: a call can only
connect through coturn, and the test checks the pair ICE selected on both sides and
coturn's own log of the allocations. The refusals show that coturn really checks the HMAC
and the expiry, so a broker computing either wrongly cannot pass the first test. The
broker hands out credentials only after admission, naming nobody. And the production
configuration in docs/coturn.md is run too: coturn must accept it, and its deny list must
refuse private peers and nothing else.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiortc import (
    RTCPeerConnection,
)

from broker.turn import turn_credentials
from tests.conftest import Broker, MakeBroker, Peer
from tests.e2e.coturn import Coturn, MakeConfig, private_files, running_coturn
from tests.e2e.peers import MediaPeer, channel_open, peer_connection, receives_audio

pytestmark = pytest.mark.usefixtures("loopback_ice")

TURN_SECRET = "coturn-test-secret-" + "t" * 24
TTL = 600.0
USERNAME = re.compile(r"(\d+):([A-Za-z0-9_-]{16,})")
STAFF = "counsellor-4711"  # long enough that a random username cannot contain it by chance
CUSTOMER_REF = "K-0815-4711"
# generous for a loaded 2-core machine; aioice's first retransmission alone is 0.5 s
CONNECT_TIMEOUT = 20.0
DOCS = Path(__file__).resolve().parents[2] / "docs" / "coturn.md"
LOOPBACK_DENIED = "denied-peer-ip=127.0.0.0-127.255.255.255"


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[Coturn]:
    with running_coturn(tmp_path / "coturn", TURN_SECRET) as server:
        yield server


def documented_options() -> list[str]:
    """The option lines of the turnserver.conf in docs/coturn.md (comments dropped)."""
    block = DOCS.read_text().split("```ini\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def documented_config(*, without: tuple[str, ...] = ()) -> MakeConfig:
    """docs/coturn.md's turnserver.conf moved onto loopback: addresses, ports, secret and
    realm replaced, TLS and syslog left out (no certificate here), every other option
    verbatim, the deny list included (minus `without`). `allow-loopback-peers` is added so
    that coturn's own loopback refusal cannot stand in for the deny list's."""
    def make(port: int, secret: str, realm: str, relay: range, workdir: Path) -> str:
        values: dict[str, object] = {
            "listening-ip": "127.0.0.1", "relay-ip": "127.0.0.1", "listening-port": port,
            "min-port": relay.start, "max-port": relay.stop - 1,
            "static-auth-secret": secret, "realm": realm}
        dropped = {"cert", "pkey", "cipher-list", "tls-listening-port", "aux-server",
                   "no-tlsv1", "no-tlsv1_1", "syslog"}
        lines = []
        for line in documented_options():
            key = line.split("=", 1)[0]
            if key in dropped or line in without:
                continue
            lines.append(f"{key}={values[key]}" if key in values else line)
        return "\n".join([*lines, "no-tls", "allow-loopback-peers", *private_files(workdir),
                          ""])
    return make


@pytest.fixture
def documented_coturn(tmp_path: Path) -> Iterator[Coturn]:
    with running_coturn(tmp_path / "documented", TURN_SECRET,
                        make_config=documented_config()) as server:
        yield server


@pytest.fixture
def documented_coturn_for_loopback(tmp_path: Path) -> Iterator[Coturn]:
    """The documented relay with its one entry for 127.0.0.0/8 taken out."""
    with running_coturn(tmp_path / "documented", TURN_SECRET,
                        make_config=documented_config(without=(LOOPBACK_DENIED,))) as server:
        yield server


def relay_only(ice_servers: list[dict[str, Any]]) -> RTCPeerConnection:
    """A peer connection that may only use relayed candidates, with exactly these servers."""
    return peer_connection(ice_servers, relay_only=True)


def ice_connections(pc: RTCPeerConnection) -> list[Any]:
    """The aioice connections under a peer connection (one when bundled).

    aiortc has no getSelectedCandidatePair and its getStats reports no candidate pairs, so
    the selected pair is read from aioice's Connection (private: `_connection`,
    `_nominated`; checked against aiortc 1.16 / aioice 0.13)."""
    dtls = [pc.sctp.transport] if pc.sctp is not None else []
    dtls += [t.receiver.transport for t in pc.getTransceivers()]
    by_id = {id(d.transport._connection): d.transport._connection for d in dtls}
    return list(by_id.values())


def relay_candidates(sdp: str) -> list[tuple[str, int]]:
    """(address, port) of the `typ relay` candidates in an SDP."""
    found = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:") and " typ relay" in line:
            fields = line.split()
            found.append((fields[4], int(fields[5])))
    return found


def assert_relayed_only(sdp: str, server: Coturn) -> None:
    """Only relay candidates, all on coturn's relay ports; none means coturn refused the
    credentials (a relay-only peer gets no candidate at all then, and no error)."""
    relayed = relay_candidates(sdp)
    assert relayed, "no relay candidate: coturn refused the TURN credentials from `start`"
    assert all(host == "127.0.0.1" and port in server.relay_ports for host, port in relayed)
    assert " typ host" not in sdp and " typ srflx" not in sdp and " typ prflx" not in sdp


def turn_entry(start: dict[str, Any]) -> dict[str, Any]:
    [turn] = [s for s in start["ice_servers"] if "username" in s]
    return dict(turn)


async def wait_for_log(server: Coturn, *needles: str, stop_at: str | None = None,
                       timeout: float = 10.0) -> str:
    """coturn writes its log from its own threads: wait until every line has landed (or
    `stop_at` has, which settles the test sooner)."""
    deadline = time.monotonic() + timeout
    while True:
        log = server.log()
        if (all(n in log for n in needles) or (stop_at is not None and stop_at in log)
                or time.monotonic() > deadline):
            return log
        await asyncio.sleep(0.05)


async def admitted(broker: Broker) -> tuple[str, Peer, Peer, dict[str, Any], dict[str, Any]]:
    """A session whose customer has just been admitted: (session, counsellor, customer,
    counsellor's start, customer's start)."""
    staff = broker.staff_token(STAFF)
    created = await broker.create_session(staff, planned_channel="audio",
                                          customer_ref=CUSTOMER_REF)
    sid = created["session"]
    k_sig = await broker.counsellor(staff)
    c_sig = await broker.customer(created["customer_token"])
    await c_sig.call("join", {"name": "Olena", "language": "uk",
                              "capabilities": {"webrtc": True, "camera": False,
                                               "microphone": True}})
    await k_sig.next("customer_waiting")
    assert (await k_sig.call("admit", {"session": sid}))["ok"]
    return sid, k_sig, c_sig, await k_sig.next("start"), await c_sig.next("start")


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_call_connects_only_through_coturn_with_the_broker_credentials(
        make_broker: MakeBroker, coturn: Coturn, transport: str) -> None:
    """Relay-only peers using exactly the `start` ice_servers connect, carry audio and chat,
    and the pair ICE selected joins two coturn relay addresses on both sides."""
    broker = await make_broker(turn_urls=(coturn.url(transport),), turn_secret=TURN_SECRET,
                               turn_ttl_seconds=TTL)
    sid, k_sig, c_sig, start_k, start_c = await admitted(broker)
    counsellor, customer = (MediaPeer(k_sig, sid, relay_only=True),
                             MediaPeer(c_sig, sid, relay_only=True))
    try:
        # aiortc gathers inside setLocalDescription: each side's description shows at once
        # whether coturn accepted the credentials from `start`
        await counsellor.offer(start_k)
        offer = await c_sig.next("signal")
        assert_relayed_only(offer["sdp"], coturn)
        await customer.answer(start_c, offer)
        answer = await k_sig.next("signal")
        assert_relayed_only(answer["sdp"], coturn)
        await counsellor.accept_answer(answer)
        try:
            await asyncio.wait_for(asyncio.gather(counsellor.connected.wait(),
                                                  customer.connected.wait()), CONNECT_TIMEOUT)
        except TimeoutError:
            pytest.fail(f"relay-only peers not connected within {CONNECT_TIMEOUT:.0f} s")

        usernames = []
        for media, start in ((counsellor, start_k), (customer, start_c)):
            assert media.pc is not None
            turn = turn_entry(start)
            usernames.append(turn["username"])
            [connection] = ice_connections(media.pc)
            # with exactly the credentials from `start`
            assert (connection.turn_username, connection.turn_password) == (
                turn["username"], turn["credential"])
            assert connection.turn_server == ("127.0.0.1", coturn.port)
            assert connection.turn_transport == transport
            # and ICE selected a relay-to-relay pair through coturn
            [pair] = connection._nominated.values()
            for cand in (pair.local_candidate, pair.remote_candidate):
                assert cand.type == "relay", pair
                assert cand.host == "127.0.0.1" and cand.port in coturn.relay_ports, pair

        # coturn itself allocated for both usernames and bound a channel to the other side
        lines = [f"user <{u}>: incoming packet {what} processed, success"
                 for u in usernames for what in ("ALLOCATE", "CHANNEL_BIND")]
        log = await wait_for_log(coturn, *lines)
        for line in lines:
            assert line in log, line

        # audio flows both ways through the relay
        for media in (counsellor, customer):
            await receives_audio(media, 10)
        # and chat, both ways
        (await channel_open(counsellor, 10)).send("Guten Tag, hören Sie mich?")
        assert await asyncio.wait_for(customer.messages.get(), 10) == \
            "Guten Tag, hören Sie mich?"
        assert customer.channel is not None
        customer.channel.send("Ja, sehr gut.")
        assert await asyncio.wait_for(counsellor.messages.get(), 10) == "Ja, sehr gut."
    finally:
        await counsellor.close()
        await customer.close()



def _extended(username: str, credential: str) -> tuple[str, str]:
    """A participant pushing its own expiry forward, keeping the credential."""
    expiry, opaque = username.split(":", 1)
    return f"{int(expiry) + 86400}:{opaque}", credential


REFUSED = {
    "wrong secret": lambda: turn_credentials("not-the-coturn-secret-000", time.time(), TTL),
    "expired": lambda: turn_credentials(TURN_SECRET, time.time() - 7200, 60),
    "expiry pushed forward": lambda: _extended(*turn_credentials(TURN_SECRET, time.time(), 60)),
    "sha256 instead of sha1": lambda: _hmac_with(hashlib.sha256),
}


def _hmac_with(digest: Any) -> tuple[str, str]:
    username, _ = turn_credentials(TURN_SECRET, time.time(), TTL)
    mac = hmac.new(TURN_SECRET.encode(), username.encode(), digest).digest()
    return username, base64.b64encode(mac).decode()


async def gather_relay(server: Coturn, username: str, credential: str,
                       transport: str = "udp") -> list[tuple[str, int]]:
    """Relay candidates a relay-only peer gets from coturn with these credentials (aiortc
    gathers inside setLocalDescription, so this returns once coturn has answered)."""
    pc = relay_only([{"urls": [server.url(transport)], "username": username,
                      "credential": credential}])
    try:
        pc.createDataChannel("probe")
        await pc.setLocalDescription(await pc.createOffer())
        return relay_candidates(pc.localDescription.sdp)
    finally:
        await pc.close()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_coturn_allocates_for_valid_credentials(coturn: Coturn, transport: str) -> None:
    """The control for the refusals below: the same path with good credentials works."""
    username, credential = turn_credentials(TURN_SECRET, time.time(), TTL)
    relayed = await gather_relay(coturn, username, credential, transport)
    assert len(relayed) == 1, f"coturn gave {relayed} for valid credentials"
    [(host, port)] = relayed
    assert host == "127.0.0.1" and port in coturn.relay_ports
    line = f"user <{username}>: incoming packet ALLOCATE processed, success"
    assert line in await wait_for_log(coturn, line)


@pytest.mark.parametrize("case", sorted(REFUSED))
async def test_coturn_refuses_bad_credentials(coturn: Coturn, case: str) -> None:
    """A wrong secret, a past expiry, an edited username or another hash get no relay: a
    relay-only peer has no candidate at all, so it can never connect; coturn says 401."""
    username, credential = REFUSED[case]()
    assert await gather_relay(coturn, username, credential) == []
    refusal = f"user <{username}>: incoming packet message processed, error 401"
    log = await wait_for_log(coturn, refusal)
    assert refusal in log
    assert f"user <{username}>: incoming packet ALLOCATE processed, success" not in log


async def test_turn_credentials_only_after_admission_and_name_nobody(
        make_broker: MakeBroker) -> None:
    """No TURN credentials in any welcome before admission; `start` gives each side its own
    short-lived, opaque username, valid for coturn under the shared secret."""
    static = {"urls": "stun:127.0.0.1:3478"}
    broker = await make_broker(turn_urls=("turn:127.0.0.1:3478?transport=udp",
                                          "turn:127.0.0.1:3478?transport=tcp"),
                               turn_secret=TURN_SECRET, turn_ttl_seconds=TTL,
                               ice_servers=(static,))
    staff = broker.staff_token(STAFF)
    created = await broker.create_session(staff, planned_channel="audio",
                                          customer_ref=CUSTOMER_REF)
    sid = created["session"]
    k_sig = await broker.counsellor(staff)
    k_welcome = await k_sig.next("welcome")
    c_sig = await broker.customer(created["customer_token"])
    c_welcome = await c_sig.next("welcome")
    assert "ice_servers" not in c_welcome
    assert all("ice_servers" not in view for view in k_welcome["sessions"])
    await c_sig.call("join", {"name": "Olena Kowalenko", "language": "uk",
                              "capabilities": {"webrtc": True, "camera": False,
                                               "microphone": True}})
    await k_sig.next("customer_waiting")
    synced = await c_sig.call("sync")
    assert "ice_servers" not in synced["session"]  # waiting is not admitted
    assert not any("ice_servers" in json.dumps(data) for _, data in c_sig.seen)

    before = time.time()
    assert (await k_sig.call("admit", {"session": sid}))["ok"]
    start_k, start_c = await k_sig.next("start"), await c_sig.next("start")
    after = time.time()

    usernames = set()
    for start in (start_k, start_c):
        assert start["ice_servers"][0] == static
        turn = turn_entry(start)
        assert turn["urls"] == ["turn:127.0.0.1:3478?transport=udp",
                                "turn:127.0.0.1:3478?transport=tcp"]
        match = USERNAME.fullmatch(turn["username"])
        assert match is not None, turn["username"]
        assert int(before + TTL) <= int(match[1]) <= after + TTL
        expected = hmac.new(TURN_SECRET.encode(), turn["username"].encode(), hashlib.sha1)
        assert turn["credential"] == base64.b64encode(expected.digest()).decode()
        text = json.dumps(turn)
        for personal in (STAFF, sid, CUSTOMER_REF, "Olena", "Kowalenko"):
            assert personal not in text
        assert TURN_SECRET not in json.dumps(start)
        usernames.add(turn["username"])
    assert len(usernames) == 2  # counsellor and customer are not linkable through the relay

    # a reconnect into the active call gets fresh credentials in its welcome
    again = await broker.customer(created["customer_token"], device=c_welcome["device"])
    rejoined = turn_entry(await again.next("welcome"))
    assert USERNAME.fullmatch(rejoined["username"]) and rejoined["username"] not in usernames
    k_again = await broker.counsellor(staff)
    [view] = (await k_again.next("welcome"))["sessions"]
    assert turn_entry(view)["username"] not in usernames | {rejoined["username"]}


async def relay_pair(server: Coturn) -> tuple[list[RTCPeerConnection], list[str]]:
    """Two relay-only peers with fresh credentials for `server`, offer and answer
    exchanged directly; returns them and their TURN usernames."""
    pcs, usernames = [], []
    for _ in range(2):
        username, credential = turn_credentials(TURN_SECRET, time.time(), TTL)
        usernames.append(username)
        pcs.append(relay_only([{"urls": [server.url()], "username": username,
                                "credential": credential}]))
    offerer, answerer = pcs
    offerer.createDataChannel("chat")
    await offerer.setLocalDescription(await offerer.createOffer())
    assert_relayed_only(offerer.localDescription.sdp, server)
    await answerer.setRemoteDescription(offerer.localDescription)
    await answerer.setLocalDescription(await answerer.createAnswer())
    assert_relayed_only(answerer.localDescription.sdp, server)
    await offerer.setRemoteDescription(answerer.localDescription)
    return pcs, usernames


def test_documented_config_keeps_the_deny_list_and_no_loopback_peers() -> None:
    """The tests below start from the documented file: it must stay the production one."""
    options = documented_options()
    assert LOOPBACK_DENIED in options
    assert "denied-peer-ip=10.0.0.0-10.255.255.255" in options
    assert "no-multicast-peers" in options and "use-auth-secret" in options
    assert "allow-loopback-peers" not in options


async def test_documented_deny_list_refuses_loopback_peers(documented_coturn: Coturn) -> None:
    """docs/coturn.md's configuration is one coturn 4.6 runs, and its deny list holds: the
    relay allocates, then refuses to relay to a private (here: loopback) peer."""
    pcs, usernames = await relay_pair(documented_coturn)
    try:
        lines = [f"user <{u}>: incoming packet CHANNEL_BIND processed, error 403: Forbidden IP"
                 for u in usernames]
        log = await wait_for_log(documented_coturn, *lines)
        for line in lines:
            assert line in log, line
        assert "CHANNEL_BIND processed, success" not in log
        assert all(pc.connectionState != "connected" for pc in pcs)
    finally:
        for pc in pcs:
            await pc.close()


async def test_documented_deny_list_refuses_nothing_else(
        documented_coturn_for_loopback: Coturn) -> None:
    """Without its 127.0.0.0/8 entry the documented relay carries a loopback call: no other
    entry catches an address outside its range. (`::-::ffff:ffff` did: coturn 4.6.1 then
    refused every IPv4 peer, which would have broken every relayed call.)"""
    server = documented_coturn_for_loopback
    pcs, usernames = await relay_pair(server)
    try:
        lines = [f"user <{u}>: incoming packet CHANNEL_BIND processed, success"
                 for u in usernames]
        log = await wait_for_log(server, *lines, stop_at="Forbidden IP")
        forbidden = [line for line in log.splitlines() if "Forbidden IP" in line]
        assert not forbidden, forbidden[0]
        for line in lines:
            assert line in log, line
        await asyncio.wait_for(until_connected(pcs), CONNECT_TIMEOUT)
    finally:
        for pc in pcs:
            await pc.close()


async def until_connected(pcs: list[RTCPeerConnection]) -> None:
    while not all(pc.connectionState == "connected" for pc in pcs):
        await asyncio.sleep(0.02)
