"""Subscriber imports: ``publisher.mail.subscribers.import_csv`` beside plain ``sqlite3`` doing the same writes.

    python bench/store.py [--subscribers 20000] [--rounds 3]

A CSV of N subscribers (name, two or three follows each) is imported into a fresh store, then imported again
(every row unchanged), then once more with one name in ten changed and a follow added. The baseline, in the
same run and on the same disk, writes the same subscriber and follow rows with ``sqlite3.executemany`` in one
transaction on a store with the same schema: the floor any import can reach. Prints the best of the rounds.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STAMP = "2026-03-02T06:00:00+00:00"


def make_csv(count: int, *, renamed_every: int = 0) -> str:
    lines = ["email,name,follows"]
    for i in range(count):
        name = f"Reader {i}" + (" Jr" if renamed_every and i % renamed_every == 0 else "")
        follows = (
            f"ana-ruiz;category:news;tomas-berg-{i % 40}"
            if renamed_every and i % renamed_every == 0
            else ("ana-ruiz;category:news" + (";all" if i % 3 == 0 else ""))
        )
        lines.append(f"reader{i:06d}@example.org,{name},{follows}")
    return "\n".join(lines) + "\n"


def best(rounds: int, run: Callable[[Path], float]) -> float:
    times = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            times.append(run(Path(tmp)))
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from publisher.mail import subscribers
    from publisher.store import Store

    first = make_csv(args.subscribers)
    changed = make_csv(args.subscribers, renamed_every=10)
    figures: dict[str, float] = {}

    def publisher_import(tmp: Path) -> float:
        with Store(tmp / "store.sqlite") as store:
            started = time.perf_counter()
            report = subscribers.import_csv(store, first)
            elapsed = time.perf_counter() - started
            assert report.added == args.subscribers, report
            started = time.perf_counter()
            again = subscribers.import_csv(store, first)
            figures["again"] = min(figures.get("again", 1e9), time.perf_counter() - started)
            assert again.unchanged == args.subscribers, again
            started = time.perf_counter()
            edits = subscribers.import_csv(store, changed)
            figures["edits"] = min(figures.get("edits", 1e9), time.perf_counter() - started)
            assert edits.updated == args.subscribers // 10, edits
        return elapsed

    def baseline(tmp: Path) -> float:
        path = tmp / "store.sqlite"
        Store(path).close()  # the same schema and pragmas
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA synchronous=NORMAL")
        rows = [
            (f"reader{i:06d}@example.org", f"Reader {i}", "confirmed", STAMP, STAMP, STAMP)
            for i in range(args.subscribers)
        ]
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO subscribers(email, name, status, created_at, updated_at, confirmed_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        ids = dict(conn.execute("SELECT email, id FROM subscribers"))
        follows = [
            (ids[row[0]], kind, value)
            for i, row in enumerate(rows)
            for kind, value in [("correspondent", "ana-ruiz"), ("category", "news")]
            + ([("all", "")] if i % 3 == 0 else [])
        ]
        conn.executemany("INSERT OR IGNORE INTO follows(subscriber_id, kind, value) VALUES (?, ?, ?)", follows)
        conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
        conn.close()
        return elapsed

    floor = best(args.rounds, baseline)
    ours = best(args.rounds, publisher_import)
    n = args.subscribers
    print(f"{n} subscribers, best of {args.rounds}")
    print(f"  baseline sqlite3 executemany:     {floor:7.3f}s  {n / floor:9.0f} rows/s")
    print(f"  import_csv, new store:            {ours:7.3f}s  {n / ours:9.0f} rows/s  ({ours / floor:.1f}x baseline)")
    print(f"  import_csv again, all unchanged:  {figures['again']:7.3f}s  {n / figures['again']:9.0f} rows/s")
    print(f"  import_csv, 1 in 10 changed:      {figures['edits']:7.3f}s  {n / figures['edits']:9.0f} rows/s")


if __name__ == "__main__":
    main()
