"""A cold scan reads and parses in worker processes; the store ends up exactly as a scan in one process
leaves it, bad files included."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from publisher import processes
from publisher.config import Config
from publisher.content import catalog, scanner, workers
from publisher.content.scanner import scan
from publisher.store import Store
from publisher.store import content as db
from tests.content.test_scanner import POST, put

FILES = workers.POOL_MIN + 30


def _fill(config: Config) -> None:
    for i in range(FILES):
        put(config, f"posts/{i:04d}.md", POST.format(title=f"Harbour week {i}").replace("06:15", f"06:{i % 60:02d}"))
    put(config, "posts/broken.md", "---\ntitle: [unclosed\n---\nbody\n")
    put(config, "posts/binary.md", b"\xff\xfe\x00garbage")


def _snapshot(store: Store) -> list[tuple[object, ...]]:
    items = store.conn.execute(
        "SELECT key, title, published, authors, categories, tags, content_hash FROM items ORDER BY key"
    ).fetchall()
    sections = store.conn.execute(
        "SELECT item_key, position, correspondent_slug, anchor, body FROM sections ORDER BY item_key, position"
    ).fetchall()
    sources = store.conn.execute("SELECT path, sha256, item_key, status, reason FROM sources ORDER BY path").fetchall()
    return [*items, *sections, *sources]


def test_pool_and_single_process_scans_record_the_same(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(config)
    monkeypatch.setenv("PUBLISHER_SCAN_WORKERS", "2")
    assert scanner.pool_size() == 2
    with Store(tmp_path / "pool.db") as pooled:
        report = scan(config, pooled)
        assert len(report.added) == FILES
        assert set(report.skipped) == {"posts/broken.md", "posts/binary.md"}
        pooled_rows = _snapshot(pooled)
    monkeypatch.setenv("PUBLISHER_SCAN_WORKERS", "0")
    with Store(tmp_path / "single.db") as single:
        scan(config, single)
        single_rows = _snapshot(single)
    assert pooled_rows == single_rows
    assert len(pooled_rows) > FILES * 3


def test_results_come_back_in_order_from_several_workers(config: Config) -> None:
    _fill(config)
    cands = list(scanner._walk(config.paths.content, config, Counter()))
    loaded = list(scanner._load_all(cands, config.content.max_file_size, config.site.tz, "Desk", workers=2))
    assert [x.cand.relpath for x in loaded] == [c.relpath for c in cands]
    assert sum(1 for x in loaded if x.parsed is not None) == FILES


LINKS = """---
title: "Links"
date: 2026-03-03T08:00:00
author: "Newsdesk"
---

