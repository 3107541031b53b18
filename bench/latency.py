"""Publish latency of the daemon: a post dropped into the content folder → the site feed file updated.

    .venv/bin/python bench/latency.py                     # 200 drops into 10,000 posts, baseline 50 into 100
    .venv/bin/python bench/latency.py --posts 2000 --drops 50

`publisher run` is started as a subprocess on a generated corpus (bench/corpus.py) and left to finish its
first build (READY=1 on a notify socket). Each drop writes a new post atomically (a hidden temporary file,
then a rename, as editors and sync tools do; ``--in-place``: opened, written and closed under its own
name, as ``cp`` does), dated after the whole corpus so it heads the site feed; the clock starts when the
post is whole under its name (the rename, or the close) and stops when feed.atom holds the post's title
(the file's stat is polled every millisecond, its bytes read when the stat changes). Drops are spaced so
that each is measured alone. The same measurement on a small corpus in the same run shows whether latency
stays flat as the archive grows. The machine's load average is printed beside the figures.

The daemon builds a post as soon as it is whole (inotify: renamed into place, or closed by its writer),
after a 5 ms settle; ``debounce_ms`` is how long a file still open for writing must be quiet before it is
taken as whole (see publisher/service/watcher.py), so it does not enter these figures.

Target: p95 ≤ 100 ms on 10,000 posts (issue 8), with the default debounce_ms = 100.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from corpus import _people, generate, post  # noqa: E402

TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_daemon(site: Path, debounce_ms: int) -> tuple[subprocess.Popen[bytes], socket.socket, float]:
    port = free_port()
    (site / "publisher.toml").write_text(
        f'[site]\ntitle = "Bench"\nbase_url = "http://127.0.0.1:{port}/"\ntimezone = "UTC"\n'
        f'[http]\nlisten = "127.0.0.1:{port}"\n'
        f"[daemon]\ndebounce_ms = {debounce_ms}\nrescan_minutes = 600\n",
        encoding="utf-8",
    )
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(site / "notify.sock"))
    notify.settimeout(600)
    env = dict(os.environ, NOTIFY_SOCKET=str(site / "notify.sock"))
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "publisher", "--config", str(site / "publisher.toml"), "run"],
        cwd=site,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(site / "daemon.log").open("wb"),
    )
    while b"READY=1" not in notify.recv(4096):
        pass
    return proc, notify, time.perf_counter() - started


def drop(content: Path, i: int, when: datetime, in_place: bool = False) -> tuple[str, float]:
    """Write post ``i`` (atomically, or in place); (a string only it holds, the moment it was whole under
    its name)."""
    number = 50_000_000 + i  # in the post's title and slug, and nowhere in the corpus
    rel, text = post(random.Random(1_000_003 * (i + 1)), number, _people(random.Random(1)), when)
    path = content / "drops" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if in_place:
        with path.open("w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            at = time.perf_counter()
        return str(number), at
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    at = time.perf_counter()
    tmp.replace(path)
    return str(number), at


def wait_for_title(feed: Path, needle: bytes, since: float) -> float:
    last = None
    deadline = since + TIMEOUT
    while time.perf_counter() < deadline:
        try:
            st = feed.stat()
        except FileNotFoundError:
            st = None
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino) if st else None
        if stamp != last:
            last = stamp
            if st is not None and needle in feed.read_bytes():
                return time.perf_counter() - since
        time.sleep(0.001)
    raise SystemExit(f"timed out: {needle!r} never reached {feed}")


def measure(posts: int, drops: int, debounce_ms: int, keep: bool, in_place: bool = False) -> dict[str, float]:
    site = Path(tempfile.mkdtemp(prefix=f"publisher-latency-{posts}-"))
    try:
        content = site / "content"
        t = time.perf_counter()
        generate(content, posts)
        gen = time.perf_counter() - t
        proc, notify, ready = start_daemon(site, debounce_ms)
        feed = site / "public" / "feed.atom"
        print(f"  {posts} posts: generated in {gen:.1f}s; daemon ready (first full build) in {ready:.1f}s", flush=True)
        latencies = []
        try:
            # Later than any post of the corpus, a day apart (briefs carry a date, no time), so each new
            # post heads the site feed.
            first = datetime(2040, 1, 1, 6, 0)
            for i in range(drops):
                needle, at = drop(content, i, first + timedelta(days=i), in_place)
                latencies.append(wait_for_title(feed, needle.encode(), at))
                time.sleep(0.15)  # the next drop starts after this one is measured and the daemon is idle
        finally:
            proc.terminate()
            code = proc.wait(timeout=20)
            notify.close()
        if code != 0:
            raise SystemExit(f"daemon exited with {code}; see {site / 'daemon.log'}")
        latencies.sort()
        load = os.getloadavg()[0]
        print(f"  {posts} posts: {drops} drops measured, load average {load:.1f}", flush=True)
        return {
            "load": load,
            "posts": posts,
            "drops": drops,
            "p50": statistics.median(latencies) * 1000,
            "p95": latencies[max(0, round(0.95 * len(latencies)) - 1)] * 1000,
            "max": latencies[-1] * 1000,
            "min": latencies[0] * 1000,
        }
    finally:
        if keep:
            print(f"  kept {site}")
        else:
            shutil.rmtree(site, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--drops", type=int, default=200)
    parser.add_argument("--baseline-posts", type=int, default=100)
    parser.add_argument("--baseline-drops", type=int, default=50)
    parser.add_argument("--debounce-ms", type=int, default=100, help="daemon.debounce_ms (default 100)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary site folders")
    parser.add_argument("--in-place", action="store_true", help="write each post in place instead of renaming")
    args = parser.parse_args()
    how = "written in place" if args.in_place else "renamed into place"
    print(f"publish latency, file drop ({how}) → feed.atom updated (debounce_ms = {args.debounce_ms})", flush=True)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}", flush=True)
    rows = [
        measure(args.baseline_posts, args.baseline_drops, args.debounce_ms, args.keep, args.in_place),
        measure(args.posts, args.drops, args.debounce_ms, args.keep, args.in_place),
    ]
    print(f"\n{'posts':>8} {'drops':>6} {'min ms':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'load':>6}")
    for r in rows:
        print(
            f"{r['posts']:>8} {r['drops']:>6} {r['min']:>8.0f} {r['p50']:>8.0f} {r['p95']:>8.0f} {r['max']:>8.0f}"
            f" {r['load']:>6.1f}"
        )
    target = rows[-1]["p95"]
    print(f"\ntarget p95 ≤ 100 ms on {args.posts} posts: {'met' if target <= 100 else 'MISSED'} ({target:.0f} ms)")


if __name__ == "__main__":
    main()
