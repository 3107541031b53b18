"""Correspondent sections (``By NAME, ROLE`` lines) and plain-text briefs with inferred headers."""

from __future__ import annotations

from datetime import datetime

import pytest

from publisher.content.readers import sections
from tests.readers_helpers import LONDON, MTIME, read, read_example

# --- sections -------------------------------------------------------------------------------------------


def test_multi_correspondent_example() -> None:
    item = read_example("_posts/2026-03-02-harbour-week.md")
    got = [(s.correspondent, s.role) for s in item.sections]
    assert got == [
        ("Newsdesk", ""),
        ("Ana Ruiz", "Lisbon correspondent"),
        ("Tomas Berg", "Nordic business correspondent"),
        ("Zoë Ó Briain", "Europe editor"),
    ]
    lead, ana, tomas, zoe = item.sections
    assert lead.body.startswith("The harbour summit opens") and lead.body.endswith("desks expect.")
    assert ana.body.startswith("Dockworkers") and ana.body.endswith("before the summit closes.")
    assert "By contrast, the insurers" in tomas.body  # mid-paragraph "By ..." opens nothing
    assert zoe.body.startswith("Brussels") and "By " not in zoe.body
    assert ana.correspondent_slug == "ana-ruiz" and zoe.correspondent_slug == "zoe-o-briain"


def test_a_body_without_bylines_is_one_section_by_the_author() -> None:
    item = read("p.md", "---\nauthor: Ana Ruiz\n---\nFirst.\n\nSecond.")
    assert len(item.sections) == 1
    assert (item.sections[0].correspondent, item.sections[0].role) == ("Ana Ruiz", "")
    assert item.sections[0].body == item.body == "First.\n\nSecond."


def test_a_body_without_bylines_by_co_authors_credits_each_once() -> None:
    item = read("p.md", "---\nauthors: [Ana Ruiz, Tomas Berg]\n---\nFirst.\n\nSecond.")
    assert [(s.correspondent, s.shared) for s in item.sections] == [("Ana Ruiz", False), ("Tomas Berg", True)]
    assert all(s.body == item.body == "First.\n\nSecond." for s in item.sections)


def test_empty_lead_is_left_out() -> None:
    item = read("p.md", "---\nauthor: Desk\n---\n\nBy Ana Ruiz, Lisbon correspondent\n\nText.")
    assert [(s.correspondent, s.body) for s in item.sections] == [("Ana Ruiz", "Text.")]
    assert item.authors == ("Desk",)


@pytest.mark.parametrize(
    ("line", "name", "role"),
    [
        ("By Ana Ruiz, Lisbon correspondent", "Ana Ruiz", "Lisbon correspondent"),
        ("By Ana Ruiz, Lisbon correspondent.", "Ana Ruiz", "Lisbon correspondent"),
        ("**By Ana Ruiz, Lisbon correspondent**", "Ana Ruiz", "Lisbon correspondent"),
        ("**By Ana Ruiz, Lisbon correspondent.**", "Ana Ruiz", "Lisbon correspondent"),
        ("**By Ana Ruiz, Lisbon correspondent**.", "Ana Ruiz", "Lisbon correspondent"),
        ("*By Ana Ruiz, Lisbon correspondent*", "Ana Ruiz", "Lisbon correspondent"),
        ("### By Ana Ruiz, Lisbon correspondent", "Ana Ruiz", "Lisbon correspondent"),
        ("By   Ana  Ruiz ,  our Lisbon correspondent  ", "Ana Ruiz", "our Lisbon correspondent"),
        ("By Ana de la Cruz, Madrid correspondent", "Ana de la Cruz", "Madrid correspondent"),
        ("By Ahmed al-Hassan, Gulf editor", "Ahmed al-Hassan", "Gulf editor"),
        ("By J. R. Okafor, Lagos bureau chief", "J. R. Okafor", "Lagos bureau chief"),
        ("By Mary-Jane O'Neil, Dublin reporter", "Mary-Jane O'Neil", "Dublin reporter"),
        ("By Ólafur Ragnar Grímsson Jr, Reykjavík", "Ólafur Ragnar Grímsson Jr", "Reykjavík"),
    ],
)
def test_byline_forms(line: str, name: str, role: str) -> None:
    assert sections.parse_byline(line) == (name, role)
    item = read("p.md", f"---\nauthor: Desk\n---\nLead.\n\n{line}\n\nText.")
    assert [(s.correspondent, s.role) for s in item.sections] == [("Desk", ""), (name, role)]


