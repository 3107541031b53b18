"""Feed documents built in memory: Atom 1.0, RSS 2.0, JSON Feed 1.1 and OPML 2.0.

Pure: records in, bytes out; nothing here touches the disk or the store (``writers`` writes the files).
The same input gives byte-identical output: there is no "now" anywhere.

Atom and RSS come out byte for byte as feedgen 1.0.0 pretty-prints them (feedgen made them until it cost a
command more to import than to use): each entry is serialized on its own (:func:`entry_fragment`) and spliced
into the document's head (:func:`_head`). tests/feeds/feedgen_reference.py keeps the feedgen way, with the
fixes it needed, and the tests compare both. What the fixes were:

- every datetime goes through :func:`_utc` (naive ones take the site time zone; feedgen raised on them).
- XML control characters made lxml raise; every text goes through :func:`publisher.text.xml_safe`.
- feedgen's entry links lost every attribute but ``href`` (lkiesow/python-feedgen#135); ours carry
  ``rel`` and ``type``, and the image is a ``rel="enclosure"`` link of its own.

Choices: files are ``<stem>.atom``, ``<stem>.rss`` and ``<stem>.json`` (:data:`EXTENSIONS`); a feed's id is
``tag:<authority>,<date>:feed/<key>`` (:func:`tagging_entity`); the image is an Atom ``link rel=enclosure``
and an RSS ``<enclosure length="0">``; RSS authors are ``dc:creator`` (RSS ``<author>`` must be an email).
"""

from __future__ import annotations

import dataclasses
import functools
import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import quote, urlsplit

from publisher.config import Config
from publisher.content import ids
from publisher.feeds.formats import EXTENSIONS, FORMATS, MEDIA_TYPES, FeedFormat
from publisher.models import SITE_FEED, Attachment, Correspondent, FeedKey, Item, Section, slugify
from publisher.text import one_line, xml_safe

OPML_NAME = "feeds.opml"
# Output folders that hold only feeds this module names; the only places stale feeds may be removed from.
FEED_FOLDERS: tuple[str, ...] = ("correspondents", "categories", "tags")
FEED_STEM = "feed"
JSONFEED_VERSION = "https://jsonfeed.org/version/1.1"
# The date part of feed tag: URIs. It is part of the name, not a timestamp: it must never change, or every
# reader would see new feeds. An id_authority written as "host,date" supplies its own.
TAG_DATE = "2026"
# A feed with no entries still needs an updated date; a fixed one keeps its bytes stable.
EMPTY_UPDATED = datetime(1970, 1, 1, tzinfo=UTC)
SUMMARY_CHARS = 280

_ATOM_NS = "http://www.w3.org/2005/Atom"
_DC_NS = "http://purl.org/dc/elements/1.1/"
_CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
_FH_NS = "http://purl.org/syndication/history/1.0"
_IMAGE_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".svg": "image/svg+xml",
}
# Characters XML 1.0 forbids (C0 controls but tab/LF/CR, surrogates, U+FFFE/U+FFFF), plus DEL and the
# C1 controls, which XML allows but which only ever come from broken PDF extraction.
_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class FeedSpec:
    """One feed: what it is called and where it lives (``path`` is output-relative, without extension)."""

    key: FeedKey  # site, correspondent/ana-ruiz, category/news, tag/ports
    title: str
    path: str  # "feed", "correspondents/ana-ruiz/feed", ...
    subtitle: str = ""
    uid: str = ""  # the feed's tag: URI; "" = built from config and key at render time
    authors: tuple[str, ...] = ()  # the feed's author(s); () = site.author

    def file(self, fmt: FeedFormat) -> str:
        """Output-relative file name of this feed in format ``fmt``: ``correspondents/ana-ruiz/feed.atom``."""
        return self.path + EXTENSIONS[fmt]


@dataclass(frozen=True)
class FeedEntry:
    """One entry of a feed, in plain values; the same entry renders to every format."""

    uid: str  # tag: URI, the Atom id / RSS guid / JSON id
    title: str
    url: str  # absolute link to the article (with #anchor for a section)
    published: datetime
    updated: datetime
    authors: tuple[str, ...]  # names
    categories: tuple[str, ...]  # categories then tags, without duplicates
    summary: str  # plain text
    html: str  # sanitized HTML, embedded as is
    image: str | None = None  # absolute URL
    attachment: Attachment | None = None  # a file published with the item (a PDF): an enclosure


