"""RFC 5005 archives and the byte budget, end to end: real content folder, real SQLite file, every document read
back with feedparser by following the links a reader would follow."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import feedparser
import pytest

from publisher.config import Config
from publisher.errors import ConfigError
from publisher.feeds import pages
from publisher.feeds.build import build
from publisher.feeds.formats import FeedFormat
from publisher.models import Item
from publisher.store import Store

BASE = "https://news.example.org/"
ROOT = Path(__file__).resolve().parents[2]
FH = b"<fh:archive/>"


def post(config: Config, n: int, *, day: int | None = None, words: int = 40, category: str = "News") -> Path:
    day = n if day is None else day
    rng = random.Random(n)
    body = " ".join(rng.choice(["harbour", "freight", "minister", "budget", "port"]) for _ in range(words))
    path = config.paths.content / f"posts/p{n:03d}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'---\ntitle: "Post {n}"\ndate: 2025-01-01T06:00:00\nauthor: "Ana Ruiz"\ncategories: [{category}]\n---\n\n'
        f"{body}\n",
        encoding="utf-8",
    )
    # Dates from the post number: later numbers are newer unless a day is given.
    text = path.read_text(encoding="utf-8").replace("2025-01-01T06:00:00", _date(day))
    path.write_text(text, encoding="utf-8")
    return path


def _date(day: int) -> str:
    month, d = divmod(day, 28)
    return f"{2020 + month // 12:04d}-{month % 12 + 1:02d}-{d + 1:02d}T06:00:00"


def local(config: Config, url: str) -> Path:
    assert url.startswith(BASE), url
    return config.paths.output / url[len(BASE) :]


def links(doc: feedparser.FeedParserDict) -> dict[str, str]:
    return {link["rel"]: link["href"] for link in doc.feed.get("links", [])}


def read(path: Path) -> feedparser.FeedParserDict:
    doc = feedparser.parse(path.read_bytes())
    assert not doc.bozo, (path, doc.get("bozo_exception"))
    return doc


def history(config: Config, stem: str = "feed") -> tuple[list[str], list[list[str]], dict[str, bytes]]:
    """(ids in the current Atom document, ids per archive page newest page first, bytes of each page by
    file name), walking prev-archive links from the current document as an RFC 5005 client does."""
    current = read(config.paths.output / f"{stem}.atom")
    ids = [e.id for e in current.entries]
    pages_seen: list[list[str]] = []
    files: dict[str, bytes] = {}
    url = links(current).get("prev-archive")
    newer = None
    while url:
        path = local(config, url)
        doc = read(path)
        raw = path.read_bytes()
        assert FH in raw, path
        rels = links(doc)
        assert rels["current"] == f"{BASE}{stem}.atom"
        assert rels["self"] == url
        if newer is None:
            # The newest page already names the page to come, which does not exist yet.
            assert not local(config, rels["next-archive"]).exists()
        else:
            assert rels["next-archive"] == newer
        pages_seen.append([e.id for e in doc.entries])
        files[path.name] = raw
        newer, url = url, rels.get("prev-archive")
    return ids, pages_seen, files


def published_uids(store: Store) -> set[str]:
    return {uid for (uid,) in store.conn.execute("SELECT uid FROM items WHERE deleted_at IS NULL")}


def assert_whole_history(config: Config, store: Store, stem: str = "feed", suffix: str = "") -> list[list[str]]:
    current, archived, _ = history(config, stem)
    every = current + [uid for page in archived for uid in page]
    assert len(every) == len(set(every)), "an entry is in two documents"
    assert set(every) == {uid + suffix for uid in published_uids(store)}
    return archived


def built(config: Config, store: Store, posts: int = 23) -> dict[str, bytes]:
    """``posts`` posts, one build, and the archive pages it wrote (file name → bytes)."""
    for n in range(posts):
        post(config, n)
    build(config, store)
    return history(config)[2]


@pytest.fixture
def small(make_config: Callable[..., Config]) -> Config:
    return make_config('[feeds]\nentries = 10\nformats = ["atom", "rss", "json"]\n')


def test_archives_and_current_feed_hold_the_whole_history_once(small: Config, store: Store) -> None:
    for n in range(23):
        post(small, n)
    build(small, store)
    current, archived, _ = history(small)
    assert 5 <= len(current) <= 10
    assert all(len(page) <= 5 for page in archived)
    assert_whole_history(small, store)
    # Newest first everywhere, and every archived entry is older than every current one.
    titles = [e.title for e in read(small.paths.output / "feed.atom").entries]
    assert titles == sorted(titles, key=lambda t: -int(t.split()[1]))
    # RSS links the newest archive page too; the oldest page has no prev-archive.
    rss = (small.paths.output / "feed.rss").read_bytes()
    assert b'rel="prev-archive"' in rss
    oldest = read(small.paths.output / "feed-archive-1.atom")
    assert "prev-archive" not in links(oldest)


def test_archive_pages_stay_byte_identical_as_posts_arrive(small: Config, store: Store) -> None:
    before = built(small, store)
    for n in range(23, 41):
        post(small, n)
        build(small, store)  # one post at a time, as a newsroom publishes
    _, _, after = history(small)
    assert len(after) > len(before)
    for name, data in before.items():
        assert after[name] == data, f"{name} changed"
    assert_whole_history(small, store)


def test_a_back_dated_post_goes_to_the_current_feed_and_pages_stay(small: Config, store: Store) -> None:
    before = built(small, store)
    post(small, 99, day=0)  # older than everything
    build(small, store)
    current, _, after = history(small)
    assert after == before
    doc = read(small.paths.output / "feed.atom")
    assert "Post 99" in [e.title for e in doc.entries]
    assert len(current) <= 10
    assert_whole_history(small, store)


def test_deleted_and_edited_entries_leave_or_change_only_their_page(small: Config, store: Store) -> None:
    before = built(small, store)
    gone = small.paths.content / "posts/p001.md"  # on the oldest page
    gone.unlink()
    build(small, store)
    _, _, after = history(small)
    changed = {name for name in before if after.get(name) != before[name]}
    assert changed == {"feed-archive-1.atom"}
    assert_whole_history(small, store)


def test_full_rebuild_writes_the_same_pages(small: Config, store: Store) -> None:
    before = built(small, store)
    for path in small.paths.output.rglob("*"):
        if path.is_file():
            path.unlink()
    report = build(small, store)
    assert report.full
    _, _, after = history(small)
    assert after == before


def test_correspondent_and_category_feeds_are_archived_too(small: Config, store: Store) -> None:
    for n in range(23):
        post(small, n, category="Business" if n % 2 else "News")
    build(small, store)
    assert_whole_history(small, store, "correspondents/ana-ruiz/feed", "#ana-ruiz")
    current, archived, _ = history(small, "categories/business/feed")
    ids = current + [uid for page in archived for uid in page]
    assert len(ids) == len(set(ids)) == 11


def test_a_feed_over_budget_carries_fewer_whole_entries(make_config: Callable[..., Config], store: Store) -> None:
    config = make_config("[feeds]\nentries = 50\nmax_bytes = 65536\n")
    for n in range(40):
        post(config, n, words=500)  # ~3.5 KB of text each, 40 of them: well over 64 KiB
    build(config, store)
    for fmt in ("atom", "rss", "json"):
        assert (config.paths.output / f"feed.{fmt}").stat().st_size <= 65536
    doc = read(config.paths.output / "feed.atom")
    assert pages.MIN_ENTRIES <= len(doc.entries) < 40
    assert all("Read the whole article" not in e.content[0].value for e in doc.entries)
    assert_whole_history(config, store)


def test_when_the_minimum_is_too_big_the_older_entries_are_shortened(
    make_config: Callable[..., Config], store: Store
) -> None:
    config = make_config("[feeds]\nentries = 50\nmax_bytes = 65536\n")
    for n in range(pages.MIN_ENTRIES + 5):
        post(config, n, words=2000)  # ~14 KB each: ten of them do not fit in 64 KiB
    build(config, store)
    for fmt in ("atom", "rss", "json"):
        assert (config.paths.output / f"feed.{fmt}").stat().st_size <= 65536
    doc = read(config.paths.output / "feed.atom")
    assert len(doc.entries) == pages.MIN_ENTRIES
    newest = doc.entries[0]
    assert len(newest.content[0].value) > 10_000 and "Read the whole article" not in newest.content[0].value
    assert "Read the whole article" in doc.entries[-1].content[0].value
    assert_whole_history(config, store)


def test_max_bytes_below_the_floor_is_refused(make_config: Callable[..., Config]) -> None:
    with pytest.raises(ConfigError, match=r"feeds\.max_bytes"):
        make_config("[feeds]\nmax_bytes = 1000\n")


def test_entries_of_one_day_get_distinct_updated_instants(small: Config, store: Store) -> None:
    for n in range(4):
        post(small, n, day=5)  # same date and time
    build(small, store)
    doc = read(small.paths.output / "feed.atom")
    updated = [e.updated for e in doc.entries]
    assert len(set(updated)) == 4
    assert all(e.updated_parsed >= e.published_parsed for e in doc.entries)


def test_a_warm_cache_serializes_only_the_new_post(
    small: Config, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After warm(), as a running daemon does after its first build, a new post serializes its own entries
    (the item's, once for the site and its category, and its section's) and none of its neighbours'."""
    from publisher.feeds import build as build_module
    from publisher.feeds import render

    for n in range(6):
        post(small, n)
    build(small, store)
    monkeypatch.setattr(pages, "SHARED", pages.FragmentCache(pages.CACHE_BYTES))  # a fresh daemon
    assert build_module.warm(small, store) > 0
    made: list[str] = []
    real = render.entry_fragment

    def counting(e: render.FeedEntry, config: Config, fmt: FeedFormat) -> bytes:
        made.append(e.uid)
        return real(e, config, fmt)

    monkeypatch.setattr(render, "entry_fragment", counting)
    path = post(small, 6)
    report = build(small, store, changed={path.relative_to(small.paths.content).as_posix()})
    assert report.scan.added and not report.full
    assert made and all(uid.startswith(made[0].split("#")[0]) for uid in made), made
    assert len(made) == 2 * len(small.feeds.formats)  # the item's entry and its section's, in each format


