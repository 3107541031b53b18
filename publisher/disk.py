"""Durable steps on the file system shared by every writer (feed files, the Maildir, the secret)."""

from __future__ import annotations

import os
from pathlib import Path


def open_folder(folder: Path | str) -> int:
    """A read-only descriptor of the folder ``folder`` (to sync it, or to look files up in it by name)."""
    return os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to the descriptor ``fd`` (a pipe or a file may take it in parts)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def fsync_dir(folder: Path | str) -> None:
    """Make a rename or link into ``folder`` durable (fsync the folder itself).

    Some file systems refuse to open or sync folders; there the rename is as durable as they make it, and that
    is not an error."""
    try:
        fd = open_folder(folder)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
