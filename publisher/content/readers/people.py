"""People in content: telling a person's name from other words, a role from a sentence, and one author string
("A & B", "A, B and C", "Josh Aas, Executive Director") from several.

Decisions go by the shape of the words, never by a list of words a surname may not be: "Emily Post", "Mira
Head", "Ruth Judge" and "Tom Fellow" are names like any other. What the shape cannot tell apart is told by
the role a phrase plays: a role is a noun phrase headed by a job word ("Lisbon correspondent", "bureau chief
in Lagos") or a proper-noun phrase ("Senior Fellow, Coastal Policy Institute", "Reykjavík"); a sentence tail
("the talks had stalled", "prices fell") is neither.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from publisher.text import one_line

_PARTICLE_LIST = "al bin ibn da das de del della der di do dos du el la le van von ter ten y zu"
PARTICLES = frozenset(_PARTICLE_LIST.split())
# Words naming an organisation or a publication: a capitalised phrase holding one is not a person. Only words
# that are not also common surnames (Post, Times, Page, Head, King... are surnames, so they are not here).
_ORGANISATION_LIST = """
    institute institution center centre council foundation university college school association society
    agency ministry department bureau forum network trust initiative programme program commission committee
    brief briefing report paper papers review journal bulletin newsletter commentary analysis series inc ltd
    llc plc gmbh company corporation press media news gazette tribune observatory laboratory lab think tank
    team desk
"""
ORGANISATION_WORDS = frozenset(_ORGANISATION_LIST.split())
# Words of a job title. A phrase made only of these ("Senior Fellow", "Executive Director") is a role; one of
# them inside a name ("Mira Fellow", "Emily Head") does not stop it being a name.
_ROLE_LIST = """
    correspondent correspondents editor editors reporter reporters writer writers columnist columnists
    critic critics analyst analysts chief chiefs producer producers contributor contributors commentator
    photographer photographers fellow fellows director directors professor professors researcher researchers
    economist economists lecturer scholar scholars chair chairman chairwoman chairperson president
    vice member members adviser advisor advisers advisors consultant coordinator specialist executive officer
    manager partner lead head deputy associate assistant senior junior principal visiting staff secretary
    general engineer engineers developer developers maintainer maintainers founder cofounder co-founder
    strategist scientist historian author authors blogger host anchor presenter intern trainee emeritus
    research policy programme program communications development
"""
ROLE_WORDS = frozenset(_ROLE_LIST.split())
# The head of a role phrase: the word a role ends with ("Lisbon correspondent", "bureau chief").
_ROLE_HEAD_LIST = """
    correspondent correspondents editor editors reporter reporters writer writers columnist columnists
    critic critics analyst analysts chief chiefs producer producers contributor contributors commentator
    photographer photographers fellow fellows director directors professor professors researcher researchers
    economist economists lecturer scholar scholars chair chairman chairwoman chairperson president members
    member adviser advisor advisers advisors consultant coordinator specialist executive officer manager
    partner lead head deputy associate engineer engineers developer developers maintainer maintainers
    founder cofounder co-founder strategist scientist historian blogger host anchor presenter intern trainee
    desk team staff
"""
ROLE_HEADS = frozenset(_ROLE_HEAD_LIST.split())
# Neither names nor roles: days, months and function words ("By Monday Morning", "The Harbour").
_NOT_NAME_LIST = """
    monday tuesday wednesday thursday friday saturday sunday today tomorrow yesterday
    january february march april june july august september october november december
    the a an and or of for in on at to with from by
    that this these those who what why how when where is are was were not nobody our your its their after
    before under over into than
"""
NOT_NAME_WORDS = frozenset(_NOT_NAME_LIST.split())
# Words a role phrase never holds before its head: a sentence has these ("prices fell for the editor").
_NOT_IN_ROLE_LIST = """
    the a an it its this that these those there here we they he she i you who which whose whom when where
    what while but or so if as most many some all no none every each such then than is are was were be been
    being has have had will would can could may might must shall should do does did not to with from by
    for at on of in into over under after before about against between through
