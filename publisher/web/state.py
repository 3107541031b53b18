"""What the web handlers share with the daemon: the config, a store thread, counters, rate limits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import jinja2
from aiohttp import web

from publisher.config import Config, bundled_templates
from publisher.delivery.ratelimit import PerKeyLimiter
from publisher.feeds.websub import PingStats
from publisher.mail import subscribers
from publisher.store import Store

T = TypeVar("T")

TEMPLATES = bundled_templates()

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",  # the URLs carry tokens
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class StoreWorker:
    """A :class:`Store` used from one thread of its own; ``await run(fn)`` calls ``fn(store)`` there."""

    def __init__(self, path: Path, name: str = "store") -> None:
        self.path = Path(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._store: Store | None = None

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._store is None:
            self._store = Store(self.path)
        return fn(self._store, *args)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, fn, *args)

    async def get_meta(self, key: str) -> str | None:
        return await self.run(Store.get_meta, key)

    async def set_meta(self, key: str, value: str) -> None:
        await self.run(Store.set_meta, key, value)

    def close(self) -> None:
        def _close() -> None:
            if self._store is not None:
                self._store.close()
                self._store = None

        self._executor.submit(_close)
        self._executor.shutdown(wait=True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Waits for the calls already submitted, then closes the store in its own thread.
        await asyncio.to_thread(self.close)


@dataclass
class Stats:
    """What the daemon did since it started; read by /healthz and /metrics."""

    started: float = field(default_factory=time.time)
    builds: int = 0
    build_failures: int = 0
    feeds_written: int = 0
    skipped_files: int = 0  # content files skipped (bad input) by builds of this process
    last_scan: float | None = None
    last_digest: float | None = None
    digests_queued: int = 0
    job_failures: int = 0
    websub: PingStats = field(default_factory=PingStats)  # the WebSub publisher counts into this
    ready: bool = False


@dataclass
class WebState:
    config: Config
    db: StoreWorker
    stats: Stats
    secret: bytes
    # Called after a confirmation email is queued, so it leaves now rather than at the next retry tick.
    kick_drain: Callable[[], None] = lambda: None
    # The subscription's side effects (a pending subscriber + a confirmation email), on the store thread.
    enqueue_confirmation: Callable[[Config, Store, subscribers.Subscriber], Any] | None = None
    client_limit: PerKeyLimiter = field(init=False)
    address_limit: PerKeyLimiter = field(init=False)
    pages: Pages = field(init=False)

    def __post_init__(self) -> None:
        self.client_limit = PerKeyLimiter(self.config.subscriptions.per_client_per_hour)
        self.address_limit = PerKeyLimiter(self.config.subscriptions.per_address_per_hour)
        self.pages = Pages(self.config)

    def reconfigure(self, config: Config, secret: bytes) -> None:
        """A reloaded config: new limits, templates, hubs and URLs from the next request on."""
        self.config = config
        self.secret = secret
        self.pages = Pages(config)
        self.client_limit.per_hour = config.subscriptions.per_client_per_hour
        self.address_limit.per_hour = config.subscriptions.per_address_per_hour


STATE = web.AppKey("state", WebState)


class Pages:
    """The HTML templates: ``paths.templates/web/*.html`` overriding the bundled ``templates/web/*.html``."""

    def __init__(self, config: Config) -> None:
        self.config = config
        folders = [str(config.paths.templates)] if config.paths.templates else []
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([*folders, str(TEMPLATES)]),
            autoescape=True,
            undefined=jinja2.ChainableUndefined,
            auto_reload=False,
        )

    def render(self, template: str, *, status: int = 200, **context: Any) -> web.Response:
        config = self.config
        context.setdefault("page_title", config.site.title)
        text = self.env.get_template(f"web/{template}.html").render(
            site_title=config.site.title,
            language=config.site.language,
            subscribe_url=config.public_url + "subscribe",
            **context,
        )
        return web.Response(text=text, status=status, content_type="text/html", charset="utf-8", headers=PAGE_HEADERS)
