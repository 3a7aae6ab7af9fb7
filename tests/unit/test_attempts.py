"""The access-code guard, driven by a hand-moved clock: per-address rate and lock-out, the
global ceiling on wrong codes, the per-code redemption ceiling, bounded memory.

Addresses here are plain labels; in the service they are keyed hashes of the address.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from broker.attempts import AttemptGuard, AttemptPolicy
from broker.errors import ErrorCode, RateLimited

T0 = 4_000_000_000.0
DEFAULT = AttemptPolicy()


def passes(guard: AttemptGuard, address: str, now: float) -> bool:
    try:
        guard.before_attempt(address, now)
    except RateLimited:
        return False
    return True


def limited(call: Callable[[], object]) -> RateLimited:
    with pytest.raises(RateLimited) as info:
        call()
    assert info.value.code is ErrorCode.RATE_LIMITED
    return info.value


def wrong_code(guard: AttemptGuard, address: str, now: float) -> None:
    """One attempt with a wrong code, as the API makes it."""
    guard.before_attempt(address, now)
    guard.failed(address, now)


# ---------------------------------------------------------------- per-address rate


def test_rate_allows_a_burst_then_refuses() -> None:
    """N attempts a minute pass at once; the next is refused with a wait of at least 1 s."""
    guard = AttemptGuard(DEFAULT)
    n = DEFAULT.per_address_per_minute
    for _ in range(n):
        guard.before_attempt("a", T0)
    err = limited(lambda: guard.before_attempt("a", T0))
    assert err.retry_after >= 1
    assert err.retry_after == pytest.approx(60 / n, abs=1)
    assert err.to_dict()["retry_after"] == err.retry_after


def test_rate_refills_over_time() -> None:
    """One attempt comes back every 60/N seconds, a full burst after a minute."""
    guard = AttemptGuard(DEFAULT)
    n = DEFAULT.per_address_per_minute
    for _ in range(n):
        guard.before_attempt("a", T0)
    step = 60.0 / n
    assert not passes(guard, "a", T0 + step * 0.9)
    assert passes(guard, "a", T0 + step)
    assert not passes(guard, "a", T0 + step)
    later = T0 + step + 60.0
    assert sum(passes(guard, "a", later) for _ in range(n + 5)) == n  # capped at N


def test_waiting_retry_after_is_enough_after_a_burst() -> None:
    """A client that waits exactly the advised retry_after is let through."""
    guard = AttemptGuard(DEFAULT)
    now = T0
    for _ in range(DEFAULT.per_address_per_minute):
        guard.before_attempt("a", now)
    for _ in range(50):
        err = limited(lambda: guard.before_attempt("a", now))  # noqa: B023 - called at once
        now += err.retry_after
        guard.before_attempt("a", now)


def test_waiting_retry_after_is_enough_at_any_moment() -> None:
    """Refused at an odd moment, the advised wait still suffices (never rounded down)."""
    guard = AttemptGuard(DEFAULT)
    for _ in range(DEFAULT.per_address_per_minute):
        guard.before_attempt("a", T0)
    now = T0 + 2.6  # 0.43 of an attempt refilled: 3.4 s still to go
    err = limited(lambda: guard.before_attempt("a", now))
    guard.before_attempt("a", now + err.retry_after)


def test_hammering_while_limited_does_not_lengthen_the_wait() -> None:
    """Refused attempts cost nothing: the wait is the same however often a client knocks."""
    guard = AttemptGuard(DEFAULT)
    for _ in range(DEFAULT.per_address_per_minute):
        guard.before_attempt("a", T0)
    for i in range(100):
        assert not passes(guard, "a", T0 + i * 0.05)
    # the refill is summed in small steps at a large clock value: allow float noise (10 ms)
    assert passes(guard, "a", T0 + 60.0 / DEFAULT.per_address_per_minute + 0.01)


def test_rate_is_per_address() -> None:
    """One client using up its attempts does not slow down another."""
    guard = AttemptGuard(DEFAULT)
    for _ in range(DEFAULT.per_address_per_minute):
        guard.before_attempt("a", T0)
    assert not passes(guard, "a", T0)
    assert sum(passes(guard, "b", T0) for _ in range(DEFAULT.per_address_per_minute)) == (
        DEFAULT.per_address_per_minute)


# ---------------------------------------------------------------- lock-out


def fail_n(guard: AttemptGuard, address: str, n: int, start: float, every: float) -> float:
    """n wrong codes from one address, one every `every` seconds; returns the last time."""
    now = start
    for i in range(n):
        now = start + i * every
        wrong_code(guard, address, now)
    return now


def test_lockout_after_repeated_wrong_codes() -> None:
    """The Nth wrong code locks the address out for lockout_seconds; N-1 do not."""
    guard = AttemptGuard(DEFAULT)
    every = 60.0 / DEFAULT.per_address_per_minute  # as fast as the rate allows
    last = fail_n(guard, "a", DEFAULT.lockout_failures - 1, T0, every)
    assert not guard.locked("a", last)
    now = last + every
    wrong_code(guard, "a", now)
    assert guard.locked("a", now)
    err = limited(lambda: guard.before_attempt("a", now + 1))
    assert err.retry_after == pytest.approx(DEFAULT.lockout_seconds - 1, abs=1)
    err = limited(lambda: guard.before_attempt("a", now + 600))
    assert err.retry_after == pytest.approx(DEFAULT.lockout_seconds - 600, abs=1)
    end = now + DEFAULT.lockout_seconds
    assert guard.locked("a", end - 0.001)
    assert not guard.locked("a", end)
    assert passes(guard, "a", end)


def test_lockout_is_not_extended_by_knocking() -> None:
    """Trying during a lock-out does not prolong it."""
    guard = AttemptGuard(DEFAULT)
    every = 60.0 / DEFAULT.per_address_per_minute
    locked_at = fail_n(guard, "a", DEFAULT.lockout_failures, T0, every)
    for i in range(1, 200):
        assert not passes(guard, "a", locked_at + i)
    assert passes(guard, "a", locked_at + DEFAULT.lockout_seconds)


def test_after_a_lockout_the_count_starts_again() -> None:
    """Once the lock-out ends, one more wrong code does not lock the address again."""
    guard = AttemptGuard(DEFAULT)
    every = 60.0 / DEFAULT.per_address_per_minute
    locked_at = fail_n(guard, "a", DEFAULT.lockout_failures, T0, every)
    wrong_code(guard, "a", locked_at + DEFAULT.lockout_seconds)
    assert not guard.locked("a", locked_at + DEFAULT.lockout_seconds)


def test_old_failures_are_forgiven() -> None:
    """Wrong codes older than the lock-out window no longer count towards a lock-out."""
    guard = AttemptGuard(DEFAULT)
    every = 60.0 / DEFAULT.per_address_per_minute
    first = T0
    fail_n(guard, "a", DEFAULT.lockout_failures - 1, first, every)
    later = first + DEFAULT.lockout_seconds + 1
    last = fail_n(guard, "a", DEFAULT.lockout_failures - 1, later, every)
    assert not guard.locked("a", last)
    wrong_code(guard, "a", last + every)  # the window restarted at `later`: now N in it
    assert guard.locked("a", last + every)


def test_lockout_leaves_other_addresses_alone() -> None:
    """Someone guessing from one address does not lock out the people next door."""
    guard = AttemptGuard(DEFAULT)
    every = 60.0 / DEFAULT.per_address_per_minute
    now = fail_n(guard, "guesser", DEFAULT.lockout_failures, T0, every)
    assert guard.locked("guesser", now)
    assert not guard.locked("neighbour", now)
    assert passes(guard, "neighbour", now)


def test_successful_attempts_do_not_count_towards_lockout() -> None:
    """A user who enters codes correctly is never locked out, only rate limited."""
    guard = AttemptGuard(DEFAULT)
    now = T0
    for _ in range(DEFAULT.lockout_failures * 3):
        now += 60.0 / DEFAULT.per_address_per_minute
        guard.before_attempt("a", now)  # no failed(): the code was right
    assert not guard.locked("a", now)


# ---------------------------------------------------------------- global ceiling


def test_global_ceiling_stops_a_guesser_with_many_addresses() -> None:
    """1000 addresses together get failures_per_minute wrong codes a minute, no more."""
    guard = AttemptGuard(DEFAULT)
    addresses = [f"addr-{i}" for i in range(1000)]
    allowed = 0
    for address in addresses:
        if passes(guard, address, T0):
            guard.failed(address, T0)
            allowed += 1
    assert allowed == DEFAULT.failures_per_minute
    err = limited(lambda: guard.before_attempt("innocent", T0 + 30))
    assert err.retry_after == pytest.approx(30, abs=1)
    assert not passes(guard, "addr-999", T0 + 59.9)
    assert passes(guard, "addr-999", T0 + 60)  # recovered after a minute


def test_global_ceiling_holds_over_a_sustained_attack() -> None:
    """Guessing at 30 a second from 1000 addresses for 5 minutes: in every minute at most
    failures_per_minute wrong codes are even tried."""
    guard = AttemptGuard(DEFAULT)
    minutes = 5
    tried: list[float] = []
    for i in range(30 * 60 * minutes):
        now, address = T0 + i / 30, f"addr-{i % 1000}"
        if passes(guard, address, now):
            guard.failed(address, now)
            tried.append(now)
    for start in range(0, 60 * minutes - 60, 7):  # sliding one-minute windows
        window = [t for t in tried if T0 + start <= t < T0 + start + 60]
        assert len(window) <= DEFAULT.failures_per_minute
    assert len(tried) <= DEFAULT.failures_per_minute * minutes
    assert len(tried) >= DEFAULT.failures_per_minute * (minutes - 1)  # no longer paused


def test_expected_hits_per_day_below_one() -> None:
    """With the default policy and 1,000 live codes, a guesser with unlimited addresses
    expects fewer than one hit a day (the global ceiling bounds all wrong guesses)."""
    guesses_per_day = DEFAULT.failures_per_minute * 60 * 24
    live_codes, code_space = 1_000, 10**9
    expected_hits = guesses_per_day * live_codes / code_space
    assert expected_hits < 1
    # a single address is locked out after every lockout_failures wrong codes, so it gets
    # at most that many per lock-out period: the lock-out, not the ceiling, binds it
    per_address = DEFAULT.lockout_failures * 86_400 / DEFAULT.lockout_seconds
    assert per_address < guesses_per_day
    assert per_address * live_codes / code_space < 0.01


# ---------------------------------------------------------------- per-code ceiling


def test_a_valid_code_has_a_redemption_ceiling() -> None:
    """A code read out over a shoulder cannot be used again and again."""
    guard = AttemptGuard(DEFAULT)
    for i in range(DEFAULT.uses_per_code):
        guard.redeem("code-1", T0 + i)
    err = limited(lambda: guard.redeem("code-1", T0 + 100))
    assert err.retry_after == pytest.approx(DEFAULT.code_window_seconds - 100, abs=1)
    guard.redeem("code-2", T0 + 100)  # other codes unaffected


def test_redemptions_come_back_as_the_window_slides() -> None:
    """Each use stops counting code_window_seconds after it was made."""
    guard = AttemptGuard(DEFAULT)
    window = DEFAULT.code_window_seconds
    for i in range(DEFAULT.uses_per_code):
        guard.redeem("c", T0 + i)
    limited(lambda: guard.redeem("c", T0 + window - 0.001))
    guard.redeem("c", T0 + window)  # the first use has left the window
    limited(lambda: guard.redeem("c", T0 + window))
    guard.redeem("c", T0 + window + 1)


def test_refused_redemptions_do_not_count() -> None:
    """Trying a used-up code again does not push its ceiling further out."""
    guard = AttemptGuard(DEFAULT)
    for _ in range(DEFAULT.uses_per_code):
        guard.redeem("c", T0)
    for i in range(50):
        limited(lambda: guard.redeem("c", T0 + i))  # noqa: B023 - called at once
    guard.redeem("c", T0 + DEFAULT.code_window_seconds)


# ---------------------------------------------------------------- memory and counters


def test_address_memory_is_bounded_oldest_first() -> None:
    """At most max_keys addresses are remembered; the least recently seen go first."""
    guard = AttemptGuard(AttemptPolicy(max_keys=3, lockout_failures=1))
    wrong_code(guard, "a", T0)
    assert guard.locked("a", T0)
    for name in ("b", "c"):
        guard.before_attempt(name, T0)
    assert not passes(guard, "a", T0 + 1)  # touching "a" keeps it: now the newest
    guard.before_attempt("d", T0 + 1)  # evicts "b", the oldest
    assert guard.locked("a", T0 + 1)
    for i in range(10):
        guard.before_attempt(f"x{i}", T0 + 2)
    assert len(guard._addresses) == 3
    assert not guard.locked("a", T0 + 2)  # evicted at last


def test_code_memory_is_bounded_oldest_first() -> None:
    """At most max_keys codes are remembered; the least recently redeemed go first."""
    guard = AttemptGuard(AttemptPolicy(max_keys=2, uses_per_code=1))
    guard.redeem("c1", T0)
    limited(lambda: guard.redeem("c1", T0))
    guard.redeem("c2", T0)
    guard.redeem("c3", T0)  # evicts c1
    assert len(guard._uses) == 2
    guard.redeem("c1", T0)  # forgotten, so usable again
    limited(lambda: guard.redeem("c3", T0))  # still remembered


def test_memory_stays_bounded_under_many_addresses() -> None:
    """A flood of fresh addresses cannot grow the guard's memory past max_keys."""
    policy = AttemptPolicy(max_keys=100)
    guard = AttemptGuard(policy)
    for i in range(5_000):
        passes(guard, f"a{i}", T0 + i)
        guard.redeem(f"c{i}", T0 + i)
    assert len(guard._addresses) == policy.max_keys
    assert len(guard._uses) == policy.max_keys


def test_refusals_are_counted() -> None:
    """Every refusal, whatever the reason, is counted for the metrics; passes are not."""
    guard = AttemptGuard(AttemptPolicy(lockout_failures=1, uses_per_code=1,
                                       per_address_per_minute=2, failures_per_minute=2))
    guard.before_attempt("rate", T0)
    guard.before_attempt("rate", T0)
    assert guard.refusals == 0
    assert not passes(guard, "rate", T0)  # rate
    wrong_code(guard, "lock", T0)
    assert not passes(guard, "lock", T0 + 1)  # lock-out
    wrong_code(guard, "other", T0 + 1)
    assert not passes(guard, "third", T0 + 2)  # global ceiling: two failures this minute
    guard.redeem("c", T0)
    limited(lambda: guard.redeem("c", T0))  # per code
    assert guard.refusals == 4
