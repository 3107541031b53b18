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
import functools
import html
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from publisher.config import Config
from publisher.content import catalog
from publisher.feeds import forked, writers
from publisher.feeds import render as feeds
from publisher.feeds.formats import FeedFormat
from publisher.feeds.render import Archive, FeedEntry, FeedSpec
from publisher.store import Store, archives
from publisher.store import content as content_db

# A current document never holds fewer entries than this to stay under the budget (fewer only when the
# feed has fewer); their older ones are shortened instead.
MIN_ENTRIES = 10
# Bytes set aside for a document's head (title, links, hubs) when entries are counted against the budget.
HEAD_ROOM = 8192
# Serialized entries kept for reuse by later feeds and builds, in bytes: a new post's build needs the site's,
# a category's and a correspondent's current entries in every format, about 1.5 MB for 50 entries of 3 KB.
# A command builds once; the daemon keeps every feed's current entries (:func:`warm`), within DAEMON_CACHE_BYTES.
CACHE_BYTES = 8 * 1024 * 1024
DAEMON_CACHE_BYTES = 32 * 1024 * 1024


def page_path(spec: FeedSpec, page: int) -> str:
    """Output-relative file of archive page ``page`` of ``spec``: ``categories/news/feed-archive-3.atom``."""
    return f"{spec.path}-archive-{page}.atom"


def page_spec(spec: FeedSpec, page: int) -> FeedSpec:
    return dataclasses.replace(spec, path=f"{spec.path}-archive-{page}")


class FragmentCache:
    """Serialized entries by (entry, format, the settings they depend on); the least recently used go past
    a byte limit. Kept between the builds of a running daemon, so a new post serializes one entry, not the
    fifty of each feed it lands in. An edited entry is another key (its id and the hash of all its values):
    its old bytes are never served, and the cache holds no entry's HTML, only the bytes it counts."""

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


class EntryMemory:
    """Feed entries read by earlier builds of this process, kept for the next: a running daemon's builds
    read from the store only the entries of the items a scan changed, not the fifty of each feed a post lands
    in. Forgotten whole when anything they are made of may have changed since the last build ended: another
    store handle, a write by anything but a build (SQLite's ``data_version`` for other connections, the
    connection's own count of changed rows for it), other settings, other correspondents' names or roles."""

    LIMIT = 20_000  # entries; past it the memory starts again

    def __init__(self) -> None:
        self.entries: dict[tuple[str, int | None], FeedEntry] = {}
        self._ended: tuple[object, ...] | None = None  # the store as the last build left it
        self._shape: tuple[object, ...] | None = None  # what the entries were made with
        self._lock = threading.Lock()

    def begin(self, store: Store, marks: tuple[int, int]) -> None:
        """Forget everything if the store was written since the last build ended; ``marks`` are
        :func:`content_db.change_marks` as the build found the store, before its scan."""
        with self._lock:
            if self._ended != (id(store), *marks):
                self.entries = {}

    def for_build(self, store: Store, ctx: catalog.Context, fingerprint: str, *, full: bool) -> EntryMemory | None:
        """After the scan: this memory for a build that may trust it (emptied when its settings or people
        differ); None for a full build, which reads everything anyway."""
        with self._lock:
            shape = (id(store), fingerprint, tuple(sorted(ctx.people.items())))
            if full or self._shape != shape or len(self.entries) > self.LIMIT:
                self.entries = {}
            self._shape = shape
        return None if full else self

    def settle(self, store: Store) -> None:
        """After a build: the store as it left it."""
        with self._lock:
            self._ended = (id(store), *content_db.change_marks(store))


KEPT = EntryMemory()