@pytest.mark.parametrize(
    "line",
    [
        "By contrast, the port stayed open.",
        "By 2030, the harbour will be twice the size",
        "By Monday, nothing had changed",
        "By New Year's Eve, the harbour will reopen.",
        "By the way, this is not a byline",
        "By Ana Ruiz",
        "By Ana Ruiz,",
        "By Coastal Policy Institute, Porto",
        "By Ana Ruiz, who has covered the port for a decade, the outlook is grim.",
        "By Ana Ruiz, Lisbon correspondent. She has covered the port for years",
        "Written By Ana Ruiz, Lisbon correspondent",
        "by ana ruiz, lisbon correspondent",
        "By Ana Ruiz Who Wrote Too Many Names Here, correspondent",
    ],
)
def test_lines_that_are_not_bylines(line: str) -> None:
    assert sections.parse_byline(line) is None
    item = read("p.md", f"---\nauthor: Desk\n---\nLead.\n\n{line}\n\nText.")
    assert [s.correspondent for s in item.sections] == ["Desk"]


def test_byline_mid_paragraph_does_not_open_a_section() -> None:
    body = "The council met. By Ana Ruiz, Lisbon correspondent, we hear more.\n\nText."
    assert len(read("p.md", body).sections) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ana Ruiz", True),
        ("Zoë Ó Briain", True),
        ("Vincent van Gogh", True),
        ("Ana", False),
        ("ana ruiz", False),
        ("Senior Fellow", False),
        ("Coastal Policy Institute", False),
        ("The Harbour", False),
        ("Ana Ruiz 2", False),
        ("One Two Three Four Five Six", False),
        ("van Gogh", False),
    ],
)
def test_looks_like_name(text: str, expected: bool) -> None:
    assert sections.looks_like_name(text) is expected


# --- plain text -----------------------------------------------------------------------------------------


def test_plain_text_brief_example() -> None:
    item = read_example("briefs/ports-after-the-strike.txt")
    assert item.body_format == "text"
    assert item.title == "Ports After the Strike: Three Lessons"
    assert item.authors == ("Mira Okonjo",)
    assert item.published == datetime(2026, 11, 19, tzinfo=LONDON)
    assert item.key == "briefs/ports-after-the-strike" and item.slug == "ports-after-the-strike"
    assert item.notes == ()
    # The repeated page footer and the page numbers are gone; the header is not in the body.
    assert "12 Quay Street" not in item.body
    assert "Coastal Policy Institute Brief" not in item.body
    assert "November 19, 2026" not in item.body
    assert not any(p.strip().isdigit() for p in item.body.split("\n\n"))
    paragraphs = item.body.split("\n\n")
    assert paragraphs[0].startswith("The strike ended on Friday")
    # Hard-wrapped lines are joined; the paragraph cut by a page break is whole again.
    assert "a share of that traffic never comes back." in item.body
    assert "\n" not in paragraphs[1]
    # "About the Author" stays in the body, at the end.
    assert paragraphs[-2] == "About the Author"
    assert paragraphs[-1].startswith("Mira Okonjo is a senior fellow")
    (section,) = item.sections
    assert (section.correspondent, section.role) == ("Mira Okonjo", "Senior Fellow, Coastal Policy Institute")


