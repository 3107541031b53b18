"""The content tables: ``items``, ``sections``, ``correspondents``, ``sources``, ``item_categories`` and ``meta``.

Every statement on these tables is here, behind a named function. The rules that decide what goes in them
(ids, URLs, hashes, sections' stamps, rendering) are in :mod:`publisher.content.catalog`; the scanner's file
bookkeeping is in :mod:`publisher.content.scanner`. These functions run inside the caller's transaction
unless they say otherwise.

Rows come back as plain tuples in the column order named by each function: the catalog turns them into
:class:`~publisher.models.Item` objects, and the scanner reads thousands of them per scan.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

# The reads a walk made ahead also makes, in a process of its own: written once, in the light module.
from publisher.store.ahead import RULES_META as RULES_META
from publisher.store.ahead import meta_on, stamps_on

if TYPE_CHECKING:
    from publisher.models import Correspondent
    from publisher.store.db import Store

Row = tuple[Any, ...]

# SQLite's default limit on host parameters is 32766 (999 before 3.32); lists of keys are sent in chunks.
_CHUNK = 500


def _marks(count: int) -> str:
    return ",".join("?" * count)


# -- meta -----------------------------------------------------------------------------------------------------


def change_marks(store: Store) -> tuple[int, int]:
    """Marks that move when the file is written: SQLite's ``data_version`` (by another connection) and the
    rows this connection has changed since it opened."""
    return int(store.conn.execute("PRAGMA data_version").fetchone()[0]), store.conn.total_changes


def get_meta(store: Store, key: str) -> str | None:
    return meta_on(store.conn, key)


def set_meta(store: Store, key: str, value: str) -> None:
    store.conn.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def settle_roles(store: Store, slugs: Sequence[str]) -> None:
    """Set each correspondent's role to that of their newest section with a role in a published item."""
    for start in range(0, len(slugs), 500):
        chunk = list(slugs[start : start + 500])
        # Newest items first (items_newest holds all it needs), stopping at the first section of theirs that
        # names a role: a few index steps for anyone who writes often, where going through their own
        # sections would read every item they ever wrote (CROSS JOIN and + keep SQLite to that order).
        store.conn.execute(
            "UPDATE correspondents SET role = COALESCE((SELECT s.role FROM items i CROSS JOIN sections s"
            " ON s.item_key = i.key WHERE +s.correspondent_slug = correspondents.slug AND s.role != ''"
            " AND i.deleted_at IS NULL ORDER BY i.published DESC, i.key DESC, s.position DESC LIMIT 1), '')"
            f" WHERE slug IN ({_marks(len(chunk))})",
            chunk,
        )


def published_sources_ending(store: Store, suffix: str) -> list[str]:
    """Source paths of published items whose file name ends with ``suffix`` (".pdf"), ASCII case aside."""
    # LIKE already ignores ASCII case; lower() on every path took three times as long (every build asks).
    return [
        str(path)
        for (path,) in store.conn.execute(
            "SELECT source_path FROM items WHERE deleted_at IS NULL AND source_path LIKE ? ORDER BY 1",
            (f"%{suffix}",),
        )
    ]


def has_uid_prefix(store: Store, prefix: str) -> bool:
    # A range on the unique index of uid (asked at every build): no scan of the items.
    return bool(
        store.scalar("SELECT EXISTS (SELECT 1 FROM items WHERE uid >= ? AND uid < ?)", (prefix, prefix + "\U0010ffff"))
    )


def rename_uid_authority(store: Store, old_prefix: str, new_prefix: str) -> None:
    """Give every item id that starts with ``old_prefix`` the ``new_prefix`` instead (provisional ids only)."""
    store.conn.execute(
        "UPDATE items SET uid = ? || substr(uid, ?) WHERE substr(uid, 1, ?) = ?",
        (new_prefix, len(old_prefix) + 1, len(old_prefix), old_prefix),
    )


# -- sources: the files of the content folder as last scanned ---------------------------------------------------


@dataclass(frozen=True)
class SourceRecord:
    path: str
    size: int
    mtime_ns: int
    sha256: str
    item_key: str | None
    status: str  # ok | draft | skipped
    reason: str


_SOURCE_COLUMNS = "SELECT path, size, mtime_ns, sha256, item_key, status, reason FROM sources"