# -- entries ---------------------------------------------------------------------------------------------


def entry_for_item(item: Item) -> FeedEntry:
    """The entry of a whole item, for the site, category and tag feeds."""
    return FeedEntry(
        uid=item.uid,
        title=item.title,
        url=item.url,
        published=item.published,
        updated=item.updated,
        authors=tuple(a.name for a in item.authors),
        categories=_terms(item),
        summary=item.summary,
        html=item.html,
        image=item.image,
        attachment=item.attachment,
    )


def entry_for_section(item: Item, section: Section) -> FeedEntry:
    """The entry of one correspondent's section, for that correspondent's feed.

    The id is ``item.uid + "#" + anchor``: unique per section and as stable as the item's. When the item
    holds several sections the title names the correspondent ("Harbour week — Ana Ruiz"), so a reader
    following two correspondents can tell the two entries apart; a single-section item keeps its title.
    """
    shared = len({s.anchor for s in item.sections}) > 1  # co-authors of one text share its anchor
    name = section.correspondent.name
    return FeedEntry(
        uid=f"{item.uid}#{section.anchor}",
        title=f"{item.title} — {name}" if shared and name else item.title,
        url=f"{item.url}#{section.anchor}",
        published=item.published,
        updated=item.updated,
        authors=(name,) if name else tuple(a.name for a in item.authors),
        categories=_terms(item),
        summary=excerpt(section.html) if shared else item.summary,
        html=section.html,
        image=item.image,
        attachment=item.attachment,
    )


def excerpt(fragment: str, limit: int = SUMMARY_CHARS) -> str:
    """Plain text of an HTML fragment, cut at a word boundary near ``limit`` characters."""
    text = " ".join(html.unescape(_TAG.sub(" ", fragment)).split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] or text[:limit]
    return cut.rstrip(" ,;:.") + "…"


def _terms(item: Item) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for term in (*item.categories, *item.tags):
        clean = _label(term)
        if clean and clean.casefold() not in seen:
            seen[clean.casefold()] = clean
    return tuple(seen.values())


# -- specs -----------------------------------------------------------------------------------------------


def tagging_entity(config: Config) -> str:
    """``news.example.org,2026``: the naming authority and date of this site's feed ids.

    The authority is ``site.id_authority`` (which may carry its own date, ``news.example.org,2019``), or
    the host of ``base_url`` when it is empty. The caller that keeps the authority in the store (so ids
    survive a move of ``base_url``) passes it in through ``site.id_authority``.
    """
    host = urlsplit(config.site.base_url).hostname or ""
    authority = config.site.id_authority.strip() or (host if ids.is_real_host(host) else ids.PROVISIONAL)
    return authority if "," in authority else f"{authority},{TAG_DATE}"


def feed_uid(config: Config, key: FeedKey) -> str:
    return f"tag:{tagging_entity(config)}:feed/{key}"


def site_spec(config: Config) -> FeedSpec:
    return FeedSpec(
        key=SITE_FEED,
        title=config.site.title,
        path=FEED_STEM,
        subtitle=config.site.description,
        uid=feed_uid(config, SITE_FEED),
    )


def correspondent_spec(config: Config, c: Correspondent) -> FeedSpec:
    who = f"{c.name}, {c.role}" if c.role else c.name
    key = FeedKey("correspondent", c.slug)
    return FeedSpec(
        key=key,
        title=f"{who} — {config.site.title}",
        path=f"correspondents/{c.slug}/{FEED_STEM}",
        subtitle=f"Reports by {who}.",
        uid=feed_uid(config, key),
        authors=(c.name,),
    )


def category_spec(config: Config, name: str) -> FeedSpec:
    slug = slugify(name)
    key = FeedKey("category", slug)
    return FeedSpec(
        key=key,
        title=f"{name} — {config.site.title}",
        path=f"categories/{slug}/{FEED_STEM}",
        subtitle=f"{config.site.title}: {name}.",
        uid=feed_uid(config, key),
    )


