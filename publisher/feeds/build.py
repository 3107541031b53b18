"""A build: scan the content folder, then write again only the feeds the changes touched.

Gather first, write second: every feed's entries are read from the store and rendered in memory; the writer
replaces a file only when its bytes changed. The first build, and any build after a change of the settings
that shape every feed (site title, base_url, feed formats...), writes every feed.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from publisher.config import Config
from publisher.content import catalog, scanner, walk
from publisher.feeds import writers
from publisher.feeds.formats import EXTENSIONS
from publisher.models import SITE_FEED, FeedKey
from publisher.store import Store, archives
from publisher.store import content as content_db

if TYPE_CHECKING:
    from publisher.feeds.render import FeedSpec

logger = logging.getLogger(__name__)


@dataclass
class BuildReport:
    scan: scanner.ScanReport
    feeds_written: list[str] = field(default_factory=list)  # output-relative paths whose bytes changed
    # Archive pages written (new, or holding an edited entry): files, but no feed anyone subscribes to.
    archives_written: list[str] = field(default_factory=list)
    feeds_removed: list[str] = field(default_factory=list)
    feeds_total: int = 0  # feeds (not files) that exist after the build
    archive_pages: int = 0  # archive pages of the feeds written (each feed's count, summed)
    full: bool = False  # every feed was rendered
    seconds: float = 0.0
    scan_seconds: float = 0.0  # of which the scan


def build(
    config: Config,
    store: Store,
    *,
    changed: Iterable[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    feed_progress: Callable[[int, int], None] | None = None,
    ahead: walk.Ahead | None = None,
) -> BuildReport:
    """Scan (all files, or only the ``changed`` relative paths) and rebuild the feeds that changed.

    ``progress(done, total)`` is called over the files scanned, ``feed_progress(done, total)`` over the
    feeds written. ``ahead``: a walk of the whole folder started earlier, for the scan (:class:`walk.Ahead`).
    """
    with _fewer_collections():
        return _build(config, store, changed, progress, feed_progress, ahead)


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Python's cyclic garbage collector run after every 20,000 new objects instead of 700 while a build
    runs, as before after. A build makes millions of short-lived objects (rows, items, entries), almost none
    of them in a cycle, so each collection finds next to nothing: at the default, collections took 0.6 s of
    a cold build of 10,000 posts, and 0.1 s at this threshold, with the same peak memory."""
    before = gc.get_threshold()
    gc.set_threshold(_BUILD_GC_THRESHOLD, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


_BUILD_GC_THRESHOLD = 20_000


def _build(
    config: Config,
    store: Store,
    changed: Iterable[str] | None,
    progress: Callable[[int, int], None] | None,
    feed_progress: Callable[[int, int], None] | None,
    ahead: walk.Ahead | None,
) -> BuildReport:
    started = time.perf_counter()
    marks = content_db.change_marks(store)  # the store as this build finds it, before its scan writes
    changed = None if changed is None else set(changed)
    scan = scanner.scan(config, store, only=changed, progress=progress, ahead=ahead)
    # The feed libraries are loaded once the scan is done: its worker processes and this one are not
    # resident together with them.
    from publisher.feeds import pages
    from publisher.feeds import render as feeds

    pages.KEPT.begin(store, marks)
    report = BuildReport(scan=scan, scan_seconds=time.perf_counter() - started)
    ctx = catalog.Context.load(config, store)
    fingerprint = _fingerprint(config)
    previous = _previous_feeds(store)
    out = config.paths.output
    # A changed setting, or an output folder emptied by hand: write everything again.
    report.full = store.get_meta("feeds_fingerprint") != fingerprint or not (out / "feeds.opml").exists()
    if report.full:
        fresh = plan(config, store)
        gone = set(previous) - set(fresh)
        paths = {key: spec.path for key, spec in fresh.items()}
    else:
        # Only the touched feeds are looked at: the cost of a change does not grow with the folder.
        fresh = specs_for(config, store, scan.touched.keys)
        gone = (scan.touched.keys & set(previous)) - set(fresh)
        paths = {k: v for k, v in previous.items() if k not in gone} | {k: s.path for k, s in fresh.items()}
    # Entries whose archived copies must be written again: edited or gone.
    changed_items = set(scan.updated) | set(scan.removed)
    new_items = set(scan.added) | set(scan.updated)
    memory = pages.KEPT.for_build(store, ctx, fingerprint, full=report.full)
    renderer = pages.Renderer(config, store, ctx, memory=memory, changed=frozenset(changed_items | new_items))
    keys = sorted(fresh)
    if report.full:
        results = pages.build_all(
            renderer, [fresh[key] for key in keys], changed_items=changed_items, progress=feed_progress
        )
    else:
        results = []
        # The site feed first: the one most readers follow shows a new post before the narrower ones do.
        keys.sort(key=lambda k: k != SITE_FEED)
        for done, key in enumerate(keys, start=1):
            results.append(
                pages.build_feed(renderer, fresh[key], full=False, changed_items=changed_items, new_items=new_items)
            )
            if feed_progress is not None:
                feed_progress(done, len(keys))
    for result in results:
        report.feeds_written += result.written
        report.archives_written += result.archived
        report.archive_pages += result.pages
    for key in sorted(gone):
        stem = previous[key]
        with store.transaction():
            count = archives.forget(store, str(key))
        rels = [stem + ext for ext in EXTENSIONS.values()]
        rels += [f"{stem}-archive-{n}.atom" for n in range(1, count + 1)]
        report.feeds_removed += writers.remove(out, rels)
    # The list of feeds names each feed by its title, which a correspondent's new role or a label's new
    # spelling changes too: rewritten (when its bytes change) when the set of feeds or a title changed.
    titles = _previous_titles(store)
    retitled = titles is None or any(titles.get(str(k)) != spec.title for k, spec in fresh.items())
    if report.full or set(paths) != set(previous) or retitled:
        specs = fresh if report.full else plan(config, store)
        opml = feeds.render_opml([specs[k] for k in sorted(specs)], config)
        if writers.write_if_changed(out / "feeds.opml", opml, sync_folder=False):
            report.feeds_written.append("feeds.opml")
        titles = {str(k): spec.title for k, spec in specs.items()}
    # Attached files change only with their sources: a build that read no PDF (or its sidecar) and
    # removed nothing leaves them as they are.
    if report.full or scan.removed or changed is None or any(_attachment_source(p) for p in changed):
        report.feeds_written += _publish_attachments(config, store)
    # Feeds are flushed together: one syncfs after a full build (the renames with the bytes: it flushes the
    # folders too), concurrent fsyncs after a few files, then one fsync per folder for their renames.
    if report.full:
        writers.sync_filesystem(out)
    else:
        written = [out / rel for rel in report.feeds_written + report.archives_written]
        writers.sync_files(written)
        writers.sync_folders(written)
    with store.transaction():
        store.set_meta("feeds", json.dumps({str(k): v for k, v in paths.items()}, sort_keys=True))
        if titles is not None:
            store.set_meta("feed_titles", json.dumps(titles, sort_keys=True))
        store.set_meta("feeds_fingerprint", fingerprint)
        store.set_meta("last_build", str(time.time()))
    pages.KEPT.settle(store)
    report.feeds_total = len(paths)
    report.seconds = time.perf_counter() - started
    if report.feeds_written or scan.changed:
        logger.info(
            "build: %d added, %d updated, %d removed, %d skipped; %d feed files written in %.2fs",
            len(scan.added),
            len(scan.updated),
            len(scan.removed),
            len(scan.skipped),
            len(report.feeds_written),
            report.seconds,
        )
    return report


def warm(config: Config, store: Store) -> int:
    """Fill the fragment cache a running daemon keeps with the current entries of every feed, so that the
    first new post in any feed serializes only itself; returns how many entries. For a daemon, after its
    first build: a command builds once and needs none of this."""
    from publisher.feeds import pages

    pages.SHARED.limit = max(pages.SHARED.limit, pages.DAEMON_CACHE_BYTES)
    ctx = catalog.Context.load(config, store)
    specs = plan(config, store)
    pages.KEPT.begin(store, content_db.change_marks(store))
    memory = pages.KEPT.for_build(store, ctx, _fingerprint(config), full=False)
    count = pages.Renderer(config, store, ctx, memory=memory).warm([specs[k] for k in sorted(specs)])
    pages.KEPT.settle(store)
    return count


def _publish_attachments(config: Config, store: Store) -> list[str]:
    """Copy every published PDF beside the feeds (output/files/PATH), where enclosures and digests link to it;
    copies of PDFs that are no longer published are removed."""
    out = config.paths.output
    wanted: set[str] = set()
    written: list[str] = []
    for source in content_db.published_sources_ending(store, ".pdf"):
        rel = catalog.attached_path(source)
        if rel is None:
            continue
        wanted.add(rel)
        try:
            if writers.copy_if_changed(config.paths.content / source, out / rel):
                written.append(rel)
        except OSError as exc:
            logger.warning("%s: cannot publish the file (%s)", source, exc.strerror or exc)
    folder = out / catalog.FILES_FOLDER
    if folder.is_dir():
        stale = [p.relative_to(out).as_posix() for p in folder.rglob("*") if p.is_file()]
        writers.remove(out, [rel for rel in stale if rel not in wanted])
    return written


def _attachment_source(path: str) -> bool:
    """Whether a changed content path may be a published attachment (a PDF) or its sidecar."""
    return path.lower().endswith((".pdf", ".pdf.toml"))


def _previous_titles(store: Store) -> dict[str, str] | None:
    """Feed key → title of the feeds listed in feeds.opml by an earlier build; None when not recorded."""
    text = store.get_meta("feed_titles")
    if text is None:
        return None
    titles = json.loads(text)
    return titles if isinstance(titles, dict) else None


def _previous_feeds(store: Store) -> dict[FeedKey, str]:
    """Feed key → output path (without extension) of the feeds the last build wrote, stored as text."""
    previous = {}
    for text, path in json.loads(store.get_meta("feeds") or "{}").items():
        try:
            previous[FeedKey.parse(text)] = path
        except ValueError:
            logger.warning("forgetting the feed %r recorded by an earlier build: not a feed key", text)
    return previous


def plan(config: Config, store: Store) -> dict[FeedKey, FeedSpec]:
    """Every feed that should exist now, by feed key."""
    from publisher.feeds import render as feeds

    specs = {SITE_FEED: feeds.site_spec(config)}
    if config.feeds.per_correspondent:
        for person in catalog.correspondents(store):
            specs[FeedKey("correspondent", person.slug)] = feeds.correspondent_spec(config, person)
    if config.feeds.per_category:
        for slug, name in catalog.labels(store, "category"):
            specs[FeedKey("category", slug)] = feeds.category_spec(config, name)
    if config.feeds.per_tag:
        for slug, name in catalog.labels(store, "tag"):
            specs[FeedKey("tag", slug)] = feeds.tag_spec(config, name)
    return specs


def specs_for(config: Config, store: Store, keys: Iterable[FeedKey]) -> dict[FeedKey, FeedSpec]:
    """The specs of those of ``keys`` whose feeds should exist now (enabled, and with entries)."""
    from publisher.feeds import render as feeds

    specs: dict[FeedKey, FeedSpec] = {}
    for key in keys:
        kind, slug = key.kind, key.slug
        if kind == "site":
            specs[key] = feeds.site_spec(config)
        elif kind == "correspondent" and config.feeds.per_correspondent:
            person = catalog.correspondent(store, slug)
            if person is not None and catalog.has_sections(store, slug):
                specs[key] = feeds.correspondent_spec(config, person)
        elif (kind == "category" and config.feeds.per_category) or (kind == "tag" and config.feeds.per_tag):
            name = catalog.label(store, kind, slug)
            if name is not None:
                specs[key] = (feeds.category_spec if kind == "category" else feeds.tag_spec)(config, name)
    return specs


def _fingerprint(config: Config) -> str:
    """A hash of every setting that shapes all feeds at once."""
    shape = {
        "site": asdict(config.site),
        "feeds": asdict(config.feeds),
        "websub": list(config.websub.hubs),
        "output": str(config.paths.output),
        "version": 2,
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True, default=str).encode()).hexdigest()