def sources(store: Store, paths: Iterable[str] | None = None) -> dict[str, SourceRecord]:
    """The recorded sources by path: all of them, or those among ``paths``."""
    if paths is None:
        rows = store.conn.execute(_SOURCE_COLUMNS).fetchall()
    else:
        wanted = sorted(set(paths))
        rows = []
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            rows += store.conn.execute(f"{_SOURCE_COLUMNS} WHERE path IN ({_marks(len(chunk))})", chunk).fetchall()
    return {row[0]: SourceRecord(*row) for row in rows}


def source_stamps(store: Store, duplicate_prefix: str) -> dict[str, tuple[int, int, bool]]:
    """path → (size, mtime_ns, skipped as a duplicate: its reason starts with ``duplicate_prefix``) of every
    recorded source: what a walk compares each file with, lighter than :func:`sources`."""
    return stamps_on(store.conn, duplicate_prefix)


def skipped_sources_like(store: Store, reason_prefix: str) -> dict[str, SourceRecord]:
    """The skipped sources whose reason starts with ``reason_prefix`` (followed by a space)."""
    rows = store.conn.execute(
        f"{_SOURCE_COLUMNS} WHERE status = 'skipped' AND reason LIKE ?", (reason_prefix + " %",)
    ).fetchall()
    return {row[0]: SourceRecord(*row) for row in rows}


def restamp_source(store: Store, path: str, size: int, mtime_ns: int) -> None:
    """A file touched but not changed: only its size and mtime move."""
    store.conn.execute("UPDATE sources SET size = ?, mtime_ns = ? WHERE path = ?", (size, mtime_ns, path))


def save_source(
    store: Store,
    path: str,
    *,
    size: int,
    mtime_ns: int,
    sha256: str,
    item_key: str | None,
    status: str,
    reason: str,
    scanned_at: str,
) -> None:
    store.conn.execute(_SAVE_SOURCE, (path, size, mtime_ns, sha256, item_key, status, reason, scanned_at))


_SAVE_SOURCE = (
    "INSERT INTO sources(path, size, mtime_ns, sha256, item_key, status, reason, scanned_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,"
    " sha256 = excluded.sha256, item_key = excluded.item_key, status = excluded.status,"
    " reason = excluded.reason, scanned_at = excluded.scanned_at"
)


def save_sources(store: Store, rows: Iterable[tuple[str, int, int, str, str | None, str, str, str]]) -> None:
    """:func:`save_source` for many files at once: ``rows`` of (path, size, mtime_ns, sha256, item_key, status,
    reason, scanned_at)."""
    store.conn.executemany(_SAVE_SOURCE, rows)


@contextmanager
def bulk_writes(store: Store, files: int) -> Iterator[None]:
    """Many write transactions in a row, for ``files`` files (a cold scan's batches): the write-ahead log is
    copied into the database every few tens of megabytes instead of every thousand pages (4 MB), since each
    copy waits for two syncs of the disk. Back to SQLite's default after."""
    if files < _BULK_FILES:
        yield
        return
    store.autocheckpoint(_BULK_CHECKPOINT_PAGES)
    try:
        yield
    finally:
        store.autocheckpoint()


_BULK_FILES = 1000
_BULK_CHECKPOINT_PAGES = 10_000


def delete_source(store: Store, path: str) -> None:
    store.conn.execute("DELETE FROM sources WHERE path = ?", (path,))


def skipped_sources(store: Store) -> list[tuple[str, str]]:
    """(path, reason) of every file currently skipped, by path."""
    # "+path": sorting the few skipped rows, found by the partial index sources_skipped, not walking every row
    # in path order to find them (7 ms at 10,000 files, asked by every build command).
    return [
        (str(path), str(reason))
        for path, reason in store.conn.execute(
            "SELECT path, reason FROM sources WHERE status = 'skipped' ORDER BY +path"
        )
    ]


def count_skipped_sources(store: Store) -> int:
    return int(store.conn.execute("SELECT count(*) FROM sources WHERE status = 'skipped'").fetchone()[0])


# -- correspondents -----------------------------------------------------------------------------------------


def correspondent_rows(store: Store) -> list[tuple[str, str, str]]:
    """(slug, name, role) of every correspondent ever recorded."""
    return [(str(s), str(n), str(r)) for s, n, r in store.conn.execute("SELECT slug, name, role FROM correspondents")]


def upsert_correspondent(store: Store, slug: str, name: str, role: str, first_seen: str) -> None:
    """Record a correspondent, or rename one; an empty ``role`` keeps the role already stored."""
    store.conn.execute(
        "INSERT INTO correspondents(slug, name, role, first_seen) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(slug) DO UPDATE SET name = excluded.name,"
        " role = CASE WHEN excluded.role != '' THEN excluded.role ELSE correspondents.role END",
        (slug, name, role, first_seen),
    )


