"""The value objects that travel between the pipeline's stages.

A reader turns one file into a :class:`ParsedItem`; the store records it and hands back :class:`Item`,
:class:`Section` and :class:`Correspondent` records, which the feed and digest builders consume.
All datetimes here are timezone-aware.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

BodyFormat = Literal["markdown", "text"]


@functools.lru_cache(maxsize=8192)
def slugify(text: str) -> str:
    """Lower-case and hyphenated: ``Laura Bicker`` → ``laura-bicker``, ``Zoë Ó Briain`` → ``zoe-o-briain``.

    Latin letters lose their accents; letters of other scripts stay as they are (``Иван Петров`` →
    ``иван-петров``), so names written in them never collapse into one slug.
    """
    kept = []
    for ch in unicodedata.normalize("NFC", text).lower():
        folded = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode("ascii")
        if folded:
            kept.append(_NOT_ASCII_SLUG.sub(" ", folded))
        elif ch.isalnum() or unicodedata.category(ch).startswith("M"):  # marks: Devanagari vowel signs...
            kept.append(ch)
        else:
            kept.append(" ")
    return "-".join("".join(kept).split()) or "untitled"


_NOT_ASCII_SLUG = re.compile(r"[^a-z0-9]")


@dataclass(frozen=True)
class ParsedSection:
    """The part of an item written by one correspondent, as read from the file."""

    correspondent: str  # the person's name, as written
    role: str  # "Lisbon correspondent"; "" for the item's own author when unknown
    body: str  # source text of the section (Markdown, or plain paragraphs for body_format "text")
    # The same text as the section before it, credited to one more co-author ("By A and B, ..."): it has a
    # section (and a digest entry) of its own, and the article shows the text once.
    shared: bool = False

    @property
    def correspondent_slug(self) -> str:
        return slugify(self.correspondent)


@dataclass(frozen=True)
class ParsedItem:
    """One content file, read. Pure data: readers build these from bytes and a path, touching no disk."""

    source_path: str  # relative to the content folder, POSIX separators
    key: str  # stable identity: the front-matter id, or the path without extension
    slug: str  # the last part of the item's URL path
    title: str
    published: datetime
    updated: datetime | None
    authors: tuple[str, ...]
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    summary: str = ""
    image: str | None = None  # as written (may be site-relative)
    permalink: str | None = None  # front-matter permalink / url, as written; None: built from site.permalink
    draft: bool = False
    body_format: BodyFormat = "markdown"
    # The whole body, and the same body cut into correspondent sections (always at least one).
    body: str = ""
    sections: tuple[ParsedSection, ...] = ()
    # Fallbacks the reader had to take ("no date found, used the file's mtime"), logged by the scanner.
    notes: tuple[str, ...] = ()
    # Where each field came from, for `publisher items --explain`: ("published", "front matter 'path'").
    origins: tuple[tuple[str, str], ...] = ()
    front_matter: bool = False  # the file opened with front matter
    dated: bool = True  # False: no date anywhere, the file's modification time stands in

    def origin(self, name: str) -> str:
        return dict(self.origins).get(name, "")


@dataclass(frozen=True)
class Correspondent:
    """A person who writes sections: the slug of their feed and digest, their name and role."""

    slug: str
    name: str
    role: str = ""


@dataclass(frozen=True)
class Section:
    """A stored section: one correspondent's part of one item."""

    id: int
    item_key: str
    position: int  # 0 for the lead section
    correspondent: Correspondent
    anchor: str  # HTML id of the section in the article, for links from per-correspondent feeds
    html: str  # sanitized, with absolute links
    recorded_at: datetime  # when the store first saw this section (digests gather on this)


@dataclass(frozen=True)
class Attachment:
    """A file published beside the feeds with its item (a PDF brief): a feed enclosure, a link in digests."""

    url: str  # absolute
    length: int  # bytes
    mime_type: str