@dataclass
class Renderer:
    """Turns stored entries into serialized ones, each once for every feed and format that holds it."""

    config: Config
    store: Store
    ctx: catalog.Context
    cache: FragmentCache = field(default_factory=lambda: SHARED)
    memory: EntryMemory | None = None  # entries kept from earlier builds (a daemon's)
    changed: frozenset[str] = frozenset()  # item keys whose entries are read again, kept or not
    _mine: dict[int, tuple[FeedEntry, dict[str, bytes]]] = field(default_factory=dict, repr=False)
    # Entries (id, section) of changed items read by this build already: the site's, a category's and a
    # correspondent's feed share them, and each would read them again.
    _fresh: set[tuple[str, int | None]] = field(default_factory=set, repr=False)

    def load(self, listing: Sequence[archives.Entry]) -> list[FeedEntry]:
        """The feed entries of ``listing`` (from store/archives.py), in its order; deleted ones left out."""
        if not listing or self.memory is None:
            return self._read(listing)
        kept, fresh = self.memory.entries, self._fresh
        missing = [
            e for e in listing if (e[0], e[2]) not in kept or (e[1] in self.changed and (e[0], e[2]) not in fresh)
        ]
        if missing:
            # A listing entry and the entry read from it share their id (unique in one listing); deleted
            # items give none.
            section = {uid: sid for uid, _, sid in missing}
            kept.update({(e.uid, section[e.uid]): e for e in self._read(missing)})
            fresh.update((uid, sid) for uid, _, sid in missing)
        return [kept[(uid, sid)] for uid, _, sid in listing if (uid, sid) in kept]

    def _read(self, listing: Sequence[archives.Entry]) -> list[FeedEntry]:
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
        mine = self._mine.get(id(entry)) if self.memory is not None else None
        if mine is not None and fmt in mine[1]:
            return mine[1][fmt]
        frag = self.cache.get(self._key(entry, fmt))
        if frag is None:
            frag = feeds.entry_fragment(entry, self.config, fmt)
            self.keep(entry, fmt, frag)
        if self.memory is not None:
            # A few feeds' current entries: asked for again by the budget and by the document, found by
            # identity without hashing the entry (held here, so its id is not another's).
            self._mine.setdefault(id(entry), (entry, {}))[1][fmt] = frag
        return frag

    def keep(self, entry: FeedEntry, fmt: FeedFormat, frag: bytes) -> None:
        """Remember ``frag``, serialized elsewhere, as ``entry`` in ``fmt``."""
        self.cache.put(self._key(entry, fmt), frag)

    def _key(self, entry: FeedEntry, fmt: FeedFormat) -> tuple[object, ...]:
        site = self.config.site
        return (entry.uid, hash(entry), fmt, site.tz, site.author)

    def warm(self, specs: Sequence[FeedSpec]) -> int:
        """Serialize, into the cache, the entries of the current documents of ``specs`` in every format (as
        recorded by the last build); returns how many entries."""
        count = 0
        for spec in specs:
            entries = self.load(archives.current_entries(self.store, str(spec.key), ()))
            for fmt in self.config.feeds.formats:
                for entry in entries[: self.config.feeds.entries]:
                    self.fragment(entry, fmt)
            count += len(entries)
        return count

    def document(self, spec: FeedSpec, entries: Sequence[FeedEntry], fmt: FeedFormat, archive: Archive) -> bytes:
        fragments: feeds.Fragments = {(e.uid, fmt): self.fragment(e, fmt) for e in entries}
        return feeds.render(spec, entries, self.config, fmt, archive=archive, fragments=fragments)


@dataclass
class FeedResult:
    written: list[str] = field(default_factory=list)  # current documents whose bytes changed
    archived: list[str] = field(default_factory=list)  # archive pages whose bytes changed
    pages: int = 0


