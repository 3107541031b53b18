"""The ``feed_archive`` table: which document of which feed holds an entry.

Page 0 is the feed's current document, pages 1, 2, ... its RFC 5005 archive pages (1 the oldest). An entry
gets a row the first time a build puts it in its feed, on page 0; when a page is made its entries move to
it and stay there. Entry listings join the content tables read-only, so an entry that left the feed (its
item deleted, its category removed) is listed nowhere while its row waits for its return. A feed's
current document is read from its page-0 rows plus the entries of the items a scan just changed, without
walking the feed's whole history. Entries come back newest first as ``(uid, item_key, section_id)``:
``section_id`` for correspondent feeds, whose entries are sections, else None.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from publisher.store.db import Store

Entry = tuple[str, str, int | None]
_CHUNK = 500


def _placed(key: str, where: str) -> tuple[str, list[object]]:
    """Like :func:`_listing`, for entries that have a row, read from their rows (through the index on
    feed and page) rather than from the feed's whole history. The index is named: without statistics
    SQLite prefers the primary key, which holds every column but reads every row the feed ever had."""
    kind, _, slug = key.partition("/")
    if kind == "site":
        return (
            "SELECT i.uid, i.key, NULL, i.published, i.key, 0 FROM feed_archive a INDEXED BY feed_archive_page"
            " CROSS JOIN items i ON i.key = a.item_key AND i.uid = a.uid"
            f" WHERE a.feed_key = ? AND i.deleted_at IS NULL AND {where}",
            [key],
        )
    if kind == "correspondent":
        return (
            "SELECT a.uid, i.key, s.id, i.published, i.key, s.position FROM feed_archive a INDEXED BY feed_archive_page"
            " CROSS JOIN items i ON i.key = a.item_key"
            " CROSS JOIN sections s ON s.item_key = i.key AND a.uid = i.uid || '#' || s.anchor"
            f" WHERE a.feed_key = ? AND s.correspondent_slug = ? AND i.deleted_at IS NULL AND {where}",
            [key, slug],
        )
    return (
        "SELECT i.uid, i.key, NULL, i.published, i.key, 0 FROM feed_archive a INDEXED BY feed_archive_page"
        " CROSS JOIN items i ON i.key = a.item_key AND i.uid = a.uid"
        " CROSS JOIN item_categories c ON c.item_key = i.key"
        f" WHERE a.feed_key = ? AND c.kind = ? AND c.value = ? AND i.deleted_at IS NULL AND {where}",
        [key, kind, slug],
    )


def _listing(key: str, where: str, *, by_items: bool = False) -> tuple[str, list[object]]:
    """SQL and leading parameters listing the published entries of feed ``key`` that meet ``where`` (a
    condition on ``a``, the entry's row in this table, and ``i``, its item); each row is
    ``(uid, item_key, section_id, published, key, position)``. ``by_items``: ``where`` names the items
    (``i.key IN (...)``), which then lead the search."""
    kind, _, slug = key.partition("/")
    if kind == "site":
        return (
            "SELECT i.uid, i.key, NULL, i.published, i.key, 0 FROM items i"
            " LEFT JOIN feed_archive a ON a.feed_key = ? AND a.uid = i.uid"
            f" WHERE i.deleted_at IS NULL AND {where}",
            [key],
        )
    if kind == "correspondent":
        return (
            "SELECT i.uid || '#' || s.anchor, i.key, s.id, i.published, i.key, s.position"
            " FROM sections s JOIN items i ON i.key = s.item_key"
            " LEFT JOIN feed_archive a ON a.feed_key = ? AND a.uid = i.uid || '#' || s.anchor"
            # Given the items, their sections are found by item ("+": not through the correspondent's index,
            # which SQLite otherwise walks whole for each item: 2.9 ms against 0.5 at 10,000 posts).
            f" WHERE {'+' if by_items else ''}s.correspondent_slug = ? AND i.deleted_at IS NULL AND {where}",
            [key, slug],
        )
    return (
        "SELECT i.uid, i.key, NULL, i.published, i.key, 0 FROM item_categories c JOIN items i ON i.key = c.item_key"
        " LEFT JOIN feed_archive a ON a.feed_key = ? AND a.uid = i.uid"
        f" WHERE c.kind = ? AND c.value = ? AND i.deleted_at IS NULL AND {where}",
        [key, kind, slug],
    )


# The order of every listing, for SQL that lists in one statement: newest first, ties by key then position
# (text compares as in Python: UTF-8 bytes sort as code points).
_ORDER = " ORDER BY 4 DESC, 5, 6"


def _newest_first(rows: Iterable[tuple[Any, ...]], *, ordered: bool = False) -> list[Entry]:
    """``rows`` newest first (already so when ``ordered``: listed with :data:`_ORDER`), each entry once."""
    if not ordered:
        rows = sorted(rows, key=lambda r: (r[4], r[5]))  # key, then position: ties of published keep this
        rows.sort(key=lambda r: r[3], reverse=True)
    seen: set[str] = set()
    out: list[Entry] = []
    for uid, item, sid, *_ in rows:
        if uid not in seen:
            seen.add(uid)
            out.append((uid, item, sid))
    return out


def unplaced_entries(store: Store, key: str) -> list[Entry]:
    """The published entries of feed ``key`` that have no row yet or are on page 0, newest first: the whole
    history is walked (a full build)."""
    sql, params = _listing(key, "(a.uid IS NULL OR a.page = 0)")
    return _newest_first(store.conn.execute(sql + _ORDER, params), ordered=True)


def current_entries(store: Store, key: str, item_keys: Iterable[str]) -> list[Entry]:
    """The published entries of feed ``key`` on page 0, and those of ``item_keys`` that have no row yet,
    newest first (an incremental build: ``item_keys`` are the items the scan added or changed)."""
    sql, params = _placed(key, "a.page = 0")
    rows = store.conn.execute(sql, params).fetchall()
    keys = sorted(set(item_keys))
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        sql, params = _listing(key, f"a.uid IS NULL AND i.key IN ({','.join('?' * len(chunk))})", by_items=True)
        rows += store.conn.execute(sql, [*params, *chunk]).fetchall()
    return _newest_first(rows)


def oldest_first(store: Store) -> list[str]:
    """The keys of every published item, oldest first: the reverse of the order every listing here gives
    (newest ``published`` first, ties by key), so a walk in this order meets each feed's entries oldest first."""
    rows = store.conn.execute("SELECT key FROM items WHERE deleted_at IS NULL ORDER BY published DESC, key").fetchall()
    return [str(key) for (key,) in reversed(rows)]


def keep_current(store: Store, key: str, entries: Sequence[Entry]) -> None:
    """Record ``entries`` as on page 0 of feed ``key`` (those already recorded keep their page)."""
    store.conn.executemany(
        "INSERT OR IGNORE INTO feed_archive(feed_key, uid, item_key, page) VALUES (?, ?, ?, 0)",
        [(key, uid, item) for uid, item, _ in entries],
    )


def page_entries(store: Store, key: str, page: int) -> list[Entry]:
    """The published entries of feed ``key`` on archive page ``page``, newest first."""
    sql, params = _placed(key, "a.page = ?")
    return _newest_first(store.conn.execute(sql + _ORDER, [*params, page]), ordered=True)


def recorded(store: Store, key: str) -> bool:
    """Whether any entry of feed ``key`` has a row (false for a feed never built, or built before rows)."""
    return store.conn.execute("SELECT 1 FROM feed_archive WHERE feed_key = ? LIMIT 1", (key,)).fetchone() is not None


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
                f"SELECT DISTINCT page FROM feed_archive WHERE feed_key = ? AND page > 0 AND item_key IN ({marks})",
                [key, *chunk],
            )
        )
    return pages


def add_page(store: Store, key: str, page: int, entries: Sequence[Entry]) -> None:
    """Record archive page ``page`` of feed ``key`` as holding ``entries``."""
    store.conn.executemany(
        "INSERT INTO feed_archive(feed_key, uid, item_key, page) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(feed_key, uid) DO UPDATE SET page = excluded.page",
        [(key, uid, item, page) for uid, item, _ in entries],
    )


def forget(store: Store, key: str) -> int:
    """Drop feed ``key``'s pages (the feed is gone); returns how many pages it had."""
    pages = last_page(store, key)
    store.conn.execute("DELETE FROM feed_archive WHERE feed_key = ?", (key,))
    return pages
