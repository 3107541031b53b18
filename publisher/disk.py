"""Durable steps on the file system shared by every writer (feed files, the Maildir, the secret)."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(folder: Path | str) -> None:
    """Make a rename or link into ``folder`` durable (fsync the folder itself).

    Some file systems refuse to open or sync folders; there the rename is as durable as they make it, and that
    is not an error."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