"""
_NOT_IN_ROLE = frozenset(_NOT_IN_ROLE_LIST.split())
# What may follow the head of a role: "correspondent in Kyiv", "editor for Europe", "head of research".
_ROLE_TAIL_PREPOSITIONS = frozenset(("in", "for", "at", "of", "on", "covering", "based"))
_NAME_CHARS = re.compile(r"[^\W\d_](?:[^\W\d_]|['’.\-])*")
_LIST_SEPARATORS = re.compile(r"\s*(?:,\s*(?:and|&)\s+|\s+(?:and|&)\s+|\s*&\s*|\s*;\s*|,\s*)", re.IGNORECASE)
_AFFILIATION_IN_PARENS = re.compile(r"^(?P<name>[^()]+?)\s*\((?P<aff>[^()]{1,80})\)$")


# Cached: the same few bylines and author fields come back in file after file.
@functools.lru_cache(maxsize=4096)
def looks_like_name(text: str) -> bool:
    """True for "Ana Ruiz", "Zoë Ó Briain", "J. R. Okafor", "Ana de la Cruz", "Ahmed al-Hassan", "Emily Post",
    and for names in scripts without capitals ("张伟", "محمد علي"), which are told by their letters alone.

    False for "Senior Fellow" (a role: only job words), "Coastal Policy Institute" (an organisation) and
    "The Harbour" (a function word)."""
    if _caseless_name(text):
        return True
    words = text.split()
    if not 2 <= len(words) <= 5 or words[0] in PARTICLES or words[-1] in PARTICLES:
        return False
    job_words = 0
    for word in words:
        if word in PARTICLES:
            continue
        if not _NAME_CHARS.fullmatch(word):
            return False
        bare = word.split("-", 1)[1] if word[:3] in ("al-", "el-") else word
        lower = bare.strip(".").lower()
        if not bare[:1].isupper() or lower in NOT_NAME_WORDS or lower in ORGANISATION_WORDS:
            return False
        if len(bare) > 3 and bare.isupper() and not bare.endswith("."):
            return False  # an acronym: "ISRG", "NATO"
        job_words += lower in ROLE_WORDS
    return job_words < len([w for w in words if w not in PARTICLES])


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


def _capitalised(word: str) -> bool:
    word = word.strip("()“”\"'’,")
    return bool(word) and (word[:1].isupper() or word[:1].isdigit() or _caseless_name(word))


def looks_like_role(text: str) -> bool:
    """True for "Lisbon correspondent", "our Lisbon correspondent", "Lagos bureau chief", "correspondent in
    Kyiv", "Senior Fellow, Coastal Policy Institute", "Reykjavík"; False for sentence tails such as "the
    talks stalled", "prices fell" or "who has covered the port"."""
    text = one_line(text)
    if not text or len(text) > 120 or re.search(r"[.!?;:]\s|[!?]$", text):
        return False
    chunks = [c.strip() for c in text.split(",")]
    return all(_role_chunk(chunk.split()) for chunk in chunks if chunk)


def _role_chunk(words: list[str]) -> bool:
    if not 1 <= len(words) <= 10 or words[0].lower() in _NOT_IN_ROLE - {"of"}:
        return False
    lowered = [w.strip("()").lower() for w in words]
    if all(
        _capitalised(w) or low in PARTICLES or low in ("of", "for", "and", "&", "the", "on", "in")
        for w, low in zip(words, lowered, strict=True)
    ):
        return _capitalised(words[0])  # a proper-noun phrase: "Senior Fellow", "Coastal Policy Institute"
    # A noun phrase headed by a job word (its last one: "chief correspondent"), then at most a short
    # prepositional tail of proper nouns ("in Kyiv", "of Research").
    heads = [i for i, low in enumerate(lowered) if low in ROLE_HEADS]
    if not heads:
        return False
    i = heads[-1]
    before, after = lowered[:i], words[i + 1 :]
    if any(w in _NOT_IN_ROLE for w in before if w not in _ROLE_HEADS_JOINERS):
        return False
    if not after:
        return True
    return lowered[i + 1] in _ROLE_TAIL_PREPOSITIONS and len(after) <= 5 and _tail_ok(after[1:])


_ROLE_HEADS_JOINERS = frozenset(("and", "&"))


def _tail_ok(words: list[str]) -> bool:
    return bool(words) and all(
        _capitalised(w) or w.lower() in ("the", "and", "&") or w.lower() in ROLE_WORDS for w in words
    )


def split_authors(text: str) -> list[tuple[str, str]]:
    """One author string as (name, role) pairs: "A & B", "A, B and C", "A, B, and C" are several people;
    "Josh Aas, Executive Director" is one person with a role; "Sarah Lee (Let's Encrypt) & Tom Berg (Acme)"
    is two people with their affiliations as roles. A string that is not shaped like names (a handle such as
    "jdoe", "The Rust Release Team") comes back whole."""
    text = one_line(text)
    if not text:
        return []
    if looks_like_name(text) or _caseless_name(text):
        return [(text, "")]
    parts = [p for p in _LIST_SEPARATORS.split(text) if p]
    listed = bool(re.search(r"\s(?:and|&)\s|&", text, re.IGNORECASE))
    if len(parts) == 2 and not listed and _ends_with_role(parts[1]):
        # "Phil Porada, Site Reliability Engineer": a comma and no "and" is a name and a role.
        head = parts[0].strip()
        if looks_like_name(head):
            return [(head, one_line(parts[1]))]
    if len(parts) > 1:
        people = [_person(part) for part in parts]
        if all(person is not None for person in people):
            return [person for person in people if person is not None]
        # "Name, Role" (and "Name, Role, Organisation"): the first part a name, the rest a role.
        head, comma, rest = text.partition(",")
        if comma and looks_like_name(head.strip()) and looks_like_role(rest):
            return [(head.strip(), one_line(rest))]
    person = _person(text)
    return [person] if person is not None else [(text, "")]


def _ends_with_role(text: str) -> bool:
    words = text.split()
    return bool(words) and words[-1].strip(".,()").lower() in ROLE_HEADS


def _person(part: str) -> tuple[str, str] | None:
    part = part.strip()
    if looks_like_name(part):
        return part, ""
    found = _AFFILIATION_IN_PARENS.match(part)
    if found is not None and looks_like_name(found["name"].strip()):
        return found["name"].strip(), one_line(found["aff"])
    return None
