"""Generated payloads at every socket event of every namespace, over real socket.io
connections to a real broker on loopback, while a call is active.

Payloads are mostly valid with one thing broken (a field dropped, retyped or oversized,
an extra field, a wrong version), sometimes valid, sometimes anything at all: nested
objects and lists, binary attachments, huge and near-limit strings, control characters
and bidi overrides, lone surrogates, numbers like 1e308, -0, NaN, 99-digit integers,
JWT-shaped tokens. Event names are every handler of the namespace and made-up ones.
After each event:

- the ack is `{ok: true, ...}` or `{ok: false, error: {code, message}}` with a code from
  ErrorCode, never `internal`;
- the socket is still connected and answers `sync`;
- the active session is still active with both parties present, the others as they were,
  unless the event was a valid `end`/`leave`/`cancel`, whose effect is then checked (and a
  fresh call is set up);
- the contact log holds exactly one record per session that ended, none for the others.

hypothesis runs synchronously in a worker thread and drives the peers on the test's event
loop through `run_coroutine_threadsafe`, so the loop (broker and clients) never blocks.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import hypothesis.strategies as st
import pytest
import socketio
from hypothesis import HealthCheck, assume, given, settings

from broker.errors import ErrorCode
from broker.events import End
from broker.session import OUTCOMES
from broker.types import Channel, Role, SessionId, State
from signaling.namespaces.callback import CallbackNamespace
from signaling.namespaces.customer import CustomerNamespace
from signaling.namespaces.queue import QueueNamespace
from signaling.namespaces.staff import StaffNamespace
from signaling.namespaces.supervisor import SupervisorNamespace
from signaling.schemas import LANGUAGES, MAX_CANDIDATE, MAX_NAME, MAX_SDP
from tests.conftest import Broker, MakeBroker, Peer, staff_token

T = TypeVar("T")
CODES = {str(c) for c in ErrorCode}


def handlers(cls: type) -> set[str]:
    return {name.removeprefix("handle_") for name in dir(cls) if name.startswith("handle_")}


HANDLERS = {"/staff": handlers(StaffNamespace), "/customer": handlers(CustomerNamespace),
            "/supervisor": handlers(SupervisorNamespace), "/queue": handlers(QueueNamespace),
            "/callback": handlers(CallbackNamespace)}


def fuzz_settings(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much,
                                           HealthCheck.large_base_example])


# ---------------------------------------------------------------- values

# Below our dispatcher Engine.IO refuses two things: a packet over `max_packet_bytes`
# closes the connection (docs/protocol.md 2.1), and an integer of more than 100 digits
# makes the packet unreadable, dropped unanswered
# (test_an_unparseable_packet_is_dropped_and_the_socket_stays). Neither is sent here.
MAX_INT = 10**99 - 1  # 100 characters with its sign
MAX_PACKET = 1_000_000  # bytes of JSON, under the 1 MiB default
EDGE_NUMBERS = st.sampled_from([
    0, -0.0, 1, -1, 255, 256, 1e308, -1e308, 5e-324, 2**53 + 1, 2**63, -(2**63),
    float("nan"), float("inf"), float("-inf"), MAX_INT, -MAX_INT,
])
INTEGERS = st.integers(-MAX_INT, MAX_INT)
NASTY_TEXT = st.sampled_from([
    "", " ", "\u202e", "Anna\u202eatleH", "\u2066x\u2069", "\u200f\u200e", "\x00", "\x1b[31m",
    "\r\n", "\ud800", "\udfff", "\ufeff", "\uffff", "NaN", "-0", "1e308", "Infinity", "null",
    "true", "[]", "{}", "__proto__", "constructor", "../../etc/passwd", "<script>", "%s%n",
    "\u0645\u0631\u062d\u0628\u0627", "𝕏" * 10, "ﷺ" * 20, "e\u0301" * 40, "v", "session",
])
# near the limits of names (256), candidates (2 KiB), SDPs (64 KiB), in 1- to 4-byte
# characters; packets stay under Engine.IO's 1 MiB (a larger one closes the connection)
LIMITS = [MAX_NAME, 255, 256, 257, 64, 65, MAX_CANDIDATE - 1, MAX_CANDIDATE, MAX_CANDIDATE + 1,
          MAX_SDP - 1, MAX_SDP, MAX_SDP + 1]
BIG_TEXT = st.one_of(
    st.builds(lambda ch, n: ch * n, st.sampled_from(["x", "é", "€", "\u202e", "😀"]),
              st.sampled_from(LIMITS)),
    st.builds(lambda n: "x" * n, st.just(200_000)),  # built, not a literal: reprs stay small
)
SMALL_TEXT = st.one_of(st.text(max_size=40), NASTY_TEXT)
TEXT = st.one_of(SMALL_TEXT, BIG_TEXT)  # for fields: at most a few big ones per payload
SCALAR = st.one_of(st.none(), st.booleans(), INTEGERS, EDGE_NUMBERS,
                   st.floats(allow_nan=True, allow_infinity=True), SMALL_TEXT)
FIELD_NAMES = st.sampled_from(["v", "session", "type", "sdp", "candidate", "sdpMid",
                               "sdpMLineIndex", "usernameFragment", "to", "state", "stats",
                               "outcome", "capabilities", "name", "language", "token",
                               "webrtc", "camera", "microphone", "x", "", "__class__"])
KEYS = st.one_of(FIELD_NAMES, st.text(max_size=12))
PLAIN_JSON = st.recursive(  # what JSON itself can carry
    SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=6),
                            st.dictionaries(KEYS, inner, max_size=6)),
    max_leaves=24,
)
JSON = st.recursive(  # and what socket.io carries besides: binary attachments anywhere
    SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=6),
                            st.dictionaries(KEYS, inner, max_size=6),
                            st.binary(max_size=8)),
    max_leaves=24,
)


@st.composite
def jwt_like(draw: st.DrawFn) -> str:
    """Tokens that look like JWTs: JSON header and claims, any signature."""
    def part(value: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    anything = PLAIN_JSON
    header = draw(st.one_of(
        st.fixed_dictionaries({"alg": st.sampled_from(["HS256", "none", "RS256"]) | anything,
                               "typ": st.sampled_from(["cb-staff+jwt", "JWT"]) | anything}),
        anything))
    claims = draw(st.one_of(
        st.fixed_dictionaries({
            "iss": st.just("counselling-broker") | anything, "aud": anything,
            "sub": st.just("c1"), "exp": EDGE_NUMBERS | st.just(time.time() + 3600),
            "roles": anything, "teams": anything}),
        anything))
    signature = draw(st.sampled_from(["", "x", "AAAA"]))
    return f"{part(header)}.{part(claims)}.{signature}"


# ---------------------------------------------------------------- payloads


def weighted(choices: list[tuple[int, st.SearchStrategy[T]]]) -> st.SearchStrategy[T]:
    """One of the strategies, in about these proportions (`one_of` would treat them alike)."""
    table = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.integers(0, len(table) - 1).flatmap(lambda i: table[i])


@dataclass
class Ids:
    """The session ids a staff payload may name: the active call is the usual target."""
    active: str
    scheduled: str  # the counsellor's own, not yet joined
    foreign: str  # another counsellor's


def session_field(ids: Ids) -> st.SearchStrategy[Any]:
    return weighted([
        (6, st.just(ids.active)), (2, st.just(ids.scheduled)),
        (1, st.sampled_from([ids.foreign, "A" * 22, ids.active + "x", ids.active[:7]])),
        (1, st.from_regex(r"[A-Za-z0-9_-]{8,64}", fullmatch=True)), (1, JSON)])


CAPABILITIES = st.fixed_dictionaries({}, optional={
    "webrtc": st.booleans(), "camera": st.booleans(), "microphone": st.booleans()})
CANDIDATE = st.one_of(st.none(), st.fixed_dictionaries(
    {"candidate": st.sampled_from(["candidate:1 1 udp 2122260223 192.0.2.1 5000 typ host", ""])
     | BIG_TEXT},
    optional={"sdpMid": st.sampled_from(["0", "1", "audio"]) | st.none(),
              "sdpMLineIndex": st.integers(0, 255) | st.none(),
              "usernameFragment": st.text(max_size=8) | st.none()}))
SIGNAL = st.one_of(
    st.fixed_dictionaries({"type": st.sampled_from(["offer", "answer"]),
                           "sdp": weighted([(2, st.just("v=0\r\n")), (1, TEXT)])}),
    st.fixed_dictionaries({"type": st.just("candidate")}, optional={"candidate": CANDIDATE}),
    st.fixed_dictionaries({"type": st.just("bye")}),
)
MEDIA = st.fixed_dictionaries(
    {"state": st.sampled_from(["connected", "failed"])},
    optional={"stats": st.dictionaries(st.text(max_size=8),
                                       st.integers(-10**6, 10**6) | st.floats(-1e9, 1e9),
                                       max_size=8)})
CHANNEL = st.fixed_dictionaries({"to": st.sampled_from([str(c) for c in Channel])})
CHAT = st.fixed_dictionaries({"text": weighted([(3, st.text(min_size=1, max_size=40)),
                                                (1, NASTY_TEXT), (1, BIG_TEXT), (1, JSON)])})
EMPTY: st.SearchStrategy[dict[str, Any]] = st.just({})


def with_session(ids: Ids, base: st.SearchStrategy[dict[str, Any]]
                 ) -> st.SearchStrategy[dict[str, Any]]:
    return st.tuples(session_field(ids), base).map(lambda sb: {"session": sb[0], **sb[1]})


def staff_payloads(ids: Ids, tokens: dict[str, str]) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "admit": with_session(ids, st.fixed_dictionaries({}, optional={
            "capabilities": CAPABILITIES})),
        "signal": with_session(ids, SIGNAL),
        "switch_channel": with_session(ids, CHANNEL),
        "media_state": with_session(ids, MEDIA),
        "phone_connected": with_session(ids, EMPTY),
        "end": with_session(ids, st.fixed_dictionaries({}, optional={
            "outcome": st.sampled_from([str(o) for o in OUTCOMES])})),
        "cancel": with_session(ids, EMPTY),
        "chat": with_session(ids, CHAT),
        "sync": EMPTY,
        "reauth": st.fixed_dictionaries({"token": token_field(tokens)}),
        "presence": st.fixed_dictionaries({"presence": weighted([
            (4, st.sampled_from(["available", "away"])),
            (1, st.sampled_from(["busy", "wrap_up", "AVAILABLE", ""])), (1, JSON)])}),
        "dropin_accept": st.fixed_dictionaries({"ticket": TICKET}),
        "dropin_decline": st.fixed_dictionaries({"ticket": TICKET}),
    }


TICKET = weighted([(3, st.from_regex(r"[A-Za-z0-9_-]{8,64}", fullmatch=True)),
                   (1, st.text(max_size=80)), (1, JSON)])


def queue_payloads() -> dict[str, st.SearchStrategy[Any]]:
    return {"leave": EMPTY, "sync": EMPTY}


def callback_payloads() -> dict[str, st.SearchStrategy[Any]]:
    return {"withdraw": EMPTY, "sync": EMPTY}


def token_field(tokens: dict[str, str]) -> st.SearchStrategy[Any]:
    """Mostly the caller's own renewed token; also someone else's, expired, made up."""
    own = st.sampled_from([tokens[k] for k in ("same", "supervisor") if k in tokens])
    return weighted([(3, own), (1, st.sampled_from(sorted(tokens.values()))),
                     (1, jwt_like()), (1, TEXT)])


def customer_payloads() -> dict[str, st.SearchStrategy[Any]]:
    return {
        "join": st.fixed_dictionaries({}, optional={
            "name": st.text(max_size=20) | NASTY_TEXT | BIG_TEXT,
            "language": st.sampled_from(LANGUAGES), "capabilities": CAPABILITIES}),
        "signal": SIGNAL,
        "switch_channel": CHANNEL,
        "media_state": MEDIA,
        "leave": EMPTY,
        "chat": CHAT,
        "sync": EMPTY,
        "reauth": st.fixed_dictionaries({"token": TEXT}),  # not a customer event at all
    }


def supervisor_payloads(tokens: dict[str, str]) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "sync": EMPTY,
        "reauth": st.fixed_dictionaries({"token": token_field(tokens)}),
    }


def packet_size(payload: Any) -> int:
    """About the bytes socket.io sends for this payload (ASCII-escaped JSON)."""
    return len(json.dumps(payload, default=lambda b: "x" * len(b) * 2))


@st.composite
def broken(draw: st.DrawFn, valid: st.SearchStrategy[Any]) -> Any:
    """A valid payload, or one with exactly one thing wrong, or anything at all."""
    payload = draw(valid)
    how = draw(weighted([(6, st.just("valid")), (1, st.just("drop")), (2, st.just("retype")),
                         (1, st.just("extra")), (1, st.just("version")),
                         (1, st.just("nested")), (1, st.just("anything")),
                         (1, st.just("none")), (1, st.just("arguments"))]))
    if how == "valid" or not isinstance(payload, dict):
        if draw(st.booleans()):
            return {**payload, "v": 1} if isinstance(payload, dict) else payload
        return payload
    d = dict(payload)
    if how == "drop" and d:
        del d[draw(st.sampled_from(sorted(d)))]
    elif how == "retype" and d:
        d[draw(st.sampled_from(sorted(d)))] = draw(JSON)
    elif how == "extra":
        d[draw(KEYS)] = draw(JSON)
    elif how == "version":
        d["v"] = draw(JSON.filter(lambda v: not (type(v) is int and v == 1)))
    elif how == "nested":
        inner = [k for k, v in d.items() if isinstance(v, dict)]
        if inner:
            key = draw(st.sampled_from(sorted(inner)))
            d[key] = {**d[key], draw(KEYS): draw(JSON)}
        else:
            d[draw(KEYS)] = draw(JSON)
    elif how == "anything":
        return draw(JSON)
    elif how == "none":
        return None
    elif how == "arguments":  # more than one argument: a tuple is sent as several
        return (d, draw(JSON))
    return d


# ---------------------------------------------------------------- the harness


def shown(value: Any, limit: int = 400) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def ack_outcome(ack: Any) -> str:
    """'ok' or the refusal's code; fails unless the ack has the documented shape."""
    assert isinstance(ack, dict), ack
    if ack.get("ok") is True:
        return "ok"
    assert ack.get("ok") is False and set(ack) == {"ok", "error"}, ack
    error = ack["error"]
    assert isinstance(error, dict) and {"code", "message"} <= set(error) <= {
        "code", "message", "retry_after"}, ack
    assert isinstance(error["message"], str), ack
    assert error["code"] in CODES, ack
    assert error["code"] != ErrorCode.INTERNAL, f"internal error: {ack}"
    return str(error["code"])