def test_plain_text_without_blank_lines_and_with_a_running_header() -> None:
    text = (
        "HARBOUR NOTES\n"
        "Berth Fees Explained\n"
        "By Ana Ruiz and Tomas Berg\n"
        "Port Desk\n"
        "Wednesday, 4 March 2026\n"
        "HARBOUR NOTES\n"
        "Berth fees are charged per metre of ship and per day alongside.\n"
        "- 2 -\n"
        "HARBOUR NOTES\n"
        "Page 3 of 4\n"
        "They have not changed since 2019.\n"
    )
    item = read("notes.txt", text)
    assert item.title == "Berth Fees Explained"
    assert item.authors == ("Ana Ruiz", "Tomas Berg")
    assert item.sections[0].role == "Port Desk"
    assert item.published == datetime(2026, 3, 4, tzinfo=LONDON)
    assert item.body == (
        "Berth fees are charged per metre of ship and per day alongside.\n\nThey have not changed since 2019."
    )


def test_plain_text_author_and_role_on_one_line_and_wrapped_title() -> None:
    text = (
        "Coastal Policy Institute\n\nThe Long Quay:\nA History in Three Parts\n\n"
        "Mira Okonjo, Senior Fellow\n\n2026-03-04\n\nBody text here.\n"
    )
    item = read("x.txt", text)
    assert item.title == "The Long Quay: A History in Three Parts"
    assert item.authors == ("Mira Okonjo",)
    assert item.sections[0].role == "Senior Fellow"
    assert item.published == datetime(2026, 3, 4, tzinfo=LONDON)
    assert item.body == "Body text here."


def test_plain_text_with_no_header_falls_back_and_says_so() -> None:
    item = read(
        "notes/2026-03-04-quiet-week.txt", "It was a quiet week at the port, and nothing much happened there.\n"
    )
    assert item.title == "Quiet week"
    assert item.published == datetime(2026, 3, 4, tzinfo=LONDON)
    assert item.authors == ("Newsroom",)
    assert any("file name" in n for n in item.notes)
    assert any("author" in n for n in item.notes)
    assert item.body == "It was a quiet week at the port, and nothing much happened there."


def test_plain_text_title_and_body_without_date() -> None:
    item = read("x.txt", "A Short Note\n\nOne paragraph.\n")
    assert (item.title, item.body) == ("A Short Note", "One paragraph.")
    assert item.published == datetime.fromtimestamp(MTIME, LONDON)
    assert any("modification time" in n for n in item.notes)


def test_plain_text_bylines_open_sections() -> None:
    text = (
        "Harbour Weekly\n\nThe Week on the Water\n\nMira Okonjo\n\nEditor\n\nMarch 4, 2026\n\n"
        "Lead text.\nBy Ana Ruiz, Lisbon correspondent\nLisbon text.\n"
    )
    item = read("x.txt", text)
    assert [(s.correspondent, s.role, s.body) for s in item.sections] == [
        ("Mira Okonjo", "Editor", "Lead text."),
        ("Ana Ruiz", "Lisbon correspondent", "Lisbon text."),
    ]


def test_plain_text_header_without_date_ends_after_the_affiliation() -> None:
    text = (
        "Coastal Policy Institute\n\nDredging and Its Discontents\n\nMira Okonjo\n\n"
        "Senior Fellow, Coastal Policy Institute\n\nSummary\n\nDredging costs have tripled since 2019 in most ports.\n"
    )
    item = read("x.txt", text)
    assert item.title == "Dredging and Its Discontents"
    assert item.authors == ("Mira Okonjo",)
    assert item.sections[0].role == "Senior Fellow, Coastal Policy Institute"
    assert item.body == "Summary\n\nDredging costs have tripled since 2019 in most ports."
    assert any("modification time" in n for n in item.notes)


@pytest.mark.parametrize(
    ("line", "name"),
    [("By 张伟, Beijing correspondent", "张伟"), ("By محمد علي, Cairo correspondent", "محمد علي")],
)
def test_bylines_in_scripts_without_capitals_open_sections(line: str, name: str) -> None:
    assert sections.parse_byline(line) == (name, line.split(", ", 1)[1])


@pytest.mark.parametrize("line", ["By 2030, the port will be twice as big", "By 在 这个 时候 我们 都, x"])
def test_caseless_lines_that_are_not_names_stay_text(line: str) -> None:
    assert sections.parse_byline(line) is None
