"""Watching the content folder: which files changed, and when each one is whole.

A post must never be published half-written, and should be published as soon as it is whole. Linux's
inotify tells both apart: a writer closing a file (``IN_CLOSE_WRITE``) and a file renamed into place
(``IN_MOVED_TO``, how editors and sync tools save atomically) mean the file is whole now; a file created or
modified and not closed yet is still being written. So:

- a whole file (or a deletion) is handed on after :data:`SETTLE_SECONDS` without another such event, so
  that a burst (a sync tool's many files, a delete-and-write save) makes one build; a stream of them is cut
  every ``daemon.debounce_ms``;
- a file being written waits for its close; one whose writer keeps it open is taken as whole once it has
  had no event for ``daemon.debounce_ms``, the quiet time the watcher's debounce always meant;
- a folder that arrives is watched at once and handed on (its files are found by walking it); a folder
  that goes, or events lost to a full queue, ask for a full rescan.

inotify is read through ctypes (no extra dependency). Elsewhere, or when it cannot be set up, the daemon
falls back to watchfiles, whose debounce is only a quiet period.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import os
import struct
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from watchfiles import Change

# How long the folder must be quiet after a file became whole before a build starts: a burst in one build.
SETTLE_SECONDS = 0.005

_IN_MODIFY = 0x2
_IN_CLOSE_WRITE = 0x8
_IN_MOVED_FROM = 0x40
_IN_MOVED_TO = 0x80
_IN_CREATE = 0x100
_IN_DELETE = 0x200
_IN_DELETE_SELF = 0x400
_IN_MOVE_SELF = 0x800
_IN_Q_OVERFLOW = 0x4000
_IN_IGNORED = 0x8000
_IN_ONLYDIR = 0x01000000
_IN_ISDIR = 0x40000000
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC
_MASK = (
    _IN_MODIFY
    | _IN_CLOSE_WRITE
    | _IN_MOVED_FROM
    | _IN_MOVED_TO
    | _IN_CREATE
    | _IN_DELETE
    | _IN_DELETE_SELF
    | _IN_MOVE_SELF
    | _IN_ONLYDIR
)
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of NUL-padded name

Batch = set[tuple[Change, str]]


def available() -> bool:
    """Whether this system has inotify."""
    return sys.platform.startswith("linux") and hasattr(_libc(), "inotify_init1")


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


class Inotify:
    """A recursive inotify watch on ``root`` (hidden folders left out: nothing in them is content)."""

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self._libc = _libc()
        fd = self._libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            raise _os_error("inotify_init1", self.root)
        self.fd: int = fd
        self._folders: dict[int, str] = {}
        try:
            self.add_tree(self.root)
        except BaseException:
            self.close()
            raise

    def add_tree(self, folder: str) -> None:
        for path, dirs, _files in os.walk(folder):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            self._add(path)

    def _add(self, folder: str) -> None:
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(folder), _MASK)
        if wd < 0:
            err = ctypes.get_errno()
            if err in (errno.ENOENT, errno.ENOTDIR):
                return  # gone again already
            raise _os_error("inotify_add_watch", folder)
        self._folders[wd] = folder

    def read(self) -> list[tuple[int, str]]:
        """The events waiting, as (mask, path); [] when there are none."""
        events: list[tuple[int, str]] = []
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return events
            offset = 0
            while offset + _EVENT.size <= len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                offset += _EVENT.size
                name = data[offset : offset + length].rstrip(b"\0")
                offset += length
                if mask & _IN_Q_OVERFLOW:
                    events.append((mask, self.root))
                    continue
                folder = self._folders.get(wd)
                if mask & _IN_IGNORED:
                    self._folders.pop(wd, None)
                if folder is None:
                    continue
                events.append((mask, os.path.join(folder, os.fsdecode(name)) if name else folder))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class _Pending:
    """What the events said so far, until it is handed on."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.whole: dict[str, Change] = {}
        self.writing: dict[str, float] = {}  # path → time of its last event
        self.first = 0.0  # when the first whole change of this batch came
        self.last = 0.0  # when the last one came
        self.rescan = False

    def made_whole(self, path: str, change: Change, now: float) -> None:
        self.writing.pop(path, None)
        if not self.whole:
            self.first = now
        self.whole[path] = change
        self.last = now

    def take(self, now: float, settle: float, quiet: float) -> Batch | None:
        """The changes due now (None: rescan everything), or an empty set."""
        if self.rescan and now - self.last >= settle:
            self.reset()
            return None
        due: Batch = set()
        if self.whole and (now - self.last >= settle or now - self.first >= quiet):
            due = {(change, path) for path, change in self.whole.items()}
            self.whole.clear()
        for path, at in list(self.writing.items()):
            if now - at >= quiet:  # its writer keeps it open but has stopped writing
                del self.writing[path]
                due.add((Change.modified, path))
        return due

    def next_due(self, settle: float, quiet: float) -> float | None:
        times = [at + quiet for at in self.writing.values()]
        if self.whole or self.rescan:
            times.append(min(self.last + settle, self.first + quiet))
        return min(times, default=None)


