"""Token buckets that pace outgoing mail: messages per second, and optionally per hour.

A bucket holds up to ``capacity`` tokens and gains ``rate`` tokens a second; each message takes one. Callers
*reserve* a token and are told how long to wait for it, so concurrent senders are spaced out fairly without a
lock (the balance may go negative: that is the queue of reservations).

The hourly bucket's state can be saved and restored (:meth:`RateLimiter.snapshot`, :meth:`RateLimiter.restore`)
so an hourly budget holds across separate sends and restarts, not only inside one process.
"""

from __future__ import annotations

import asyncio
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
