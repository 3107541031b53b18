"""Reads of the content tables that every build command makes: they find the few rows they want through an
index, at any size of the folder."""

from __future__ import annotations

import pytest

from publisher.store import Store, archives, content


def test_skipped_sources_are_found_through_their_partial_index_and_listed_by_path(store: Store) -> None:
    rows = [(f"posts/p{i:05}.md", 10, 1, "x", f"k{i}", "ok", "", "2026-01-01T00:00:00Z") for i in range(2000)]
    rows += [("b/broken.md", 3, 1, "x", None, "skipped", "bad front matter", "2026-01-01T00:00:00Z")]
    rows += [("a/empty.md", 0, 1, "x", None, "skipped", "empty file", "2026-01-01T00:00:00Z")]
    with store.transaction():
        content.save_sources(store, rows)
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    try:
        assert content.skipped_sources(store) == [("a/empty.md", "empty file"), ("b/broken.md", "bad front matter")]
    finally:
        store.conn.set_trace_callback(None)
    (sql,) = statements
    plan = " ".join(row[3] for row in store.conn.execute("EXPLAIN QUERY PLAN " + sql))
    assert "USING INDEX sources_skipped" in plan, plan  # not every source, walked in path order


def test_stamps_flag_the_files_skipped_as_duplicates_only(store: Store) -> None:
    at = "2026-01-01T00:00:00Z"
    with store.transaction():
        content.save_sources(
            store,
            [
                ("a.md", 10, 111, "x", "k1", "ok", "", at),
                ("b.md", 20, 222, "x", None, "skipped", "duplicate id 'k1': already used by a.md", at),
                ("c.md", 30, 333, "x", None, "skipped", "bad front matter", at),
                ("d.md", 40, 444, "x", None, "draft", "draft: not published", at),
            ],
        )
    expected = {
        "a.md": (10, 111, False),
        "b.md": (20, 222, True),
        "c.md": (30, 333, False),
        "d.md": (40, 444, False),
    }
    assert content.source_stamps(store, "duplicate id") == expected
    with store.transaction():  # inside a transaction too: no snapshot of its own is taken then
        assert content.source_stamps(store, "duplicate id") == expected
    with store.transaction():
        content.delete_source(store, "b.md")
    assert content.source_stamps(store, "duplicate id") == {p: s for p, s in expected.items() if p != "b.md"}


def test_stamps_are_read_from_their_own_index(store: Store) -> None:
    """Every walk reads the stamps of every source: from an index holding them, not from the rows."""
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    try:
        content.source_stamps(store, "duplicate id")
    finally:
        store.conn.set_trace_callback(None)
    (sql,) = [s for s in statements if s.startswith("SELECT path, size, mtime_ns FROM sources")]
    plan = " ".join(row[3] for row in store.conn.execute("EXPLAIN QUERY PLAN " + sql))
    assert "COVERING INDEX sources_stamps" in plan, plan


@pytest.mark.parametrize("items", [["k1"], ["k1", "k2", "k3"]], ids=["one new post", "three"])
def test_a_correspondents_new_entries_are_found_by_their_items(store: Store, items: list[str]) -> None:
    """An incremental build lists a correspondent's feed entries of the few items it changed: their sections
    are found by item, not by walking every section of the correspondent for each item (which SQLite chose
    for one item)."""
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    try:
        archives.current_entries(store, "correspondent/ana-ruiz", items)
    finally:
        store.conn.set_trace_callback(None)
    (sql,) = [s for s in statements if " IN (" in s]
    plan = [row[3] for row in store.conn.execute("EXPLAIN QUERY PLAN " + sql)]
    assert any(step.startswith("SEARCH s ") and "(item_key=?)" in step for step in plan), plan
    assert not any("sections_correspondent" in step for step in plan), plan
