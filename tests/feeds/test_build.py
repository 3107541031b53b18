"""Builds end to end: a real content folder, a real SQLite file, feeds read back with feedparser."""

from __future__ import annotations

import gc
import json
import os
import shutil
from pathlib import Path

import feedparser
import pytest

from publisher.config import Config
from publisher.feeds.build import build
from publisher.store import Store
from tests.conftest import EXAMPLES

HARBOUR = """---
layout: post
title: "Harbour week: what each desk is watching"
date: 2026-03-02T06:15:00
author: "newsdesk"
categories: [News]
tags: [ports, trade]
excerpt: "Our correspondents on the week ahead."
image: assets/images/harbour.jpg
---

The harbour summit opens on Monday. Here is what our desks expect.

By Ana Ruiz, Lisbon correspondent

Dockworkers have promised a quiet week...

By Tomas Berg, Nordic business correspondent

Freight rates fell for the third month...
"""

SINGLE = """+++
title = "Freight rates, explained"
date = 2026-03-05T09:00:00Z
authors = ["Tomas Berg"]
categories = ["Business"]
+++

Rates fell again. [Data](/data/rates.csv).
"""


def parse(path: Path) -> feedparser.FeedParserDict:
    feed = feedparser.parse(path.read_bytes())
    assert not feed.bozo, feed.get("bozo_exception")
    return feed


def seed(config: Config) -> None:
    (config.paths.content / "2026").mkdir(parents=True, exist_ok=True)
    (config.paths.content / "2026" / "harbour-week.md").write_text(HARBOUR, encoding="utf-8")
    (config.paths.content / "2026-03-05-freight.md").write_text(SINGLE, encoding="utf-8")


def test_first_build_writes_every_feed(config: Config, store: Store) -> None:
    seed(config)
    report = build(config, store)
    out = config.paths.output
    assert report.full
    for stem in ("feed", "correspondents/ana-ruiz/feed", "correspondents/tomas-berg/feed", "categories/news/feed"):
        for ext in (".atom", ".rss", ".json"):
            assert (out / (stem + ext)).is_file(), stem + ext
    assert (out / "feeds.opml").is_file()
    site = parse(out / "feed.atom")
    assert [e.title for e in site.entries] == ["Freight rates, explained", "Harbour week: what each desk is watching"]
    assert site.entries[1].id == "tag:news.example.org,2026-03-02:2026/harbour-week"
    assert site.entries[1].link == "https://news.example.org/2026/03/02/harbour-week/"
    # Relative links and images are absolute on base_url.
    assert "https://news.example.org/data/rates.csv" in site.entries[0].content[0].value


def test_a_build_collects_garbage_less_often_and_sets_the_collector_back(config: Config, store: Store) -> None:
    seed(config)
    before = gc.get_threshold()
    during: list[tuple[int, int, int]] = []
    build(config, store, feed_progress=lambda done, total: during.append(gc.get_threshold()))
    assert during and all(t[0] > before[0] and t[1:] == before[1:] for t in during)
    assert gc.get_threshold() == before
    # Set back even when the build fails.
    (config.paths.content / "2026-03-06-more.md").write_text(SINGLE.replace("Freight", "More"), encoding="utf-8")

    def fail(done: int, total: int) -> None:
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        build(config, store, feed_progress=fail)
    assert gc.get_threshold() == before


def test_correspondent_feed_holds_only_their_sections(config: Config, store: Store) -> None:
    seed(config)
    build(config, store)
    out = config.paths.output
    ana = parse(out / "correspondents" / "ana-ruiz" / "feed.atom")
    assert "Ana Ruiz" in ana.feed.title and "Lisbon correspondent" in ana.feed.title
    assert len(ana.entries) == 1
    entry = ana.entries[0]
    assert entry.link.endswith("/harbour-week/#ana-ruiz")
    assert "Dockworkers" in entry.content[0].value
    assert "Freight rates fell" not in entry.content[0].value
    tomas = parse(out / "correspondents" / "tomas-berg" / "feed.rss")
    assert tomas.entries[0].title == "Freight rates, explained"
    assert len({e.id for e in tomas.entries}) == 2
    data = json.loads((out / "correspondents" / "tomas-berg" / "feed.json").read_text())
    assert [i["id"] for i in data["items"]] == [e.id for e in tomas.entries]


