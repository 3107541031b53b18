"""The catalog: what a parsed item becomes in the store, and what stored rows become for feeds and digests.

The scanner hands it parsed items; the feed and digest builders read :class:`~publisher.models.Item` objects
from it. Its SQL is in :mod:`publisher.store.content`; the rules are here: ids, URLs, the content hash that
decides whether feeds change, sections' stamps and anchors, and rendering.

Identity rules live here. An item's ``uid`` (a ``tag:`` URI) is given once, when the item is first recorded,
and never changed: not by edits, not by a move of ``base_url``, not by deletion and return of the file.
HTML is rendered by the scan's workers and stored with the item; what has none (after a new base URL, or an
article of several sections, whose bylines name correspondents as stored) is rendered when a feed or digest
first needs it. It is kept until the body changes.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from publisher.config import Config
from publisher.content import ids, markup, urls
from publisher.content.loading import Rendered

# Kept here for the feed builder, which copies attached files out.
from publisher.content.urls import ATTACHED_TYPES as ATTACHED_TYPES
from publisher.content.urls import FILES_FOLDER as FILES_FOLDER
from publisher.content.urls import attached_path as attached_path
from publisher.content.urls import attachment_link as _attachment_link
from publisher.models import (
    SITE_FEED,
    Attachment,
    Correspondent,
    FeedKey,
    Item,
    ParsedItem,
    ParsedSection,
    Section,
    slugify,
)
from publisher.store import Store, dumps, iso, parse_iso
from publisher.store import content as db


@dataclass
class Touched:
    """The feeds a change touches, by feed key: "site", "correspondent/SLUG", "category/SLUG", "tag/SLUG"."""

    keys: set[FeedKey] = field(default_factory=set)

    def add_item_row(self, store: Store, key: str) -> None:
        """Mark every feed the stored item ``key`` appears in (its state before or after a change)."""
        self.keys.add(SITE_FEED)
        self.keys.update(FeedKey.of(kind, value) for kind, value in db.item_labels(store, key))
        self.keys.update(FeedKey("correspondent", slug) for slug in db.item_correspondents(store, key))

    def add_parsed(self, parsed: ParsedItem) -> None:
        """Mark every feed the item will appear in, from the item itself (no query)."""
        self.keys.add(SITE_FEED)
        self.keys.update(FeedKey("category", slugify(c)) for c in parsed.categories)
        self.keys.update(FeedKey("tag", slugify(t)) for t in parsed.tags)
        self.keys.update(FeedKey("correspondent", s.correspondent_slug) for s in parsed.sections)
        self.keys.update(FeedKey("correspondent", slugify(a)) for a in parsed.authors[:1] if not parsed.sections)

    def __bool__(self) -> bool:
        return bool(self.keys)


@dataclass(frozen=True)
class Context:
    """What turns a parsed item into a stored one: time zone, id authority, URLs."""

    tz: ZoneInfo
    authority: str
    base_url: str
    permalink: str
    content: Path | None = None  # the content folder, where attached files (PDFs) are found
    # Correspondents as stored (slug → name, role), so a scan writes a correspondent only when it changes.
    # Cleared when a file's work is rolled back, since the rows it wrote are gone.
    people: dict[str, tuple[str, str]] = field(default_factory=dict, compare=False)

    @classmethod
    def load(cls, config: Config, store: Store) -> Context:
        authority = config.site.id_authority or store.get_meta("id_authority") or ""
        if not authority:
            host = urlsplit(config.site.base_url).hostname or ""
            if ids.is_real_host(host):
                # The first real host fixes the ids for ever; provisional ones are given it, once.
                store.set_meta("id_authority", host)
                db.rename_uid_authority(store, f"tag:{ids.PROVISIONAL},", f"tag:{host},")
                authority = host
            else:
                authority = ids.PROVISIONAL
        elif not config.site.id_authority and db.has_uid_prefix(store, f"tag:{ids.PROVISIONAL},"):
            db.rename_uid_authority(store, f"tag:{ids.PROVISIONAL},", f"tag:{authority},")
        base = config.site.base_url if config.site.base_url.endswith("/") else config.site.base_url + "/"
        if store.get_meta("html_base") != base:
            # Rendered HTML carries absolute links: a new base_url means rendering again.
            db.clear_html(store)
            store.set_meta("html_base", base)
        ctx = cls(
            tz=config.site.tz,
            authority=authority,
            base_url=base,
            permalink=config.site.permalink,
            content=config.paths.content,
        )
        ctx.forget_people(store)
        return ctx

    def forget_people(self, store: Store) -> None:
        """(Re)load the correspondents cache from the store: at load, and after a rollback."""
        self.people.clear()
        self.people.update((slug, (name, role)) for slug, name, role in db.correspondent_rows(store))

    def uid(self, parsed: ParsedItem) -> str:
        # RFC 4151: tag:authority,date:specific. The date is the item's first publication day.
        day = parsed.published.astimezone(UTC).date().isoformat()
        return f"tag:{self.authority},{day}:{quote(parsed.key, safe='/-._~')}"

    @functools.cached_property
    def site(self) -> urls.Site:
        """The URL rules alone, as the scan's workers get them to render HTML before items are written."""
        return urls.Site(tz=self.tz, base_url=self.base_url, permalink=self.permalink, content=self.content)

    def url_path(self, parsed: ParsedItem) -> str:
        return self.site.url_path(parsed)

    def attachment(self, source_path: str) -> Attachment | None:
        """The published copy of a source file that is its own best form (a PDF), with its real length."""
        return self.site.attachment(source_path)

    def url(self, url_path: str) -> str:
        return self.site.url(url_path)


