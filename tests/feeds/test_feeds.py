"""Feeds built from records, read back with feedparser and compared with golden files.

Regenerate the golden files after an intended change with ``UPDATE_GOLDEN=1 .venv/bin/pytest tests/feeds/test_feeds.py``
and review the diff.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import feedparser
import pytest
from lxml import etree

from publisher.config import Config, FeedsConfig, SiteConfig, WebSubConfig
from publisher.feeds import render as feeds
from publisher.feeds.render import FeedEntry
from publisher.models import Correspondent, Item, Section

GOLDEN = Path(__file__).parent / "golden" / "feeds"
ATOM = "{http://www.w3.org/2005/Atom}"
BASE = "https://news.example.org/"
# Characters lxml refuses, and the ones that could smuggle a second line into a header later.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")

DESK = Correspondent("newsdesk", "Newsdesk", "")
ANA = Correspondent("ana-ruiz", "Ana Ruiz", "Lisbon correspondent")
TOMAS = Correspondent("tomas-berg", "Tomas Berg", "Nordic business correspondent")
MIRA = Correspondent("mira-okonjo", "Mira Okonjo", "Senior Fellow")
ZOE = Correspondent("zoe-o-briain", "Zoë Ó Briain", "Iberia correspondent")


def make_config(**site: Any) -> Config:
    values = {
        "title": "Example News",
        "base_url": BASE,
        "timezone": "Europe/London",
        "language": "en",
        "author": "Newsroom",
        "description": "News from the harbour and beyond.",
        "id_authority": "news.example.org",
    }
    values.update(site)
    return Config(site=SiteConfig(**values))


CONFIG = make_config()


def at(day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def section(key: str, position: int, who: Correspondent, html: str, when: datetime) -> Section:
    return Section(
        id=position + 1,
        item_key=key,
        position=position,
        correspondent=who,
        anchor=who.slug,
        html=html,
        recorded_at=when,
    )


def item(key: str, title: str, when: datetime, authors: tuple[Correspondent, ...], html: str, **kw: Any) -> Item:
    sections = kw.pop("sections", None) or (section(key, 0, authors[0], html, when),)
    values: dict[str, Any] = {
        "key": key,
        "uid": f"tag:news.example.org,{when:%Y-%m-%d}:{key}",
        "url": f"{BASE}{when:%Y/%m/%d}/{key.rsplit('/', 1)[-1]}/",
        "title": title,
        "published": when,
        "updated": when,
        "authors": authors,
        "categories": (),
        "tags": (),
        "summary": "",
        "image": None,
        "html": html,
        "source_path": f"{key}.md",
        "sections": sections,
    }
    values.update(kw)
    return Item(**values)


HARBOUR_LEAD = "<p>The harbour summit opens on Monday. Here is what our desks expect.</p>"
HARBOUR_ANA = '<h2 id="ana-ruiz">Ana Ruiz, Lisbon correspondent</h2><p>Dockworkers have promised a quiet week.</p>'
HARBOUR_TOMAS = (
    '<h2 id="tomas-berg">Tomas Berg, Nordic business correspondent</h2><p>Freight rates fell for the third month.</p>'
)


def realistic_items() -> list[Item]:
    """Newest first, as the store hands them over."""
    harbour_key = "2026/03/02/harbour-week"
    harbour = item(
        harbour_key,
        "Harbour week: what each desk is watching",
        at(2, 6, 15),
        (DESK, ANA, TOMAS),
        HARBOUR_LEAD + HARBOUR_ANA + HARBOUR_TOMAS,
        categories=("News",),
        tags=("ports", "trade"),
        summary="Our correspondents on the week ahead.",
        image=f"{BASE}assets/images/harbour.jpg",
        sections=(
            section(harbour_key, 0, DESK, HARBOUR_LEAD, at(2, 6, 15)),
            section(harbour_key, 1, ANA, HARBOUR_ANA, at(2, 6, 15)),
            section(harbour_key, 2, TOMAS, HARBOUR_TOMAS, at(2, 6, 15)),
        ),
    )
    return [
        item(
            "briefs/ports-after-the-strike",
            "Ports After the Strike: Three Lessons",
            at(4),
            (MIRA,),
            "<p>The strike ended on Friday.</p><p>Three lessons follow.</p>",
            categories=("Analysis",),
            tags=("ports",),
            summary="What the strike taught the ports.",
        ),
        item(
            "2026/03/03/malaga",
            "Zoë Ó Briain in Málaga: 港口 reopens 🚢",
            at(3, 12),
            (ZOE,),
            "<p>Los estibadores volvieron — “a las seis” — and the café opened.</p>",
            categories=("News", "news"),
            tags=("Spain",),
            summary="Crème brûlée & <tags> in a summary stay text.",
            # Edited after the newer brief was published: the feed's updated follows it.
            updated=at(5, 8),
        ),
        harbour,
        item(
            "2026/03/01/freight",
            "Freight\x00 rates\x1b fall\x7f",
            at(1),
            (TOMAS,),
            "<p>Rates\x0c fell \x01sharply\ufffe\ud800.</p>",
            categories=("Business",),
            summary="Control\x08 characters vanish.",
        ),
        item(
            "2026/02/28/crlf",
            "Breaking:\r\nBcc: everyone@example.org\nSecond line",
            datetime(2026, 2, 28, 18, 30, tzinfo=UTC),
            (DESK,),
            "<p>A title with line breaks.</p>",
        ),
    ]


ITEMS = realistic_items()
HARBOUR = ITEMS[2]


def site_entries() -> list[FeedEntry]:
    return [feeds.entry_for_item(i) for i in ITEMS]


def correspondent_entries(who: Correspondent) -> list[FeedEntry]:
    return [feeds.entry_for_section(i, s) for i in ITEMS for s in i.sections if s.correspondent.slug == who.slug]


def parse(data: bytes) -> Any:
    d = feedparser.parse(data)
    assert not d.bozo, f"bozo: {d.get('bozo_exception')!r}"
    return d


# -- feedparser round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_site_feed_reads_back_with_ids_order_authors_links(fmt: str) -> None:
    data = feeds.render(feeds.site_spec(CONFIG), site_entries(), CONFIG, fmt)
    d = parse(data)
    assert d.version == ("atom10" if fmt == "atom" else "rss20")
    assert [e.id for e in d.entries] == [i.uid for i in ITEMS]
    assert [e.link for e in d.entries] == [i.url for i in ITEMS]
    published = [e.published_parsed for e in d.entries]
    assert published == sorted(published, reverse=True)
    by_id = {e.id: e for e in d.entries}
    harbour = by_id[HARBOUR.uid]
    assert [a.name for a in harbour.authors] == ["Newsdesk", "Ana Ruiz", "Tomas Berg"]
    assert harbour.title == HARBOUR.title
    assert harbour.summary == "Our correspondents on the week ahead."
    assert harbour.content[0].value == HARBOUR.html
    assert [t.term for t in harbour.tags] == ["News", "ports", "trade"]
    assert by_id[ITEMS[1].uid].summary == "Crème brûlée &amp; &lt;tags&gt; in a summary stay text."
    assert [t.term for t in by_id[ITEMS[1].uid].tags] == ["News", "Spain"]  # "news" is the same category
    assert by_id[ITEMS[1].uid].title == "Zoë Ó Briain in Málaga: 港口 reopens 🚢"
    enclosures = harbour.enclosures
    assert [(x.href, x.type) for x in enclosures] == [(HARBOUR.image, "image/jpeg")]
    # The alternate link is the article, not the image (the trap of feedgen#135).
    assert [link.href for link in harbour.links if link.rel == "alternate"] == [HARBOUR.url]
    self_links = [link.href for link in d.feed.links if link.rel == "self"]
    assert self_links == [f"{BASE}feed.{fmt}"]
    assert d.feed.link == BASE
    assert d.feed.title == "Example News"
    assert d.feed.language == "en"


def test_summary_text_round_trips_in_json() -> None:
    doc = json.loads(feeds.render(feeds.site_spec(CONFIG), site_entries(), CONFIG, "json"))
    assert doc["items"][1]["summary"] == "Crème brûlée & <tags> in a summary stay text."


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_correspondent_feed_holds_only_their_sections(fmt: str) -> None:
    spec = feeds.correspondent_spec(CONFIG, ANA)
    d = parse(feeds.render(spec, correspondent_entries(ANA), CONFIG, fmt))
    assert d.feed.title == "Ana Ruiz, Lisbon correspondent — Example News"
    assert len(d.entries) == 1
    (entry,) = d.entries
    assert entry.id == HARBOUR.uid + "#ana-ruiz"
    assert entry.link == HARBOUR.url + "#ana-ruiz"
    assert entry.title == "Harbour week: what each desk is watching — Ana Ruiz"
    assert [a.name for a in entry.authors] == ["Ana Ruiz"]
    body = entry.content[0].value
    assert "Dockworkers" in body
    assert "Freight" not in body and "summit" not in body
    assert entry.summary.startswith("Ana Ruiz, Lisbon correspondent Dockworkers have promised")
    assert [link.href for link in d.feed.links if link.rel == "self"] == [f"{BASE}correspondents/ana-ruiz/feed.{fmt}"]


def test_tomas_feed_has_both_of_his_items_with_distinct_ids() -> None:
    d = parse(feeds.render(feeds.correspondent_spec(CONFIG, TOMAS), correspondent_entries(TOMAS), CONFIG, "atom"))
    assert [e.id for e in d.entries] == [HARBOUR.uid + "#tomas-berg", ITEMS[3].uid + "#tomas-berg"]
    # A single-section item keeps its own title and summary.
    assert d.entries[1].title == "Freight rates fall"
    assert d.entries[1].summary == "Control characters vanish."


def test_json_feed_is_structurally_valid() -> None:
    spec = feeds.correspondent_spec(CONFIG, ANA)
    doc = json.loads(feeds.render(spec, correspondent_entries(ANA), CONFIG, "json"))
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    assert doc["title"] == "Ana Ruiz, Lisbon correspondent — Example News"
    assert doc["home_page_url"] == BASE
    assert doc["feed_url"] == f"{BASE}correspondents/ana-ruiz/feed.json"
    assert doc["language"] == "en"
    assert doc["authors"] == [{"name": "Ana Ruiz"}]
    (entry,) = doc["items"]
    assert entry["id"] == HARBOUR.uid + "#ana-ruiz"
    assert entry["url"] == HARBOUR.url + "#ana-ruiz"
    assert entry["authors"] == [{"name": "Ana Ruiz"}]
    assert entry["content_html"] == HARBOUR_ANA
    assert entry["image"] == HARBOUR.image
    assert entry["tags"] == ["News", "ports", "trade"]

    site = json.loads(feeds.render(feeds.site_spec(CONFIG), site_entries(), CONFIG, "json"))
    assert [i["id"] for i in site["items"]] == [i.uid for i in ITEMS]
    for entry in site["items"]:
        check_json_item(entry)


def check_json_item(entry: dict[str, Any]) -> None:
    """The JSON Feed 1.1 rules for an item: id a string, content_html or content_text, typed optionals."""
    assert isinstance(entry["id"], str) and entry["id"]
    assert "content_html" in entry or "content_text" in entry
    strings = ("url", "title", "content_html", "content_text", "summary", "image")
    for key in strings:
        assert isinstance(entry.get(key, ""), str), key
    for key in ("date_published", "date_modified"):
        assert datetime.fromisoformat(entry[key]).tzinfo is not None
    assert all(isinstance(a["name"], str) and a["name"] for a in entry["authors"])
    assert all(isinstance(t, str) for t in entry.get("tags", []))
    allowed = {"id", *strings, "date_published", "date_modified", "authors", "tags"}
    assert set(entry) <= allowed


# -- feedgen's traps -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["atom", "rss", "json"])
def test_caller_order_is_kept_not_prepended_or_sorted(fmt: str) -> None:
    entries = site_entries()
    shuffled = [entries[2], entries[0], entries[4], entries[1], entries[3]]
    data = feeds.render(feeds.site_spec(CONFIG), shuffled, CONFIG, fmt)
    ids = [i["id"] for i in json.loads(data)["items"]] if fmt == "json" else [e.id for e in parse(data).entries]
    assert ids == [e.uid for e in shuffled]


@pytest.mark.parametrize("fmt", ["atom", "rss", "json"])
def test_control_characters_and_line_breaks_are_cleaned(fmt: str) -> None:
    data = feeds.render(feeds.site_spec(CONFIG), site_entries(), CONFIG, fmt)
    text = data.decode("utf-8")
    assert not CONTROL.search(text)
    assert "Freight rates fall" in text
    assert "Rates fell sharply." in text or "Rates fell sharply." in json.loads(text)["items"][3]["content_html"]
    titles = (
        [i["title"] for i in json.loads(data)["items"]] if fmt == "json" else [e.title for e in parse(data).entries]
    )
    assert titles[4] == "Breaking: Bcc: everyone@example.org Second line"
    assert all("\n" not in t and "\r" not in t for t in titles)


def test_entry_links_keep_their_attributes_in_atom() -> None:
    """feedgen 1.0.0 writes only href on entry links (feedgen#135); ours carry rel and type."""
    root = etree.fromstring(feeds.render(feeds.site_spec(CONFIG), site_entries(), CONFIG, "atom"))
    harbour = next(e for e in root.iter(f"{ATOM}entry") if e.findtext(f"{ATOM}id") == HARBOUR.uid)
    links = sorted((x.get("rel"), x.get("href"), x.get("type")) for x in harbour.iter(f"{ATOM}link"))
    assert links == [("alternate", HARBOUR.url, "text/html"), ("enclosure", HARBOUR.image, "image/jpeg")]
    feed_links = sorted((x.get("rel"), x.get("href")) for x in root.findall(f"{ATOM}link"))
    assert feed_links == [("alternate", BASE), ("self", f"{BASE}feed.atom")]


def test_rss_item_has_guid_link_creator_and_content_encoded() -> None:
    root = etree.fromstring(feeds.render(feeds.site_spec(CONFIG), site_entries(), CONFIG, "rss"))
    ns = {"dc": "http://purl.org/dc/elements/1.1/", "content": "http://purl.org/rss/1.0/modules/content/"}
    items = root.findall("channel/item")
    harbour = items[2]
    guid = harbour.find("guid")
    assert (guid.text, guid.get("isPermaLink")) == (HARBOUR.uid, "false")
    assert harbour.findtext("link") == HARBOUR.url
    assert [c.text for c in harbour.findall("dc:creator", ns)] == ["Newsdesk", "Ana Ruiz", "Tomas Berg"]
    assert harbour.findtext("content:encoded", namespaces=ns) == HARBOUR.html
    assert harbour.findtext("description") == "Our correspondents on the week ahead."
    assert harbour.findtext("pubDate") == "Mon, 02 Mar 2026 06:15:00 +0000"
    enclosure = harbour.find("enclosure")
    assert (enclosure.get("url"), enclosure.get("type"), enclosure.get("length")) == (HARBOUR.image, "image/jpeg", "0")
    # An item without a summary puts its HTML in the description, as RSS readers expect.
    assert items[4].findtext("description") == "<p>A title with line breaks.</p>"
    assert items[4].find("content:encoded", ns) is None


def test_naive_datetimes_take_the_site_time_zone_instead_of_raising() -> None:
    naive = dataclasses.replace(
        site_entries()[0], published=datetime(2026, 7, 1, 12, 0), updated=datetime(2026, 7, 1, 12, 0)
    )
    for fmt in ("atom", "rss", "json"):
        data = feeds.render(feeds.site_spec(CONFIG), [naive], CONFIG, fmt)
        # London is on summer time in July: 12:00 local is 11:00 UTC.
        assert b"2026-07-01T11:00:00+00:00" in data or b"Wed, 01 Jul 2026 11:00:00 +0000" in data


def test_feed_updated_is_the_latest_entry_update_and_never_now() -> None:
    d = parse(feeds.render(feeds.site_spec(CONFIG), site_entries(), CONFIG, "atom"))
    assert d.feed.updated == "2026-03-05T08:00:00+00:00"  # the Málaga edit, not the newest item
    empty = feeds.render(feeds.site_spec(CONFIG), [], CONFIG, "atom")
    assert parse(empty).feed.updated == "1970-01-01T00:00:00+00:00"
    assert parse(feeds.render(feeds.site_spec(CONFIG), [], CONFIG, "rss")).entries == []
    assert b"feedgen" not in empty and b"python-feedgen" not in empty


@pytest.mark.parametrize("fmt", ["atom", "rss", "json"])
def test_same_input_gives_identical_bytes(fmt: str) -> None:
    spec = feeds.site_spec(CONFIG)
    assert feeds.render(spec, site_entries(), CONFIG, fmt) == feeds.render(spec, realistic_entries(), CONFIG, fmt)


def realistic_entries() -> list[FeedEntry]:
    """The same records built afresh, so no object is shared between the two renders compared."""
    return [feeds.entry_for_item(i) for i in realistic_items()]


def test_entries_are_capped_at_the_configured_count() -> None:
    config = dataclasses.replace(CONFIG, feeds=FeedsConfig(entries=2))
    d = parse(feeds.render(feeds.site_spec(config), site_entries(), config, "rss"))
    assert [e.id for e in d.entries] == [ITEMS[0].uid, ITEMS[1].uid]


def test_websub_hubs_are_advertised_in_every_format() -> None:
    hub = "https://hub.example.net/"
    config = dataclasses.replace(CONFIG, websub=WebSubConfig(hubs=(hub,)))
    spec = feeds.site_spec(config)
    for fmt in ("atom", "rss"):
        d = parse(feeds.render(spec, site_entries(), config, fmt))
        assert [link.href for link in d.feed.links if link.rel == "hub"] == [hub]
        assert [link.href for link in d.feed.links if link.rel == "self"] == [f"{BASE}feed.{fmt}"]
    doc = json.loads(feeds.render(spec, site_entries(), config, "json"))
    assert doc["hubs"] == [{"type": "WebSub", "url": hub}]


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown feed format"):
        feeds.render(feeds.site_spec(CONFIG), [], CONFIG, "html")


# -- specs and ids ---------------------------------------------------------------------------------------


def test_specs_name_titles_paths_and_files() -> None:
    assert feeds.correspondent_spec(CONFIG, ANA).title == "Ana Ruiz, Lisbon correspondent — Example News"
    assert feeds.correspondent_spec(CONFIG, DESK).title == "Newsdesk — Example News"
    category = feeds.category_spec(CONFIG, "World News")
    assert (str(category.key), category.title, category.file("rss")) == (
        "category/world-news",
        "World News — Example News",
        "categories/world-news/feed.rss",
    )
    tag = feeds.tag_spec(CONFIG, "Ports")
    assert (str(tag.key), tag.file("json")) == ("tag/ports", "tags/ports/feed.json")
    assert feeds.site_spec(CONFIG).file("atom") == "feed.atom"
    assert set(feeds.render_all(feeds.site_spec(CONFIG), [], CONFIG)) == {"feed.atom", "feed.rss", "feed.json"}


def test_feed_ids_survive_a_move_of_base_url() -> None:
    moved = make_config(base_url="https://example.net/news/")
    for spec_of in (feeds.site_spec, lambda c: feeds.correspondent_spec(c, ANA)):
        assert spec_of(CONFIG).uid == spec_of(moved).uid
    assert feeds.site_spec(CONFIG).uid == "tag:news.example.org,2026:feed/site"
    assert feeds.correspondent_spec(CONFIG, ANA).uid == "tag:news.example.org,2026:feed/correspondent/ana-ruiz"
    # Without an id_authority the host of base_url names the feeds; an authority may carry its own date.
    assert feeds.site_spec(make_config(id_authority="", base_url="https://x.example/a/")).uid == (
        "tag:x.example,2026:feed/site"
    )
    assert feeds.site_spec(make_config(id_authority="example.org,2019-05")).uid == "tag:example.org,2019-05:feed/site"


def test_base_url_without_trailing_slash_still_makes_good_urls() -> None:
    config = make_config(base_url="https://example.net/news")
    d = parse(feeds.render(feeds.site_spec(config), [], config, "atom"))
    assert [link.href for link in d.feed.links if link.rel == "self"] == ["https://example.net/news/feed.atom"]


def test_excerpt_cuts_at_a_word() -> None:
    assert feeds.excerpt("<p>a &amp; <b>b</b></p>") == "a & b"
    long = "<p>" + "word " * 100 + "</p>"
    cut = feeds.excerpt(long, limit=23)
    assert cut == "word word word word…"


# -- OPML ------------------------------------------------------------------------------------------------


def all_specs(config: Config = CONFIG) -> list[feeds.FeedSpec]:
    return [
        feeds.site_spec(config),
        *(feeds.correspondent_spec(config, c) for c in (TOMAS, ANA, ZOE, MIRA, DESK)),
        feeds.category_spec(config, "News"),
        feeds.category_spec(config, "Analysis"),
        feeds.tag_spec(config, "ports"),
    ]


def test_opml_lists_every_feed_once_whatever_the_order() -> None:
    specs = all_specs()
    data = feeds.render_opml(specs, CONFIG)
    assert feeds.render_opml(list(reversed(specs)), CONFIG) == data
    root = etree.fromstring(data)
    assert root.get("version") == "2.0"
    outlines = [o for o in root.iter("outline") if o.get("xmlUrl")]
    assert sorted(o.get("xmlUrl") for o in outlines) == sorted(f"{BASE}{s.file('atom')}" for s in specs)
    assert all(o.get("type") == "rss" and o.get("text") for o in outlines)
    groups = [o.get("text") for o in root.find("body") if not o.get("xmlUrl")]
    assert groups == ["Correspondents", "Categories", "Tags"]
    # Only RSS configured: the list points at the RSS files.
    rss_only = dataclasses.replace(CONFIG, feeds=FeedsConfig(formats=("rss",)))
    assert b"feed.rss" in feeds.render_opml(specs, rss_only)
    assert b"feed.atom" not in feeds.render_opml(specs, rss_only)


# -- golden files ----------------------------------------------------------------------------------------


def golden_documents() -> dict[str, bytes]:
    site = feeds.site_spec(CONFIG)
    ana = feeds.correspondent_spec(CONFIG, ANA)
    docs = {}
    for fmt in ("atom", "rss", "json"):
        docs[f"site{feeds.EXTENSIONS[fmt]}"] = feeds.render(site, site_entries(), CONFIG, fmt)
        docs[f"ana-ruiz{feeds.EXTENSIONS[fmt]}"] = feeds.render(ana, correspondent_entries(ANA), CONFIG, fmt)
    docs[feeds.OPML_NAME] = feeds.render_opml(all_specs(), CONFIG)
    return docs


@pytest.mark.parametrize("name", sorted(golden_documents()))
def test_golden(name: str) -> None:
    data = golden_documents()[name]
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    assert path.exists(), f"{path} missing: run with UPDATE_GOLDEN=1"
    assert data == path.read_bytes(), f"{name} differs from its golden file; UPDATE_GOLDEN=1 to accept"


def test_golden_files_are_all_still_produced() -> None:
    assert sorted(p.name for p in GOLDEN.iterdir()) == sorted(golden_documents())


def test_dates_in_other_zones_come_out_in_utc() -> None:
    tokyo = datetime(2026, 3, 2, 17, 15, 30, 999, tzinfo=ZoneInfo("Asia/Tokyo"))
    entry = dataclasses.replace(site_entries()[0], published=tokyo, updated=tokyo)
    data = feeds.render(feeds.site_spec(CONFIG), [entry], CONFIG, "atom")
    assert b"<published>2026-03-02T08:15:30+00:00</published>" in data


@pytest.mark.parametrize("base", [BASE, "https://example.org/news?a=1&b=<2>/"])
def test_archive_page_heads_made_once_equal_heads_made_for_each_page(base: str) -> None:
    """A feed's archive pages share one head made with slots; each filled copy equals the head feedgen makes
    for that page alone, whatever the page's links hold."""
    config = make_config(base_url=base)
    spec = feeds.category_spec(config, "Économie & «Port»")
    when = [at(d) for d in range(1, 7)]
    entries = [
        feeds.entry_for_item(item(f"posts/p{i}", f"Post {i}", w, (ANA,), f"<p>{i}</p>")) for i, w in enumerate(when)
    ]
    heads = feeds.Heads()
    for number in (1, 2, 3):
        page = dataclasses.replace(spec, path=f"{spec.path}-archive-{number}")
        archive = feeds.Archive(
            prev=feeds.feed_url(config, dataclasses.replace(spec, path=f"{spec.path}-archive-{number - 1}"), "atom")
            if number > 1
            else "",
            next=feeds.feed_url(config, dataclasses.replace(spec, path=f"{spec.path}-archive-{number + 1}"), "atom"),
            current=feeds.feed_url(config, spec, "atom"),
        )
        chunk = entries[2 * (number - 1) : 2 * number]
        alone = feeds.render(page, chunk, config, "atom", archive=archive)
        shared = feeds.render(page, chunk, config, "atom", archive=archive, heads=heads)
        assert shared == alone
        doc = feedparser.parse(shared)
        assert not doc.bozo
        rels = {link["rel"]: link["href"] for link in doc.feed.links}
        assert rels["self"] == feeds.feed_url(config, page, "atom")
        assert ("prev-archive" in rels) == (number > 1)
