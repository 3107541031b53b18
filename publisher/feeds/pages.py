"""One feed's documents: the current document, kept under the byte budget, and its RFC 5005 archive pages.

The whole history of a feed stays reachable. Its entries are split, without overlap, between the current
document (``feed.atom``, ``.rss``, ``.json``: what readers poll) and numbered Atom archive pages
(``feed-archive-1.atom`` the oldest). Each page is marked ``fh:archive`` and links the current document
(``current``) and its neighbours (``prev-archive`` older, ``next-archive`` newer); the current documents link
the newest page (``prev-archive``; RSS through ``atom:link``; JSON Feed has no such link).

When the current document would hold more than ``feeds.entries`` entries, its oldest entries move to a new
page, ``feeds.entries / 2`` at a time (fewer when the page would pass ``feeds.max_bytes``). When it would
pass ``feeds.max_bytes`` in any format, its oldest entries move to a new page too, so that readers get
fewer entries, never cut ones, down to :data:`MIN_ENTRIES`; only when that many newest entries are still too
big are the older of them shortened to their summary and a link, the newest always whole.

Which page holds an entry is recorded when the page is made and never changes (store/archives.py): new
posts, even back-dated ones, go to the current document, so a page's bytes never change when posts arrive.
A page is written again only when one of its own entries is edited or deleted. Its ``next-archive`` link
names the page after it even before that page is made (a dangling link until then, which RFC 5005 clients,
walking ``prev-archive`` from the current document, never follow), so that making it changes nothing.
"""

from __future__ import annotations

import dataclasses
import html
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from publisher.config import Config
from publisher.content import catalog
from publisher.feeds import render as feeds
from publisher.feeds import writers
from publisher.feeds.formats import FeedFormat
from publisher.feeds.render import Archive, FeedEntry, FeedSpec
from publisher.store import Store, archives

# A current document never holds fewer entries than this to stay under the budget (fewer only when the
# feed has fewer); their older ones are shortened instead.
MIN_ENTRIES = 10
# Bytes set aside for a document's head (title, links, hubs) when entries are counted against the budget.
HEAD_ROOM = 8192
# Serialized entries kept for reuse by later feeds and builds, in bytes.
CACHE_BYTES = 16 * 1024 * 1024


def page_path(spec: FeedSpec, page: int) -> str:
    """Output-relative file of archive page ``page`` of ``spec``: ``categories/news/feed-archive-3.atom``."""
    return f"{spec.path}-archive-{page}.atom"


def page_spec(spec: FeedSpec, page: int) -> FeedSpec:
    return dataclasses.replace(spec, path=f"{spec.path}-archive-{page}")