def _content_hash(parsed: ParsedItem, url_path: str) -> str:
    """A hash of everything the feeds show of an item: equal hashes, nothing to rebuild."""
    parts = (
        parsed.title,
        parsed.published.isoformat(),
        parsed.updated.isoformat() if parsed.updated else "",
        *parsed.authors,
        "\x1e",
        *parsed.categories,
        "\x1e",
        *parsed.tags,
        "\x1e",
        parsed.summary,
        parsed.image or "",
        parsed.body_format,
        parsed.body,
        *(f"{s.correspondent}\x1d{s.role}\x1d{s.body}" for s in parsed.sections),
        url_path,
        parsed.source_path,
    )
    # Each part followed by a unit separator, hashed at once (the stored hashes were made part by part).
    text = "\x1f".join(parts) + "\x1f"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _upsert_correspondent(store: Store, ctx: Context, name: str, role: str, at: str) -> str:
    slug = slugify(name)
    known = ctx.people.get(slug)
    if known is not None and known == (name, role or known[1]):
        return slug
    ctx.people[slug] = (name, role or (known[1] if known else ""))
    db.upsert_correspondent(store, slug, name, role, at)
    return slug


def upsert_item(
    store: Store,
    ctx: Context,
    parsed: ParsedItem,
    *,
    mtime_ns: int,
    touched: Touched,
    at: datetime,
    rendered: Rendered | None = None,
) -> str:
    """Record ``parsed``; returns "added", "updated" or "unchanged". The caller holds the transaction.

    ``rendered``: its sections' HTML, rendered ahead (by a scan worker); kept if rendered for its URL."""
    now = iso(at)
    url_path, digest = _identity(ctx, parsed, rendered)
    row = db.item_state(store, parsed.key)
    if row is not None and row.content_hash == digest and row.deleted_at is None:
        return "unchanged"
    if row is None:
        uid, first_seen = ctx.uid(parsed), now
    else:
        uid, first_seen = row.uid, row.first_seen
        touched.add_item_row(store, parsed.key)
    record, sections, labels = _rows(store, ctx, parsed, url_path, digest, uid, first_seen, mtime_ns, now, rendered)
    db.upsert_item(store, record)
    _replace_sections(store, parsed.key, sections, fresh=row is None)
    db.replace_labels(store, parsed.key, labels, fresh=row is None)
    touched.add_parsed(parsed)
    # A file that comes back after deletion is new to the feeds again, under its old uid.
    return "added" if row is None or row.deleted_at is not None else "updated"


