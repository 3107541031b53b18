"""The heads of Atom and RSS documents, written by hand in publisher.feeds.render, equal the ones feedgen
makes (tests/feeds/feedgen_reference.py) byte for byte, for feeds of every shape."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.config import Config, SiteConfig, WebSubConfig
from publisher.feeds import render as feeds
from publisher.feeds.formats import FeedFormat
from publisher.models import SITE_FEED, Correspondent, FeedKey
from tests.feeds import feedgen_reference

# Text as feeds meet it: markup characters, quotes, accents, other scripts, odd spaces, control characters
# (which the heads clean away, as feedgen's caller did).
TEXT = st.text(
    alphabet=st.sampled_from(list("ab Z<>&\"'\t\n\r\x0b\x7féÖ«»Ωж中 \u00a0\u2028#;/:?=")),
    max_size=12,
)
URL = st.sampled_from(
    [
        "https://news.example.org/",
        "https://news.example.org/sub/path",
        "https://example.org/news?a=1&b=<2>/",
        'http://127.0.0.1:8080/"quoted"/',
        "https://exämple.org/ünï/",
    ]
)
WHEN = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda d: d.replace(microsecond=0, tzinfo=UTC)
)


def _config(title: str, description: str, author: str, language: str, base_url: str, hubs: list[str]) -> Config:
    site = SiteConfig(
        title=title,
        description=description,
        author=author,
        language=language,
        base_url=base_url,
        id_authority="news.example.org",
    )
    return Config(site=site, websub=WebSubConfig(hubs=tuple(hubs)))


@st.composite
def shapes(draw: st.DrawFn) -> tuple[feeds.FeedSpec, Config, FeedFormat, datetime, feeds.Archive]:
    config = _config(
        draw(TEXT),
        draw(TEXT),
        draw(TEXT),
        draw(st.sampled_from(["en", "", "fr-CA", "pt"])),
        draw(URL),
        draw(st.lists(st.sampled_from(["https://hub.example.org/", "https://h2.example.org/a?b&c"]), max_size=2)),
    )
    kind = draw(st.sampled_from(["site", "correspondent", "category", "tag", "custom"]))
    if kind == "site":
        spec = feeds.site_spec(config)
    elif kind == "correspondent":
        spec = feeds.correspondent_spec(config, Correspondent("ana-ruiz", draw(TEXT), draw(TEXT)))
    elif kind == "category":
        spec = feeds.category_spec(config, draw(TEXT))
    elif kind == "tag":
        spec = feeds.tag_spec(config, draw(TEXT))
    else:
        spec = feeds.FeedSpec(
            key=FeedKey("category", draw(st.sampled_from(["news", "économie", "a b"]))),
            title=draw(TEXT),
            path=draw(st.sampled_from(["feed", "categories/économie/feed", "x y/feed"])),
            subtitle=draw(TEXT),
            uid=draw(st.sampled_from(["", "tag:example.org,2026:x&y<z>"])),
            authors=tuple(draw(st.lists(TEXT, max_size=3))),
        )
    fmt: FeedFormat = draw(st.sampled_from(["atom", "rss"]))
    page = draw(st.sampled_from(["current", "archive"]))
    prev = draw(st.sampled_from(["", "https://news.example.org/feed-archive-2.atom", "https://e.org/a?x=1&y=2"]))
    if page == "archive":
        archive = feeds.Archive(prev=prev, next="https://news.example.org/feed-archive-4.atom", current="https://c/")
    else:
        archive = feeds.Archive(prev=prev)
    return spec, config, fmt, draw(WHEN), archive


@settings(max_examples=400, deadline=None)
@given(shapes())
def test_heads_equal_feedgen_heads(shape: tuple[feeds.FeedSpec, Config, FeedFormat, datetime, feeds.Archive]) -> None:
    spec, config, fmt, updated, archive = shape
    assert feeds._head(spec, config, fmt, updated, archive) == feedgen_reference.head(
        spec, config, fmt, updated, archive
    )


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_whole_documents_equal_feedgen_heads_with_the_entries_spliced_in(fmt: FeedFormat) -> None:
    config = _config("Harbour & Co", "", "Desk", "en", "https://news.example.org/", ["https://hub.example.org/"])
    spec = feeds.site_spec(config)
    when = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    entry = feeds.FeedEntry(
        uid="tag:news.example.org,2026-03-02:p",
        title="A <b> title",
        url="https://news.example.org/p/",
        published=when,
        updated=when,
        authors=("Ana",),
        categories=("News",),
        summary="s",
        html="<p>x</p>",
    )
    archive = feeds.Archive(prev="https://news.example.org/feed-archive-1.atom")
    data = feeds.render(spec, [entry], config, fmt, archive=archive)
    head = feedgen_reference.head(spec, config, fmt, when, archive)
    tail = b"</feed>\n" if fmt == "atom" else b"  </channel>\n</rss>\n"
    assert data == head[: -len(tail)] + feeds.entry_fragment(entry, config, fmt) + tail


def test_an_id_xml_cannot_hold_is_refused_as_feedgen_refused_it() -> None:
    config = _config("T", "", "A", "en", "https://news.example.org/", [])
    spec = feeds.FeedSpec(key=SITE_FEED, title="T", path="feed", uid="tag:x\x01y")
    when = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError) as ours:
        feeds._head(spec, config, "atom", when, feeds.Archive())
    with pytest.raises(ValueError) as theirs:
        feedgen_reference.head(spec, config, "atom", when, feeds.Archive())
    assert str(ours.value) == str(theirs.value)