@dataclass
class World:
    """A broker with an active call, the counsellor's other sessions and a supervisor;
    what the fuzzer's events legitimately ended, and what was sent and answered."""

    broker: Broker
    loop: asyncio.AbstractEventLoop
    staff: str
    counsellor: Peer
    supervisor: Peer
    customer: Peer
    ids: Ids
    ended: dict[str, str] = field(default_factory=dict)  # session -> end reason
    outcomes: Counter[str] = field(default_factory=Counter)
    by_event: Counter[tuple[str, bool]] = field(default_factory=Counter)  # (event, accepted)
    sent: int = 0

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 15) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def state(self, sid: str) -> State | None:
        try:
            return (await self.broker.service.get(SessionId(sid))).state
        except Exception:
            return None

    def call(self, peer: Peer, event: str, payload: Any) -> str:
        async def call() -> Any:
            return await peer.sio.call(event, payload, namespace=peer.namespace, timeout=3)

        try:
            ack = self.run(call())
        except Exception as exc:  # no ack at all: a dropped or stuck connection
            raise AssertionError(f"{peer.namespace} {event!r}: no ack ({exc!r}) for "
                                 f"{shown(payload)}") from exc
        return ack_outcome(ack)

    def send(self, peer: Peer, event: str, payload: Any) -> str:
        """One fuzzed event; its outcome is counted."""
        assume(packet_size(payload) < MAX_PACKET)
        self.sent += 1
        outcome = self.call(peer, event, payload)
        self.outcomes[outcome] += 1
        self.by_event[(event if event in HANDLERS[peer.namespace] else "(other)",
                       outcome == "ok")] += 1
        return outcome

    def alive(self, peer: Peer) -> None:
        """The socket is connected and still answers."""
        assert peer.sio.connected and peer.namespace in peer.sio.namespaces, peer.namespace
        assert self.call(peer, "sync", None) == "ok", peer.namespace

    # ------------------------------------------------------------ sessions

    async def _new_call(self) -> tuple[Peer, str]:
        created = await self.broker.create_session(self.staff)
        customer = await self.broker.customer(created["customer_token"])
        ack = await customer.call("join", {"name": "Ayşe", "language": "tr"})
        assert ack["ok"], ack
        ack = await self.counsellor.call("admit", {"session": created["session"]})
        assert ack["ok"], ack
        return customer, str(created["session"])

    def new_call(self) -> None:
        old = self.customer
        self.customer, self.ids.active = self.run(self._new_call())
        self.run(old.close())

    def new_scheduled(self) -> None:
        created = self.run(self.broker.create_session(self.staff))
        self.ids.scheduled = created["session"]

    def after(self, namespace: str, event: str, payload: Any, outcome: str) -> None:
        """Account for what a valid event may change; check that nothing else changed."""
        sid = payload.get("session") if isinstance(payload, dict) else None
        if outcome == "ok" and namespace == "/staff" and event == "end":
            assert sid == self.ids.active
            self.ended[sid] = payload.get("outcome", "completed")
        elif outcome == "ok" and namespace == "/customer" and event == "leave":
            self.ended[self.ids.active] = "customer_left"
        elif outcome == "ok" and namespace == "/staff" and event == "cancel":
            assert sid == self.ids.scheduled, "only a scheduled session can be cancelled"
            self.ended[sid] = "cancelled"
        elif outcome == "ok" and namespace == "/staff" and event == "phone_connected" \
                and sid == self.ids.scheduled:
            # reached by phone first: the scheduled session became a call; end it to go on
            assert self.run(self.state(sid)) is State.ACTIVE
            self.run(self.broker.service.apply(SessionId(sid), End()))
            self.ended[sid] = "completed"
        if self.ids.active in self.ended:
            self.check_closed(self.ids.active)
            self.new_call()
        if self.ids.scheduled in self.ended:
            self.check_closed(self.ids.scheduled)
            self.new_scheduled()
        self.check_live()

    def check_closed(self, sid: str) -> None:
        record = self.run(self.broker.service.contacts.contact(sid))
        assert record is not None, f"session {sid} ended without a contact record"
        assert record["end_reason"] == self.ended[sid], record

    def check_live(self) -> None:
        async def states() -> tuple[Any, ...]:
            service = self.broker.service
            active = await service.get(SessionId(self.ids.active))
            return (active.state, active.customer.connected, active.staff.connected,
                    await self.state(self.ids.scheduled), await self.state(self.ids.foreign))

        active, customer_here, staff_here, scheduled, foreign = self.run(states())
        assert active is State.ACTIVE, active
        assert customer_here and staff_here, "a party of the call is marked gone"
        assert scheduled is State.SCHEDULED, scheduled
        assert foreign is State.SCHEDULED, foreign

    def check_contact_log(self) -> None:
        rows = self.run(self.broker.service.contacts.contacts(0, 4e9))
        ids = [r["session_id"] for r in rows]
        assert len(ids) == len(set(ids)), "a session was recorded twice"
        assert set(ids) == set(self.ended), "records lost or written for live sessions"
        for r in rows:
            assert r["end_reason"] == self.ended[r["session_id"]], r

    def report(self, title: str) -> None:
        refused = self.sent - self.outcomes["ok"]
        codes = dict(sorted((k, v) for k, v in self.outcomes.items() if k != "ok"))
        print(f"\n{title}: {self.sent} events sent, "
              f"{self.outcomes['ok']} accepted, {refused} refused {codes}; "
              f"{len(self.ended)} sessions legitimately ended")
        events = sorted({e for e, _ in self.by_event})
        print("  " + ", ".join(f"{e} {self.by_event[(e, True)]}/"
                               f"{self.by_event[(e, True)] + self.by_event[(e, False)]}"
                               for e in events) + "  (accepted/sent)")