def add_new_items(
    store: Store,
    ctx: Context,
    new: Sequence[tuple[ParsedItem, int, Rendered | None]],
    *,
    touched: Touched,
    at: datetime,
) -> None:
    """Record items whose keys the store has never held (a cold scan's every file): (parsed, mtime_ns, HTML
    rendered ahead) each. The same rows as :func:`upsert_item` gives them one by one, in one statement per
    table. The caller holds the transaction and has checked that no key is stored already or given twice."""
    now = iso(at)
    records: list[db.ItemRecord] = []
    sections: list[tuple[str, db.SectionRow]] = []
    labels: list[tuple[str, str, str, str, str]] = []
    for parsed, mtime_ns, rendered in new:
        url_path, digest = _identity(ctx, parsed, rendered)
        record, rows, marks = _rows(store, ctx, parsed, url_path, digest, ctx.uid(parsed), now, mtime_ns, now, rendered)
        records.append(record)
        sections.extend((parsed.key, row) for row in rows)
        labels.extend((parsed.key, *mark) for mark in marks)
        touched.add_parsed(parsed)
    db.insert_items(store, records)
    db.add_sections(store, sections)
    db.add_labels(store, labels)


def _identity(ctx: Context, parsed: ParsedItem, rendered: Rendered | None) -> tuple[str, str]:
    """The item's URL path (as the worker that rendered it worked it out, when it did) and content hash."""
    url_path = rendered.url_path if rendered is not None and rendered.url_path else ctx.url_path(parsed)
    return url_path, _content_hash(parsed, url_path)


def _rows(
    store: Store,
    ctx: Context,
    parsed: ParsedItem,
    url_path: str,
    digest: str,
    uid: str,
    first_seen: str,
    mtime_ns: int,
    now: str,
    rendered: Rendered | None,
) -> tuple[db.ItemRecord, list[db.SectionRow], list[tuple[str, str, str, str]]]:
    """What ``parsed`` is stored as: its item row, its section rows (with None for a section id still to be
    given) and its categories and tags. Writes the correspondents it names that are new or renamed."""
    lead_author = parsed.authors[0] if parsed.authors else "Unknown"
    author_slugs = [_upsert_correspondent(store, ctx, name, "", now) for name in parsed.authors or (lead_author,)]
    # Updated: the file's own say, else the later of its date and its last edit. A function of the file
    # alone, so an incremental build and a fresh build of the same folder agree.
    edited = datetime.fromtimestamp(mtime_ns / 1e9, UTC).replace(microsecond=0)
    updated = parsed.updated or max(parsed.published, edited)
    parsed_sections = parsed.sections or (ParsedSection(correspondent=lead_author, role="", body=parsed.body),)
    anchors = _anchors_for(parsed_sections)
    html_of: Sequence[str | None] = [None] * len(parsed_sections)
    # Rendered for another URL (a moved file keeps its old key, and a permalink may hold the key): the feeds
    # render it again for its own.
    if rendered is not None and rendered.page_url == ctx.url(url_path) and len(rendered.sections) == len(html_of):
        html_of = rendered.sections
    sections: list[db.SectionRow] = []
    for position, (section, anchor, section_html) in enumerate(zip(parsed_sections, anchors, html_of, strict=True)):
        slug = _upsert_correspondent(store, ctx, section.correspondent, section.role, now)
        sections.append((None, position, slug, section.role, anchor, section.body, section_html, ""))
    record = db.ItemRecord(
        key=parsed.key,
        uid=uid,
        source_path=parsed.source_path,
        slug=parsed.slug,
        url_path=url_path,
        title=parsed.title,
        published=iso(parsed.published),
        updated=iso(updated),
        authors=dumps(author_slugs),
        categories=dumps(list(parsed.categories)),
        tags=dumps(list(parsed.tags)),
        summary=parsed.summary,
        image=parsed.image,
        body_format=parsed.body_format,
        content_hash=digest,
        first_seen=first_seen,
    )
    published = iso(parsed.published)
    labels = [("category", slugify(c), c, published) for c in parsed.categories]
    labels += [("tag", slugify(t), t, published) for t in parsed.tags]
    # A new section is stamped as it is written, inside the write transaction, to the microsecond: a
    # digest (also a write transaction) either sees it committed or runs wholly before this moment, and
    # its window ends at or before it, so the next digest gathers it. Stamping at the scan's start
    # instead could land a section behind a digest mark and it would never be mailed.
    stamp = datetime.now(UTC).isoformat(timespec="microseconds")
    return record, [(*row[:7], stamp) for row in sections], labels


