"""Reading content: one file's bytes and relative path in, a :class:`~publisher.models.ParsedItem` out.

Pure: the scanner walks the folder and hands each candidate file's bytes here; nothing in this package
touches the file system. Which reader runs depends on what the file starts with, then on its extension:

- ``---`` or ``+++`` first line: YAML or TOML front matter, then a Markdown body (``.md``, ``.markdown`` and
  ``.txt`` alike; see :mod:`publisher.content.readers.frontmatter`);
- ``.txt`` otherwise: plain text, header inferred (:mod:`publisher.content.readers.plaintext`);
- ``.md`` otherwise: Markdown, titled by its first ``# heading``.

What the file does not say is filled in from its path (``2025-10-26-slug.md``, ``2025/10/26/slug.md``), then
from the defaults (file name, modification time, site author); each such fallback is listed in ``notes``.
HTML is not rendered here (:mod:`publisher.content.loading` renders it next, in the scan's worker processes).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, tzinfo

from publisher.content.readers import dates, frontmatter, people, sections
from publisher.content.walk import (
    SIDECAR_FOR as SIDECAR_FOR,
)
from publisher.content.walk import (
    SIDECAR_SUFFIX as SIDECAR_SUFFIX,
)
from publisher.content.walk import (
    TEMP_PREFIXES as TEMP_PREFIXES,
)
from publisher.content.walk import (
    TEMP_SUFFIXES as TEMP_SUFFIXES,
)
from publisher.content.walk import (
    is_candidate as is_candidate,
)
from publisher.content.walk import (
    is_temp_name as is_temp_name,
)
from publisher.errors import ContentError
from publisher.models import BodyFormat, ParsedItem, slugify
from publisher.text import CONTROL_BYTES, one_line, xml_safe

__all__ = ["TEMP_PREFIXES", "TEMP_SUFFIXES", "is_candidate", "is_temp_name", "read"]

_URL_SAFE_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]*")
_ATX_HEADING = re.compile(r" {0,3}#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*")
_SETEXT_RULE = re.compile(r" {0,3}=+[ \t]*")
_INLINE_MARKS = re.compile(r"[*`]")


def read(
    relpath: str, data: bytes, *, tz: tzinfo, default_author: str, mtime: float, sidecar: bytes | None = None
) -> ParsedItem:
    """Parse one content file. Raises ContentError (with the path, and the line where known) for a file that
    cannot be used: not UTF-8, binary, empty, malformed or non-mapping front matter, a field of the wrong type.

    Drafts come back with ``draft=True``; the caller decides not to publish them.
    """
    is_pdf = relpath.lower().endswith(".pdf")
    if is_pdf:
        from publisher.content.readers import pdf  # PDF, plain text and sidecars: imported for such files only

        text = _decode(relpath, pdf.text(relpath, data).encode("utf-8"))
    else:
        text = _decode(relpath, data)
    folders = relpath.split("/")
    name = folders.pop()
    stem, ext = _split_ext(name)
    if stem.lower() == "index" and folders:
        stem = folders[-1]  # a Hugo leaf bundle: posts/harbour-week/index.md is "harbour-week"
    notes: list[str] = []
    origins: dict[str, str] = {}
    role = ""
    body_format: BodyFormat = "markdown"

    kind = None if is_pdf else frontmatter.fence(text)
    pinned = None
    if sidecar is not None:
        from publisher.content.readers import sidecars

        pinned = sidecars.read(relpath + SIDECAR_SUFFIX, sidecar, tz)
    if kind is not None:
        part = frontmatter.split(relpath, text, kind)
        meta = frontmatter.extract(relpath, part, frontmatter.parse(relpath, part), tz)
        body = sections.trim(part.body)
        origins.update((field, f"front matter {key!r}") for field, key in meta.keys)
    elif ext in (".txt", ".pdf"):
        from publisher.content.readers import plaintext, sidecars

        plain = plaintext.parse(text, tz)
        meta = frontmatter.Meta(title=plain.title, published=plain.published, authors=plain.authors)
        body, role, body_format = plain.body, plain.role, "text"
        notes.extend(plain.notes)
        origins.update(plain.origins)
        if pinned is not None:
            meta, role = sidecars.pin(meta, role, pinned)
            origins.update((field, f"sidecar {relpath + SIDECAR_SUFFIX}, {key!r}") for field, key in pinned.keys)
    else:
        meta = frontmatter.Meta()
        body = sections.trim(text)

    title = meta.title
    if title is None and body_format == "markdown":
        title, body = _heading(body)
        if title:
            origins["title"] = "the first '# heading'"

    path_date: date | None
    in_name = dates.from_file_name(stem)
    if in_name is not None:
        path_date, rest = in_name
        slug_stem = rest or stem
    else:
        path_date, slug_stem = dates.from_folders(folders), stem

    published = meta.published
    if published is None and meta.path_date is not None:
        published = dates.to_aware(meta.path_date, tz)
    elif published is None and path_date is not None:
        try:
            published = dates.to_aware(path_date, tz)
            origins["published"] = "the file name" if in_name is not None else "the folders"
        except ValueError:
            published = None
    dated = published is not None
    if published is None:
        published = _from_mtime(mtime, tz)
        notes.append("no date found; used the file's modification time")
        origins["published"] = "fallback: the file's modification time"

    if not title:
        title = _title_from_stem(slug_stem)
        notes.append("no title found; used the file name")
        origins["title"] = "fallback: the file name"
    title = one_line(xml_safe(title))

    credited = _credited(meta.authors, role)
    if not credited:
        credited = [(one_line(xml_safe(default_author)) or "Newsroom", role)]
        origins["authors"] = "fallback: site.author"
    authors = tuple(dict.fromkeys(name for name, _ in credited))
    roles = tuple(dict(credited)[name] for name in authors)
    return ParsedItem(
        source_path=relpath,
        key=meta.key or relpath[: len(relpath) - len(ext)],
        slug=_url_safe(meta.slug or slug_stem),
        title=title,
        published=published,
        updated=meta.updated,
        authors=authors,
        categories=meta.categories,
        tags=meta.tags,
        summary=meta.summary,
        image=meta.image,
        permalink=meta.permalink,
        draft=meta.draft or "_drafts" in folders,
        body_format=body_format,
        body=body,
        sections=sections.split(body, authors, roles),
        notes=tuple(notes),
        origins=tuple(sorted(origins.items())),
        front_matter=kind is not None,
        dated=dated,
    )


def _credited(authors: tuple[str, ...], role: str) -> list[tuple[str, str]]:
    """(name, role) of every author: each author string may hold several people ("A & B", "A, B and C") or
    a name and a role ("Josh Aas, Executive Director"); ``role`` (a plain-text affiliation) fills the gaps."""
    out: list[tuple[str, str]] = []
    for text in authors:
        for name, own_role in people.split_authors(text):
            out.append((name, own_role or role))
    return out


def _decode(path: str, data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ContentError(path, "UTF-16 text; save it as UTF-8")
    nul = data.find(b"\x00")
    if nul != -1:
        raise ContentError(path, "binary file (contains NUL bytes)", line=data.count(b"\n", 0, nul) + 1)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        reason = f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        raise ContentError(path, reason, line=line) from exc
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Checked on the bytes first: a C0 control or DEL byte is never part of a UTF-8 sequence, the C1 controls
    # are C2 80-9F, U+FFFE/FFFF are EF BF BE/BF, and strict decoding leaves no surrogates; cheaper than a regex
    # over every file's text.
    if len(data.translate(None, CONTROL_BYTES)) != len(data) or (
        not text.isascii() and (b"\xef\xbf" in data or b"\xc2" in data)
    ):
        text = xml_safe(text)
    if not text.strip():
        raise ContentError(path, "empty file")
    return text


def _split_ext(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    return (stem, f".{ext.lower()}") if dot and stem else (name, "")


def _heading(body: str) -> tuple[str | None, str]:
    """The text of the first ``# heading`` outside code fences, and the body without it when it opens the
    body (feeds show the title already)."""
    lines = body.split("\n")
    fenced = ""
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped.startswith(("```", "~~~")):
            marker = stripped[:3]
            fenced = "" if fenced == marker else fenced or marker
            continue
        if fenced:
            continue
        match = _ATX_HEADING.fullmatch(line)
        if match is None and i == 0 and len(lines) > 1 and _SETEXT_RULE.fullmatch(lines[1]) and line.strip():
            return _clean_heading(line), sections.trim("\n".join(lines[2:]))
        if match is not None:
            title = _clean_heading(match[1])
            if not any(previous.strip() for previous in lines[:i]):
                return title, sections.trim("\n".join(lines[i + 1 :]))
            return title, body
    return None, body


def _clean_heading(text: str) -> str:
    return one_line(_INLINE_MARKS.sub("", text))


def _title_from_stem(stem: str) -> str:
    words = one_line(stem.replace("-", " ").replace("_", " "))
    return words[:1].upper() + words[1:] if words else "Untitled"


def _url_safe(slug: str) -> str:
    # A slug the writer chose is kept as written when it is already URL-safe; anything else is slugified.
    slug = one_line(xml_safe(slug)).strip("/")
    return slug if _URL_SAFE_SLUG.fullmatch(slug) else slugify(slug)


def _from_mtime(mtime: float, tz: tzinfo) -> datetime:
    try:
        return dates.to_aware(datetime.fromtimestamp(mtime, tz), tz)
    except (OverflowError, OSError, ValueError):
        return datetime(1970, 1, 1, tzinfo=UTC)