def published_correspondents(store: Store) -> list[Correspondent]:
    """Every correspondent with at least one section in a published item, by name."""
    rows = store.conn.execute(
        "SELECT c.slug, c.name, c.role FROM correspondents c WHERE EXISTS ("
        " SELECT 1 FROM sections s JOIN items i ON i.key = s.item_key"
        " WHERE s.correspondent_slug = c.slug AND i.deleted_at IS NULL) ORDER BY c.name"
    ).fetchall()
    from publisher.models import Correspondent  # not at import: a command's walk ahead reads stamps only

    return [Correspondent(*row) for row in rows]


def correspondent(store: Store, slug: str) -> Correspondent | None:
    """The correspondent recorded under ``slug``, published or not."""
    from publisher.models import Correspondent

    row = store.conn.execute("SELECT slug, name, role FROM correspondents WHERE slug = ?", (slug,)).fetchone()
    return Correspondent(*row) if row else None


def correspondent_section_counts(store: Store) -> list[tuple[Correspondent, int]]:
    """Each correspondent with sections in published items, by name, with how many sections."""
    rows = store.conn.execute(
        "SELECT c.slug, c.name, c.role, count(s.id) FROM correspondents c"
        " JOIN sections s ON s.correspondent_slug = c.slug JOIN items i ON i.key = s.item_key"
        " WHERE i.deleted_at IS NULL GROUP BY c.slug ORDER BY c.name"
    ).fetchall()
    from publisher.models import Correspondent

    return [(Correspondent(slug, name, role), int(n)) for slug, name, role, n in rows]


def count_correspondents(store: Store) -> int:
    """Every correspondent ever recorded."""
    return int(store.conn.execute("SELECT count(*) FROM correspondents").fetchone()[0])


def has_sections(store: Store, slug: str) -> bool:
    """Whether the correspondent has a section in a published item."""
    return bool(
        store.conn.execute(
            "SELECT EXISTS (SELECT 1 FROM sections s JOIN items i ON i.key = s.item_key"
            " WHERE s.correspondent_slug = ? AND i.deleted_at IS NULL)",
            (slug,),
        ).fetchone()[0]
    )


# -- items: writing -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemState:
    """What the catalog needs to know of a stored item before writing it again."""

    uid: str
    content_hash: str
    first_seen: str
    deleted_at: str | None
    published: str


def item_state(store: Store, key: str) -> ItemState | None:
    row = store.conn.execute(
        "SELECT uid, content_hash, first_seen, deleted_at, published FROM items WHERE key = ?", (key,)
    ).fetchone()
    return ItemState(*row) if row else None


def item_states(store: Store, keys: Sequence[str]) -> dict[str, ItemState]:
    """:func:`item_state` of many keys at once, by key; keys never stored are left out."""
    found: dict[str, ItemState] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = list(keys[start : start + _CHUNK])
        for key, *state in store.conn.execute(
            "SELECT key, uid, content_hash, first_seen, deleted_at, published FROM items"
            f" WHERE key IN ({_marks(len(chunk))})",
            chunk,
        ):
            found[str(key)] = ItemState(*state)
    return found


def item_owner(store: Store, key: str, *, other_than: str) -> str | None:
    """The source path of the published item ``key`` when a file other than ``other_than`` holds it."""
    row = store.conn.execute(
        "SELECT source_path FROM items WHERE key = ? AND deleted_at IS NULL AND source_path != ?", (key, other_than)
    ).fetchone()
    return str(row[0]) if row else None


@dataclass(frozen=True)
class ItemRecord:
    """One row of ``items`` as written; the JSON lists and times are already text."""

    key: str
    uid: str
    source_path: str
    slug: str
    url_path: str
    title: str
    published: str
    updated: str
    authors: str  # JSON list of correspondent slugs
    categories: str  # JSON list
    tags: str  # JSON list
    summary: str
    image: str | None
    body_format: str
    content_hash: str
    first_seen: str
    html: str | None = None  # the article's HTML, kept for items of several sections once a feed made it

    def row(self) -> tuple[str | None, ...]:
        return (
            self.key,
            self.uid,
            self.source_path,
            self.slug,
            self.url_path,
            self.title,
            self.published,
            self.updated,
            self.authors,
            self.categories,
            self.tags,
            self.summary,
            self.image,
            self.body_format,
            self.html,
            self.content_hash,
            self.first_seen,
        )


