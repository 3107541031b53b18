"""Front matter: finding it, parsing it (YAML with libyaml, TOML with tomllib), and reading its fields with
the Jekyll and Hugo aliases.

Keys are matched without regard to case (Hugo's way; ``lastMod`` is ``lastmod``), unknown keys and ``layout``
are ignored. A scalar where text is wanted becomes text (``title: 2026``); a list or table where a scalar is
wanted is an error naming the key and its line, because guessing would publish something nobody wrote.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Any, Literal

from publisher.content.readers import dates
from publisher.errors import ContentError
from publisher.text import one_line, xml_safe

if TYPE_CHECKING:
    import yaml

Kind = Literal["yaml", "toml"]
_CLOSERS: dict[Kind, tuple[str, ...]] = {"yaml": ("---", "..."), "toml": ("+++",)}
_TOML_LINE = re.compile(r"line (\d+)")
_LIST_SEPARATOR = re.compile(r"\s*,\s*")
_TRUE = frozenset(("true", "yes", "on", "1"))
_FALSE = frozenset(("false", "no", "off", "0", ""))

# Aliases in order of preference; the first one present wins.
TITLE = ("title",)
DATE = ("date", "publishdate", "pubdate")
UPDATED = ("updated", "lastmod", "last_modified_at", "modified")
AUTHORS = ("authors", "author")
SUMMARY = ("excerpt", "summary", "description")
IMAGE = ("image", "images", "cover")
PERMALINK = ("permalink", "url")
# Where a site that writes no date keeps it: Zola's `path = "2024/02/28/slug"`, a dated permalink or alias.
DATED_PATHS = ("path", "permalink", "url", "aliases")


@dataclass(frozen=True)
class Split:
    """A file cut at its fences: the front matter source and the body after the closing fence."""

    kind: Kind
    source: str
    body: str
    first_line: int  # the file line of the front matter's first line (the one after the opening fence)


@dataclass(frozen=True)
class Meta:
    """The fields a reader takes from front matter; None (or empty) where the file says nothing."""

    title: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    summary: str = ""
    image: str | None = None
    permalink: str | None = None
    draft: bool = False
    key: str | None = None
    slug: str | None = None
    path_date: date | None = None  # the date of a DATED_PATHS value, when there is no date key
    # Which front-matter key gave each field: ("title", "title"), ("published", "date")...
    keys: tuple[tuple[str, str], ...] = ()


def fence(text: str) -> Kind | None:
    """ "yaml" if ``text`` opens with a ``---`` line, "toml" for ``+++``, else None."""
    if text.startswith("---"):
        kind: Kind = "yaml"
    elif text.startswith("+++"):
        kind = "toml"
    else:
        return None
    newline = text.find("\n")
    first = text[3:] if newline == -1 else text[3:newline]
    return kind if not first.strip() else None


def split(path: str, text: str, kind: Kind) -> Split:
    """Cut ``text`` (which :func:`fence` recognised) at its closing fence."""
    closers = _CLOSERS[kind]
    start = text.find("\n") + 1
    if start == 0:
        raise ContentError(path, f"front matter is not closed (no second {closers[0]!r} line)", line=1)
    pos = start
    length = len(text)
    while True:
        end = text.find("\n", pos)
        if end == -1:
            end = length
        if text.startswith(closers, pos) and not text[pos + 3 : end].strip():
            return Split(kind=kind, source=text[start:pos], body=text[end + 1 :], first_line=2)
        if end >= length:
            raise ContentError(path, f"front matter is not closed (no second {closers[0]!r} line)", line=1)
        pos = end + 1


def parse(path: str, part: Split) -> dict[str, Any]:
    """The front matter as a mapping with lower-case keys. Raises ContentError with the line of a syntax error."""
    if part.kind == "toml":
        return _toml(path, part)
    simple = _simple_yaml(part.source)
    if simple is not None:
        return _mapping(path, part, simple)
    import yaml  # here: front matter of one line per plain key is read without it

    try:
        # The C loader: the pure-Python one is several times slower, and 10,000 files add up.
        raw = _yaml(part.source)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = part.first_line + mark.line if mark is not None else part.first_line
        reason = one_line(f"{exc.problem or ''} {exc.context or ''}") or "syntax error"
        raise ContentError(path, f"malformed YAML front matter: {reason}", line=line) from exc
    except Exception as exc:  # libyaml raises a few plain errors too (bad dates, deep nesting)
        reason = one_line(str(exc))[:200] or type(exc).__name__
        line = _failing_line(part, type(exc))
        raise ContentError(path, f"malformed YAML front matter: {reason}", line=line or part.first_line) from exc
    return _mapping(path, part, raw)


def _toml(path: str, part: Split) -> dict[str, Any]:
    import tomllib  # here: most sites write YAML, and a scan's worker processes need not hold it

    try:
        raw = tomllib.loads(part.source)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_LINE.search(str(exc))
        # Without a line number the error is "at end of document": the last line of the front matter.
        last = part.first_line + max(part.source.count("\n") - 1, 0)
        line = part.first_line + int(found[1]) - 1 if found else last
        reason = one_line(_TOML_LINE.sub("", str(exc)).replace("(at , column", "(column"))
        raise ContentError(path, f"malformed TOML front matter: {reason}", line=line) from exc
    except Exception as exc:  # tomllib raises a few plain errors too (deep nesting)
        reason = one_line(str(exc))[:200] or type(exc).__name__
        raise ContentError(path, f"malformed TOML front matter: {reason}", line=part.first_line) from exc
    return _mapping(path, part, raw)


def _mapping(path: str, part: Split, raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ContentError(path, f"front matter is {_kind(raw)}, not a mapping of keys", line=part.first_line)
    return {key.lower(): value for key, value in raw.items() if isinstance(key, str)}


def _yaml(source: str) -> Any:
    """``yaml.load(source, Loader=yaml.CSafeLoader)``, faster: the libyaml parser's nodes are made into plain
    strings, lists and dicts here, and only other scalars (dates, numbers, booleans) go through PyYAML's
    constructor, whose bookkeeping per node costs as much as the parsing. Anything else (aliases used twice,
    merge keys, other tags, unhashable keys) is left to PyYAML whole, so the result and errors stay its own."""
    import yaml

    loader = yaml.CSafeLoader(source)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        try:
            return _plain(loader, node, set())
        except _NotPlain:
            return loader.construct_document(node)
    finally:
        loader.dispose()


class _NotPlain(Exception):
    pass


_STR, _SEQ, _MAP = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"
# The other scalars YAML 1.1 resolves plain text to, built by PyYAML's own constructors.
_SCALARS = frozenset(f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "timestamp"))


def _plain(loader: yaml.CSafeLoader, node: yaml.Node, seen: set[int]) -> Any:
    kind = node.id  # PyYAML's name for the node's class: "scalar", "sequence" or "mapping"
    if kind == "scalar":
        if node.tag == _STR:
            return node.value
        if node.tag in _SCALARS:
            return loader.construct_object(node)
        raise _NotPlain
    if id(node) in seen:  # an alias of a list or table (or one inside itself): PyYAML shares the object
        raise _NotPlain
    seen.add(id(node))
    if kind == "sequence" and node.tag == _SEQ:
        return [_plain(loader, item, seen) for item in node.value]
    if kind == "mapping" and node.tag == _MAP:
        table = {}
        for key_node, value_node in node.value:
            if key_node.id != "scalar":  # a list or table as a key: PyYAML refuses it, its way
                raise _NotPlain
            table[_plain(loader, key_node, seen)] = _plain(loader, value_node, seen)
        return table
    raise _NotPlain


_KEY_LINE = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*):(?: +(.*))?")
_WORD = r"[A-Za-z][A-Za-z0-9_.-]*(?: [A-Za-z0-9_.-]+)*"
_PLAIN = re.compile(_WORD)
_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9 _.,'()/!?&+-]*")
_INT = re.compile(r"0|[1-9][0-9]*")
_STAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})(Z|[+-][0-9]{2}:[0-9]{2})?)?"
)
_BOOLS = {
    **dict.fromkeys(("yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    **dict.fromkeys(("no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
}
_NULLS = frozenset(("~", "null", "Null", "NULL"))
_NOT_TEXT = frozenset(_BOOLS) | _NULLS


class _Unsure(Exception):
    pass


def _simple_yaml(source: str) -> dict[str, Any] | None:
    """Front matter written as one ``key: value`` line per key, read without PyYAML (whose import costs a
    command more than reading one file): quoted text without escapes, plain words, whole numbers, booleans,
    dates and times, and flow lists of words or quoted text, each made into exactly what PyYAML's safe loader
    makes of it. None for anything else (indentation, block lists, comments after a value, escapes, other
    scalars...), which PyYAML reads, with its own errors."""
    table: dict[str, Any] = {}
    for line in source.split("\n"):
        if not line.strip(" ") or line.startswith("#"):
            continue
        if not line.isprintable():
            return None
        m = _KEY_LINE.fullmatch(line.rstrip(" "))
        if m is None or m[1] in _NOT_TEXT:
            return None
        try:
            table[m[1]] = _value(m[2] or "")
        except _Unsure:
            return None
    return table or None


def _value(text: str) -> Any:
    if not text:
        return None
    if text[0] == '"':
        inner = text[1:-1]
        if len(text) < 2 or text[-1] != '"' or '"' in inner or "\\" in inner:
            raise _Unsure
        return inner
    if text[0] == "'":
        inner = text[1:-1]
        if len(text) < 2 or text[-1] != "'" or "'" in inner:
            raise _Unsure
        return inner
    if text[0] == "[":
        if text[-1] != "]":
            raise _Unsure
        inner = text[1:-1].strip(" ")
        if not inner:
            return []
        return [_item(item.strip(" ")) for item in inner.split(",")]
    if text in _BOOLS:
        return _BOOLS[text]
    if text in _NULLS:
        return None
    if _INT.fullmatch(text):
        return int(text)
    stamp = _STAMP.fullmatch(text)
    if stamp is not None:
        return _timestamp(stamp)
    if _TEXT.fullmatch(text) and ": " not in text and " #" not in text and not text.endswith(":"):
        return text
    raise _Unsure


def _item(text: str) -> str:
    """One item of a flow list (split at its commas): plain text, or quoted text without quotes inside."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        inner = text[1:-1]
        if text[0] not in inner and "\\" not in inner:
            return inner
    elif _PLAIN.fullmatch(text) and text not in _NOT_TEXT:
        return text
    raise _Unsure


