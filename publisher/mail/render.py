"""Rendering emails to HTML and text: Jinja2 templates, CSS inlining, the Gmail size budget.

Templates come from the bundled ``templates/`` folder, overridden file by file by ``paths.templates``.
A digest is rendered once for all its recipients: what differs per subscriber (their name, address and
signed links) is rendered as *slots*, markers that :class:`Body` fills in per message with plain string
joins, so 10,000 personalised emails cost one Jinja render and one CSS inlining.

The HTML part is kept under ``digest.max_html_bytes`` *as encoded for the wire* (Gmail clips beyond
~102 KB): a long digest first shortens its long sections between blocks (:mod:`publisher.mail.shorten`:
lists, headings and code blocks stay whole) with "Read more" links to the article, sharing the room out
among the sections, then shows titles only, then leaves out the last sections with a link to the site.
The text part always carries the same sections, titles and links as the HTML part.
"""

from __future__ import annotations

import functools
import html
import re
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

import css_inline
import jinja2
from markupsafe import Markup

from publisher.config import Config, bundled_templates
from publisher.content import catalog
from publisher.errors import ConfigError
from publisher.mail.mime import choose_encoding, encode_body, qp_chunk
from publisher.mail.shorten import cut_html
from publisher.models import Correspondent, Scope
from publisher.store import Store
from publisher.text import one_line

if TYPE_CHECKING:
    from publisher.mail.digests import DigestPlan

BUNDLED_TEMPLATES = bundled_templates()

# Slot markers: plain ASCII that Jinja's escaping, the HTML parser and the CSS inliner all leave alone, with
# a per-process nonce so that no article text can contain one by accident or on purpose.
_NONCE = secrets.token_hex(6)
SLOTS = ("name", "greeting", "email", "unsubscribe_url", "preferences_url")
MARK = {slot: f"%%{_NONCE}:{slot}%%" for slot in SLOTS}
_SLOT_RE = re.compile("%%" + _NONCE + r":(" + "|".join(SLOTS) + ")%%")

# Section lengths (characters of HTML) tried in turn when even shared-out room does not fit; 0: titles only.
_FIXED_LEVELS = (3000, 1200, 400, 0)
# Longest possible filling of each slot, in encoded bytes, reserved from the size budget.
_NAME_BYTES = 200 * 6


@functools.cache
def _inliner() -> css_inline.CSSInliner:
    # @media rules cannot be inlined: keep_at_rules leaves them in a <style> for clients that read it.
    return css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True)