def test_rebuild_without_changes_writes_nothing(config: Config, store: Store) -> None:
    seed(config)
    build(config, store)
    stamps = {p: p.stat().st_mtime_ns for p in config.paths.output.rglob("*") if p.is_file()}
    report = build(config, store)
    assert report.feeds_written == [] and not report.full
    assert {p: p.stat().st_mtime_ns for p in config.paths.output.rglob("*") if p.is_file()} == stamps


def test_same_content_gives_byte_identical_feeds(config: Config, store: Store, tmp_path: Path) -> None:
    seed(config)
    build(config, store)
    first = {p.relative_to(config.paths.output): p.read_bytes() for p in config.paths.output.rglob("*.*")}
    shutil.rmtree(config.paths.output)
    with Store(tmp_path / "other.db") as other:
        build(config, other)
    second = {p.relative_to(config.paths.output): p.read_bytes() for p in config.paths.output.rglob("*.*")}
    assert first == second


def test_new_post_touches_only_its_feeds(config: Config, store: Store) -> None:
    seed(config)
    build(config, store)
    (config.paths.content / "2026-03-06-quay.md").write_text(
        "---\ntitle: Quay\ndate: 2026-03-06\nauthor: Ana Ruiz\ncategories: [Culture]\n---\nNew quay.\n",
        encoding="utf-8",
    )
    report = build(config, store, changed={"2026-03-06-quay.md"})
    written = set(report.feeds_written)
    assert "feed.atom" in written and "correspondents/ana-ruiz/feed.atom" in written
    assert "categories/culture/feed.atom" in written
    assert "feeds.opml" in written  # a new feed is listed
    assert not any(p.startswith("correspondents/tomas-berg") for p in written)
    assert parse(config.paths.output / "feed.atom").entries[0].title == "Quay"


def test_deleting_last_item_of_a_category_removes_its_feed(config: Config, store: Store) -> None:
    seed(config)
    build(config, store)
    (config.paths.content / "2026-03-05-freight.md").unlink()
    report = build(config, store)
    assert "categories/business/feed.atom" in report.feeds_removed
    assert not (config.paths.output / "categories" / "business" / "feed.atom").exists()
    assert [e.title for e in parse(config.paths.output / "feed.atom").entries] == [
        "Harbour week: what each desk is watching"
    ]


def test_example_content_builds_cleanly(config: Config, store: Store) -> None:
    shutil.copytree(EXAMPLES, config.paths.content, dirs_exist_ok=True)
    report = build(config, store)
    assert report.scan.added, "the bundled examples publish items"
    assert report.scan.skipped == {}, report.scan.skipped
    assert report.scan.drafts >= 1
    for path in config.paths.output.rglob("*.atom"):
        parse(path)
    names = os.listdir(config.paths.output / "correspondents")
    assert len(names) >= 3


def test_incremental_builds_end_where_a_full_build_ends(config: Config, store: Store, tmp_path: Path) -> None:
    """Edits, deletions, drafts and new labels, each built incrementally, leave the same files as one
    full build of the final folder."""
    seed(config)
    build(config, store)
    content = config.paths.content
    steps = [
        ("2026-03-06-quay.md", "---\ntitle: Quay\nauthor: Ana Ruiz\ncategories: [Culture]\ntags: [docks]\n---\nNew.\n"),
        ("2026-03-05-freight.md", SINGLE.replace("Business", "Culture")),
        (
            "2026/harbour-week.md",
            HARBOUR.replace("By Tomas Berg, Nordic business correspondent", "By Mira Okonjo, Fellow"),
        ),
        ("2026-03-06-quay.md", None),
        ("2026-03-07-draft.md", "---\ntitle: Draft\ndraft: true\n---\nNot yet.\n"),
    ]
    for i, (rel, text) in enumerate(steps):
        path = content / rel
        if text is None:
            path.unlink()
        else:
            path.write_text(text, encoding="utf-8")
            os.utime(path, (1_800_000_000 + i, 1_800_000_000 + i))
        build(config, store, changed={rel})
    incremental = {p.relative_to(config.paths.output): p.read_bytes() for p in config.paths.output.rglob("*.*")}
    shutil.rmtree(config.paths.output)
    build(config, store)
    full = {p.relative_to(config.paths.output): p.read_bytes() for p in config.paths.output.rglob("*.*")}
    assert sorted(incremental) == sorted(full)
    assert incremental == full
    # Mira's new section got a feed; the draft got nothing.
    assert (config.paths.output / "correspondents" / "mira-okonjo" / "feed.atom") in [
        config.paths.output / p for p in full
    ]
    assert not any("Draft" in data.decode() for data in full.values())