async def make_world(make_broker: MakeBroker) -> World:
    broker = await make_broker(events_per_second=100_000, event_burst=100_000)
    staff = broker.staff_token()
    counsellor = await broker.counsellor(staff)
    supervisor = await broker.supervisor(broker.staff_token("s1", Role.SUPERVISOR))
    other = await broker.create_session(broker.staff_token("c2"))
    scheduled = await broker.create_session(staff)
    world = World(broker, asyncio.get_running_loop(), staff, counsellor, supervisor,
                  counsellor, Ids("", scheduled["session"], other["session"]))
    world.customer, world.ids.active = await world._new_call()
    return world


def reauth_tokens() -> dict[str, str]:
    return {"same": staff_token(), "other": staff_token("c2"),
            "supervisor": staff_token("s1", Role.SUPERVISOR),
            "admin": staff_token("c1", Role.ADMIN), "expired": staff_token(ttl=-5)}


async def drive(prop: Callable[[], None]) -> None:
    """Run the hypothesis property in a worker thread; the loop keeps serving both ends."""
    await asyncio.to_thread(prop)


# ---------------------------------------------------------------- the properties


def test_every_handler_has_a_payload_strategy() -> None:
    """A new event handler must get a structured strategy here, or this fails."""
    ids = Ids("A" * 22, "B" * 22, "C" * 22)
    assert set(staff_payloads(ids, {})) == HANDLERS["/staff"]
    assert set(customer_payloads()) == HANDLERS["/customer"]
    assert set(supervisor_payloads({})) == HANDLERS["/supervisor"]
    assert set(queue_payloads()) | {"reauth"} == HANDLERS["/queue"]
    assert set(callback_payloads()) | {"reauth"} == HANDLERS["/callback"]