async def watch(
    root: Path,
    keep: Callable[[Change, str], bool],
    *,
    quiet: float,
    stop: asyncio.Event,
    settle: float = SETTLE_SECONDS,
) -> AsyncIterator[Batch | None]:
    """Batches of (change, path) of whole files and deletions under ``root`` that ``keep`` accepts; None
    when only a full rescan will do. Raises OSError when ``root`` cannot be watched (or goes away)."""
    settle = min(settle, quiet)
    watcher = Inotify(root)
    pending = _Pending()
    woken = asyncio.Event()
    failure: list[OSError] = []

    def on_events() -> None:
        now = time.monotonic()
        for mask, path in watcher.read():
            if mask & _IN_Q_OVERFLOW:
                pending.rescan, pending.last = True, now
            elif mask & (_IN_DELETE_SELF | _IN_MOVE_SELF):
                if path == watcher.root:
                    failure.append(FileNotFoundError(errno.ENOENT, "the watched folder went away", path))
            elif mask & _IN_ISDIR:
                if not keep(Change.added, path):
                    continue  # a hidden folder: nothing in it is content
                if mask & (_IN_CREATE | _IN_MOVED_TO):
                    try:
                        watcher.add_tree(path)
                    except OSError as exc:
                        failure.append(exc)
                    pending.made_whole(path, Change.added, now)
                elif mask & (_IN_DELETE | _IN_MOVED_FROM):
                    pending.made_whole(path, Change.deleted, now)
            elif mask & _IN_MOVED_TO:
                if keep(Change.added, path):
                    pending.made_whole(path, Change.added, now)
            elif mask & (_IN_DELETE | _IN_MOVED_FROM):
                if keep(Change.deleted, path):
                    pending.made_whole(path, Change.deleted, now)
            elif mask & _IN_CLOSE_WRITE:
                if keep(Change.modified, path):
                    pending.made_whole(path, Change.modified, now)
            elif mask & (_IN_CREATE | _IN_MODIFY) and keep(Change.modified, path):
                # Being written: not whole until its close, whatever was said of it before.
                pending.whole.pop(path, None)
                pending.writing[path] = now
        woken.set()

    loop = asyncio.get_running_loop()
    loop.add_reader(watcher.fd, on_events)
    try:
        while not stop.is_set():
            if failure:
                raise failure[0]
            due_at = pending.next_due(settle, quiet)
            timeout = 1.0 if due_at is None else max(0.0, due_at - time.monotonic())
            woken.clear()
            if timeout > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), min(timeout, 1.0))
                if woken.is_set():
                    continue  # new events: work out when the next batch is due again
            batch = pending.take(time.monotonic(), settle, quiet)
            if batch is None or batch:
                yield batch
    finally:
        loop.remove_reader(watcher.fd)
        watcher.close()


def _os_error(call: str, path: str) -> OSError:
    err = ctypes.get_errno()
    limits = err in (errno.ENOSPC, errno.EMFILE)
    hint = " (fs.inotify.max_user_watches or max_user_instances reached?)" if limits else ""
    return OSError(err, f"{call}: {os.strerror(err)}{hint}", path)
