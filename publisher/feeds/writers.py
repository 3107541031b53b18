"""The only place that writes output files.

A file is replaced atomically (a temporary file in the same folder, fsync, ``os.replace``) so a web server or
feed reader never sees half of it, and only when its bytes change, so its mtime (and the HTTP
``Last-Modified`` / ``ETag`` built on it) moves only when the content does.

This module imports nothing heavy: the CLI and the daemon may load it without the feed libraries.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from publisher.disk import fsync_dir, write_all

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

# Mode of a new file when there is no old one to copy it from: readable by the web server.
DEFAULT_MODE = 0o644
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def write_if_changed(path: Path, data: bytes, *, sync_folder: bool = True, sync_file: bool = True) -> bool:
    """Write ``data`` to ``path`` atomically unless the file already holds exactly these bytes.

    Returns True when the file was written, False when it was left alone (its mtime untouched). Missing
    parent folders are made. On any error the old file stays as it was and no temporary file is left.
    ``sync_folder=False`` leaves making the rename durable to the caller, who writes many files and calls
    :func:`sync_folders` once for all of them; ``sync_file=False`` leaves flushing the bytes to the caller
    too (:func:`sync_filesystem`, one flush for hundreds of files). Either way a reader never sees half a
    file: the rename is what makes it appear.
    """
    path = Path(path)
    old = None
    try:
        st = path.stat()
    except FileNotFoundError:
        mode = DEFAULT_MODE
    else:
        # Reading is only worth it when the sizes agree.
        if st.st_size == len(data) and _holds(path, data):
            return False
        mode = st.st_mode & 0o7777
        old = _hold(path)
    fd, tmp = _temporary_beside(path)
    try:
        # Straight to the descriptor: a Python file object would cost three more system calls per file.
        try:
            write_all(fd, data)
            if sync_file:
                os.fsync(fd)
            # The temporary file is made 0600; a feed must stay readable by whoever serves it.
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    finally:
        if old is not None:
            _let_go(old)
    if sync_folder:
        fsync_dir(path.parent)
    return True


def _holds(path: Path, data: bytes) -> bool:
    """Whether the file at ``path``, of the size of ``data``, holds these bytes (read through the descriptor,
    without the six more system calls of a Python file object)."""
    fd = os.open(path, os.O_RDONLY | _CLOEXEC)
    try:
        chunks = []
        left = len(data)
        while left > 0 and (chunk := os.read(fd, left)):
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks) == data
    finally:
        os.close(fd)


_TEMP_NAMES = itertools.count()

# Replaced files held open at once, at most (a full build replaces thousands).
_HELD_MAX = 64
_HELD = threading.BoundedSemaphore(_HELD_MAX)


def _hold(path: Path) -> int | None:
    """A handle on the file about to be replaced at ``path``, so that the rename does not free it; None where
    none is taken (elsewhere than POSIX, where an open file cannot be replaced; or _HELD_MAX held already).

    Freeing a replaced file's blocks is the slowest part of a replace: about 1 ms for a 150 KB feed on ext4
    with online discard, ten times the rename. With a handle held, the rename only unlinks the name, and
    the blocks are freed when :func:`_let_go` closes the handle in a background thread, which nobody waits
    for (a process ending waits for it)."""
    if os.name != "posix" or not _HELD.acquire(blocking=False):
        return None
    try:
        return os.open(path, os.O_RDONLY | _CLOEXEC)
    except OSError:
        _HELD.release()
        return None


def _let_go(fd: int) -> None:
    """Close a handle from :func:`_hold` in a background thread."""

    def close() -> None:
        try:
            os.close(fd)
        finally:
            _HELD.release()

    try:
        _fsync_pool().submit(close)
    except RuntimeError:  # the pool is shut down: the interpreter is exiting
        close()


def _temporary_beside(path: Path) -> tuple[int, str]:
    """A new, empty file (0600) in the folder of ``path``, open for writing: ``.NAME.PID-N.tmp``, a name no
    other writer (another process, another thread) makes. One left by a process that died is never reused.
    The folder is made if missing."""
    folder_made = False
    while True:
        tmp = str(path.parent / f".{path.name}.{os.getpid()}-{next(_TEMP_NAMES)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _CLOEXEC, 0o600), tmp
        except FileExistsError:
            continue
        except FileNotFoundError:
            if folder_made:
                raise
            path.parent.mkdir(parents=True, exist_ok=True)
            folder_made = True


def sync_filesystem(folder: Path) -> None:
    """Flush everything written to the file system holding ``folder`` in one go (Linux ``syncfs``; elsewhere
    ``os.sync``): far cheaper than an fsync per file when a build writes hundreds of them, and it covers the
    folders' entries too (the renames), as ``sync`` does."""
    import ctypes

    syncfs = getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)
    if syncfs is None:
        os.sync()
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        os.sync()
        return
    try:
        if syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def sync_files(paths: Iterable[Path]) -> None:
    """Flush the bytes of the files ``paths``, all at once: fsyncs issued together share the file system's
    journal commits, where one after another each waits for its own."""
    files = [Path(p) for p in paths]
    if len(files) <= 1:
        for path in files:
            _fsync_file(path)
        return
    list(_fsync_pool().map(_fsync_file, files))


_POOL: list[ThreadPoolExecutor] = []
_POOL_LOCK = threading.Lock()
_POOL_PREFIX = "publisher-fsync"


def _fsync_pool() -> ThreadPoolExecutor:
    """The threads :func:`sync_files` issues its fsyncs from and :func:`_let_go` closes replaced files in,
    started once and kept (a daemon builds often)."""
    from concurrent.futures import ThreadPoolExecutor

    with _POOL_LOCK:
        if not _POOL:
            _POOL.append(ThreadPoolExecutor(max_workers=16, thread_name_prefix=_POOL_PREFIX))
        return _POOL[0]


def pool_thread(thread: threading.Thread) -> bool:
    """Whether ``thread`` is one of :func:`_fsync_pool`'s."""
    return thread.name.startswith(_POOL_PREFIX)


def _forked() -> None:
    """In a forked child, which has none of the parent's threads: a pool, a lock and a count of held files of
    its own (the parent's could be taken by a thread that no longer runs here)."""
    global _POOL_LOCK, _HELD
    _POOL.clear()
    _POOL_LOCK = threading.Lock()
    _HELD = threading.BoundedSemaphore(_HELD_MAX)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)


def _fsync_file(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_folders(paths: Iterable[Path]) -> None:
    """Make the renames of the files ``paths`` durable: one fsync per folder, however many files."""
    for folder in sorted({Path(p).parent for p in paths}):
        fsync_dir(folder)


def remove(root: Path, rels: Iterable[str]) -> list[str]:
    """Remove the files ``rels`` (relative to ``root``) that exist, and the folders this leaves empty
    (never ``root`` itself). Returns the removed ones, sorted."""
    root = Path(root)
    removed = []
    for rel in rels:
        path = root / rel
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(rel)
            folder = path.parent
            while folder != root and folder.is_relative_to(root):
                try:
                    folder.rmdir()  # only succeeds when empty
                except OSError:
                    break
                folder = folder.parent
    return sorted(removed)


def copy_if_changed(source: Path, path: Path) -> bool:
    """Publish ``source`` (an attached file) at ``path``, unless the copy there is as new and as large.
    Returns True when it was written."""
    try:
        src = source.stat()
        dst = path.stat()
    except FileNotFoundError:
        pass
    else:
        if dst.st_size == src.st_size and dst.st_mtime_ns >= src.st_mtime_ns:
            return False
    return write_if_changed(path, source.read_bytes(), sync_folder=False)