_INSERT_ITEM = (
    "INSERT INTO items(key, uid, source_path, slug, url_path, title, published, updated, authors, categories,"
    " tags, summary, image, body_format, html, content_hash, first_seen, deleted_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)"
)


def upsert_item(store: Store, record: ItemRecord) -> None:
    """Write an item, published again if it was deleted, with its new HTML (None: rendered anew later)."""
    store.conn.execute(
        _INSERT_ITEM + " ON CONFLICT(key) DO UPDATE SET source_path = excluded.source_path, slug = excluded.slug,"
        " url_path = excluded.url_path, title = excluded.title, published = excluded.published,"
        " updated = excluded.updated, authors = excluded.authors, categories = excluded.categories,"
        " tags = excluded.tags, summary = excluded.summary, image = excluded.image,"
        " body_format = excluded.body_format, html = excluded.html,"
        " content_hash = excluded.content_hash, deleted_at = NULL",
        record.row(),
    )


def insert_items(store: Store, records: Iterable[ItemRecord]) -> None:
    """Write items whose keys the store has never held, all in one statement."""
    store.conn.executemany(_INSERT_ITEM, (record.row() for record in records))


def delete_item(store: Store, key: str, at: str) -> None:
    """Take an item out of the feeds: its row stays (soft delete), its categories and tags go."""
    store.conn.execute("UPDATE items SET deleted_at = ? WHERE key = ? AND deleted_at IS NULL", (at, key))
    store.conn.execute("DELETE FROM item_categories WHERE item_key = ?", (key,))


def replace_labels(store: Store, key: str, rows: Iterable[tuple[str, str, str, str]], *, fresh: bool) -> None:
    """Set an item's categories and tags: ``rows`` of (kind, slug, name, published). ``fresh``: it has none."""
    if not fresh:
        store.conn.execute("DELETE FROM item_categories WHERE item_key = ?", (key,))
    store.conn.executemany(_INSERT_LABEL, [(key, *row) for row in rows])


def add_labels(store: Store, rows: Iterable[tuple[str, str, str, str, str]]) -> None:
    """Categories and tags of items that have none yet: ``rows`` of (item key, kind, slug, name, published)."""
    store.conn.executemany(_INSERT_LABEL, rows)


_INSERT_LABEL = "INSERT OR IGNORE INTO item_categories(item_key, kind, value, name, published) VALUES (?, ?, ?, ?, ?)"


def item_labels(store: Store, key: str) -> list[tuple[str, str]]:
    """(kind, slug) of the categories and tags of the stored item ``key``."""
    return [
        (str(k), str(v))
        for k, v in store.conn.execute("SELECT kind, value FROM item_categories WHERE item_key = ?", (key,))
    ]


def item_correspondents(store: Store, key: str) -> list[str]:
    """The slugs of the correspondents with a section in the stored item ``key``."""
    return [
        str(slug)
        for (slug,) in store.conn.execute("SELECT DISTINCT correspondent_slug FROM sections WHERE item_key = ?", (key,))
    ]


def section_stamps(store: Store, key: str) -> list[tuple[int, str, str]]:
    """(id, correspondent slug, recorded_at) of an item's sections, in order."""
    return [
        (int(sid), str(slug), str(recorded))
        for sid, slug, recorded in store.conn.execute(
            "SELECT id, correspondent_slug, recorded_at FROM sections WHERE item_key = ? ORDER BY position", (key,)
        )
    ]


SectionRow = tuple[int | None, int, str, str, str, str, str | None, str]


def replace_sections(store: Store, key: str, rows: Sequence[SectionRow], *, fresh: bool) -> None:
    """Set an item's sections: ``rows`` of (id or None for a new one, position, correspondent slug, role,
    anchor, body, html or None, recorded_at). ``fresh``: the item has no sections yet."""
    if not fresh:
        store.conn.execute("DELETE FROM sections WHERE item_key = ?", (key,))
    # Kept ids first: a new row given the next free id must not take one a kept row is about to claim.
    ordered = sorted(rows, key=lambda row: row[0] is None)
    store.conn.executemany(_INSERT_SECTION, [(sid, key, *rest) for sid, *rest in ordered])


