"""Authors data: CMS handles (``author: "jdoe"``) mapped to display names, roles, and whether readers may
subscribe to them, as Jekyll (``_data/authors.yml``) and Hugo (``data/authors.yaml`` or one file per author
under ``data/authors/``) keep them, or in the config (``[content.authors.jdoe]``).

Looked for beside the content folder and in its parent (a Jekyll site root, or a Hugo site whose content
folder is ``content/``); the config's table wins over the files. Each entry takes ``name`` (or
``display_name``), ``role`` (or ``title``, ``job``), ``subscribable`` (default true).
"""

from __future__ import annotations

import hashlib
import json
import logging
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from publisher.config import Config
from publisher.models import ParsedItem, ParsedSection
from publisher.text import one_line

logger = logging.getLogger(__name__)

_SUFFIXES = (".yml", ".yaml", ".toml", ".json")


@dataclass(frozen=True)
class Author:
    handle: str
    name: str
    role: str = ""
    subscribable: bool = True


Authors = Mapping[str, Author]  # by handle, lower case


def files(content: Path) -> list[Path]:
    """The authors data files that exist for the content folder ``content``, in the order they are read."""
    out: list[Path] = []
    for root in (content, content.parent):
        for folder in ("_data", "data"):
            out += [root / folder / f"authors{suffix}" for suffix in _SUFFIXES]
            one_each = root / folder / "authors"
            if one_each.is_dir():
                out += sorted(p for p in one_each.iterdir() if p.suffix in _SUFFIXES)
    return [p for p in out if p.is_file()]


def load(config: Config) -> dict[str, Author]:
    """Every author the site describes. A file that cannot be read is logged with its name and left out."""
    found: dict[str, Author] = {}
    for path in files(config.paths.content):
        try:
            data = _parse(path)
        except Exception as exc:  # one bad data file never stops the scan
            logger.warning("%s: authors data not read: %s", path, one_line(str(exc))[:200])
            continue
        if path.parent.name == "authors" and isinstance(data, Mapping) and not _is_table_of_authors(data):
            data = {path.stem: data}  # Hugo: data/authors/jdoe.yaml describes jdoe
        if not isinstance(data, Mapping):
            logger.warning("%s: authors data not read: expected a table of handles", path)
            continue
        for handle, entry in data.items():
            author = _author(str(handle), entry)
            if author is not None:
                found[author.handle.lower()] = author
    for handle, entry in config.content.authors.items():
        found[handle.lower()] = Author(handle, entry.name or handle, entry.role, entry.subscribable)
    return found


def _parse(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".toml":
        return tomllib.loads(text)
    if path.suffix == ".json":
        return json.loads(text)
    import yaml  # here: most sites keep no authors data

    return yaml.load(text, Loader=yaml.CSafeLoader)


def _is_table_of_authors(data: Mapping[str, Any]) -> bool:
    return bool(data) and all(isinstance(v, Mapping) for v in data.values())


def _author(handle: str, entry: Any) -> Author | None:
    if isinstance(entry, str):
        return Author(handle, one_line(entry) or handle)
    if not isinstance(entry, Mapping):
        return None
    name = entry.get("name") or entry.get("display_name") or entry.get("displayname") or handle
    role = entry.get("role") or entry.get("title") or entry.get("job") or ""
    subscribable = entry.get("subscribable", True)
    return Author(handle, one_line(str(name)), one_line(str(role)), subscribable is not False)


def fingerprint(authors: Authors) -> str:
    """A hash of the authors data: when it changes, every file is read again (its names may change)."""
    rows = sorted((a.handle.lower(), a.name, a.role, a.subscribable) for a in authors.values())
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def apply(parsed: ParsedItem, authors: Authors) -> ParsedItem:
    """``parsed`` with every handle in its authors and sections replaced by the display name (and the role,
    where the file gave none)."""
    if not authors:
        return parsed

    def person(name: str) -> Author | None:
        return authors.get(name.lower())

    if not any(person(n) for n in parsed.authors) and not any(person(s.correspondent) for s in parsed.sections):
        return parsed
    names = tuple(dict.fromkeys((a.name if (a := person(n)) else n) for n in parsed.authors))
    sections = tuple(
        ParsedSection(a.name, s.role or a.role, s.body, s.shared) if (a := person(s.correspondent)) else s
        for s in parsed.sections
    )
    origins = dict(parsed.origins)
    origins["authors"] = f"{origins.get('authors', 'the file')}, names from authors data"
    return _replace(parsed, authors=names, sections=sections, origins=tuple(sorted(origins.items())))


def _replace(parsed: ParsedItem, **changes: Any) -> ParsedItem:
    import dataclasses

    return dataclasses.replace(parsed, **changes)
