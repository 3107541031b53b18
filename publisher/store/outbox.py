"""The ``outbox`` table: one row per message to send, and every state change a drain records.

A row goes ``queued`` → ``sending`` (claimed by one sender) → ``sent`` or ``failed``, or back to ``queued``
with a later ``next_attempt_at``. The rules (backoff, attempts, what a bounce means) are in
:mod:`publisher.delivery.ledger` and :mod:`publisher.delivery.outbox`; the statements are here, and run inside
the caller's transaction unless they say otherwise.

The per-message statements (:func:`claim_sql`, :func:`sent_sql`, :data:`PAGE_SQL`) are exposed as text so a
test can check their query plans: each must use the primary key or the ``outbox_due`` index, never a scan of
the queue.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from publisher.store.db import Store

Row = tuple[Any, ...]


def _marks(count: int) -> str:
    return ",".join("?" * count)


@dataclass(frozen=True)
class NewMessage:
    """A message to queue. ``payload``: JSON text, what the composer needs besides the digest."""

    kind: str  # digest | confirm | test
    recipient: str
    message_id: str
    subscriber_id: int | None = None
    digest_id: str | None = None
    payload: str = "{}"


def enqueue(store: Store, messages: Iterable[NewMessage], at: str) -> int:
    """Queue messages, due at ``at``; how many were new. A message already there (same Message-ID, or the
    same digest for the same subscriber) is left alone."""
    cur = store.conn.executemany(
        "INSERT OR IGNORE INTO outbox(kind, digest_id, subscriber_id, recipient, message_id, payload, state,"
        " attempts, next_attempt_at, last_error, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, 'queued', 0, ?, '', ?, ?)",
        ((m.kind, m.digest_id, m.subscriber_id, m.recipient, m.message_id, m.payload, at, at, at) for m in messages),
    )
    return max(0, cur.rowcount)


def withdraw_queued(store: Store, subscriber_id: int) -> None:
    """Delete a subscriber's mail nobody has started on; rows being sent are left to delivery."""
    store.conn.execute("DELETE FROM outbox WHERE subscriber_id = ? AND state = 'queued'", (subscriber_id,))


# -- reading ----------------------------------------------------------------------------------------------


