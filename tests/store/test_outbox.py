"""The outbox table's statements."""

from __future__ import annotations

import pytest

from publisher.store import Store
from publisher.store.outbox import PAGE_SQL, claim_sql, sent_sql


@pytest.mark.parametrize(
    ("sql", "params", "expected"),
    [
        (claim_sql(3), ("t", 1, 2, 3), "USING INTEGER PRIMARY KEY"),
        (sent_sql(3), ("t", "t", "relay", 1, 2, 3), "USING INTEGER PRIMARY KEY"),
        (PAGE_SQL, ("t", "t", 0, 256), "USING INDEX outbox_due (state=? AND next_attempt_at"),
    ],
    ids=["claim", "sent", "page"],
)
def test_per_message_statements_do_not_scan_the_queue(store: Store, sql: str, params: tuple, expected: str) -> None:
    plan = " ".join(row[3] for row in store.conn.execute("EXPLAIN QUERY PLAN " + sql, params))
    assert expected in plan, plan
