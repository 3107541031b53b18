"""The ``digests`` and ``digest_marks`` tables: each digest made, frozen with its sections, and per scope the
end of the last one.

The rules (windows, scopes, who gets what) are in :mod:`publisher.mail.digests`. A digest, its outbox rows
(:func:`publisher.store.outbox.enqueue`) and its mark are written in one transaction, the caller's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from publisher.store.db import Store


@dataclass(frozen=True)
class DigestRecord:
    scope: str
    period_start: str
    period_end: str
    section_ids: str  # JSON list


def insert(
    store: Store, digest_id: str, *, scope: str, period_start: str, period_end: str, section_ids: str, at: str
) -> bool:
    """Record a digest as queued; False when it was made before (a rerun at the same instant)."""
    cur = store.conn.execute(
        "INSERT OR IGNORE INTO digests(id, scope, period_start, period_end, section_ids, created_at, status)"
        " VALUES (?, ?, ?, ?, ?, ?, 'queued')",
        (digest_id, scope, period_start, period_end, section_ids, at),
    )
    return cur.rowcount == 1


def record(store: Store, digest_id: str) -> DigestRecord | None:
    row = store.conn.execute(
        "SELECT scope, period_start, period_end, section_ids FROM digests WHERE id = ?", (digest_id,)
    ).fetchone()
    return DigestRecord(*row) if row else None


def settle(store: Store, digest_ids: Sequence[str]) -> None:
    """Mark ``sent`` each of these digests none of whose outbox rows waits any more (sent or failed)."""
    store.conn.executemany(
        "UPDATE digests SET status = 'sent' WHERE id = ? AND status = 'queued' AND NOT EXISTS"
        " (SELECT 1 FROM outbox WHERE digest_id = digests.id AND state IN ('queued', 'sending'))",
        [(d,) for d in digest_ids],
    )


def last_created(store: Store) -> str | None:
    """When the latest digest was made."""
    row = store.conn.execute("SELECT max(created_at) FROM digests").fetchone()
    return row[0] if row else None


def mark(store: Store, scope: str) -> str | None:
    """The end of the last digest of ``scope``."""
    row = store.conn.execute("SELECT last_end FROM digest_marks WHERE scope = ?", (scope,)).fetchone()
    return row[0] if row else None


def marks(store: Store) -> dict[str, str]:
    """Scope → the end of its last digest."""
    return {str(s): str(e) for s, e in store.conn.execute("SELECT scope, last_end FROM digest_marks")}


def move_mark(store: Store, scope: str, end: str) -> None:
    """The last digest of ``scope`` ends at ``end``, unless a later one is already marked."""
    store.conn.execute(
        "INSERT INTO digest_marks(scope, last_end) VALUES (?, ?)"
        " ON CONFLICT(scope) DO UPDATE SET last_end = MAX(last_end, excluded.last_end)",
        (scope, end),
    )
