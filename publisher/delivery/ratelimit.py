"""The one token bucket, and what is built on it: the pace of outgoing mail (messages per second, and optionally
per hour) and the web's per-client and per-address limits on POST /subscribe.

A bucket holds up to ``capacity`` tokens and gains ``rate`` tokens a second; each message takes one. Callers
*reserve* a token and are told how long to wait for it, so concurrent senders are spaced out fairly without a
lock (the balance may go negative: that is the queue of reservations).

The hourly bucket's state can be saved and restored (:meth:`RateLimiter.snapshot`, :meth:`RateLimiter.restore`)
so an hourly budget holds across separate sends and restarts, not only inside one process.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class TokenBucket:
    """``rate`` tokens per second, at most ``capacity`` saved up; starts full."""

    def __init__(self, rate: float, capacity: float, *, clock: Clock = time.time) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("a token bucket needs a positive rate and a capacity of at least 1")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._at = clock()

    def _refill(self) -> None:
        now = self._clock()
        # A clock stepped backwards must not drain the bucket.
        elapsed = max(0.0, now - self._at)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        self._at = now

    def reserve(self) -> float:
        """Take one token; return the seconds to wait before using it (0 when one was there)."""
        self._refill()
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def take(self) -> bool:
        """Take one token if there is one now; False (and nothing taken) when there is none."""
        self._refill()
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def wait_for_one(self) -> float:
        """Seconds until a token will be there (0 when there is one now)."""
        self._refill()
        return max(0.0, (1 - self._tokens) / self.rate)

    @property
    def full(self) -> bool:
        self._refill()
        return self._tokens >= self.capacity

    def set_rate(self, rate: float, capacity: float) -> None:
        """New limits from now on, keeping the tokens saved (at most the new capacity)."""
        self._refill()
        self.rate = rate
        self.capacity = capacity
        self._tokens = min(capacity, self._tokens)

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens

    def set_tokens(self, tokens: float, at: float) -> None:
        self._tokens = min(self.capacity, tokens)
        self._at = at
        self._refill()


@dataclass(frozen=True)
class BucketState:
    tokens: float
    at: float  # clock time of ``tokens``


class RateLimiter:
    """Both limits at once: a message may go when both buckets allow it.

    ``per_second`` 0 means no per-second limit; its burst is one second's worth. ``per_hour`` 0 means no hourly
    limit; its burst is one minute's worth, so any hour carries at most about ``per_hour * 61 / 60`` messages
    (a bucket that started full with a whole hour could let twice the budget through in an hour).
    """

    def __init__(
        self, per_second: float = 0.0, per_hour: int = 0, *, clock: Clock = time.time, sleep: Sleep = asyncio.sleep
    ) -> None:
        self._sleep = sleep
        self.second = TokenBucket(per_second, max(1.0, per_second), clock=clock) if per_second > 0 else None
        self.hour = TokenBucket(per_hour / 3600.0, max(1.0, per_hour / 60.0), clock=clock) if per_hour > 0 else None

    @property
    def unlimited(self) -> bool:
        return self.second is None and self.hour is None

    def reserve(self) -> float:
        """Take a slot in both buckets; return the seconds to wait before sending."""
        waits = [b.reserve() for b in (self.second, self.hour) if b is not None]
        return max(waits, default=0.0)

    async def acquire(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await self._sleep(delay)

    def snapshot(self) -> BucketState | None:
        """The hourly bucket's state, to be saved between sends (None without an hourly limit)."""
        if self.hour is None:
            return None
        return BucketState(tokens=self.hour.tokens, at=self.hour._at)

    def restore(self, state: BucketState) -> None:
        if self.hour is not None:
            self.hour.set_tokens(state.tokens, state.at)


class PerKeyLimiter:
    """One bucket per key (a client address, a subscriber address): ``per_hour`` requests in a burst, refilled
    evenly over the hour; 0 = no limit. A request that finds no token is refused, not queued."""

    MAX_KEYS = 50_000

    def __init__(self, per_hour: int, clock: Clock = time.monotonic) -> None:
        self._per_hour = per_hour
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    @property
    def per_hour(self) -> int:
        return self._per_hour

    @per_hour.setter
    def per_hour(self, per_hour: int) -> None:
        """A reloaded config: the new limit applies to the buckets already there."""
        self._per_hour = per_hour
        if per_hour <= 0:
            self._buckets.clear()
            return
        for bucket in self._buckets.values():
            bucket.set_rate(per_hour / 3600.0, float(per_hour))

    def allow(self, key: str) -> bool:
        if self._per_hour <= 0:
            return True
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self._per_hour / 3600.0, float(self._per_hour), clock=self.clock)
            if len(self._buckets) > self.MAX_KEYS:
                self._prune()
        return bucket.take()

    def retry_after(self, key: str) -> int:
        """Whole seconds until ``key`` may try again (at least 1; 0 without a limit)."""
        if self._per_hour <= 0:
            return 0
        bucket = self._buckets.get(key)
        return max(1, math.ceil(bucket.wait_for_one())) if bucket is not None else 1

    def _prune(self) -> None:
        # A bucket that has refilled is the same as no bucket.
        for key in [k for k, b in self._buckets.items() if b.full]:
            del self._buckets[key]
