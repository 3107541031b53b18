"""The corpus of plain-text briefs under tests/content/briefs, written for this project in the layouts found in
the wild (PRODUCT.md, shape 3), each read against the fields an editor would read in it."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.readers_helpers import MTIME, read

BRIEFS = Path(__file__).resolve().parent / "briefs"
EXPECTED: dict[str, dict[str, Any]] = tomllib.loads((BRIEFS / "expected.toml").read_text(encoding="utf-8"))
FIELDS = ("title", "authors", "role", "date", "body")


def fields_of(name: str) -> dict[str, Any]:
    item = read(f"briefs/{name}", (BRIEFS / name).read_bytes())
    undated = item.published.timestamp() == MTIME
    return {
        "title": item.title,
        "authors": list(item.authors),
        "role": item.sections[0].role,
        "date": "" if undated else item.published.date().isoformat(),
        "body": item.body,
        "sections": list(dict.fromkeys(s.correspondent for s in item.sections)),
        "first": item.body.split("\n\n", 1)[0],
    }


def wrong_fields(name: str) -> list[str]:
    want = EXPECTED[name]
    got = fields_of(name)
    wrong = [f for f in FIELDS[:4] if got[f] != want[f]]
    if not got["body"].startswith(want["body"]):
        wrong.append("body")
    if "sections" in want and got["sections"] != want["sections"]:
        wrong.append("sections")
    return wrong


def test_the_corpus_is_large_and_each_brief_has_expectations() -> None:
    files = sorted(p.name for p in BRIEFS.glob("*.txt"))
    assert len(files) >= 20
    assert sorted(EXPECTED) == files


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_brief(name: str) -> None:
    got = fields_of(name)
    assert wrong_fields(name) == [], {k: got[k] for k in (*FIELDS[:4], "first", "sections")}
    # Boilerplate about the organisation never opens the body (and so never makes the summary).
    assert not got["first"].lower().startswith("about")


def test_score(capsys: pytest.CaptureFixture[str]) -> None:
    total = right = 0
    for name, want in EXPECTED.items():
        counted = len(FIELDS) + ("sections" in want)
        total += counted
        right += counted - len(wrong_fields(name))
    with capsys.disabled():
        print(f"\nbriefs corpus: {right}/{total} fields right in {len(EXPECTED)} briefs")
    assert right == total