def tag_spec(config: Config, name: str) -> FeedSpec:
    slug = slugify(name)
    key = FeedKey("tag", slug)
    return FeedSpec(
        key=key,
        title=f"Tag: {name} — {config.site.title}",
        path=f"tags/{slug}/{FEED_STEM}",
        subtitle=f"{config.site.title}: items tagged {name}.",
        uid=feed_uid(config, key),
    )


# -- rendering -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Archive:
    """The RFC 5005 links of one document: URLs of the neighbouring archive pages, and for an archive
    page itself the URL of the current (subscription) document, which also marks it ``fh:archive``."""

    prev: str = ""  # the next older archive page
    next: str = ""  # the next newer archive page
    current: str = ""  # set on archive pages only


Fragments = dict[tuple[str, str], bytes]


def render(
    spec: FeedSpec,
    entries: Sequence[FeedEntry],
    config: Config,
    fmt: FeedFormat,
    *,
    updated: datetime | None = None,
    archive: Archive | None = None,
    fragments: Fragments | None = None,
    heads: Heads | None = None,
) -> bytes:
    """The feed document in ``fmt`` ("atom", "rss" or "json").

    ``entries`` come newest first and keep that order; at most ``feeds.entries`` are used. The feed's
    ``updated`` is the latest ``updated`` of its entries (an older item edited today counts), unless given.
    Each entry is serialized on its own and spliced into the document; ``fragments`` (keyed by entry id
    and format) lets a build serialize an entry once for every feed that holds it; ``heads`` lets the
    archive pages of one feed share the making of their head.
    """
    entries = list(entries[: config.feeds.entries])
    if fmt not in FORMATS:
        raise ValueError(f"unknown feed format {fmt!r} (known: {', '.join(FORMATS)})")
    cache: Fragments = {} if fragments is None else fragments
    tz = config.site.tz
    parts = []
    for e in entries:
        frag = cache.get((e.uid, fmt))
        if frag is None:
            frag = cache[(e.uid, fmt)] = entry_fragment(e, config, fmt)
        parts.append(frag)
    if fmt == "json":
        head = _render_json(spec, [], config)
        return head[: -len(_JSON_TAIL)] + b",".join(parts) + _JSON_TAIL
    if fmt == "atom":
        instants = _distinct_updated(entries, tz)
        for i, (e, at) in enumerate(zip(entries, instants, strict=True)):
            stamp = _utc(e.updated, tz)
            if at != stamp:  # its instant depends on its neighbours: the shared fragment is left as it is
                old, new = (f"<updated>{t.isoformat()}</updated>".encode() for t in (stamp, at))
                parts[i] = parts[i].replace(old, new, 1)
        if updated is None:
            updated = max(instants, default=EMPTY_UPDATED)
    elif updated is None:
        updated = max((_utc(e.updated, tz) for e in entries), default=EMPTY_UPDATED)
    if fmt == "atom" and heads is not None:
        head = heads.head(spec, config, _utc(updated, tz), archive or Archive())
        return head[: -len(_ATOM_TAIL)] + b"".join(parts) + _ATOM_TAIL
    head = _head(spec, config, fmt, _utc(updated, tz), archive or Archive())
    tail = _ATOM_TAIL if fmt == "atom" else _RSS_TAIL
    return head[: -len(tail)] + b"".join(parts) + tail


# Values no real feed holds, made into a head once and replaced in each copy (see Heads).
_SLOT_PATH = "publisher-slot-self"
_SLOT_PREV = "https://slot.invalid/prev-archive"
_SLOT_NEXT = "https://slot.invalid/next-archive"
_SLOT_UPDATED = datetime(1901, 2, 3, 4, 5, 6, tzinfo=UTC)