class _Pager:
    """Writes one feed's documents; shared by the walk of a full build and the per-feed incremental build."""

    def __init__(self, r: Renderer, spec: FeedSpec, result: FeedResult) -> None:
        self.r, self.spec, self.result = r, spec, result
        self.key = str(spec.key)  # as the store keeps it: site, category/news, ...
        self.last = archives.last_page(r.store, self.key)
        self.first_new = self.last + 1
        self.new_pages: list[list[archives.Entry]] = []
        self.tail: list[archives.Entry] = []  # the current document's entries, once finished
        self.heads = feeds.Heads()

    def atom_url(self, path: str) -> str:
        return feeds.feed_url(self.r.config, dataclasses.replace(self.spec, path=path), "atom")

    def write_page(self, number: int, entries: Sequence[FeedEntry], fragments: feeds.Fragments | None = None) -> None:
        # next-archive names the page after this one even while that page is still to be made, so a
        # page never changes when the next one arrives (RFC 5005 clients walk prev-archive from the
        # current document and never follow it before then).
        spec, config = self.spec, self.r.config
        archive = Archive(
            prev=self.atom_url(page_spec(spec, number - 1).path) if number > 1 else "",
            next=self.atom_url(page_spec(spec, number + 1).path),
            current=feeds.feed_url(config, spec, "atom"),
        )
        if fragments is None:
            data = self.r.document(page_spec(spec, number), entries, "atom", archive)
        else:
            data = feeds.render(
                page_spec(spec, number), entries, config, "atom", archive=archive, fragments=fragments, heads=self.heads
            )
        rel = page_path(spec, number)
        if writers.write_if_changed(config.paths.output / rel, data, sync_folder=False, sync_file=False):
            self.result.archived.append(rel)

    def close(
        self, members: list[archives.Entry], entries: list[FeedEntry], fragments: feeds.Fragments | None = None
    ) -> None:
        """A new archive page holding ``entries`` (newest first), the listing entries ``members``."""
        self.last += 1
        self.new_pages.append(members)
        self.write_page(self.last, entries, fragments)

    def finish(
        self, tail: list[archives.Entry], current: list[FeedEntry], *, full: bool, changed_items: set[str]
    ) -> FeedResult:
        """Fit the current document (``current``, newest first, the entries of listing ``tail``) in the byte
        budget, write it and the pages to write again, and record the pages made."""
        r, spec, config, store = self.r, self.spec, self.r.config, self.r.store
        cfg = config.feeds
        budget = cfg.max_bytes - HEAD_ROOM
        # By bytes: the current document must fit in every format.
        formats = cfg.formats
        fits = _fitting(r, current, formats, budget)
        keep = max(MIN_ENTRIES, fits)
        if keep < len(current):
            moving, moving_members = current[keep:], tail[keep:]
            current, tail = current[:keep], tail[:keep]
            while moving:
                take = _fit_oldest(r, moving, budget)
                self.close(moving_members[len(moving_members) - take :], moving[len(moving) - take :])
                moving, moving_members = moving[: len(moving) - take], moving_members[: len(moving_members) - take]
        # The newest ``fits`` entries fit; of the first ``keep``, as many (no second count of their bytes).
        shortened = fits < len(current)
        if shortened:
            current = _shorten(r, current, formats, budget)
        # Pages made earlier that must be written again.
        first_new = self.first_new
        again = set(range(1, first_new)) if full else archives.pages_holding(store, self.key, changed_items)
        for number in sorted(p for p in again if p < first_new):
            self.write_page(number, r.load(archives.page_entries(store, self.key, number)))
        archive = Archive(prev=self.atom_url(page_spec(spec, self.last).path) if self.last else "")
        out = config.paths.output
        for fmt in formats:
            if shortened:
                data = feeds.render(spec, current, config, fmt, archive=archive)
            else:
                data = r.document(spec, current, fmt, archive)
            rel = spec.file(fmt)
            if writers.write_if_changed(out / rel, data, sync_folder=False, sync_file=False):
                self.result.written.append(rel)
        self.tail = tail
        self.result.pages = self.last
        return self.result


# Items loaded at a time by a walk from a feed's oldest entry.
_WALK_CHUNK = 256


def build_feed(r: Renderer, spec: FeedSpec, *, full: bool, changed_items: set[str], new_items: set[str]) -> FeedResult:
    """Write the current documents of ``spec`` and the archive pages that are new or changed. The caller
    flushes what was written (:func:`writers.sync_filesystem`, :func:`writers.sync_files`).

    ``full``: write every page (settings that shape every feed changed). Else only new pages, the page
    before them, and pages holding one of ``changed_items`` (edited or deleted items); the current document
    is then read from its recorded entries plus those of ``new_items`` (the items the scan added or
    changed), without walking the feed's history. A full build of many feeds goes through :func:`build_all`.
    """
    store = r.store
    pager = _Pager(r, spec, FeedResult())
    # newest first
    if full or not archives.recorded(store, pager.key):
        tail = archives.unplaced_entries(store, pager.key)
    else:
        tail = archives.current_entries(store, pager.key, new_items)
    # The oldest entries go to pages, as in a full build's walk, while the current document holds too many.
    feed = _Walking(pager, len(tail))
    oldest_first = tail[::-1]
    for start in range(0, len(oldest_first), _WALK_CHUNK):
        chunk = oldest_first[start : start + _WALK_CHUNK]
        # Listing and loading agree on what is published; a listing's ids are unique.
        loaded = {e.uid: e for e in r.load(chunk)}
        for member in chunk:
            entry = loaded.get(member[0])
            if entry is not None:
                feed.add(member, entry, _Atom(functools.partial(r.fragment, entry, "atom")))
    result = feed.finish(full=full, changed_items=changed_items)
    with store.transaction():
        _Made.of(pager).record(store)
    return result


class _Atom:
    """An entry's Atom fragment, serialized the first time it is asked for: by an archive page (Atom only) or
    a budget count. An entry that stands only in current documents of other formats is never serialized in
    Atom."""

    __slots__ = ("_make", "made")

    def __init__(self, make: Callable[[], bytes]) -> None:
        self._make = make
        self.made: bytes | None = None

    def __call__(self) -> bytes:
        if self.made is None:
            self.made = self._make()
        return self.made


