"""What a cold build writes, written with no Python in the loop: SQLite building the store a build made (the
same tables, rows and indexes, copied inside SQLite) and the kernel copying its output folder (``cp -r``).

    .venv/bin/python bench/native.py STORE.db OUTPUT_FOLDER SCRATCH_FOLDER

Prints the CPU seconds of each. bench/build.py adds them to the libraries' share (bench/floor.py) for the
cold floor: the CPU the work itself costs with the chosen libraries, before any of publisher's own code
runs. Divided by the cores, that is the least wall time any build doing this work can take on the machine.

Both copies read their source too (the store's pages, the files, all in the page cache), which real work
would not; neither flushes to disk, which publisher does once at the end of a full build. The store's
indexes are built after its rows, the cheapest order.
"""

from __future__ import annotations

import os
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path


def store_copy(store: Path, into: Path) -> float:
    """Build ``into`` as a copy of the store ``store``, in SQLite alone, as publisher opens its own (WAL,
    synchronous NORMAL), the log copied into the database at the end: CPU seconds."""
    source = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    tables = source.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    indexes = [r[0] for r in source.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")]
    source.close()
    started = time.process_time()
    conn = sqlite3.connect(into, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("ATTACH ? AS source", (f"file:{store}?mode=ro",))
    conn.execute("BEGIN")
    for name, sql in tables:
        conn.execute(sql)
        conn.execute(f'INSERT INTO main."{name}" SELECT * FROM source."{name}"')
    for sql in indexes:
        conn.execute(sql)
    conn.execute("COMMIT")
    conn.execute("DETACH source")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.process_time() - started


def children_cpu() -> float:
    """The CPU seconds (user and system) of every child process this one has waited for so far, and theirs."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def files_copy(folder: Path, into: Path) -> float:
    """``cp -r folder into``: CPU seconds of the copy (the kernel's, mostly)."""
    before = children_cpu()
    subprocess.run(["cp", "-r", str(folder), str(into)], check=True)
    return children_cpu() - before


def main() -> None:
    store, output, scratch = (Path(a) for a in sys.argv[1:4])
    scratch.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}-{time.monotonic_ns()}"
    store_s = store_copy(store, scratch / f"store-{tag}.db")
    files_s = files_copy(output, scratch / f"output-{tag}")
    print(f"store {store_s:.3f} s CPU, files {files_s:.3f} s CPU")


if __name__ == "__main__":
    main()
