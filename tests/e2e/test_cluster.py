"""Several broker processes on one Redis and one PostgreSQL: the faults they must survive.

Real processes (`counselling-broker serve`), a real redis-server and a real PostgreSQL
database per test (see `tests/e2e/cluster.py`); clients are socket.io clients on loopback.
Each test asserts what a counsellor, a customer or a supervisor would observe, and what
the contact log holds afterwards: one record per session, with the right durations.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import socketio

from broker.types import Role
from tests.conftest import Peer, staff_token
from tests.e2e.cluster import (
    CANDIDATE,
    CAPS,
    NODE_TIMEOUT,
    Call,
    Cluster,
    active_call,
    close_quietly,
    eventually,
    running_cluster,
    sdp,
)
from tests.e2e.process import BrokerProcess, http
from tests.pg import PostgresServer, session_server

# how far a duration may be off the span the test measured around the broker's moments
SLACK = 0.3
# where the session is still going, what a party hears about its own session only
SESSION_EVENTS = {"signal", "media_state", "chat", "start", "ended", "peer_presence",
                  "customer_waiting", "channel", "customer_left", "fallback_proposed",
                  "counsellor_presence", "evicted"}

ClusterOf = Callable[..., AbstractAsyncContextManager[Cluster]]


@pytest.fixture(scope="session")
def postgres_server(pytestconfig: pytest.Config) -> PostgresServer:
    return session_server(pytestconfig)


@pytest.fixture
def cluster_of(tmp_path: Path, postgres_server: PostgresServer) -> ClusterOf:
    """`async with cluster_of(n=2, grace=8) as cluster:` a started cluster, torn down after
    the block (its logs printed if the block fails)."""
    count = 0

    def make(n: int = 2, grace: float = 8.0) -> AbstractAsyncContextManager[Cluster]:
        nonlocal count
        count += 1
        return running_cluster(tmp_path / f"c{count}", postgres_server, n, grace)

    return make


def only_own(peer: Peer, session: str) -> None:
    """Nothing a peer received names another session."""
    for event, data in peer.seen:
        if event in SESSION_EVENTS and isinstance(data, dict) and "session" in data:
            assert data["session"] == session, (event, data)


async def relays(sender: Peer, receiver: Peer, session: str, tag: str,
                 kind: str = "offer", timeout: float = 1.0) -> bool:
    """One signal from `sender` reaches `receiver` (False: refused or not relayed)."""
    payload: dict[str, Any] = {"type": kind, "sdp": sdp(tag)}
    if sender.namespace == "/staff":
        payload["session"] = session
    try:
        ack = await sender.call("signal", payload, timeout=timeout + 4)
    except socketio.exceptions.TimeoutError:
        return False
    if not ack.get("ok"):
        return False
    while True:  # skip copies of earlier attempts that arrive late
        try:
            got = await receiver.next("signal", timeout)
        except TimeoutError:
            return False
        if got.get("sdp") == sdp(tag):
            assert got["session"] == session and got["type"] == kind, got
            return True


async def usable_again(call: Call, seconds: float) -> None:
    """The counsellor's signals reach the customer again within `seconds` (retried as a
    client would: a refused or lost signal is sent again)."""
    deadline = time.monotonic() + seconds
    attempt = 0
    while not await relays(call.counsellor, call.customer, call.session, f"again-{attempt}"):
        attempt += 1
        if time.monotonic() > deadline:
            raise AssertionError(f"session {call.session} relays no signal {seconds} s after "
                                 f"Redis came back; last answers: {call.counsellor.seen[-3:]}")
        await asyncio.sleep(0.2)


async def healthy(cluster: Cluster, process: BrokerProcess) -> bool:
    return await cluster.healthz(process) == 200


async def talk_on_then_kill(cluster: Cluster, a: BrokerProcess) -> tuple[Call, float]:
    """Both parties on `a`, a second of talking, then SIGKILL: the call and when it died
    (the clients' sockets to `a` are closed: they would only wait for a dead process)."""
    call = await active_call(cluster, a, a)
    await asyncio.sleep(1.0)  # talking
    await a.kill()
    killed_at = time.time()
    await asyncio.gather(close_quietly(call.counsellor), close_quietly(call.customer))
    return call, killed_at


async def test_sigkill_mid_session_both_resume_on_another_process(
    cluster_of: ClusterOf,
) -> None:
    """Process A, holding both parties of an active call, is SIGKILLed. Both reconnect to
    B within 5 s (the customer with its device secret) and find the session active; an ICE
    restart goes through B; the call goes on past A's node timeout + grace (the takeover of
    A's connections must not end it) and the counsellor ends it. One `completed` record,
    whose video time runs from media connected to the end, across the kill (media is peer
    to peer: the call went on), and nobody closes it a second time."""
    grace = 6.0
    async with cluster_of(n=2, grace=grace) as cluster:
        a, b = cluster[0], cluster[1]
        call, killed_at = await talk_on_then_kill(cluster, a)
        sid = call.session

        staff = staff_token()
        k, c = await asyncio.gather(
            cluster.reconnect(b, "/staff", {"token": staff}, killed_at + 5),
            cluster.reconnect(b, "/customer", {"token": call.created["customer_token"],
                                               "device": call.device}, killed_at + 5))
        k_welcome, c_welcome = await asyncio.gather(
            k.next("welcome", killed_at + 5 - time.time()),
            c.next("welcome", killed_at + 5 - time.time()))
        assert c_welcome["state"] == "active", c_welcome
        assert c_welcome["device"] == call.device
        mine = [s for s in k_welcome["sessions"] if s["session"] == sid]
        assert mine and mine[0]["state"] == "active", k_welcome

        # an ICE restart through B: offer and answer
        assert await relays(k, c, sid, "ice-restart-offer"), "offer not relayed on B"
        assert await relays(c, k, sid, "ice-restart-answer", "answer"), "answer not relayed"
        ack = await c.call("media_state", {"state": "connected"})
        assert ack["ok"], ack
        assert (await k.next("media_state"))["connected"] is True
        ack = await k.call("media_state", {"session": sid, "state": "connected"})
        assert ack["ok"], ack
        assert (await c.next("media_state"))["connected"] is True
        # talking on past A's timeout and a whole grace period after it: the survivors
        # taking over A's connections must not count the parties who came back as gone
        await asyncio.sleep(max(0.0, killed_at + NODE_TIMEOUT + grace + 1.0 - time.time()))
        assert k.pending("ended") == 0 and c.pending("ended") == 0, (
            f"the call was ended while both were back: {[d for e, d in k.seen if e == 'ended']}")
        assert c.sio.connected and k.sio.connected

        end_from = time.time()
        ack = await k.call("end", {"session": sid, "outcome": "completed"})
        end_to = time.time()
        assert ack == {"ok": True, "state": "ended"}, ack
        assert (await c.next("ended")) == {"session": sid, "reason": "completed"}
        assert (await k.next("ended")) == {"session": sid, "reason": "completed"}

        [row] = await cluster.records(sid)
        assert row["state"] == "ended" and row["end_reason"] == "completed", row
        lowest, highest = end_from - call.media_to, end_to - call.media_from
        assert lowest - SLACK <= row["video_seconds"] <= highest + SLACK, (
            f"video {row['video_seconds']:.2f} s, the call ran {lowest:.2f}–{highest:.2f} s")
        status, body = await http(b.url, "GET", f"/api/contacts/{sid}", staff)
        assert status == 200 and body["end_reason"] == "completed", body

        await asyncio.sleep(1.0)  # a reaper holding stale presence would have closed it by now
        assert await cluster.records(sid) == [row]
        assert await cluster.events_left(sid) == 0
        assert await cluster.healthz(b) == 200


async def test_parties_that_never_come_back_are_closed_once_by_a_survivor(
    cluster_of: ClusterOf,
) -> None:
    """Process A, holding both parties of an active call, is SIGKILLed and nobody comes
    back. B and C both run the reaper; after node timeout + grace the session is closed
    exactly once: one terminal record (the counsellor gone too: `timeout`, by the
    transition table; `interrupted` is accepted as the dead process's call), not before
    the grace ran out, and with the talk time in it; the session is gone from live state."""
    grace = 4.0
    async with cluster_of(n=3, grace=grace) as cluster:
        a, b, c_proc = cluster[0], cluster[1], cluster[2]
        call, killed_at = await talk_on_then_kill(cluster, a)
        sid = call.session

        # the survivors see A's death after NODE_TIMEOUT, the grace runs from then at the
        # latest; their reapers may take a few beats more
        row = await cluster.record_within(sid, NODE_TIMEOUT + grace + 6.0)
        assert row["state"] == "ended", row
        assert row["end_reason"] in {"timeout", "interrupted"}, row
        assert row["ended_at"] >= killed_at + grace - 0.5, (
            f"closed {row['ended_at'] - killed_at:.2f} s after the kill, before the grace")
        assert row["video_seconds"] >= 1.0 - SLACK, row
        assert row["video_seconds"] <= row["ended_at"] - call.media_from + SLACK, row

        await asyncio.sleep(1.0)  # a losing reaper would have written by now
        assert await cluster.records(sid) == [row]
        assert await cluster.events_left(sid) == 0, "a second close left steps behind"
        # users see it ended: the counsellor's console lists it no more, the link is spent
        for process in (b, c_proc):
            _, welcome = await cluster.counsellor(process)
            assert sid not in [s["session"] for s in welcome["sessions"]], welcome
        refusal = await cluster.peer(b, "/customer", {"token": call.created["customer_token"],
                                                      "device": call.device}).refused()
        assert refusal["code"] == "session_ended", refusal
        assert [await cluster.healthz(p) for p in (b, c_proc)] == [200, 200]


async def test_redis_restart_mid_session_errors_then_recovers(cluster_of: ClusterOf) -> None:
    """redis-server dies and comes back empty (no persistence) while two calls run across
    processes. Neither process crashes; events sent meanwhile are answered (success or an
    error code, never a wrong session's data); a few seconds after Redis is back both calls
    work again (signals relayed both ways, `end` works) and each ends with one record."""
    async with cluster_of(n=2, grace=8.0) as cluster:
        a, b = cluster[0], cluster[1]
        one = await active_call(cluster, a, b, staff="c1")  # counsellor on A, customer on B
        two = await active_call(cluster, b, a, staff="c2")  # and the other way round

        await asyncio.to_thread(cluster.redis.kill)
        during = [
            asyncio.create_task(call.counsellor.call(
                "signal", {"session": call.session, "type": "offer", "sdp": sdp("outage")},
                timeout=10))
            for call in (one, two)
        ] + [
            asyncio.create_task(call.customer.call("media_state", {"state": "connected"},
                                                   timeout=10))
            for call in (one, two)
        ]
        await asyncio.sleep(1.5)  # Redis stays away this long
        why = await asyncio.to_thread(cluster.redis.start)
        assert why is None, f"redis-server did not come back: {why}"
        answers = await asyncio.gather(*during, return_exceptions=True)
        for answer in answers:
            assert isinstance(answer, dict), f"no answer to an event during the outage: " \
                                             f"{answer!r}"
            if not answer["ok"]:
                assert answer["error"]["code"] not in {
                    "not_found", "session_ended", "forbidden", "not_admitted", "link_in_use",
                }, f"an error that misstates the session: {answer}"

        for call in (one, two):
            assert call.counsellor.sio.connected and call.customer.sio.connected, \
                "a client lost its connection to a process over a Redis restart"

        for call in (one, two):
            await usable_again(call, 8.0)
            assert await relays(call.customer, call.counsellor, call.session, "back", "answer")
            ack = await call.counsellor.call("end", {"session": call.session})
            assert ack == {"ok": True, "state": "ended"}, ack
            assert (await call.customer.next("ended"))["reason"] == "completed"

        for call in (one, two):
            rows = await cluster.records(call.session)
            assert len(rows) == 1 and rows[0]["end_reason"] == "completed", rows
            assert rows[0]["video_seconds"] > 1.5, rows  # the outage did not stop the clock
            only_own(call.counsellor, call.session)
            only_own(call.customer, call.session)
        for p in (a, b):
            await eventually(partial(healthy, cluster, p), 5.0,
                             f"process {cluster.name(p)} healthy after Redis came back")


async def test_two_tabs_on_two_processes_admit_and_end_at_once(cluster_of: ClusterOf) -> None:
    """A counsellor's console is open on A and on B; both tabs admit the waiting customer
    at the same moment, and later both end the call at the same moment. Each time exactly
    one wins and the other gets a clear error; one record per session. Five rounds."""
    async with cluster_of(n=2) as cluster:
        a, b = cluster[0], cluster[1]
        tab_a, _ = await cluster.counsellor(a)
        tab_b, _ = await cluster.counsellor(b)
        for round_ in range(5):
            created = await cluster.create_session((a, b)[round_ % 2])
            sid = created["session"]
            c, _ = await cluster.customer((b, a)[round_ % 2], created["customer_token"])
            await c.call("join", {"name": "Ali", "capabilities": CAPS})
            for tab in (tab_a, tab_b):
                assert (await tab.next("customer_waiting"))["session"] == sid

            acks = await asyncio.gather(*(t.call("admit", {"session": sid, "capabilities": CAPS})
                                          for t in (tab_a, tab_b)))
            won = [ack for ack in acks if ack["ok"]]
            lost = [ack for ack in acks if not ack["ok"]]
            assert len(won) == 1 and len(lost) == 1, f"round {round_}: admit {acks}"
            assert lost[0]["error"]["code"] in {"invalid_transition", "conflict"}, lost
            assert (await c.next("start"))["session"] == sid

            acks = await asyncio.gather(*(t.call("end", {"session": sid})
                                          for t in (tab_a, tab_b)))
            won = [ack for ack in acks if ack["ok"]]
            lost = [ack for ack in acks if not ack["ok"]]
            assert len(won) == 1 and len(lost) == 1, f"round {round_}: end {acks}"
            assert won[0]["state"] == "ended"
            assert lost[0]["error"]["code"] in {"session_ended", "conflict"}, lost
            assert (await c.next("ended"))["reason"] == "completed"
            rows = await cluster.records(sid)
            assert len(rows) == 1 and rows[0]["end_reason"] == "completed", rows
            assert [e for e, _ in c.seen].count("start") == 1, "the customer started twice"
            await close_quietly(c)


async def test_live_load_on_a_counts_what_happens_on_b(cluster_of: ClusterOf) -> None:
    """A supervisor on A sees the whole cluster in one snapshot: a counsellor online on B
    with a customer waiting there, beside a counsellor online on A with an appointment
    there (no single process holds both); then the call on B active and its counsellor
    busy, then ended. Pushed to the supervisor, and in `GET /api/load` on A."""
    async with cluster_of(n=2) as cluster:
        a, b = cluster[0], cluster[1]
        lead, _ = await cluster.supervisor(a)
        lead_token = staff_token("s1", Role.SUPERVISOR)

        def figures(team: dict[str, Any]) -> dict[str, Any]:
            return {"sessions": team["sessions"], "waiting": team["waiting"],
                    "video": team["channels"]["video"], "counsellors": team["counsellors"]}

        async def pushed(want: dict[str, Any], what: str) -> None:
            """A pushed snapshot whose team t1 shows `want`, within a few push intervals."""
            last: Any = None
            deadline = time.monotonic() + 6.0
            while (left := deadline - time.monotonic()) > 0:
                try:
                    team = (await lead.next("load", left))["teams"].get("t1")
                except TimeoutError:
                    break
                last = None if team is None else figures(team)
                if last == want:
                    return
            raise AssertionError(f"no load push on A shows {what}: want {want}, last {last}")

        async def on_a(want: dict[str, Any], what: str) -> None:
            status, body = await http(a.url, "GET", "/api/load", lead_token)
            assert status == 200, body
            team = body["teams"].get("t1")
            got = None if team is None else figures(team)
            assert got == want, f"GET /api/load on A, {what}: want {want}, got {got}"

        await cluster.counsellor(a, "c2")
        await cluster.create_session(a, "c2")
        k, _ = await cluster.counsellor(b, "c1")
        created = await cluster.create_session(b, "c1")
        c, _ = await cluster.customer(b, created["customer_token"])
        await c.call("join", {"name": "Olena", "language": "uk", "capabilities": CAPS})
        want = {"sessions": {"scheduled": 1, "waiting": 1, "active": 0}, "waiting": 1,
                "video": 0, "counsellors": {"online": 2, "busy": 0, "free": 2}}
        await pushed(want, "the customer waiting on B and both counsellors online")
        await on_a(want, "the customer waiting on B")

        ack = await k.call("admit", {"session": created["session"], "capabilities": CAPS})
        assert ack["ok"], ack
        want = {"sessions": {"scheduled": 1, "waiting": 0, "active": 1}, "waiting": 0,
                "video": 1, "counsellors": {"online": 2, "busy": 1, "free": 1}}
        await pushed(want, "the call on B active, its counsellor busy")
        await on_a(want, "the call on B active")

        ack = await k.call("end", {"session": created["session"]})
        assert ack["ok"], ack
        want = {"sessions": {"scheduled": 1, "waiting": 0, "active": 0}, "waiting": 0,
                "video": 0, "counsellors": {"online": 2, "busy": 0, "free": 2}}
        await pushed(want, "the call on B ended")
        await on_a(want, "the call on B ended")


async def test_counsellor_on_a_and_customer_on_b_hold_one_session(
    cluster_of: ClusterOf,
) -> None:
    """Counsellor on A, customer on B: the customer sees the counsellor present, the
    counsellor hears the customer waiting; admit starts both; offer, answer and candidates
    are relayed both ways, media reports and chat too; the end reaches both, one record."""
    async with cluster_of(n=2) as cluster:
        a, b = cluster[0], cluster[1]
        k, _ = await cluster.counsellor(a)
        created = await cluster.create_session(a)
        sid = created["session"]
        c, welcome = await cluster.customer(b, created["customer_token"])
        assert welcome["state"] == "scheduled"

        ack = await c.call("join", {"name": "Mehmet", "language": "tr", "capabilities": CAPS})
        assert ack == {"ok": True, "state": "waiting"}, ack
        waiting = await k.next("customer_waiting")
        assert waiting["session"] == sid and waiting["name"] == "Mehmet", waiting

        ack = await k.call("admit", {"session": sid, "capabilities": CAPS})
        assert ack == {"ok": True, "channel": "video"}, ack
        k_start, c_start = await asyncio.gather(k.next("start"), c.next("start"))
        assert k_start["session"] == sid and k_start["initiator"] is True, k_start
        assert c_start["session"] == sid and c_start["initiator"] is False, c_start

        assert await relays(k, c, sid, "offer"), "offer A -> B not relayed"
        assert await relays(c, k, sid, "answer", "answer"), "answer B -> A not relayed"
        ack = await k.call("signal", {"session": sid, "type": "candidate",
                                      "candidate": CANDIDATE})
        assert ack["ok"], ack
        got = await c.next("signal")
        assert got["type"] == "candidate" and got["candidate"]["candidate"] == \
            CANDIDATE["candidate"], got
        ack = await c.call("signal", {"type": "candidate", "candidate": CANDIDATE})
        assert ack["ok"], ack
        got = await k.next("signal")
        assert got["type"] == "candidate" and got["session"] == sid, got

        await c.call("media_state", {"state": "connected"})
        assert (await k.next("media_state"))["role"] == "customer"
        await k.call("media_state", {"session": sid, "state": "connected"})
        assert (await c.next("media_state"))["role"] == "counsellor"

        ack = await k.call("chat", {"session": sid, "text": "Guten Tag"})
        assert ack["ok"], ack
        line = await c.next("chat")
        assert line["from"] == "counsellor" and line["text"] == "Guten Tag", line
        ack = await c.call("chat", {"text": "Merhaba"})
        assert ack["ok"], ack
        line = await k.next("chat")
        assert line["from"] == "customer" and line["text"] == "Merhaba", line

        ack = await k.call("end", {"session": sid})
        assert ack == {"ok": True, "state": "ended"}, ack
        assert (await c.next("ended"))["reason"] == "completed"
        rows = await cluster.records(sid)
        assert len(rows) == 1 and rows[0]["end_reason"] == "completed", rows
        only_own(k, sid)
        only_own(c, sid)
        # before admission the customer's page said whether the counsellor was signed in
        assert welcome["counsellor_present"] is True, "B did not know the counsellor is on A"


async def test_a_cluster_down_longer_than_the_grace_counts_only_the_call(
    cluster_of: ClusterOf,
) -> None:
    """The only process dies mid-call and a new one starts only after the grace period
    (Redis kept the live state): the call is closed as soon as the new process takes over,
    ending when the grace ran out after the dead process's last beat, so the downtime is
    not counted as talk time."""
    grace = 2.0
    async with cluster_of(n=1, grace=grace) as cluster:
        a = cluster[0]
        call, killed_at = await talk_on_then_kill(cluster, a)
        sid = call.session
        await asyncio.sleep(grace + 3.0)  # nobody runs meanwhile
        started_at = time.time()
        await a.start()  # a new process (a new node) on the same Redis and database
        row = await cluster.record_within(sid, NODE_TIMEOUT + 6.0)
        assert row["state"] == "ended" and row["end_reason"] == "timeout", row
        assert row["ended_at"] <= killed_at + grace + SLACK, (
            f"ended {row['ended_at'] - killed_at:.2f} s after the kill: downtime counted")
        assert row["ended_at"] < started_at
        assert 1.0 - SLACK <= row["video_seconds"] <= killed_at + grace - call.media_from + SLACK
        assert await cluster.records(sid) == [row]


async def test_a_clean_stop_hands_the_clients_over_at_once(cluster_of: ClusterOf) -> None:
    """A rolling restart: process A gets SIGTERM mid-call. It closes its sockets at once
    and exits; the clients reconnect to B and the call goes on to one `completed` record."""
    async with cluster_of(n=2, grace=8.0) as cluster:
        a, b = cluster[0], cluster[1]
        call = await active_call(cluster, a, a)
        started = time.monotonic()
        await a.stop()
        assert time.monotonic() - started < 5.0, "the stop waited for its clients"
        await eventually(partial(_both_dropped, call), 2.0, "both clients dropped at once")
        staff = staff_token()
        k = await cluster.reconnect(b, "/staff", {"token": staff}, time.time() + 5)
        c = await cluster.reconnect(b, "/customer", {"token": call.created["customer_token"],
                                                     "device": call.device}, time.time() + 5)
        assert (await c.next("welcome"))["state"] == "active"
        await k.next("welcome")
        assert await relays(k, c, call.session, "after-restart")
        ack = await k.call("end", {"session": call.session, "outcome": "completed"})
        assert ack == {"ok": True, "state": "ended"}, ack
        [row] = await cluster.records(call.session)
        assert row["end_reason"] == "completed", row


async def _both_dropped(call: Call) -> bool:
    return not call.counsellor.sio.connected and not call.customer.sio.connected
