"""Which files of the content folder are posts: ``content.include`` / ``content.exclude`` globs, the leaf-bundle
rule, and the rule for undated pages. Pure: paths in, decisions out; the scanner asks and counts.

Globs are matched against the path relative to the content folder, with POSIX separators, the way
``.gitignore`` reads them: a pattern without ``/`` matches a file or folder name at any depth (``README*``,
``_layouts``); a pattern with ``/`` matches from the top of the folder (``drafts/*``, ``**/print/*.md``); a
pattern ending in ``/`` matches a folder and everything in it. ``*`` stays within one name, ``**`` crosses
folders.

The defaults leave out what Jekyll, Hugo and Zola keep beside their posts: the build output and theme
folders, data files, section pages (``_index.md``) and repository files (README, LICENSE...). A folder that
holds an ``index.md`` is a page bundle (Hugo and Zola keep a post as ``slug/index.md`` beside its images): the
other files in it are the post's assets (a form, a transcript), never posts of their own.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

DEFAULT_EXCLUDE: tuple[str, ...] = (
    # Jekyll
    "_site/",
    "_layouts/",
    "_includes/",
    "_sass/",
    "_data/",
    "_plugins/",
    "vendor/",
    "node_modules/",
    # Hugo and Zola, when the content folder is the site's root
    "public/",
    "themes/",
    "layouts/",
    "templates/",
    "archetypes/",
    "static/",
    "resources/",
    "i18n/",
    # section and listing pages, repository files
    "_index.*",
    "README*",
    "LICENSE*",
    "CHANGELOG*",
    "CONTRIBUTING*",
    "CODE_OF_CONDUCT*",
    "404.*",
)
BUNDLE_INDEXES = ("index.md", "index.markdown")
# What undated files are: "pages" (default: a file with front matter and no date anywhere is a page, not a
# post, and is left out; plain text and PDFs take their modification time), "mtime" (every undated file
# takes its modification time) or "skip" (every undated file is left out).
UNDATED_RULES = ("pages", "mtime", "skip")

LEFT_OUT_EXCLUDED = "excluded by content.exclude"
LEFT_OUT_NOT_INCLUDED = "not matched by content.include"
LEFT_OUT_BUNDLE_ASSET = "an asset of a page bundle (beside its index.md)"
LEFT_OUT_UNDATED = "undated page (content.undated)"


@functools.lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(_translate(pattern))


def _translate(pattern: str) -> str:
    """The regular expression, as text, of the glob ``pattern``."""
    folder = pattern.endswith("/")
    body = pattern.strip("/")
    anchored = "/" in body
    out = []
    i = 0
    while i < len(body):
        if body.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif body.startswith("**", i):
            out.append(".*")
            i += 2
        elif body[i] == "*":
            out.append("[^/]*")
            i += 1
        elif body[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(body[i]))
            i += 1
    core = "".join(out)
    prefix = "" if anchored else "(?:.*/)?"
    # A match on a folder takes everything in it; a pattern ending in "/" matches folders only.
    suffix = "/.+" if folder else "(?:/.*)?"
    return f"{prefix}{core}{suffix}"


def matches(relpath: str, pattern: str) -> bool:
    """Whether ``relpath`` (or a folder it is in) matches the glob ``pattern``."""
    return _compile(pattern).fullmatch(relpath) is not None


@functools.lru_cache(maxsize=64)
def _compile_any(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """One expression matching what any of ``patterns`` matches: a walk asks it of every file, and one
    match is much cheaper than two dozen."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{_translate(p)})" for p in patterns))


def left_out(relpath: str, include: Iterable[str], exclude: Iterable[str], *, is_file: bool) -> str | None:
    """Why the file or folder at ``relpath`` is not read (one of the LEFT_OUT_* reasons), or None."""
    excluded = _compile_any(tuple(exclude))
    if excluded is not None and excluded.fullmatch(relpath):
        return LEFT_OUT_EXCLUDED
    included = _compile_any(tuple(include))
    if is_file and included is not None and not included.fullmatch(relpath):
        return LEFT_OUT_NOT_INCLUDED
    return None


def bundle_asset(relpath: str, names_in_folder: Iterable[str]) -> bool:
    """Whether the file is an asset of a page bundle: another file in a (non-top) folder holding an index.md."""
    folder, _, name = relpath.rpartition("/")
    if not folder or name.lower() in BUNDLE_INDEXES:
        return False
    return any(n.lower() in BUNDLE_INDEXES for n in names_in_folder)


def undated_left_out(rule: str, *, has_front_matter: bool) -> bool:
    """Whether an undated file is left out under ``content.undated`` = ``rule``."""
    return rule == "skip" or (rule == "pages" and has_front_matter)