def _replace_sections(store: Store, key: str, rows: Sequence[db.SectionRow], *, fresh: bool) -> None:
    """Rewrite an item's sections, keeping the id and first-seen time of each correspondent's section that
    was already there, so digests never send an edited section twice. ``fresh``: the item is new, it has
    no sections yet."""
    old: dict[tuple[str, int], tuple[int | None, str]] = {}
    counts: dict[str, int] = {}
    if not fresh:
        for old_id, slug, recorded in db.section_stamps(store, key):
            n = counts[slug] = counts.get(slug, 0) + 1
            old[(slug, n)] = (old_id, recorded)
    counts.clear()
    kept: list[db.SectionRow] = []
    for _, position, slug, role, anchor, body, section_html, stamp in rows:
        n = counts[slug] = counts.get(slug, 0) + 1
        sid, recorded = old.get((slug, n), (None, ""))
        kept.append((sid, position, slug, role, anchor, body, section_html, recorded or stamp))
    db.replace_sections(store, key, kept, fresh=fresh)


def _anchors_for(sections: Sequence[ParsedSection]) -> list[str]:
    """One HTML id per section, from the correspondent's slug; a second section by the same person gets -2.
    A shared section (a co-author's credit for the text before it) has the anchor of that text."""
    anchors: list[str] = []
    for section in sections:
        if section.shared and anchors:
            anchors.append(anchors[-1])
            continue
        base = section.correspondent_slug
        anchor, n = base, 2
        while anchor in anchors:
            anchor, n = f"{base}-{n}", n + 1
        anchors.append(anchor)
    return anchors


def settle_correspondents(store: Store, ctx: Context, slugs: Iterable[str]) -> None:
    """Give each of these correspondents the role of their newest section that names one (or none): what a
    fresh build of the same folder would give, whatever order the files were read or edited in."""
    wanted = sorted(set(slugs))
    if not wanted:
        return
    db.settle_roles(store, wanted)
    ctx.forget_people(store)


def remove_item(store: Store, key: str, touched: Touched, *, at: datetime) -> None:
    """Take an item out of the feeds; its row stays (soft delete) so its uid is never given to another."""
    touched.add_item_row(store, key)
    db.delete_item(store, key, iso(at))


# -- reading, for feeds and digests ---------------------------------------------------------------------------


def correspondents(store: Store) -> list[Correspondent]:
    """Every correspondent with at least one section in a published item, by name."""
    return db.published_correspondents(store)


def subscribable_correspondents(store: Store) -> list[Correspondent]:
    """The correspondents readers may follow: all but those authors data marks ``subscribable: false``."""
    closed = set(json.loads(db.get_meta(store, "not_subscribable") or "[]"))
    return [c for c in db.published_correspondents(store) if c.slug not in closed]


def correspondent(store: Store, slug: str) -> Correspondent | None:
    return db.correspondent(store, slug)


def labels(store: Store, kind: str) -> list[tuple[str, str]]:
    """(slug, display name) of every category (``kind`` "category") or tag ("tag") in a published item."""
    return db.labels(store, kind)


def label(store: Store, kind: str, slug: str) -> str | None:
    """The display name of one category or tag, None when no published item carries it."""
    return db.label(store, kind, slug)


def has_sections(store: Store, slug: str) -> bool:
    """Whether the correspondent has a section in a published item."""
    return db.has_sections(store, slug)


def site_items(store: Store, ctx: Context, limit: int) -> list[Item]:
    return _items(store, ctx, db.newest_item_rows(store, limit))


def labelled_items(store: Store, ctx: Context, kind: str, slug: str, limit: int) -> list[Item]:
    return _items(store, ctx, db.labelled_item_rows(store, kind, slug, limit))


def correspondent_entries(store: Store, ctx: Context, slug: str, limit: int) -> list[tuple[Item, Section]]:
    """A correspondent's sections, newest first, each with its item."""
    return sections_by_ids(store, ctx, db.correspondent_section_ids(store, slug, limit))


def items_by_keys(store: Store, ctx: Context, keys: Sequence[str]) -> dict[str, Item]:
    """The published items with these keys, by key (deleted ones are left out)."""
    return {item.key: item for item in _items(store, ctx, db.item_rows(store, keys))}


