"""Atomic, change-only writes of output files, on the real file system."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from publisher.feeds import writers
from publisher.feeds.writers import remove, sync_folders, write_if_changed

OLD_TIME_NS = 946_684_800 * 10**9  # 2000-01-01: any write would move the mtime off it


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_new_file_is_written_readable_with_its_folders(tmp_path: Path) -> None:
    path = tmp_path / "correspondents" / "ana-ruiz" / "feed.atom"
    assert write_if_changed(path, b"<feed/>") is True
    assert path.read_bytes() == b"<feed/>"
    # Not mkstemp's 0600: the web server must be able to read it.
    assert path.stat().st_mode & 0o777 == 0o644
    assert leftovers(path.parent) == []


def test_equal_bytes_leave_the_file_and_its_mtime_alone(tmp_path: Path) -> None:
    path = tmp_path / "feed.rss"
    path.write_bytes(b"same")
    os.utime(path, ns=(OLD_TIME_NS, OLD_TIME_NS))
    inode = path.stat().st_ino
    assert write_if_changed(path, b"same") is False
    st = path.stat()
    assert (st.st_mtime_ns, st.st_ino) == (OLD_TIME_NS, inode)


def test_changed_bytes_replace_the_file_keeping_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "feed.json"
    path.write_bytes(b"old!")  # same size as the new bytes: the content, not the size, decides
    path.chmod(0o640)
    os.utime(path, ns=(OLD_TIME_NS, OLD_TIME_NS))
    inode = path.stat().st_ino
    assert write_if_changed(path, b"new!") is True
    st = path.stat()
    assert path.read_bytes() == b"new!"
    assert st.st_ino != inode  # replaced by rename, never rewritten in place
    assert st.st_mtime_ns != OLD_TIME_NS
    assert st.st_mode & 0o777 == 0o640
    assert leftovers(tmp_path) == []


def test_a_failing_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    """A real failure: the child may not write files over 1000 bytes (RLIMIT_FSIZE), so write() fails."""
    path = tmp_path / "feed.atom"
    path.write_bytes(b"the old feed")
    script = textwrap.dedent(
        f"""
        import errno, resource, signal, sys
        from pathlib import Path
        from publisher.feeds.writers import write_if_changed
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
        try:
            write_if_changed(Path({str(path)!r}), b"x" * 100_000)
        except OSError as exc:
            sys.exit(10 if exc.errno == errno.EFBIG else 11)
        sys.exit(0)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 10, result.stderr
    assert path.read_bytes() == b"the old feed"
    assert leftovers(tmp_path) == []


def test_a_write_into_a_missing_place_raises_and_leaves_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "categories"
    blocker.write_bytes(b"a file where a folder should be")
    with pytest.raises(OSError):
        write_if_changed(blocker / "news" / "feed.atom", b"data")
    assert blocker.read_bytes() == b"a file where a folder should be"


def test_readers_never_see_a_partial_file(tmp_path: Path) -> None:
    """A reader polling while the file is rewritten only ever sees one whole version or the other."""
    path = tmp_path / "feed.atom"
    versions = (b"a" * 300_000, b"b" * 200_000)
    write_if_changed(path, versions[0])
    seen: set[int] = set()
    bad: list[int] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            data = path.read_bytes()
            if data not in versions:
                bad.append(len(data))
            seen.add(len(data))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        # At least 40 rewrites, and more until the reader has caught both versions (it always does soon).
        for i in range(1, 2001):
            last = versions[i % 2]
            write_if_changed(path, last)
            if i >= 40 and len(seen) == 2:
                break
    finally:
        done.set()
        reader.join()
    assert bad == []
    assert path.read_bytes() == last
    assert len(seen) == 2  # the reader did see both versions
    assert leftovers(tmp_path) == []


def test_remove_takes_files_and_the_folders_they_leave_empty(tmp_path: Path) -> None:
    for rel in ("feed.atom", "categories/news/feed.atom", "categories/news/feed.rss", "categories/art/feed.atom"):
        write_if_changed(tmp_path / rel, b"x")
    (tmp_path / "categories" / "news" / "notes.txt").write_text("kept")
    removed = remove(tmp_path, ["categories/art/feed.atom", "categories/news/feed.atom", "categories/gone/feed.atom"])
    assert removed == ["categories/art/feed.atom", "categories/news/feed.atom"]
    assert not (tmp_path / "categories" / "art").exists()
    assert (tmp_path / "categories" / "news" / "notes.txt").exists()
    assert (tmp_path / "categories" / "news" / "feed.rss").exists()
    assert (tmp_path / "feed.atom").exists()


def test_deferred_folder_sync_writes_the_same_bytes(tmp_path: Path) -> None:
    paths = [tmp_path / "a" / "feed.atom", tmp_path / "a" / "feed.rss", tmp_path / "b" / "feed.json"]
    for path in paths:
        assert write_if_changed(path, path.name.encode(), sync_folder=False)
    sync_folders(paths)
    assert [p.read_bytes() for p in paths] == [b"feed.atom", b"feed.rss", b"feed.json"]


def _held_open(folder: Path) -> list[str]:
    """Files under ``folder`` that this process still has open, replaced ones included (Linux)."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(str(folder)):
                held.append(target)
    return held


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads the open files from /proc")
def test_replaced_files_are_let_go_in_the_background_and_never_leak(tmp_path: Path) -> None:
    # The file a write replaces is held open across the rename and closed by a background thread; more
    # replacements at once than may be held are closed on the spot. Every file ends with its new bytes,
    # and once the background closes are done nothing under the folder is open.
    paths = [tmp_path / "feeds" / f"feed-{i}.atom" for i in range(3 * writers._HELD_MAX)]
    for path in paths:
        write_if_changed(path, b"old " + path.name.encode() * 200, sync_folder=False)
    for path in paths:
        assert write_if_changed(path, b"new " + path.name.encode(), sync_folder=False)
    deadline = time.monotonic() + 10
    while _held_open(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _held_open(tmp_path) == []
    assert all(path.read_bytes() == b"new " + path.name.encode() for path in paths)
    assert sorted(p.name for p in (tmp_path / "feeds").iterdir()) == sorted(p.name for p in paths)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads the open files from /proc")
def test_a_held_file_outlives_its_replacement_until_let_go(tmp_path: Path) -> None:
    path = tmp_path / "feed.atom"
    path.write_bytes(b"old")
    fd = writers._hold(path)
    assert fd is not None
    (tmp_path / "new").write_bytes(b"new")
    os.replace(tmp_path / "new", path)
    assert os.pread(fd, 3, 0) == b"old"  # the replaced file is still there, so the rename did not free it
    assert _held_open(tmp_path) == [f"{path} (deleted)"]
    writers._let_go(fd)
    deadline = time.monotonic() + 10
    while _held_open(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _held_open(tmp_path) == []
