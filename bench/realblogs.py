"""Real public blogs through publisher, read as a subscriber would: posts published, posts without a date,
what was left out, correspondents, feed sizes, and the W3C validator's verdict on the feeds.

The blogs are never part of this repository: extract them from their public repositories first, e.g.

    cd /work/.mirror
    git --git-dir=rust-lang+blog.rust-lang.org/repo archive HEAD content | tar -x -C /work/corpora/rust-blog
    git --git-dir=jekyll+jekyll/repo archive HEAD docs | tar -x -C /work/corpora/jekyll
    git --git-dir=letsencrypt+website/repo archive HEAD content/en/post | tar -x -C /work/corpora/letsencrypt

then run (FEEDVALIDATOR and VALIDATOR_PYTHON as for bench/validate.py; without them the verdict is skipped):

    FEEDVALIDATOR=/work/tools/feedvalidator/src VALIDATOR_PYTHON=/work/tools/fv-venv/bin/python \\
        .venv/bin/python bench/realblogs.py [CORPORA]

It builds each blog into a temporary site with the publisher found on the import path, so the same script
measures another checkout with PYTHONPATH=/path/to/checkout.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import feedparser

from publisher import config as config_mod
from publisher.feeds.build import build
from publisher.store import Store

BLOGS = {
    # name: (content folder under CORPORA, generator and front matter)
    "rust-blog": ("rust-blog/content", "Zola, TOML, dates only in `path`"),
    "jekyll-posts": ("jekyll/docs/_posts", "Jekyll, YAML, CMS handles"),
    "letsencrypt": ("letsencrypt/content/en/post", "Hugo, YAML, co-authors in one string"),
}
HERE = Path(__file__).resolve().parent


class _Count(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.undated: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "no date found" in message:
            self.undated.add(message.split(":", 1)[0])


def run(name: str, content: Path, label: str) -> dict[str, object]:
    site = Path(tempfile.mkdtemp(prefix=f"realblogs-{name}-"))
    (site / "publisher.toml").write_text(
        f'[site]\ntitle = "{name}"\nbase_url = "https://blog.example.org/"\ntimezone = "UTC"\n'
        f'[paths]\ncontent = "{content}"\n[feeds]\nentries = 20\n',
        encoding="utf-8",
    )
    config = config_mod.load(site / "publisher.toml", environ={}, must_exist=True)
    counter = _Count()
    logging.getLogger("publisher").addHandler(counter)
    logging.getLogger("publisher").setLevel(logging.INFO)
    try:
        with Store(config.paths.database) as store:
            report = build(config, store)
            published = store.scalar("SELECT count(*) FROM items WHERE deleted_at IS NULL")
            people = store.conn.execute(
                "SELECT c.name, count(*) FROM correspondents c JOIN sections s ON s.correspondent_slug = c.slug"
                " JOIN items i ON i.key = s.item_key WHERE i.deleted_at IS NULL GROUP BY c.slug ORDER BY 2 DESC"
            ).fetchall()
            days = store.conn.execute(
                "SELECT substr(published, 1, 10), count(*) FROM items WHERE deleted_at IS NULL GROUP BY 1"
                " ORDER BY 2 DESC LIMIT 1"
            ).fetchone()
    finally:
        logging.getLogger("publisher").removeHandler(counter)
    out = config.paths.output
    feeds = sorted(p for p in out.rglob("*") if p.suffix in (".atom", ".rss", ".json"))
    site_feed = feedparser.parse((out / "feed.atom").read_bytes())
    return {
        "blog": name,
        "shape": label,
        "posts published": published,
        # Published without a date (the scan's own count where it keeps one; else the per-file notes).
        "posts without a date": getattr(report.scan, "undated", len(counter.undated)),
        "busiest day": f"{days[0]} ({days[1]} posts)" if days else "",
        "left out": dict(getattr(report.scan, "left_out", {}) or {}),
        "skipped": len(report.scan.skipped),
        "correspondents": len(people),
        "top correspondents": [f"{n} ({c})" for n, c in people[:6]],
        "feeds": len(feeds),
        "site feed.atom bytes": (out / "feed.atom").stat().st_size,
        "largest feed bytes": max((p.stat().st_size for p in feeds), default=0),
        "all feeds bytes": sum(p.stat().st_size for p in feeds),
        "newest entries": [
            f"{e.get('published', '')[:10]} | {e.title[:60]} | {', '.join(a.name for a in e.get('authors', []))}"
            for e in site_feed.entries[:4]
        ],
        "validator": validate(out),
        "output": str(out),
    }


def validate(out: Path) -> str:
    validator = os.environ.get("FEEDVALIDATOR")
    python = os.environ.get("VALIDATOR_PYTHON", sys.executable)
    if not validator:
        return "not run (set FEEDVALIDATOR)"
    done = subprocess.run(
        [python, str(HERE / "validate.py"), str(out)],
        env={**os.environ, "FEEDVALIDATOR": validator},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else (done.stderr.strip().splitlines() or ["no output"])[-1]


def main() -> None:
    corpora = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/corpora")
    for name, (rel, label) in BLOGS.items():
        content = corpora / rel
        if not content.is_dir():
            print(f"{name}: {content} missing; see the module docstring")
            continue
        result = run(name, content, label)
        print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
