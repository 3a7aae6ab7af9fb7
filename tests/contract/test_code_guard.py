"""The access-code guard keeps the same limits in memory and in Redis, and in Redis it
counts once for every process: two processes do not allow twice the guesses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from broker.attempts import AttemptPolicy, CodeGuard, LocalCodeGuard
from broker.errors import RateLimited
from broker.store.redis_guard import RedisCodeGuard

POLICY = AttemptPolicy()  # 10 a minute, lock-out after 20 wrong for 900 s, 10 uses a code
T0 = 1_800_000_000.0
MakeGuard = Callable[[], CodeGuard]


@pytest.fixture(params=["memory", "redis"])
async def guards(request: pytest.FixtureRequest) -> AsyncIterator[MakeGuard]:
    """Makes guards on one state: in Redis each one is another process."""
    made: list[CodeGuard] = []
    if request.param == "memory":
        local = LocalCodeGuard(POLICY)

        def make() -> CodeGuard:
            return local
    else:
        url = request.getfixturevalue("redis_server").url
        client = aioredis.Redis.from_url(url)
        await client.flushdb()
        await client.aclose()

        def make() -> CodeGuard:
            made.append(RedisCodeGuard(url, POLICY))
            return made[-1]
    yield make
    for guard in made:
        await guard.close()


async def passes(guard: CodeGuard, address: str, now: float) -> bool:
    try:
        await guard.before_attempt(address, now)
    except RateLimited:
        return False
    return True


async def test_ten_attempts_a_minute_per_address(guards: MakeGuard) -> None:
    a, b = guards(), guards()
    for i in range(10):
        assert await passes(a if i % 2 else b, "addr-1", T0 + i * 0.1), i
    with pytest.raises(RateLimited) as refused:
        await a.before_attempt("addr-1", T0 + 1.0)
    assert refused.value.retry_after == 6  # one token refills in 6 s (rounded up)
    assert await passes(b, "addr-2", T0 + 1.0)  # another address is not affected
    assert await passes(b, "addr-1", T0 + 7.1)  # a token came back


async def test_twenty_wrong_codes_lock_the_address_out(guards: MakeGuard) -> None:
    a, b = guards(), guards()
    for i in range(19):
        await (a if i % 2 else b).failed("addr-1", T0 + i)
    assert not await a.locked("addr-1", T0 + 19)
    await b.failed("addr-1", T0 + 19)
    assert await a.locked("addr-1", T0 + 20)
    with pytest.raises(RateLimited, match="wrong codes") as refused:
        await a.before_attempt("addr-1", T0 + 20)
    assert 870 <= refused.value.retry_after <= 900
    assert await passes(b, "addr-1", T0 + 19 + 901)


async def test_a_code_is_redeemed_ten_times_in_ten_minutes(guards: MakeGuard) -> None:
    a, b = guards(), guards()
    for i in range(10):
        await (a if i % 2 else b).redeem("code-1", T0 + i)
    with pytest.raises(RateLimited, match="used too often") as refused:
        await a.redeem("code-1", T0 + 60)
    assert refused.value.retry_after == 540  # the first use leaves the window at T0 + 600
    await b.redeem("code-2", T0 + 60)  # another code is not affected
    await b.redeem("code-1", T0 + 600.5)


async def test_wrong_codes_from_everyone_pause_code_entry(guards: MakeGuard) -> None:
    a, b = guards(), guards()
    for i in range(120):  # 120 addresses, one wrong code each, within a minute
        await (a if i % 2 else b).failed(f"addr-{i}", T0 + i * 0.25)
    with pytest.raises(RateLimited, match="paused"):
        await a.before_attempt("addr-new", T0 + 31)
    assert await passes(b, "addr-new", T0 + 61)  # the first failures left the minute