async def test_staff_events(make_broker: MakeBroker) -> None:
    world = await make_world(make_broker)
    tokens = reauth_tokens()

    @fuzz_settings(examples=1000)
    @given(data=st.data())
    def prop(data: st.DataObject) -> None:
        strategies = staff_payloads(world.ids, tokens)
        event = data.draw(st.sampled_from(sorted(strategies)), label="event")
        payload = data.draw(broken(strategies[event]), label="payload")
        outcome = world.send(world.counsellor, event, payload)
        world.after("/staff", event, payload, outcome)
        world.alive(world.counsellor)

    await drive(prop)
    await asyncio.to_thread(world.check_contact_log)
    world.report("/staff")
    assert world.sent > 0


async def test_customer_events(make_broker: MakeBroker) -> None:
    world = await make_world(make_broker)
    strategies = customer_payloads()

    @fuzz_settings(examples=1000)
    @given(data=st.data())
    def prop(data: st.DataObject) -> None:
        event = data.draw(st.sampled_from(sorted(strategies)), label="event")
        payload = data.draw(broken(strategies[event]), label="payload")
        customer = world.customer
        outcome = world.send(customer, event, payload)
        if event == "reauth":  # a staff event: never the customer's
            assert outcome != "ok"
            if not isinstance(payload, tuple):
                assert outcome == ErrorCode.UNKNOWN_EVENT
        world.after("/customer", event, payload, outcome)
        world.alive(world.customer)
        world.alive(world.counsellor)

    await drive(prop)
    await asyncio.to_thread(world.check_contact_log)
    world.report("/customer")
    assert world.sent > 0


