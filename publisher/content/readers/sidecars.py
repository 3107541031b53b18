"""Sidecar files: a small TOML file beside a file that cannot carry front matter (``brief.pdf.toml`` beside
``brief.pdf``, ``notes.txt.toml`` beside ``notes.txt``) pins the fields the reader would otherwise infer::

    title = "Ports After the Strike: Three Lessons"
    date = 2026-03-04
    authors = ["Mira Okonjo", "Tomas Head"]
    role = "Senior Fellows, Coastal Policy Institute"
    summary = "Three lessons from the port strike."
    categories = ["Ports"]

It takes the front-matter keys (and their aliases), plus ``role``. Its edits are the file's edits.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import tzinfo

from publisher.content.readers import frontmatter
from publisher.errors import ContentError
from publisher.text import one_line


@dataclass(frozen=True)
class Pinned:
    meta: frontmatter.Meta
    role: str
    keys: tuple[tuple[str, str], ...]  # field → the sidecar key that pinned it


def read(path: str, data: bytes, tz: tzinfo) -> Pinned:
    """The fields a sidecar pins; ContentError (naming the sidecar) when it is not valid TOML."""
    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContentError(path, "sidecar is not UTF-8") from exc
    part = frontmatter.Split(kind="toml", source=source, body="", first_line=1)
    try:
        raw = frontmatter.parse(path, part)
        meta = frontmatter.extract(path, part, raw, tz)
    except ContentError as exc:
        where = f", line {exc.line}" if exc.line else ""
        reason = exc.reason.replace("front matter", "TOML").replace("TOML TOML", "TOML")
        raise ContentError(path, f"sidecar {path}{where}: {reason}") from exc
    role = raw.get("role")
    if role is not None and not isinstance(role, str):
        raise ContentError(path, "sidecar 'role': expected text")
    keys = list(meta.keys)
    if role:
        keys.append(("role", "role"))
    return Pinned(meta, one_line(role or ""), tuple(keys))


def pin(meta: frontmatter.Meta, role: str, pinned: Pinned) -> tuple[frontmatter.Meta, str]:
    """``meta`` and ``role`` with every field the sidecar gives replaced by the sidecar's value."""
    given = dict(pinned.keys)
    changes = {}
    for name, field in (
        ("title", "title"),
        ("published", "published"),
        ("updated", "updated"),
        ("authors", "authors"),
        ("summary", "summary"),
    ):
        if name in given:
            changes[field] = getattr(pinned.meta, field)
    for field in ("categories", "tags", "image", "key", "slug", "permalink"):
        value = getattr(pinned.meta, field)
        if value:
            changes[field] = value
    if pinned.meta.draft:
        changes["draft"] = True
    if "published" not in given and pinned.meta.path_date is not None:
        changes["path_date"] = pinned.meta.path_date
    return dataclasses.replace(meta, **changes), pinned.role or role
