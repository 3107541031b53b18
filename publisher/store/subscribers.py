"""The ``subscribers`` and ``follows`` tables.

The rules (statuses and their moves, address normalisation, what an import may change) are in
:mod:`publisher.mail.subscribers`; the statements are here. Functions run inside the caller's transaction.
Bulk imports go through sqlite-utils (:func:`import_rows`); everything else is a prepared ``sqlite3`` statement.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from publisher.store.outbox import withdraw_queued

if TYPE_CHECKING:
    from publisher.store.db import Store

Row = tuple[Any, ...]

# The columns of a subscriber row as read, in this order.
COLUMNS = (
    "id",
    "email",
    "name",
    "status",
    "created_at",
    "updated_at",
    "confirmed_at",
    "unsubscribed_at",
    "bounce_count",
)
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM subscribers"

_CHUNK = 500


# -- reading --------------------------------------------------------------------------------------------------


def row_by_id(store: Store, subscriber_id: int) -> Row | None:
    """The subscriber's row (:data:`COLUMNS`)."""
    return store.conn.execute(f"{_SELECT} WHERE id = ?", (subscriber_id,)).fetchone()  # type: ignore[no-any-return]


def row_by_email(store: Store, email: str) -> Row | None:
    """The row of this exact address (:data:`COLUMNS`)."""
    return store.conn.execute(f"{_SELECT} WHERE email = ?", (email,)).fetchone()  # type: ignore[no-any-return]


def rows_by_email_nocase(store: Store, email: str) -> list[Row]:
    """The rows whose address equals ``email`` ignoring ASCII case (:data:`COLUMNS`)."""
    return store.conn.execute(f"{_SELECT} WHERE email = ? COLLATE NOCASE", (email,)).fetchall()


def rows(store: Store, *, status: str | None = None) -> list[Row]:
    """Every subscriber (or those with ``status``), by address (:data:`COLUMNS`)."""
    where, params = ("WHERE status = ?", (status,)) if status else ("", ())
    return store.conn.execute(f"{_SELECT} {where} ORDER BY email", params).fetchall()


def identity(store: Store, email: str) -> tuple[int, str, str] | None:
    """(id, status, name) of this exact address."""
    row = store.conn.execute("SELECT id, status, name FROM subscribers WHERE email = ?", (email,)).fetchone()
    return (int(row[0]), str(row[1]), str(row[2])) if row else None


def contact(store: Store, subscriber_id: int) -> tuple[int, str, str, str] | None:
    """(id, email, name, status) of a subscriber, for addressing a message."""
    row = store.conn.execute(
        "SELECT id, email, name, status FROM subscribers WHERE id = ?", (subscriber_id,)
    ).fetchone()
    return (int(row[0]), str(row[1]), str(row[2]), str(row[3])) if row else None


