"""The ``feed_archive`` table: which RFC 5005 archive page of which feed holds an entry.

A feed's entries that are not in this table make its current document; a page, once rows are added for
it, keeps them. Entry listings join the content tables read-only, so the current document of a feed is
found with one query whatever the length of its history. Entries come back newest first as
``(uid, item_key, section_id)``: ``section_id`` for correspondent feeds, whose entries are sections, else None.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from publisher.store.db import Store

Entry = tuple[str, str, int | None]
_CHUNK = 500


def _listing(key: str, where: str) -> tuple[str, list[object]]:
    """SQL and leading parameters listing the published entries of feed ``key`` that meet ``where`` (a
    condition on ``a``, the entry's archive row, if any)."""
    kind, _, slug = key.partition("/")
    if kind == "site":
        return (
            "SELECT i.uid, i.key, NULL FROM items i"
            f" LEFT JOIN feed_archive a ON a.feed_key = ? AND a.uid = i.uid"
            f" WHERE i.deleted_at IS NULL AND {where} ORDER BY i.published DESC, i.key",
            [key],
        )
    if kind == "correspondent":
        return (
            "SELECT i.uid || '#' || s.anchor, i.key, s.id FROM sections s JOIN items i ON i.key = s.item_key"
            " LEFT JOIN feed_archive a ON a.feed_key = ? AND a.uid = i.uid || '#' || s.anchor"
            f" WHERE s.correspondent_slug = ? AND i.deleted_at IS NULL AND {where}"
            " ORDER BY i.published DESC, i.key, s.position",
            [key, slug],
        )
    return (
        "SELECT i.uid, i.key, NULL FROM item_categories c JOIN items i ON i.key = c.item_key"
        " LEFT JOIN feed_archive a ON a.feed_key = ? AND a.uid = i.uid"
        f" WHERE c.kind = ? AND c.value = ? AND i.deleted_at IS NULL AND {where}"
        " ORDER BY i.published DESC, i.key",
        [key, kind, slug],
    )


def current_entries(store: Store, key: str) -> list[Entry]:
    """The published entries of feed ``key`` on no archive page, newest first."""
    sql, params = _listing(key, "a.uid IS NULL")
    return [(uid, item, sid) for uid, item, sid in store.conn.execute(sql, params)]


def page_entries(store: Store, key: str, page: int) -> list[Entry]:
    """The published entries of feed ``key`` on archive page ``page``, newest first."""
    sql, params = _listing(key, "a.page = ?")
    return [(uid, item, sid) for uid, item, sid in store.conn.execute(sql, [*params, page])]


def last_page(store: Store, key: str) -> int:
    """The number of archive pages of feed ``key`` (0: none yet)."""
    row = store.conn.execute("SELECT max(page) FROM feed_archive WHERE feed_key = ?", (key,)).fetchone()
    return int(row[0] or 0)


def pages_holding(store: Store, key: str, item_keys: Iterable[str]) -> set[int]:
    """The archive pages of feed ``key`` holding an entry of one of ``item_keys``."""
    keys = sorted(set(item_keys))
    pages: set[int] = set()
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        pages.update(
            int(p)
            for (p,) in store.conn.execute(
                f"SELECT DISTINCT page FROM feed_archive WHERE feed_key = ? AND item_key IN ({marks})", [key, *chunk]
            )
        )
    return pages


def add_page(store: Store, key: str, page: int, entries: Sequence[Entry]) -> None:
    """Record archive page ``page`` of feed ``key`` as holding ``entries``."""
    store.conn.executemany(
        "INSERT INTO feed_archive(feed_key, uid, item_key, page) VALUES (?, ?, ?, ?)",
        [(key, uid, item, page) for uid, item, _ in entries],
    )


def forget(store: Store, key: str) -> int:
    """Drop feed ``key``'s pages (the feed is gone); returns how many pages it had."""
    pages = last_page(store, key)
    store.conn.execute("DELETE FROM feed_archive WHERE feed_key = ?", (key,))
    return pages
