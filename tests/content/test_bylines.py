"""Bylines told by shape and role, and every co-author credited: unit cases, property tests, and the store."""

from __future__ import annotations

from datetime import UTC, datetime

import feedparser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.config import Config
from publisher.content import catalog
from publisher.content.readers import people, sections
from publisher.feeds.build import build
from publisher.mail import digests
from publisher.store import Store
from tests.content.test_scanner import put
from tests.readers_helpers import read

# Surnames that are also job, rank or organisation words.
JOB_SURNAMES = ["Head", "Post", "King", "Bishop", "Dean", "Judge", "Marshall", "Fellow", "Chancellor", "Page"]
FIRST_NAMES = ["Ana", "Emily", "Tom", "Mira", "Ruth", "Kwame", "Zoë", "Li", "Omar", "Ingrid", "Rosa", "Jan"]
ROLE_PLACES = ["Lisbon", "Nordic business", "Washington", "diplomatic", "economics", "Gulf", "Africa", "chief"]


@pytest.mark.parametrize("surname", JOB_SURNAMES)
def test_job_word_surnames_open_sections(surname: str) -> None:
    body = f"Lead.\n\nBy Emily {surname}, Lisbon correspondent\n\nHer text.\n\nBy Ana Ruiz, Madrid correspondent\n\nX."
    got = [(s.correspondent, s.role, s.body) for s in sections.split(body, "Desk")]
    assert got == [
        ("Desk", "", "Lead."),
        (f"Emily {surname}", "Lisbon correspondent", "Her text."),
        ("Ana Ruiz", "Madrid correspondent", "X."),
    ]


@pytest.mark.parametrize(
    "line",
    [
        "By Friday, the talks had stalled.",
        "By Friday, the talks had stalled",
        "By contrast, the port stayed open.",
        "By retaining Lisbon as its hub, the line saves a week",
        "By retaining Ana Ruiz as editor, the paper kept its readers",
        "By Christmas Day, prices fell",
        "By Late Autumn, prices had fallen for every editor",
        "By Election Night, officials were counting",
        "By Coastal Policy Institute, Porto",
        "By Senior Fellow, Porto",
    ],
)
def test_prose_never_opens_a_section(line: str) -> None:
    assert sections.parse_byline(line) is None


def test_two_names_in_a_byline_credit_both() -> None:
    body = "Lead.\n\nBy Ana Ruiz and Tomas Head, Lisbon correspondents\n\nJoint text."
    got = [(s.correspondent, s.role, s.body, s.shared) for s in sections.split(body, "Desk")]
    assert got == [
        ("Desk", "", "Lead.", False),
        ("Ana Ruiz", "Lisbon correspondents", "Joint text.", False),
        ("Tomas Head", "Lisbon correspondents", "Joint text.", True),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ana Ruiz & Tomas Berg", [("Ana Ruiz", ""), ("Tomas Berg", "")]),
        ("Ana Ruiz, Tomas Berg and Emily Post", [("Ana Ruiz", ""), ("Tomas Berg", ""), ("Emily Post", "")]),
        ("Ana Ruiz, Tomas Berg, and Mira Head", [("Ana Ruiz", ""), ("Tomas Berg", ""), ("Mira Head", "")]),
        ("Ana Ruiz and Ruth Judge", [("Ana Ruiz", ""), ("Ruth Judge", "")]),
        ("Josh Park, ISRG Executive Director", [("Josh Park", "ISRG Executive Director")]),
        ("Mira Okonjo, Senior Fellow", [("Mira Okonjo", "Senior Fellow")]),
        ("Phil Park, Site Reliability Engineer", [("Phil Park", "Site Reliability Engineer")]),
        ("Ana Ruiz, Tom Fellow and Emily Post", [("Ana Ruiz", ""), ("Tom Fellow", ""), ("Emily Post", "")]),
        ("Sara Lee (Harbour Lab) & Tom Berg (Acme)", [("Sara Lee", "Harbour Lab"), ("Tom Berg", "Acme")]),
        ("jdoe", [("jdoe", "")]),
        ("The Rust Release Team", [("The Rust Release Team", "")]),
    ],
)
def test_author_strings(text: str, expected: list[tuple[str, str]]) -> None:
    assert people.split_authors(text) == expected