class FragmentCache:
    """Serialized entries by (entry, format, the settings they depend on); the least recently used go past
    a byte limit. Kept between the builds of a running daemon, so a new post serializes one entry, not the
    fifty of each feed it lands in. An edited entry is another key: its old bytes are never served."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._data: OrderedDict[tuple[object, ...], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[object, ...]) -> bytes | None:
        with self._lock:
            frag = self._data.get(key)
            if frag is not None:
                self._data.move_to_end(key)
            return frag

    def put(self, key: tuple[object, ...], frag: bytes) -> None:
        with self._lock:
            if key in self._data:
                return
            self._data[key] = frag
            self.size += len(frag)
            while self.size > self.limit and self._data:
                _, old = self._data.popitem(last=False)
                self.size -= len(old)


SHARED = FragmentCache(CACHE_BYTES)


@dataclass
class Renderer:
    """Turns stored entries into serialized ones, each once for every feed and format that holds it."""

    config: Config
    store: Store
    ctx: catalog.Context
    cache: FragmentCache = field(default_factory=lambda: SHARED)

    def load(self, listing: Sequence[archives.Entry]) -> list[FeedEntry]:
        """The feed entries of ``listing`` (from store/archives.py), in its order; deleted ones left out."""
        if not listing:
            return []
        if listing[0][2] is not None:  # sections: a correspondent's feed
            pairs = catalog.sections_by_ids(self.store, self.ctx, [sid for _, _, sid in listing if sid is not None])
            return [feeds.entry_for_section(item, section) for item, section in pairs]
        items = catalog.items_by_keys(self.store, self.ctx, [key for _, key, _ in listing])
        return [feeds.entry_for_item(items[key]) for _, key, _ in listing if key in items]

    def size(self, entry: FeedEntry, fmt: FeedFormat) -> int:
        return len(self.fragment(entry, fmt))

    def fragment(self, entry: FeedEntry, fmt: FeedFormat) -> bytes:
        site = self.config.site
        key = (entry, fmt, site.tz, site.author)
        frag = self.cache.get(key)
        if frag is None:
            frag = feeds.entry_fragment(entry, self.config, fmt)
            self.cache.put(key, frag)
        return frag

    def document(self, spec: FeedSpec, entries: Sequence[FeedEntry], fmt: FeedFormat, archive: Archive) -> bytes:
        fragments: feeds.Fragments = {(e.uid, fmt): self.fragment(e, fmt) for e in entries}
        return feeds.render(spec, entries, self.config, fmt, archive=archive, fragments=fragments)


@dataclass
class FeedResult:
    written: list[str] = field(default_factory=list)  # current documents whose bytes changed
    archived: list[str] = field(default_factory=list)  # archive pages whose bytes changed
    pages: int = 0


def build_feed(r: Renderer, spec: FeedSpec, *, full: bool, changed_items: set[str], new_items: set[str]) -> FeedResult:
    """Write the current documents of ``spec`` and the archive pages that are new or changed. The caller
    flushes what was written (:func:`writers.sync_filesystem`, :func:`writers.sync_files`).

    ``full``: write every page (a first build, or settings that shape every feed changed). Else only new
    pages, the page before them, and pages holding one of ``changed_items`` (edited or deleted items);
    the current document is then read from its recorded entries plus those of ``new_items`` (the items the
    scan added or changed), without walking the feed's history.
    """
    config, store = r.config, r.store
    out = config.paths.output
    cfg = config.feeds
    budget = cfg.max_bytes - HEAD_ROOM
    page_size = max(1, cfg.entries // 2)
    result = FeedResult()
    key = str(spec.key)  # as the store keeps it: site, category/news, ...
    last = archives.last_page(store, key)
    first_new = last + 1
    # newest first
    if full or not archives.recorded(store, key):
        tail = archives.unplaced_entries(store, key)
    else:
        tail = archives.current_entries(store, key, new_items)
    new_pages: list[list[archives.Entry]] = []

    def atom_url(path: str) -> str:
        return feeds.feed_url(config, dataclasses.replace(spec, path=path), "atom")

    def write_page(number: int, entries: Sequence[FeedEntry]) -> None:
        # next-archive names the page after this one even while that page is still to be made, so a
        # page never changes when the next one arrives (RFC 5005 clients walk prev-archive from the
        # current document and never follow it before then).
        archive = Archive(
            prev=atom_url(page_spec(spec, number - 1).path) if number > 1 else "",
            next=atom_url(page_spec(spec, number + 1).path),
            current=feeds.feed_url(config, spec, "atom"),
        )
        data = r.document(page_spec(spec, number), entries, "atom", archive)
        rel = page_path(spec, number)
        if writers.write_if_changed(out / rel, data, sync_folder=False, sync_file=False):
            result.archived.append(rel)

    def close(members: list[archives.Entry], entries: list[FeedEntry]) -> None:
        nonlocal last
        last += 1
        new_pages.append(members)
        write_page(last, entries)

    # 1. By count: the oldest entries move to pages while the current document holds too many.
    while len(tail) > cfg.entries:
        oldest = tail[-page_size:]
        entries = r.load(oldest)
        take = _fit_oldest(r, entries, budget)
        # Deleted entries cannot be in ``entries``; listing and loading agree on what is published.
        members = oldest[len(oldest) - take :]
        close(members, entries[len(entries) - take :])
        tail = tail[: len(tail) - take]
    # 2. By bytes: the current document must fit in every format.
    current = r.load(tail)
    formats = cfg.formats
    while len(current) > MIN_ENTRIES and not _fits(r, current, formats, budget):
        keep = len(current)
        while keep > MIN_ENTRIES and not _fits(r, current[:keep], formats, budget):
            keep -= 1
        moving, moving_members = current[keep:], tail[keep:]
        current, tail = current[:keep], tail[:keep]
        while moving:
            take = _fit_oldest(r, moving, budget)
            close(moving_members[len(moving_members) - take :], moving[len(moving) - take :])
            moving, moving_members = moving[: len(moving) - take], moving_members[: len(moving_members) - take]
    shortened = not _fits(r, current, formats, budget)
    if shortened:
        current = _shorten(r, current, formats, budget)
    # Pages made earlier that must be written again.
    again: set[int] = set(range(1, first_new)) if full else archives.pages_holding(store, key, changed_items)
    for number in sorted(p for p in again if p < first_new):
        write_page(number, r.load(archives.page_entries(store, key, number)))
    archive = Archive(prev=atom_url(page_spec(spec, last).path) if last else "")
    for fmt in formats:
        if shortened:
            data = feeds.render(spec, current, config, fmt, archive=archive)
        else:
            data = r.document(spec, current, fmt, archive)
        rel = spec.file(fmt)
        if writers.write_if_changed(out / rel, data, sync_folder=False, sync_file=False):
            result.written.append(rel)
    with store.transaction():
        for number, members in enumerate(new_pages, start=first_new):
            archives.add_page(store, key, number, members)
        archives.keep_current(store, key, tail)
    result.pages = last
    return result


def _fit_oldest(r: Renderer, entries: Sequence[FeedEntry], budget: int) -> int:
    """How many of the oldest of ``entries`` (newest first) fit in one archive page (at least one)."""
    total, take = 0, 0
    for e in reversed(entries):
        total += r.size(e, "atom")
        if take and total > budget:
            break
        take += 1
    return take


def _fits(r: Renderer, entries: Sequence[FeedEntry], formats: Sequence[FeedFormat], budget: int) -> bool:
    return all(sum(r.size(e, fmt) for e in entries) <= budget for fmt in formats)


def _shorten(r: Renderer, entries: list[FeedEntry], formats: Sequence[FeedFormat], budget: int) -> list[FeedEntry]:
    """Older entries cut to their summary and a link, oldest first, until the document fits; the newest
    entry is always whole."""
    out = list(entries)
    for i in range(len(out) - 1, 0, -1):
        e = out[i]
        summary = html.escape(e.summary or feeds.excerpt(e.html), quote=False)
        link = html.escape(e.url)
        short = f'<p>{summary}</p>\n<p><a href="{link}">Read the whole article</a></p>'
        out[i] = dataclasses.replace(e, html=short)
        if all(sum(len(feeds.entry_fragment(x, r.config, fmt)) for x in out) <= budget for fmt in formats):
            break
    return out
