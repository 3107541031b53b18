"""PDF briefs dropped into the content folder: generated multi-page PDFs with running headers and footers,
read end to end into feeds, published beside them and attached as enclosures with their real length."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import feedparser
import pytest

from publisher.config import Config
from publisher.content.readers import pdf
from publisher.errors import ContentError
from publisher.feeds.build import build
from publisher.mail import digests
from publisher.store import Store
from tests.content.pdfs import brief_pdf
from tests.content.test_scanner import put
from tests.readers_helpers import read


def test_a_pdf_reads_as_a_brief() -> None:
    item = read("briefs/ports.pdf", brief_pdf(pages=3))
    assert item.title == "Ports After the Strike: Three Lessons"
    assert item.authors == ("Mira Okonjo", "Tomas Head")
    assert item.sections[0].role == "Senior Fellows, Coastal Policy Institute"
    assert item.published.date().isoformat() == "2026-03-04"
    assert item.body.startswith("The strike ended on Friday")
    for furniture in ("Page 2 of 3", "www.cpi.example", "Coastal Policy Institute Brief"):
        assert furniture not in item.body
    assert item.body.count("tanding forum of operators") == 3  # one per page, none lost
    assert "\n\nShippers rerouted" in item.body  # paragraphs stay paragraphs
    assert item.body.endswith("Mira Okonjo is a senior fellow at the Coastal Policy Institute.")


def test_a_broken_pdf_is_a_clear_error() -> None:
    with pytest.raises(ContentError, match="not a PDF"):
        pdf.text("x.pdf", b"hello")
    with pytest.raises(ContentError, match="cannot open the PDF"):
        pdf.text("x.pdf", b"%PDF-1.4\nbroken")


def test_a_pdf_named_in_capitals_is_published_too(config: Config, store: Store) -> None:
    data = brief_pdf(pages=2, date="March 3, 2026")
    put(config, "briefs/PORTS.PDF", data)
    put(config, "briefs/notes.pdf.txt", b"Not a PDF, whatever its name holds.")
    build(config, store)
    assert (config.paths.output / "files" / "briefs" / "PORTS.PDF").read_bytes() == data
    assert sorted(p.name for p in (config.paths.output / "files" / "briefs").iterdir()) == ["PORTS.PDF"]


def test_pdfs_reach_the_feeds_as_enclosures_and_the_digests_as_links(config: Config, store: Store) -> None:
    data = brief_pdf(pages=4, date=datetime.now(UTC).strftime("%B %d, %Y"))  # recent: digests gather it
    put(config, "briefs/ports.pdf", data)
    put(config, "briefs/broken.pdf", b"%PDF-1.4\nnot really")
    report = build(config, store)
    assert report.scan.added == ["briefs/ports"]
    assert "cannot open the PDF" in report.scan.skipped["briefs/broken.pdf"]
    published = config.paths.output / "files" / "briefs" / "ports.pdf"
    assert published.read_bytes() == data
    url = "https://news.example.org/files/briefs/ports.pdf"
    for name in ("feed.atom", "feed.rss", "correspondents/tomas-head/feed.atom"):
        feed = feedparser.parse((config.paths.output / name).read_bytes())
        (entry,) = feed.entries
        (enclosure,) = entry.enclosures
        assert (enclosure.href, int(enclosure.length), enclosure.type) == (url, len(data), "application/pdf")
    (item,) = json.loads((config.paths.output / "feed.json").read_bytes())["items"]
    assert item["attachments"] == [{"url": url, "mime_type": "application/pdf", "size_in_bytes": len(data)}]
    feed = feedparser.parse((config.paths.output / "correspondents" / "mira-okonjo" / "feed.atom").read_bytes())
    assert url in feed.entries[0].content[0].value
    (plan,) = digests.plan(config, store, scope="correspondent:mira-okonjo")
    preview = digests.preview(config, store, "mira-okonjo")
    assert plan.section_ids and url in preview.html
    # The PDF goes away: so do its item and its published copy.
    (config.paths.content / "briefs" / "ports.pdf").unlink()
    build(config, store)
    assert not published.exists()