@dataclass
class _Walking:
    """One feed during the walk of a full build, from its oldest unplaced entry to its newest."""

    pager: _Pager
    remaining: int  # entries not yet met: still to be placed
    page: list[tuple[archives.Entry, FeedEntry, bytes]] = field(default_factory=list)  # oldest first
    page_bytes: int = 0
    paging: bool = False  # a page is being filled
    current: list[tuple[archives.Entry, FeedEntry, _Atom]] = field(default_factory=list)  # oldest first

    def add(self, member: archives.Entry, entry: FeedEntry, atom: _Atom) -> None:
        """The next oldest entry of the feed: onto the page being filled, or the current document. A page is
        begun while more than ``feeds.entries`` are left to place; it closes at half that many entries, or
        before the entry that would take it past the byte budget (it always holds one)."""
        cfg = self.pager.r.config.feeds
        if self.paging and (
            len(self.page) >= max(1, cfg.entries // 2) or self.page_bytes + len(atom()) > cfg.max_bytes - HEAD_ROOM
        ):
            self.close_page()
        if not self.paging and self.remaining > cfg.entries:
            self.paging = True
        self.remaining -= 1
        if self.paging:
            frag = atom()
            self.page.append((member, entry, frag))
            self.page_bytes += len(frag)
        else:
            self.current.append((member, entry, atom))

    def close_page(self) -> None:
        page = self.page[::-1]
        fragments = {(e.uid, "atom"): frag for _, e, frag in page}
        self.pager.close([m for m, _, _ in page], [e for _, e, _ in page], fragments)
        self.page, self.page_bytes, self.paging = [], 0, False

    def finish(self, *, full: bool, changed_items: set[str]) -> FeedResult:
        """The walk is over: the page being filled is closed, and the current document written."""
        if self.page:
            self.close_page()
        newest_first = self.current[::-1]
        for _, e, atom in newest_first:
            if atom.made is not None:
                self.pager.r.keep(e, "atom", atom.made)
        members, entries = [m for m, _, _ in newest_first], [e for _, e, _ in newest_first]
        return self.pager.finish(members, entries, full=full, changed_items=changed_items)


def build_all(
    r: Renderer,
    specs: Sequence[FeedSpec],
    *,
    changed_items: set[str],
    progress: Callable[[int, int], None] | None = None,
) -> list[FeedResult]:
    """:func:`build_feed` with ``full`` for every feed of ``specs``, in one walk over the items.

    Every published item is loaded once, oldest first, and each of its entries goes to every feed holding it,
    serialized in Atom at most once (an item in the site feed and two category feeds, once), and only when
    an archive page holds it or a current document is in Atom: a feed's archive
    pages fill from its oldest entry, as :func:`build_feed` makes them, and are written as they fill, so
    memory holds a page per feed, not a history. ``progress(done, total)`` counts items, then feeds.

    With :data:`FORK_MIN` items or more, the correspondents' feeds are walked by a forked process at the same
    time (:mod:`publisher.feeds.forked`), where this process may fork; this one records both shares.
    """
    store = r.store
    order = archives.oldest_first(store)
    sections = [s for s in specs if s.key.kind == "correspondent"]
    whole = [s for s in specs if s.key.kind != "correspondent"]
    child = None
    # A store in memory is this process's alone; one in a transaction holds locks a child would not.
    on_disk = str(store.path) != ":memory:" and not store.in_transaction
    if sections and whole and len(order) >= FORK_MIN and on_disk:
        work = functools.partial(_walk_apart, r, sections, order, changed_items)
        child = forked.start(work, told=progress is not None)
    if child is None:
        made = _walk_all(r, specs, order, changed_items, progress)
    else:
        both = _Both(progress, child)
        try:
            mine = _walk_all(r, whole, order, changed_items, both)
            theirs = child.result()
        finally:
            child.stop()
        if theirs is None:  # the child failed: its share is done here, counted after this process's own
            theirs = _walk_all(r, sections, order, changed_items, both.after)
        else:
            both.again()  # the child's last count
        made = mine + theirs
    with store.transaction():  # one transaction: thousands of page records
        for one in made:
            one.record(store)
    by_key = {one.key: one.result for one in made}
    return [by_key[str(spec.key)] for spec in specs]


# Items a full build holds at least before its feeds are shared with a forked process: below, the fork and
# the second process's reads cost more than they save.
FORK_MIN = 200


@dataclass
class _Made:
    """What the walk of one feed made: its result, and what the store records of it (:meth:`record`)."""

    key: str
    result: FeedResult
    first_new: int  # the number of its first new page
    new_pages: list[list[archives.Entry]]
    tail: list[archives.Entry]  # the current document's entries

    @classmethod
    def of(cls, pager: _Pager) -> _Made:
        return cls(pager.key, pager.result, pager.first_new, pager.new_pages, pager.tail)

    def record(self, store: Store) -> None:
        """Record the pages made and the current document's entries (the caller holds the transaction)."""
        for number, members in enumerate(self.new_pages, start=self.first_new):
            archives.add_page(store, self.key, number, members)
        archives.keep_current(store, self.key, self.tail)


class _Both:
    """A progress callback over this process's share of a full build and a forked child's together."""

    def __init__(self, progress: Callable[[int, int], None] | None, child: forked.Child[Any]) -> None:
        self.progress, self.child = progress, child
        self.done = self.total = 0

    def __call__(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        self.again()

    def again(self) -> None:
        """Report again, with what the child told since."""
        if self.progress is not None:
            theirs, their_total = self.child.counts()
            self.progress(self.done + theirs, self.total + their_total)

    def after(self, done: int, total: int) -> None:
        """Progress of work done after this process's share (the child's, where it failed)."""
        if self.progress is not None:
            self.progress(self.total + done, self.total + total)


def _walk_apart(
    r: Renderer,
    specs: Sequence[FeedSpec],
    order: list[str],
    changed_items: set[str],
    progress: Callable[[int, int], None],
) -> list[_Made]:
    """In the forked process: :func:`_walk_all` through a store connection of its own."""
    mine = dataclasses.replace(r, store=Store(r.store.path, create=False))
    return _walk_all(mine, specs, order, changed_items, progress)


def _walk_all(
    r: Renderer,
    specs: Sequence[FeedSpec],
    order: list[str],
    changed_items: set[str],
    progress: Callable[[int, int], None] | None,
) -> list[_Made]:
    """The walk of :func:`build_all` over the items ``order`` (oldest first): every document of ``specs``
    written, nothing recorded; what each feed made, for the caller to record."""
    store, config = r.store, r.config
    walking: list[_Walking] = []
    # item key → (feed, entry) pairs, each feed's in its own oldest-first order
    wanted: dict[str, list[tuple[_Walking, archives.Entry]]] = {}
    for spec in specs:
        pager = _Pager(r, spec, FeedResult())
        listing = archives.unplaced_entries(store, pager.key)
        feed = _Walking(pager, len(listing))
        walking.append(feed)
        for entry in reversed(listing):
            wanted.setdefault(entry[1], []).append((feed, entry))
    mine = [key for key in order if key in wanted]
    total = len(mine) + len(walking)
    if progress is not None:
        progress(0, total)
    for start in range(0, len(mine), _WALK_CHUNK):
        chunk = mine[start : start + _WALK_CHUNK]
        items = catalog.items_by_keys(store, r.ctx, chunk)
        for key in chunk:
            item = items.get(key)
            if item is None:  # deleted since it was listed
                continue
            whole: tuple[FeedEntry, _Atom] | None = None
            for feed, entry in wanted[key]:
                sid = entry[2]
                if sid is None:
                    if whole is None:
                        e = feeds.entry_for_item(item)
                        whole = e, _Atom(functools.partial(feeds.entry_fragment, e, config, "atom"))
                    fe, atom = whole
                else:
                    section = next((s for s in item.sections if s.id == sid), None)
                    if section is None:
                        continue
                    fe = feeds.entry_for_section(item, section)
                    atom = _Atom(functools.partial(feeds.entry_fragment, fe, config, "atom"))
                feed.add(entry, fe, atom)
        if progress is not None:
            progress(start + len(chunk), total)
    del wanted, mine  # the walk is over: only each feed's current entries are needed now
    for done, feed in enumerate(walking, start=total - len(walking) + 1):
        feed.finish(full=True, changed_items=changed_items)
        if progress is not None:
            progress(done, total)
    return [_Made.of(feed.pager) for feed in walking]


def _fit_oldest(r: Renderer, entries: Sequence[FeedEntry], budget: int) -> int:
    """How many of the oldest of ``entries`` (newest first) fit in one archive page (at least one)."""
    total, take = 0, 0
    for e in reversed(entries):
        total += r.size(e, "atom")
        if take and total > budget:
            break
        take += 1
    return take


def _fitting(r: Renderer, entries: Sequence[FeedEntry], formats: Sequence[FeedFormat], budget: int) -> int:
    """How many of the newest of ``entries`` fit in ``budget`` in every format. Entries past the first that
    does not fit are never serialized: they go to archive pages, in Atom only."""
    n = len(entries)
    for fmt in formats:
        total = 0
        for i, e in enumerate(entries[:n]):
            total += r.size(e, fmt)
            if total > budget:
                n = i
                break
    return n


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
