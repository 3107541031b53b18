"""A full build's feeds shared with a forked process (publisher/feeds/forked.py): the same files and records
as one process makes, the child's share done here when it fails, one progress count over both."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from publisher.config import Config
from publisher.feeds import forked, pages
from publisher.feeds.build import build
from publisher.store import Store

from .test_archives import assert_whole_history, history, post


@pytest.fixture
def many(make_config: Callable[..., Config]) -> Config:
    config = make_config('[feeds]\nentries = 10\nformats = ["atom", "rss", "json"]\n')
    for n in range(40):
        path = post(config, n, category="Business" if n % 3 else "News")
        if n % 2:  # a second correspondent, and a post with both
            author = '"Bo Lind"' if n % 4 == 1 else '["Ana Ruiz", "Bo Lind"]'
            path.write_text(path.read_text(encoding="utf-8").replace('"Ana Ruiz"', author), encoding="utf-8")
    return config


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every child the build forks (None where it did not), with the share threshold at one item."""
    started: list[object] = []
    start = forked.start

    def spy(work: Callable[[forked.Progress], object], **options: bool) -> object:
        child = start(work, **options)
        started.append(child)
        return child

    monkeypatch.setattr(forked, "start", spy)
    monkeypatch.setattr(pages, "FORK_MIN", 1)
    return started


def outputs(config: Config) -> dict[str, bytes]:
    out = config.paths.output
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def records(store: Store) -> list[tuple[object, ...]]:
    return store.conn.execute("SELECT feed_key, uid, item_key, page FROM feed_archive ORDER BY 1, 2").fetchall()


def assert_feed_holds_its_records(config: Config, store: Store, slug: str) -> None:
    """The correspondent's current document and archive pages hold each entry the store places in that feed,
    once."""
    current, archived, _ = history(config, f"correspondents/{slug}/feed")
    every = current + [uid for page in archived for uid in page]
    assert len(every) == len(set(every)), "an entry is in two documents"
    rows = store.conn.execute("SELECT uid FROM feed_archive WHERE feed_key = ?", (f"correspondent/{slug}",))
    assert set(every) == {uid for (uid,) in rows}
    assert archived, "no archive page: the feed is too short to test"


def elsewhere(config: Config, tmp: Path) -> Config:
    paths = dataclasses.replace(config.paths, database=tmp / "one.db", output=tmp / "one-public")
    return dataclasses.replace(config, paths=paths)


def test_two_processes_write_and_record_what_one_does(
    many: Config, store: Store, forks: list[object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build(many, store)
    assert forks and forks[0] is not None, "the build did not fork"
    alone = elsewhere(many, tmp_path)
    with Store(alone.paths.database) as one:
        monkeypatch.setattr(pages, "FORK_MIN", 10**9)  # the same build in one process
        build(alone, one)
        assert len(forks) == 1
        assert outputs(many) == outputs(alone)
        assert records(store) == records(one)
    assert len(records(store)) > 40  # the site's, categories' and correspondents' entries
    assert_whole_history(many, store)
    assert_feed_holds_its_records(many, store, "ana-ruiz")
    assert_feed_holds_its_records(many, store, "bo-lind")


def test_a_failed_child_leaves_its_share_to_this_process(
    many: Config, store: Store, forks: list[object], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def fail(*args: object) -> object:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pages, "_walk_apart", fail)  # what the forked child runs
    with caplog.at_level(logging.WARNING):
        report = build(many, store)
    assert forks and forks[0] is not None
    assert "the second feed writer stopped (RuntimeError: disk on fire)" in caplog.text
    assert any(path.startswith("correspondents/bo-lind/") for path in report.feeds_written)
    assert_feed_holds_its_records(many, store, "ana-ruiz")
    assert_feed_holds_its_records(many, store, "bo-lind")


def test_progress_counts_both_shares_to_the_end(many: Config, store: Store, forks: list[object]) -> None:
    seen: list[tuple[int, int]] = []
    build(many, store, feed_progress=lambda done, total: seen.append((done, total)))
    assert forks and forks[0] is not None
    totals = {total for _, total in seen}
    assert len(totals) == 1, totals
    done = [d for d, _ in seen]
    assert done == sorted(done)
    # every item of each share, then every feed: the site's, 2 categories', 2 correspondents'
    assert seen[-1] == (40 + 40 + 5, 40 + 40 + 5)


def test_one_core_builds_alone(
    many: Config, store: Store, forks: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(forked, "cores", lambda: 1)  # a second process would only take turns with this one
    build(many, store)
    assert forks == [None]
    assert_whole_history(many, store)
    assert_feed_holds_its_records(many, store, "bo-lind")


def test_a_process_running_another_thread_builds_alone(many: Config, store: Store, forks: list[object]) -> None:
    # A daemon's threads: one could hold a lock at the fork, which the child would never see released.
    release = threading.Event()
    other = threading.Thread(target=release.wait, name="another")
    other.start()
    try:
        build(many, store)
    finally:
        release.set()
        other.join()
    assert forks == [None]
    assert_whole_history(many, store)
    assert_feed_holds_its_records(many, store, "bo-lind")


def _exited(pid: int) -> bool:
    """Whether the process ``pid`` has ended (a zombie until its parent reaps it)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        return f.read().rpartition(")")[2].split()[0] == "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_child_nobody_asks_for_progress_keeps_it_and_finishes_alone() -> None:
    # 100,000 counts are megabytes of messages: sent, they would fill the pipe and hold the child there until
    # its result is read. Untold, it finishes while the parent is still busy with its own share.
    def work(progress: forked.Progress) -> str:
        for n in range(100_000):
            progress(n, 100_000)
        return "made"

    child = forked.start(work, told=False)
    assert child is not None
    assert child.counts() == (0, 0)  # nothing to wait for
    pid = child._pid
    assert pid is not None
    deadline = time.monotonic() + 30
    while not _exited(pid):
        assert time.monotonic() < deadline, "the child waits on its pipe"
        time.sleep(0.01)
    assert child.result() == "made"
    assert child.counts() == (0, 0)