async def test_supervisor_events(make_broker: MakeBroker) -> None:
    world = await make_world(make_broker)
    strategies = supervisor_payloads(reauth_tokens())

    @fuzz_settings(examples=200)
    @given(data=st.data())
    def prop(data: st.DataObject) -> None:
        event = data.draw(st.sampled_from(sorted(strategies)), label="event")
        payload = data.draw(broken(strategies[event]), label="payload")
        world.send(world.supervisor, event, payload)
        world.after("/supervisor", event, payload, "n/a")
        world.alive(world.supervisor)

    await drive(prop)
    await asyncio.to_thread(world.check_contact_log)
    world.report("/supervisor")
    assert world.sent > 0


async def test_queue_events(make_broker: MakeBroker) -> None:
    """A drop-in customer's page: whatever it sends, the socket stays, it is answered with
    a known code, and the counsellors' calls and records are untouched."""
    world = await make_world(make_broker)
    status, ticket = await world.broker.http("POST", "/api/dropin/t1",
                                             json={"topic": "benefits"})
    assert status == 201, ticket
    page = await world.broker.peer("/queue", {"token": ticket["token"], "v": 1}).connect()
    strategies = {**queue_payloads(), "reauth": st.fixed_dictionaries({"token": TEXT})}

    @fuzz_settings(examples=200)
    @given(data=st.data())
    def prop(data: st.DataObject) -> None:
        event = data.draw(st.sampled_from(sorted(strategies)), label="event")
        payload = data.draw(broken(strategies[event]), label="payload")
        outcome = world.send(page, event, payload)
        if event == "reauth":  # a staff event: never the page's
            assert outcome != "ok"
        world.after("/queue", event, payload, outcome)
        world.alive(page)
        world.alive(world.counsellor)

    await drive(prop)
    await asyncio.to_thread(world.check_contact_log)
    world.report("/queue")
    assert world.sent > 0