class Heads:
    """The Atom heads of one feed's archive pages, which differ from page to page only in their own link,
    their neighbours' links and their date: made once with slots in those places, then
    filled for each page (one feed, one configuration: a new Heads for each)."""

    def __init__(self) -> None:
        self._made: dict[tuple[bool, bool, str], bytes] = {}

    def head(self, spec: FeedSpec, config: Config, updated: datetime, archive: Archive) -> bytes:
        shape = (bool(archive.prev), bool(archive.next), archive.current)
        slotted = dataclasses.replace(spec, path=_SLOT_PATH)
        made = self._made.get(shape)
        if made is None:
            slots = Archive(prev=_SLOT_PREV if archive.prev else "", next=_SLOT_NEXT if archive.next else "")
            slots = dataclasses.replace(slots, current=archive.current)
            made = self._made[shape] = _head(slotted, config, "atom", _SLOT_UPDATED, slots)
        fills = [
            (_a(feed_url(config, slotted, "atom")), _a(feed_url(config, spec, "atom"))),
            (f"<updated>{_SLOT_UPDATED.isoformat()}</updated>", f"<updated>{updated.isoformat()}</updated>"),
        ]
        if archive.prev:
            fills.append((_SLOT_PREV, _a(archive.prev)))
        if archive.next:
            fills.append((_SLOT_NEXT, _a(archive.next)))
        for slot, value in fills:
            made = made.replace(slot.encode(), value.encode(), 1)
        return made


def _distinct_updated(entries: Sequence[FeedEntry], tz: tzinfo) -> list[datetime]:
    """The ``updated`` instant of each entry in one document, each one no other entry of the document has.

    Posts dated by day alone, or a correspondent's sections of one article, share their ``updated`` instant;
    feed readers that tell entries apart by it would merge them (the W3C validator warns). Within one
    document, a later entry holding an instant already taken moves a second later, as many times as needed.
    Its fragment's first ``<updated>`` is the entry's own (id and title before it are escaped text), so the
    move is a replacement in the shared bytes, not a second serialization.
    """
    seen: set[datetime] = set()
    # instant → the last instant given for it: every one between is taken, so the search starts there
    given: dict[datetime, datetime] = {}
    out = []
    for e in entries:
        wanted = _utc(e.updated, tz)
        at = given.get(wanted, wanted)
        while at in seen:
            at += timedelta(seconds=1)
        seen.add(at)
        given[wanted] = at
        out.append(at)
    return out


# JSON Feed's compact form; made once (json.dumps with options builds an encoder per call).
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

_ATOM_TAIL = b"</feed>\n"
_RSS_TAIL = b"  </channel>\n</rss>\n"
_JSON_TAIL = b"]}\n"


def entry_fragment(e: FeedEntry, config: Config, fmt: FeedFormat) -> bytes:
    """One entry serialized exactly as it stands in a pretty-printed document of format ``fmt``."""
    if fmt == "atom":
        text = _atom_entry(e, config)
    elif fmt == "rss":
        text = _rss_entry(e, config)
    else:
        text = _JSON.encode(_json_item(e, config))
    return text.encode("utf-8")


