"""Gathering and queuing digests against a real SQLite store."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta

import pytest

from publisher.config import Config
from publisher.mail import digests
from publisher.mail import subscribers as subs
from publisher.models import Scope
from publisher.store import Store
from tests.mailhelpers import NOW, add_item, outbox_rows


def follow(*texts: str) -> list[subs.Follow]:
    return [subs.parse_follow(t) for t in texts]


@pytest.fixture
def newsroom(store: Store) -> dict[str, int]:
    """Two articles: Ana alone (category News), then Ana and Tomas together (category Business)."""
    ids = add_item(
        store, "a1", "Harbour week", [("Ana Ruiz", "Dockworkers promise a quiet week.")], categories=["News"]
    )
    ids += add_item(
        store,
        "a2",
        "Freight and strikes",
        [("Ana Ruiz", "Strike talk."), ("Tomas Berg", "Freight rates fell.")],
        categories=["Business"],
        published=NOW - timedelta(hours=2),
    )
    return {"ana1": ids[0], "ana2": ids[1], "tomas": ids[2]}


def people(store: Store) -> dict[str, int]:
    made = {
        "ana": subs.add(store, "ana-fan@example.org", "Fan", follow("ana-ruiz"), confirmed=True),
        "tomas": subs.add(store, "tomas-fan@example.org", "", follow("Tomas Berg"), confirmed=True),
        "both": subs.add(store, "both@example.org", "", follow("ana-ruiz", "tomas-berg"), confirmed=True),
        "all": subs.add(store, "all@example.org", "", follow("all", "ana-ruiz"), confirmed=True),
        "news": subs.add(store, "news@example.org", "", follow("category:News"), confirmed=True),
        "pending": subs.add(store, "pending@example.org", "", follow("ana-ruiz", "all")),
        "gone": subs.add(store, "gone@example.org", "", follow("ana-ruiz", "all"), confirmed=True),
        "bounced": subs.add(store, "bounced@example.org", "", follow("ana-ruiz", "all"), confirmed=True),
    }
    subs.unsubscribe(store, made["gone"].id)
    subs.record_bounce(store, made["bounced"].id, 1)
    return {k: v.id for k, v in made.items()}


def recipients_by_digest(store: Store) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for row in outbox_rows(store, "digest"):
        out.setdefault(row["digest_id"].split("@")[0], set()).add(row["subscriber_id"])
    return out


def test_per_correspondent_digests_go_to_confirmed_followers_only(
    config: Config, store: Store, newsroom: dict[str, int]
) -> None:
    who = people(store)
    queued = digests.queue(config, store, now=NOW)
    assert sorted(queued) == sorted(
        f"{scope}@{NOW.isoformat()}"
        for scope in ("all", "category:news", "correspondent:ana-ruiz", "correspondent:tomas-berg")
    )
    assert recipients_by_digest(store) == {
        "correspondent:ana-ruiz": {who["ana"], who["both"]},
        "correspondent:tomas-berg": {who["tomas"], who["both"]},
        # A follower of everything gets the one digest of everything, not the narrower ones too.
        "all": {who["all"]},
        "category:news": {who["news"]},
    }
    sections = {row[0]: json.loads(row[1]) for row in store.conn.execute("SELECT scope, section_ids FROM digests")}
    assert sections["correspondent:ana-ruiz"] == [newsroom["ana1"], newsroom["ana2"]]
    assert sections["correspondent:tomas-berg"] == [newsroom["tomas"]]
    assert sections["category:news"] == [newsroom["ana1"]]
    assert sorted(sections["all"]) == sorted(newsroom.values())
    rows = outbox_rows(store, "digest")
    assert all(r["state"] == "queued" and r["recipient"].endswith("@example.org") for r in rows)
    assert len({r["message_id"] for r in rows}) == len(rows)
    # The Message-ID derives from digest and subscriber, so a retry (or a recomputation) gives the same.
    row = rows[0]
    assert row["message_id"] == digests.message_id(config, row["digest_id"], row["subscriber_id"])


def test_rerun_is_idempotent_and_the_next_digest_has_only_new_sections(
    config: Config, store: Store, newsroom: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    people(store)
    first = digests.queue(config, store, now=NOW)
    count = len(outbox_rows(store))
    assert digests.queue(config, store, now=NOW) == []
    assert len(outbox_rows(store)) == count
    caplog.set_level(logging.INFO, logger="publisher.mail.digests")
    later = NOW + timedelta(days=1)
    assert digests.queue(config, store, now=later) == []
    assert "digest correspondent:ana-ruiz: no new sections" in caplog.text
    assert len(outbox_rows(store)) == count
    # A new section by Tomas: only Tomas's scopes get a digest, holding only it.
    new = add_item(store, "a3", "Ferries", [("Tomas Berg", "Ferries resume.")], published=later, recorded=later)
    second = digests.queue(config, store, now=later + timedelta(hours=1))
    assert {d.split("@")[0] for d in second} == {"correspondent:tomas-berg", "all"}
    held = dict(store.conn.execute("SELECT id, section_ids FROM digests").fetchall())
    assert all(json.loads(held[d]) == new for d in second)
    assert set(first).isdisjoint(second)


def test_first_digest_is_bounded_by_max_age(make_config: Callable[..., Config], store: Store) -> None:
    config = make_config("[digest]\nmax_age_days = 3\n")
    # Recorded just now but published long ago (an archive imported today), and long recorded.
    add_item(store, "old", "Old", [("Ana Ruiz", "Old.")], published=NOW - timedelta(days=10), recorded=NOW)
    add_item(store, "stale", "Stale", [("Ana Ruiz", "Stale.")], published=NOW - timedelta(days=5))
    fresh = add_item(store, "new", "New", [("Ana Ruiz", "New.")], published=NOW - timedelta(days=2))
    subs.add(store, "a@example.org", follows=follow("ana-ruiz"), confirmed=True)
    (plan,) = digests.plan(config, store, now=NOW)
    assert plan.section_ids == tuple(fresh)
    assert plan.period_start == NOW - timedelta(days=3)


def test_plan_writes_nothing(config: Config, store: Store, newsroom: dict[str, int]) -> None:
    people(store)
    plans = digests.plan(config, store, now=NOW)
    expected = {"all", "category:news", "correspondent:ana-ruiz", "correspondent:tomas-berg"}
    assert {str(p.scope) for p in plans} == expected
    for table in ("digests", "digest_marks", "outbox"):
        assert store.scalar(f"SELECT COUNT(*) FROM {table}") == 0
    (one,) = digests.plan(config, store, now=NOW, scope="tomas-berg")
    assert one.scope == Scope("correspondent", "tomas-berg") and one.title == "Tomas Berg"


def test_nobody_following_means_no_digest_and_no_mark(config: Config, store: Store, newsroom: dict[str, int]) -> None:
    subs.add(store, "p@example.org", follows=follow("ana-ruiz"))  # pending only
    assert digests.queue(config, store, now=NOW) == []
    assert digests.queue(config, store, now=NOW, scope="ana-ruiz") == []
    assert store.scalar("SELECT COUNT(*) FROM digest_marks") == 0


def test_one_scope_and_own_schedules(
    make_config: Callable[..., Config], store: Store, newsroom: dict[str, int]
) -> None:
    config = make_config('[digest.schedules]\n"tomas-berg" = "0 9 * * *"\n')
    people(store)
    assert Scope.parse("correspondent:tomas-berg") not in digests.due_scopes(config, store)
    assert Scope.parse("correspondent:ana-ruiz") in digests.due_scopes(config, store)
    assert digests.queue(config, store, now=NOW, scope="correspondent:tomas-berg") == [
        f"correspondent:tomas-berg@{NOW.isoformat()}"
    ]
    with pytest.raises(digests.DigestError):
        digests.queue(config, store, now=NOW, scope="category:")


def test_deleted_items_are_left_out(config: Config, store: Store, newsroom: dict[str, int]) -> None:
    people(store)
    store.conn.execute("UPDATE items SET deleted_at = ? WHERE key = 'a1'", (NOW.isoformat(),))
    (plan,) = digests.plan(config, store, now=NOW, scope="ana-ruiz")
    assert plan.section_ids == (newsroom["ana2"],)


def test_combined_mode_one_email_per_subscriber(
    make_config: Callable[..., Config], store: Store, newsroom: dict[str, int]
) -> None:
    config = make_config('[digest]\nmode = "combined"\n')
    who = people(store)
    (queued,) = digests.queue(config, store, now=NOW)
    assert queued.startswith("combined@")
    rows = {r["subscriber_id"]: json.loads(r["payload"])["sections"] for r in outbox_rows(store, "digest")}
    assert rows == {
        who["ana"]: [newsroom["ana1"], newsroom["ana2"]],
        who["tomas"]: [newsroom["tomas"]],
        who["both"]: [newsroom["ana1"], newsroom["ana2"], newsroom["tomas"]],
        who["all"]: [newsroom["ana1"], newsroom["ana2"], newsroom["tomas"]],
        who["news"]: [newsroom["ana1"]],
    }
    assert digests.queue(config, store, now=NOW + timedelta(hours=1)) == []


def test_preview_renders_without_marking(config: Config, store: Store, newsroom: dict[str, int]) -> None:
    rendered = digests.preview(config, store, "ana-ruiz", now=NOW)
    assert rendered.section_count == 2 and "Harbour week" in rendered.text and "Harbour week" in rendered.html
    assert rendered.subject == "Ana Ruiz: 2 new"
    for table in ("digests", "digest_marks", "outbox"):
        assert store.scalar(f"SELECT COUNT(*) FROM {table}") == 0
    with pytest.raises(digests.DigestError, match="nobody"):
        digests.preview(config, store, "nobody", now=NOW)
