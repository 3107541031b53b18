"""The SQLite file itself: opening it, transactions, the schema and its migrations.

One file, WAL mode. The schema is versioned with ``PRAGMA user_version`` and moved forward by the numbered
steps in :data:`MIGRATIONS`; a store newer than this code refuses to open. Step N takes a store from version
N-1 to N, in one transaction with its version bump, so a store is never left half-migrated.

A step is SQL text (statements separated by ``;``) or a function given the store through sqlite-utils. New
tables and indexes are best written with sqlite-utils (``db.table(name).create(...)``, ``create_index``), and
a change ``ALTER TABLE`` cannot make (a column's type, constraint or default, a dropped column) with
``db.table(name).transform(...)``, which rebuilds the table and copies its rows. Steps run with foreign keys
off, as SQLite's own procedure for schema changes asks, so that rebuilding a table (``subscribers``) does not
fire the ``ON DELETE CASCADE`` of the rows that point at it (``follows``); ``PRAGMA foreign_key_check`` runs
before the commit and a violation undoes the step. The steps already shipped are never edited: a store that
ran them must end up with the same schema as one created today.

Times are stored as ISO-8601 text in UTC (``2026-03-02T06:15:00+00:00``) so they sort as text.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from publisher.errors import StoreError
from publisher.store import content

if TYPE_CHECKING:
    import sqlite_utils

Migration = str | Callable[["sqlite_utils.Database"], None]


# Migration 9: an item's text and HTML are kept once, in its sections. The items table loses its ``body``
# column (never read: sections hold the text HTML is rendered from) and the HTML of items with one section
# (that section's HTML in an element, made when read).
_ONE_SECTION_HTML = (
    "UPDATE items SET html = NULL WHERE html IS NOT NULL AND key NOT IN"
    " (SELECT item_key FROM sections GROUP BY item_key HAVING count(*) > 1)"
)
# SQLite 3.35 and later drop a column themselves, without sqlite-utils (whose import costs a new store a
# seventh of a second).
_ITEM_TEXT_KEPT_ONCE = f"{_ONE_SECTION_HTML}; ALTER TABLE items DROP COLUMN body"


def _item_text_kept_once(db: sqlite_utils.Database) -> None:
    """Migration 9 where SQLite is older than 3.35: the table is rebuilt by sqlite-utils, which will not carry
    partial indexes over a dropped column, so they are dropped first and made again from their own SQL."""
    db.execute(_ONE_SECTION_HTML)
    partial = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'items' AND sql LIKE '% WHERE %'"
        " ORDER BY name"
    ).fetchall()
    for name, _ in partial:
        db.execute(f"DROP INDEX {name}")
    db.table("items").transform(drop={"body"})
    for _, sql in partial:
        db.execute(sql)


MIGRATIONS: tuple[Migration, ...] = (
    # 1: content
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE sources (
        path TEXT PRIMARY KEY,          -- relative to the content folder, POSIX separators
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        item_key TEXT,                  -- NULL when the file gave no published item
        status TEXT NOT NULL,           -- ok | draft | skipped
        reason TEXT NOT NULL DEFAULT '',
        scanned_at TEXT NOT NULL
    );
    CREATE TABLE correspondents (
        slug TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL DEFAULT '',
        first_seen TEXT NOT NULL
    );
    CREATE TABLE items (
        key TEXT PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,       -- tag: URI, given once, never changed
        source_path TEXT NOT NULL,
        slug TEXT NOT NULL,
        url_path TEXT NOT NULL,
        title TEXT NOT NULL,
        published TEXT NOT NULL,
        updated TEXT NOT NULL,
        authors TEXT NOT NULL,          -- JSON list of correspondent slugs
        categories TEXT NOT NULL,       -- JSON list
        tags TEXT NOT NULL,             -- JSON list
        summary TEXT NOT NULL,
        image TEXT,
        body_format TEXT NOT NULL,
        body TEXT NOT NULL,
        html TEXT,                      -- rendered lazily, cleared when the body changes
        content_hash TEXT NOT NULL,     -- of everything the feeds show; equal hash, no rebuild
        first_seen TEXT NOT NULL,
        deleted_at TEXT                 -- the file is gone; kept so its uid is never reused
    );
    CREATE INDEX items_published ON items(published) WHERE deleted_at IS NULL;
    CREATE TABLE sections (
        id INTEGER PRIMARY KEY,
        item_key TEXT NOT NULL REFERENCES items(key),
        position INTEGER NOT NULL,
        correspondent_slug TEXT NOT NULL REFERENCES correspondents(slug),
        role TEXT NOT NULL DEFAULT '',
        anchor TEXT NOT NULL,
        body TEXT NOT NULL,
        html TEXT,
        recorded_at TEXT NOT NULL,
        UNIQUE(item_key, position)
    );
    CREATE INDEX sections_correspondent ON sections(correspondent_slug, recorded_at);
    -- The categories and tags of published items (rows leave with their item).
    CREATE TABLE item_categories (item_key TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL,
                                  PRIMARY KEY (kind, value, item_key));
    """,
    # 2: subscribers, digests, outbox
    """
    CREATE TABLE subscribers (
        id INTEGER PRIMARY KEY,
        email TEXT NOT NULL UNIQUE,     -- normalised
        name TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL,           -- pending | confirmed | unsubscribed | bounced
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        confirmed_at TEXT,
        unsubscribed_at TEXT,
        bounce_count INTEGER NOT NULL DEFAULT 0,
        last_bounce_at TEXT
    );
    CREATE TABLE follows (
        subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,             -- correspondent | category | all
        value TEXT NOT NULL DEFAULT '', -- slug or category name; '' for all
        PRIMARY KEY (subscriber_id, kind, value)
    );
    CREATE INDEX follows_target ON follows(kind, value);
    CREATE TABLE digests (
        id TEXT PRIMARY KEY,            -- stable: scope + period end
        scope TEXT NOT NULL,            -- correspondent:SLUG | category:NAME | all | combined
        period_start TEXT NOT NULL,
        period_end TEXT NOT NULL,
        section_ids TEXT NOT NULL,      -- JSON list, frozen when the digest is made
        created_at TEXT NOT NULL,
        status TEXT NOT NULL            -- queued | sent (every outbox row settled)
    );
    CREATE TABLE digest_marks (          -- the end of the last successful digest per scope
        scope TEXT PRIMARY KEY,
        last_end TEXT NOT NULL
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,             -- digest | confirm | test
        digest_id TEXT,                 -- for kind digest
        subscriber_id INTEGER,
        recipient TEXT NOT NULL,
        message_id TEXT NOT NULL UNIQUE,
        payload TEXT NOT NULL DEFAULT '{}',  -- JSON: what the composer needs besides the digest
        state TEXT NOT NULL,            -- queued | sending | sent | failed
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_error TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        sent_at TEXT,
        UNIQUE (digest_id, subscriber_id)
    );
    CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
    """,
    # 3: an item's categories and tags are looked up by item on every edit, and listed with their names
    """
    CREATE INDEX item_categories_item ON item_categories(item_key);
    ALTER TABLE item_categories ADD COLUMN name TEXT NOT NULL DEFAULT '';
    ALTER TABLE item_categories ADD COLUMN published TEXT NOT NULL DEFAULT '';
    CREATE INDEX item_categories_newest ON item_categories(kind, value, published);
    DELETE FROM item_categories WHERE item_key IN (SELECT key FROM items WHERE deleted_at IS NOT NULL);
    """,
    # 4: the delivery record (what became of each message after the relay took it) and the inbound mail log
    """
    ALTER TABLE outbox ADD COLUMN relay TEXT NOT NULL DEFAULT '';         -- host:port that answered 250
    ALTER TABLE outbox ADD COLUMN outcome TEXT NOT NULL DEFAULT '';       -- '' | delayed | bounced | complained
    ALTER TABLE outbox ADD COLUMN outcome_at TEXT;
    ALTER TABLE outbox ADD COLUMN bounce_class TEXT NOT NULL DEFAULT '';  -- hard | soft
    ALTER TABLE outbox ADD COLUMN bounce_status TEXT NOT NULL DEFAULT ''; -- 5.1.1, or the SMTP code
    ALTER TABLE outbox ADD COLUMN soft_counted INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX outbox_subscriber ON outbox(subscriber_id, sent_at);
    ALTER TABLE subscribers ADD COLUMN complained_at TEXT;
    CREATE TABLE inbound (
        id INTEGER PRIMARY KEY,
        received_at TEXT NOT NULL,
        kind TEXT NOT NULL,             -- bounce | delayed | complaint | unsubscribe | unknown
        outbox_id INTEGER,              -- the row it was attributed to, if any
        subscriber_id INTEGER,
        address TEXT NOT NULL DEFAULT '',
        bounce_class TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT '',
        message_id TEXT NOT NULL DEFAULT ''  -- of the inbound message
    );
    CREATE INDEX inbound_received ON inbound(received_at);
    """,
    # 5: addresses forgotten on request, as keyed hashes, so an import never adds them back
    """
    CREATE TABLE forgotten (
        hash TEXT PRIMARY KEY,          -- HMAC-SHA256(signing secret, address), hex
        forgotten_at TEXT NOT NULL
    );
    """,
    # 6: RFC 5005 archive pages: which page of which feed holds an entry, fixed once the page is made
    """
    CREATE TABLE feed_archive (
        feed_key TEXT NOT NULL,         -- "site", "category/news", "correspondent/ana-ruiz", ...
        uid TEXT NOT NULL,              -- the entry's id in that feed
        item_key TEXT NOT NULL,
        page INTEGER NOT NULL,          -- 0 = the current document, 1 = the oldest archive page
        PRIMARY KEY (feed_key, uid)
    ) WITHOUT ROWID;
    CREATE INDEX feed_archive_page ON feed_archive(feed_key, page);
    CREATE INDEX feed_archive_item ON feed_archive(item_key);
    """,
    # 7: what every incremental build asks, answered from small indexes instead of the items table: a
    # label's display name, the files skipped as duplicates, the published files by path (attachments)
    """
    CREATE INDEX item_categories_name ON item_categories(kind, value, name);
    CREATE INDEX sources_skipped ON sources(reason) WHERE status = 'skipped';
    CREATE INDEX items_source ON items(source_path) WHERE deleted_at IS NULL;
    """,
    # 8: the published items newest first, without reading their rows (a correspondent's newest role)
    """
    CREATE INDEX items_newest ON items(published DESC, key DESC, deleted_at) WHERE deleted_at IS NULL;
    """,
    # 9: an item's text and one-section HTML are kept once, in its sections (the copies on the item row were
    # half a store's size)
    _ITEM_TEXT_KEPT_ONCE if sqlite3.sqlite_version_info >= (3, 35) else _item_text_kept_once,
    # 10: the stamps every walk compares the folder with, read from an index of their own instead of the rows
    # (which carry the hash, the status and the times too): a quarter less time at 10,000 files
    """
    CREATE INDEX sources_stamps ON sources(path, size, mtime_ns);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso(dt: datetime) -> str:
    """UTC ISO-8601 text for the store."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime given to the store")
    return dt.astimezone(UTC).isoformat()


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


