"""Plain text with no front matter, as extracted from a PDF brief (shape 3 in PRODUCT.md)::

    Coastal Policy Institute Brief          organisation line (ignored)
    Ports After the Strike: Three Lessons   title (may wrap over several lines)
    Mira Okonjo                             author ("By Mira Okonjo" and "Mira Okonjo, Senior Fellow" too)
    Senior Fellow, Coastal Policy Institute affiliation: becomes the author's role
    March 4, 2026                           written-out date: ends the header
    ...body, with page headers and footers repeated verbatim, and page numbers...

Lines that occur twice or more in the file are page headers or footers and are dropped from the body, as are
bare page numbers; a paragraph cut in two by a page break is joined again. Hard-wrapped lines are joined into
paragraphs. An "About the Author" block stays in the body, where the writer put it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, tzinfo

from publisher.content.readers import dates, sections
from publisher.text import one_line

_MAX_HEADER_LINES = 12
_PAGE_NUMBER = re.compile(r"(?i)(?:page\s+)?[-–—]?\s*\d{1,4}\s*[-–—]?(?:\s*(?:of|/)\s*\d{1,4})?")
_AUTHOR_SPLIT = re.compile(r"\s*(?:,|&|\band\b)\s*")
_SENTENCE_END = (".", "!", "?", "…", '"', "”", "'", "’", ")", ":")


@dataclass(frozen=True)
class PlainText:
    title: str | None
    authors: tuple[str, ...]
    role: str  # the first author's affiliation, "" when none was found
    published: datetime | None
    body: str
    notes: tuple[str, ...]


def parse(text: str, tz: tzinfo) -> PlainText:
    """Infer the header fields of ``text`` (LF line ends) and clean its body."""
    lines = [line.strip() for line in text.replace("\f", "\n").split("\n")]
    counts = Counter(line for line in lines if line)
    repeated = {line for line, n in counts.items() if n > 1 and _may_repeat(line)}

    header, body_start, published = _header(lines, tz)
    title, authors, role = _fields(header, repeated)
    # A missing title or date is noted by the caller, which also picks the fallback.
    notes = [] if authors else ["no author found in the header; used the default author"]
    body = _body(lines[body_start:], repeated)
    return PlainText(title, authors, role, published, body, tuple(notes))


def _may_repeat(line: str) -> bool:
    # Scene breaks ("* * *") and one-word lines ("Notes") may legitimately recur; footers are longer.
    return len(line) >= 8 and any(ch.isalnum() for ch in line)


def _is_prose(line: str) -> bool:
    words = len(line.split())
    return len(line) > 100 or (words >= 6 and line.endswith((".", "!", "?")))


def _header(lines: list[str], tz: tzinfo) -> tuple[list[str], int, datetime | None]:
    """The header lines, the index where the body starts, and the date, if the file has a header at all."""
    candidates: list[tuple[int, str]] = []
    for i, line in enumerate(lines):
        if not line:
            continue
        if _is_prose(line) or len(candidates) >= _MAX_HEADER_LINES:
            break
        when = dates.standalone(line, tz) if _could_be_date(line) else None
        if when is not None:
            return [c for _, c in candidates], i + 1, when
        candidates.append((i, line))
    # No date: the header runs to the author line (and an affiliation after it), or else is the first block
    # of lines; the body must keep something, else the file is all body.
    chosen = candidates[: _MAX_HEADER_LINES // 2]
    author = _author_line([line for _, line in chosen])
    if author is not None:
        end = author[0] + 1
        if _affiliation_like(chosen, end):
            end += 1
        chosen = chosen[:end]
    else:
        block = chosen[:1]
        for i, line in chosen[1:3]:
            if i != block[-1][0] + 1:
                break
            block.append((i, line))
        chosen = block
    while chosen and not any(lines[j] for j in range(chosen[-1][0] + 1, len(lines))):
        chosen = chosen[:-1]
    return [line for _, line in chosen], (chosen[-1][0] + 1 if chosen else 0), None


def _affiliation_like(chosen: list[tuple[int, str]], at: int) -> bool:
    if at >= len(chosen):
        return False
    line = chosen[at][1]
    return "," in line or any(word.strip(",.").lower() in sections.AFFILIATION_WORDS for word in line.split())


def _could_be_date(line: str) -> bool:
    return len(line) <= 60 and any(ch.isdigit() for ch in line)


def _person(line: str) -> tuple[tuple[str, ...], str] | None:
    """(authors, role) if ``line`` is an author line: "Mira Okonjo", "By A and B", "Mira Okonjo, Senior Fellow"."""
    text = one_line(line[3:] if line[:3].lower() == "by " else line)
    if sections.looks_like_name(text):
        return (text,), ""
    names = [part for part in _AUTHOR_SPLIT.split(text) if part]
    if len(names) > 1 and all(sections.looks_like_name(n) for n in names):
        return tuple(names), ""
    name, comma, role = text.partition(",")
    if comma and role.strip() and sections.looks_like_name(name.strip()) and len(role.split()) <= 12:
        return (name.strip(),), one_line(role)
    return None


def _fields(header: list[str], repeated: set[str]) -> tuple[str | None, tuple[str, ...], str]:
    """Title, authors and role from the header lines."""
    # A running page header at the top is the organisation line; elsewhere it says nothing of this document.
    organisation_seen = bool(header) and header[0] in repeated
    lines = [line for line in header if line not in repeated] or header
    found = _author_line(lines)
    if found is None:
        # Organisation line then title, or the title alone.
        title = lines[1] if len(lines) > 1 and not organisation_seen else lines[0] if lines else None
        return title, (), ""
    at, (authors, role) = found
    before = lines[:at]
    # PRODUCT.md's shape: the organisation line, then the title (which may wrap over lines).
    title_lines = before[1:] if len(before) > 1 and not organisation_seen else before
    title = one_line(" ".join(title_lines)) or None
    if not role and at + 1 < len(lines):
        role = one_line(lines[at + 1])  # the affiliation
    return title, authors, role


def _author_line(lines: list[str]) -> tuple[int, tuple[tuple[str, ...], str]] | None:
    """Where the author line is: a "By ..." line, else the last line shaped like a name after the first."""
    for i, line in enumerate(lines):
        if line[:3].lower() == "by ":
            person = _person(line)
            if person is not None:
                return i, person
    for i in range(len(lines) - 1, 0, -1):
        person = _person(lines[i])
        if person is not None:
            return i, person
    return None


def _body(lines: list[str], repeated: set[str]) -> str:
    """Paragraphs joined from hard-wrapped lines, page furniture dropped."""
    paragraphs: list[str] = []
    current: list[str] = []
    # Page furniture stood between the last paragraph and the current one: maybe one paragraph, cut by a page.
    page_break = False

    def close() -> None:
        nonlocal page_break
        if not current:
            return
        text = " ".join(current)
        current.clear()
        if page_break and paragraphs and not paragraphs[-1].endswith(_SENTENCE_END) and text[:1].islower():
            paragraphs[-1] = f"{paragraphs[-1]} {text}"
        else:
            paragraphs.append(text)
        page_break = False

    for line in lines:
        if not line:
            close()
        elif line in repeated or _PAGE_NUMBER.fullmatch(line):
            close()
            page_break = True
        elif sections.parse_byline(line) is not None:
            # A byline must stay a line of its own, or it cannot open a section.
            close()
            paragraphs.append(line)
            page_break = False
        else:
            current.append(line)
    close()
    return "\n\n".join(paragraphs)
