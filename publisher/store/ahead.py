"""What a walk made ahead of a scan reads from the store (:class:`publisher.content.walk.Ahead`): through a
connection of its own, in another process, reading only."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from publisher.store.content import RULES_META, meta_on, stamps_on
from publisher.store.db import SCHEMA_VERSION


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
        if meta_on(conn, RULES_META) != rules:
            return None
        return stamps_on(conn, duplicate_prefix)
    except sqlite3.Error:
        return None
    finally:
        conn.close()
