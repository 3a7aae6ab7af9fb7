"""Webhook events and signatures (broker/webhooks.py), built from the core with a hand-moved
clock: which steps cause which event, what a payload holds (and never holds), how a
request is signed; and the deliverer's back-off arithmetic."""

from __future__ import annotations

import json
from typing import Any

import pytest

from broker.config import ConfigError, load_settings
from broker.events import (
    Admit,
    Capabilities,
    CustomerJoined,
    Disconnected,
    End,
    Input,
    MediaReported,
    PhoneConnected,
    SwitchChannel,
)
from broker.record import record_of
from broker.session import Policy, Session, clone
from broker.types import Channel, CustomerRef, Role, SessionId, StaffId, TeamId
from broker.webhooks import (
    CHANNEL_CHANGED,
    CREATED,
    ENDED,
    STARTED,
    WebhookEvents,
    event_id,
    sign,
    verify,
)
from web.webhooks import backoff, target

SECRET = "webhook-secret-0123456789"
URLS = ("https://a.example/hook?token=abc", "https://b.example/in")
NAME = "Ayşe Yılmaz"
REF = "BG-12345-K-4711"
CODE = "987654321"


def new_session() -> Session:
    return Session(id=SessionId("sess-wh-1"), team=TeamId("t1"), counsellor=StaffId("c1"),
                   customer_ref=CustomerRef(REF), planned_start=1000.0,
                   planned_channel=Channel.VIDEO, created_at=900.0, access_code=CODE,
                   policy=Policy())


def drive(hooks: WebhookEvents, s: Session, event: Input, now: float) -> list[dict[str, Any]]:
    """Apply one input as the service does; the bodies of the events it causes."""
    before = clone(s)
    s.handle(event, now)
    entries = hooks.step(before, s, event, now)
    return [json.loads(e.body) for e in entries]


def whole_session(hooks: WebhookEvents) -> list[dict[str, Any]]:
    s = new_session()
    out = [json.loads(e.body) for e in hooks.created(s)]
    out += drive(hooks, s, CustomerJoined(Capabilities(), "tr", NAME), 990.0)
    out += drive(hooks, s, Admit(Capabilities()), 1000.0)
    out += drive(hooks, s, MediaReported(Role.CUSTOMER, True), 1003.0)
    out += drive(hooks, s, SwitchChannel(Role.CUSTOMER, Channel.AUDIO), 1060.0)
    out += drive(hooks, s, Disconnected(Role.CUSTOMER), 1070.0)
    out += drive(hooks, s, PhoneConnected(), 1080.0)
    out += drive(hooks, s, End(), 1200.0)
    out += [json.loads(e.body) for e in hooks.ended(record_of(s))]
    return out


def test_a_whole_session_causes_its_events_in_order() -> None:
    """created, started (admission), one channel_changed per switch, ended; nothing for
    joins, media reports or disconnects."""
    events = whole_session(WebhookEvents(URLS[:1]))
    assert [e["type"] for e in events] == [CREATED, STARTED, CHANNEL_CHANGED, CHANNEL_CHANGED,
                                           ENDED]
    created, started, audio, phone, ended = events
    assert {e["session"] for e in events} == {"sess-wh-1"}
    assert created["at"] == 900.0 and created["data"]["planned_channel"] == "video"
    assert started["at"] == 1000.0
    assert started["data"] == {"team": "t1", "counsellor": "c1", "kind": "scheduled",
                               "channel": "video", "planned_channel": "video",
                               "joined_at": 990.0, "admitted_at": 1000.0,
                               "waiting_seconds": 10.0}
    assert audio["data"]["from"] == "video" and audio["data"]["to"] == "audio"
    assert audio["data"]["by"] == "customer" and audio["data"]["fallback_used"] is True
    assert phone["data"]["from"] == "audio" and phone["data"]["to"] == "phone"
    assert phone["data"]["by"] is None  # the phone leg came up without a switch first
    assert ended["at"] == 1200.0
    assert ended["data"]["end_reason"] == "completed" and ended["data"]["state"] == "ended"
    assert ended["data"]["seconds"] == {"video": 57.0, "audio": 20.0, "phone": 120.0}
    assert ended["data"]["channel"] == "phone"


def test_event_ids_are_unique_and_stable() -> None:
    """Built twice, the same ids (what a retry sends); within a session, all different."""
    first = whole_session(WebhookEvents(URLS[:1]))
    again = whole_session(WebhookEvents(URLS[:1]))
    assert [e["id"] for e in first] == [e["id"] for e in again]
    assert len({e["id"] for e in first}) == len(first)
    assert event_id("sess-a", "ended") != event_id("sess-b", "ended")


def test_one_entry_per_url_and_none_without_urls() -> None:
    s = new_session()
    assert WebhookEvents().created(s) == []
    entries = WebhookEvents(URLS).created(s)
    assert [e.url for e in entries] == list(URLS)
    assert len({(e.event_id, e.body) for e in entries}) == 1, "the same event to each"


def test_no_person_in_any_payload() -> None:
    """Name, language, customer reference, access code (the phone PIN) never leave."""
    for event in whole_session(WebhookEvents(URLS[:1])):
        text = json.dumps(event, ensure_ascii=False)
        for secret in (NAME, "Ayşe", REF, CODE, "customer_ref", "name", "pin", "tr"):
            assert f'"{secret}"' not in text and secret not in text.split('"'), (secret, text)


def test_signature_verifies_with_the_secret_only() -> None:
    body = b'{"id":"x","type":"session.created"}'
    header = sign(SECRET, body, 1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    assert verify(SECRET, body, header, now=1_700_000_010)
    assert not verify("another-secret-0123456789", body, header, now=1_700_000_010)
    assert not verify(SECRET, body + b" ", header, now=1_700_000_010), "the body is covered"
    assert not verify(SECRET, body, header, now=1_700_000_000 + 301), "too old: a replay"
    assert not verify(SECRET, body, "v1=" + header.rpartition("=")[2], now=1_700_000_000)
    assert not verify(SECRET, body, "garbage", now=1_700_000_000)


def test_backoff_doubles_to_its_cap_and_targets_hide_paths() -> None:
    assert [backoff(n, 1.0, 600.0) for n in (1, 2, 3, 10, 11, 500)] == [
        1.0, 2.0, 4.0, 512.0, 600.0, 600.0]
    assert target(URLS[0]) == "https://a.example"
    assert target("http://127.0.0.1:8123/x?secret=1") == "http://127.0.0.1:8123"


@pytest.mark.parametrize("key", ["RETRY_BASE_SECONDS", "RETRY_MAX_SECONDS", "GIVE_UP_HOURS",
                                 "TIMEOUT_SECONDS"])
def test_delivery_settings_must_be_positive(key: str) -> None:
    with pytest.raises(ConfigError, match="WEBHOOK_"):
        load_settings({f"CB_WEBHOOK_{key}": "0"})
    fast = load_settings({f"CB_WEBHOOK_{key}": "0.05"})
    assert getattr(fast, f"webhook_{key.lower()}") == 0.05
