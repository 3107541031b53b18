"""Build benchmark: cold `publisher build` of a generated corpus, then one new post (incremental), with peak
memory; Hugo on the same corpus in the same run when `hugo` is installed.

    .venv/bin/python bench/build.py                 # 10,000 posts, plus 1,000 and 5,000 to show the trend
    .venv/bin/python bench/build.py --sizes 2000    # quicker

Figures: wall time of the whole command (process start to exit) and its peak RSS (from wait4). The incremental
build is measured three ways: the CLI command (includes Python start-up and imports), and in-process after a
warm start (what the daemon does), both with a full folder walk and with the watcher's changed path.
The corpus config turns tag feeds on (Hugo renders tag pages too); the incremental build is also measured with
the default feeds (no tag feeds), where a new post touches fewer feeds.
Targets: cold ≤ Hugo's time and ≤ 100 MB peak; incremental ≤ 100 ms, flat as the corpus grows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from corpus import generate, new_post  # noqa: E402

PUBLISHER = [sys.executable, "-m", "publisher"]

HUGO_LAYOUTS = {
    "_default/baseof.html": '<!doctype html><html><body>{{ block "main" . }}{{ end }}</body></html>',
    "_default/single.html": '{{ define "main" }}<article><h1>{{ .Title }}</h1>{{ .Content }}</article>{{ end }}',
    "_default/list.html": '{{ define "main" }}<ul>{{ range .Pages }}<li><a href="{{ .RelPermalink }}">'
    "{{ .Title }}</a></li>{{ end }}</ul>{{ end }}",
}


def run(cmd: list[str], cwd: Path | None = None) -> tuple[float, float]:
    """Run a command; (seconds, peak RSS in MB) of that one process."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr.read().decode() if proc.stderr else ''}")
    return elapsed, usage.ru_maxrss / 1024


def site(work: Path, n: int) -> Path:
    folder = work / f"site-{n}"
    if folder.exists():
        shutil.rmtree(folder)
    generate(folder / "content", n)
    (folder / "publisher.toml").write_text(
        '[site]\ntitle = "Bench News"\nbase_url = "https://news.example.org/"\ntimezone = "Europe/London"\n'
        '[paths]\ncontent = "content"\n[feeds]\nper_tag = true\n',
        encoding="utf-8",
    )
    (folder / "hugo.toml").write_text(
        'baseURL = "https://news.example.org/"\ntitle = "Bench News"\ndisableKinds = ["sitemap", "robotsTXT"]\n'
        '[taxonomies]\ncategory = "categories"\ntag = "tags"\nauthor = "authors"\n',
        encoding="utf-8",
    )
    for rel, text in HUGO_LAYOUTS.items():
        path = folder / "layouts" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


def in_process_incremental(
    folder: Path, rounds: int = 5, overrides: tuple[str, ...] = (), first: int = 100
) -> tuple[float, float]:
    """Median ms of an incremental build after one new post: (full walk, watcher's path only)."""
    from publisher.config import load
    from publisher.feeds.build import build
    from publisher.store import Store

    config = load(folder / "publisher.toml", must_exist=True, overrides=list(overrides))
    walk, watched = [], []
    with Store(config.paths.database) as store:
        build(config, store)  # warm: imports done, caches filled, as in the running daemon
        for i in range(rounds):
            new_post(config.paths.content, first + i)
            t = time.perf_counter()
            report = build(config, store)
            walk.append((time.perf_counter() - t) * 1000)
            assert len(report.scan.added) == 1, report.scan
            path = new_post(config.paths.content, first + rounds + i)
            t = time.perf_counter()
            report = build(config, store, changed={path.relative_to(config.paths.content).as_posix()})
            watched.append((time.perf_counter() - t) * 1000)
            assert len(report.scan.added) == 1, report.scan
    return statistics.median(walk), statistics.median(watched)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 10000])
    parser.add_argument("--work", type=Path, default=HERE / "work")
    args = parser.parse_args()
    hugo = shutil.which("hugo")
    rows = []
    for n in args.sizes:
        folder = site(args.work, n)
        cmd = [*PUBLISHER, "--config", str(folder / "publisher.toml"), "build"]
        cold, cold_mb = run(cmd)
        new_post(folder / "content", 1)
        incr, incr_mb = run(cmd)
        walk_ms, watched_ms = in_process_incremental(folder)
        files = sum(1 for _ in (folder / "public").rglob("*") if _.is_file())
        _, default_ms = in_process_incremental(folder, overrides=("feeds.per_tag=false",), first=1000)
        hugo_s = hugo_mb = None
        if hugo:
            hugo_s, hugo_mb = run([hugo, "--quiet", "-s", str(folder), "-d", str(folder / "hugo-public")])
        rows.append((n, cold, cold_mb, hugo_s, hugo_mb, incr, incr_mb, walk_ms, watched_ms, default_ms, files))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; hugo: {hugo or 'not installed'}")
    head = (
        f"{'posts':>6} | {'cold s':>7} {'MB':>5} | {'hugo s':>7} {'MB':>5} | {'incr CLI ms':>11} {'MB':>5} |"
        f" {'incr walk ms':>12} {'incr watched ms':>15} {'(no tag feeds)':>14} | {'feed files':>10}"
    )
    print(head)
    print("-" * len(head))
    for n, cold, cold_mb, hugo_s, hugo_mb, incr, incr_mb, walk_ms, watched_ms, default_ms, files in rows:
        hs = f"{hugo_s:7.2f} {hugo_mb:5.0f}" if hugo_s is not None else f"{'-':>7} {'-':>5}"
        print(
            f"{n:>6} | {cold:7.2f} {cold_mb:5.0f} | {hs} | {incr * 1000:11.0f} {incr_mb:5.0f} |"
            f" {walk_ms:12.1f} {watched_ms:15.1f} {default_ms:14.1f} | {files:>10}"
        )


if __name__ == "__main__":
    main()
