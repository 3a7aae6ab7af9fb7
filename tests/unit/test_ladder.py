"""The channel ladder: which channel to propose, and who may step where."""

from __future__ import annotations

import pytest

from broker import ladder
from broker.events import Capabilities
from broker.types import Channel, Role

FULL = Capabilities()
NO_CAMERA = Capabilities(camera=False)
NO_MIC = Capabilities(microphone=False)
NO_WEBRTC = Capabilities(webrtc=False)
NOTHING = Capabilities(webrtc=False, camera=False, microphone=False)
CAMERA_ONLY = Capabilities(webrtc=True, camera=True, microphone=False)


@pytest.mark.parametrize(
    ("caps", "best"),
    [
        (FULL, Channel.VIDEO),
        (NO_CAMERA, Channel.AUDIO),
        (NO_MIC, Channel.PHONE),
        (CAMERA_ONLY, Channel.PHONE),
        (NO_WEBRTC, Channel.PHONE),
        (Capabilities(webrtc=False, camera=True, microphone=True), Channel.PHONE),
        (NOTHING, Channel.PHONE),
    ],
)
def test_best_channel_of_one_device(caps: Capabilities, best: Channel) -> None:
    """Video needs WebRTC, mic and camera; audio WebRTC and mic; otherwise phone."""
    assert ladder.best_channel(caps) is best


@pytest.mark.parametrize(
    ("planned", "counsellor", "customer", "proposed"),
    [
        (Channel.VIDEO, FULL, FULL, Channel.VIDEO),
        (Channel.VIDEO, FULL, NO_CAMERA, Channel.AUDIO),
        (Channel.VIDEO, NO_CAMERA, FULL, Channel.AUDIO),
        (Channel.VIDEO, FULL, NO_MIC, Channel.PHONE),
        (Channel.VIDEO, FULL, NO_WEBRTC, Channel.PHONE),
        (Channel.VIDEO, NO_WEBRTC, FULL, Channel.PHONE),
        (Channel.AUDIO, FULL, FULL, Channel.AUDIO),
        (Channel.AUDIO, FULL, NO_WEBRTC, Channel.PHONE),
        (Channel.PHONE, FULL, FULL, Channel.PHONE),
    ],
)
def test_propose_is_the_poorest_of_plan_and_devices(
    planned: Channel, counsellor: Capabilities, customer: Capabilities, proposed: Channel
) -> None:
    """The proposal never exceeds the plan or either device."""
    assert ladder.propose(planned, counsellor, customer) is proposed


DOWN = [
    (Channel.VIDEO, Channel.AUDIO),
    (Channel.VIDEO, Channel.PHONE),
    (Channel.AUDIO, Channel.PHONE),
]
UP = [(to, start) for start, to in DOWN]


@pytest.mark.parametrize(("current", "to"), DOWN, ids=str)
@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.COUNSELLOR], ids=str)
def test_anyone_may_step_down_whatever_the_devices(
    role: Role, current: Channel, to: Channel
) -> None:
    """Stepping down is always allowed, even for devices that could do less."""
    assert ladder.may_switch(role, current, to, NOTHING, NOTHING) is None


@pytest.mark.parametrize("channel", list(Channel), ids=str)
def test_staying_put_is_allowed(channel: Channel) -> None:
    """Switching to the current channel is never refused by the ladder."""
    assert ladder.may_switch(Role.CUSTOMER, channel, channel, NOTHING, NOTHING) is None


@pytest.mark.parametrize(("current", "to"), UP, ids=str)
def test_customer_may_not_step_up(current: Channel, to: Channel) -> None:
    """Only the counsellor steps back up, even when both devices could."""
    reason = ladder.may_switch(Role.CUSTOMER, current, to, FULL, FULL)
    assert reason is not None
    assert "counsellor" in reason


@pytest.mark.parametrize(("current", "to"), UP, ids=str)
def test_counsellor_may_step_up_when_both_devices_carry_it(current: Channel, to: Channel) -> None:
    """With full devices on both sides, the counsellor may climb back to any channel."""
    assert ladder.may_switch(Role.COUNSELLOR, current, to, FULL, FULL) is None


@pytest.mark.parametrize(
    ("current", "to", "counsellor", "customer", "who"),
    [
        (Channel.AUDIO, Channel.VIDEO, FULL, NO_CAMERA, "customer"),
        (Channel.AUDIO, Channel.VIDEO, NO_CAMERA, FULL, "counsellor"),
        (Channel.PHONE, Channel.AUDIO, FULL, NO_WEBRTC, "customer"),
        (Channel.PHONE, Channel.AUDIO, NO_MIC, FULL, "counsellor"),
        (Channel.PHONE, Channel.VIDEO, FULL, NO_CAMERA, "customer"),
    ],
)
def test_counsellor_step_up_refused_naming_the_device(
    current: Channel, to: Channel, counsellor: Capabilities, customer: Capabilities, who: str
) -> None:
    """A step up past one device's abilities is refused with a reason naming whose device."""
    reason = ladder.may_switch(Role.COUNSELLOR, current, to, counsellor, customer)
    assert reason is not None
    assert f"the {who}'s device" in reason
    assert str(to) in reason


def test_counsellor_may_step_up_to_what_the_weaker_device_carries() -> None:
    """Phone → audio is fine with a customer who has no camera."""
    assert ladder.may_switch(Role.COUNSELLOR, Channel.PHONE, Channel.AUDIO, FULL, NO_CAMERA) is None


def test_channel_order_and_webrtc() -> None:
    """Channels rank video < audio < phone, and only phone runs without WebRTC."""
    assert [c.rank for c in (Channel.VIDEO, Channel.AUDIO, Channel.PHONE)] == [0, 1, 2]
    assert [c.webrtc for c in Channel] == [True, True, False]