def test_names_in_other_scripts_get_their_own_correspondents_and_feeds(config: Config, store: Store) -> None:
    content = config.paths.content
    (content / "a.md").write_text(
        "---\ntitle: Выборы\ndate: 2026-03-01\nauthor: Иван Петров\ncategories: [Политика]\n---\nТекст.\n",
        encoding="utf-8",
    )
    (content / "b.md").write_text(
        "---\ntitle: Матч\ndate: 2026-03-02\nauthor: Мария Иванова\ncategories: [Спорт]\n---\nТекст.\n\n"
        "By Ольга Смирнова, Moscow correspondent\n\nРепортаж.\n",
        encoding="utf-8",
    )
    build(config, store)
    out = config.paths.output
    people = sorted(p.name for p in (out / "correspondents").iterdir())
    assert people == sorted(["иван-петров", "мария-иванова", "ольга-смирнова"])
    assert sorted(p.name for p in (out / "categories").iterdir()) == ["политика", "спорт"]
    ivan = parse(out / "correspondents" / "иван-петров" / "feed.atom")
    assert [e.title for e in ivan.entries] == ["Выборы"]
    self_link = next(link.href for link in ivan.feed.links if link.rel == "self")
    assert (
        self_link
        == "https://news.example.org/correspondents/%D0%B8%D0%B2%D0%B0%D0%BD-%D0%BF%D0%B5%D1%82%D1%80%D0%BE%D0%B2/feed.atom"
    )


def test_front_matter_images_must_be_web_urls(config: Config, store: Store) -> None:
    content = config.paths.content
    for name, image in (("a", "javascript:alert(1)"), ("b", "data:image/png;base64,AAAA"), ("c", "img/c.png")):
        (content / f"{name}.md").write_text(
            f"---\ntitle: {name}\ndate: 2026-03-0{ord(name) - 96}\nimage: '{image}'\n---\nx\n", encoding="utf-8"
        )
    build(config, store)
    atom = (config.paths.output / "feed.atom").read_text()
    assert "javascript:" not in atom and "data:image" not in atom
    assert "https://news.example.org/img/c.png" in atom


def test_feed_keys_are_stored_as_text_and_read_back(config: Config, store: Store) -> None:
    seed(config)
    build(config, store)
    stored = json.loads(store.get_meta("feeds") or "{}")
    # The same text as ever: existing stores read the same.
    assert stored["site"] == "feed"
    assert stored["correspondent/ana-ruiz"] == "correspondents/ana-ruiz/feed"
    assert stored["category/news"] == "categories/news/feed"
    # A key no build writes (damaged by hand, or from elsewhere) is forgotten, not fatal.
    store.set_meta("feeds", json.dumps({**stored, "nonsense": "x/feed"}))
    (config.paths.content / "2026-03-05-freight.md").unlink()
    report = build(config, store)
    assert "categories/business/feed.atom" in report.feeds_removed
    after = json.loads(store.get_meta("feeds") or "{}")
    assert "nonsense" not in after and "category/business" not in after and "site" in after


def test_feed_list_is_rewritten_only_when_a_feed_or_its_title_changes(config: Config, store: Store) -> None:
    seed(config)
    build(config, store)
    opml = config.paths.output / "feeds.opml"
    before = opml.read_bytes()
    # A post in feeds that exist already, under the same names: the list stays as it is.
    (config.paths.content / "2026-03-06-rates.md").write_text(
        SINGLE.replace("Freight rates, explained", "Rates again").replace("2026-03-05", "2026-03-06"),
        encoding="utf-8",
    )
    report = build(config, store, changed={"2026-03-06-rates.md"})
    assert "correspondents/tomas-berg/feed.atom" in report.feeds_written
    assert "feeds.opml" not in report.feeds_written and opml.read_bytes() == before
    # A correspondent's new role is part of their feed's title: the list follows it.
    (config.paths.content / "2026" / "harbour-week.md").write_text(
        HARBOUR.replace("Lisbon correspondent", "Iberia editor"), encoding="utf-8"
    )
    report = build(config, store, changed={"2026/harbour-week.md"})
    assert "feeds.opml" in report.feeds_written
    assert b"Iberia editor" in opml.read_bytes() and b"Lisbon correspondent" not in opml.read_bytes()
