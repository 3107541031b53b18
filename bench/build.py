"""Build benchmark beside Hugo doing the same work: feeds only, full content, newest 50 entries.

    .venv/bin/python bench/build.py                                  # 10,000 generated posts + the real blog
    .venv/bin/python bench/build.py --posts 2000 --corpus ''         # generated posts only, quicker
    PUBLISHER_BENCH_CORPUS=/work/corpora/rust-blog/content .venv/bin/python bench/build.py

Both tools read the same prepared copy of each corpus (made before any clock starts): the generated posts
(bench/corpus.py), and a real public blog taken from its public repository, never committed (the Rust blog,
Zola front matter; ``--corpus`` or ``PUBLISHER_BENCH_CORPUS`` names another folder). The copy holds only the
Markdown files; a Zola post whose date is only in ``path = "2024/01/02/slug"`` gets ``date = 2024-01-02``
and a Jekyll ``author: X`` becomes ``authors: [X]``, so both tools see the same dates and authors.

Hugo's work: ``outputs`` home = ["RSS"], term = ["RSS"], page = [] (no HTML pages, no sections, no taxonomy
lists), taxonomies ``categories`` and ``authors``, and an ``rss.xml`` template emitting ``.Content`` of the
newest 50 entries. publisher's work: the site, category and correspondent feeds (default config: Atom, RSS
and JSON Feed, so three files per feed), tag feeds off.

Two cold rows for publisher: its default work (Atom, RSS and JSON Feed: three files per feed, with their
archive pages), and "RSS only" (``[feeds] formats = ["rss"]``), the same feed files Hugo writes, which is the
row the ratio target is read from (publisher still keeps its store and writes its RFC 5005 archive pages,
which Hugo does not). A third row, "libraries", times the work no design in Python can skip, in the same
worker pool layout: reading every file, its front matter (PyYAML's C loader, tomllib), CommonMark
(cmark-gfm) and sanitizing (nh3), nothing stored or written; it tells how much of publisher's time is its
own. A fourth, "floor", adds up the CPU the cold RSS-only work costs with no code of publisher's at all:
that libraries' share, SQLite building the same store and the kernel writing the same feed files
(bench/native.py), each the least of up to three rounds, beside Hugo's own CPU for its cold build. Over the cores,
it is the shortest wall time any build doing this work with these libraries can take on the machine: a cold
target below it cannot be met by any code on top.

Cold means no state and no output: before each cold build the previous run's are moved aside, for both
tools, and deleted when the bench ends (see :func:`set_aside`).

Figures: wall time of the whole command (process start to exit), best of ``--rounds``, and the peak of the
summed PSS of the command's process tree (sampled every 50 ms, so pool workers and a forked child count;
the peak of the summed RSS, sampled every 10 ms, beside it for the cold builds). PSS, not RSS, is the
measure the target is read from: a full build's second feed writer is a fork, whose pages are its parent's
until either writes them, and summed RSS counts each such page twice. The tools compared
take turns round by round (:func:`best_interleaved`), and every timed run starts with no dirty pages left by
the one before (:func:`run`). "new post": one post
added to the 10,000, then the `publisher build` command against a full Hugo rebuild (Hugo has no
incremental CLI build), best of ``--rounds``, each round adding one post that both then build
(:func:`new_post_rounds`), the ratio to three decimals: with the default formats
(three files per feed), and RSS only, Hugo's work, the row the target is read from (after a build that
switches the store and output to RSS only, not timed); and the daemon's in-process path
(``build(changed=...)`` after a warm start, default formats, median of 21 posts: a few of them also make an
archive page). The byte budget (largest feed file against ``feeds.max_bytes``) and the W3C feed validator
over the current feeds and archive pages (bench/validate.py; needs ``FEEDVALIDATOR``, see there) look at the
default formats' output, before the switch.

Targets: cold ≤ 1.0x Hugo on both corpora; ≤ 100 MB peak; new post: command ≤ 0.1x Hugo's rebuild and the
in-process path ≤ 50 ms; no feed over budget; validator 0 errors, 0 warnings.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import tomllib
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from corpus import generate, new_post  # noqa: E402
from native import children_cpu, files_copy, store_copy  # noqa: E402

from publisher.processes import cores  # noqa: E402

# The command an operator types: the `publisher` script installed beside this interpreter, as Hugo is its own
# executable (`python -m publisher` also loads runpy: 7-20 ms more per run). `-m` where no script is installed.
_SCRIPT = Path(sys.executable).with_name("publisher")
PUBLISHER = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "publisher"]
# New posts are dated just before the run: after the whole corpus, and not in the future (the validator
# warns about dates ahead of its clock).
NOW = datetime.now().replace(microsecond=0) - timedelta(hours=1)
DEFAULT_CORPUS = "/work/corpora/rust-blog/content"
FV_PYTHON = "/work/tools/fv-venv/bin/python"
FV_SRC = "/work/tools/feedvalidator/src"

HUGO_CONFIG = """baseURL = "https://news.example.org/"
title = "Bench News"
disableKinds = ["sitemap", "robotsTXT", "404"]
[outputs]
home = ["RSS"]
term = ["RSS"]
page = []
section = []
taxonomy = []
[taxonomies]
category = "categories"
author = "authors"
"""
# Hugo's own RSS template, but for every entry: the full .Content, the newest 50.
HUGO_RSS = """{{- $pctx := . -}}
{{- if .IsHome -}}{{ $pctx = .Site }}{{- end -}}
{{- $pages := slice -}}
{{- if .IsHome -}}{{- $pages = $pctx.RegularPages -}}{{- else -}}{{- $pages = $pctx.Pages -}}{{- end -}}
{{- $pages = first 50 $pages -}}
{{- printf "<?xml version=\\"1.0\\" encoding=\\"utf-8\\" standalone=\\"yes\\"?>" | safeHTML }}
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">
  <channel>
    <title>{{ if eq .Title .Site.Title }}{{ .Site.Title }}{{ else }}{{ .Title }} on {{ .Site.Title }}{{ end }}</title>
    <link>{{ .Permalink }}</link>
    <description>Recent content</description>
    {{ with .OutputFormats.Get "RSS" -}}
    {{ printf "<atom:link href=%q rel=\\"self\\" type=%q />" .Permalink .MediaType | safeHTML }}
    {{- end }}
    {{- range $pages }}
    <item>
      <title>{{ .Title }}</title>
      <link>{{ .Permalink }}</link>
      <pubDate>{{ .Date.Format "Mon, 02 Jan 2006 15:04:05 -0700" | safeHTML }}</pubDate>
      <guid>{{ .Permalink }}</guid>
      <description>{{ .Content | html }}</description>
    </item>
    {{- end }}
  </channel>