def contacts(store: Store, subscriber_ids: Sequence[int]) -> dict[int, tuple[int, str, str, str]]:
    """:func:`contact` for many subscribers in one statement (a batch of messages to compose); absent ids left out."""
    out: dict[int, tuple[int, str, str, str]] = {}
    ids = list(dict.fromkeys(subscriber_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for row in store.conn.execute(f"SELECT id, email, name, status FROM subscribers WHERE id IN ({marks})", chunk):
            out[int(row[0])] = (int(row[0]), str(row[1]), str(row[2]), str(row[3]))
    return out


def confirmed_emails(store: Store) -> dict[int, str]:
    """Id → address of every confirmed subscriber."""
    return {
        int(i): str(e) for i, e in store.conn.execute("SELECT id, email FROM subscribers WHERE status = 'confirmed'")
    }


def count_by_status(store: Store) -> dict[str, int]:
    """Subscribers per status, for the statuses that have any."""
    return {str(s): int(n) for s, n in store.conn.execute("SELECT status, COUNT(*) FROM subscribers GROUP BY status")}


def follows_of(store: Store, subscriber_id: int) -> list[tuple[str, str]]:
    """(kind, value) of what one subscriber follows, sorted."""
    return [
        (str(k), str(v))
        for k, v in store.conn.execute(
            "SELECT kind, value FROM follows WHERE subscriber_id = ? ORDER BY kind, value", (subscriber_id,)
        )
    ]


def all_follows(store: Store) -> list[tuple[int, str, str]]:
    """(subscriber id, kind, value) of every follow, sorted."""
    return [
        (int(s), str(k), str(v))
        for s, k, v in store.conn.execute("SELECT subscriber_id, kind, value FROM follows ORDER BY 1, 2, 3")
    ]


def confirmed_follows(store: Store) -> list[tuple[str, str, int]]:
    """(kind, value, subscriber id) of every follow of a confirmed subscriber, by subscriber."""
    return [
        (str(k), str(v), int(s))
        for k, v, s in store.conn.execute(
            "SELECT f.kind, f.value, f.subscriber_id FROM follows f JOIN subscribers s ON s.id = f.subscriber_id"
            " WHERE s.status = 'confirmed' ORDER BY f.subscriber_id"
        )
    ]


# -- writing --------------------------------------------------------------------------------------------------


def insert(store: Store, email: str, name: str, status: str, at: str) -> int:
    """A new subscriber, created and updated at ``at`` (and confirmed then, when ``status`` is confirmed)."""
    cur = store.conn.execute(
        "INSERT INTO subscribers(email, name, status, created_at, updated_at, confirmed_at) VALUES (?, ?, ?, ?, ?, ?)",
        (email, name, status, at, at, at if status == "confirmed" else None),
    )
    return int(cur.lastrowid or 0)


def write_follows(store: Store, subscriber_id: int, follows: Iterable[tuple[str, str]], *, replace: bool) -> None:
    """Add (kind, value) follows; ``replace``: drop the subscriber's other follows first."""
    if replace:
        store.conn.execute("DELETE FROM follows WHERE subscriber_id = ?", (subscriber_id,))
    store.conn.executemany(
        "INSERT OR IGNORE INTO follows(subscriber_id, kind, value) VALUES (?, ?, ?)",
        [(subscriber_id, kind, value) for kind, value in follows],
    )


def update_request(store: Store, subscriber_id: int, status: str, name: str, at: str) -> None:
    """A repeated subscription: the status and name it leaves."""
    store.conn.execute(
        "UPDATE subscribers SET status = ?, name = ?, updated_at = ? WHERE id = ?", (status, name, at, subscriber_id)
    )


def mark_confirmed(store: Store, subscriber_id: int, at: str) -> None:
    """Confirmed at ``at``; the bounce count starts over."""
    store.conn.execute(
        "UPDATE subscribers SET status = 'confirmed', confirmed_at = ?, updated_at = ?, bounce_count = 0,"
        " unsubscribed_at = NULL WHERE id = ?",
        (at, at, subscriber_id),
    )


def mark_unsubscribed(store: Store, subscriber_id: int, at: str) -> None:
    store.conn.execute(
        "UPDATE subscribers SET status = 'unsubscribed', unsubscribed_at = ?, updated_at = ? WHERE id = ?",
        (at, at, subscriber_id),
    )


def set_status(store: Store, subscriber_id: int, status: str, at: str) -> None:
    store.conn.execute("UPDATE subscribers SET status = ?, updated_at = ? WHERE id = ?", (status, at, subscriber_id))


def touch(store: Store, subscriber_id: int, at: str) -> None:
    store.conn.execute("UPDATE subscribers SET updated_at = ? WHERE id = ?", (at, subscriber_id))


def delete(store: Store, subscriber_id: int) -> None:
    """A subscriber and their follows."""
    store.conn.execute("DELETE FROM follows WHERE subscriber_id = ?", (subscriber_id,))
    store.conn.execute("DELETE FROM subscribers WHERE id = ?", (subscriber_id,))


def everything_about(store: Store, email: str) -> dict[str, Any] | None:
    """Every column of the subscriber with this address, by name."""
    cur = store.conn.execute("SELECT * FROM subscribers WHERE email = ?", (email,))
    row = cur.fetchone()
    return dict(zip([d[0] for d in cur.description], row, strict=True)) if row else None


def add_forgotten(store: Store, digest: str, at: str) -> None:
    store.conn.execute("INSERT OR IGNORE INTO forgotten (hash, forgotten_at) VALUES (?, ?)", (digest, at))


def is_forgotten(store: Store, digest: str) -> bool:
    return store.conn.execute("SELECT 1 FROM forgotten WHERE hash = ?", (digest,)).fetchone() is not None


def forgotten_among(store: Store, digests: Sequence[str]) -> set[str]:
    out: set[str] = set()
    for start in range(0, len(digests), _CHUNK):
        chunk = list(digests[start : start + _CHUNK])
        marks = ",".join("?" * len(chunk))
        out.update(r[0] for r in store.conn.execute(f"SELECT hash FROM forgotten WHERE hash IN ({marks})", chunk))
    return out


def remember_again(store: Store, digest: str) -> None:
    """The person subscribed again themselves (double opt-in): no longer forgotten."""
    store.conn.execute("DELETE FROM forgotten WHERE hash = ?", (digest,))


def count_bounce(store: Store, subscriber_id: int, limit: int, at: str) -> bool:
    """One counted bounce (the rules of :mod:`publisher.delivery.bounces` decide what counts); True when it
    reached ``limit`` and made a pending or confirmed subscriber ``bounced``. Their queued mail is withdrawn."""
    row = store.conn.execute(
        "UPDATE subscribers SET bounce_count = bounce_count + 1, last_bounce_at = ?, updated_at = ?"
        " WHERE id = ? RETURNING bounce_count, status",
        (at, at, subscriber_id),
    ).fetchone()
    if row is None:
        return False
    count, status = int(row[0]), str(row[1])
    if status in ("confirmed", "pending") and count >= max(1, limit):
        store.conn.execute(
            "UPDATE subscribers SET status = 'bounced', updated_at = ? WHERE id = ?", (at, subscriber_id)
        )
        withdraw_queued(store, subscriber_id)
        return True
    return False


def reset_bounces(store: Store, subscriber_id: int, at: str) -> bool:
    """Bounce count to zero and ``bounced`` back to ``confirmed``; False when there is no such subscriber."""
    row = store.conn.execute(
        "UPDATE subscribers SET bounce_count = 0, last_bounce_at = NULL, updated_at = ?,"
        " status = CASE WHEN status = 'bounced' THEN 'confirmed' ELSE status END WHERE id = ? RETURNING id",
        (at, subscriber_id),
    ).fetchone()
    return row is not None


def unsubscribe_now(store: Store, subscriber_id: int, at: str, *, complained: bool) -> bool:
    """Unsubscribe (a complaint, or mail to the unsubscribe address), noting a complaint; True when the status
    changed. Queued mail is withdrawn."""
    row = store.conn.execute(
        "UPDATE subscribers SET status = 'unsubscribed', unsubscribed_at = ?, updated_at = ?"
        " WHERE id = ? AND status != 'unsubscribed' RETURNING id",
        (at, at, subscriber_id),
    ).fetchone()
    if complained:
        store.conn.execute("UPDATE subscribers SET complained_at = ? WHERE id = ?", (at, subscriber_id))
    withdraw_queued(store, subscriber_id)
    return row is not None


# -- imports --------------------------------------------------------------------------------------------------


def identities(store: Store, emails: Sequence[str]) -> dict[str, tuple[int, str]]:
    """Address → (id, name) of those among ``emails`` that are subscribers."""
    found: dict[str, tuple[int, str]] = {}
    for start in range(0, len(emails), _CHUNK):
        chunk = list(emails[start : start + _CHUNK])
        marks = ",".join("?" * len(chunk))
        for sid, email, name in store.conn.execute(
            f"SELECT id, email, name FROM subscribers WHERE email IN ({marks})", chunk
        ):
            found[str(email)] = (int(sid), str(name))
    return found


def follows_of_many(store: Store, ids: Sequence[int]) -> dict[int, set[tuple[str, str]]]:
    """Subscriber id → their (kind, value) follows, for ``ids``."""
    found: dict[int, set[tuple[str, str]]] = {sid: set() for sid in ids}
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start : start + _CHUNK])
        marks = ",".join("?" * len(chunk))
        for sid, kind, value in store.conn.execute(
            f"SELECT subscriber_id, kind, value FROM follows WHERE subscriber_id IN ({marks})", chunk
        ):
            found[int(sid)].add((str(kind), str(value)))
    return found