See [the port](../port/) and ![the crane](crane.jpg).<script>alert(1)</script>
"""


def _html(store: Store) -> tuple[dict[str, str | None], dict[int, str | None]]:
    items = dict(store.conn.execute("SELECT key, html FROM items").fetchall())
    sections = dict(store.conn.execute("SELECT id, html FROM sections").fetchall())
    return items, sections


def test_html_rendered_by_the_workers_is_what_the_feeds_would_render(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(config)
    put(config, "posts/links.md", LINKS)
    monkeypatch.setenv("PUBLISHER_SCAN_WORKERS", "2")
    with Store(config.paths.database) as store:
        scan(config, store)
        items, sections = _html(store)
        assert None not in sections.values()
        ctx = catalog.Context.load(config, store)
        read = {key: item.html for key, item in catalog.items_by_keys(store, ctx, list(items)).items()}
        link = read["posts/links"]
        assert "<script" not in link
        # Links resolved against the page's own URL, as a feed reader has no base to resolve them with.
        assert 'href="https://news.example.org/2026/03/03/port/"' in link
        assert 'src="https://news.example.org/2026/03/03/links/crane.jpg"' in link
        # An item of one section keeps no HTML of its own (it is its section's, in an element, made when
        # read); items of several get their bylines when a feed reads them (names as stored then).
        assert items["posts/links"] is None and items["posts/0000"] is None
        db.clear_html(store)
        ctx = catalog.Context.load(config, store)
        lazy = {key: item.html for key, item in catalog.items_by_keys(store, ctx, list(items)).items()}
        _, lazy_sections = _html(store)
    assert lazy_sections == sections
    assert lazy == read


def test_a_batch_that_cannot_be_written_is_written_file_by_file(
    config: Config, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _fill(config)
    monkeypatch.setenv("PUBLISHER_SCAN_WORKERS", "0")
    with Store(config.paths.database) as store:
        # The database itself refuses one row: the batch holding it fails, and only that file is skipped.
        store.conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON items WHEN NEW.key = 'posts/0007'"
            " BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END"
        )
        report = scan(config, store)
        assert len(report.added) == FILES - 1
        assert "posts/0007" not in report.added
        assert "refused by a trigger" in report.skipped["posts/0007.md"]
        assert set(report.skipped) == {"posts/0007.md", "posts/broken.md", "posts/binary.md"}
        stored = {k for (k,) in store.conn.execute("SELECT key FROM items WHERE deleted_at IS NULL")}
        assert len(stored) == FILES - 1
        assert store.conn.execute("SELECT count(*) FROM sections").fetchone()[0] == 3 * (FILES - 1)
    assert "recording them one by one" in caplog.text


def test_when_the_workers_fail_the_files_are_read_in_the_writer(
    config: Config, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _fill(config)
    cands = list(scanner._walk(config.paths.content, config, Counter()))
    # Worker processes that exit at once, without a word (as one killed would).
    monkeypatch.setattr(sys, "executable", shutil.which("false") or "/bin/false")
    loaded = list(scanner._load_all(cands, config.content.max_file_size, config.site.tz, "Desk", workers=2))
    assert [x.cand.relpath for x in loaded] == [c.relpath for c in cands]
    assert sum(1 for x in loaded if x.parsed is not None) == FILES
    assert "reading the remaining files in this process" in caplog.text


def test_write_batches_close_at_a_count_of_files_or_an_amount_of_text() -> None:
    from datetime import UTC, datetime

    from publisher.content.loading import Loaded, Rendered
    from publisher.content.walk import Candidate
    from publisher.models import ParsedItem

    def loaded(i: int, chars: int) -> Loaded:
        body = "x" * chars
        parsed = ParsedItem(
            f"p/{i}.md", f"p/{i}", str(i), "T", datetime(2026, 1, 1, tzinfo=UTC), None, ("A",), body=body
        )
        return Loaded(
            Candidate(f"p/{i}.md", f"/c/p/{i}.md", chars, 0),
            parsed=parsed,
            rendered=Rendered("https://example.org/", (f"<p>{body}</p>",)),
        )

    # Short posts: batches of the count; long ones close as soon as their text (source and HTML) reaches
    # the bound, and a post longer than the bound is a batch alone; nothing is lost or reordered.
    short = [loaded(i, 10) for i in range(7)]
    assert [len(b) for b in scanner._batches(short, 3, 10_000)] == [3, 3, 1]
    long = [loaded(i, 300) for i in range(5)]  # 300 + 307 characters each
    batches = list(scanner._batches(long, 100, 1_000))
    assert [len(b) for b in batches] == [2, 2, 1]
    assert [x for b in batches for x in b] == long
    assert [len(b) for b in scanner._batches([loaded(0, 5_000), *short[:2]], 100, 1_000)] == [1, 2]


# How the command line starts its workers: fresh interpreters, or forks of itself. The fork is chosen by hand
# both ways: this test's process runs the file writers' idle threads (which a forked reader never touches),
# and may_fork would refuse it for them.
STARTS = [
    pytest.param(False, id="spawned"),
    pytest.param(True, id="forked", marks=pytest.mark.skipif(not hasattr(os, "fork"), reason="forks")),
]


def _started_early(monkeypatch: pytest.MonkeyPatch, fork: bool) -> list[workers.Worker]:
    monkeypatch.setattr(workers, "may_fork", lambda: fork)
    workers.start_early(2)
    spares = list(workers._spare)
    assert len(spares) == 2
    assert all(isinstance(proc, workers.Forked if fork else subprocess.Popen) for proc in spares)
    return spares


@pytest.mark.parametrize("fork", STARTS)
def test_a_cold_scan_takes_the_workers_started_with_the_command_line(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fork: bool
) -> None:
    """publisher.cli starts a first build's workers before it loads its own code; the scan takes those, and
    records what a scan in one process records."""
    _fill(config)
    monkeypatch.setenv("PUBLISHER_SCAN_WORKERS", "2")
    spares = _started_early(monkeypatch, fork)
    with Store(tmp_path / "pool.db") as pooled:
        report = scan(config, pooled)
        pooled_rows = _snapshot(pooled)
    assert workers._spare == []
    assert all(proc.returncode is not None for proc in spares)  # taken, then reaped by the scan
    assert len(report.added) == FILES
    monkeypatch.setenv("PUBLISHER_SCAN_WORKERS", "0")
    with Store(tmp_path / "single.db") as single:
        scan(config, single)
        assert _snapshot(single) == pooled_rows


@pytest.mark.parametrize("fork", STARTS)
def test_workers_started_early_and_never_taken_are_stopped(monkeypatch: pytest.MonkeyPatch, fork: bool) -> None:
    spares = _started_early(monkeypatch, fork)
    workers.stop_spares()  # what the exit handler runs
    assert workers._spare == []
    assert all(proc.returncode is not None for proc in spares)


def test_no_fork_beside_another_thread() -> None:
    assert processes.may_fork(besides=lambda thread: True)
    release = threading.Event()
    other = threading.Thread(target=release.wait, name="another")
    other.start()
    try:
        assert not processes.may_fork(besides=lambda thread: thread.name != "another")
        assert processes.may_fork(besides=lambda thread: True)
    finally:
        release.set()
        other.join()


def test_enough_files_counts_content_files_outside_hidden_folders(tmp_path: Path) -> None:
    for name in ("a.md", "b/c.MD", "b/d/e.txt", ".git/f.md", "b/.drafts/g.md", "h.jpg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x", encoding="utf-8")
    assert workers.enough_files(tmp_path, (".md", ".txt"), at_least=3)
    assert not workers.enough_files(tmp_path, (".md", ".txt"), at_least=4)
    assert not workers.enough_files(tmp_path / "missing", (".md",), at_least=1)


def test_workers_that_cannot_all_start_leave_none_behind(config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that cannot start (no processes left): the ones taken are stopped, and the scan reads the files
    in its own process."""
    workers.start_early(1)
    spare = workers._spare[0]

    def cannot(*_: object) -> None:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(workers, "_spawn", cannot)
    with pytest.raises(OSError):
        workers.take(2)
    assert spare.returncode is not None and workers._spare == []
    _fill(config)
    monkeypatch.setenv("PUBLISHER_SCAN_WORKERS", "2")
    with Store(config.paths.database) as store:
        report = scan(config, store)
    assert len(report.added) == FILES