def _timestamp(m: re.Match[str]) -> date | datetime:
    try:
        year, month, day = int(m[1]), int(m[2]), int(m[3])
        if m[4] is None:
            return date(year, month, day)
        tz = None
        if m[7] == "Z":
            tz = UTC
        elif m[7]:
            delta = timedelta(hours=int(m[7][1:3]), minutes=int(m[7][4:6]))
            tz = timezone(-delta if m[7][0] == "-" else delta)
        return datetime(year, month, day, int(m[4]), int(m[5]), int(m[6]), tzinfo=tz)
    except ValueError:
        raise _Unsure from None


def _failing_line(part: Split, error: type[BaseException]) -> int | None:
    """The line of a value libyaml read but could not build (``date: 2026-02-30``), which its error does not
    say: the first top-level line that fails the same way when loaded on its own. Only run on the error path."""
    import yaml

    for number, line in enumerate(part.source.split("\n")):
        if not line[:1].strip() or ":" not in line:
            continue
        try:
            yaml.load(line, Loader=yaml.CSafeLoader)
        except Exception as exc:
            if isinstance(exc, error):
                return part.first_line + number
    return None


def extract(path: str, part: Split, meta: Mapping[str, Any], tz: tzinfo) -> Meta:
    """The fields of ``meta`` (from :func:`parse`) that publisher uses, checked and cleaned."""
    fields = _Fields(path, part, meta)
    published = fields.when(DATE, tz)
    path_date = None
    if published is None:
        path_date, dated_key = _dated_path(meta)
        if path_date is not None:
            fields.used["published"] = dated_key
    return Meta(
        title=fields.text(TITLE, line=True),
        published=published,
        updated=fields.when(UPDATED, tz),
        authors=fields.names(AUTHORS),
        categories=_unique(fields.words(("categories",), split=True) + fields.words(("category",), split=False)),
        tags=_unique(fields.words(("tags",), split=True) + fields.words(("tag", "keywords"), split=False)),
        summary=(fields.text(SUMMARY, line=False) or "").strip(),
        image=fields.image(),
        permalink=fields.text(PERMALINK, line=True),
        draft=fields.flag("draft", default=False) or not fields.flag("published", default=True),
        key=fields.text(("id",), line=True),
        slug=fields.text(("slug",), line=True),
        path_date=path_date,
        keys=tuple(fields.used.items()),
    )


