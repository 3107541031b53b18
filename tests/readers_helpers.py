"""Shared by the reader tests: read a file given as text or bytes with the test site's settings."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from publisher.content import readers
from publisher.models import ParsedItem

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "content"
LONDON = ZoneInfo("Europe/London")
# 2026-11-15T00:13:20Z: the file modification time used when a file says nothing about its date.
MTIME = 1_794_701_600.0


def read(relpath: str, content: str | bytes, *, tz: ZoneInfo = LONDON, mtime: float = MTIME) -> ParsedItem:
    data = content.encode("utf-8") if isinstance(content, str) else content
    return readers.read(relpath, data, tz=tz, default_author="Newsroom", mtime=mtime)


def read_example(relpath: str) -> ParsedItem:
    return read(relpath, (EXAMPLES / relpath).read_bytes())