def add_sections(store: Store, rows: Iterable[tuple[str, SectionRow]]) -> None:
    """The sections of items that have none yet, new ones all: ``rows`` of (item key, row as for
    :func:`replace_sections` with id None), given their ids in this order."""
    store.conn.executemany(_INSERT_SECTION, ((sid, key, *rest) for key, (sid, *rest) in rows))


_INSERT_SECTION = (
    "INSERT INTO sections(id, item_key, position, correspondent_slug, role, anchor, body, html, recorded_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def clear_html(store: Store) -> None:
    """Forget every rendered HTML (rendered links are absolute: a new base URL renders everything again)."""
    store.conn.execute("UPDATE items SET html = NULL")
    store.conn.execute("UPDATE sections SET html = NULL")


def save_html(store: Store, sections: Sequence[tuple[str, int]], items: Sequence[tuple[str, str]]) -> None:
    """Keep rendered HTML: ``sections`` of (html, section id), ``items`` of (html, item key)."""
    store.conn.executemany("UPDATE sections SET html = ? WHERE id = ?", sections)
    store.conn.executemany("UPDATE items SET html = ? WHERE key = ?", items)


# -- items: reading -----------------------------------------------------------------------------------------

# The columns of an item row as read, in this order.
ITEM_COLUMNS = (
    "key",
    "uid",
    "url_path",
    "title",
    "published",
    "updated",
    "authors",
    "categories",
    "tags",
    "summary",
    "image",
    "body_format",
    "html",
    "source_path",
)
_ITEMS = f"SELECT {', '.join(ITEM_COLUMNS)} FROM items"

# The columns of a section row as read, in this order.
SECTION_COLUMNS = ("id", "item_key", "position", "correspondent_slug", "role", "anchor", "body", "html", "recorded_at")
# The source text is only read when there is no rendered HTML: it is what the HTML is made from.
_SECTIONS = ", ".join("CASE WHEN html IS NULL THEN body END" if c == "body" else c for c in SECTION_COLUMNS)


def count_items(store: Store) -> int:
    """Published items."""
    return int(store.conn.execute("SELECT count(*) FROM items WHERE deleted_at IS NULL").fetchone()[0])


def newest_item_rows(store: Store, limit: int) -> list[Row]:
    """The newest published items (:data:`ITEM_COLUMNS`)."""
    return store.conn.execute(
        f"{_ITEMS} WHERE deleted_at IS NULL ORDER BY published DESC, key LIMIT ?", (limit,)
    ).fetchall()


def labelled_item_rows(store: Store, kind: str, slug: str, limit: int) -> list[Row]:
    """The newest published items with a category (``kind`` "category") or tag ("tag") of this slug."""
    keys = [
        key
        for (key,) in store.conn.execute(
            "SELECT item_key FROM item_categories WHERE kind = ? AND value = ?"
            " ORDER BY published DESC, item_key LIMIT ?",
            (kind, slug, limit),
        )
    ]
    return store.conn.execute(
        f"{_ITEMS} WHERE key IN ({_marks(len(keys))}) ORDER BY published DESC, key", keys
    ).fetchall()


def correspondent_section_ids(store: Store, slug: str, limit: int) -> list[int]:
    """A correspondent's sections in published items, newest item first."""
    return [
        int(sid)
        for (sid,) in store.conn.execute(
            "SELECT s.id FROM sections s JOIN items i ON i.key = s.item_key"
            " WHERE s.correspondent_slug = ? AND i.deleted_at IS NULL"
            " ORDER BY i.published DESC, i.key, s.position LIMIT ?",
            (slug, limit),
        )
    ]


def item_rows(store: Store, keys: Sequence[str]) -> list[Row]:
    """The published items with these keys (:data:`ITEM_COLUMNS`), in no set order."""
    rows: list[Row] = []
    for start in range(0, len(keys), _CHUNK):
        chunk = list(keys[start : start + _CHUNK])
        rows += store.conn.execute(
            f"{_ITEMS} WHERE deleted_at IS NULL AND key IN ({_marks(len(chunk))})", chunk
        ).fetchall()
    return rows


def item_rows_of_sections(store: Store, ids: Sequence[int]) -> list[Row]:
    """The published items holding the sections with these ids (:data:`ITEM_COLUMNS`), in no set order."""
    if not ids:
        return []
    keys = [
        k
        for (k,) in store.conn.execute(f"SELECT DISTINCT item_key FROM sections WHERE id IN ({_marks(len(ids))})", ids)
    ]
    return store.conn.execute(f"{_ITEMS} WHERE deleted_at IS NULL AND key IN ({_marks(len(keys))})", keys).fetchall()


def section_rows(store: Store, keys: Sequence[str]) -> list[Row]:
    """The sections of these items (:data:`SECTION_COLUMNS`), by item key and position."""
    return store.conn.execute(
        f"SELECT {_SECTIONS} FROM sections WHERE item_key IN ({_marks(len(keys))}) ORDER BY item_key, position",
        keys,
    ).fetchall()


def recent_items(store: Store, limit: int, *, correspondent: str | None = None) -> list[tuple[str, str, str]]:
    """(published, key, title) of the newest published items, or of those with a section by ``correspondent``."""
    sql = "SELECT published, key, title FROM items WHERE deleted_at IS NULL"
    params: list[object] = []
    if correspondent:
        sql += " AND key IN (SELECT item_key FROM sections WHERE correspondent_slug = ?)"
        params.append(correspondent)
    rows = store.conn.execute(sql + " ORDER BY published DESC, key LIMIT ?", [*params, limit]).fetchall()
    return [(str(p), str(k), str(t)) for p, k, t in rows]


# -- categories and tags ------------------------------------------------------------------------------------


def labels(store: Store, kind: str) -> list[tuple[str, str]]:
    """(slug, display name) of every category (``kind`` "category") or tag ("tag") in a published item.

    Names that differ only in case or punctuation share a slug; the first in sort order names the feed.
    """
    return [
        (str(v), str(n))
        for v, n in store.conn.execute(
            "SELECT value, min(name) FROM item_categories WHERE kind = ? GROUP BY value ORDER BY value", (kind,)
        )
    ]


def label(store: Store, kind: str, slug: str) -> str | None:
    """The display name of one category or tag, None when no published item carries it."""
    row = store.conn.execute(
        "SELECT min(name) FROM item_categories WHERE kind = ? AND value = ?", (kind, slug)
    ).fetchone()
    return row[0] if row else None


# -- for digests ----------------------------------------------------------------------------------------------


def window_sections(
    store: Store,
    *,
    after: str,
    until: str,
    published_since: str,
    correspondent: str = "",
    category: str = "",
    first_of_shared: bool = False,
) -> list[tuple[int, str, str]]:
    """(section id, correspondent slug, item key) of the sections of published items recorded in the window
    (``after``, ``until``] whose item was published since ``published_since``; only ``correspondent``'s, or
    only those of items in ``category`` (a slug), when given. In reading order. ``first_of_shared``: of the
    sections sharing an anchor (co-authors credited for one text), only the first."""
    sql = (
        "SELECT s.id, s.correspondent_slug, s.item_key FROM sections s JOIN items i ON i.key = s.item_key"
        " WHERE i.deleted_at IS NULL AND s.recorded_at > ? AND s.recorded_at <= ? AND i.published >= ?"
    )
    params: list[object] = [after, until, published_since]
    if correspondent:
        sql += " AND s.correspondent_slug = ?"
        params.append(correspondent)
    elif category:
        sql += " AND s.item_key IN (SELECT item_key FROM item_categories WHERE kind = 'category' AND value = ?)"
        params.append(category)
    if first_of_shared:
        sql += (
            " AND NOT EXISTS (SELECT 1 FROM sections p WHERE p.item_key = s.item_key AND p.anchor = s.anchor"
            " AND p.position < s.position)"
        )
    sql += " ORDER BY i.published, s.item_key, s.position"
    return [(int(a), str(b), str(c)) for a, b, c in store.conn.execute(sql, params).fetchall()]


def category_lists(store: Store, slug: str, limit: int) -> list[str]:
    """The categories (JSON lists, as written) of up to ``limit`` published items in the category ``slug``."""
    return [
        str(raw)
        for (raw,) in store.conn.execute(
            "SELECT categories FROM items WHERE deleted_at IS NULL AND key IN"
            " (SELECT item_key FROM item_categories WHERE kind = 'category' AND value = ?) LIMIT ?",
            (slug, limit),
        )
    ]


def item_category_slugs(store: Store, keys: Sequence[str]) -> dict[str, set[str]]:
    """Item key → the slugs of its categories, for ``keys`` (items without any are left out)."""
    found: dict[str, set[str]] = {}
    ordered = sorted(set(keys))
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        marks = _marks(len(chunk))
        for key, value in store.conn.execute(
            f"SELECT item_key, value FROM item_categories WHERE kind = 'category' AND item_key IN ({marks})", chunk
        ):
            found.setdefault(str(key), set()).add(str(value))
    return found