</rss>
"""
PUBLISHER_CONFIG = """[site]
title = "Bench News"
base_url = "https://news.example.org/"
timezone = "UTC"
[paths]
content = "content"
[content]
exclude = []
"""
# The same feed files as Hugo's: one RSS document per feed.
RSS_ONLY = """[feeds]
formats = ["rss"]
"""

_ZOLA_PATH = re.compile(r'^path\s*=\s*"/?(\d{4})/(\d{2})/(\d{2})/', re.M)
_YAML_AUTHOR = re.compile(r'^author:\s*(".*")\s*$', re.M)


# -- corpora ---------------------------------------------------------------------------------------------


def prepare_text(text: str) -> str:
    """The same post, with the date and authors both tools can read (see the module docstring)."""
    if text.startswith("+++"):
        end = text.find("\n+++", 3)
        head = text[:end]
        if end > 0 and not re.search(r"^date\s*=", head, re.M):
            m = _ZOLA_PATH.search(head)
            if m:
                return f"+++\ndate = {m[1]}-{m[2]}-{m[3]}" + text[3:]
        return text
    if text.startswith("---"):
        end = text.find("\n---", 3)
        if end > 0:
            head = _YAML_AUTHOR.sub(lambda m: f"authors: [{m[1]}]", text[:end], count=1)
            return head + text[end:]
    return text


def copy_corpus(src: Path, dst: Path) -> int:
    """Copy the Markdown files of ``src`` into ``dst``, prepared; returns the number of files."""
    n = 0
    for path in sorted(src.rglob("*.md")):
        rel = path.relative_to(src)
        if any(part.startswith(".") for part in rel.parts):
            continue
        out = dst / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(prepare_text(path.read_text(encoding="utf-8", errors="replace")), encoding="utf-8")
        n += 1
    return n


def make_site(folder: Path, source: Path | None, posts: int) -> tuple[int, int]:
    """A site folder for both tools: (files, bytes of Markdown)."""
    if folder.exists():
        shutil.rmtree(folder)
    content = folder / "content"
    if source is None:
        raw = folder / "raw"
        generate(raw, posts)
        copy_corpus(raw, content)
        for txt in sorted(raw.rglob("*.txt")):  # briefs: publisher reads them, Hugo does not
            out = content / txt.relative_to(raw)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(txt, out)
        shutil.rmtree(raw)
    else:
        copy_corpus(source, content)
    (folder / "publisher.toml").write_text(PUBLISHER_CONFIG, encoding="utf-8")
    (folder / "publisher-rss.toml").write_text(PUBLISHER_CONFIG + RSS_ONLY, encoding="utf-8")
    (folder / "hugo.toml").write_text(HUGO_CONFIG, encoding="utf-8")
    rss = folder / "layouts" / "_default" / "rss.xml"
    rss.parent.mkdir(parents=True, exist_ok=True)
    rss.write_text(HUGO_RSS, encoding="utf-8")
    files = [p for p in content.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


# -- measuring -------------------------------------------------------------------------------------------


def _tree_kb(pid: int, *, pss: bool) -> int:
    """Summed RSS (kB) of ``pid`` and all its descendants, from /proc; with ``pss``, summed PSS instead: each
    page shared by several processes counted once in all, in shares (a forked child's pages are its
    parent's until either writes them, and RSS counts them in both)."""
    total, stack = 0, [pid]
    name, field = ("smaps_rollup", "Pss:") if pss else ("status", "VmRSS:")
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/{name}", encoding="ascii") as f:
                for line in f:
                    if line.startswith(field):
                        total += int(line.split()[1])
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children", encoding="ascii") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


# The split publisher's build prints: "(12.34s: scan 5.67s, feeds 6.67s)"
_SPLIT = re.compile(r"\(([\d.]+)s: scan ([\d.]+)s, feeds ([\d.]+)s\)")
LAST_SPLIT: list[str] = []
LAST_RSS: list[float] = []  # the summed RSS peak (MB) of the last run
LAST_CPU: list[float] = []  # the CPU seconds (user and system) of the last run's whole process tree


def run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run a command to its end; (seconds, peak summed PSS of its process tree in MB). The peak summed RSS is
    kept in LAST_RSS, and the scan/feeds split a publisher build prints in LAST_SPLIT. RSS is sampled every
    10 ms; PSS, which the kernel works out page by page, every 50 ms (every 10 ms it took a tenth of a core
    from the measured run).

    The dirty pages left by the run before are written out first, untimed (``os.sync``), so no run pays for
    another's writes: publisher fsyncs its store and the feeds it replaces, and on ext4 an fsync waits for
    the journal commit, which carries whatever is dirty at that moment. Measured on the one-post command,
    with 300 MB left dirty before it: 0.40–0.71 s, against 0.26–0.30 s from a clean start. Hugo does not
    fsync, so the same step costs it nothing either way."""
    os.sync()
    before = children_cpu()
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    peak = [0, 0]  # PSS, RSS
    done = threading.Event()

    def sample() -> None:
        for n in itertools.count():
            if done.is_set():
                break
            if n % 5 == 0:
                peak[0] = max(peak[0], _tree_kb(proc.pid, pss=True))
            peak[1] = max(peak[1], _tree_kb(proc.pid, pss=False))
            done.wait(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    elapsed = time.perf_counter() - started
    m = _SPLIT.search(out.decode(errors="replace"))
    LAST_SPLIT[:] = [f"scan {m[2]} s + feeds {m[3]} s"] if m else []
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{err.decode(errors='replace')[-3000:]}")
    LAST_RSS[:] = [peak[1] / 1024]
    LAST_CPU[:] = [children_cpu() - before]
    return elapsed, peak[0] / 1024


_SET_ASIDE = itertools.count()


def set_aside(folder: Path, *subs: str) -> None:
    """Move a previous run's output out of the way of a cold build, into ``trash/`` beside the sites, emptied
    only when the bench ends (:func:`empty_trash`). Deleting 1,500 files just before a build that makes
    1,500 files costs that build up to a second on ext4, whose inode allocator then walks past the inodes
    it has just freed (``recently_deleted`` in ``__ext4_new_inode``, 15 % of a feed phase's samples under
    perf): a cost of the bench's clean-up, not of either tool's work."""
    trash = folder.parent / "trash"
    for sub in subs:
        if (folder / sub).exists():
            trash.mkdir(exist_ok=True)
            (folder / sub).rename(trash / f"{folder.name}-{sub}-{next(_SET_ASIDE)}")


def empty_trash(work: Path) -> None:
    shutil.rmtree(work / "trash", ignore_errors=True)


def publisher_cold(folder: Path, conf: str = "publisher.toml") -> tuple[float, float]:
    set_aside(folder, "state", "public")
    return run([*PUBLISHER, "--config", str(folder / conf), "build"])


def libraries_cold(folder: Path) -> tuple[float, float]:
    """bench/floor.py over the site's content: the libraries' share of a cold scan, on every core."""
    return run([sys.executable, str(HERE / "floor.py"), str(folder / "content")])


def publisher_build(folder: Path, conf: str = "publisher.toml") -> tuple[float, float]:
    return run([*PUBLISHER, "--config", str(folder / conf), "build"])


def best_interleaved(runs: dict[str, object], rounds: int) -> dict[str, tuple[float, float, str, float]]:
    """Best time, highest peak (PSS), the split of the best round and the highest peak of summed RSS, of each
    of ``runs`` (name → a function that runs once and returns (seconds, MB)). The rounds take turns (a, b,
    c, a, b, c...), so a tool compared with another meets the same machine: this one's speed moves by up to
    2x for tens of seconds (another tenant), and timing all of one tool's rounds before all of the other's
    read that as a gap between them."""
    results: dict[str, list[tuple[float, float, str, float]]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, fn in runs.items():
            seconds, mb = fn()  # type: ignore[operator]
            results[name].append((seconds, mb, LAST_SPLIT[0] if LAST_SPLIT else "", LAST_RSS[0]))
    return {
        name: (min(rs)[0], max(r[1] for r in rs), min(rs)[2], max(r[3] for r in rs)) for name, rs in results.items()
    }


def new_post_rounds(folder: Path, hugo: str, rounds: int, first: int, conf: str) -> tuple[float, float, float]:
    """Each round adds one post, then runs Hugo's full rebuild and the `publisher build` command with ``conf``,
    in turns (which one goes first alternates): (publisher's best, its highest peak, Hugo's best).

    Both runs of a round see the same new post, so the command always finds exactly one file it has not
    read, the case the target names (one new post in 10,000). Adding a post before each tool's own run made
    the command find two: its own and the one added for Hugo's run before it."""
    times: dict[str, list[tuple[float, float]]] = {"publisher": [], "hugo": []}
    runs = {
        "publisher": lambda: publisher_build(folder, conf),
        "hugo": lambda: hugo_build(hugo, folder, cold=False),
    }
    for number in range(rounds):
        i = first + number
        new_post(folder / "content", i, when=NOW + timedelta(seconds=i))
        for name in ("hugo", "publisher") if number % 2 == 0 else ("publisher", "hugo"):
            times[name].append(runs[name]())
    mine, theirs = times["publisher"], times["hugo"]
    return min(mine)[0], max(mb for _, mb in mine), min(theirs)[0]


def hugo_build(hugo: str, folder: Path, *, cold: bool) -> tuple[float, float]:
    if cold:
        set_aside(folder, "hugo-public", "resources")
    return run([hugo, "--quiet", "-s", str(folder), "-d", str(folder / "hugo-public")])


def cold_floor(folder: Path, hugo: str, rounds: int) -> tuple[float, float, float, float]:
    """The CPU seconds a cold RSS-only build's work costs with no code of publisher's, each part the least of
    ``rounds``: (the libraries' share, bench/floor.py; SQLite building the same store; the kernel writing the
    same feed files, bench/native.py), and Hugo's own CPU seconds for its cold build, least of ``rounds``.

    Their sum over the cores is the shortest wall time any build doing this work with these libraries can
    take here. Leaves the site as a cold build with the default formats leaves it, as the steps after the
    cold builds expect."""
    publisher_cold(folder, "publisher-rss.toml")
    scratch = folder.parent / "trash"
    scratch.mkdir(exist_ok=True)
    libraries, store, files, hugo_cpu = [], [], [], []
    for n in range(rounds):
        libraries_cold(folder)
        libraries.append(LAST_CPU[0])
        hugo_build(hugo, folder, cold=True)
        hugo_cpu.append(LAST_CPU[0])
        os.sync()
        store.append(store_copy(folder / "state" / "publisher.db", scratch / f"{folder.name}-floor-{n}.db"))
        os.sync()
        files.append(files_copy(folder / "public", scratch / f"{folder.name}-floor-{n}"))
    publisher_cold(folder)
    return min(libraries), min(store), min(files), min(hugo_cpu)


def in_process_new_post(folder: Path, rounds: int = 21) -> float:
    """Median ms of the daemon's path: a warm store, one new post, ``build(changed={path})``."""
    from publisher.config import load
    from publisher.feeds.build import build, warm
    from publisher.store import Store

    config = load(folder / "publisher.toml", must_exist=True)
    times = []
    with Store(config.paths.database) as store:
        build(config, store)  # warm: imports done, caches filled, as in the running daemon
        warm(config, store)
        for i in range(rounds):
            path = new_post(config.paths.content, 500 + i, when=NOW + timedelta(minutes=10 + i))
            t = time.perf_counter()
            report = build(config, store, changed={path.relative_to(config.paths.content).as_posix()})
            times.append((time.perf_counter() - t) * 1000)
            assert len(report.scan.added) == 1, report.scan
    return statistics.median(times)


def feed_sizes(public: Path) -> tuple[int, int, int]:
    """(feed files, largest bytes, files over budget) of the current feeds (archives are not budgeted)."""
    folder = public
    budget = 1 << 20
    conf = public.parent / "publisher.toml"
    feeds = tomllib.loads(conf.read_text(encoding="utf-8")).get("feeds", {})
    budget = int(feeds.get("max_bytes", budget))
    files = [
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix in (".atom", ".rss", ".json") and "-archive-" not in p.name
    ]
    sizes = [p.stat().st_size for p in files]
    return len(files), max(sizes, default=0), sum(1 for s in sizes if s > budget)


def validate(public: Path) -> str:
    """bench/validate.py over the output folder (current feeds and archive pages)."""
    python = os.environ.get("FV_PYTHON", FV_PYTHON)
    src = os.environ.get("FEEDVALIDATOR", FV_SRC)
    if not (Path(python).exists() and Path(src).is_dir()):
        return "validator not available (set FEEDVALIDATOR and FV_PYTHON)"
    proc = subprocess.run(
        [python, str(HERE / "validate.py"), str(public)],
        capture_output=True,
        text=True,
        env=dict(os.environ, FEEDVALIDATOR=src),
    )
    lines = proc.stdout.strip().splitlines()
    problems = lines[:-1]
    for line in problems[:10]:
        print(f"    {line}")
    if len(problems) > 10:
        print(f"    ... {len(problems) - 10} more")
    return lines[-1] if lines else proc.stderr.strip()[-300:]


# -- the run ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument(
        "--corpus",
        default=os.environ.get("PUBLISHER_BENCH_CORPUS", DEFAULT_CORPUS),
        help="a real blog's content folder, outside the repository ('' to skip)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="cold builds per tool; the best counts")
    parser.add_argument("--work", type=Path, default=HERE / "work")
    parser.add_argument("--no-validate", action="store_true")
    args = parser.parse_args()
    hugo = shutil.which("hugo")
    if not hugo:
        raise SystemExit("hugo is not installed: this bench compares against it")
    version = subprocess.run([hugo, "version"], capture_output=True, text=True).stdout.split()[1]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; hugo {version}")
    # An installed publisher has its bytecode: compiled once here, so no timed command compiles its modules
    # (under PYTHONDONTWRITEBYTECODE, every run of an editable install would).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "publisher")], check=True, env=env)
    corpora: list[tuple[str, Path | None]] = [(f"generated {args.posts}", None)]
    if args.corpus:
        if not Path(args.corpus).is_dir():
            raise SystemExit(f"--corpus {args.corpus}: no such folder")
        corpora.append((Path(args.corpus).parent.name or Path(args.corpus).name, Path(args.corpus)))
    empty_trash(args.work)
    ok = True
    for i, (name, source) in enumerate(corpora):
        folder = args.work / f"site-{i}"
        files, size = make_site(folder, source, args.posts)
        print(f"\n== {name}: {files} files, {size / 1e6:.1f} MB ==")
        cold = best_interleaved(
            {
                "hugo": lambda f=folder: hugo_build(hugo, f, cold=True),
                "rss": lambda f=folder: publisher_cold(f, "publisher-rss.toml"),
                "libraries": lambda f=folder: libraries_cold(f),
                "default": lambda f=folder: publisher_cold(f),
            },
            args.rounds,
        )
        (hugo_s, hugo_mb, _, hugo_rss), (rss_s, rss_mb, rss_split, rss_rss) = cold["hugo"], cold["rss"]
        (lib_s, lib_mb, _, _), (pub_s, pub_mb, split, pub_rss) = cold["libraries"], cold["default"]
        ratio = rss_s / hugo_s
        ok &= ratio <= 1.0 and max(pub_mb, rss_mb) <= 100
        print(
            f"  cold      RSS only  {rss_s:6.2f} s {rss_mb:5.0f} MB | hugo {hugo_s:6.2f} s {hugo_mb:5.0f} MB"
            f" | ratio {ratio:.2f}x (target <= 1.0x, <= 100 MB)"
        )
        print(f"            summed RSS: publisher {rss_rss:.0f} MB, hugo {hugo_rss:.0f} MB")
        if rss_split:
            print(f"            publisher's own split: {rss_split} (the rest: start-up, imports, exit)")
        print(
            f"  cold      default   {pub_s:6.2f} s {pub_mb:5.0f} MB | ratio {pub_s / hugo_s:.2f}x"
            f" (Atom, RSS and JSON Feed: three files per feed; summed RSS {pub_rss:.0f} MB)"
        )
        if split:
            print(f"            publisher's own split: {split}")
        print(
            f"  cold      libraries {lib_s:6.2f} s {lib_mb:5.0f} MB | ratio {lib_s / hugo_s:.2f}x"
            " (read, front matter, CommonMark, sanitize; nothing kept)"
        )
        lib_cpu, store_cpu, files_cpu, hugo_cpu = cold_floor(folder, hugo, min(args.rounds, 3))
        floor_cpu = lib_cpu + store_cpu + files_cpu
        cpus = cores()
        print(
            f"  floor     CPU: libraries {lib_cpu:.2f} s + store {store_cpu:.2f} s + files {files_cpu:.2f} s"
            f" = {floor_cpu:.2f} s (hugo {hugo_cpu:.2f} s); over {cpus} cores at least {floor_cpu / cpus:.2f} s"
            f" | ratio {floor_cpu / cpus / hugo_s:.2f}x (the work, RSS only, with no code of publisher's)"
        )
        if source is None:
            # One post more each round, built by both tools in turns; best of --rounds.
            inc_s, inc_mb, re_s = new_post_rounds(folder, hugo, args.rounds, 1000, "publisher.toml")
            daemon_ms = in_process_new_post(folder)
            ok &= daemon_ms <= 50
            print(
                f"  new post  publisher build, default {inc_s:6.2f} s {inc_mb:5.0f} MB | hugo rebuild {re_s:6.2f} s"
                f" | ratio {inc_s / re_s:.3f}x (three files per feed)"
            )
            print(f"  new post  daemon path (in-process, changed path) {daemon_ms:.1f} ms (target <= 50 ms)")
        count, largest, over = feed_sizes(folder / "public")
        ok &= over == 0
        print(f"  budget    {count} current feed files, largest {largest / 1024:.0f} KiB, {over} over budget")
        if not args.no_validate:
            verdict = validate(folder / "public")
            ok &= " 0 errors, 0 warnings" in verdict
            print(f"  validator {verdict}")
        if source is None:
            publisher_build(folder, "publisher-rss.toml")  # the switch to RSS only: a full build, not timed
            rss_inc_s, rss_inc_mb, rss_re_s = new_post_rounds(folder, hugo, args.rounds, 2000, "publisher-rss.toml")
            ok &= rss_inc_s <= 0.1 * rss_re_s
            print(
                f"  new post  publisher build, RSS only {rss_inc_s:6.2f} s {rss_inc_mb:5.0f} MB | hugo rebuild"
                f" {rss_re_s:6.2f} s | ratio {rss_inc_s / rss_re_s:.3f}x (target <= 0.1x; Hugo's work)"
            )
    empty_trash(args.work)
    print(f"\ntargets: {'all met' if ok else 'NOT all met'}")


if __name__ == "__main__":
    main()
