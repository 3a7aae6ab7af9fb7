"""Fixtures for tests with real WebRTC peers (aiortc) on loopback only."""

from __future__ import annotations

import aioice.ice
import pytest


@pytest.fixture
def loopback_ice(monkeypatch: pytest.MonkeyPatch) -> None:
    """aioice leaves 127.0.0.1 out of host candidates; in tests it is the only address we use,
    so no packet of a test call ever leaves the machine (and no STUN server is asked:
    every peer here is built with an explicit empty iceServers list)."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses",
                        lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else [])
