"""Cutting a body into correspondent sections at ``By NAME, ROLE`` lines, and telling names from other words.

A byline is a line of its own: ``By Ana Ruiz, Lisbon correspondent`` (also bold or italic, as a heading, with
a trailing period). NAME must look like a person's name, 2 to 5 capitalised words with the usual lower-case
particles (``de``, ``van``, ``al-``), so that "By contrast, ..." or "By 2030, ..." or "By New Year's Eve, the
harbour will reopen." never open a section.
"""

from __future__ import annotations

import re
import unicodedata

from publisher.content.markup import one_line
from publisher.models import ParsedSection

# Candidate lines only; every candidate is then checked in Python, where Unicode case is easy.
_BYLINE = re.compile(
    r"^[ \t]*(?:#{1,6}[ \t]+)?(?P<open>\*\*|__|\*|_)?By[ \t]+(?P<name>[^,\n]{2,80}),[ \t]*(?P<role>[^\n]{1,100})$",
    re.MULTILINE,
)
_BYLINE_PREFIX_CHARS = " \t#*_"
_PARTICLE_LIST = "al bin ibn da das de del della der di do dos du el la le van von ter ten y zu"
_PARTICLES = frozenset(_PARTICLE_LIST.split())
# Words of organisations and jobs: a capitalised phrase holding one is an affiliation, not a person.
_AFFILIATION_LIST = """
    institute institution center centre council foundation university college school association society
    agency office ministry department bureau group forum trust network initiative project programme program
    brief briefing report paper papers review journal bulletin newsletter commentary analysis series inc ltd
    llc plc company corporation press media news times post herald gazette
    fellow director professor researcher analyst correspondent editor reporter associate senior chief head
    manager officer lecturer economist advisor adviser chair president member scholar writer columnist
    contributor partner lead coordinator specialist consultant executive staff
"""
AFFILIATION_WORDS = frozenset(_AFFILIATION_LIST.split())
# ... nor is one holding a day or a function word ("The Harbour", "Monday Morning").
_NOT_NAME_LIST = """
    monday tuesday wednesday thursday friday saturday sunday today tomorrow yesterday
    the a an and or of for in on at to with from by
"""
NOT_NAME_WORDS = AFFILIATION_WORDS | frozenset(_NOT_NAME_LIST.split())
# A role never starts like a sentence: "By New Year's Eve, the harbour will reopen."
_SENTENCE_START_LIST = """
    the a an it its this that these those there here we they he she i you who which whose whom when where
    what while and but or so if as most many some all no none every each such then than
"""
_SENTENCE_STARTS = frozenset(_SENTENCE_START_LIST.split())
_LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t]*\n)+")
_NAME_CHARS = re.compile(r"[^\W\d_](?:[^\W\d_]|['’.\-])*")


def looks_like_name(text: str) -> bool:
    """True for "Ana Ruiz", "Zoë Ó Briain", "J. R. Okafor", "Ana de la Cruz", "Ahmed al-Hassan", and for
    names in scripts without capitals ("张伟", "محمد علي"), which are told by their letters alone."""
    if _caseless_name(text):
        return True
    words = text.split()
    if not 2 <= len(words) <= 5 or words[0] in _PARTICLES or words[-1] in _PARTICLES:
        return False
    for word in words:
        if word in _PARTICLES:
            continue
        if not _NAME_CHARS.fullmatch(word):
            return False
        bare = word.split("-", 1)[1] if word[:3] in ("al-", "el-") else word
        if not bare[:1].isupper() or bare.strip(".").lower() in NOT_NAME_WORDS:
            return False
    return True


def _caseless_name(text: str) -> bool:
    """One to four words, every character a letter (or mark) of a script that has no capitals: "By 张伟, ..."
    or "By محمد علي, ..." opens a section as "By Ana Ruiz, ..." does. Digits and Latin words never match."""
    words = text.split()
    if not 1 <= len(words) <= 4 or len(text) > 40:
        return False
    for ch in "".join(words):
        if unicodedata.category(ch).startswith("M"):
            continue
        if not ch.isalpha() or ch.isupper() or ch.islower():
            return False
    return True


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
    if not role or len(role.split()) > 10 or not looks_like_name(name):
        return None
    if re.search(r"[.!?;]\s|[!?]$", role) or role.split()[0].lower() in _SENTENCE_STARTS:
        return None
    return name, role


def trim(text: str) -> str:
    """``text`` without leading blank lines or trailing whitespace; leading spaces of its first line stay,
    since in Markdown they can make an indented code block."""
    return _LEADING_BLANK_LINES.sub("", text).rstrip()


def split(body: str, author: str, role: str = "") -> tuple[ParsedSection, ...]:
    """The sections of ``body``: the lead (``author``'s text before the first byline, left out when empty),
    then one per byline. A body without bylines is one section by ``author``."""
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
        return (ParsedSection(correspondent=author, role=role, body=trim(body)),)
    sections = []
    lead = trim(body[: cuts[0][0]])
    if lead:
        sections.append(ParsedSection(correspondent=author, role=role, body=lead))
    for i, (_, end, name, byline_role) in enumerate(cuts):
        stop = cuts[i + 1][0] if i + 1 < len(cuts) else len(body)
        sections.append(ParsedSection(correspondent=name, role=byline_role, body=trim(body[end:stop])))
    return tuple(sections)
