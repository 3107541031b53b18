"""``publisher run`` as a real subprocess: watching, HTTP, double opt-in, one-click unsubscribe, signals, sd_notify.

Waits are bounded (a test fails rather than hangs) but nothing asserts on speed; bench/latency.py does.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import feedparser
import pytest

from publisher.store import Store, iso

WAIT = 30.0  # the most any one step may take before the test gives up


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], object], timeout: float = WAIT) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def post(title: str, when: datetime, author: str = "Ana Ruiz") -> str:
    return (
        f'---\ntitle: "{title}"\ndate: {when.strftime("%Y-%m-%dT%H:%M:%S")}\nauthor: "{author}"\n'
        f"categories: [News]\n---\n\n{title}: the body of the piece, long enough to read.\n"
    )


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=WAIT) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


class Daemon:
    """One ``publisher run`` subprocess with a notify socket standing in for systemd's."""

    def __init__(self, site: Path, port: int) -> None:
        self.site = site
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = site / f"daemon-{time.monotonic_ns()}.log"
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify_path = site / f"notify-{time.monotonic_ns()}.sock"
        self.notify.bind(str(self.notify_path))
        self.notify.settimeout(0.2)
        self.datagrams: list[str] = []
        # Read all the time, as systemd does: the daemon drops what a full queue has no room for.
        self._reader = threading.Thread(target=self._read_notify, daemon=True)
        self._reader.start()
        env = dict(os.environ, NOTIFY_SOCKET=str(self.notify_path), WATCHDOG_USEC="400000")
        env.pop("PUBLISHER_CONFIG", None)
        self.log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "publisher", "--config", str(site / "publisher.toml"), "run"],
            cwd=site,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def _read_notify(self) -> None:
        while True:
            try:
                data = self.notify.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            self.datagrams.extend(data.decode().split("\n"))

    def received(self, assignment: str) -> bool:
        return assignment in self.datagrams

    def wait_ready(self) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.text()}")
            return self.received("READY=1")

        wait_for("READY=1", ready)

    def text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        return http_get(self.base + path, headers)

    def post(self, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(
            self.base + path, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        try:
            with urllib.request.urlopen(req, timeout=WAIT) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=WAIT)
            time.sleep(0.3)  # let the reader take what was sent just before the exit
            return code
        finally:
            self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        self.notify.close()


CONFIG = """\
[site]
title = "Daemon News"
base_url = "http://127.0.0.1:{port}/"
timezone = "Europe/London"
id_authority = "news.example.org"

[http]
listen = "127.0.0.1:{port}"

[digest]
schedule = "0 * * * *"
{extra}
[daemon]
debounce_ms = 50
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "content").mkdir()
    now = datetime.now(UTC)
    (tmp_path / "content" / "first.md").write_text(post("The first story", now - timedelta(hours=3)))
    return tmp_path


@pytest.fixture
def start(site: Path) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []
    port = free_port()

    def start_daemon(extra: str = "") -> Daemon:
        (site / "publisher.toml").write_text(CONFIG.format(port=port, extra=extra))
        d = Daemon(site, port)
        started.append(d)
        d.wait_ready()
        return d

    yield start_daemon
    for d in started:
        d.close()


def mails(site: Path) -> list[EmailMessage]:
    folder = site / "state" / "maildir" / "new"
    if not folder.is_dir():
        return []
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for p in sorted(folder.iterdir())
    ]


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def status_of(site: Path, address: str) -> str:
    with Store(site / "state" / "publisher.db") as store:
        return str(store.scalar("SELECT status FROM subscribers WHERE email = ?", (address,)))


def test_watch_serve_subscribe_and_signals(site: Path, start: Callable[..., Daemon]) -> None:
    d = start()
    # systemd: READY once the first build is done, then watchdog pings (WATCHDOG_USEC=0.4 s).
    wait_for("WATCHDOG=1", lambda: d.received("WATCHDOG=1"))
    feed_path = site / "public" / "feed.atom"
    assert feed_path.exists()

    # Conditional GET: 200 with validators, then 304 with the same ETag.
    status, headers, body = d.get("/feed.atom")
    assert status == 200
    assert headers["Content-Type"].startswith("application/atom+xml")
    parsed = feedparser.parse(body)
    assert not parsed.bozo
    assert [e.title for e in parsed.entries] == ["The first story"]
    etag = headers["ETag"]
    assert d.get("/feed.atom", {"If-None-Match": etag})[0] == 304

    # A new post dropped into the content folder reaches the feed file, then HTTP.
    (site / "content" / "second.md").write_text(post("A second story", datetime.now(UTC) - timedelta(hours=1)))
    wait_for("the feed file to hold the new post", lambda: b"A second story" in feed_path.read_bytes())
    status, headers, body = d.get("/feed.atom", {"If-None-Match": etag})
    assert status == 200
    assert headers["ETag"] != etag
    assert [e.title for e in feedparser.parse(body).entries] == ["A second story", "The first story"]
    etag = headers["ETag"]

    # A folder moved in (one event for the folder, none for its files) and a deleted post.
    outside = site / "incoming" / "2026"
    outside.mkdir(parents=True)
    (outside / "moved.md").write_text(post("Moved in with its folder", datetime.now(UTC) - timedelta(minutes=50)))
    (site / "incoming" / "2026").rename(site / "content" / "2026")
    wait_for("the moved-in post in the feed", lambda: b"Moved in with its folder" in feed_path.read_bytes())
    (site / "content" / "second.md").unlink()
    wait_for("the deleted post gone from the feed", lambda: b"A second story" not in feed_path.read_bytes())

    # Double opt-in: the same answer for a new and a known address; the confirmation email is in the Maildir.
    status, _, page = d.post("/subscribe", b"email=reader%40example.org&name=Reader&follow=all")
    assert status == 200
    assert d.post("/subscribe", b"email=reader%40example.org&name=Reader&follow=all")[2] == page
    confirm_mail = wait_for("the confirmation email", lambda: mails(site))[0]  # type: ignore[index]
    assert confirm_mail["To"].addresses[0].addr_spec == "reader@example.org"
    link = re.search(r"http://127\.0\.0\.1:\d+/confirm/\S+", text_of(confirm_mail))
    assert link, text_of(confirm_mail)
    assert status_of(site, "reader@example.org") == "pending"
    status, _, page = d.get(urllib.parse.urlsplit(link.group(0)).path)
    assert status == 200 and b"<form" in page
    assert status_of(site, "reader@example.org") == "pending"  # a GET (a mail scanner) confirms nothing
    status, _, page = d.post(urllib.parse.urlsplit(link.group(0)).path, b"")
    assert status == 200
    assert status_of(site, "reader@example.org") == "confirmed"

    # SIGHUP with a bad config: refused, logged with the key, still serving on the old one.
    good = (site / "publisher.toml").read_text()
    (site / "publisher.toml").write_text(good + "bogus_key = 1\n")
    d.proc.send_signal(signal.SIGHUP)
    wait_for("the refused reload in the log", lambda: "daemon.bogus_key" in d.text())
    assert "reload refused" in d.text()
    assert d.proc.poll() is None
    assert d.get("/healthz")[0] == 200
    assert d.get("/feed.atom", {"If-None-Match": etag})[0] == 200
    (site / "publisher.toml").write_text(good)

    # SIGTERM: a clean exit, told to systemd.
    assert d.stop() == 0
    assert "STOPPING=1" in d.datagrams
    with Store(site / "state" / "publisher.db") as store:
        assert store.get_meta("daemon.stopped_at")


def test_missed_digest_runs_at_start_and_one_click_unsubscribe(site: Path, start: Callable[..., Daemon]) -> None:
    d = start()
    (site / "content" / "fresh.md").write_text(post("Fresh from the desk", datetime.now(UTC) - timedelta(minutes=30)))
    wait_for("the new post in the feed", lambda: b"Fresh from the desk" in (site / "public" / "feed.atom").read_bytes())
    d.post("/subscribe", b"email=follower%40example.org&follow=all")
    confirm = wait_for("the confirmation email", lambda: mails(site))[0]  # type: ignore[index]
    link = re.search(r"http://127\.0\.0\.1:\d+/confirm/\S+", text_of(confirm))
    assert link
    assert d.post(urllib.parse.urlsplit(link.group(0)).path, b"")[0] == 200  # the confirm page's button
    assert d.stop() == 0

    # While the daemon was down, the hourly digest's fire time passed: it runs once at the next start.
    with Store(site / "state" / "publisher.db") as store:
        store.set_meta("scheduler.last_run.digest", iso(datetime.now(UTC) - timedelta(hours=2)))
    d = start()

    def digest_mail() -> EmailMessage | None:
        return next((m for m in mails(site) if "List-Unsubscribe" in m), None)

    assert "job digest missed a run while the daemon was down" in d.text()
    digest = wait_for("the digest caught up at start", digest_mail)
    assert isinstance(digest, EmailMessage)
    assert "Fresh from the desk" in text_of(digest)
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.search(r"<(http[^>]+/unsubscribe/[^>]+)>", str(digest["List-Unsubscribe"]))
    assert url
    status, headers, _ = d.post(urllib.parse.urlsplit(url.group(1)).path, b"List-Unsubscribe=One-Click")
    assert status == 200
    assert "Set-Cookie" not in headers
    assert status_of(site, "follower@example.org") == "unsubscribed"
    assert d.stop() == 0

    # A third start does not run the caught-up digest again (decided before READY=1, and logged if so).
    d = start()
    assert "missed a run" not in d.text()
    assert d.stop() == 0
    assert sum(1 for m in mails(site) if "List-Unsubscribe" in m) == 1


def test_reload_moves_http_to_the_new_address(site: Path, start: Callable[..., Daemon]) -> None:
    d = start()
    new_port = free_port()
    config = (site / "publisher.toml").read_text()
    (site / "publisher.toml").write_text(config.replace(f"127.0.0.1:{d.port}", f"127.0.0.1:{new_port}"))
    d.proc.send_signal(signal.SIGHUP)
    wait_for("the reload in the log", lambda: "configuration reloaded" in d.text())
    assert http_get(f"http://127.0.0.1:{new_port}/healthz")[0] == 200
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(d.base + "/healthz", timeout=WAIT)
    assert d.datagrams.count("READY=1") >= 2  # RELOADING=1 ... READY=1 around the reload
    assert "RELOADING=1" in d.datagrams
    assert d.stop() == 0


class SlowSMTP:
    """Accepts every message, but only two seconds after DATA: time for a SIGTERM to land mid-transaction."""

    def __init__(self) -> None:
        self.data_started = threading.Event()
        self.received: list[bytes] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        import asyncio

        self.data_started.set()
        await asyncio.sleep(2.0)
        self.received.append(envelope.original_content or b"")  # type: ignore[attr-defined]
        return "250 OK"


def test_sigterm_lets_the_smtp_transaction_in_flight_finish(site: Path, start: Callable[..., Daemon]) -> None:
    from aiosmtpd.controller import Controller

    handler = SlowSMTP()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        smtp = (
            f'[smtp]\nhost = "127.0.0.1"\nport = {controller.port}\nsecurity = "none"\n'
            'from = "Daemon News <news@example.org>"\n'
        )
        d = start(smtp)
        assert d.post("/subscribe", b"email=slow%40example.org")[0] == 200
        assert handler.data_started.wait(WAIT), "the confirmation email never reached DATA"
        assert d.stop() == 0
        assert len(handler.received) == 1
        assert b"slow@example.org" in handler.received[0]
        with Store(site / "state" / "publisher.db") as store:
            assert store.scalar("SELECT state FROM outbox WHERE recipient = 'slow@example.org'") == "sent"
    finally:
        controller.stop()


def test_watch_filter_and_changed_paths(tmp_path: Path) -> None:
    from watchfiles import Change

    from publisher.service.daemon import ContentFilter, changed_paths

    root = tmp_path / "content"
    (root / "2026" / "03").mkdir(parents=True)
    (root / "2026" / "03" / "a.md").write_text("x")
    (root / "2026" / "03" / "b.txt").write_text("x")
    (root / "2026" / "03" / "c.png").write_bytes(b"x")
    keep = ContentFilter(root, (".md", ".txt"))
    assert keep(Change.added, str(root / "post.md"))
    assert keep(Change.deleted, str(root / "2026"))  # perhaps a folder
    assert not keep(Change.added, str(root / ".post.md.tmp"))
    assert not keep(Change.added, str(root / ".git" / "index.md"))
    assert not keep(Change.modified, str(root / "post.md~"))
    assert not keep(Change.modified, str(root / "post.md.swp"))
    assert not keep(Change.added, str(root / "image.png"))
    exts = (".md", ".txt")
    assert changed_paths(root, {(Change.added, str(root / "2026"))}, exts) == {"2026/03/a.md", "2026/03/b.txt"}
    assert changed_paths(root, {(Change.modified, str(root / "x.md"))}, exts) == {"x.md"}
    assert changed_paths(root, {(Change.deleted, str(root / "gone.md"))}, exts) == {"gone.md"}
    assert changed_paths(root, {(Change.deleted, str(root / "old-folder"))}, exts) is None


def test_changed_feeds_are_announced_to_the_hub(site: Path, start: Callable[..., Daemon]) -> None:
    import http.server

    pings: list[tuple[float, dict[str, list[str]]]] = []

    class HubHandler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            pings.append((time.monotonic(), urllib.parse.parse_qs(self.rfile.read(length).decode())))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    hub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HubHandler)
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    try:
        hub_url = f"http://127.0.0.1:{hub.server_address[1]}/"
        d = start(f'[websub]\nhubs = ["{hub_url}"]\n')
        dropped = time.monotonic()
        (site / "content" / "hubbed.md").write_text(post("Pushed to the hub", datetime.now(UTC)))
        site_feed = f"{d.base}/feed.atom"

        def announced() -> bool:
            return any(
                at > dropped and p.get("hub.url") == [site_feed] and p.get("hub.mode") == ["publish"]
                for at, p in list(pings)
            )

        wait_for("the hub to be told of the changed site feed", announced)
        assert all(not u.endswith(".opml") for _, p in pings for u in p["hub.url"])
        link = d.get("/feed.atom")[1]["Link"]
        assert f'<{hub_url}>; rel="hub"' in link and f'<{site_feed}>; rel="self"' in link
        assert d.stop() == 0
    finally:
        hub.shutdown()
