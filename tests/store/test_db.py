"""The store file: numbered migrations move existing stores forward, in whole steps, without losing rows."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from publisher.errors import StoreError
from publisher.store import db
from publisher.store.db import MIGRATIONS, Store

# The steps already shipped: stores in the field ran exactly these. A step is never edited once on main;
# a change of schema is a new step at the end (and its hash joins this list when it ships).
SHIPPED = (
    "018bde369b56c61e7287445f144755123219df73e20839803fb31b49847873f1",  # 1: content
    "e0be6c55e9aeb01ede1ae2d22f3aab59732a328426f3fa39efd66a6487bbb34a",  # 2: subscribers, digests, outbox
    "e0c3efa606951dbe2135ecc3e798ad4f90248889a46fdb0ca161acef0d7c11ae",  # 3: item_categories by item, names
    "216c6d63dfa3d961d9e98ee156b924f7686be1919cb94ab4306ee22065e90e49",  # 4: delivery record, inbound mail
)


def _old_store(path: Path, version: int) -> None:
    """A store as an older publisher left it: the first ``version`` steps, run by hand."""
    conn = sqlite3.connect(path, isolation_level=None)
    for step in MIGRATIONS[:version]:
        assert isinstance(step, str)
        for statement in db._statements(step):
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.close()


def _schema(path: Path) -> dict[str, object]:
    """Every table's columns and indexes, as sqlite-utils reads them."""
    database = sqlite_utils.Database(path)
    try:
        return {
            t.name: (
                [(c.name, c.type, c.notnull, c.default_value, c.is_pk) for c in t.columns],
                sorted((i.name, tuple(i.columns), i.unique) for i in t.indexes),
                sorted((f.column, f.other_table, f.other_column) for f in t.foreign_keys),
            )
            for t in database.tables
        }
    finally:
        database.close()


def test_shipped_steps_are_unchanged() -> None:
    for number, (step, expected) in enumerate(zip(MIGRATIONS, SHIPPED, strict=False), start=1):
        text = step if isinstance(step, str) else step.__name__
        assert hashlib.sha256(text.encode()).hexdigest() == expected, f"migration {number} was edited"


@pytest.mark.parametrize("version", [1, 2, 3])
def test_an_old_store_moves_forward_and_keeps_its_rows(tmp_path: Path, version: int) -> None:
    old, fresh = tmp_path / "old.sqlite", tmp_path / "fresh.sqlite"
    _old_store(old, version)
    conn = sqlite3.connect(old, isolation_level=None)
    conn.execute("INSERT INTO meta(key, value) VALUES ('id_authority', 'example.org')")
    conn.execute("INSERT INTO correspondents(slug, name, first_seen) VALUES ('ana', 'Ana', '2026-01-01')")
    conn.close()

    with Store(old) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert store.get_meta("id_authority") == "example.org"
        assert store.scalar("SELECT name FROM correspondents WHERE slug = 'ana'") == "Ana"
        assert store.scalar("PRAGMA foreign_keys") == 1
    Store(fresh).close()
    assert _schema(old) == _schema(fresh)


