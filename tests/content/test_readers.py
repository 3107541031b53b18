"""Reading one content file: front matter, aliases, dates, keys and slugs, fallbacks, drafts, the examples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from publisher.content import readers
from publisher.text import xml_safe
from tests.readers_helpers import EXAMPLES, LONDON, MTIME, read, read_example


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)  # type: ignore[misc]


# --- which files are read -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relpath", "expected"),
    [
        ("post.md", True),
        ("2026/03/05/slug.md", True),
        ("notes/brief.txt", True),
        ("a/b.markdown", True),
        ("UPPER.MD", True),
        ("posts/slug/index.md", True),
        (".hidden.md", False),
        (".git/config.md", False),
        ("drafts/.secret/post.md", False),
        ("post.md~", False),
        (".post.md.swp", False),
        ("post.md.swx", False),
        ("#post.md#", False),
        (".#post.md", False),
        ("~$report.md", False),
        ("_index.md", False),
        ("section/_index.md", False),
        ("section/_index.txt", False),
        ("image.jpg", False),
        ("README", False),
        ("post.html", False),
    ],
)
def test_is_candidate(relpath: str, expected: bool) -> None:
    assert readers.is_candidate(relpath) is expected


def test_is_candidate_uses_the_given_extensions() -> None:
    assert readers.is_candidate("post.mdown", (".mdown",))
    assert not readers.is_candidate("post.md", (".mdown",))


def test_the_examples_all_read_and_index_is_skipped() -> None:
    files = sorted(p.relative_to(EXAMPLES).as_posix() for p in EXAMPLES.rglob("*") if p.is_file())
    candidates = [f for f in files if readers.is_candidate(f)]
    assert "_index.md" in files and "_index.md" not in candidates
    assert len(candidates) >= 8
    items = [read_example(f) for f in candidates]
    assert {i.body_format for i in items} == {"markdown", "text"}
    assert sum(i.draft for i in items) == 1
    assert any(len(i.sections) >= 3 for i in items)
    recent = [i for i in items if not i.draft and i.published >= datetime(2026, 11, 14, tzinfo=UTC)]
    assert len(recent) >= 3  # a digest sent on 2026-11-21 has something to gather


# --- Jekyll (YAML) --------------------------------------------------------------------------------------


def test_jekyll_example_post() -> None:
    item = read_example("_posts/2026-03-02-harbour-week.md")
    assert item.source_path == "_posts/2026-03-02-harbour-week.md"
    assert item.key == "_posts/2026-03-02-harbour-week"
    assert item.slug == "harbour-week"
    assert item.title == "Harbour week: what each desk is watching"
    assert item.published == london(2026, 3, 2, 6, 15)
    assert item.updated is None
    assert item.authors == ("Newsdesk",)
    assert item.categories == ("News",)
    assert item.tags == ("ports", "trade")
    assert item.summary == "Our correspondents on the week ahead."
    assert item.image == "assets/images/harbour.jpg"
    assert item.permalink is None
    assert item.draft is False
    assert item.body_format == "markdown"
    assert item.body.startswith("The harbour summit opens on Monday.")
    assert "layout" not in item.body and "---" not in item.body
    assert item.notes == ()


def test_unknown_keys_and_layout_are_ignored_and_keys_ignore_case() -> None:
    item = read("p.md", "---\nlayout: post\nTitle: Hello\nLastMod: 2026-03-03\nweird: {a: [1, 2]}\n---\nBody\n")
    assert item.title == "Hello"
    assert item.updated == london(2026, 3, 3)


@pytest.mark.parametrize("key", ["excerpt", "summary", "description"])
def test_summary_aliases(key: str) -> None:
    assert read("p.md", f"---\n{key}: The gist.\n---\nBody").summary == "The gist."


def test_excerpt_wins_over_description() -> None:
    assert read("p.md", "---\ndescription: d\nexcerpt: e\n---\nBody").summary == "e"


@pytest.mark.parametrize("key", ["updated", "lastmod", "last_modified_at"])
def test_updated_aliases(key: str) -> None:
    item = read("p.md", f"---\ndate: 2026-03-02\n{key}: 2026-03-04T10:00:00\n---\nBody")
    assert item.updated == london(2026, 3, 4, 10)


@pytest.mark.parametrize(
    ("front", "authors"),
    [
        ("author: Ana Ruiz", ("Ana Ruiz",)),
        ("authors: [Ana Ruiz, Tomas Berg]", ("Ana Ruiz", "Tomas Berg")),
        ("authors: Ana Ruiz", ("Ana Ruiz",)),
        ("author: [Ana Ruiz, Ana Ruiz]", ("Ana Ruiz",)),
        ("author: {name: Ana Ruiz, email: ana@example.org}", ("Ana Ruiz",)),
        ("authors:\n  - name: Ana Ruiz\n  - Tomas Berg", ("Ana Ruiz", "Tomas Berg")),
        ("author: 42", ("42",)),
        ("author: ''", ("Newsroom",)),
        ("title: no author", ("Newsroom",)),
    ],
)
def test_author_aliases(front: str, authors: tuple[str, ...]) -> None:
    item = read("p.md", f"---\n{front}\n---\nBody")
    assert item.authors == authors
    assert item.sections[0].correspondent == authors[0]


@pytest.mark.parametrize(
    ("front", "categories", "tags"),
    [
        ("categories: [News, World]\ntags: [a, b]", ("News", "World"), ("a", "b")),
        ("categories: News World\ntags: ports trade", ("News", "World"), ("ports", "trade")),
        ("categories: 'News, World Affairs'\ntags: 'climate change, trade'", ("News", "World Affairs"),
         ("climate change", "trade")),
        ("category: World News", ("World News",), ()),
        ("categories: [News]\ncategory: News", ("News",), ()),
        ("tags: [2026, true]", (), ("2026", "True")),
        ("tags: []\ncategories: ''", (), ()),
    ],
)  # fmt: skip
def test_categories_and_tags(front: str, categories: tuple[str, ...], tags: tuple[str, ...]) -> None:
    item = read("p.md", f"---\n{front}\n---\nBody")
    assert (item.categories, item.tags) == (categories, tags)


@pytest.mark.parametrize(
    ("front", "image"),
    [
        ("image: assets/images/harbour.jpg", "assets/images/harbour.jpg"),
        ("image: {path: /img/a.jpg, alt: A}", "/img/a.jpg"),
        ("images: [/img/first.jpg, /img/second.jpg]", "/img/first.jpg"),
        ("image: ''", None),
    ],
)
def test_image(front: str, image: str | None) -> None:
    assert read("p.md", f"---\n{front}\n---\nBody").image == image


@pytest.mark.parametrize("key", ["permalink", "url"])
def test_permalink_aliases(key: str) -> None:
    assert read("p.md", f"---\n{key}: /news/harbour/\n---\nBody").permalink == "/news/harbour/"


@pytest.mark.parametrize(
    ("front", "draft"),
    [
        ("draft: true", True),
        ("draft: false", False),
        ("published: false", True),
        ("published: true", False),
        ("draft: 'yes'", True),
        ("draft: 'no'", False),
        ("title: neither", False),
    ],
)
def test_drafts(front: str, draft: bool) -> None:
    assert read("p.md", f"---\n{front}\n---\nBody").draft is draft


def test_a_file_in_jekyll_drafts_folder_is_a_draft() -> None:
    assert read("_drafts/idea.md", "---\ntitle: Idea\n---\nBody").draft is True


def test_title_of_wrong_type_control_characters_and_line_breaks() -> None:
    assert read("p.md", "---\ntitle: 2026\n---\nBody").title == "2026"
    item = read("p.md", '---\ntitle: "Harbour\\r\\nweek\\u2028now\\x01\\x1f!"\n---\nBody')
    assert item.title == "Harbour week now!"
    body = read("p.md", "---\ntitle: t\n---\nA\x01B\x0bC\x7f").body
    assert body == "ABC" and xml_safe(body) == body


# --- Hugo (TOML) ----------------------------------------------------------------------------------------


def test_hugo_example_post() -> None:
    item = read_example("posts/grain-quay-vote.md")
    assert item.key == "posts/grain-quay-vote"
    assert item.slug == "grain-quay-vote"
    assert item.title == "Council delays the grain quay vote"
    assert item.published == datetime(2026, 11, 19, 17, 5, tzinfo=UTC)
    assert item.updated == datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    assert item.authors == ("Ana Ruiz", "Tomas Berg")
    assert item.summary == "The housing plan for the old grain quay waits another month."
    assert (item.categories, item.tags) == (("News",), ("housing", "ports"))
    assert item.draft is False


def test_hugo_draft_example() -> None:
    item = read_example("posts/pilot-boat-strike.md")
    assert item.draft is True
    assert item.published == london(2026, 11, 21)
    assert item.summary.startswith("Not ready")


def test_toml_local_datetime_takes_site_zone() -> None:
    item = read("p.md", '+++\ntitle = "T"\ndate = 2026-07-01T09:00:00\n+++\nBody')
    assert item.published == london(2026, 7, 1, 9)
    assert item.published.utcoffset() == timedelta(hours=1)  # British Summer Time


def test_txt_with_a_fence_is_front_matter_and_markdown() -> None:
    item = read("note.txt", '+++\ntitle = "Fenced"\n+++\n*Body*')
    assert (item.title, item.body_format, item.body) == ("Fenced", "markdown", "*Body*")


# --- dates ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-02", london(2026, 3, 2)),
        ("2026-03-02T06:15:00", london(2026, 3, 2, 6, 15)),
        ("2026-07-02 06:15", london(2026, 7, 2, 6, 15)),
        ("2026-03-02T06:15:00Z", datetime(2026, 3, 2, 6, 15, tzinfo=UTC)),
        ("2026-03-02T06:15:00+01:00", datetime(2026, 3, 2, 6, 15, tzinfo=timezone(timedelta(hours=1)))),
        ("'2026-03-02 06:15:00 +0100'", datetime(2026, 3, 2, 6, 15, tzinfo=timezone(timedelta(hours=1)))),
        ("'2026-03-02 06:15:00 -05:00'", datetime(2026, 3, 2, 6, 15, tzinfo=timezone(timedelta(hours=-5)))),
        ("2026/3/2", london(2026, 3, 2)),
        ("March 4, 2026", london(2026, 3, 4)),
        ("4 March 2026", london(2026, 3, 4)),
        ("'Wednesday, 4th of March 2026, 9:30 pm'", london(2026, 3, 4, 21, 30)),
        ("'Mon, 02 Mar 2026 06:15:00 +0100'", datetime(2026, 3, 2, 6, 15, tzinfo=timezone(timedelta(hours=1)))),
    ],
)
def test_front_matter_date_forms(value: str, expected: datetime) -> None:
    published = read("p.md", f"---\ndate: {value}\n---\nBody").published
    assert published == expected
    assert published.utcoffset() == expected.utcoffset()


def test_publishdate_is_a_date_alias() -> None:
    assert read("p.md", "---\npublishDate: 2026-03-02\n---\nBody").published == london(2026, 3, 2)


def test_date_from_file_name() -> None:
    item = read("_posts/2026-07-26-some-slug.md", "---\ntitle: T\n---\nBody")
    assert item.published == london(2026, 7, 26)
    assert item.slug == "some-slug" and item.key == "_posts/2026-07-26-some-slug"
    assert item.notes == ()


def test_front_matter_date_wins_over_file_name() -> None:
    item = read("_posts/2026-07-26-slug.md", "---\ndate: 2026-07-27T08:00:00\n---\nBody")
    assert item.published == london(2026, 7, 27, 8)


def test_date_from_folders() -> None:
    item = read_example("2026/11/18/fish-market-moves.md")
    assert item.published == london(2026, 11, 18)
    assert (item.slug, item.key) == ("fish-market-moves", "2026/11/18/fish-market-moves")


def test_date_from_modification_time_is_noted() -> None:
    item = read("posts/undated.md", "---\ntitle: T\n---\nBody")
    assert item.published == datetime.fromtimestamp(MTIME, LONDON)
    assert item.published.tzinfo is not None
    assert any("modification time" in note for note in item.notes)


def test_an_impossible_file_name_date_is_not_a_date() -> None:
    item = read("2026-13-45-odd.md", "Body")
    assert item.published == datetime.fromtimestamp(MTIME, LONDON)
    assert item.slug == "2026-13-45-odd"


# --- identity, slug and title fallbacks -----------------------------------------------------------------


def test_explicit_id_and_slug() -> None:
    item = read("_posts/2026-03-02-harbour.md", "---\nid: harbour-2026\nslug: Harbour_Week\n---\nBody")
    assert item.key == "harbour-2026"
    assert item.slug == "Harbour_Week"


def test_unsafe_slug_is_slugified() -> None:
    assert read("p.md", "---\nslug: Zoë's week / 2\n---\nBody").slug == "zoe-s-week-2"
    assert read("My Post Name.md", "Body").slug == "my-post-name"


def test_hugo_leaf_bundle_takes_its_folder_name() -> None:
    item = read("posts/2026-03-02-harbour/index.md", "---\ntitle: T\n---\nBody")
    assert item.slug == "harbour"
    assert item.published == london(2026, 3, 2)
    assert item.key == "posts/2026-03-02-harbour/index"


def test_markdown_without_front_matter_takes_its_first_heading() -> None:
    item = read_example("2026-03-05-dredging-contract.md")
    assert item.title == "Dredging contract goes to a local firm"
    assert item.published == london(2026, 3, 5)
    assert item.authors == ("Newsroom",)
    assert not item.body.startswith("#")  # the title is not repeated in the body
    assert item.notes == ()


def test_heading_inside_a_code_fence_is_not_a_title() -> None:
    item = read("p.md", "Intro\n\n```sh\n# not a title\n```\n\n# Real *title*\n\nText")
    assert item.title == "Real title"
    assert "# Real" in item.body  # not at the top: left in place


def test_setext_heading() -> None:
    item = read("p.md", "The title\n=========\n\nText")
    assert (item.title, item.body) == ("The title", "Text")


def test_title_from_file_name_is_noted() -> None:
    item = read("posts/2026-03-02-harbour_week-notes.md", "---\nauthor: A\n---\nJust text.")
    assert item.title == "Harbour week notes"
    assert any("file name" in note for note in item.notes)


def test_bom_and_crlf() -> None:
    item = read("p.md", b"\xef\xbb\xbf---\r\ntitle: Bom\r\ndate: 2026-03-02\r\n---\r\nLine one\r\nLine two\r\n")
    assert item.title == "Bom"
    assert item.body == "Line one\nLine two"
    assert "\r" not in item.body


def test_empty_front_matter_and_empty_body() -> None:
    item = read("2026-03-02-x.md", "---\n---\n")
    assert item.body == "" and item.title == "X"
    assert len(item.sections) == 1 and item.sections[0].body == ""
