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
from typing import TYPE_CHECKING, Any, Literal

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
        "UPDATE outbox SET state = 'sent', attempts = attempts + 1, sent_at = ?, updated_at = ?, last_error = '',"
        f" relay = ? WHERE id IN ({_marks(count)})"
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


def mark_sent(store: Store, ids: Sequence[int], stamp: str, relay: str = "") -> None:
    """One statement for all the rows sent (through ``relay``): each SQLite step lets other threads take the GIL."""
    if ids:
        store.conn.execute(sent_sql(len(ids)), (stamp, stamp, relay, *ids))


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


# -- the write-ahead log during a drain -------------------------------------------------------------------
# A drain commits once or twice per message. SQLite's automatic checkpoint (every 1000 pages of log) runs in
# the committing connection and waits for two syncs of the disk: on the drain's event loop, that stops every
# connection. The drain turns it off on its own connection and copies the log from another one, in a thread.


def pause_checkpoints(store: Store) -> None:
    """No automatic checkpoint in this connection's commits (another connection runs :func:`checkpoint`)."""
    store.autocheckpoint(0)


def resume_checkpoints(store: Store) -> None:
    """SQLite's default again: a checkpoint whenever a commit leaves 1000 pages or more in the log."""
    store.autocheckpoint()


def checkpoint(store: Store, mode: Literal["PASSIVE", "RESTART", "TRUNCATE"] = "PASSIVE") -> int:
    """Copy what the write-ahead log holds into the database; the number of pages the log held.

    PASSIVE never waits for readers or writers, but while a writer keeps committing it never finishes either,
    so the log is never started over and grows. RESTART and TRUNCATE wait for the writer and hold off the next
    one while they copy what is left, then have the log written from its start again (TRUNCATE also empties
    the file).
    """
    row = store.conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    return int(row[1]) if row else 0


def retry_failed(store: Store, stamp: str) -> int:
    """Queue every failed row again for ``stamp``, attempts reset, in its own transaction; how many."""
    with store.transaction() as conn:
        cur = conn.execute(
            "UPDATE outbox SET state = 'queued', attempts = 0, next_attempt_at = ?, updated_at = ?"
            " WHERE state = 'failed'",
            (stamp, stamp),
        )
    return cur.rowcount