@functools.cache
def environment(templates: Path | None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if templates is not None:
        loaders.append(jinja2.FileSystemLoader(str(templates)))
    loaders.append(jinja2.FileSystemLoader(str(BUNDLED_TEMPLATES)))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(["html", "htm", "xml"], default_for_string=False, default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _template(config: Config, name: str) -> jinja2.Template:
    try:
        return environment(config.paths.templates).get_template(name)
    except jinja2.TemplateNotFound as exc:
        raise ConfigError(f"template {name} not found", key="paths.templates") from exc
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(
            f"template {exc.filename or name}:{exc.lineno}: {exc.message}", key="paths.templates"
        ) from exc


@functools.cache
def _subject_template(source: str) -> jinja2.Template:
    return jinja2.Environment(autoescape=False).from_string(source)


def subject_template(config: Config) -> jinja2.Template:
    """The compiled ``digest.subject``; ConfigError naming the file and the key when it is no template."""
    try:
        return _subject_template(config.digest.subject)
    except jinja2.TemplateSyntaxError as exc:
        where = config.origin("digest.subject")
        raise ConfigError(f"not a valid template: {exc.message}", file=where, key="digest.subject") from exc


def render_subject(config: Config, context: Mapping[str, Any]) -> str:
    template = subject_template(config)
    try:
        text = template.render(**context)
    except jinja2.TemplateError as exc:
        raise ConfigError(f"cannot render the subject: {exc}", key="digest.subject") from exc
    # A title may carry CR/LF or U+2028; a header must not.
    return one_line(text) or config.site.title


def inline_css(page: str) -> str:
    return str(_inliner().inline(page))


# -- the view of a digest ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One section as a digest shows it."""

    section_id: int
    title: str
    url: str  # the article, at the section's anchor
    item_url: str
    image: str | None
    published: datetime
    date: str  # publication date in the site's time zone, written out
    correspondent: Correspondent
    role: str
    html: Markup  # the section's sanitized HTML, or an escaped excerpt of it
    text: str  # the same, for the text part
    categories: tuple[str, ...] = ()
    truncated: bool = False
    lead: bool = True  # the first section of its article

    def shortened(self, limit: int | None) -> Entry:
        """This entry cut between blocks to about ``limit`` characters of HTML; 0: title only."""
        if limit is None:
            return self
        if limit == 0:
            return replace(self, html=Markup(""), text="", truncated=True)
        kept, cut = cut_html(str(self.html), limit)
        if not cut:
            return self
        return replace(self, html=Markup(kept), text=html_to_text(kept), truncated=True)


@dataclass(frozen=True)
class Group:
    correspondent: Correspondent
    entries: tuple[Entry, ...]


class _TextWriter(HTMLParser):
    """HTML fragment → readable plain text: paragraphs, list bullets, and links written out as (URL)."""

    _BLOCKS = frozenset(
        [
            "p",
            "div",
            "section",
            "article",
            "blockquote",
            "pre",
            "ul",
            "ol",
            "table",
            "tr",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "figure",
            "figcaption",
            "hr",
        ]
    )

    def __init__(self, links: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.links = links
        self.out: list[str] = []
        self.href: list[str | None] = []
        self.anchor_text: list[int] = []
        # Code blocks keep their lines and indentation: each is set aside whole, a placeholder stands in.
        self.pre_start: list[int] = []
        self.pre_texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BLOCKS:
            self.out.append("\n\n")
            if tag == "pre":
                self.pre_start.append(len(self.out))
        elif tag == "br":
            self.out.append("\n")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag == "a":
            self.href.append(dict(attrs).get("href"))
            self.anchor_text.append(len(self.out))
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.out.append(f"[{alt}]")

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre" and self.pre_start:
            start = self.pre_start.pop()
            if not self.pre_start:
                code = "".join(self.out[start:]).removeprefix("\n").rstrip()
                del self.out[start:]
                self.out.append(f"\x00{len(self.pre_texts)}\x00")
                self.pre_texts.append(code)
        if tag in self._BLOCKS:
            self.out.append("\n\n")
        elif tag == "a" and self.href:
            href, start = self.href.pop(), self.anchor_text.pop()
            label = "".join(self.out[start:]).strip()
            if self.links and href and href.startswith(("http://", "https://", "mailto:")) and href != label:
                self.out.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        self.out.append(data)

    def text(self) -> str:
        paragraphs = []
        for block in re.split(r"\n\s*\n", "".join(self.out)):
            lines = [" ".join(line.split()) for line in block.split("\n")]
            paragraph = "\n".join(line for line in lines if line)
            if paragraph:
                paragraphs.append(paragraph)
        text = "\n\n".join(paragraphs)
        if self.pre_texts:
            text = re.sub("\x00([0-9]+)\x00", lambda m: self.pre_texts[int(m.group(1))], text)
        return text


def html_to_text(fragment: str, *, links: bool = True) -> str:
    """Plain text of an HTML fragment for the text part; ``links`` writes each link's URL after it."""
    writer = _TextWriter(links)
    writer.feed(fragment)
    writer.close()
    return writer.text()


def load_entries(config: Config, store: Store, section_ids: Sequence[int]) -> list[Entry]:
    """The sections with these ids as digest entries, in the given order (sections of deleted items drop)."""
    ctx = catalog.Context.load(config, store)
    tz = config.site.tz
    entries = []
    for item, section in catalog.sections_by_ids(store, ctx, list(section_ids)):
        lead = section.position == 0
        local = item.published.astimezone(tz)
        entries.append(
            Entry(
                section_id=section.id,
                title=one_line(item.title),
                url=item.url if lead else f"{item.url}#{section.anchor}",
                item_url=item.url,
                image=item.image if lead else None,
                published=item.published,
                date=f"{local.day} {local:%B %Y}",
                correspondent=section.correspondent,
                role=section.correspondent.role,
                html=Markup(section.html),
                text=html_to_text(section.html),
                categories=item.categories,
                lead=lead,
            )
        )
    return entries


def group_entries(entries: Sequence[Entry]) -> list[Group]:
    """Entries by correspondent, correspondents by name, each one's entries in publication order."""
    groups: dict[str, list[Entry]] = {}
    people: dict[str, Correspondent] = {}
    for entry in entries:
        groups.setdefault(entry.correspondent.slug, []).append(entry)
        people.setdefault(entry.correspondent.slug, entry.correspondent)
    order = sorted(groups, key=lambda slug: (people[slug].name.lower(), slug))
    return [Group(people[slug], tuple(sorted(groups[slug], key=lambda e: e.published))) for slug in order]


# -- bodies with slots -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Body:
    """A rendered text with slots; :meth:`fill` makes one subscriber's copy."""

    parts: tuple[str, ...]  # literal, slot name, literal, slot name, ..., literal

    @classmethod
    def parse(cls, text: str) -> Body:
        return cls(tuple(_SLOT_RE.split(text)))

    def fill(self, values: Mapping[str, str]) -> str:
        parts = list(self.parts)
        for i in range(1, len(parts), 2):
            parts[i] = values[parts[i]]
        return "".join(parts)

    def slot_count(self, slot: str) -> int:
        return sum(1 for i in range(1, len(self.parts), 2) if self.parts[i] == slot)

    @functools.cached_property
    def _qp_literals(self) -> tuple[bytes, ...]:
        return tuple(qp_chunk(part) for part in self.parts[::2])

    def encode(self, values: Mapping[str, str], encoding: str) -> bytes:
        """One subscriber's copy, transfer-encoded with CRLF line ends.

        Quoted-printable literals are encoded once per digest: each chunk ends with a soft line break, so
        a chunk's lines never depend on what was filled in before it. Only the slots are encoded per copy.
        """
        if encoding != "quoted-printable":
            return encode_body(self.fill(values).encode("utf-8"), encoding)
        literals = self._qp_literals
        out = [literals[0]]
        for i in range(1, len(self.parts), 2):
            out.append(qp_chunk(values[self.parts[i]]))
            out.append(literals[(i + 1) // 2])
        data = b"".join(out)
        return data[:-3] if data.endswith(b"=\r\n") else data


def slot_values(name: str, email: str, unsubscribe_url: str, preferences_url: str, *, for_html: bool) -> dict[str, str]:
    greeting = f"Hello {name}," if name else "Hello,"
    values = {
        "name": name,
        "greeting": greeting,
        "email": email,
        "unsubscribe_url": unsubscribe_url,
        "preferences_url": preferences_url,
    }
    if for_html:
        return {k: html.escape(v) for k, v in values.items()}
    return values


def placeholder_subscriber() -> dict[str, str]:
    return {"name": MARK["name"], "greeting": MARK["greeting"], "email": MARK["email"]}


# -- digests ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestBodies:
    """A digest rendered once for all its recipients, slots still open."""

    scope: Scope
    title: str
    subject: str
    html: Body
    text: Body
    html_encoding: str
    text_encoding: str
    section_count: int  # sections gathered
    shown: int  # sections shown in the email (fewer only when even titles would not fit)
    truncated: bool  # bodies shortened to fit the size budget


@dataclass(frozen=True)
class RenderedDigest:
    """A digest as one (sample) subscriber sees it: what ``digest preview`` shows."""

    scope: Scope
    title: str
    subject: str
    html: str
    text: str
    section_count: int
    shown: int
    truncated: bool
    period_start: datetime | None = None
    period_end: datetime | None = None
    section_ids: tuple[int, ...] = field(default=())

    @property
    def html_bytes(self) -> int:
        return len(self.html.encode("utf-8"))


def _scope_person(scope: Scope, title: str, entries: Sequence[Entry]) -> Correspondent:
    """What ``correspondent`` means in templates: the correspondent, or the scope's name standing in."""
    kind, value = scope.kind, scope.value
    if kind == "correspondent":
        for entry in entries:
            if entry.correspondent.slug == value:
                return entry.correspondent
        return Correspondent(value, title)
    return Correspondent(value or kind, title)


def render_digest(
    config: Config,
    *,
    scope: Scope,
    title: str,
    entries: Sequence[Entry],
    period_start: datetime | None = None,
    period_end: datetime | None = None,
    reserve: Callable[[Body], int] | None = None,
    reader: Mapping[str, str] | None = None,
) -> DigestBodies:
    """Render a digest once, slots open, within the HTML size budget.

    ``reader`` (the :func:`slot_values` of one subscriber, unescaped) renders that reader's copy through the
    templates instead, with no slots: the reference that spliced copies are checked against.
    """
    person = _scope_person(scope, title, entries)
    if reader is None:
        subscriber, links = placeholder_subscriber(), MARK
    else:
        subscriber = {k: reader[k] for k in ("name", "greeting", "email")}
        links = {k: reader[k] for k in ("unsubscribe_url", "preferences_url")}
    base = {
        "site": config.site,
        "site_url": config.site.base_url,
        "scope": str(scope),
        "kind": scope.kind,
        "title": title,
        "correspondent": person,
        "period_start": period_start,
        "period_end": period_end,
        "since": _day(period_start, config) if period_start else None,
        "subscriber": subscriber,
        "unsubscribe_url": links["unsubscribe_url"],
        "preferences_url": links["preferences_url"],
    }
    subject = render_subject(config, {**base, "sections": list(entries), "count": len(entries)})
    html_t = _template(config, "email/digest.html")
    text_t = _template(config, "email/digest.txt")
    budget = config.digest.max_html_bytes
    reserve = reserve or default_reserve(config)

    def attempt(shown: Sequence[Entry], omitted: int) -> tuple[Body, Body, str]:
        groups = group_entries(shown)
        context = {
            **base,
            "subject": subject,
            "groups": groups,
            "sections": list(shown),
            "count": len(entries),
            "omitted": omitted,
            "preheader": _preheader(shown, len(entries)),
        }
        page = inline_css(html_t.render(**context))
        text = text_t.render(**context)
        return Body.parse(page), Body.parse(_tidy_text(text)), choose_encoding(page)

    def size(body: Body, encoding: str) -> int:
        data = "".join(body.parts[::2]).encode("utf-8")
        return len(encode_body(data, encoding)) + reserve(body)

    truncated = False
    shown = list(entries)
    html_body, text_body, encoding = attempt(shown, 0)
    full = size(html_body, encoding)
    fitted = full <= budget
    if not fitted:
        truncated = True
        bare = [e.shortened(0) for e in entries]
        titles = attempt(bare, 0)
        least = size(titles[0], titles[2])
        for limits in _limits(entries, full, least, budget):
            shown = [e.shortened(limit) for e, limit in zip(entries, limits, strict=True)]
            html_body, text_body, encoding = attempt(shown, 0) if any(limits) else titles
            if size(html_body, encoding) <= budget:
                fitted = True
                break
    if not fitted:
        # Titles alone are too many: keep as many as fit (found by halving), and link to the site.
        low, high = 0, len(shown)
        best = attempt(shown[:0], len(entries))
        while low < high:
            mid = (low + high + 1) // 2
            candidate = attempt(shown[:mid], len(entries) - mid)
            if size(candidate[0], candidate[2]) <= budget:
                low, best = mid, candidate
            else:
                high = mid - 1
        shown = shown[:low]
        html_body, text_body, encoding = best
    return DigestBodies(
        scope=scope,
        title=title,
        subject=subject,
        html=html_body,
        text=text_body,
        html_encoding=encoding,
        text_encoding=choose_encoding("".join(text_body.parts[::2])),
        section_count=len(entries),
        shown=len(shown),
        truncated=truncated,
    )


def _limits(entries: Sequence[Entry], full: int, least: int, budget: int) -> Iterator[list[int]]:
    """Per-entry HTML lengths to try, longest first, for a digest of ``full`` bytes that must fit ``budget``.

    ``least`` is the digest's size with titles only. The room left beyond that is shared out in proportion
    to what the sections weigh once rendered (CSS inlined, encoded): short sections stay whole and the long
    ones share the rest equally. When that still does not fit, each try is tighter; titles only come last.
    """
    lengths = [len(e.html) for e in entries]
    total = sum(lengths)
    if total and budget > least:
        weight = max(full - least, 1) / total  # encoded bytes per character of section HTML
        room = int((budget - least) / weight)
        for share in (0.95, 0.8, 0.6, 0.4):
            yield _water_fill(lengths, int(room * share))
    for level in _FIXED_LEVELS:
        yield [min(level, n) if level else 0 for n in lengths]


def _water_fill(lengths: Sequence[int], room: int) -> list[int]:
    """Limits that keep each length whole when it is under an equal share of ``room``, the others at the share."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    limits = list(lengths)
    left, count = room, len(lengths)
    for rank, i in enumerate(order):
        share = left // (count - rank)
        if lengths[i] <= share:
            left -= lengths[i]
            continue
        for j in order[rank:]:
            limits[j] = max(share, 1)
        break
    return limits


def default_reserve(config: Config) -> Callable[[Body], int]:
    """Bytes to hold back for the slots' longest fillings (a 254-byte address in each signed link)."""
    url = len(config.public_url) + len("preferences/") + 4 * (254 + 40) // 3 + 50
    longest = {"name": _NAME_BYTES, "greeting": _NAME_BYTES + 10, "email": 254, "unsubscribe_url": url}
    longest["preferences_url"] = url
    # Encoded: QP may triple a byte; base64 adds a third.
    return lambda body: 3 * sum(body.slot_count(slot) * n for slot, n in longest.items())


def _day(moment: datetime, config: Config) -> str:
    local = moment.astimezone(config.site.tz)
    return f"{local.day} {local:%B}"


def _preheader(entries: Sequence[Entry], total: int) -> str:
    titles = " · ".join(dict.fromkeys(e.title for e in entries[:4]))
    more = f" and {total - 4} more" if total > 4 else ""
    return one_line(f"{titles}{more}")[:180]


def _tidy_text(text: str) -> str:
    # Templates with loops leave runs of blank lines; a text email reads better with at most one.
    return re.sub(r"\n{3,}", "\n\n", text.replace("\r\n", "\n")).strip() + "\n"


def render_plan(config: Config, store: Store, plan: DigestPlan) -> RenderedDigest:
    """A plan rendered for a sample reader (preview): slots filled with example values."""
    entries = load_entries(config, store, plan.section_ids)
    bodies = render_digest(
        config,
        scope=plan.scope,
        title=plan.title,
        entries=entries,
        period_start=plan.period_start,
        period_end=plan.period_end,
    )
    sample = ("Sample Reader", "reader@example.org", config.public_url + "unsubscribe/PREVIEW")
    prefs = config.public_url + "preferences/PREVIEW"
    return RenderedDigest(
        scope=plan.scope,
        title=plan.title,
        subject=Body.parse(bodies.subject).fill(slot_values(*sample, prefs, for_html=False)),
        html=bodies.html.fill(slot_values(*sample, prefs, for_html=True)),
        text=bodies.text.fill(slot_values(*sample, prefs, for_html=False)),
        section_count=bodies.section_count,
        shown=bodies.shown,
        truncated=bodies.truncated,
        period_start=plan.period_start,
        period_end=plan.period_end,
        section_ids=plan.section_ids,
    )


# -- single messages: confirm and test ------------------------------------------------------------------------


def render_page_pair(config: Config, name: str, context: Mapping[str, Any]) -> tuple[str, str]:
    """``email/NAME.html`` (CSS inlined) and ``email/NAME.txt`` rendered with ``context``."""
    full = {"site": config.site, "site_url": config.site.base_url, **context}
    page = inline_css(_template(config, f"email/{name}.html").render(**full))
    text = _tidy_text(_template(config, f"email/{name}.txt").render(**full))
    return page, text
