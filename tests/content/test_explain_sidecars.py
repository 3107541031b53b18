"""`publisher items --explain PATH` (the real executable) and sidecar files that pin fields of a .txt or .pdf,
whose edits are the file's edits."""

from __future__ import annotations

import os
from pathlib import Path

import feedparser

from publisher.config import Config
from publisher.feeds.build import build
from publisher.service.daemon import changed_paths
from publisher.store import Store
from tests.cli.test_cli_content import publisher
from tests.content.pdfs import brief_pdf
from tests.content.test_scanner import put

BRIEFS = Path(__file__).resolve().parent / "briefs"


def test_explain_shows_each_field_and_its_origin(site: Path) -> None:
    put_brief = site / "content" / "2026" / "ferries.txt"
    put_brief.parent.mkdir(parents=True)
    put_brief.write_bytes((BRIEFS / "02-cover-about-org.txt").read_bytes())
    (site / "content" / "2026" / "ferries.txt.toml").write_text('title = "Island Ferries"\n', encoding="utf-8")
    (site / "content" / "index.md").write_text("---\ntitle: Blog\n---\nAll posts.", encoding="utf-8")
    result = publisher("--config", "publisher.toml", "items", "--explain", "2026/ferries.txt", cwd=site)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "title:       Island Ferries   (sidecar 2026/ferries.txt.toml, 'title')" in lines
    assert "published:   2025-11-29T00:00:00+00:00   (header line 11)" in lines
    assert "authors:     Elena Vella   (header line 7)" in lines
    assert any(line.startswith("body starts: Every winter") for line in lines)
    page = publisher("--config", "publisher.toml", "items", "--explain", "index.md", cwd=site)
    assert "left out:    undated page (content.undated)" in page.stdout.splitlines()
    assert "(fallback: the file's modification time)" in page.stdout


def test_a_sidecar_pins_fields_and_its_edits_rebuild(config: Config, store: Store) -> None:
    path = put(config, "briefs/ports.pdf", brief_pdf(pages=2))
    build(config, store)
    feed = feedparser.parse((config.paths.output / "feed.atom").read_bytes())
    assert feed.entries[0].title == "Ports After the Strike: Three Lessons"
    side = Path(str(path) + ".toml")
    side.write_text('title = "Three Lessons From the Strike"\nauthors = ["Mira Okonjo"]\n', encoding="utf-8")
    report = build(config, store)
    assert report.scan.updated == ["briefs/ports"]
    feed = feedparser.parse((config.paths.output / "feed.atom").read_bytes())
    assert feed.entries[0].title == "Three Lessons From the Strike"
    assert [a.name for a in feed.entries[0].authors] == ["Mira Okonjo"]
    assert not (config.paths.output / "correspondents" / "tomas-head").exists()
    side.write_text('title = "Lessons From the Strike"\n', encoding="utf-8")
    os.utime(side, (side.stat().st_mtime + 5,) * 2)
    build(config, store, changed=changed_paths(config.paths.content, [(2, str(side))], config.content.extensions))
    feed = feedparser.parse((config.paths.output / "feed.atom").read_bytes())
    assert feed.entries[0].title == "Lessons From the Strike"
    side.write_text("title = [broken\n", encoding="utf-8")
    os.utime(side, (side.stat().st_mtime + 5,) * 2)
    report = build(config, store)
    assert "briefs/ports.pdf.toml" in report.scan.skipped["briefs/ports.pdf"]