def test_a_newer_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    Store(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this publisher"):
        Store(path)


def _subscriber_following_all(store: Store) -> None:
    store.conn.execute(
        "INSERT INTO subscribers(id, email, status, created_at, updated_at)"
        " VALUES (7, 'a@x.org', 'confirmed', 't', 't')"
    )
    store.conn.execute("INSERT INTO follows(subscriber_id, kind, value) VALUES (7, 'all', '')")


def _nameless_subscribers_are_anonymous(database: sqlite_utils.Database) -> None:
    """A step written with sqlite-utils: a new default, which ALTER TABLE cannot give an existing column."""
    database.table("subscribers").transform(defaults={"name": "anonymous"})


def test_a_sqlite_utils_step_rebuilds_a_table_without_losing_the_rows_pointing_at_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "store.sqlite"
    with Store(path) as store:
        _subscriber_following_all(store)
    monkeypatch.setattr(db, "MIGRATIONS", (*MIGRATIONS, _nameless_subscribers_are_anonymous))

    with Store(path) as store:
        assert store.schema_version == len(MIGRATIONS) + 1
        # The rebuild dropped the old table: with foreign keys on, ON DELETE CASCADE would have taken these.
        assert [tuple(r) for r in store.query("SELECT subscriber_id, kind FROM follows")] == [(7, "all")]
        store.conn.execute(
            "INSERT INTO subscribers(email, status, created_at, updated_at) VALUES ('b@x.org', 'pending', 't', 't')"
        )
        assert store.scalar("SELECT name FROM subscribers WHERE email = 'b@x.org'") == "anonymous"
        assert store.scalar("PRAGMA foreign_keys") == 1


def test_a_failing_step_leaves_the_store_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "store.sqlite"
    Store(path).close()
    broken = "CREATE TABLE extra (x INTEGER); CREATE TABLE meta (key TEXT)"  # meta exists: the second fails
    monkeypatch.setattr(db, "MIGRATIONS", (*MIGRATIONS, broken))

    with pytest.raises(StoreError, match=f"migration {len(MIGRATIONS) + 1} failed"):
        Store(path)

    monkeypatch.setattr(db, "MIGRATIONS", MIGRATIONS)
    with Store(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert store.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'extra'") == 0


def test_a_step_that_breaks_a_foreign_key_is_undone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "store.sqlite"
    with Store(path) as store:
        _subscriber_following_all(store)
    monkeypatch.setattr(db, "MIGRATIONS", (*MIGRATIONS, "DELETE FROM subscribers WHERE id = 7"))

    with pytest.raises(StoreError, match="breaks foreign keys"):
        Store(path)

    monkeypatch.setattr(db, "MIGRATIONS", MIGRATIONS)
    with Store(path) as store:
        assert store.scalar("SELECT count(*) FROM subscribers") == 1


@pytest.mark.parametrize("step", [db._ITEM_TEXT_KEPT_ONCE, db._item_text_kept_once], ids=["sql", "sqlite-utils"])
def test_the_item_text_and_one_section_html_leave_the_item_row_and_nothing_else_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: db.Migration
) -> None:
    # Step 9 is SQL where SQLite drops columns itself (3.35 and later), a sqlite-utils rebuild before: both
    # leave the same store.
    reference = tmp_path / "reference.sqlite"
    Store(reference).close()
    monkeypatch.setattr(db, "MIGRATIONS", (*MIGRATIONS[:8], step, *MIGRATIONS[9:]))
    path = tmp_path / "v8.sqlite"
    _old_store(path, 8)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("INSERT INTO correspondents(slug, name, first_seen) VALUES ('ana', 'Ana', '2026-01-01')")
    for key, sections in (("k1", 1), ("k2", 2)):
        conn.execute(
            "INSERT INTO items(key, uid, source_path, slug, url_path, title, published, updated, authors,"
            " categories, tags, summary, image, body_format, body, html, content_hash, first_seen, deleted_at)"
            " VALUES (?, ?, 'a.md', 'a', '/a/', 'A', '2026-01-02', '2026-01-03', '[\"ana\"]', '[]', '[]', 'S',"
            " NULL, 'markdown', 'Body text', ?, 'h', '2026-01-02', NULL)",
            (key, f"tag:x,2026:{key}", f"<article>{key}</article>"),
        )
        for position in range(sections):
            conn.execute(
                "INSERT INTO sections(item_key, position, correspondent_slug, role, anchor, body, html,"
                " recorded_at) VALUES (?, ?, 'ana', '', 'a', 'Body text', '<p>Body text</p>', '2026-01-02')",
                (key, position),
            )
    conn.close()
    with Store(path) as store:
        assert "body" not in {c[1] for c in store.conn.execute("PRAGMA table_info(items)")}
        rows = store.conn.execute("SELECT key, uid, title, html, first_seen FROM items ORDER BY key").fetchall()
        assert rows == [
            ("k1", "tag:x,2026:k1", "A", None, "2026-01-02"),  # one section: its HTML is the section's
            ("k2", "tag:x,2026:k2", "A", "<article>k2</article>", "2026-01-02"),
        ]
        assert store.scalar("SELECT count(*) FROM sections WHERE body = 'Body text' AND html IS NOT NULL") == 3
        indexes = dict(
            store.conn.execute("SELECT name, sql FROM sqlite_master WHERE tbl_name = 'items' AND sql LIKE '%WHERE%'")
        )
        assert sorted(indexes) == ["items_newest", "items_published", "items_source"]
        assert all(sql.endswith("WHERE deleted_at IS NULL") for sql in indexes.values())
        assert store.scalar("PRAGMA foreign_key_check") is None
    assert _schema(path) == _schema(reference)
