"""A share of a full build's feeds worked out in a forked process, beside this one (:func:`start`).

A full build (a cold one, or new settings) writes every feed and every archive page: a long phase that one
process would work out on one core. :func:`publisher.feeds.pages.build_all` gives the correspondents' feeds
to a child and writes the site's, categories' and tags' itself; the two share no serialized entry (a
correspondent's feed holds sections, the others whole items), so neither repeats the other's work.

Only a process with no other thread forks (a command, never the daemon): a thread's locks would stay taken
in the child. The file writers' idle threads are the exception: a child starts its own (writers.py). The
child reads the store through a connection of its own, opened after the fork as SQLite requires, and writes
no row: it sends back what it made (the caller records it), its progress on the way. It leaves without the
parent's exit handlers. Should it fail, the caller does its share itself.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import pickle
import select
import signal
import struct
from collections.abc import Callable
from typing import Any, Generic, NoReturn, TypeVar

from publisher import processes
from publisher.disk import write_all
from publisher.feeds import writers
from publisher.processes import cores

logger = logging.getLogger("publisher.feeds.build")

T = TypeVar("T")
Progress = Callable[[int, int], None]

_LENGTH = struct.Struct("!Q")


def may_fork() -> bool:
    """Whether this process may fork a share of its work: more than one core to run on, and no thread running
    but this one and the file writers' own, which a child starts afresh (:mod:`publisher.feeds.writers`)."""
    return cores() > 1 and processes.may_fork(besides=writers.pool_thread)


class Child(Generic[T]):
    """The forked process working out ``work``; its progress and result come through a pipe."""

    def __init__(self, pid: int, fd: int, *, told: bool = True) -> None:
        self._pid: int | None = pid
        self._fd: int | None = fd
        self._told = told  # whether the child sends its progress
        self.done = 0
        self.total: int | None = None  # told by the child once it knows
        self._outcome: tuple[Any, ...] | None = None

    def counts(self) -> tuple[int, int]:
        """(done, total) of the child's work as last told, reading what it told since without waiting; its
        total is waited for the first time. (0, 0) from a child that keeps its progress to itself."""
        while self._told and self._outcome is None and (self.total is None or self._ready()):
            if not self._take():
                break
        return self.done, self.total or 0

    def result(self) -> T | None:
        """Wait for the child's result; None when it failed (said in the log)."""
        while self._outcome is None and self._take():
            pass
        self._reap()
        outcome = self._outcome or ("failed", "it ended without a result")
        if outcome[0] == "done":
            value: T = outcome[1]
            return value
        logger.warning("the second feed writer stopped (%s); this process writes its feeds", outcome[1])
        return None

    def stop(self) -> None:
        """The child stopped if it still runs, and reaped (after :meth:`result`, only closes what is left)."""
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
        self._reap()

    def _ready(self) -> bool:
        return self._fd is not None and bool(select.select([self._fd], [], [], 0)[0])

    def _take(self) -> bool:
        """Read one message from the child; False at the end of the pipe."""
        head = self._read(_LENGTH.size)
        message = self._read(_LENGTH.unpack(head)[0]) if head is not None else None
        if message is None:
            self._close()
            return False
        kind, *rest = pickle.loads(message)
        if kind == "progress":
            self.done, self.total = rest
        else:
            self._outcome = (kind, *rest)
        return True

    def _read(self, size: int) -> bytes | None:
        chunks, left = [], size
        while left and self._fd is not None:
            chunk = os.read(self._fd, min(left, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks) if not left else None

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _reap(self) -> None:
        self._close()
        if self._pid is not None:
            os.waitpid(self._pid, 0)
            self._pid = None


def start(work: Callable[[Progress], T], *, told: bool = True) -> Child[T] | None:
    """Fork a process that runs ``work(progress)`` and sends its result back (it must pickle); None where
    this process may not fork (:func:`may_fork`) or the fork fails. ``told=False``: nobody reads the
    progress, which the child then keeps to itself (it would wait on a full pipe until its result is read)."""
    forked = processes.fork_piped() if may_fork() else None
    if forked is None:
        return None
    pid, fd = forked
    if pid == 0:
        _serve(work, fd, told)
    return Child(pid, fd, told=told)


def _serve(work: Callable[[Progress], T], fd: int, told: bool) -> NoReturn:
    """The child: run ``work``, send its progress (if ``told``) and result, and leave without the parent's exit
    handlers."""
    code = 1
    try:
        # What the parent made stays out of this process's collections: they would touch (and copy) it all.
        gc.freeze()

        def progress(done: int, total: int) -> None:
            if told:
                _send(fd, ("progress", done, total))

        value = work(progress)
        _send(fd, ("done", value))
        code = 0
    except BaseException as exc:  # told to the parent, which then does the work itself
        logger.debug("the second feed writer failed", exc_info=True)
        with contextlib.suppress(BaseException):  # else the parent sees the pipe end
            _send(fd, ("failed", f"{type(exc).__name__}: {exc}"))
    finally:
        os._exit(code)


def _send(fd: int, message: tuple[Any, ...]) -> None:
    data = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
    write_all(fd, _LENGTH.pack(len(data)) + data)
