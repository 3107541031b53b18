"""A cold scan reads and parses in worker processes; the store ends up exactly as a scan in one process
leaves it, bad files included."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from publisher.config import Config
from publisher.content import scanner
from publisher.content.scanner import scan
from publisher.store import Store
from tests.content.test_scanner import POST, put

FILES = scanner._POOL_MIN + 30


def _fill(config: Config) -> None:
    for i in range(FILES):
        put(config, f"posts/{i:04d}.md", POST.format(title=f"Harbour week {i}").replace("06:15", f"06:{i % 60:02d}"))
    put(config, "posts/broken.md", "---\ntitle: [unclosed\n---\nbody\n")
    put(config, "posts/binary.md", b"\xff\xfe\x00garbage")


def _snapshot(store: Store) -> list[tuple[object, ...]]:
    items = store.conn.execute(
        "SELECT key, title, published, authors, categories, tags, body FROM items ORDER BY key"
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
