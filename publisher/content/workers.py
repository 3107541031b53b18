"""The scan's worker processes, which read, parse and render content files for a cold scan
(:func:`publisher.content.loading.in_workers` gives them their work; :func:`publisher.content.loading.serve`
is what they run).

Light on purpose (the standard library and the walk's naming rules): ``publisher build`` starts them with its
command line, before it loads its own code, when the store does not exist yet and the folder holds enough
files to be worth them (:func:`start_early`). Those are forks of the command, made while it has loaded
nothing but its configuration and runs no other thread (:func:`may_fork`): each starts with what the command
loaded so far and loads the readers while the command loads the rest. Elsewhere (the daemon, which runs
threads) a worker is a fresh interpreter (:func:`take`). A worker takes its work only once its code is loaded.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import IO, Protocol

from publisher.content.walk import is_candidate
from publisher.processes import cores, may_fork

logger = logging.getLogger("publisher.content.scanner")

# Below this many files to read, a scan reads them itself: starting workers would cost more than it saves.
POOL_MIN = 200


class Worker(Protocol):
    """A worker process as the scan drives it: a fresh interpreter (``subprocess.Popen``) or a fork
    (:class:`Forked`)."""

    @property
    def stdin(self) -> IO[bytes] | None: ...

    @property
    def stdout(self) -> IO[bytes] | None: ...

    def poll(self) -> int | None: ...

    def kill(self) -> None: ...

    def wait(self) -> int: ...


_spare: list[Worker] = []  # started by start_early, not taken yet; stopped at exit if never taken


def pool_size() -> int:
    """Worker processes for a cold scan: one per core (the writer's share of the work is small), or
    ``PUBLISHER_SCAN_WORKERS`` (0 reads everything in this process)."""
    wanted = os.environ.get("PUBLISHER_SCAN_WORKERS", "").strip()
    if wanted.isdigit():
        return int(wanted)
    return cores()


def take(count: int) -> list[Worker]:
    """``count`` workers, waiting for their work on stdin: those :func:`start_early` started first."""
    taken: list[Worker] = _spare[:count]
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
    """Start ``count`` workers now, for the scan to come; stopped at exit if it does not take them. Forks of
    this process where it may fork (:func:`may_fork`): they skip the interpreter's start and what this process
    loaded already (a cold build of the Rust blog, 12 interleaved builds twice: median 5.7 and 7.7 % faster).
    """
    start = Forked.start if may_fork() else _spawn
    for _ in range(count):
        _spare.append(start())


class Forked:
    """A worker forked from this process, driven as a ``subprocess.Popen`` is: its work arrives on ``stdin``,
    its results leave on ``stdout``."""

    def __init__(self, pid: int, stdin: IO[bytes], stdout: IO[bytes]) -> None:
        self.pid = pid
        self.stdin: IO[bytes] | None = stdin
        self.stdout: IO[bytes] | None = stdout
        self.returncode: int | None = None

    @classmethod
    def start(cls) -> Forked:
        work_read, work_write = os.pipe()
        results_read, results_write = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            for fd in (work_read, work_write, results_read, results_write):
                os.close(fd)
            raise
        if pid == 0:
            os.close(work_write)
            os.close(results_read)
            _serve_forked(work_read, results_write)
        os.close(work_read)
        os.close(results_write)
        return cls(pid, os.fdopen(work_write, "wb"), os.fdopen(results_read, "rb"))

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self) -> None:
        import signal

        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    def wait(self) -> int:
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def _serve_forked(work: int, results: int) -> None:
    """A forked worker's life: its work read to the end, served, and the process left without this one's exit
    handlers. The other workers' pipes it inherited are closed first: a copy of another's input kept open
    here would keep that one from ever seeing the end of its work."""
    code = 1
    try:
        for other in _spare:
            for pipe in (other.stdin, other.stdout):
                if pipe is not None:
                    os.close(pipe.fileno())
        import io

        from publisher.content.loading import serve

        with os.fdopen(work, "rb") as data, os.fdopen(results, "wb") as out:
            serve(io.BytesIO(data.read()), out)
        code = 0
    finally:
        os._exit(code)


def stop_spares() -> None:
    """Stop the workers :func:`start_early` started and no scan took, and reap them."""
    while _spare:
        stop(_spare.pop())


def stop(proc: Worker) -> None:
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
