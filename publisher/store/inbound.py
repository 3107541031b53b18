"""The ``inbound`` table: the log of bounces, complaints and unsubscribe mail read, and of what was done.

Written by :mod:`publisher.delivery.bounces` inside the transaction that applies a message's rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from publisher.store.db import Store


def record(store: Store, *, stamp: str, kind: str, outbox_id: int | None = None,
                subscriber_id: int | None = None, address: str = "", bounce_class: str = "", status: str = "",
                detail: str = "", message_id: str = "") -> None:  # fmt: skip
    store.conn.execute(
        "INSERT INTO inbound (received_at, kind, outbox_id, subscriber_id, address, bounce_class, status, detail,"
        " message_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (stamp, kind, outbox_id, subscriber_id, address, bounce_class, status, detail[:1000], message_id[:500]),
    )


def counts(store: Store) -> dict[str, int]:
    """Messages read per kind (bounce, delayed, complaint, unsubscribe, unknown)."""
    return {kind: n for kind, n in store.conn.execute("SELECT kind, COUNT(*) FROM inbound GROUP BY kind")}


def about(store: Store, subscriber_id: int, address: str) -> list[dict[str, Any]]:
    """The inbound mail recorded about a subscriber (by id or address), oldest first."""
    cur = store.conn.execute(
        "SELECT received_at, kind, outbox_id, address, bounce_class, status, detail FROM inbound"
        " WHERE subscriber_id = ? OR address = ? ORDER BY id",
        (subscriber_id, address),
    )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur]


def erase(store: Store, subscriber_id: int, address: str) -> None:
    store.conn.execute("DELETE FROM inbound WHERE subscriber_id = ? OR address = ?", (subscriber_id, address))
