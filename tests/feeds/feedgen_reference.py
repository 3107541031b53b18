"""The feed heads as feedgen 1.0.0 made them, with the extensions publisher used: the reference the heads
written by :mod:`publisher.feeds.render` are compared with, byte for byte."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from publisher.config import Config
from publisher.feeds.formats import MEDIA_TYPES, FeedFormat
from publisher.feeds.render import (
    _ATOM_NS,
    _DC_NS,
    _FH_NS,
    Archive,
    FeedEntry,
    FeedSpec,
    _base,
    _image_type,
    _line,
    feed_uid,
    feed_url,
)
from publisher.models import Attachment


def head(spec: FeedSpec, config: Config, fmt: FeedFormat, updated: datetime, archive: Archive) -> bytes:
    """The document without entries, as feedgen pretty-prints it."""
    fg = feedgen(spec, [], config, fmt, updated, archive)
    if fmt == "atom":
        return bytes(fg.atom_str(pretty=True, encoding="UTF-8", xml_declaration=True))
    return bytes(fg.rss_str(pretty=True, encoding="UTF-8", xml_declaration=True))


def feedgen(
    spec: FeedSpec, entries: Sequence[FeedEntry], config: Config, fmt: FeedFormat, updated: datetime, archive: Archive
) -> Any:
    """The document's head through feedgen (entries are spliced in by :func:`render`)."""
    base = _base(config)
    fg = FeedGenerator()
    fg.register_extension("publisher_atom", _AtomFeedExt, _AtomEntryExt, atom=True, rss=False)
    fg.register_extension("publisher_rss", _RssFeedExt, _RssEntryExt, atom=False, rss=True)
    fg.publisher_rss.hubs = config.websub.hubs
    fg.publisher_atom.archive = bool(archive.current)
    fg.publisher_rss.archive = archive
    fg.id(spec.uid or feed_uid(config, spec.key))
    fg.title(_line(spec.title) or _line(config.site.title) or "Feed")
    fg.description(_line(spec.subtitle) or _line(config.site.description) or _line(spec.title) or "Feed")
    fg.author([{"name": _line(n)} for n in spec.authors or (config.site.author,) if _line(n)] or None)
    fg.language(config.site.language)
    # feedgen stamps its name, URL and version; a fixed generator keeps files identical across upgrades.
    fg.generator("publisher")
    fg.docs("https://www.rssboard.org/rss-specification")
    fg.link(href=feed_url(config, spec, fmt), rel="self", type=MEDIA_TYPES[fmt])
    for hub in config.websub.hubs:
        fg.link(href=_line(hub), rel="hub")
    # RFC 5005 archives are Atom documents, whichever format links to them.
    if archive.current:
        fg.link(href=archive.current, rel="current", type=MEDIA_TYPES["atom"])
    if archive.prev:
        fg.link(href=archive.prev, rel="prev-archive", type=MEDIA_TYPES["atom"])
    if archive.next:
        fg.link(href=archive.next, rel="next-archive", type=MEDIA_TYPES["atom"])
    # RSS takes its channel link from the last link given, so the alternate goes last.
    fg.link(href=base, rel="alternate", type="text/html")
    fg.updated(updated)  # also lastBuildDate, which feedgen would otherwise set to now
    return fg


# feedgen ships no type hints: its extension bases are Any to mypy.
class _AtomFeedExt(BaseExtension):  # type: ignore[misc]
    """Marks an archive page ``fh:archive`` (RFC 5005)."""

    def __init__(self) -> None:
        self.archive = False

    def extend_ns(self) -> dict[str, str]:
        return {"fh": _FH_NS} if self.archive else {}

    def extend_atom(self, feed: Any) -> Any:
        if self.archive:
            feed.insert(0, etree.Element(f"{{{_FH_NS}}}archive"))
        return feed


class _AtomEntryExt(BaseEntryExtension):  # type: ignore[misc]
    """Restores what feedgen 1.0.0 drops from entry links (#135) and adds the image as an enclosure."""

    def __init__(self) -> None:
        self.url = ""
        self.image = ""
        self.attachment: Attachment | None = None

    def setup(self, entry: FeedEntry, url: str, image: str) -> None:
        self.url = url
        self.image = image

    def extend_atom(self, entry: Any) -> Any:
        for link in entry.iterchildren("link"):
            if link.get("href") == self.url and link.get("rel") is None:
                link.set("rel", "alternate")
                link.set("type", "text/html")
        if self.image:
            etree.SubElement(entry, "link", href=self.image, rel="enclosure", type=_image_type(self.image))
        if self.attachment is not None:
            a = self.attachment
            etree.SubElement(entry, "link", href=_line(a.url), rel="enclosure", type=a.mime_type, length=str(a.length))
        return entry


class _RssFeedExt(BaseExtension):  # type: ignore[misc]
    """Declares ``dc:`` on the root and adds WebSub hub links to the channel."""

    def __init__(self) -> None:
        self.hubs: tuple[str, ...] = ()
        self.archive = Archive()

    def extend_ns(self) -> dict[str, str]:
        return {"dc": _DC_NS}

    def extend_rss(self, feed: Any) -> Any:
        channel = feed.find("channel")
        for hub in self.hubs:
            etree.SubElement(channel, f"{{{_ATOM_NS}}}link", href=_line(hub), rel="hub")
        if self.archive.prev:
            link = etree.SubElement(channel, f"{{{_ATOM_NS}}}link", href=self.archive.prev, rel="prev-archive")
            link.set("type", MEDIA_TYPES["atom"])
        return feed


class _RssEntryExt(BaseEntryExtension):  # type: ignore[misc]
    """``dc:creator`` per author, and the image as an enclosure of unknown length (0, as advised)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.image = ""
        self.attachment: Attachment | None = None

    def setup(self, entry: FeedEntry, names: list[str], image: str) -> None:
        self.names = names
        self.image = image

    def extend_rss(self, item: Any) -> Any:
        for name in self.names:
            etree.SubElement(item, f"{{{_DC_NS}}}creator").text = name
        # RSS allows one enclosure: the attached file (with its real length) before the image.
        if self.attachment is not None:
            a = self.attachment
            etree.SubElement(item, "enclosure", url=_line(a.url), length=str(a.length), type=a.mime_type)
        elif self.image:
            etree.SubElement(item, "enclosure", url=self.image, length="0", type=_image_type(self.image))
        return item
