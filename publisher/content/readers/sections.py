"""Cutting a body into correspondent sections at ``By NAME, ROLE`` lines, and telling names from other words.

A byline is a line of its own: ``By Ana Ruiz, Lisbon correspondent`` (also bold or italic, as a heading, with
a trailing period; ``By Ana Ruiz and Tomas Berg, Lisbon correspondents`` credits both). It is told by its
shape (:mod:`publisher.content.readers.people`): NAME looks like a person's name, 2 to 5 capitalised words
with the usual lower-case particles (``de``, ``van``, ``al-``), whatever the words mean (Emily Post, Mira
Head); ROLE looks like a role, not the rest of a sentence. So "By contrast, ...", "By 2030, ...", "By Friday,
the talks ..." or "By New Year's Eve, the harbour will reopen." never open a section.
"""

from __future__ import annotations

import re

from publisher.content.readers import people
from publisher.models import ParsedSection
from publisher.text import one_line

# Candidate lines only; every candidate is then checked in Python, where Unicode case is easy.
_BYLINE = re.compile(
    r"^[ \t]*(?:#{1,6}[ \t]+)?(?P<open>\*\*|__|\*|_)?By[ \t]+(?P<name>[^,\n]{2,80}),[ \t]*(?P<role>[^\n]{1,100})$",
    re.MULTILINE,
)
_BYLINE_PREFIX_CHARS = " \t#*_"
_LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t]*\n)+")
_NAMES_SEPARATOR = re.compile(r"\s*(?:,\s*and\s+|\s+and\s+|\s*&\s*)")
looks_like_name = people.looks_like_name
AFFILIATION_WORDS = people.ORGANISATION_WORDS | people.ROLE_WORDS


def parse_byline(line: str) -> tuple[str, str] | None:
    """(NAME, ROLE) if ``line`` is a byline that opens a section, else None."""
    match = _BYLINE.match(line)
    return None if match is None else _checked(match)


def _checked(match: re.Match[str]) -> tuple[str, str] | None:
    name = one_line(match["name"]).strip("*_ ")
    role = one_line(match["role"])
    opener = match["open"]
    if opener and role.endswith(opener):
        role = role[: -len(opener)].rstrip()
    role = role.rstrip(".:").strip("*_ ")
    if opener and role.endswith(opener):  # "**By X, Y.**" with the period inside the bold
        role = role[: -len(opener)].rstrip(".: ")
    if not role or len(role.split()) > 10 or not people.looks_like_role(role):
        return None
    if not looks_like_name(name) and not all(looks_like_name(n) for n in names_of(name)):
        return None
    return name, role


def names_of(name: str) -> list[str]:
    """The people of a byline's NAME: "Ana Ruiz and Tomas Berg" is two, "Ana Ruiz" one."""
    if looks_like_name(name):
        return [name]
    parts = [p for p in _NAMES_SEPARATOR.split(name) if p]
    return parts if len(parts) > 1 and all(looks_like_name(p) for p in parts) else [name]


def trim(text: str) -> str:
    """``text`` without leading blank lines or trailing whitespace; leading spaces of its first line stay,
    since in Markdown they can make an indented code block."""
    return _LEADING_BLANK_LINES.sub("", text).rstrip()


def split(body: str, author: str | tuple[str, ...], role: str | tuple[str, ...] = "") -> tuple[ParsedSection, ...]:
    """The sections of ``body``: the lead (the item's authors' text before the first byline, left out when
    empty), then one per byline. A body without bylines is one section by the authors. Text by several
    people (co-authors, "By A and B, ...") gives each of them a section of the same text, the second and
    later marked ``shared``: every co-author is credited, the article shows the text once."""
    authors = (author,) if isinstance(author, str) else author
    roles = role if isinstance(role, tuple) else (role,) * len(authors)
    cuts: list[tuple[int, int, str, str]] = []
    # str.find over the body and a regex only at line starts: several times faster than a MULTILINE scan.
    at = body.find("By ")
    while at != -1:
        start = body.rfind("\n", 0, at) + 1
        if not body[start:at].strip(_BYLINE_PREFIX_CHARS):
            match = _BYLINE.match(body, start)
            found = _checked(match) if match is not None else None
            if found is not None:
                cuts.append((start, match.end(), *found))  # type: ignore[union-attr]
        at = body.find("By ", at + 3)
    if not cuts:
        return _credited(authors, roles, trim(body))
    sections: list[ParsedSection] = []
    lead = trim(body[: cuts[0][0]])
    if lead:
        sections += _credited(authors, roles, lead)
    for i, (_, end, name, byline_role) in enumerate(cuts):
        stop = cuts[i + 1][0] if i + 1 < len(cuts) else len(body)
        names = tuple(names_of(name))
        sections += _credited(names, (byline_role,) * len(names), trim(body[end:stop]))
    return tuple(sections)


def _credited(names: tuple[str, ...], roles: tuple[str, ...], body: str) -> tuple[ParsedSection, ...]:
    return tuple(
        ParsedSection(correspondent=name, role=role, body=body, shared=i > 0)
        for i, (name, role) in enumerate(zip(names, roles, strict=True))
    )
