"""The scanner: the only stage that reads the content folder.

It walks the folder, asks the store which files changed since the last scan (size, mtime, then a content
hash), hands the bytes of changed files to :mod:`publisher.content.readers`, and records the results in the store.
An unchanged file is never parsed again; a file whose bytes are unchanged but whose mtime moved is only
re-stamped. One bad file is logged once with its reason, recorded as skipped, and the scan goes on.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from publisher.config import Config
from publisher.content import authors, catalog, loading, selection, urls, walk
from publisher.content.loading import Loaded as _Loaded
from publisher.content.walk import Candidate as _Candidate
from publisher.content.workers import POOL_MIN, pool_size
from publisher.models import ParsedItem
from publisher.store import SCHEMA_VERSION, Store, iso, now_utc
from publisher.store import content as db
from publisher.store.content import SourceRecord

logger = logging.getLogger(__name__)


@dataclass
class ScanReport:
    files_seen: int = 0
    files_read: int = 0  # parsed this time
    unchanged: int = 0
    added: list[str] = field(default_factory=list)  # item keys
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    drafts: int = 0
    skipped: dict[str, str] = field(default_factory=dict)  # path → reason (new this scan)
    # Files that are not posts, by reason (content.include/exclude, bundle assets, undated pages).
    left_out: Counter[str] = field(default_factory=Counter)
    undated: int = 0  # files read this scan that gave no date (their modification time was used)
    # What the feeds must show again: item keys whose feed-visible content changed, before and after.
    touched: catalog.Touched = field(default_factory=catalog.Touched)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


def scan(
    config: Config,
    store: Store,
    *,
    only: Iterable[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    ahead: walk.Ahead | None = None,
) -> ScanReport:
    """Bring the store in line with the content folder.

    ``only``: relative paths reported changed by a watcher; the walk is then limited to them (a path that
    no longer exists is a deletion). ``None`` walks the whole folder, which is also the safety net.
    ``progress(done, total)`` is called as files are handled. ``ahead``: a walk of the whole folder started
    earlier (:class:`walk.Ahead`), taken instead of walking again when the store is as it found it.
    """
    root = config.paths.content
    report = ScanReport()
    if not root.is_dir():
        logger.error("%s: the content folder does not exist", root)
        return report
    people = authors.load(config)
    force = _authors_changed(store, people)
    known: dict[str, SourceRecord] | None = None
    # The selection rules the recorded files were chosen by, when every one was (see _walk).
    rules = walk.selection_rules(config)
    same_rules = db.get_meta(store, db.RULES_META) == rules
    # Files found as they were recorded: counted, never read (a walk over an unchanged folder is mostly stats).
    unchanged: list[str] = []
    walked = None
    if ahead is not None:
        if only is None and not force and same_rules:
            walked = ahead.result()
        else:
            ahead.discard()
    gone: list[str] | None = None
    if walked is not None and walked.rules == rules and walked.schema == SCHEMA_VERSION:
        for name, level, message in walked.logs:
            logging.getLogger(name).log(level, "%s", message)
        report.left_out.update(walked.left_out)
        candidates, stamps, gone = walked.candidates, walked.stamps, walked.gone
        report.unchanged = walked.unchanged
    elif only is None or force:
        # A walk compares every file with its recorded (size, mtime) only; the whole record is read for
        # the few files that changed or went.
        stamps = db.source_stamps(store, DUPLICATE)
        fast = stamps if same_rules and not force else None
        candidates = list(_walk(root, config, report.left_out, known=fast, unchanged=unchanged))
    else:
        if not same_rules and db.get_meta(store, db.RULES_META):
            # Files are recorded under other rules than the last walk's: the next walk asks the rules again.
            with store.transaction():
                db.set_meta(store, db.RULES_META, "")
        known = _known_sources(store, only)
        # A file skipped because another held its id is looked at again: the other may be gone now.
        duplicates = _known_sources(store, None, duplicates=True)
        known.update(duplicates)
        wanted = set(only) | set(duplicates)
        candidates = [c for c in (_one(root, rel, config, report.left_out) for rel in sorted(wanted)) if c]
        stamps = {path: (row.size, row.mtime_ns, row.reason.startswith(DUPLICATE)) for path, row in known.items()}
    report.unchanged += len(unchanged)
    report.files_seen = len(candidates) + report.unchanged
    if gone is None:
        gone = walk.gone_files(stamps, unchanged, candidates)
    now = now_utc()
    ctx = catalog.Context.load(config, store)
    to_read: list[_Candidate] = []
    problems: list[_Candidate] = []
    for cand in candidates:
        stamp = stamps.get(cand.relpath)
        if cand.problem:
            problems.append(cand)
        elif stamp is not None and stamp[:2] == (cand.size, cand.mtime_ns) and not stamp[2] and not force:
            report.unchanged += 1
        else:
            to_read.append(cand)
    if known is None:
        known = db.sources(store, [c.relpath for c in problems + to_read] + gone) if problems or to_read or gone else {}
    for cand in problems:
        _skip(store, cand, "", cand.problem, report, now, known=known.get(cand.relpath))
    done = report.unchanged + len(problems)
    if progress is not None and done:
        progress(done, report.files_seen)
    # Files that are gone are forgotten first, so that a file renamed or moved in the same scan can take
    # its id back: an explicit id is free again, and an unchanged file under a new path keeps the old key.
    moved: dict[str, str] = {}
    for path in gone:
        key = known[path].item_key
        if key is not None:
            moved[known[path].sha256] = key
    for path in gone:
        _forget(store, known[path], report)
    loaded = _load_all(to_read, config.content.max_file_size, ctx.tz, config.site.author, site=ctx.site)
    with db.bulk_writes(store, len(to_read)):
        for batch in _batches(loaded, _BATCH, _BATCH_TEXT):
            with store.transaction():
                _write_batch(batch, known, store, ctx, report, now, moved, config, people, force)
            done += len(batch)
            if progress is not None:
                progress(done, report.files_seen)
    people_touched = [key.slug for key in report.touched.keys if key.kind == "correspondent"]
    if people_touched:
        with store.transaction():
            catalog.settle_correspondents(store, ctx, people_touched)
    if (only is None or force) and not same_rules:
        # Every recorded file was chosen by these rules now (recorded last, so a scan cut short asks again).
        with store.transaction():
            db.set_meta(store, db.RULES_META, rules)
    _log_summary(report)
    return report


def _authors_changed(store: Store, people: authors.Authors) -> bool:
    """Whether the authors data changed since the last scan (then every file is read again); keeps the new
    fingerprint and the correspondents readers may not subscribe to."""
    fingerprint = authors.fingerprint(people)
    if db.get_meta(store, "authors_data") == fingerprint:
        return False
    from publisher.models import slugify

    closed = sorted(slugify(a.name) for a in people.values() if not a.subscribable)
    with store.transaction():
        db.set_meta(store, "authors_data", fingerprint)
        db.set_meta(store, "not_subscribable", json.dumps(closed))
    return db.count_items(store) > 0


def _log_summary(report: ScanReport) -> None:
    """Once per scan: how many files gave no date, and what was left out as not posts."""
    if report.undated:
        logger.info("%d file(s) have no date; their modification time was used", report.undated)
    for reason, count in sorted(report.left_out.items()):
        logger.info("%d file(s) left out: %s", count, reason)


# A write transaction holds up to this many files read, or this much of their text (source and HTML),
# whichever comes first. Every commit writes again the index pages its rows touched: 128 files a commit
# made a cold scan of 10,000 short posts write 480 MB, 2 MiB of text a commit (~200 of them) 330 MB; the
# text bound keeps the writer's memory flat when posts are long.
_BATCH = 1024
_BATCH_TEXT = 2 << 20
DUPLICATE = walk.DUPLICATE


def _load_all(
    cands: list[_Candidate],
    max_size: int,
    tz: ZoneInfo,
    default_author: str,
    *,
    workers: int | None = None,
    site: urls.Site | None = None,
) -> Iterator[_Loaded]:
    """Read and parse ``cands``, and render their HTML for ``site``'s URLs when given, yielding the results
    in order.

    Many files (a cold scan) are read, parsed and rendered in worker processes while this process writes what
    they return (:func:`publisher.content.loading.in_workers`): both cores work, and the single writer keeps
    SQLite simple. A few files (what a watcher reports) are read here: starting workers would cost more than
    it saves.
    """
    job = loading.Job(max_size=max_size, tz=tz, default_author=default_author, site=site)
    workers = pool_size() if workers is None else workers
    if workers < 1 or len(cands) < POOL_MIN:
        for cand in cands:
            yield loading.load(cand, job)
        return
    yield from itertools.chain.from_iterable(
        loading.in_workers([cands[i : i + _CHUNK] for i in range(0, len(cands), _CHUNK)], job, workers)
    )


# Files come back from the workers _CHUNK at a time.
_CHUNK = 32


def _batches(items: Iterable[_Loaded], size: int, text: int) -> Iterator[list[_Loaded]]:
    """``items`` in lists of at most ``size``, each closed once it holds ``text`` characters or more."""
    batch: list[_Loaded] = []
    held = 0
    for item in items:
        batch.append(item)
        held += _text_size(item)
        if len(batch) >= size or held >= text:
            yield batch
            batch, held = [], 0
    if batch:
        yield batch


def _text_size(item: _Loaded) -> int:
    """The characters of source and HTML a file read holds (its sections' source is its body, cut)."""
    size = len(item.parsed.body) if item.parsed is not None else 0
    if item.rendered is not None:
        size += sum(map(len, item.rendered.sections))
    return size


# -- walking ----------------------------------------------------------------------------------------------


# The walk lives in publisher.content.walk (light enough to run ahead, in a child process, while a command
# loads the rest); the names the scanner and its tests know it by.
_walk = walk.walk
_one = walk.one


# -- one file ---------------------------------------------------------------------------------------------


def _known_sources(store: Store, only: Iterable[str] | None, *, duplicates: bool = False) -> dict[str, SourceRecord]:
    if duplicates:
        return db.skipped_sources_like(store, DUPLICATE)
    return db.sources(store, only)


def _write_batch(
    batch: list[_Loaded],
    known: dict[str, SourceRecord],
    store: Store,
    ctx: catalog.Context,
    report: ScanReport,
    now: datetime,
    moved: dict[str, str],
    config: Config,
    people: authors.Authors,
    force: bool,
) -> None:
    """Record a batch of files read, inside the caller's transaction.

    Files new to the store (a cold scan's every file) are written together, one statement per table; the
    others (edits, drafts, duplicates, moves, broken files) one by one, each in a savepoint. Should the
    batched write fail, it is undone and its files are written one by one too, so that a bad file undoes
    only itself and is recorded as skipped with its reason.
    """
    ready: list[tuple[_Loaded, SourceRecord | None, ParsedItem]] = []
    for loaded in batch:
        source = known.get(loaded.cand.relpath)
        parsed = _accept(loaded, source, store, report, now, moved, config, people, force)
        if parsed is not None and loaded.rendered is not None and _url_parts(parsed) != _url_parts(loaded.parsed):
            # Not where the worker placed it (a move keeps the old key): its URL path is worked out again.
            loaded = dataclasses.replace(loaded, rendered=dataclasses.replace(loaded.rendered, url_path=""))
        if parsed is not None:
            ready.append((loaded, source, parsed))
    new = _new_items(store, ready)
    if new:
        touched = catalog.Touched()
        try:
            with store.transaction():
                entries = [(parsed, loaded.cand.mtime_ns, loaded.rendered) for loaded, _, parsed in new]
                catalog.add_new_items(store, ctx, entries, touched=touched, at=now)
                db.save_sources(store, [_source_row(loaded, parsed.key, "ok", "", now) for loaded, _, parsed in new])
        except Exception:
            logger.exception("%d new files could not be recorded together; recording them one by one", len(new))
            ctx.forget_people(store)  # the correspondents the batch wrote are gone with it
            new = []
        else:
            report.touched.keys.update(touched.keys)
    written = {id(loaded) for loaded, _, _ in new}
    for loaded, source, parsed in ready:
        if id(loaded) in written:
            report.added.append(parsed.key)
            continue
        try:
            _record(loaded.cand, loaded.sha, parsed, source, store, ctx, report, now, loaded.rendered)
        except Exception as exc:  # the file's own savepoint is undone; the others stand
            logger.exception("%s: unexpected error while recording", loaded.cand.relpath)
            ctx.forget_people(store)
            _skip(store, loaded.cand, loaded.sha, f"internal error: {exc!r}", report, now, known=source)


def _url_parts(parsed: ParsedItem | None) -> tuple[object, ...]:
    """What an item's URL path is made of."""
    return () if parsed is None else (parsed.key, parsed.slug, parsed.published, parsed.permalink)


def _new_items(
    store: Store, ready: list[tuple[_Loaded, SourceRecord | None, ParsedItem]]
) -> list[tuple[_Loaded, SourceRecord | None, ParsedItem]]:
    """The files of ``ready`` that give a published item under a key the store has never held and no other
    file of the batch claims, from a source that held no item: nothing of theirs to compare, replace or move."""
    keys = Counter(parsed.key for _, _, parsed in ready)
    stored = db.item_states(store, list(keys))
    return [
        entry
        for entry in ready
        if not entry[2].draft
        and keys[entry[2].key] == 1
        and entry[2].key not in stored
        and (entry[1] is None or entry[1].item_key is None)
    ]


def _accept(
    loaded: _Loaded,
    known: SourceRecord | None,
    store: Store,
    report: ScanReport,
    now: datetime,
    moved: dict[str, str],
    config: Config,
    people: authors.Authors,
    force: bool = False,
) -> ParsedItem | None:
    """The item a file read gives, to record; None when the file is handled already (unchanged, or skipped)."""
    cand = loaded.cand
    unchanged = known is not None and loaded.sha and known.sha256 == loaded.sha and known.status != "skipped"
    if unchanged and not force:
        # Touched but not changed (a checkout, a copy): only the stamp moves.
        db.restamp_source(store, cand.relpath, cand.size, cand.mtime_ns)
        report.unchanged += 1
        return None
    if loaded.parsed is None:
        _skip(store, cand, loaded.sha, loaded.problem, report, now, known=known)
        return None
    report.files_read += 1
    parsed = authors.apply(loaded.parsed, people)
    for note in parsed.notes:
        logger.info("%s: %s", cand.relpath, note)
    if not parsed.dated:
        if selection.undated_left_out(config.content.undated, has_front_matter=parsed.front_matter):
            # A page (a listing, a redirect stub), not a post: recorded like a draft, never published.
            parsed = dataclasses.replace(parsed, draft=True)
            report.left_out[selection.LEFT_OUT_UNDATED] += 1
        else:
            report.undated += 1
    old_key = moved.pop(loaded.sha, None) if known is None else None
    if old_key and parsed.key == os.path.splitext(cand.relpath)[0]:
        # The same bytes left another path in this scan: a move, not a new post. Same item, same id.
        logger.info("%s: moved, keeps the id of %s", cand.relpath, old_key)
        parsed = dataclasses.replace(parsed, key=old_key)
    return parsed


def _record(
    cand: _Candidate,
    sha: str,
    parsed: ParsedItem,
    known: SourceRecord | None,
    store: Store,
    ctx: catalog.Context,
    report: ScanReport,
    now: datetime,
    rendered: loading.Rendered | None = None,
) -> None:
    old_key = known.item_key if known is not None else None
    with store.transaction():
        if parsed.draft:
            if old_key:
                catalog.remove_item(store, old_key, report.touched, at=now)
                report.removed.append(old_key)
            _save_source(store, cand, sha, None, "draft", "draft: not published", now)
            report.drafts += 1
            return
        owner = db.item_owner(store, parsed.key, other_than=cand.relpath)
        if owner is not None:
            if old_key:
                catalog.remove_item(store, old_key, report.touched, at=now)
                report.removed.append(old_key)
            reason = f"{DUPLICATE} {parsed.key!r}: already used by {owner}"
            _save_source(store, cand, sha, None, "skipped", reason, now)
            _log_skip(cand.relpath, reason, known, report)
            return
        if old_key and old_key != parsed.key:
            catalog.remove_item(store, old_key, report.touched, at=now)
            report.removed.append(old_key)
        outcome = catalog.upsert_item(
            store, ctx, parsed, mtime_ns=cand.mtime_ns, touched=report.touched, at=now, rendered=rendered
        )
        _save_source(store, cand, sha, parsed.key, "ok", "", now)
    if outcome == "added":
        report.added.append(parsed.key)
    elif outcome == "updated":
        report.updated.append(parsed.key)


def _source_row(
    loaded: _Loaded, item_key: str | None, status: str, reason: str, now: datetime
) -> tuple[str, int, int, str, str | None, str, str, str]:
    cand = loaded.cand
    return (cand.relpath, cand.size, cand.mtime_ns, loaded.sha, item_key, status, reason, iso(now))


def _save_source(
    store: Store, cand: _Candidate, sha: str, item_key: str | None, status: str, reason: str, now: datetime
) -> None:
    db.save_source(
        store,
        cand.relpath,
        size=cand.size,
        mtime_ns=cand.mtime_ns,
        sha256=sha,
        item_key=item_key,
        status=status,
        reason=reason,
        scanned_at=iso(now),
    )


def _skip(
    store: Store,
    cand: _Candidate,
    sha: str,
    reason: str,
    report: ScanReport,
    now: datetime,
    *,
    known: SourceRecord | None = None,
) -> None:
    with store.transaction():
        if known is not None and known.item_key:
            # The file was good and is now broken: its item leaves the feeds until it is mended.
            catalog.remove_item(store, known.item_key, report.touched, at=now)
            report.removed.append(known.item_key)
        _save_source(store, cand, sha, None, "skipped", reason, now)
    _log_skip(cand.relpath, reason, known, report)


def _log_skip(relpath: str, reason: str, known: SourceRecord | None, report: ScanReport) -> None:
    report.skipped[relpath] = reason
    # Logged once: a file that keeps the same problem scan after scan is not reported again.
    if known is None or known.status != "skipped" or known.reason != reason:
        logger.warning("%s: skipped: %s", relpath, reason)


def _forget(store: Store, known: SourceRecord, report: ScanReport) -> None:
    with store.transaction():
        if known.item_key:
            catalog.remove_item(store, known.item_key, report.touched, at=now_utc())
            report.removed.append(known.item_key)
        db.delete_source(store, known.path)
    logger.info("%s: removed", known.path)


def skipped_sources(store: Store) -> list[tuple[str, str]]:
    """Every file currently skipped, with its reason, for summaries."""
    return db.skipped_sources(store)
