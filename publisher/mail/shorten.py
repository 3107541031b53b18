"""Shortening a section's HTML between block elements, for digests over the size budget.

A release note cut to fit must still read as one: its headings, lists and code blocks stay what they were.
:func:`cut_html` keeps the section's own markup up to the end of a block element (a paragraph, a list item,
a heading, a code block, a table row), at whatever depth, and closes the elements left open there; so a long
list keeps its first items as a list, and kept blocks are the section's bytes unchanged. Only when the first
block alone is too long is it cut inside: a code block after a whole line, any other block after a word,
closed with an ellipsis.

Sizes are counted in characters of the section's HTML as stored (before CSS inlining and transfer encoding):
the caller measures the rendered digest and chooses the limits.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from html.parser import HTMLParser

# Elements whose end is a place to cut: the reader sees a whole unit before it.
BLOCKS = frozenset(("p", "div", "section", "article", "blockquote", "pre", "ul", "ol", "li", "dl", "dt", "dd",
                    "table", "thead", "tbody", "tfoot", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "figure",
                    "figcaption", "hr", "details", "summary"))  # fmt: skip
HEADINGS = frozenset(("h1", "h2", "h3", "h4", "h5", "h6"))
VOID = frozenset(("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
                  "wbr"))  # fmt: skip
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)[^>]*?(/?)>")


@dataclass(frozen=True)
class _Cut:
    at: int  # offset in the source just after the block's end tag
    heading: bool  # the block that ends there is a heading


@dataclass(frozen=True)
class _Text:
    start: int  # offset of the text in the source
    end: int
    pre: bool  # inside a <pre>


class _Scanner(HTMLParser):
    """Offsets of every block end and every run of text in a fragment."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        self.lines = [0] + [m.end() for m in re.finditer("\n", source)]
        self.cuts: list[_Cut] = []
        self.texts: list[_Text] = []
        self.pre = 0

    def _offset(self) -> int:
        line, column = self.getpos()
        return self.lines[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "pre":
            self.pre += 1
        elif tag == "hr":
            self._block_end(tag, self._offset())

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "hr":
            self._block_end(tag, self._offset())

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
        if tag in BLOCKS:
            self._block_end(tag, self._offset())

    def _block_end(self, tag: str, start: int) -> None:
        end = self.source.find(">", start)
        self.cuts.append(_Cut(len(self.source) if end < 0 else end + 1, tag in HEADINGS))

    def handle_data(self, data: str) -> None:
        start = self._offset()
        end = self.source.find("<", start)
        self.texts.append(_Text(start, len(self.source) if end < 0 else end, self.pre > 0))


def close_open(prefix: str) -> str:
    """The end tags of the elements ``prefix`` leaves open, innermost first."""
    stack: list[str] = []
    for match in _TAG.finditer(prefix):
        closing, tag, selfclosing = match.group(1), match.group(2).lower(), match.group(3)
        if tag in VOID or selfclosing:
            continue
        if not closing:
            stack.append(tag)
        elif tag in stack:
            # Close up to the nearest matching element (the fragment is sanitized: this is the usual case).
            while stack and stack.pop() != tag:
                pass
    return "".join(f"</{tag}>" for tag in reversed(stack))


def cut_html(fragment: str, limit: int) -> tuple[str, bool]:
    """``fragment`` shortened to about ``limit`` characters at a block boundary; (html, whether it was cut).

    The result keeps at least something of the first block (its first words or lines) when ``limit`` > 0.
    """
    if len(fragment) <= limit:
        return fragment, False
    scanner = _Scanner(fragment)
    scanner.feed(fragment)
    scanner.close()
    fits = [c for c in scanner.cuts if c.at <= limit]
    # A heading with nothing under it reads as a mistake: end on the block before it instead.
    while fits and fits[-1].heading and len(fits) > 1:
        fits.pop()
    if fits and not fits[-1].heading:
        prefix = fragment[: fits[-1].at]
        return prefix + close_open(prefix), True
    return _cut_inside(fragment, scanner.texts, limit), True


def _cut_inside(fragment: str, texts: list[_Text], limit: int) -> str:
    """The first block is too long: keep its first lines (code) or words (prose), then close what is open."""
    starts = [t.start for t in texts]
    index = bisect_right(starts, max(limit, 0)) - 1
    at = 0
    for text in reversed(texts[: index + 1]) if index >= 0 else ():
        stop = min(text.end, limit)
        raw = fragment[text.start : stop]
        breaks = "\n" if text.pre else " \n\t"
        point = max(raw.rfind(c) for c in breaks)
        if point > 0:
            at = text.start + point
            break
    if at == 0:
        # Not even one word fits: keep the first run of text whole rather than nothing.
        at = texts[0].end if texts else len(fragment)
        while at > 0 and fragment[at - 1] in " \n\t":
            at -= 1
    prefix = fragment[:at].rstrip(" \t")
    inside_pre = any(t.pre and t.start <= at <= t.end for t in texts)
    if not inside_pre:
        prefix = prefix.rstrip(" ,;:.-\n") + "…"
    elif not prefix.endswith("\n"):
        prefix += "\n"
    return prefix + close_open(prefix)
