"""Front matter of one ``key: value`` line per key is read without PyYAML, into exactly what PyYAML's safe
loader makes of it; whatever the simple reader is unsure of goes to PyYAML. And a build of such posts loads
neither PyYAML nor the feed libraries."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publisher.content.readers import frontmatter
from publisher.errors import ContentError
from tests.conftest import write_config

KEYS = st.sampled_from(
    ["title", "date", "author", "tags", "draft", "weight", "on", "yes", "a_b", "x-y", "Title", "null"]
)
ATOMS = st.sampled_from(
    [
        "post",
        "Business",
        "topic-2",
        "a b",
        "a  b",
        "yes",
        "No",
        "on",
        "OFF",
        "null",
        "~",
        "true",
        "y",
        "1",
        "0",
        "07",
        "12",
        "1_0",
        "1.5",
        ".inf",
        "2026-11-30",
        "2026-11-30T12:00:00",
        "2026-11-30 12:00:00",
        "2026-11-30T12:00:00Z",
        "2026-11-30T12:00:00+02:00",
        "2026-11-30T12:00:00-05:30",
        "2026-02-30",
        "2026-1-3",
        "2026-11-30T25:00:00",
        "a: b",
        "a #c",
        "a#c",
        "x:",
        "C++",
        "é",
        "What's new?",
        "A (b) & c/d!",
        "a,b",
        "",
        "-a",
        "?a",
        "*a",
        "&a",
        "!a",
        "%a",
        "@a",
        "|",
        "a\tb",
        "a\\b",
        'a"b',
        "a'b",
    ]
)


def _quoted(text: str) -> st.SearchStrategy[str]:
    return st.sampled_from([f'"{text}"', f"'{text}'", text])


VALUES = st.one_of(
    ATOMS.flatmap(_quoted),
    st.lists(ATOMS.flatmap(_quoted), max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
    st.sampled_from(['"é ü 中"', '"a # b"', "''", "[]", "[ ]", "[a,]", '["a, b", c]', "{a: b}", "'it''s'"]),
)
LINES = st.tuples(KEYS, st.sampled_from([": ", ":", ":  "]), VALUES, st.sampled_from(["", " ", "  # c", "\t"])).map(
    "".join
)
OTHER = st.sampled_from(["", "# comment", "  indented: x", "- item", "  ", "\r", "key: |", "  more", "\ufeffk: v"])
DOCUMENTS = st.lists(st.one_of(LINES, OTHER), max_size=6).map(lambda lines: "\n".join(lines) + "\n")


def same(ours: dict[str, Any], theirs: Any) -> None:
    assert isinstance(theirs, dict) and ours == theirs
    for key, value in ours.items():
        assert type(value) is type(theirs[key]), key
        if isinstance(value, datetime):
            assert value.tzinfo == theirs[key].tzinfo, key


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(DOCUMENTS)
def test_what_the_simple_reader_reads_pyyaml_reads_alike(source: str) -> None:
    ours = frontmatter._simple_yaml(source)
    if ours is not None:
        same(ours, yaml.load(source, Loader=yaml.CSafeLoader))


POST = """layout: post
title: "Season tariff and the budget 10000001"
date: 2026-11-30T12:00:00
authors: ["Mira Weber", 'Ana Ruiz']
categories: [Business]
tags: [topic-2, topic-19]
excerpt: "The survey union in brief."
draft: false
weight: 3
published: 2026-11-30
updated: 2026-12-01T08:30:00+01:00
"""


def test_posts_as_sites_write_them_are_read_the_simple_way() -> None:
    ours = frontmatter._simple_yaml(POST)
    assert ours is not None
    same(ours, yaml.load(POST, Loader=yaml.CSafeLoader))
    assert ours["date"] == datetime(2026, 11, 30, 12, 0)
    assert ours["published"] == date(2026, 11, 30)
    assert ours["updated"] == datetime(2026, 12, 1, 8, 30, tzinfo=timezone(timedelta(hours=1)))
    assert ours["authors"] == ["Mira Weber", "Ana Ruiz"] and ours["draft"] is False and ours["weight"] == 3
    assert frontmatter._simple_yaml("date: 2026-11-30T12:00:00Z\n") == {"date": datetime(2026, 11, 30, 12, tzinfo=UTC)}


@pytest.mark.parametrize(
    "source",
    [
        "title: a: b\n",  # a mapping in a value: PyYAML refuses it
        "date: 2026-02-30\n",  # no such day: PyYAML raises
        "tags:\n  - a\n  - b\n",  # a block list
        'title: "a \\" b"\n',  # an escape
        "title: x # a comment\n",
        "yes: 1\n",  # a key PyYAML reads as a boolean
        "\n# only a comment\n",
    ],
)
def test_what_the_simple_reader_is_unsure_of_goes_to_pyyaml(source: str) -> None:
    assert frontmatter._simple_yaml(source) is None


def test_bad_front_matter_gets_pyyaml_s_error_with_its_line() -> None:
    text = "---\ntitle: ok\ndate: 2026-02-30\n---\nbody\n"
    part = frontmatter.split("p.md", text, "yaml")
    with pytest.raises(ContentError) as caught:
        frontmatter.parse("p.md", part)
    assert str(caught.value) == "p.md:3: malformed YAML front matter: day is out of range for month"


LOADED = """
import sys
from publisher.cli.app import main
try:
    main(["--config", sys.argv[1], "build"])
except SystemExit:
    pass
print(" ".join(sorted(m for m in ("yaml", "feedgen", "lxml", "dateutil", "jinja2", "tempfile") if m in sys.modules)))
"""


def test_a_build_of_simple_posts_loads_neither_pyyaml_nor_the_feed_libraries(tmp_path: Path) -> None:
    write_config(tmp_path)
    post = tmp_path / "content" / "2026" / "harbour.md"
    post.parent.mkdir(parents=True)
    post.write_text("---\n" + POST + "---\n\nThe harbour summit opens on Monday.\n", encoding="utf-8")
    config = str(tmp_path / "publisher.toml")
    first = subprocess.run([sys.executable, "-c", LOADED, config], capture_output=True, text=True, check=True)
    assert "feeds: " in first.stdout  # built
    (tmp_path / "content" / "2026" / "quay.md").write_text(
        "---\n" + POST.replace("Season", "Quay") + "---\n\nAnother post.\n", encoding="utf-8"
    )
    for _ in ("one new post", "nothing changed"):
        run = subprocess.run([sys.executable, "-c", LOADED, config], capture_output=True, text=True, check=True)
        assert "feeds: " in run.stdout
        assert run.stdout.splitlines()[-1] == "", run.stdout  # none of them loaded
