"""Plain text with no front matter, as extracted from a PDF brief (shape 3 in PRODUCT.md), read as an editor
reads it::

                                            blank lines before the header are ignored
    Coastal Policy Institute Brief          organisation line, and a series line ("Working Commentary No. 14")
    COMMENTARY | 3 March 2026               a kind and a date on one line
    PORTS AFTER THE STRIKE                  title (may wrap over several lines; all capitals become title case)
    By Mira Okonjo and Tomas Berg           author line(s): "By NAME", "A and B", "Mira Okonjo, Senior Fellow"
    Senior Fellow, Coastal Policy Institute affiliation: becomes the authors' role
    March 4, 2026                           "March 4, 2026", "3 March 2026", "Jan. 9, 2026", "2026-03-03"
    12 Quay Street | www.cpi.example        contact line: page furniture, never text
    About the Institute ...                 boilerplate about the organisation: moved after the body
    ...body...                              the title and author lines may repeat here (a cover page)
    Page 2 of 3                             page numbers, and footers where only the number changes, dropped
    About the Author ...                    stays at the end, where the writer put it

Each header line is classified by its shape and by where it stands (before or after the author line), not
by what its words mean; :attr:`PlainText.origins` says which line gave which field.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, tzinfo

from publisher.content.readers import dates, people, sections
from publisher.text import one_line

_MAX_HEADER_LINES = 24
_PAGE_NUMBER = re.compile(r"(?i)(?:page\s+)?[-–—]?\s*\d{1,4}\s*[-–—]?(?:\s*(?:of|/)\s*\d{1,4})?")
_PAGE_WORDS = re.compile(r"(?i)\bpage\s+\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?\b")
_CONTACT = re.compile(
    r"(?i)(?:www\.|https?://|\S+@\S+\.\w|\+?\d[\d ()-]{7,}\d"
    r"|\b(?:tel|phone|fax|email|e-mail)\b\s*[:.]|\.(?:org|com|net)\b)"
)
_KIND_DATE_SEPARATORS = re.compile(r"\s+[|·•–—-]\s+|\s*\|\s*")
_SERIES = re.compile(r"(?i)\b(?:no\.?|number|vol\.?|volume|issue|series|paper)\s*[#]?\d+\b")
_ABOUT = re.compile(r"(?i)^about\s+(?:the\s+)?(?P<what>.+?)\s*:?$")
_ABOUT_AUTHOR = re.compile(r"(?i)^about\s+(?:the\s+)?(?:authors?|contributors?|writers?)\b")
_SENTENCE_END = (".", "!", "?", "…", '"', "”", "'", "’", ")", ":")
_SMALL_WORDS = frozenset(
    {"a", "an", "and", "as", "at", "but", "by", "for", "in", "nor", "of", "on", "or", "the", "to", "vs", "via"}
    | {"with", "from", "into"}
)


@dataclass(frozen=True)
class PlainText:
    title: str | None
    authors: tuple[str, ...]
    role: str  # the authors' affiliation, "" when none was found
    published: datetime | None
    body: str
    notes: tuple[str, ...]
    # Where each found field came from: ("title", "header line 3"), ...
    origins: tuple[tuple[str, str], ...] = ()


def parse(text: str, tz: tzinfo) -> PlainText:
    """Infer the header fields of ``text`` (LF line ends) and clean its body."""
    lines = [line.strip() for line in text.replace("\f", "\n").split("\n")]
    furniture = _furniture(lines)
    head = _Header(lines, furniture, tz)
    head.read()
    notes = [] if head.authors else ["no author found in the header; used the default author"]
    header_lines = {lines[i] for i in head.used}
    about, rest = _about_blocks(lines, head.end, head.authors, header_lines | furniture)
    body = _body(rest, furniture, header_lines)
    if about:
        closing = _body(about, furniture, header_lines)
        body = f"{body}\n\n{closing}" if body else closing
    return PlainText(
        title=head.title,
        authors=head.authors,
        role=head.role,
        published=head.published,
        body=body,
        notes=tuple(notes),
        origins=tuple(head.origins),
    )


# -- page furniture -----------------------------------------------------------------------------------------


def _shape(line: str) -> str:
    """A line with its numbers blanked: footers where only the page number changes have one shape."""
    return re.sub(r"\d+", "#", line)


def _furniture(lines: list[str]) -> set[str]:
    """Lines that are page headers or footers: short lines that repeat (numbers aside), and contact lines."""
    shapes = Counter(_shape(line) for line in lines if line and not _is_prose(line))
    out: set[str] = set()
    for line in lines:
        if not line or _is_prose(line):
            continue
        if (shapes[_shape(line)] > 1 and _may_repeat(line)) or _is_contact(line) or _PAGE_NUMBER.fullmatch(line):
            out.add(line)
    return out


def _is_contact(line: str) -> bool:
    return len(line) <= 160 and bool(_CONTACT.search(line)) and not line.endswith((".", "!", "?"))


def _may_repeat(line: str) -> bool:
    # Scene breaks ("* * *") and one-word lines ("Notes") may legitimately recur; footers are longer.
    return len(line) >= 8 and any(ch.isalnum() for ch in line)


def _is_prose(line: str) -> bool:
    words = len(line.split())
    return len(line) > 100 or (words >= 6 and line.endswith((".", "!", "?", ",", ";")))


def title_case(text: str) -> str:
    """ "PORTS AFTER THE STRIKE: THREE LESSONS" → "Ports After the Strike: Three Lessons"."""
    words = text.lower().split()
    out: list[str] = []
    for i, word in enumerate(words):
        after_colon = i > 0 and out[-1].endswith((":", "—", "–"))
        if i and not after_colon and word in _SMALL_WORDS:
            out.append(word)
        else:
            out.append("-".join(part[:1].upper() + part[1:] for part in word.split("-")))
    return " ".join(out)


def _shouting(line: str) -> bool:
    letters = [ch for ch in line if ch.isalpha()]
    return len(letters) >= 4 and all(ch.isupper() for ch in letters if ch.isascii())


# -- the header ---------------------------------------------------------------------------------------------


class _Header:
    """Reads the header lines in order; each is a date, a kind+date, an author line, an affiliation, an
    organisation or series line, page furniture, or (before the authors) part of the title."""

    def __init__(self, lines: list[str], furniture: set[str], tz: tzinfo) -> None:
        self.lines = lines
        self.furniture = furniture
        self.tz = tz
        self.title: str | None = None
        self.authors: tuple[str, ...] = ()
        self.role = ""
        self.published: datetime | None = None
        self.origins: list[tuple[str, str]] = []
        self.used: list[int] = []  # lines that made up the header (dropped when they repeat in the body)
        self.end = 0  # where the body starts

    def read(self) -> None:
        # Blocks of consecutive non-blank lines, in order: (index, line) pairs.
        blocks: list[list[tuple[int, str]]] = []
        seen = 0
        for i, line in enumerate(self.lines):
            if not line:
                if blocks and blocks[-1]:
                    blocks.append([])
                continue
            if seen >= _MAX_HEADER_LINES or (_is_prose(line) and not self._dated_kind(line)):
                break
            seen += 1
            if not blocks:
                blocks.append([])
            blocks[-1].append((i, line))
        blocks = [b for b in blocks if b]
        pending: list[list[tuple[int, str]]] = []  # unclassified blocks before the author line
        date_after_title = False
        for block in blocks:
            texts: list[tuple[int, str]] = []
            stop = False
            for i, line in block:
                self._title_seen = bool(pending or texts)
                kind = self._classify(i, line, before_authors=not self.authors)
                if kind == "other":
                    if self.authors or date_after_title:
                        stop = True  # the first unclassified line after the header is the body
                        break
                    texts.append((i, line))
                    continue
                if texts:
                    pending.append(texts)
                    texts = []
                if kind == "date" and pending:
                    date_after_title = True
            if texts:
                pending.append(texts)
            if stop:
                break
        if pending:
            self._title_from(pending, ended_by_date=date_after_title)
        self.end = self._end()

    _title_block: list[tuple[int, str]] | None = None
    _title_seen = False  # an unclassified line (a title) came before the current one

    def _end(self) -> int:
        used = [i for i in self.used if self._title_block is None or self.authors or i <= self._last_wanted()]
        end = max(used, default=-1) + 1
        # The body must keep something, else the whole file is the header.
        if not any(self.lines[j] for j in range(end, len(self.lines))):
            return 0 if self.title is None else end
        return end

    def _last_wanted(self) -> int:
        """Without authors, the header is the lines up to the title and the date right after it."""
        assert self._title_block is not None
        title_end = self._title_block[-1][0]
        later = [
            i
            for i in self.used
            if i > title_end and all(not self.lines[j] or j in self.used for j in range(title_end + 1, i))
        ]
        return max([title_end, *later])

    def _dated_kind(self, line: str) -> bool:
        return self._split_kind_date(line) is not None

    def _split_kind_date(self, line: str) -> datetime | None:
        parts = [p for p in _KIND_DATE_SEPARATORS.split(line) if p.strip()]
        if len(parts) < 2 or len(parts) > 4:
            return None
        for part in parts:
            found = dates.standalone(part, self.tz) if _could_be_date(part) else None
            if found is not None:
                return found
        return None

    def _classify(self, i: int, line: str, *, before_authors: bool) -> str:
        where = f"header line {i + 1}"
        if self.published is None and _could_be_date(line):
            found = dates.standalone(line, self.tz) or self._split_kind_date(line)
            if found is not None:
                self.published = found
                self.origins.append(("published", where))
                self.used.append(i)
                return "date"
        if _PAGE_NUMBER.fullmatch(line) or _PAGE_WORDS.search(line):
            return "furniture"
        if _is_contact(line):
            self.used.append(i)
            return "furniture"
        if _ABOUT.match(line):
            return "other"
        if self.authors and not self.role and self._follows_header(i) and self._affiliation(line):
            self.role = one_line(line)
            self.origins.append(("role", where))
            self.used.append(i)
            return "affiliation"
        if line in self.furniture and (self.authors or (not self._title_seen and self._org_shaped(line))):
            # A running header; before the title, the organisation's line. A title or author line that
            # repeats further down (a cover page) is not furniture.
            self.used.append(i)
            return "furniture"
        if not self.authors:
            person = self._person(line)
            if person is not None and (self._title_seen or line[:3].lower() == "by ") and not self._title_ahead(i):
                self.authors, own_role = person
                self.origins.append(("authors", where))
                if own_role:
                    self.role = own_role
                    self.origins.append(("role", where))
                self.used.append(i)
                return "author"
        elif self._follows_header(i) and line[:3].lower() != "by " and not self.role:
            other = self._person(line)
            if other is not None:  # a second author on a line of their own
                self.authors = tuple(dict.fromkeys(self.authors + other[0]))
                self.used.append(i)
                return "author"
        return "other"

    def _org_shaped(self, line: str) -> bool:
        first = next((j for j, text in enumerate(self.lines) if text), -1)
        return _shouting(line) or self._organisation(line) or self.lines[first] == line

    def _title_ahead(self, i: int) -> bool:
        """Whether a name-shaped line at ``i`` is rather a short title: the author line comes right after it
        ("Fuel Prices and Ferry Timetables" above "By Daniel King")."""
        if self.lines[i][:3].lower() == "by ":
            return False
        nxt = next((j for j in range(i + 1, len(self.lines)) if self.lines[j]), None)
        if nxt is None:
            return False
        line = self.lines[nxt]
        if line[:3].lower() == "by ":
            return self._person(line) is not None
        found = self._person(line)
        last = line.split()[-1].strip(",.").lower() if line.split() else ""
        return found is not None and "," not in line and last not in people.ROLE_HEADS

    def _follows_header(self, i: int) -> bool:
        """Whether the line before ``i`` (blank lines aside) was taken into the header."""
        return bool(self.used) and all(not self.lines[j] for j in range(self.used[-1] + 1, i))

    def _is_person(self, line: str) -> bool:
        return self._person(line) is not None

    def _person(self, line: str) -> tuple[tuple[str, ...], str] | None:
        """(authors, role) if ``line`` is an author line: "Mira Okonjo", "By A and B", "Mira Okonjo, Senior
        Fellow", "Ana Ruiz (Harbour Lab)"."""
        by = line[:3].lower() == "by "
        text = one_line(line[3:] if by else line)
        if _shouting(text) and not by:
            return None  # an all-caps line is a title or an organisation, not a person
        if _shouting(text):
            text = title_case(text)
        credited = people.split_authors(text)
        if not credited or not all(people.looks_like_name(n) for n, _ in credited):
            return None
        if len(credited) == 1 and not by and "," not in text and "(" not in text and len(text.split()) > 4:
            return None  # a bare name has 2-4 words; more is a phrase of a title
        names = tuple(n for n, _ in credited)
        roles = {r for _, r in credited if r}
        return names, (roles.pop() if len(roles) == 1 else "")

    def _affiliation(self, line: str) -> bool:
        if _could_be_date(line) and (dates.standalone(line, self.tz) or self._split_kind_date(line)):
            return False
        if _is_contact(line) or _is_prose(line) or len(line.split()) > 16:
            return False
        words = {w.strip(",.()").lower() for w in line.split()}
        return (
            "," in line or bool(words & (people.ROLE_WORDS | people.ORGANISATION_WORDS)) or people.looks_like_role(line)
        )

    def _organisation(self, line: str) -> bool:
        words = {w.strip(",.()|").lower() for w in line.split()}
        return bool(_SERIES.search(line)) or (bool(words & people.ORGANISATION_WORDS) and self.title is None)

    def _title_from(self, pending: list[list[tuple[int, str]]], *, ended_by_date: bool) -> None:
        """The title: the last block of unclassified lines before the authors (a wrapped title is one block);
        in one block of several lines with no blank line between, a first line that repeats on other pages
        or shouts above a quieter line is the organisation's."""
        if not pending:
            return
        block = pending[-1] if self.authors or ended_by_date else pending[0]
        org = block[0][1]
        if (
            block is pending[0]
            and len(pending) > 1
            and len(block) == 1
            and (self._organisation(org) or org in self.furniture)
        ):
            block = pending[1]
        if len(block) > 1 and (
            block[0][1] in self.furniture or (_shouting(block[0][1]) and not _shouting(block[1][1]))
        ):
            self.used.append(block[0][0])
            block = block[1:]
        if len(pending) == 1 and len(block) > 2 and not self.authors and not ended_by_date:
            block = block[:1]
        for earlier in pending:
            if earlier is not block and earlier[0][0] < block[0][0]:
                self.used.extend(i for i, _ in earlier)  # organisation and series lines
        self._title_block = block
        text = one_line(" ".join(line for _, line in block))
        self.title = title_case(text) if _shouting(text) else text
        self.used.extend(i for i, _ in block)
        self.origins.append(("title", f"header line {block[0][0] + 1}"))


