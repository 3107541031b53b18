"""Files that cannot be used raise ContentError naming the file (and the line, where there is one)."""

from __future__ import annotations

import pytest

from publisher.errors import ContentError
from tests.readers_helpers import read


@pytest.mark.parametrize(
    ("data", "reason", "line"),
    [
        (b"", "empty file", None),
        (b"  \n\n\t\n", "empty file", None),
        (b"\xef\xbb\xbf", "empty file", None),
        (b"\x01\x02\n", "empty file", None),
        (b"Intro\nline two\n\xff\xfe rest", "not valid UTF-8", 3),
        (b"caf\xe9\n", "not valid UTF-8", 1),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file", 3),
        (b"text\x00more", "binary file", 1),
        ("---\ntitle: x\n".encode("utf-16"), "UTF-16", None),
    ],
)
def test_unreadable_bytes(data: bytes, reason: str, line: int | None) -> None:
    with pytest.raises(ContentError) as caught:
        read("posts/bad.md", data)
    assert caught.value.path == "posts/bad.md"
    assert reason in caught.value.reason
    assert caught.value.line == line
    assert str(caught.value).startswith("posts/bad.md")


@pytest.mark.parametrize(
    ("text", "reason", "line"),
    [
        ("---\ntitle: ok\ntags: [a, b\ndate: 2026-03-02\n---\nBody", "malformed YAML", 4),
        ("---\ntitle: ok\n  bad: indent\n---\nBody", "malformed YAML", 3),
        ('---\ntitle: "open\n---\nBody', "malformed YAML", None),
        ("---\n- a\n- b\n---\nBody", "not a mapping", 2),
        ("---\njust a string\n---\nBody", "not a mapping", 2),
        ("---\ntitle: x\n!!python/object:os.system y: 1\n---\nBody", "malformed YAML", None),
        ("---\ntitle: never closed\nBody", "not closed", 1),
        ('+++\ntitle = "ok"\ndate = 2026-03-02\ntags = ["a",\n+++\nBody', "malformed TOML", None),
        ('+++\ntitle = "ok"\ntitle = "twice"\n+++\nBody', "malformed TOML", 3),
        ('+++\ntitle = "ok"\ndate = 2026-02-30\n+++\nBody', "malformed TOML", 3),
        ("+++\ntitle = never closed\nBody", "not closed", 1),
    ],
)
def test_malformed_front_matter(text: str, reason: str, line: int | None) -> None:
    with pytest.raises(ContentError) as caught:
        read("posts/bad.md", text)
    assert reason in caught.value.reason
    assert caught.value.path == "posts/bad.md"
    if line is not None:
        assert caught.value.line == line
    else:
        assert caught.value.line is not None and caught.value.line >= 1


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ("---\ntitle: T\ntags: {a: 1}\n---\nBody", "tags", 3),
        ("---\ntitle: [a, b]\n---\nBody", "title", 2),
        ("---\ntitle: T\ncategories: [[nested]]\n---\nBody", "categories", 3),
        ("---\nauthor: {email: a@example.org}\n---\nBody", "author", 2),
        ("---\ndate: next tuesday\n---\nBody", "date", 2),
        ("---\ndate: [2026-03-02]\n---\nBody", "date", 2),
        ("---\ndate: 0026-03-02\n---\nBody", "date", 2),
        ("---\nlastmod: soon\n---\nBody", "lastmod", 2),
        ("---\ndraft: maybe\n---\nBody", "draft", 2),
        ("---\nimage: {alt: no path}\n---\nBody", "image", 2),
        ('+++\ntitle = "T"\ndate = 07:32:00\n+++\nBody', "date", 3),
        ('+++\ntitle = "T"\n[tags]\na = 1\n+++\nBody', "tags", 3),
    ],
)
def test_field_of_the_wrong_type_names_its_key(text: str, key: str, line: int) -> None:
    with pytest.raises(ContentError) as caught:
        read("posts/bad.md", text)
    assert f"'{key}'" in caught.value.reason
    assert caught.value.line == line


def test_a_yaml_date_that_does_not_exist_is_found_on_its_line() -> None:
    with pytest.raises(ContentError, match="malformed YAML front matter: day is out of range") as caught:
        read("posts/bad.md", "---\ntitle: T\ntags:\n  - a\nupdated: 2026-02-30\n---\nBody")
    assert caught.value.line == 5


def test_control_characters_are_cleaned_not_fatal() -> None:
    item = read("posts/odd.md", '---\ntitle: "Bell\\a and escape\\e"\n---\nText\x1b[31m red\x07')
    assert item.title == "Bell and escape"
    assert item.body == "Text[31m red"