def count_by_state(store: Store) -> dict[str, int]:
    """Rows per state, for the states that have any."""
    return {str(s): int(n) for s, n in store.conn.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state")}


def recent_errors(store: Store, limit: int) -> list[Row]:
    """(id, kind, recipient, state, attempts, last_error, updated_at) of the latest rows that carry an error,
    failed or waiting for a retry, newest first."""
    return store.conn.execute(
        "SELECT id, kind, recipient, state, attempts, last_error, updated_at FROM outbox"
        " WHERE last_error != '' AND state IN ('queued', 'failed') ORDER BY updated_at DESC, id DESC LIMIT ?",
        (limit,),
    ).fetchall()


def count_due(store: Store, due_before: str) -> int:
    """Queued rows due at or before ``due_before``."""
    return int(
        store.conn.execute(
            "SELECT COUNT(*) FROM outbox WHERE state = 'queued' AND next_attempt_at <= ?", (due_before,)
        ).fetchone()[0]
    )


# One page of due rows after the cursor (next_attempt_at, id), with whether the subscriber is gone and their
# status: id, kind, digest_id, subscriber_id, recipient, message_id, payload, attempts, next_attempt_at,
# gone, status.
PAGE_SQL = (
    "SELECT o.id, o.kind, o.digest_id, o.subscriber_id, o.recipient, o.message_id, o.payload, o.attempts,"
    " o.next_attempt_at, o.subscriber_id IS NOT NULL AND s.id IS NULL, s.status"
    " FROM outbox o LEFT JOIN subscribers s ON s.id = o.subscriber_id"
    " WHERE o.state = 'queued' AND o.next_attempt_at <= ? AND (o.next_attempt_at, o.id) > (?, ?)"
    " ORDER BY o.next_attempt_at, o.id LIMIT ?"
)


def due_page(store: Store, due_before: str, after: tuple[str, int], size: int) -> list[Row]:
    """Up to ``size`` due rows after the cursor ``after`` = (next_attempt_at, id); see :data:`PAGE_SQL`."""
    return store.conn.execute(PAGE_SQL, (due_before, *after, size)).fetchall()


# -- the drain's writes -----------------------------------------------------------------------------------

# "+state": without the unary plus SQLite walks the state index over every queued row instead of the ids,
# which makes a drain quadratic in the size of the queue.


def claim_sql(count: int) -> str:
    return f"UPDATE outbox SET state = 'sending', updated_at = ? WHERE id IN ({_marks(count)}) AND +state = 'queued'"


def sent_sql(count: int) -> str:
    return (
        "UPDATE outbox SET state = 'sent', attempts = attempts + 1, sent_at = ?, updated_at = ?, last_error = ''"
        f" WHERE id IN ({_marks(count)})"
    )


def claim(store: Store, ids: Sequence[int], stamp: str) -> set[int]:
    """Mark ``ids`` sending, stamped ``stamp``, if still queued; the ids that were."""
    if not ids:
        return set()
    cur = store.conn.execute(claim_sql(len(ids)), (stamp, *ids))
    if cur.rowcount == len(ids):
        return set(ids)
    # Some row changed under us (a subscriber removed meanwhile): find out which ones we hold.
    found = store.conn.execute(
        f"SELECT id FROM outbox WHERE id IN ({_marks(len(ids))}) AND +state = 'sending' AND updated_at = ?",
        (*ids, stamp),
    )
    return {int(row[0]) for row in found}


def mark_sent(store: Store, ids: Sequence[int], stamp: str) -> None:
    """One statement for all the rows sent: each SQLite step lets other threads take the GIL."""
    if ids:
        store.conn.execute(sent_sql(len(ids)), (stamp, stamp, *ids))


def defer(store: Store, row_id: int, *, attempts: int, retry_at: str, error: str, stamp: str) -> None:
    """A try failed for now: queued again for ``retry_at``, the attempt counted."""
    store.conn.execute(
        "UPDATE outbox SET state = 'queued', attempts = ?, next_attempt_at = ?, last_error = ?,"
        " updated_at = ? WHERE id = ?",
        (attempts, retry_at, error, stamp, row_id),
    )


def requeue(store: Store, row_id: int, *, retry_at: str, error: str, stamp: str) -> None:
    """Queued again for ``retry_at`` without counting an attempt (the relay was down, not the message)."""
    store.conn.execute(
        "UPDATE outbox SET state = 'queued', next_attempt_at = ?, last_error = ?, updated_at = ? WHERE id = ?",
        (retry_at, error, stamp, row_id),
    )


def fail(store: Store, row_id: int, *, attempts: int, error: str, stamp: str) -> None:
    """Failed for good."""
    store.conn.execute(
        "UPDATE outbox SET state = 'failed', attempts = ?, last_error = ?, updated_at = ? WHERE id = ?",
        (attempts, error, stamp, row_id),
    )


def retry_failed(store: Store, stamp: str) -> int:
    """Queue every failed row again for ``stamp``, attempts reset, in its own transaction; how many."""
    with store.transaction() as conn:
        cur = conn.execute(
            "UPDATE outbox SET state = 'queued', attempts = 0, next_attempt_at = ?, updated_at = ?"
            " WHERE state = 'failed'",
            (stamp, stamp),
        )
    return cur.rowcount


def requeue_interrupted(store: Store, stamp: str) -> int:
    """Queue again the rows a crash left in ``sending``, in its own transaction; how many."""
    with store.transaction() as conn:
        cur = conn.execute(
            "UPDATE outbox SET state = 'queued', next_attempt_at = ?, updated_at = ?,"
            " last_error = 'interrupted while sending; sent again' WHERE state = 'sending'",
            (stamp, stamp),
        )
    return cur.rowcount