def _t(text: str) -> str:
    """XML character data, escaped as lxml escapes it."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _a(text: str) -> str:
    """An XML attribute value, escaped as lxml escapes it."""
    return _t(text).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


def _atom_entry(e: FeedEntry, config: Config) -> str:
    tz = config.site.tz
    out = [
        "  <entry>\n",
        f"    <id>{_t(_line(e.uid))}</id>\n",
        f"    <title>{_t(_line(e.title) or 'Untitled')}</title>\n",
        f"    <updated>{_utc(e.updated, tz).isoformat()}</updated>\n",
    ]
    out += [f"    <author>\n      <name>{_t(n)}</name>\n    </author>\n" for n in _names(e, config)]
    body = xml_safe(e.html)
    if body:
        out.append(f'    <content type="html">{_t(body)}</content>\n')
    out.append(f'    <link href="{_a(_line(e.url))}" rel="alternate" type="text/html"/>\n')
    # An entry with neither text nor summary (an empty post) carries its title, so readers show something.
    summary = xml_safe(e.summary).strip() or ("" if body else _line(e.title))
    if summary:
        out.append(f'    <summary type="html">{_t(html.escape(summary, quote=False))}</summary>\n')
    out += [f'    <category term="{_a(t)}"/>\n' for t in (_label(c) for c in e.categories) if t]
    out.append(f"    <published>{_utc(e.published, tz).isoformat()}</published>\n")
    image = _line(e.image or "")
    if image:
        out.append(f'    <link href="{_a(image)}" rel="enclosure" type="{_a(_image_type(image))}"/>\n')
    if e.attachment is not None:
        a = e.attachment
        out.append(
            f'    <link href="{_a(_line(a.url))}" rel="enclosure" type="{_a(a.mime_type)}" length="{a.length}"/>\n'
        )
    out.append("  </entry>\n")
    return "".join(out)


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _rfc822(dt: datetime) -> str:
    """RFC 822 date of an aware UTC datetime, in English whatever the locale."""
    return f"{_DAYS[dt.weekday()]}, {dt.day:02d} {_MONTHS[dt.month - 1]} {dt.year:04d} {dt:%H:%M:%S} +0000"


def _rss_entry(e: FeedEntry, config: Config) -> str:
    out = [
        "    <item>\n",
        f"      <title>{_t(_line(e.title) or 'Untitled')}</title>\n",
        f"      <link>{_t(_line(e.url))}</link>\n",
    ]
    body = xml_safe(e.html)
    summary = xml_safe(e.summary).strip()
    if summary:
        out.append(f"      <description>{_t(html.escape(summary, quote=False))}</description>\n")
        if body:
            out.append(f"      <content:encoded>{_t(body)}</content:encoded>\n")
    elif body:
        out.append(f"      <description>{_t(body)}</description>\n")
    out.append(f'      <guid isPermaLink="false">{_t(_line(e.uid))}</guid>\n')
    out += [f"      <category>{_t(t)}</category>\n" for t in (_label(c) for c in e.categories) if t]
    out.append(f"      <pubDate>{_rfc822(_utc(e.published, config.site.tz))}</pubDate>\n")
    out += [f"      <dc:creator>{_t(n)}</dc:creator>\n" for n in _names(e, config)]
    # RSS allows one enclosure: the attached file (with its real length) before the image.
    image = _line(e.image or "")
    if e.attachment is not None:
        a = e.attachment
        out.append(f'      <enclosure url="{_a(_line(a.url))}" length="{a.length}" type="{_a(a.mime_type)}"/>\n')
    elif image:
        out.append(f'      <enclosure url="{_a(image)}" length="0" type="{_a(_image_type(image))}"/>\n')
    out.append("    </item>\n")
    return "".join(out)


def render_all(
    spec: FeedSpec, entries: Sequence[FeedEntry], config: Config, formats: Sequence[FeedFormat] | None = None
) -> dict[str, bytes]:
    """Every configured format of one feed, keyed by output-relative file name."""
    return {spec.file(fmt): render(spec, entries, config, fmt) for fmt in formats or config.feeds.formats}


def feed_url(config: Config, spec: FeedSpec, fmt: FeedFormat) -> str:
    # Slugs of names in other scripts are not ASCII: the URL carries them percent-encoded.
    return _base(config) + quote(spec.file(fmt), safe="/")


def _head(spec: FeedSpec, config: Config, fmt: FeedFormat, updated: datetime, archive: Archive) -> bytes:
    """The Atom or RSS document of ``spec`` without entries, byte for byte as feedgen 1.0.0 (with the
    extensions below) pretty-prints it: entries are spliced in before its closing tag by :func:`render`.
    Written here rather than through feedgen, whose import (lxml, dateutil) costs a command more than its
    work; tests/feeds compares the two for feeds of every shape."""
    base = _base(config)
    title = _line(spec.title) or _line(config.site.title) or "Feed"
    description = _line(spec.subtitle) or _line(config.site.description) or _line(spec.title) or "Feed"
    language = config.site.language
    self_url = feed_url(config, spec, fmt)
    hubs = [_line(hub) for hub in config.websub.hubs]
    out: list[str] = ["<?xml version='1.0' encoding='UTF-8'?>\n"]
    if fmt == "rss":
        out.append(f'<rss xmlns:dc="{_DC_NS}" xmlns:atom="{_ATOM_NS}" xmlns:content="{_CONTENT_NS}" version="2.0">\n')
        out.append("  <channel>\n")
        out.append(f"    <title>{_xml_t(title)}</title>\n")
        out.append(f"    <link>{_xml_t(base)}</link>\n")
        out.append(f"    <description>{_xml_t(description)}</description>\n")
        out.append(f'    <atom:link href="{_xml_a(self_url)}" rel="self" type="{MEDIA_TYPES[fmt]}"/>\n')
        out.append("    <docs>https://www.rssboard.org/rss-specification</docs>\n")
        out.append("    <generator>publisher</generator>\n")
        if language:
            out.append(f"    <language>{_xml_t(language)}</language>\n")
        out.append(f"    <lastBuildDate>{_rfc822(updated)}</lastBuildDate>\n")
        out += [f'    <atom:link href="{_xml_a(hub)}" rel="hub"/>\n' for hub in hubs]
        if archive.prev:
            out.append(
                f'    <atom:link href="{_xml_a(archive.prev)}" rel="prev-archive" type="{MEDIA_TYPES["atom"]}"/>\n'
            )
        out.append("  </channel>\n</rss>\n")
        return "".join(out).encode("utf-8")
    ns = f'xmlns:fh="{_FH_NS}" ' if archive.current else ""
    lang = f' xml:lang="{_xml_a(language)}"' if language else ""
    out.append(f'<feed {ns}xmlns="{_ATOM_NS}"{lang}>\n')
    if archive.current:
        out.append("  <fh:archive/>\n")
    out.append(f"  <id>{_xml_t(spec.uid or feed_uid(config, spec.key))}</id>\n")
    out.append(f"  <title>{_xml_t(title)}</title>\n")
    out.append(f"  <updated>{updated.isoformat()}</updated>\n")
    names = [_line(n) for n in spec.authors or (config.site.author,)]
    out += [f"  <author>\n    <name>{_xml_t(n)}</name>\n  </author>\n" for n in names if n]
    atom = MEDIA_TYPES["atom"]
    links = [(self_url, "self", MEDIA_TYPES[fmt])]
    links += [(hub, "hub", "") for hub in hubs]
    # RFC 5005 archives are Atom documents, whichever format links to them.
    links += [
        (url, rel, atom)
        for url, rel in ((archive.current, "current"), (archive.prev, "prev-archive"), (archive.next, "next-archive"))
        if url
    ]
    links.append((base, "alternate", "text/html"))
    for href, rel, media in links:
        kind = f' type="{media}"' if media else ""
        out.append(f'  <link href="{_xml_a(href)}" rel="{rel}"{kind}/>\n')
    out.append("  <generator>publisher</generator>\n")
    out.append(f"  <subtitle>{_xml_t(description)}</subtitle>\n")
    out.append("</feed>\n")
    return "".join(out).encode("utf-8")


def _xml_t(text: str) -> str:
    """:func:`_t`, refusing what lxml refuses (a character XML cannot hold) as lxml does."""
    _xml_ok(text)
    return _t(text)


def _xml_a(text: str) -> str:
    """:func:`_a`, refusing what lxml refuses (a character XML cannot hold) as lxml does."""
    _xml_ok(text)
    return _a(text)


def _xml_ok(text: str) -> None:
    if _NOT_XML.search(text):
        raise ValueError("All strings must be XML compatible: Unicode or ASCII, no NULL bytes or control characters")


# What lxml refuses in a text or an attribute: C0 controls but tab, LF and CR; surrogates; U+FFFE, U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _names(e: FeedEntry, config: Config) -> list[str]:
    names = [n for n in (_label(a) for a in e.authors) if n]
    return names or [_line(config.site.author) or "Unknown"]


def _json_item(e: FeedEntry, config: Config) -> dict[str, Any]:
    tz = config.site.tz
    item: dict[str, Any] = {
        "id": _line(e.uid),
        "url": _line(e.url),
        "title": _line(e.title) or "Untitled",
    }
    body = xml_safe(e.html)
    summary = xml_safe(e.summary).strip()
    if body:
        item["content_html"] = body
    else:
        item["content_text"] = summary
    if summary:
        item["summary"] = summary
    if e.image:
        item["image"] = _line(e.image)
    if e.attachment is not None:
        a = e.attachment
        item["attachments"] = [{"url": _line(a.url), "mime_type": a.mime_type, "size_in_bytes": a.length}]
    item["date_published"] = _utc(e.published, tz).isoformat()
    item["date_modified"] = _utc(e.updated, tz).isoformat()
    item["authors"] = [{"name": n} for n in _names(e, config)]
    tags = [t for t in (_label(c) for c in e.categories) if t]
    if tags:
        item["tags"] = tags
    return item


def _render_json(spec: FeedSpec, entries: Sequence[FeedEntry], config: Config) -> bytes:
    """JSON Feed 1.1, keys in the order of the spec's tables; it has no feed-level date."""
    base = _base(config)
    doc: dict[str, Any] = {
        "version": JSONFEED_VERSION,
        "title": _line(spec.title) or "Feed",
        "home_page_url": base,
        "feed_url": feed_url(config, spec, "json"),
    }
    description = _line(spec.subtitle) or _line(config.site.description)
    if description:
        doc["description"] = description
    doc["language"] = config.site.language
    doc["authors"] = [{"name": _line(n)} for n in spec.authors or (config.site.author,) if _line(n)]
    if config.websub.hubs:
        doc["hubs"] = [{"type": "WebSub", "url": _line(h)} for h in config.websub.hubs]
    doc["items"] = [_json_item(e, config) for e in entries]
    # No indent: json's C encoder only runs without it, and readers do not care.
    return (_JSON.encode(doc) + "\n").encode("utf-8")


