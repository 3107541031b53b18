"""``publisher items --explain PATH``: how one file is read, field by field, with where each value came from
(front matter, the file name, header line N, a sidecar, authors data, a fallback), and whether the selection
rules leave it out."""

from __future__ import annotations

import os
from pathlib import Path
from zoneinfo import ZoneInfo

from publisher.config import Config
from publisher.content import authors, readers, selection
from publisher.errors import ContentError


def explain(config: Config, path: str) -> list[str]:
    """Lines describing how ``path`` (relative to the content folder, or absolute inside it) is read."""
    root = config.paths.content
    full = Path(path) if Path(path).is_absolute() else root / path
    try:
        rel = full.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return [f"{path}: not inside the content folder {root}"]
    out = [f"file:        {rel}"]
    reason = selection.left_out(rel, config.content.include, config.content.excluded, is_file=True)
    if reason is None and not readers.is_candidate(rel, config.content.extensions):
        reason = f"not a content file (extensions: {', '.join(config.content.extensions)})"
    if reason is None and "/" in rel and selection.bundle_asset(rel, os.listdir(full.parent)):
        reason = selection.LEFT_OUT_BUNDLE_ASSET
    if reason:
        out.append(f"left out:    {reason}")
    try:
        data = full.read_bytes()
        side = Path(str(full) + readers.SIDECAR_SUFFIX)
        sidecar = side.read_bytes() if rel.lower().endswith(readers.SIDECAR_FOR) and side.is_file() else None
        parsed = readers.read(
            rel,
            data,
            tz=ZoneInfo(config.site.timezone),
            default_author=config.site.author,
            mtime=full.stat().st_mtime,
            sidecar=sidecar,
        )
    except ContentError as exc:
        return [*out, f"error:       {exc}"]
    except OSError as exc:
        return [*out, f"error:       cannot read ({exc.strerror or exc})"]
    parsed = authors.apply(parsed, authors.load(config))
    origin = parsed.origin
    if not parsed.dated and selection.undated_left_out(config.content.undated, has_front_matter=parsed.front_matter):
        out.append(f"left out:    {selection.LEFT_OUT_UNDATED}")
    rows = [
        ("title", parsed.title, origin("title")),
        ("published", parsed.published.isoformat(), origin("published")),
        ("updated", parsed.updated.isoformat() if parsed.updated else "", origin("updated")),
        ("authors", ", ".join(parsed.authors), origin("authors")),
        ("role", parsed.sections[0].role if parsed.sections else "", origin("role")),
        ("summary", parsed.summary[:80], origin("summary")),
        ("key", parsed.key, "front matter 'id'" if parsed.key != rel.rsplit(".", 1)[0] else "the path"),
        ("slug", parsed.slug, "front matter 'slug'" if origin("slug") else "the file name"),
        ("categories", ", ".join(parsed.categories), ""),
        ("tags", ", ".join(parsed.tags), ""),
        ("draft", "yes" if parsed.draft else "no", ""),
        ("format", parsed.body_format, "front matter" if parsed.front_matter else "the file's extension"),
    ]
    for name, value, source in rows:
        if value:
            out.append(f"{name + ':':<12} {value}" + (f"   ({source})" if source else ""))
    for section in parsed.sections:
        credit = " (shares the text above)" if section.shared else ""
        role = f", {section.role}" if section.role else ""
        out.append(f"section:     {section.correspondent}{role}: {len(section.body):,} characters{credit}")
    first = parsed.body.split("\n\n", 1)[0]
    out.append(f"body starts: {first[:100]}{'…' if len(first) > 100 else ''}")
    out += [f"note:        {note}" for note in parsed.notes]
    return out
