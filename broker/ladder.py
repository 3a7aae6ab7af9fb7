"""The channel ladder: which channel to propose, and who may step where.

Video needs a camera on both sides, audio needs WebRTC and a microphone on both sides,
the phone always works. Either side may step down; only the counsellor steps back up.
"""

from __future__ import annotations

from broker.events import Capabilities
from broker.types import Channel, Role


def best_channel(caps: Capabilities) -> Channel:
    """The richest channel one party's device can carry."""
    if not (caps.webrtc and caps.microphone):
        return Channel.PHONE
    return Channel.VIDEO if caps.camera else Channel.AUDIO


def propose(planned: Channel, counsellor: Capabilities, customer: Capabilities) -> Channel:
    """The poorest of: what was planned, what each side can carry."""
    return max(planned, best_channel(counsellor), best_channel(customer), key=lambda c: c.rank)


def may_switch(
    role: Role,
    current: Channel,
    to: Channel,
    counsellor: Capabilities,
    customer: Capabilities,
) -> str | None:
    """None when allowed, otherwise the reason it is not (for the error message)."""
    if to.rank < current.rank:
        if role is not Role.COUNSELLOR:
            return "only the counsellor can step the channel back up"
        for who, caps in (("counsellor", counsellor), ("customer", customer)):
            if best_channel(caps).rank > to.rank:
                return f"the {who}'s device cannot carry {to}"
    return None