async def test_callback_page_events(make_broker: MakeBroker) -> None:
    """A callback request's personal page: whatever it sends, the socket stays, it is
    answered with a known code, the request changes only by a valid `withdraw`, and the
    calls and records are untouched."""
    world = await make_world(make_broker)
    status, asked = await world.broker.http("POST", "/api/callbacks", json={
        "team": "t1", "topic": "benefits", "reach": "video", "consent": True})
    assert status == 201, asked
    page = await world.broker.peer("/callback", {"token": asked["token"], "v": 1}).connect()
    strategies = {**callback_payloads(), "reauth": st.fixed_dictionaries({"token": TEXT})}
    withdrawn = False

    @fuzz_settings(examples=150)
    @given(data=st.data())
    def prop(data: st.DataObject) -> None:
        nonlocal withdrawn
        event = data.draw(st.sampled_from(sorted(strategies)), label="event")
        payload = data.draw(broken(strategies[event]), label="payload")
        outcome = world.send(page, event, payload)
        if event == "reauth":  # a staff event: never the page's
            assert outcome != "ok"
        withdrawn |= event == "withdraw" and outcome == "ok"
        r = world.run(world.broker.service.contacts.callback(asked["callback"]))
        assert r is not None
        assert str(r.state) == ("cancelled" if withdrawn else "open")
        world.after("/callback", event, payload, outcome)
        world.alive(page)
        world.alive(world.counsellor)

    await drive(prop)
    await asyncio.to_thread(world.check_contact_log)
    world.report("/callback")
    assert world.sent > 0


