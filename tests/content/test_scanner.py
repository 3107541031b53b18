"""The scanner against a real content folder and a real SQLite file: incremental, stable ids, bad input."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.config import Config
from publisher.content import catalog
from publisher.content.scanner import scan
from publisher.mail import digests
from publisher.mail import subscribers as subs
from publisher.models import FeedKey
from publisher.store import Store

POST = """---
title: "{title}"
date: 2026-03-02T06:15:00
author: "Newsdesk"
categories: [News]
tags: [ports]
---

The harbour summit opens on Monday.

By Ana Ruiz, Lisbon correspondent

Dockworkers have promised a quiet week.

By Tomas Berg, Nordic business correspondent

Freight rates fell for the third month.
"""


def put(config: Config, rel: str, text: str | bytes) -> Path:
    path = config.paths.content / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def items(store: Store) -> dict[str, tuple[str, str, str | None]]:
    rows = store.conn.execute("SELECT key, uid, title, deleted_at FROM items").fetchall()
    return {k: (uid, title, deleted) for k, uid, title, deleted in rows}


def test_scan_records_items_sections_and_correspondents(config: Config, store: Store) -> None:
    put(config, "2026/harbour.md", POST.format(title="Harbour week"))
    report = scan(config, store)
    assert report.added == ["2026/harbour"]
    sections = store.conn.execute(
        "SELECT position, correspondent_slug, role, anchor FROM sections ORDER BY position"
    ).fetchall()
    assert sections == [
        (0, "newsdesk", "", "newsdesk"),
        (1, "ana-ruiz", "Lisbon correspondent", "ana-ruiz"),
        (2, "tomas-berg", "Nordic business correspondent", "tomas-berg"),
    ]
    assert {c.slug for c in catalog.correspondents(store)} == {"newsdesk", "ana-ruiz", "tomas-berg"}
    (uid,) = store.conn.execute("SELECT uid FROM items").fetchone()
    assert uid == "tag:news.example.org,2026-03-02:2026/harbour"


def test_second_scan_changes_nothing(config: Config, store: Store) -> None:
    put(config, "a.md", POST.format(title="A"))
    put(config, "b.md", POST.format(title="B"))
    scan(config, store)
    before = store.conn.execute("SELECT * FROM items ORDER BY key").fetchall()
    sources = store.conn.execute("SELECT * FROM sources ORDER BY path").fetchall()
    report = scan(config, store)
    assert (report.files_read, report.added, report.updated, report.removed) == (0, [], [], [])
    assert report.unchanged == 2
    assert store.conn.execute("SELECT * FROM items ORDER BY key").fetchall() == before
    assert store.conn.execute("SELECT * FROM sources ORDER BY path").fetchall() == sources


def test_touched_but_unchanged_file_is_not_parsed(config: Config, store: Store) -> None:
    path = put(config, "a.md", POST.format(title="A"))
    scan(config, store)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 5_000_000_000))
    report = scan(config, store)
    assert report.files_read == 0 and report.unchanged == 1


def test_edit_keeps_id_and_moves_updated(config: Config, store: Store) -> None:
    path = put(config, "a.md", POST.format(title="First"))
    scan(config, store)
    uid, _, _ = items(store)["a"]
    (sid_before,) = store.conn.execute("SELECT id FROM sections WHERE correspondent_slug = 'ana-ruiz'").fetchone()
    path.write_text(POST.format(title="Second"), encoding="utf-8")
    os.utime(path, (1_900_000_000, 1_900_000_000))
    report = scan(config, store)
    assert report.updated == ["a"]
    assert items(store)["a"] == (uid, "Second", None)
    published, updated = store.conn.execute("SELECT published, updated FROM items").fetchone()
    assert updated > published
    # The section keeps its id, so a digest that already sent it will not send it again.
    (sid_after,) = store.conn.execute("SELECT id FROM sections WHERE correspondent_slug = 'ana-ruiz'").fetchone()
    assert sid_after == sid_before
    assert FeedKey.parse("site") in report.touched.keys
    assert FeedKey.parse("correspondent/ana-ruiz") in report.touched.keys


def test_deleted_file_leaves_the_feeds_and_comes_back_with_its_id(config: Config, store: Store) -> None:
    path = put(config, "a.md", POST.format(title="A"))
    scan(config, store)
    uid = items(store)["a"][0]
    text = path.read_text()
    path.unlink()
    report = scan(config, store)
    assert report.removed == ["a"]
    assert items(store)["a"][2] is not None
    ctx = catalog.Context.load(config, store)
    assert catalog.site_items(store, ctx, 10) == []
    put(config, "a.md", text)
    report = scan(config, store)
    assert report.added == ["a"]
    assert items(store)["a"] == (uid, "A", None)


def test_id_survives_base_url_move(make_config, store: Store) -> None:  # type: ignore[no-untyped-def]
    config = make_config()
    put(config, "a.md", POST.format(title="A"))
    scan(config, store)
    uid = items(store)["a"][0]
    moved = make_config('[paths]\ncontent = "content"\n', PUBLISHER_SITE__BASE_URL="https://elsewhere.example/")
    put(moved, "b.md", POST.format(title="B"))
    scan(moved, store)
    assert items(store)["a"][0] == uid
    ctx = catalog.Context.load(moved, store)
    assert {i.url.split("/")[2] for i in catalog.site_items(store, ctx, 10)} == {"elsewhere.example"}


BAD = {
    "bad-yaml.md": b"---\ntitle: [unclosed\n---\nbody\n",
    "bad-toml.md": b'+++\ntitle = "x\n+++\nbody\n',
    "latin1.md": "---\ntitle: caf\xe9\n---\nbody\n".encode("latin-1"),
    "binary.md": b"\x00\x01\x02\x03PNG\x00\x00",
    "empty.md": b"",
}


def test_bad_files_are_skipped_with_reasons_and_good_ones_published(
    config: Config, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    put(config, "good.md", POST.format(title="Good"))
    for name, data in BAD.items():
        put(config, name, data)
    put(config, "big.md", "---\ntitle: big\n---\n" + "x" * 200)
    put(config, "dupe.md", "---\nid: good\ntitle: Dupe\ndate: 2026-01-01\n---\nbody\n")
    put(config, "_index.md", "---\ntitle: section index\n---\n")
    put(config, ".hidden.md", POST.format(title="hidden"))
    put(config, "notes.md~", POST.format(title="temp"))
    outside = config.paths.content.parent / "outside.md"
    outside.write_text(POST.format(title="Outside"), encoding="utf-8")
    (config.paths.content / "link.md").symlink_to(outside)
    (config.paths.content / "good-id.md").write_text(
        "---\nid: good\ntitle: Good id\ndate: 2026-01-02\n---\nbody\n", encoding="utf-8"
    )
    small = dataclasses.replace(config, content=dataclasses.replace(config.content, max_file_size=150))
    with caplog.at_level(logging.WARNING):
        report = scan(small, store)
    assert "good" in report.added
    skipped = report.skipped
    assert set(BAD) <= set(skipped)
    assert "big.md" in skipped and "over the limit" in skipped["big.md"]
    assert "link.md" in skipped and "outside" in skipped["link.md"]
    assert any("duplicate id" in reason for reason in skipped.values())
    assert "line" in skipped["bad-yaml.md"]
    for hidden in ("_index.md", ".hidden.md", "notes.md~"):
        assert hidden not in skipped
    # Each bad file is logged once, with its path.
    for name in BAD:
        assert sum(name in r.getMessage() for r in caplog.records) == 1
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        scan(small, store)
    assert not [r for r in caplog.records if "skipped" in r.getMessage()]


def test_draft_is_not_published_and_unpublishing_removes(config: Config, store: Store) -> None:
    path = put(config, "a.md", POST.format(title="A"))
    scan(config, store)
    path.write_text(POST.format(title="A").replace("tags:", "draft: true\ntags:"), encoding="utf-8")
    os.utime(path, (1_900_000_000, 1_900_000_000))
    report = scan(config, store)
    assert report.removed == ["a"] and report.drafts == 1


def test_only_changed_paths(config: Config, store: Store) -> None:
    put(config, "a.md", POST.format(title="A"))
    scan(config, store)
    put(config, "b.md", POST.format(title="B"))
    report = scan(config, store, only={"b.md"})
    assert report.added == ["b"] and report.files_seen == 1
    (config.paths.content / "a.md").unlink()
    report = scan(config, store, only={"a.md"})
    assert report.removed == ["a"]


def test_permalinks_site_relative_absolute_and_scheme_relative(config: Config, store: Store) -> None:
    for name, link in (("a", "/custom/a/"), ("b", "https://elsewhere.example/b"), ("c", "//cdn.example/c")):
        put(config, f"{name}.md", f"---\ntitle: {name}\ndate: 2026-01-0{ord(name) - 96}\npermalink: {link}\n---\nx\n")
    put(config, "d.md", "---\ntitle: d d\ndate: 2026-01-04T10:00:00\n---\nx\n")
    scan(config, store)
    ctx = catalog.Context.load(config, store)
    urls = {i.key: i.url for i in catalog.site_items(store, ctx, 10)}
    assert urls == {
        "a": "https://news.example.org/custom/a/",
        "b": "https://elsewhere.example/b",
        "c": "https://cdn.example/c",
        "d": "https://news.example.org/2026/01/04/d/",
    }


def test_a_post_scanned_just_after_a_digest_run_goes_in_the_next_digest(config: Config, store: Store) -> None:
    """A digest moves its scope's mark to the second it ran; a section written after the digest, in that
    same second, must still be newer than the mark."""
    subs.add(store, "reader@example.org", "Reader", [subs.parse_follow("all")], confirmed=True)
    today = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    put(config, "a.md", f"---\ntitle: A\ndate: {today}\nauthor: Ana Ruiz\n---\nFirst.\n")
    scan(config, store)
    scanned = int(time.time())
    # Start early in a later second, so the digest and the next scan share it (and a.md is before it).
    while int(time.time()) == scanned or time.time() % 1 > 0.3:
        time.sleep(0.01)
    first = digests.queue(config, store)
    put(config, "b.md", f"---\ntitle: B\ndate: {today}\nauthor: Ana Ruiz\n---\nSecond.\n")
    assert scan(config, store).added == ["b"]
    time.sleep(1.1)
    second = digests.queue(config, store)
    assert len(first) == 1 and len(second) == 1
    (ids,) = store.conn.execute("SELECT section_ids FROM digests WHERE id = ?", (second[0],)).fetchone()
    (b_section,) = store.conn.execute("SELECT id FROM sections WHERE item_key = 'b'").fetchone()
    assert b_section in json.loads(ids)


def test_renaming_a_file_with_an_explicit_id_keeps_the_item(config: Config, store: Store) -> None:
    path = put(config, "news/renamed-a.md", "---\nid: my-stable-id\ntitle: Stable\ndate: 2026-01-05\n---\nBody.\n")
    scan(config, store)
    uid = items(store)["my-stable-id"][0]
    path.rename(config.paths.content / "news" / "renamed-b.md")
    report = scan(config, store)
    assert report.skipped == {}
    assert items(store)["my-stable-id"] == (uid, "Stable", None)
    assert store.scalar("SELECT source_path FROM items WHERE key = 'my-stable-id'") == "news/renamed-b.md"
    # The watcher reports both paths of a rename: the same outcome.
    (config.paths.content / "news" / "renamed-b.md").rename(config.paths.content / "renamed-c.md")
    report = scan(config, store, only={"news/renamed-b.md", "renamed-c.md"})
    assert report.skipped == {} and items(store)["my-stable-id"] == (uid, "Stable", None)


def test_a_duplicate_is_published_once_the_file_holding_its_id_is_gone(config: Config, store: Store) -> None:
    put(config, "a.md", "---\nid: shared\ntitle: First\ndate: 2026-01-05\n---\nA.\n")
    put(config, "b.md", "---\nid: shared\ntitle: Second\ndate: 2026-01-06\n---\nB.\n")
    report = scan(config, store)
    assert "b.md" in report.skipped
    (config.paths.content / "a.md").unlink()
    report = scan(config, store, only={"a.md"})
    assert items(store)["shared"][1:] == ("Second", None)


def test_a_moved_file_keeps_its_id_and_its_sections(config: Config, store: Store) -> None:
    path = put(config, "news/harbour.md", POST.format(title="Harbour"))
    scan(config, store)
    uid = items(store)["news/harbour"][0]
    before = store.conn.execute("SELECT id, recorded_at FROM sections ORDER BY position").fetchall()
    (config.paths.content / "archive").mkdir()
    path.rename(config.paths.content / "archive" / "harbour.md")
    report = scan(config, store)
    assert items(store)["news/harbour"] == (uid, "Harbour", None)
    assert "archive/harbour" not in items(store)
    assert store.conn.execute("SELECT id, recorded_at FROM sections ORDER BY position").fetchall() == before
    assert report.removed == ["news/harbour"] and report.added == ["news/harbour"]


def test_a_digest_right_after_a_scan_in_the_same_second_includes_the_post(config: Config, store: Store) -> None:
    subs.add(store, "reader@example.org", "Reader", [subs.parse_follow("all")], confirmed=True)
    today = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    while time.time() % 1 > 0.3:  # the scan and the digest share a second
        time.sleep(0.01)
    put(config, "a.md", f"---\ntitle: A\ndate: {today}\nauthor: Ana Ruiz\n---\nFirst.\n")
    scan(config, store)
    (queued,) = digests.queue(config, store)
    (ids,) = store.conn.execute("SELECT section_ids FROM digests WHERE id = ?", (queued,)).fetchone()
    assert len(json.loads(ids)) == 1


def test_a_correspondent_carries_the_role_of_their_newest_section_that_names_one(config: Config, store: Store) -> None:
    def byline(day: int, role: str) -> str:
        who = f"By Ana Ruiz, {role}" if role else "By Ana Ruiz"
        return f"---\ntitle: Day {day}\ndate: 2026-03-{day:02d}T06:00:00\n---\n\nLead.\n\n{who}\n\nText {day}.\n"

    put(config, "a.md", byline(2, "Lisbon correspondent"))
    put(config, "c.md", byline(9, "Madrid correspondent"))
    put(config, "b.md", byline(5, "Porto correspondent"))
    scan(config, store)
    person = catalog.correspondent(store, "ana-ruiz")
    assert person is not None and person.role == "Madrid correspondent"
    # A newer section that names no role changes nothing; the newest one that names one goes: the next.
    put(config, "d.md", byline(12, ""))
    (config.paths.content / "c.md").unlink()
    scan(config, store)
    person = catalog.correspondent(store, "ana-ruiz")
    assert person is not None and person.role == "Porto correspondent"
