"""WebSub publishing: tell each configured hub that a feed changed (``hub.mode=publish``).

The hub then fetches the feed and pushes it to its subscribers. Pings go out in the background, one POST per
hub and feed URL, retried with exponential backoff on network errors and 5xx/429 answers; a failure is
logged, never fatal, and never holds up a build.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Self
from urllib.parse import quote

import aiohttp

from publisher.feeds.formats import FEED_SUFFIXES

logger = logging.getLogger(__name__)


def topic_url(base_url: str, rel: str) -> str:
    """The public URL of an output file: what hubs are told and what the feed's rel=self names."""
    return (base_url if base_url.endswith("/") else base_url + "/") + quote(rel.lstrip("/"), safe="/")


@dataclass(frozen=True)
class Retry:
    attempts: int = 5
    first_delay: float = 2.0
    factor: float = 3.0
    timeout: float = 15.0


@dataclass
class PingStats:
    sent: int = 0
    failed: int = 0


class WebSubPublisher:
    """Pings hubs from the event loop; :meth:`publish` returns at once."""

    def __init__(self, hubs: Iterable[str] = (), *, retry: Retry | None = None) -> None:
        self.hubs = tuple(hubs)
        self.retry = retry or Retry()
        self.stats = PingStats()
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def publish(self, feed_urls: Iterable[str]) -> int:
        """Start one background ping per (hub, feed URL); returns how many were started."""
        urls = sorted({u for u in feed_urls if u.endswith(FEED_SUFFIXES)})
        started = 0
        for hub in self.hubs:
            for url in urls:
                task = asyncio.create_task(self._ping(hub, url), name=f"websub {url}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                started += 1
        return started

    async def _ping(self, hub: str, url: str) -> None:
        delay = self.retry.first_delay
        for attempt in range(1, self.retry.attempts + 1):
            try:
                status, text = await self._post(hub, url)
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            else:
                if 200 <= status < 300:
                    self.stats.sent += 1
                    logger.info("websub: %s told of %s", hub, url)
                    return
                reason = f"HTTP {status} {text[:200]!r}"
                if 400 <= status < 500 and status not in (408, 429):
                    # The hub refused the request itself; asking again will not change its mind.
                    break
            if attempt < self.retry.attempts:
                logger.warning("websub: %s for %s failed (%s); retry %d in %.0fs", hub, url, reason, attempt, delay)
                await asyncio.sleep(delay)
                delay *= self.retry.factor
        self.stats.failed += 1
        logger.error("websub: giving up telling %s of %s: %s", hub, url, reason)

    async def _post(self, hub: str, url: str) -> tuple[int, str]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.retry.timeout))
        async with self._session.post(hub, data={"hub.mode": "publish", "hub.url": url}) as resp:
            return resp.status, await resp.text(errors="replace")

    async def wait(self, timeout: float | None = None) -> None:
        """Wait for the pings under way (tests, and a graceful stop)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Cancel the pings under way and close the HTTP session."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
