"""Property tests: whatever bytes or front matter a file holds, read() gives a clean item or a ContentError,
and render() gives HTML, never another exception."""

from __future__ import annotations

import json
import math
import os
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from publisher.content import readers
from publisher.content.markup import render
from publisher.errors import ContentError
from publisher.models import ParsedItem
from publisher.text import xml_safe
from tests.readers_helpers import LONDON, MTIME

# Modest by default so the suite stays fast; PUBLISHER_FUZZ_EXAMPLES=5000 for a deeper run.
EXAMPLES = int(os.environ.get("PUBLISHER_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KNOWN_KEYS = [
    "title", "date", "publishDate", "updated", "lastmod", "last_modified_at", "author", "authors", "categories",
    "category", "tags", "tag", "excerpt", "summary", "description", "image", "images", "draft", "published", "id",
    "slug", "permalink", "url", "layout",
]  # fmt: skip
PATHS = st.sampled_from(
    ["post.md", "_posts/2026-03-02-harbour.md", "2026/03/05/slug.md", "brief.txt", "notes/2026-11-20-x.txt",
     "posts/bundle/index.md", "_drafts/idea.markdown", "2026/13/45/odd.md"]
)  # fmt: skip
# Text that leans towards the characters that break things: line breaks of every kind, controls, fences.
NASTY = st.sampled_from(["\r", "\n", "\r\n", "\u2028", "\x85", "\x00", "\x01", "\x0b", "\x1f", "\ufffe", "---", "+++",
                         "By ", "Ana Ruiz, ", "# ", "**", "<script>", "](", "\t", " "])  # fmt: skip
TEXT = st.lists(st.one_of(st.text(max_size=20), NASTY), max_size=12).map("".join)
ZONES = st.sampled_from([None, UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))])
DATETIMES = st.builds(
    lambda d, z: d.replace(tzinfo=z), st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)), ZONES
)
SCALARS = st.one_of(
    TEXT,
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True),
    st.booleans(),
    st.dates(),
    DATETIMES,
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
FRONT_MATTER = st.dictionaries(st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=10)), VALUES, max_size=8)


def read(relpath: str, data: bytes) -> ParsedItem | None:
    try:
        item = readers.read(relpath, data, tz=LONDON, default_author="Newsroom", mtime=MTIME)
    except ContentError as exc:
        assert exc.path == relpath and exc.reason
        assert exc.line is None or exc.line >= 1
        return None
    check(item)
    return item


def clean_line(text: str) -> bool:
    return bool(text) and xml_safe(text) == text and text == " ".join(text.split())


def check(item: ParsedItem) -> None:
    assert clean_line(item.title)
    assert "\r" not in item.title and "\n" not in item.title
    assert item.published.tzinfo is not None and item.published.utcoffset() is not None
    assert item.updated is None or item.updated.utcoffset() is not None
    assert item.authors and all(clean_line(a) for a in item.authors)
    assert all(clean_line(w) for w in item.categories + item.tags)
    assert item.key and item.slug and "/" not in item.slug
    assert xml_safe(item.body) == item.body and "\r" not in item.body
    assert xml_safe(item.summary) == item.summary
    assert item.sections
    for section in item.sections:
        assert clean_line(section.correspondent)
        assert xml_safe(section.role) == section.role and "\n" not in section.role
        assert xml_safe(section.body) == section.body
    assert all(isinstance(note, str) for note in item.notes)


def toml_value(value: Any) -> str:
    """A TOML rendering of ``value`` (no TOML writer is a dependency; this one covers what we generate)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise AssertionError(type(value))


@FUZZ
@given(PATHS, st.binary(max_size=400))
def test_arbitrary_bytes(relpath: str, data: bytes) -> None:
    read(relpath, data)


@FUZZ
@given(PATHS, st.sampled_from([b"", b"---\n", b"+++\n", b"\xef\xbb\xbf---\r\n"]), TEXT, TEXT)
def test_arbitrary_text_around_fences(relpath: str, opening: bytes, head: str, tail: str) -> None:
    closing = "\n+++\n" if opening.strip().endswith(b"+") else "\n---\n"
    read(relpath, opening + head.encode("utf-8", "surrogatepass") + closing.encode() + tail.encode("utf-8", "replace"))


@FUZZ
@given(PATHS, FRONT_MATTER, TEXT)
def test_arbitrary_yaml_front_matter(relpath: str, front: dict[str, Any], body: str) -> None:
    source = yaml.safe_dump(front, allow_unicode=True)
    read(relpath, f"---\n{source}---\n{body}".encode("utf-8", "replace"))


@FUZZ
@given(PATHS, FRONT_MATTER, TEXT)
def test_arbitrary_toml_front_matter(relpath: str, front: dict[str, Any], body: str) -> None:
    source = "".join(f"{json.dumps(k)} = {toml_value(v)}\n" for k, v in front.items())
    read(relpath, f"+++\n{source}+++\n{body}".encode("utf-8", "replace"))


@FUZZ
@given(st.lists(st.one_of(TEXT, st.sampled_from(["Coastal Policy Institute", "Mira Okonjo", "March 4, 2026",
                                                  "Senior Fellow, X", "12 Quay St | www.x.example", "", "3"])),
                max_size=20))  # fmt: skip
def test_arbitrary_plain_text(lines: list[str]) -> None:
    read("brief.txt", "\n".join(lines).encode("utf-8", "replace"))


@FUZZ
@given(st.sampled_from(["date", "lastmod"]), st.lists(st.one_of(
    st.sampled_from(["2026", "-", "/", "03", "3", "T", " ", ":", "15", "+01:00", "+0100", "Z", "March", "4,", "Mon,",
                     "pm", "of", "31", "99", "0000", "9999"]), st.text(max_size=3)), max_size=10))  # fmt: skip
def test_arbitrary_date_strings(key: str, parts: list[str]) -> None:
    read("p.md", f"---\n{key}: {json.dumps(''.join(parts))}\n---\nBody".encode("utf-8", "replace"))


@FUZZ
@given(TEXT, st.sampled_from(["markdown", "text"]))
def test_render_never_raises_and_is_well_formed(body: str, body_format: str) -> None:
    out = render(body, body_format, page_url="https://news.example.org/a/b/")  # type: ignore[arg-type]
    assert xml_safe(out) == out
    etree.fromstring(f"<div>{out}</div>".encode(), etree.HTMLParser())


@FUZZ
@given(st.text(max_size=60))
def test_is_candidate_never_raises(relpath: str) -> None:
    assert readers.is_candidate(relpath) in (True, False)
