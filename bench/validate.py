"""Check feed files with the W3C feed validator (https://github.com/w3c/feedvalidator), offline.

The validator is not on PyPI: point ``FEEDVALIDATOR`` at the ``src`` folder of a checkout of its repository,
and run this with a Python that has its dependencies (``pip install lxml html5lib rdflib``; ``make bench``
installs them into ``.venv`` through the ``bench`` extra).

    FEEDVALIDATOR=~/src/feedvalidator/src .venv/bin/python bench/validate.py public/

Each Atom/RSS file is validated as if served from its own ``rel="self"`` / ``atom:link`` address, so the
self-reference check means what it means on the web. Prints one line per file with problems and a verdict
line ``N files: E errors, W warnings``; exits 1 when there is any error or warning. JSON Feed has no W3C
validator and is not checked here.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

FEED_SUFFIXES = (".atom", ".rss", ".xml")
_SELF = re.compile(rb'<(?:atom:)?link\b[^>]*\brel="self"[^>]*>')
_HREF = re.compile(rb'\bhref="([^"]+)"')


@dataclass(frozen=True)
class Verdict:
    path: Path
    errors: tuple[str, ...]
    warnings: tuple[str, ...]


def _validator() -> object:
    src = os.environ.get("FEEDVALIDATOR")
    if not src or not (Path(src) / "feedvalidator" / "__init__.py").is_file():
        raise SystemExit("set FEEDVALIDATOR to the src/ folder of a w3c/feedvalidator checkout")
    sys.path.insert(0, src)
    import feedvalidator  # type: ignore[import-not-found]

    return feedvalidator


def self_url(data: bytes) -> str:
    for tag in _SELF.finditer(data[:8192]):
        href = _HREF.search(tag.group(0))
        if href:
            return href.group(1).decode()
    return ""


def feed_files(paths: Iterable[Path]) -> Iterator[Path]:
    for p in paths:
        if p.is_dir():
            yield from sorted(f for f in p.rglob("*") if f.suffix in FEED_SUFFIXES and f.is_file())
        elif p.suffix in FEED_SUFFIXES:
            yield p


def validate(paths: Iterable[Path]) -> list[Verdict]:
    fv = _validator()
    from feedvalidator import compatibility  # type: ignore[import-not-found]
    from feedvalidator.formatter.text_plain import Formatter  # type: ignore[import-not-found]
    from feedvalidator.logging import Error, Warning  # type: ignore[import-not-found]

    verdicts = []
    for path in feed_files(paths):
        data = path.read_bytes()
        try:
            events = fv.validateString(data, firstOccurrenceOnly=1, base=self_url(data))["loggedEvents"]  # type: ignore[attr-defined]
        except fv.logging.ValidationFailure as failure:  # type: ignore[attr-defined]
            events = [failure.event]
        events = compatibility.AA(events)
        errors = tuple(Formatter([e]).format(e) for e in events if isinstance(e, Error))
        warnings = tuple(Formatter([e]).format(e) for e in events if isinstance(e, Warning))
        verdicts.append(Verdict(path, errors, warnings))
    return verdicts


def summary(verdicts: list[Verdict]) -> str:
    errors = sum(len(v.errors) for v in verdicts)
    warnings = sum(len(v.warnings) for v in verdicts)
    return f"{len(verdicts)} files: {errors} errors, {warnings} warnings"


def main(argv: list[str]) -> int:
    verdicts = validate(Path(a) for a in argv or ["."])
    for v in verdicts:
        for line in (*v.errors, *v.warnings):
            print(f"{v.path}: {line}")
    print(summary(verdicts))
    return 1 if any(v.errors or v.warnings for v in verdicts) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
