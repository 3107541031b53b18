"""The HTTP side, in process over a real socket: feed files, conditional GET, gzip, health, metrics, pages."""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from publisher.config import Config
from publisher.mail import subscribers, tokens
from publisher.store import Store
from publisher.web import Stats, StoreWorker, WebState, make_app
from publisher.web.files import resolve_feed

ATOM = (
    '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>'
    + "<entry><title>x</title></entry>" * 40
    + "</feed>\n"
).encode()
RSS = b'<?xml version="1.0"?>\n<rss version="2.0"><channel><title>T</title></channel></rss>\n'


@pytest.fixture
def output(config: Config) -> Path:
    out = config.paths.output
    (out / "correspondent").mkdir(parents=True)
    (out / "index.atom").write_bytes(ATOM)
    (out / "index.xml").write_bytes(RSS)
    (out / "correspondent" / "ana-ruiz.json").write_text('{"version": "https://jsonfeed.org/version/1.1"}')
    (out / "feeds.opml").write_text('<?xml version="1.0"?><opml version="2.0"/>')
    (out / ".index.atom.tmp").write_bytes(b"half a file")
    (config.paths.state).mkdir(parents=True, exist_ok=True)
    (config.paths.state / "secret.txt").write_text("not a feed")
    return out


async def _client(config: Config, **kw: object) -> AsyncIterator[TestClient]:
    Store(config.paths.database).close()
    db = StoreWorker(config.paths.database)
    state = WebState(config=config, db=db, stats=Stats(), secret=b"s" * 32, **kw)  # type: ignore[arg-type]
    client = TestClient(TestServer(make_app(state)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
        db.close()


@pytest.fixture
async def client(config: Config, output: Path) -> AsyncIterator[TestClient]:
    async for c in _client(config):
        yield c


async def test_feed_served_with_validators_and_304(client: TestClient) -> None:
    r = await client.get("/index.atom", headers={"Accept-Encoding": "identity"})
    assert r.status == 200
    assert r.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    assert await r.read() == ATOM
    etag, modified = r.headers["ETag"], r.headers["Last-Modified"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert "Accept-Encoding" in r.headers["Vary"]

    r = await client.get("/index.atom", headers={"If-None-Match": etag, "Accept-Encoding": "identity"})
    assert r.status == 304
    assert await r.read() == b""
    assert r.headers["ETag"] == etag

    r = await client.get("/index.atom", headers={"If-Modified-Since": modified})
    assert r.status == 304

    r = await client.get("/index.atom", headers={"If-None-Match": '"something-else"'})
    assert r.status == 200


async def test_new_bytes_new_etag(client: TestClient, output: Path) -> None:
    first = (await client.get("/index.atom")).headers["ETag"]
    (output / "index.atom").write_bytes(ATOM.replace(b"<title>T</title>", b"<title>U</title>"))
    os.utime(output / "index.atom", (2_000_000_000, 2_000_000_000))
    r = await client.get("/index.atom", headers={"If-None-Match": first})
    assert r.status == 200
    assert r.headers["ETag"] != first
    assert b"<title>U</title>" in await r.read()


async def test_gzip_when_asked(client: TestClient) -> None:
    r = await client.get("/index.atom", headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    assert r.status == 200
    assert r.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(await r.read()) == ATOM
    gz_etag = r.headers["ETag"]
    plain = await client.get("/index.atom", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert plain.headers["ETag"] != gz_etag
    again = await client.get("/index.atom", headers={"Accept-Encoding": "gzip", "If-None-Match": gz_etag})
    assert again.status == 304
    refused = await client.get("/index.atom", headers={"Accept-Encoding": "gzip;q=0"}, auto_decompress=False)
    assert "Content-Encoding" not in refused.headers


async def test_content_types(client: TestClient) -> None:
    assert (await client.get("/index.xml")).headers["Content-Type"].startswith("application/rss+xml")
    r = await client.get("/correspondent/ana-ruiz.json")
    assert r.headers["Content-Type"].startswith("application/feed+json")
    assert (await client.get("/feeds.opml")).headers["Content-Type"].startswith("text/x-opml")


async def test_head(client: TestClient) -> None:
    r = await client.head("/index.atom", headers={"Accept-Encoding": "identity"})
    assert r.status == 200
    assert int(r.headers["Content-Length"]) == len(ATOM)
    assert await r.read() == b""


@pytest.mark.parametrize(
    "path",
    [
        "/../publisher.toml",
        "/%2e%2e/publisher.toml",
        "/correspondent/../../publisher.toml",
        "/.index.atom.tmp",
        "/state/secret.txt",
        "/nope.atom",
        "/correspondent",
        "/%00.atom",
    ],
)
async def test_nothing_outside_the_feeds(client: TestClient, path: str) -> None:
    r = await client.get(path)
    assert r.status == 404, path


def test_resolve_refuses_symlink_escape(tmp_path: Path) -> None:
    root = tmp_path / "out"
    root.mkdir()
    (tmp_path / "secret.atom").write_text("x")
    (root / "link.atom").symlink_to(tmp_path / "secret.atom")
    (root / "ok.atom").write_text("x")
    assert resolve_feed(root, "link.atom") is None
    assert resolve_feed(root, "ok.atom") == (root / "ok.atom").resolve()


async def test_websub_link_headers(make_config: Callable[..., Config], output: Path) -> None:
    config = make_config('\n[websub]\nhubs = ["https://hub.example/"]\n')
    async for client in _client(config):
        r = await client.get("/correspondent/ana-ruiz.json")
        link = r.headers["Link"]
        assert '<https://hub.example/>; rel="hub"' in link
        assert '<https://news.example.org/correspondent/ana-ruiz.json>; rel="self"' in link
        assert "Link" not in (await client.get("/feeds.opml")).headers


async def test_healthz_and_metrics(client: TestClient) -> None:
    r = await client.get("/healthz")
    assert r.status == 200
    text = await r.text()
    assert text.startswith("ok\n")
    m = await client.get("/metrics")
    assert m.status == 200
    assert m.headers["Content-Type"].startswith("text/plain")
    body = await m.text()
    assert "# TYPE publisher_items gauge" in body
    assert re.search(r"^publisher_items 0$", body, re.M)
    assert re.search(r'^publisher_outbox_messages\{state="queued"\} 0$', body, re.M)
    assert "publisher_feeds_written_total 0" in body


async def test_subscribe_same_answer_and_rate_limit(make_config: Callable[..., Config], output: Path) -> None:
    config = make_config("\n[subscriptions]\nper_client_per_hour = 50\nper_address_per_hour = 2\n")
    async for client in _client(config):
        with Store(config.paths.database) as store:
            subscribers.add(store, "known@example.org", follows=[subscribers.parse_follow("ana-ruiz")], confirmed=True)
        answers = []
        for address in ("new@example.org", "known@example.org"):
            r = await client.post("/subscribe", data={"email": address, "name": "N", "follow": "all"})
            answers.append((r.status, await r.text()))
            assert r.headers["Content-Security-Policy"].startswith("default-src 'none'")
            assert r.headers["Referrer-Policy"] == "no-referrer"
        assert answers[0] == answers[1]
        assert answers[0][0] == 200
        with Store(config.paths.database) as store:
            assert subscribers.get(store, "new@example.org").status == "pending"  # type: ignore[union-attr]
            known = subscribers.get(store, "known@example.org")
            assert known is not None and known.status == "confirmed"
            # A stranger's form cannot change what a confirmed subscriber receives.
            assert [str(f) for f in known.follows] == ["ana-ruiz"]
        r = await client.post("/subscribe", data={"email": "new@example.org"})
        assert r.status == 200
        r = await client.post("/subscribe", data={"email": "NEW@example.org"})
        assert r.status == 429
        assert "Retry-After" in r.headers
        bad = await client.post("/subscribe", data={"email": "not an address"})
        assert bad.status == 400
        assert "<script" not in await bad.text()


async def test_subscribe_per_client_limit(make_config: Callable[..., Config], output: Path) -> None:
    config = make_config("\n[subscriptions]\nper_client_per_hour = 2\n")
    async for client in _client(config):
        codes = [(await client.post("/subscribe", data={"email": f"a{i}@example.org"})).status for i in range(3)]
        assert codes == [200, 200, 429]


async def test_unsubscribe_get_changes_nothing_post_does(config: Config, output: Path) -> None:
    async for client in _client(config):
        with Store(config.paths.database) as store:
            sub = subscribers.add(store, "reader@example.org", confirmed=True)
        url = tokens.unsubscribe_url(config, b"s" * 32, sub)
        path = "/" + url.removeprefix(config.public_url)
        page = await client.get(path)
        assert page.status == 200
        assert '<form method="post">' in await page.text()
        with Store(config.paths.database) as store:
            assert subscribers.get(store, sub.id).status == "confirmed"  # type: ignore[union-attr]
        r = await client.post(
            path,
            data="List-Unsubscribe=One-Click",
            allow_redirects=False,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert r.status == 200
        assert "Set-Cookie" not in r.headers
        with Store(config.paths.database) as store:
            assert subscribers.get(store, sub.id).status == "unsubscribed"  # type: ignore[union-attr]
        forged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
        assert (await client.post(forged, data="List-Unsubscribe=One-Click")).status == 400


async def test_confirm_and_preferences(config: Config, output: Path) -> None:
    async for client in _client(config):
        with Store(config.paths.database) as store:
            sub = subscribers.add(store, "pending@example.org", name="<b>Pat</b>")
        confirm = "/" + tokens.confirm_url(config, b"s" * 32, sub).removeprefix(config.public_url)
        # A mail scanner fetching the link (GET or HEAD) confirms nothing: it gets a page with a button.
        page = await client.get(confirm)
        assert page.status == 200 and '<form method="post">' in await page.text()
        assert (await client.head(confirm)).status == 200
        with Store(config.paths.database) as store:
            assert subscribers.get(store, sub.id).status == "pending"  # type: ignore[union-attr]
        r = await client.post(confirm)
        assert r.status == 200
        body = await r.text()
        assert "&lt;b&gt;Pat&lt;/b&gt;" in body  # autoescaped
        with Store(config.paths.database) as store:
            assert subscribers.get(store, sub.id).status == "confirmed"  # type: ignore[union-attr]
        # A confirm token does not unsubscribe.
        wrong = confirm.replace("/confirm/", "/unsubscribe/")
        assert (await client.post(wrong, data="List-Unsubscribe=One-Click")).status == 400
        prefs = "/" + tokens.preferences_url(config, b"s" * 32, sub).removeprefix(config.public_url)
        r = await client.post(prefs, data=[("follow", "ana-ruiz"), ("follow", "category:news")])
        assert r.status == 200
        with Store(config.paths.database) as store:
            follows = {str(f) for f in subscribers.get(store, sub.id).follows}  # type: ignore[union-attr]
        assert follows == {"ana-ruiz", "category:news"}
        page = await (await client.get(prefs)).text()
        assert 'value="all"' in page