# Made once: json.dumps with any option builds a new encoder at every call (three per item a scan writes).
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dumps(value: Any) -> str:
    return _ENCODER.encode(value)


class Store:
    """A handle on the SQLite file. Not shared between threads; open one per thread or process."""

    def __init__(self, path: Path | str, *, create: bool = True) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            if not create and not self.path.exists():
                raise StoreError(f"{self.path}: no store here; run 'publisher scan' first")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot open the store ({exc})") from exc
        self.conn = conn
        self._savepoints = 0
        self._migrate()

    @functools.cached_property
    def db(self) -> sqlite_utils.Database:
        """The same connection through sqlite-utils: for migrations, bulk imports and introspection.

        Imported on first use: the hot paths use prepared statements on :attr:`conn`, and the command line
        starts faster without it. Its writes join the transaction open on the connection (as savepoints).
        """
        import sqlite_utils

        return sqlite_utils.Database(self.conn)

    # -- life cycle -------------------------------------------------------------------------------------

    def autocheckpoint(self, pages: int = 1000) -> None:
        """Have a commit of this connection copy the write-ahead log into the database once it leaves ``pages``
        pages or more there (0: never; 1000 is SQLite's default)."""
        self.conn.execute(f"PRAGMA wal_autocheckpoint = {int(pages)}")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; BEGIN IMMEDIATE so concurrent writers wait instead of failing late.

        Nested inside another, it is a savepoint: its own work is undone on error, the outer goes on.
        """
        if self.conn.in_transaction:
            self._savepoints += 1
            name = f"sp{self._savepoints}"
            self.conn.execute(f"SAVEPOINT {name}")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute(f"ROLLBACK TO {name}")
                self.conn.execute(f"RELEASE {name}")
                raise
            else:
                self.conn.execute(f"RELEASE {name}")
            finally:
                self._savepoints -= 1
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    def _migrate(self) -> None:
        try:
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a publisher store ({exc})") from exc
        latest = len(MIGRATIONS)
        if version > latest:
            raise StoreError(f"{self.path}: schema version {version} is newer than this publisher ({latest})")
        if version == latest:
            return
        self.conn.execute("PRAGMA foreign_keys=OFF")  # a no-op inside a transaction: set before BEGIN
        try:
            for number in range(version, latest):
                self._migrate_step(number + 1, MIGRATIONS[number])
        finally:
            self.conn.execute("PRAGMA foreign_keys=ON")

    def _migrate_step(self, number: int, step: Migration) -> None:
        with self.transaction() as conn:
            try:
                if isinstance(step, str):
                    for statement in _statements(step):
                        conn.execute(statement)
                else:
                    step(self.db)
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: migration {number} failed ({exc})") from exc
            broken = conn.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise StoreError(f"{self.path}: migration {number} breaks foreign keys ({broken[:3]})")
            conn.execute(f"PRAGMA user_version = {number}")

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open on this handle (its locks are held)."""
        return self.conn.in_transaction

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    # -- meta -------------------------------------------------------------------------------------------

    # The meta table belongs to store/content.py; these two are kept on the handle for its many callers.

    def get_meta(self, key: str) -> str | None:
        return content.get_meta(self, key)

    def set_meta(self, key: str, value: str) -> None:
        content.set_meta(self, key, value)

    # -- generic helpers --------------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        cur = self.conn.execute(sql, params)
        cur.row_factory = sqlite3.Row
        return cur.fetchall()

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return row[0] if row else None

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (no semicolons inside our DDL strings)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
