"""WebSub publish pings against a real hub on loopback that fails the first attempts."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from publisher.feeds.websub import Retry, WebSubPublisher, topic_url


class Hub:
    def __init__(self, failures: int = 0, status: int = 503) -> None:
        self.failures = failures
        self.status = status
        self.posts: list[dict[str, str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.posts.append({k: str(v) for k, v in form.items()})
        if self.failures > 0:
            self.failures -= 1
            return web.Response(status=self.status, text="busy")
        return web.Response(status=204)


async def _serve(hub: Hub) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/", hub.handle)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("/"))
    finally:
        await server.close()


FAST = Retry(attempts=3, first_delay=0.01, factor=2, timeout=5)


@pytest.fixture
async def flaky_hub() -> AsyncIterator[tuple[Hub, str]]:
    hub = Hub(failures=2)
    async for url in _serve(hub):
        yield hub, url


async def test_publish_retries_until_the_hub_accepts(flaky_hub: tuple[Hub, str]) -> None:
    hub, url = flaky_hub
    publisher = WebSubPublisher([url], retry=FAST)
    started = publisher.publish(["https://news.example.org/feed.atom", "https://news.example.org/feeds.opml"])
    assert started == 1  # the OPML list is not a topic
    await publisher.wait(10)
    await publisher.close()
    assert hub.posts == [{"hub.mode": "publish", "hub.url": "https://news.example.org/feed.atom"}] * 3
    assert publisher.stats.sent == 1
    assert publisher.stats.failed == 0


async def test_a_hub_that_never_accepts_is_logged_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    hub = Hub(failures=99)
    async for url in _serve(hub):
        publisher = WebSubPublisher([url], retry=FAST)
        with caplog.at_level(logging.WARNING):
            publisher.publish(["https://news.example.org/feed.rss"])
            await publisher.wait(10)
        await publisher.close()
    assert len(hub.posts) == 3
    assert publisher.stats.failed == 1
    assert "giving up" in caplog.text


async def test_a_refusal_is_not_retried() -> None:
    hub = Hub(failures=99, status=400)
    async for url in _serve(hub):
        publisher = WebSubPublisher([url], retry=FAST)
        publisher.publish(["https://news.example.org/feed.json"])
        await publisher.wait(10)
        await publisher.close()
    assert len(hub.posts) == 1
    assert publisher.stats.failed == 1


async def test_unreachable_hub() -> None:
    publisher = WebSubPublisher(["http://127.0.0.1:9/"], retry=FAST)
    publisher.publish(["https://news.example.org/feed.atom"])
    await publisher.wait(10)
    await publisher.close()
    assert publisher.stats.failed == 1


def test_topic_url() -> None:
    assert topic_url("https://n.example/", "feed.atom") == "https://n.example/feed.atom"
    assert topic_url("https://n.example/news", "c/a.rss") == "https://n.example/news/c/a.rss"
