"""Markdown engines side by side on the bodies of a real corpus: CommonMark + GFM tables, strikethrough and
autolinks, raw HTML passed through (nh3 sanitizes after), as publisher needs them.

    .venv/bin/python -m pip install markdown-it-py cmarkgfm pyromark markdown-it-pyrs
    .venv/bin/python bench/markdown.py /work/corpora/rust-blog/content

Prints, per engine that is installed: seconds for all bodies (best of 3), MB/s, and how many documents
differ from cmark-gfm's output once whitespace between tags is ignored (a rough conformance signal; the
golden files are the real check). pulldown-cmark (pyromark) has no GFM autolink literals (bare
``www.``/``https://`` text becomes no link), which counts against it below.
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

_FRONT = re.compile(r"\A(?:\+\+\+\n.*?\n\+\+\+|---\n.*?\n---)\n", re.S)
_WS = re.compile(r">\s+<")


def bodies(folder: Path) -> list[str]:
    out = []
    for path in sorted(folder.rglob("*.md")):
        text = path.read_text(encoding="utf-8", errors="replace")
        out.append(_FRONT.sub("", text, count=1))
    return out


def engines() -> dict[str, Callable[[str], str]]:
    found: dict[str, Callable[[str], str]] = {}
    try:
        from markdown_it import MarkdownIt

        md = MarkdownIt("commonmark", {"html": True, "linkify": True}).enable(["table", "strikethrough"])
        with contextlib.suppress(Exception):  # linkify needs linkify-it-py
            md.enable("linkify")
        found["markdown-it-py"] = md.render
    except ImportError:
        pass
    try:
        import cmarkgfm
        from cmarkgfm.cmark import Options

        opts = Options.CMARK_OPT_UNSAFE
        exts = ["table", "strikethrough", "autolink"]
        found["cmarkgfm"] = lambda s: cmarkgfm.markdown_to_html_with_extensions(s, options=opts, extensions=exts)
    except ImportError:
        pass
    try:
        import pyromark

        popts = pyromark.Options.ENABLE_TABLES | pyromark.Options.ENABLE_STRIKETHROUGH
        found["pyromark"] = lambda s: pyromark.html(s, options=popts)
    except ImportError:
        pass
    try:
        import markdown_it_pyrs

        rs = markdown_it_pyrs.MarkdownIt("commonmark").enable_many(["table", "strikethrough", "linkify"])
        found["markdown-it-pyrs"] = rs.render
    except ImportError:
        pass
    return found


def main(argv: list[str]) -> None:
    folder = Path(argv[0] if argv else "/work/corpora/rust-blog/content")
    docs = bodies(folder)
    size = sum(len(d.encode()) for d in docs)
    print(f"{len(docs)} documents, {size / 1e6:.1f} MB of Markdown from {folder}")
    found = engines()
    reference = None
    if "cmarkgfm" in found:
        reference = [_WS.sub("><", found["cmarkgfm"](d)).strip() for d in docs]
    for name, fn in found.items():
        best = float("inf")
        for _ in range(3 if name != "markdown-it-py" else 1):
            t = time.perf_counter()
            out = [fn(d) for d in docs]
            best = min(best, time.perf_counter() - t)
        differ = "-"
        if reference is not None:
            differ = str(sum(1 for a, b in zip(out, reference, strict=True) if _WS.sub("><", a).strip() != b))
        print(f"{name:>17}: {best:7.3f} s  {size / 1e6 / best:7.1f} MB/s  differ from cmark-gfm: {differ}")


if __name__ == "__main__":
    main(sys.argv[1:])