def sections_by_ids(store: Store, ctx: Context, ids: Sequence[int]) -> list[tuple[Item, Section]]:
    """The sections with these ids (in the order given; ids of deleted items are left out), with items."""
    if not ids:
        return []
    by_id = {
        s.id: (item, s) for item in _items(store, ctx, db.item_rows_of_sections(store, ids)) for s in item.sections
    }
    return [by_id[i] for i in ids if i in by_id]


def _items(store: Store, ctx: Context, rows: Sequence[tuple]) -> list[Item]:  # type: ignore[type-arg]
    if not rows:
        return []
    keys = [row[0] for row in rows]
    # The context mirrors the correspondents table (loaded with it, kept in step by every write).
    people = {slug: Correspondent(slug, name, role) for slug, (name, role) in ctx.people.items()}
    section_rows: dict[str, list[tuple]] = {k: [] for k in keys}  # type: ignore[type-arg]
    for srow in db.section_rows(store, keys):
        section_rows[srow[1]].append(srow)
    items: list[Item] = []
    new_section_html: list[tuple[str, int]] = []
    new_item_html: list[tuple[str, str]] = []
    for row in rows:
        key, uid, url_path, title, published, updated, authors, cats, tags, summary, image, fmt, item_html, src = row
        url = ctx.url(url_path)
        srows = section_rows[key]
        multi = len(srows) > 1
        sections = []
        attachment = ctx.attachment(src)
        for sid, _, position, slug, role, anchor, body, shtml, recorded in srows:
            if shtml is None:
                shtml = markup.render(body, fmt, page_url=url)
                if attachment is not None:
                    shtml += _attachment_link(attachment)  # in every section: each may be mailed alone
                new_section_html.append((shtml, sid))
            person = people.get(slug, Correspondent(slug, slug))
            if role and role != person.role:
                person = Correspondent(person.slug, person.name, role)
            sections.append(
                Section(
                    id=sid,
                    item_key=key,
                    position=position,
                    correspondent=person,
                    anchor=anchor,
                    html=shtml,
                    recorded_at=parse_iso(recorded),
                )
            )
        if item_html is None:
            # One section: the article is that section in its element, made here each time rather than
            # stored twice. With more, each after the first has a byline naming its correspondent as stored
            # now: made once and kept.
            item_html = _item_html(sections, multi)
            if multi:
                new_item_html.append((item_html, key))
        items.append(
            Item(
                key=key,
                uid=uid,
                url=url,
                title=title,
                published=parse_iso(published),
                updated=parse_iso(updated),
                authors=tuple(people.get(s, Correspondent(s, s)) for s in json.loads(authors)),
                categories=tuple(json.loads(cats)),
                tags=tuple(json.loads(tags)),
                summary=summary,
                image=_image_url(image, ctx.base_url),
                html=item_html,
                source_path=src,
                sections=tuple(sections),
                attachment=attachment,
            )
        )
    if new_section_html or new_item_html:
        # Keep what was rendered, so the next build does not render it again.
        with store.transaction():
            db.save_html(store, new_section_html, new_item_html)
    return items


def _image_url(image: str | None, base_url: str) -> str | None:
    """The front-matter image as an absolute web URL; anything else (``javascript:``, ``data:``) is dropped,
    since it lands in feed enclosures and email ``<img src>`` unsanitized."""
    if not image:
        return None
    url = markup.absolute_url(image, base_url)
    return url if urlsplit(url).scheme in ("http", "https") else None


def _item_html(sections: Sequence[Section], multi: bool) -> str:
    """The article's HTML: each correspondent's section in an element whose id is the section's anchor.
    Sections sharing an anchor (co-authors of one text) are one element, with every name in its byline."""
    parts = []
    for i, section in enumerate(sections):
        if i and sections[i - 1].anchor == section.anchor:
            continue
        group = [section]
        for later in sections[i + 1 :]:
            if later.anchor != section.anchor:
                break
            group.append(later)
        byline = ""
        if multi and section.position > 0:
            who = html.escape(_names([s.correspondent.name for s in group]))
            role = f", {html.escape(section.correspondent.role)}" if section.correspondent.role else ""
            byline = f'<p class="byline">By {who}{role}</p>\n'
        parts.append(f'<section id="{html.escape(section.anchor)}">\n{byline}{section.html}\n</section>')
    return "\n".join(parts)


def _names(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