@dataclass(frozen=True)
class Item:
    """A stored, published item, ready for feeds and digests."""

    key: str
    uid: str  # the tag: URI; never changes once given
    url: str  # absolute link to the article
    title: str
    published: datetime
    updated: datetime
    authors: tuple[Correspondent, ...]
    categories: tuple[str, ...]
    tags: tuple[str, ...]
    summary: str
    image: str | None  # absolute URL
    html: str  # sanitized, with absolute links
    source_path: str
    sections: tuple[Section, ...] = field(default=())
    attachment: Attachment | None = None


# -- digest scopes and feed keys ---------------------------------------------------------------------------

ScopeKind = Literal["correspondent", "category", "all", "combined"]
_SCOPE_KINDS: tuple[ScopeKind, ...] = ("correspondent", "category", "all", "combined")


@dataclass(frozen=True, order=True)
class Scope:
    """What one digest gathers and who gets it (see :mod:`publisher.mail.digests`).

    Stored and shown as text, unchanged from the first databases: ``correspondent:SLUG``, ``category:SLUG``,
    ``all``, ``combined``. :meth:`parse` reads that text back; ``str(scope)`` writes it.
    """

    kind: ScopeKind
    value: str = ""  # the correspondent's or category's slug; "" for all and combined

    def __post_init__(self) -> None:
        if self.kind not in _SCOPE_KINDS or bool(self.value) != (self.kind in ("correspondent", "category")):
            raise ValueError(f"not a digest scope: {self.kind!r}, {self.value!r}")

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}" if self.value else self.kind

    @classmethod
    def parse(cls, text: str) -> Scope:
        """The scope stored as ``text``; ValueError for anything else."""
        kind, _, value = text.partition(":")
        return cls.of(kind, value)

    @classmethod
    def of(cls, kind: str, value: str = "") -> Scope:
        """The scope of a follow's ``kind`` and ``value`` as the store keeps them; ValueError for others."""
        for known in _SCOPE_KINDS:
            if kind == known:
                return cls(known, value)
        raise ValueError(f"not a digest scope: {kind!r}, {value!r}")

    @classmethod
    def of_correspondent(cls, slug: str) -> Scope:
        return cls("correspondent", slug)

    @property
    def correspondent(self) -> str:
        """The correspondent's slug, or "" when the scope is not one correspondent's."""
        return self.value if self.kind == "correspondent" else ""

    @property
    def category(self) -> str:
        """The category's slug, or "" when the scope is not one category's."""
        return self.value if self.kind == "category" else ""


ALL = Scope("all")
COMBINED = Scope("combined")

FeedKind = Literal["site", "correspondent", "category", "tag"]
_FEED_KINDS: tuple[FeedKind, ...] = ("site", "correspondent", "category", "tag")


@dataclass(frozen=True, order=True)
class FeedKey:
    """Which feed: the site's, or one correspondent's, category's or tag's.

    Stored (and part of every feed's id) as text, unchanged: ``site``, ``correspondent/SLUG``, ``category/SLUG``,
    ``tag/SLUG``. :meth:`parse` reads that text back; ``str(key)`` writes it.
    """

    kind: FeedKind
    slug: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _FEED_KINDS or bool(self.slug) != (self.kind != "site"):
            raise ValueError(f"not a feed key: {self.kind!r}, {self.slug!r}")

    def __str__(self) -> str:
        return f"{self.kind}/{self.slug}" if self.slug else self.kind

    @classmethod
    def parse(cls, text: str) -> FeedKey:
        kind, _, slug = text.partition("/")
        return cls.of(kind, slug)

    @classmethod
    def of(cls, kind: str, slug: str = "") -> FeedKey:
        """The key of a label's ``kind`` ("category", "tag") and slug as the store keeps them; ValueError else."""
        for known in _FEED_KINDS:
            if kind == known:
                return cls(known, slug)
        raise ValueError(f"not a feed key: {kind!r}, {slug!r}")


SITE_FEED = FeedKey("site")
