"""What a walk made ahead of a scan reads from the store (:class:`publisher.content.walk.Ahead`): through a
connection of its own, in another process, reading only."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from publisher.store.db import SCHEMA_VERSION

# Where the scan records the selection rules every recorded file was chosen by (scanner._RULES_META).
RULES_META = "selection_rules"


def stamps(database: Path, duplicate_prefix: str, rules: str) -> dict[str, tuple[int, int, bool]] | None:
    """path → (size, mtime_ns, skipped as a duplicate) of every recorded source, as
    :func:`publisher.store.content.source_stamps` gives them; None unless the store exists, needs no
    migration, and recorded its files under the selection rules ``rules``."""
    if not Path(database).is_file():
        return None
    try:
        conn = sqlite3.connect(str(database), timeout=30, isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            return None
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (RULES_META,)).fetchone()
        if row is None or row[0] != rules:
            return None
        rows = conn.execute(
            "SELECT path, size, mtime_ns, substr(reason, 1, ?) = ? FROM sources",
            (len(duplicate_prefix), duplicate_prefix),
        )
        return {path: (size, mtime_ns, bool(dup)) for path, size, mtime_ns, dup in rows}
    except sqlite3.Error:
        return None
    finally:
        conn.close()