def render_opml(specs: Sequence[FeedSpec], config: Config) -> bytes:
    """OPML 2.0 listing every feed once, grouped (site, correspondents, categories, tags).

    One outline per feed, its ``xmlUrl`` on the first configured format in the order Atom, RSS, JSON, so a
    reader importing the list subscribes to each feed once. Sorted by title: caller order does not matter.
    """
    from lxml import etree  # here: only the list of feeds is made with it, and it costs a command's start

    fmt: FeedFormat = next((f for f in FORMATS if f in config.feeds.formats), "atom")
    base = _base(config)
    opml = etree.Element("opml", version="2.0")
    head = etree.SubElement(opml, "head")
    etree.SubElement(head, "title").text = f"{_line(config.site.title)} feeds"
    etree.SubElement(head, "docs").text = "http://opml.org/spec2.opml"
    body = etree.SubElement(opml, "body")
    groups = {"site": body}
    labels = {"correspondent": "Correspondents", "category": "Categories", "tag": "Tags"}
    rank = {kind: i for i, kind in enumerate(["site", *labels])}
    for spec in sorted(
        specs, key=lambda s: (rank.get(_kind(s), len(rank)), _kind(s), _line(s.title).casefold(), s.key)
    ):
        kind = _kind(spec)
        parent = groups.get(kind)
        if parent is None:
            label = labels.get(kind, kind.title())
            parent = groups[kind] = etree.SubElement(body, "outline", text=label, title=label)
        title = _line(spec.title) or str(spec.key)
        etree.SubElement(
            parent,
            "outline",
            type="rss",
            text=title,
            title=title,
            xmlUrl=feed_url(config, spec, fmt),
            htmlUrl=base,
        )
    return bytes(etree.tostring(opml, pretty_print=True, encoding="UTF-8", xml_declaration=True))


# -- helpers ---------------------------------------------------------------------------------------------


def _kind(spec: FeedSpec) -> str:
    return spec.key.kind


def _line(text: str) -> str:
    """Clean text on one line: CR, LF and every other whitespace run become one space."""
    return one_line(xml_safe(text))


@functools.lru_cache(maxsize=4096)
def _label(text: str) -> str:
    """:func:`_line` of a name or a category, which recur in entry after entry: cleaned once."""
    return _line(text)


def _utc(dt: datetime, tz: tzinfo) -> datetime:
    """Aware, UTC, whole seconds; a naive datetime is read in the site's time zone instead of raising."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        dt = dt.replace(tzinfo=tz)
    return dt.astimezone(UTC).replace(microsecond=0)


def _base(config: Config) -> str:
    url = config.site.base_url
    return url if url.endswith("/") else url + "/"


def _image_type(url: str) -> str:
    path = urlsplit(url).path.lower()
    dot = path.rfind(".")
    return _IMAGE_TYPES.get(path[dot:] if dot >= 0 else "", "application/octet-stream")
