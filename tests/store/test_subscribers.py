"""The subscribers tables' bulk import: sqlite-utils' writes belong to the caller's transaction."""

from __future__ import annotations

import pytest

from publisher.store import Store
from publisher.store import subscribers as db

NEW = [
    db.ImportedSubscriber("a@x.org", "Ana", "confirmed", (("all", ""),)),
    db.ImportedSubscriber("b@x.org", "", "unsubscribed", (("correspondent", "ana"), ("category", "news"))),
]


def test_an_import_writes_subscribers_and_their_follows(store: Store) -> None:
    with store.transaction():
        db.import_rows(store, NEW, {}, {}, "2026-03-02T06:00:00+00:00")
    a, b = db.rows(store)
    assert (a[1], a[2], a[3], a[6], a[7]) == ("a@x.org", "Ana", "confirmed", "2026-03-02T06:00:00+00:00", None)
    assert (b[1], b[3], b[6], b[7]) == ("b@x.org", "unsubscribed", None, "2026-03-02T06:00:00+00:00")
    assert db.follows_of(store, a[0]) == [("all", "")]
    assert db.follows_of(store, b[0]) == [("category", "news"), ("correspondent", "ana")]

    with store.transaction():
        db.import_rows(store, [], {a[0]: "Ana R."}, {b[0]: [("all", ""), ("category", "news")]}, "later")
    assert db.row_by_id(store, a[0])[2:6] == ("Ana R.", "confirmed", "2026-03-02T06:00:00+00:00", "later")
    assert db.follows_of(store, b[0]) == [("all", ""), ("category", "news"), ("correspondent", "ana")]


def test_an_import_undone_with_its_transaction_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        db.import_rows(store, NEW, {}, {}, "2026-03-02T06:00:00+00:00")
        assert len(db.rows(store)) == 2  # written, not yet committed
        raise RuntimeError("a later row of the same import fails")
    assert db.rows(store) == []
    assert db.all_follows(store) == []