def _could_be_date(line: str) -> bool:
    return len(line) <= 60 and any(ch.isdigit() for ch in line)


# -- boilerplate --------------------------------------------------------------------------------------------


def _about_blocks(
    lines: list[str], start: int, authors: tuple[str, ...], skip: set[str]
) -> tuple[list[str], list[str]]:
    """An "About the organisation" block right at the start of the body is boilerplate, not the article: it
    is moved after it. The block runs to the first line that repeats the header (the cover ends), the first
    short heading-like line, or a page break."""
    i = start
    while i < len(lines) and (not lines[i] or lines[i] in skip):
        i += 1
    if i >= len(lines):
        return [], lines[start:]
    found = _ABOUT.match(lines[i])
    if found is None or _ABOUT_AUTHOR.match(lines[i]) or any(a in found["what"] for a in authors):
        return [], lines[start:]
    end = i + 1
    while end < len(lines):
        line = lines[end]
        if line in skip:
            # Furniture or a repeated header line: the cover page is over.
            break
        if line and _heading_like(line) and end > i + 1 and not lines[end - 1]:
            break
        end += 1
    return lines[i:end], lines[start:i] + lines[end:]


def _heading_like(line: str) -> bool:
    words = line.split()
    return len(words) <= 6 and not line.endswith((".", ",", ";", ":")) and line[:1].isupper() and not _is_prose(line)


# -- the body -----------------------------------------------------------------------------------------------


def _body(lines: list[str], furniture: set[str], header_lines: set[str]) -> str:
    """Paragraphs joined from hard-wrapped lines, page furniture and repeated header lines dropped."""
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
        elif line in furniture or line in header_lines or _PAGE_NUMBER.fullmatch(line) or _PAGE_WORDS.fullmatch(line):
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