def test_front_matter_co_authors_are_all_credited() -> None:
    item = read("p.md", '---\nauthor: "Ana Ruiz & Tomas Berg"\n---\nText.')
    assert item.authors == ("Ana Ruiz", "Tomas Berg")
    assert [s.correspondent for s in item.sections] == ["Ana Ruiz", "Tomas Berg"]
    toml = read("q.md", '+++\nauthors = ["Ana Ruiz", "Emily Post"]\n+++\nText.')
    assert [s.correspondent for s in toml.sections] == ["Ana Ruiz", "Emily Post"]


# -- properties ---------------------------------------------------------------------------------------------

_OPENERS = st.one_of(
    st.sampled_from(["contrast", "the way", "then", "now", "far", "and large", "design", "law", "night", "noon"]),
    st.sampled_from(["Friday", "Monday Morning", "March", "Late March", "Christmas Day", "New Year's Eve"]),
    st.integers(1900, 2100).map(str),
    st.builds(
        lambda w, o: f"retaining {o} as {w}",
        st.sampled_from(["hub", "editor", "chief"]),
        st.sampled_from(["Lisbon", "Ana Ruiz", "the port"]),
    ),
)
_SUBJECTS = st.sampled_from(
    [
        "the talks",
        "prices",
        "officials",
        "the editor",
        "dockworkers",
        "Ana Ruiz",
        "the Lisbon correspondent",
        "we",
        "it",
        "most ports",
        "the harbour",
        "freight rates",
        "the bureau chief",
        "our reporters",
    ]
)
_VERBS = st.sampled_from(
    [
        "had stalled",
        "fell",
        "rose",
        "will reopen",
        "was closed",
        "were counting",
        "had changed",
        "agreed",
        "said nothing",
        "stayed open",
        "is expected to fall",
        "kept quiet",
        "had left",
    ]
)
_TAILS = st.sampled_from(["", " for the editor", " in Lisbon", " again", " by noon", " at the port", " for weeks"])


@settings(max_examples=300, deadline=None)
@given(opener=_OPENERS, subject=_SUBJECTS, verb=_VERBS, tail=_TAILS, end=st.sampled_from([".", "", "!", "…"]))
def test_random_sentences_starting_with_by_never_open_a_section(
    opener: str, subject: str, verb: str, tail: str, end: str
) -> None:
    line = f"By {opener}, {subject} {verb}{tail}{end}"
    assert sections.parse_byline(line) is None
    assert len(sections.split(f"Lead.\n\n{line}\n\nMore.", "Desk")) == 1


@settings(max_examples=300, deadline=None)
@given(
    first=st.sampled_from(FIRST_NAMES),
    last=st.sampled_from(JOB_SURNAMES),
    place=st.sampled_from(ROLE_PLACES),
    decoration=st.sampled_from(["", "**", "*", "### "]),
)
def test_random_bylines_with_job_word_surnames_always_open_a_section(
    first: str, last: str, place: str, decoration: str
) -> None:
    closing = decoration if decoration.strip() != "###" else ""
    line = f"{decoration}By {first} {last}, {place} correspondent{closing}"
    assert sections.parse_byline(line) == (f"{first} {last}", f"{place} correspondent")
    got = sections.split(f"Lead.\n\n{line}\n\nText.", "Desk")
    assert [(s.correspondent, s.body) for s in got] == [("Desk", "Lead."), (f"{first} {last}", "Text.")]


# -- the store: every co-author is a correspondent with a feed and a digest ---------------------------------


def test_co_authors_each_get_a_feed_and_a_digest_section(config: Config, store: Store) -> None:
    today = datetime.now(UTC).date().isoformat()  # digests gather only recent posts
    put(config, f"{today}-joint.md", '---\ntitle: Joint\nauthor: "Ana Ruiz & Emily Post"\n---\n\nShared text.\n')
    build(config, store)
    slugs = {c.slug for c in catalog.correspondents(store)}
    assert {"ana-ruiz", "emily-post"} <= slugs
    for slug in ("ana-ruiz", "emily-post"):
        feed = feedparser.parse((config.paths.output / "correspondents" / slug / "feed.atom").read_bytes())
        assert [e.title for e in feed.entries] == ["Joint"]
        assert "Shared text." in feed.entries[0].content[0].value
    site = feedparser.parse((config.paths.output / "feed.atom").read_bytes())
    assert [a.name for a in site.entries[0].authors] == ["Ana Ruiz", "Emily Post"]
    assert site.entries[0].content[0].value.count("Shared text.") == 1
    (plan,) = digests.plan(config, store, scope="correspondent:emily-post")
    assert len(plan.section_ids) == 1
    (everything,) = digests.plan(config, store, scope="all")
    assert len(everything.section_ids) == 1  # the text once, not once per co-author
