"""The libraries' share of a cold scan: every file of a content folder read, its front matter parsed
(PyYAML's C loader or tomllib), its body rendered by cmark-gfm and sanitized by nh3, in one worker process
per core, as publisher's scan does; nothing is stored, rendered into a feed or written.

    .venv/bin/python bench/floor.py CONTENT_FOLDER

bench/build.py runs it beside Hugo and publisher: what publisher takes beyond this is its own work (readers'
rules, the store, the feeds) and the cost of doing it in Python.
"""

from __future__ import annotations

import os
import sys
import time
import tomllib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cmarkgfm
import nh3
import yaml
from cmarkgfm.cmark import Options

CHUNK = 32


def one(path: str) -> int:
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    body = text
    if text.startswith("---"):
        end = text.find("\n---", 3)
        if end > 0:
            yaml.load(text[3:end], Loader=yaml.CSafeLoader)
            body = text[end + 4 :]
    elif text.startswith("+++"):
        end = text.find("\n+++", 3)
        if end > 0:
            tomllib.loads(text[3:end])
            body = text[end + 4 :]
    html = cmarkgfm.github_flavored_markdown_to_html(body, options=Options.CMARK_OPT_UNSAFE)
    return len(nh3.clean(html))


def chunk(paths: list[str]) -> int:
    return sum(one(p) for p in paths)


def main() -> None:
    root = Path(sys.argv[1])
    started = time.perf_counter()
    paths = sorted(str(p) for p in root.rglob("*") if p.suffix in (".md", ".markdown", ".txt") and p.is_file())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    with ProcessPoolExecutor(cores) as pool:
        out = sum(pool.map(chunk, [paths[i : i + CHUNK] for i in range(0, len(paths), CHUNK)]))
    print(f"{len(paths)} files, {out / 1e6:.1f} MB of HTML in {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
