"""The scan's worker processes: fresh interpreters that read, parse and render content files for a cold scan
(:func:`publisher.content.loading.in_workers` gives them their work; :func:`publisher.content.loading.serve`
is what they run).

Light on purpose (the standard library and the walk's naming rules): ``publisher build`` starts them with its
command line, before it loads its own code, when the store does not exist yet and the folder holds enough
files to be worth them (:func:`start_early`). Each worker then loads the readers while the command loads the
rest, instead of after it; a worker takes its work only once its code is loaded.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import subprocess
import sys
from pathlib import Path

from publisher.content.walk import is_candidate

logger = logging.getLogger("publisher.content.scanner")

# Below this many files to read, a scan reads them itself: starting workers would cost more than it saves.
POOL_MIN = 200

_spare: list[subprocess.Popen[bytes]] = []  # started by start_early, not taken yet; stopped at exit if never taken


def pool_size() -> int:
    """Worker processes for a cold scan: one per core (the writer's share of the work is small), or
    ``PUBLISHER_SCAN_WORKERS`` (0 reads everything in this process)."""
    wanted = os.environ.get("PUBLISHER_SCAN_WORKERS", "").strip()
    if wanted.isdigit():
        return int(wanted)
    return cores()


def cores() -> int:
    """The cores this process may run on (at least one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def take(count: int) -> list[subprocess.Popen[bytes]]:
    """``count`` workers, waiting for their work on stdin: those :func:`start_early` started first."""
    taken = _spare[:count]
    del _spare[:count]
    if taken:
        logger.debug("scan: taking %d workers started with the command line", len(taken))
    try:
        while len(taken) < count:
            taken.append(_spawn())
    except OSError:
        for proc in taken:
            stop(proc)
        raise
    return taken


def start_early(count: int) -> None:
    """Start ``count`` workers now, for the scan to come; stopped at exit if it does not take them."""
    _spare.extend(_spawn() for _ in range(count))


def stop_spares() -> None:
    """Stop the workers :func:`start_early` started and no scan took, and reap them."""
    while _spare:
        stop(_spare.pop())


def stop(proc: subprocess.Popen[bytes]) -> None:
    """A worker stopped (if it still runs) and reaped, its pipes closed."""
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):  # what was left in it went nowhere: the worker is gone
                pipe.close()


atexit.register(stop_spares)


def enough_files(root: Path, extensions: tuple[str, ...], at_least: int = POOL_MIN) -> bool:
    """Whether the folder ``root`` holds ``at_least`` files whose names make them candidates
    (:func:`publisher.content.walk.is_candidate`; hidden folders aside): counted only until there are that
    many, so a large folder costs a few folder listings."""
    found = 0
    folders = [str(root)]
    while folders:
        try:
            with os.scandir(folders.pop()) as listing:
                for entry in listing:
                    if entry.name.startswith("."):
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        folders.append(entry.path)
                    elif is_candidate(entry.name, extensions):
                        found += 1
                        if found >= at_least:
                            return True
        except OSError:
            continue
    return False


def _spawn() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", _boot(sys.path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def _boot(path: list[str]) -> str:
    """What a worker runs: it takes the writer's import path and loads its code, then reads all its input
    (so the writer never waits on a worker that waits on it), then serves."""
    return (
        f"import io, sys; sys.path[:] = {list(path)!r}; from publisher.content.loading import serve; "
        "serve(io.BytesIO(sys.stdin.buffer.read()), sys.stdout.buffer)"
    )