def make_due(store: Store, stamp: str) -> int:
    """Make every deferred row (queued, waiting out a backoff) due at ``stamp``, attempts kept; how many."""
    with store.transaction() as conn:
        cur = conn.execute(
            "UPDATE outbox SET next_attempt_at = ?, updated_at = ? WHERE state = 'queued' AND next_attempt_at > ?",
            (stamp, stamp, stamp),
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


# -- after the relay took it: bounces, complaints, the delivery record ------------------------------------


@dataclass(frozen=True)
class SentRow:
    """An outbox row as the bounce rules see it."""

    id: int
    subscriber_id: int | None
    recipient: str
    digest_id: str | None
    state: str
    sent_at: str | None
    outcome: str
    message_id: str


_SENT_COLUMNS = "id, subscriber_id, recipient, digest_id, state, sent_at, outcome, message_id"


def find_row(store: Store, *, row_id: int | None = None, message_id: str | None = None) -> SentRow | None:
    """The outbox row with this id, or with this Message-ID (``<...>`` or bare)."""
    if row_id is not None:
        found = store.conn.execute(f"SELECT {_SENT_COLUMNS} FROM outbox WHERE id = ?", (row_id,)).fetchone()
    elif message_id:
        bare = message_id.strip().strip("<>")
        found = store.conn.execute(
            f"SELECT {_SENT_COLUMNS} FROM outbox WHERE message_id IN (?, ?)", (bare, f"<{bare}>")
        ).fetchone()
    else:
        return None
    return SentRow(*found) if found else None


def mark_outcome(store: Store, row_id: int, outcome: str, stamp: str, *, bounce_class: str = "",
                 status: str = "", detail: str = "", relay: str | None = None) -> None:  # fmt: skip
    """Record what became of a row after the relay took it (or refused it in the session)."""
    store.conn.execute(
        "UPDATE outbox SET outcome = ?, outcome_at = ?, bounce_class = ?, bounce_status = ?,"
        " last_error = CASE WHEN ? != '' THEN ? ELSE last_error END, relay = COALESCE(?, relay) WHERE id = ?",
        (outcome, stamp, bounce_class, status, detail, detail[:1000], relay, row_id),
    )


def soft_history(store: Store, subscriber_id: int) -> list[tuple[int, str, str, str, int]]:
    """(id, sent_at, outcome, bounce_class, soft_counted) of the subscriber's accepted rows, newest first."""
    return list(
        store.conn.execute(
            "SELECT id, sent_at, outcome, bounce_class, soft_counted FROM outbox"
            " WHERE subscriber_id = ? AND sent_at IS NOT NULL ORDER BY sent_at DESC, id DESC",
            (subscriber_id,),
        )
    )


def mark_soft_counted(store: Store, row_ids: Iterable[int]) -> None:
    store.conn.executemany("UPDATE outbox SET soft_counted = 1 WHERE id = ?", [(i,) for i in row_ids])


def forget_soft_bounces(store: Store, subscriber_id: int) -> None:
    """Put a subscriber's soft bounces behind them (their streak starts over)."""
    store.conn.execute(
        "UPDATE outbox SET soft_counted = 1 WHERE subscriber_id = ? AND bounce_class = 'soft'", (subscriber_id,)
    )


# -- the delivery record ---------------------------------------------------------------------------------

# What the report calls a row, from its outbox state and what came back after it was accepted.
DELIVERY_STATE_SQL = """
    CASE
        WHEN outcome = 'complained' THEN 'complained'
        WHEN outcome = 'bounced' AND sent_at IS NULL THEN 'bounced in session'
        WHEN outcome = 'bounced' THEN 'bounced later'
        WHEN state = 'sent' AND outcome = 'delayed' THEN 'deferred by relay'
        WHEN state = 'sent' THEN 'accepted'
        WHEN state IN ('queued', 'sending') AND attempts > 0 THEN 'deferred'
        WHEN state IN ('queued', 'sending') THEN 'queued'
        ELSE 'failed'
    END
"""

DELIVERY_STATES: tuple[str, ...] = (
    "queued", "deferred", "accepted", "deferred by relay", "bounced in session", "bounced later", "complained",
    "failed",
)  # fmt: skip


@dataclass(frozen=True)
class DeliveryRow:
    digest_id: str
    recipient: str
    state: str
    at: str  # when it reached that state
    relay: str
    detail: str  # the bounce status, or the last error


def delivery_rows(store: Store, digest_id: str) -> list[DeliveryRow]:
    rows = store.conn.execute(
        f"SELECT digest_id, recipient, {DELIVERY_STATE_SQL},"
        " COALESCE(outcome_at, sent_at, updated_at), relay,"
        " TRIM(bounce_status || ' ' || last_error) FROM outbox WHERE digest_id = ? ORDER BY recipient, id",
        (digest_id,),
    )
    return [DeliveryRow(*row) for row in rows]


def digest_summaries(store: Store, limit: int = 20) -> list[tuple[str, str, str, dict[str, int]]]:
    """(digest id, scope, period end, {state: rows}) of the latest digests, newest first."""
    digests = store.conn.execute(
        "SELECT id, scope, period_end FROM digests ORDER BY period_end DESC, id LIMIT ?", (limit,)
    ).fetchall()
    out = []
    for digest_id, scope, period_end in digests:
        counts = dict.fromkeys(DELIVERY_STATES, 0)
        for state, n in store.conn.execute(
            f"SELECT {DELIVERY_STATE_SQL} AS s, COUNT(*) FROM outbox WHERE digest_id = ? GROUP BY s", (digest_id,)
        ):
            counts[state] = n
        out.append((digest_id, scope, period_end, counts))
    return out


def delivery_totals(store: Store) -> dict[str, int]:
    """Rows per delivery state over the whole outbox; every state is present."""
    counts = dict.fromkeys(DELIVERY_STATES, 0)
    for state, n in store.conn.execute(f"SELECT {DELIVERY_STATE_SQL} AS s, COUNT(*) FROM outbox GROUP BY s"):
        counts[state] = n
    return counts


def digest_exists(store: Store, digest_id: str) -> bool:
    return store.conn.execute("SELECT 1 FROM digests WHERE id = ?", (digest_id,)).fetchone() is not None


def matching_digests(store: Store, text: str) -> list[str]:
    """Digest ids equal to ``text``, else starting with it, else containing it (a date, a scope)."""
    for pattern, arg in (("id = ?", text), ("id LIKE ? ESCAPE '\\'", _like(text) + "%"),
                         ("id LIKE ? ESCAPE '\\'", "%" + _like(text) + "%")):  # fmt: skip
        found = [r[0] for r in store.conn.execute(f"SELECT id FROM digests WHERE {pattern} ORDER BY id", (arg,))]
        if found:
            return found
    return []


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def messages_of(store: Store, subscriber_id: int) -> list[dict[str, Any]]:
    """Every message to a subscriber, with its delivery record, oldest first."""
    cur = store.conn.execute(
        "SELECT id, kind, digest_id, recipient, message_id, state, attempts, created_at, sent_at, relay, outcome,"
        " outcome_at, bounce_class, bounce_status, last_error FROM outbox WHERE subscriber_id = ? ORDER BY id",
        (subscriber_id,),
    )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur]


def erase_subscriber(store: Store, subscriber_id: int) -> None:
    """Delete a subscriber's messages, all but one being sent this moment (left to delivery)."""
    store.conn.execute("DELETE FROM outbox WHERE subscriber_id = ? AND state != 'sending'", (subscriber_id,))