EVENT_NAMES = st.one_of(
    st.sampled_from(["connect", "disconnect", "connect_error", "message", "error", "welcome",
                     "handle_sync", "__init__", "__class__", "trigger_event", "on_connect",
                     "_refuse", "emit", "sync ", "SYNC", "sync\x00", "reauth\u202e", "é",
                     "x" * 65, "sync" * 17, "", " ", "0", "None"]),
    st.text(max_size=80),
)


async def test_unknown_events(make_broker: MakeBroker) -> None:
    """Any other event name, on any namespace, is `unknown_event` and changes nothing."""
    world = await make_world(make_broker)

    @fuzz_settings(examples=300)
    @given(namespace=st.sampled_from(["/customer", "/staff", "/supervisor"]), name=EVENT_NAMES,
           payload=st.one_of(st.none(), JSON))
    def prop(namespace: str, name: str, payload: Any) -> None:
        known = HANDLERS[namespace] - ({"reauth"} if namespace == "/customer" else set())
        assume(name not in known)
        peer = {"/staff": world.counsellor, "/customer": world.customer,
                "/supervisor": world.supervisor}[namespace]
        assert world.send(peer, name, payload) == ErrorCode.UNKNOWN_EVENT, name
        world.check_live()
        world.alive(peer)

    await drive(prop)
    await asyncio.to_thread(world.check_contact_log)
    world.report("unknown events")
    assert world.sent > 0