def test_kept_entries_are_read_again_after_another_process_writes(
    small: Config, store: Store, site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A daemon keeps the entries its builds read; `publisher build` run beside it edits a post, and the
    daemon's next build shows the edit, not what it kept. Between two of the daemon's own builds, only the
    new post's entries are read, once whatever feeds hold them."""
    from publisher.content import catalog

    for n in range(6):
        post(small, n)
    build(small, store)
    path = post(small, 6)
    build(small, store, changed={path.relative_to(small.paths.content).as_posix()})  # keeps what it read
    loaded: list[str] = []
    real = catalog.items_by_keys

    def counting(s: Store, ctx: catalog.Context, keys: Sequence[str]) -> dict[str, Item]:
        loaded.extend(keys)
        return real(s, ctx, keys)

    monkeypatch.setattr(catalog, "items_by_keys", counting)
    newer = post(small, 7)
    build(small, store, changed={newer.relative_to(small.paths.content).as_posix()})
    # The new post only, read once for the site feed and its category's (its section, for its correspondent's
    # feed, is read apart).
    assert loaded == ["posts/p007"], loaded

    edited = small.paths.content / "posts/p003.md"
    edited.write_text(edited.read_text(encoding="utf-8").replace("Post 3", "Post 3, corrected"), encoding="utf-8")
    command = [sys.executable, "-m", "publisher", "--config", str(site / "publisher.toml"), "build"]
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    newest = post(small, 8)
    build(small, store, changed={newest.relative_to(small.paths.content).as_posix()})
    titles = [e.title for e in read(small.paths.output / "feed.atom").entries]
    assert "Post 3, corrected" in titles and "Post 3" not in titles, titles


def test_a_full_build_that_cannot_write_a_page_records_none(small: Config, store: Store) -> None:
    # A file where the category feeds' folder should be: the full build fails on its first category file and
    # records no page of any feed; once the folder can be made, the next build writes every page and the
    # whole history is there.
    for n in range(23):
        post(small, n)
    blocker = small.paths.output / "categories"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_bytes(b"not a folder")
    with pytest.raises(OSError) as caught:
        build(small, store)
    assert "categories" in str(caught.value)
    assert store.conn.execute("SELECT count(*) FROM feed_archive").fetchone()[0] == 0
    blocker.unlink()
    assert build(small, store).full
    assert_whole_history(small, store)
    assert_whole_history(small, store, "categories/news/feed")
