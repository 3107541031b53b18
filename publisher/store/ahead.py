"""What a walk made ahead of a scan reads from the store (:class:`publisher.content.walk.Ahead`): through a
connection of its own, in another process, reading only.

Light on purpose: nothing is loaded but ``sqlite3``, not even the rest of the store, so the walk's process
starts reading sooner. :mod:`~publisher.store.content` reads the stamps and the meta values with the same
functions, through the store's own connection.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

# The selection rules every recorded file was chosen by (written by the scan, read by a walk made ahead).
RULES_META = "selection_rules"


def stamps(database: Path, duplicate_prefix: str, rules: str) -> tuple[int, dict[str, tuple[int, int, bool]]] | None:
    """The store's schema version (``PRAGMA user_version``) and path → (size, mtime_ns, skipped as a
    duplicate) of every recorded source; None unless the store exists and recorded its files under the
    selection rules ``rules``. The caller compares the version with the one its code migrates to: a store
    that needs a migration may record its stamps otherwise."""
    if not Path(database).is_file():
        return None
    try:
        conn = sqlite3.connect(str(database), timeout=30, isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        conn.execute("BEGIN")  # one snapshot for every read
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if meta_on(conn, RULES_META) != rules:
            return None
        return version, stamps_on(conn, duplicate_prefix)
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def meta_on(conn: sqlite3.Connection, key: str) -> str | None:
    """A value of the ``meta`` table, through any connection to the store."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def stamps_on(conn: sqlite3.Connection, duplicate_prefix: str) -> dict[str, tuple[int, int, bool]]:
    """path → (size, mtime_ns, skipped as a duplicate: its reason starts with ``duplicate_prefix``) of every
    recorded source, through any connection to the store.

    The few duplicates are found through the partial index ``sources_skipped``, and every source's stamp in
    one pass over three columns: a fifth less time than testing every row's reason in that pass. Both reads
    see one snapshot of the store."""
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")
    try:
        duplicates = {
            path
            for (path,) in conn.execute(
                "SELECT path FROM sources WHERE status = 'skipped' AND substr(reason, 1, ?) = ?",
                (len(duplicate_prefix), duplicate_prefix),
            )
        }
        rows = conn.execute("SELECT path, size, mtime_ns FROM sources")
        if not duplicates:
            return {path: (size, mtime_ns, False) for path, size, mtime_ns in rows}
        return {path: (size, mtime_ns, path in duplicates) for path, size, mtime_ns in rows}
    finally:
        if own:
            conn.execute("COMMIT")
