"""Fixtures for the security tests: a local identity provider, and a broker trusting it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import Broker, MakeBroker
from tests.security.idp import LocalIdp, start_idp


@pytest.fixture
async def idp() -> AsyncIterator[LocalIdp]:
    provider = await start_idp()
    yield provider
    await provider.server.close()


@pytest.fixture
async def oidc_broker(make_broker: MakeBroker, idp: LocalIdp) -> Broker:
    return await make_broker(**idp.settings())