def _dated_path(meta: Mapping[str, Any]) -> tuple[date | None, str]:
    for key in DATED_PATHS:
        value = meta.get(key)
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str):
                found = dates.from_url_path(text)
                if found is not None:
                    return found, key
    return None, ""


_FIELD_OF = {TITLE: "title", DATE: "published", UPDATED: "updated", SUMMARY: "summary", PERMALINK: "permalink"}


class _Fields:
    """Reading typed values out of a front-matter mapping; errors name the key and, if found, its line."""

    def __init__(self, path: str, part: Split, meta: Mapping[str, Any]) -> None:
        self.path = path
        self.part = part
        self.meta = meta
        self.used: dict[str, str] = {}  # field → the key that gave it

    def first(self, aliases: tuple[str, ...]) -> tuple[str, Any]:
        for key in aliases:
            value = self.meta.get(key)
            if value is not None and value != "" and value != []:
                return key, value
        return aliases[0], None

    def error(self, key: str, reason: str) -> ContentError:
        # `key: value` (YAML), `key = value` (TOML), or a TOML table header `[key]`.
        pattern = rf"(?im)^[ \t]*\[*[ \t]*['\"]?{re.escape(key)}['\"]?[ \t]*[:=\].]"
        found = re.search(pattern, self.part.source)
        line = self.part.first_line + self.part.source.count("\n", 0, found.start()) if found else None
        return ContentError(self.path, f"front matter {key!r}: {reason}", line=line)

    def scalar(self, key: str, value: Any) -> str:
        if isinstance(value, str):
            return xml_safe(value)
        if isinstance(value, bool | int | float | date | time):
            return str(value)
        raise self.error(key, f"expected text, got {_kind(value)}")

    def text(self, aliases: tuple[str, ...], *, line: bool) -> str | None:
        key, value = self.first(aliases)
        if value is None:
            return None
        self.used.setdefault(_FIELD_OF.get(aliases, aliases[0]), key)
        text = self.scalar(key, value)
        text = one_line(text) if line else text
        return text or None

    def when(self, aliases: tuple[str, ...], tz: tzinfo) -> datetime | None:
        key, value = self.first(aliases)
        try:
            if value is None:
                return None
            self.used.setdefault(_FIELD_OF.get(aliases, aliases[0]), key)
            if isinstance(value, datetime | date):
                return dates.to_aware(value, tz)
            if isinstance(value, str):
                return dates.parse(value, tz)
        except ValueError as exc:
            raise self.error(key, str(exc)) from exc
        raise self.error(key, f"expected a date, got {_kind(value)}")

    def names(self, aliases: tuple[str, ...]) -> tuple[str, ...]:
        key, value = self.first(aliases)
        if value is not None:
            self.used.setdefault("authors", key)
        items = value if isinstance(value, list) else [] if value is None else [value]
        out = []
        for item in items:
            if isinstance(item, dict):
                # Jekyll themes write `author: {name: ..., email: ...}`.
                name = item.get("name") or item.get("display_name")
                if name is None:
                    raise self.error(key, "an author given as a table needs a 'name'")
                item = name
            text = one_line(self.scalar(key, item))
            if text:
                out.append(text)
        return _unique(tuple(out))

    def words(self, aliases: tuple[str, ...], *, split: bool) -> tuple[str, ...]:
        key, value = self.first(aliases)
        if value is None:
            return ()
        if isinstance(value, list):
            parts = [self.scalar(key, item) for item in value]
        elif isinstance(value, str) and split:
            # Jekyll: `tags: ports trade` is two tags; a comma-separated string is the common mistake.
            text = xml_safe(value)
            parts = _LIST_SEPARATOR.split(text) if "," in text else text.split()
        else:
            parts = [self.scalar(key, value)]
        return tuple(word for word in (one_line(part) for part in parts) if word)

    def image(self) -> str | None:
        key, value = self.first(IMAGE)
        if isinstance(value, list):  # Hugo's `images` list: the first is the feature image
            value = value[0] if value else None
        if isinstance(value, dict):  # `image: {path: ..., alt: ...}` in some Jekyll themes
            value = next((value[k] for k in ("path", "url", "src", "feature") if value.get(k)), None)
            if value is None:
                raise self.error(key, "an image given as a table needs a 'path' or 'url'")
        if value is None:
            return None
        return one_line(self.scalar(key, value)) or None

    def flag(self, key: str, *, default: bool) -> bool:
        value = self.meta.get(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        if key == "published" and isinstance(value, date | str):
            return default  # some generators put a date here; it is not a draft switch
        raise self.error(key, f"expected true or false, got {_kind(value)}")


def _unique(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    return f"a {type(value).__name__}"
