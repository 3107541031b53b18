"""Token buckets, driven by a manual clock: no test here waits for real time."""

from __future__ import annotations

import asyncio

import pytest

from publisher.delivery.ratelimit import PerKeyLimiter, RateLimiter, TokenBucket


class Clock:
    """Time that moves only when a sleeper sleeps."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_bucket_allows_its_capacity_then_spaces_by_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(10, 10, clock=clock)
    assert [bucket.reserve() for _ in range(10)] == [0.0] * 10
    assert bucket.reserve() == pytest.approx(0.1)
    assert bucket.reserve() == pytest.approx(0.2)
    clock.now += 1.0
    # The second's refill paid the two reservations back and left 8 tokens.
    assert bucket.tokens == pytest.approx(8.0)


def test_bucket_never_saves_more_than_capacity_nor_drains_on_a_clock_step_back() -> None:
    clock = Clock()
    bucket = TokenBucket(5, 5, clock=clock)
    clock.now += 3600
    assert bucket.tokens == 5
    bucket.reserve()
    clock.now -= 100
    assert bucket.tokens == pytest.approx(4)


async def test_per_second_limit_paces_a_run() -> None:
    clock = Clock()
    limiter = RateLimiter(per_second=50, clock=clock, sleep=clock.sleep)
    start = clock.now
    for _ in range(550):
        await limiter.acquire()
    # 50 go at once (the burst), the other 500 at 50 a second.
    assert clock.now - start == pytest.approx(10.0, rel=0.01)


async def test_concurrent_senders_share_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(per_second=4, clock=clock, sleep=clock.sleep)
    waits = [limiter.reserve() for _ in range(12)]
    assert waits[:4] == [0.0] * 4
    assert waits[4:] == pytest.approx([0.25 * i for i in range(1, 9)])
    await asyncio.gather(*(limiter.acquire() for _ in range(2)))


async def test_hourly_limit_bursts_a_minute_then_keeps_the_hour() -> None:
    clock = Clock()
    limiter = RateLimiter(per_hour=600, clock=clock, sleep=clock.sleep)
    start = clock.now
    for _ in range(610):
        await limiter.acquire()
    # A burst of 10 (one minute's worth), then one every 6 s.
    assert clock.now - start == pytest.approx(3600, rel=0.01)


def test_hourly_state_survives_a_new_limiter() -> None:
    clock = Clock()
    first = RateLimiter(per_second=100, per_hour=60, clock=clock)
    for _ in range(3):
        first.reserve()
    state = first.snapshot()
    assert state is not None and state.tokens == pytest.approx(-2)

    second = RateLimiter(per_second=100, per_hour=60, clock=clock)
    second.restore(state)
    assert second.reserve() == pytest.approx(3 * 60)


def test_zero_means_unlimited() -> None:
    limiter = RateLimiter(0, 0)
    assert limiter.unlimited and limiter.reserve() == 0.0 and limiter.snapshot() is None


def test_per_key_limiter_refills() -> None:
    now = [0.0]
    limiter = PerKeyLimiter(3, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.retry_after("a") == 1200
    assert limiter.allow("b")
    now[0] += 1200  # a third of an hour: one more
    assert limiter.allow("a")
    assert not limiter.allow("a")
    assert PerKeyLimiter(0).allow("x")


def test_per_key_limiter_takes_a_new_limit_for_the_buckets_it_has() -> None:
    now = [0.0]
    limiter = PerKeyLimiter(2, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(3)] == [True, True, False]
    limiter.per_hour = 3600  # a reload raises the limit: one a second from now on
    now[0] += 1
    assert limiter.allow("a") and not limiter.allow("a")
    limiter.per_hour = 0
    assert all(limiter.allow("a") for _ in range(10))
