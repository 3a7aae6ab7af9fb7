"""Fixtures for the gateway's tests: a gateway on loopback, its in-process broker side,
short prompts, and the real telephones (SIPp, baresip) as processes.

A missing SIPp or baresip fails the test that needs it (never a skip): `./dev test`
installs both.
"""

from __future__ import annotations

import asyncio
import random
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aioice.ice
import pytest

from gateway.app import Gateway, GatewayConfig
from gateway.call import CallTimers
from gateway.guard import SipLimits
from gateway.ivr import LANGUAGES, IvrConfig, Prompt
from gateway.media import MediaConfig
from gateway.sip import SipConfig
from tests.gateway.audio import tone, write_wav
from tests.gateway.counsellor import FakeAdmitter

HOTLINE = "4930555000"


def prompt_freq(language: str, prompt: Prompt) -> float:
    """Test prompts are tones: which prompt played (and in which language) can be heard."""
    return 400.0 + 100.0 * list(Prompt).index(prompt) + (50.0 if language == "en" else 0.0)


@pytest.fixture(autouse=True)
def loopback_ice(monkeypatch: pytest.MonkeyPatch) -> None:
    """aioice leaves 127.0.0.1 out of host candidates; here it is the only address."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses",
                        lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else [])


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed (./dev test installs it)")
    return path


@pytest.fixture(scope="session")
def short_prompts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """0.5 s tones instead of speech, one frequency per prompt and language."""
    directory = tmp_path_factory.mktemp("prompts")
    for language in LANGUAGES:
        for prompt in Prompt:
            write_wav(directory / f"{language}_{prompt}.wav",
                      tone(prompt_freq(language, prompt), 0.5))
    return directory


def gateway_config(prompt_dir: Path, limits: SipLimits | None = None,
                   **overrides: Any) -> GatewayConfig:
    base = random.randrange(30000, 60000, 2)
    config = GatewayConfig(
        sip=SipConfig(host="127.0.0.1", udp_port=0, tcp_port=0, numbers=(HOTLINE,),
                      limits=limits or SipLimits(trunks=("127.0.0.1/32",),
                                                 report_interval=0.0)),
        media=MediaConfig(bind_host="127.0.0.1", rtp_timeout=3.0),
        ivr=IvrConfig(first_digit_timeout=3.0, inter_digit_timeout=2.0),
        timers=CallTimers(ack_wait=1.0, admit_timeout=3.0, connect_timeout=5.0),
        rtp_ports=(base, base + 400),
        prompt_dir=prompt_dir,
    )
    for name, value in overrides.items():
        config = replace(config, **{name: value})
    return config


MakeGateway = Callable[..., Awaitable[Gateway]]


@pytest.fixture
def admitter() -> FakeAdmitter:
    return FakeAdmitter()


@pytest.fixture
async def make_gateway(short_prompts: Path, admitter: FakeAdmitter
                       ) -> AsyncIterator[MakeGateway]:
    started: list[Gateway] = []

    async def make(prompt_dir: Path | None = None, limits: SipLimits | None = None,
                   **overrides: Any) -> Gateway:
        config = gateway_config(prompt_dir or short_prompts, limits, **overrides)
        gateway = Gateway(config, admitter)
        await gateway.start()
        started.append(gateway)
        return gateway

    yield make
    for gateway in started:
        await gateway.stop()
    await admitter.close()


@pytest.fixture
async def gateway(make_gateway: MakeGateway) -> Gateway:
    return await make_gateway()


async def eventually(check: Callable[[], bool], timeout: float = 5.0,
                     what: str = "condition") -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)
