"""The only place that writes output files.

A file is replaced atomically (a temporary file in the same folder, fsync, ``os.replace``) so a web server or
feed reader never sees half of it, and only when its bytes change, so its mtime (and the HTTP
``Last-Modified`` / ``ETag`` built on it) moves only when the content does.

This module imports nothing heavy: the CLI and the daemon may load it without the feed libraries.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Collection, Iterable
from pathlib import Path

# Mode of a new file when there is no old one to copy it from: readable by the web server.
DEFAULT_MODE = 0o644


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` atomically unless the file already holds exactly these bytes.

    Returns True when the file was written, False when it was left alone (its mtime untouched). Missing
    parent folders are made. On any error the old file stays as it was and no temporary file is left.
    """
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        mode = DEFAULT_MODE
    else:
        # Reading is only worth it when the sizes agree.
        if st.st_size == len(data) and path.read_bytes() == data:
            return False
        mode = st.st_mode & 0o7777
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            # mkstemp makes 0600 files; a feed must stay readable by whoever serves it.
            os.fchmod(f.fileno(), mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return True


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable; some file systems refuse to open folders, which is fine."""
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


def remove_stale(root: Path, keep: Iterable[Path], *, folders: Iterable[str], names: Collection[str]) -> list[Path]:
    """Remove files called one of ``names`` under ``root/<folder>`` that are not in ``keep``.

    For feeds of things that no longer exist (a category whose last item was deleted): call it with the
    files just written, ``folders=feeds.FEED_FOLDERS`` and the feed file names. Only those names in those
    folders are touched, so anything else an operator keeps in the output folder survives. Folders left
    empty are removed. Returns the removed files, sorted.
    """
    root = Path(root)
    kept = {Path(p).resolve() for p in keep}
    removed: list[Path] = []
    for folder in folders:
        top = root / folder
        if not top.is_dir() or top.is_symlink():
            continue
        for dirpath, _dirnames, filenames in os.walk(top, topdown=False):
            here = Path(dirpath)
            for name in filenames:
                file = here / name
                if name in names and file.resolve() not in kept:
                    with contextlib.suppress(FileNotFoundError):
                        file.unlink()
                        removed.append(file)
            if here != top:
                with contextlib.suppress(OSError):
                    here.rmdir()  # only succeeds when empty
    return sorted(removed)