@dataclass(frozen=True)
class ImportedSubscriber:
    """A new subscriber from an import, with what they follow."""

    email: str
    name: str
    status: str
    follows: tuple[tuple[str, str], ...]


def import_rows(
    store: Store,
    new: Sequence[ImportedSubscriber],
    renamed: Mapping[int, str],
    followed: Mapping[int, Iterable[tuple[str, str]]],
    at: str,
) -> None:
    """Write an import in bulk, inside the caller's transaction: ``new`` subscribers with their follows,
    new names for existing ones (id → name), and follows added to existing ones (id → (kind, value)s)."""
    db = store.db
    db.table("subscribers").insert_all(
        (
            {
                "email": s.email,
                "name": s.name,
                "status": s.status,
                "created_at": at,
                "updated_at": at,
                "confirmed_at": at if s.status == "confirmed" else None,
                "unsubscribed_at": at if s.status == "unsubscribed" else None,
            }
            for s in new
        ),
        batch_size=500,
    )
    ids = identities(store, [s.email for s in new])
    store.conn.executemany(
        "UPDATE subscribers SET name = ?, updated_at = ? WHERE id = ?", [(n, at, sid) for sid, n in renamed.items()]
    )
    follows = [
        {"subscriber_id": ids[s.email][0], "kind": kind, "value": value} for s in new for kind, value in s.follows
    ]
    follows += [
        {"subscriber_id": sid, "kind": kind, "value": value} for sid, pairs in followed.items() for kind, value in pairs
    ]
    db.table("follows").insert_all(follows, ignore=True, batch_size=500)