async def test_an_unparseable_packet_is_dropped_and_the_socket_stays(
    make_broker: MakeBroker,
) -> None:
    """What the transport does below our dispatcher: python-engineio's JSON refuses integers
    of more than 100 digits, so such an event is dropped unanswered (no ack, no `error`);
    the connection, the call and the next event are unaffected."""
    world = await make_world(make_broker)
    payload = {"session": world.ids.active, "state": "connected", "stats": {"rtt": 10**100}}
    with pytest.raises(socketio.exceptions.TimeoutError):
        await world.counsellor.sio.call("media_state", payload, namespace="/staff",
                                        timeout=0.5)
    assert world.counsellor.sio.connected
    ack = await world.counsellor.call("sync")
    states = {s["session"]: s["state"] for s in ack["sessions"]}
    assert ack["ok"] and states[world.ids.active] == "active", ack


@pytest.mark.parametrize("namespace", ["/staff", "/supervisor"])
async def test_reauth_with_a_token_that_is_not_utf8_is_refused(
    make_broker: MakeBroker, namespace: str
) -> None:
    world = await make_world(make_broker)
    payload = {"token": "\ud800"}
    peer = world.counsellor if namespace == "/staff" else world.supervisor
    assert ack_outcome(await peer.call("reauth", payload)) == ErrorCode.UNAUTHENTICATED


@pytest.mark.parametrize("namespace", ["/staff", "/supervisor", "/customer"])
async def test_connect_with_a_token_that_is_not_utf8_is_refused(
    broker: Broker, namespace: str
) -> None:
    peer = broker.peer(namespace, {"token": "\udfff"})
    with pytest.raises(socketio.exceptions.ConnectionError):
        await peer.sio.connect(broker.url, namespaces=[namespace], auth=peer.auth,
                               transports=["websocket"], wait_timeout=1)
    assert isinstance(peer.refusal, dict), "no connect_error: the connect was never answered"
    assert peer.refusal["data"]["code"] == ErrorCode.UNAUTHENTICATED
