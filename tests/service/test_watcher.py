"""The content watcher on a real folder with real inotify: whole files go on at once, files still being
written wait for their close (or for the quiet time when their writer keeps them open)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from watchfiles import Change

from publisher.service import watcher
from publisher.service.daemon import ContentFilter

pytestmark = pytest.mark.skipif(not watcher.available(), reason="inotify is Linux only")

WAIT = 10.0  # seconds: far longer than any batch takes; a missing batch fails instead of hanging


class Watch:
    """The watcher running in the test's event loop; ``next()`` is its next batch."""

    def __init__(self, root: Path, quiet: float) -> None:
        self.stop = asyncio.Event()
        self.batches: AsyncIterator[watcher.Batch | None] = watcher.watch(
            root, ContentFilter(root, (".md", ".txt")), quiet=quiet, stop=self.stop
        )
        self.waiting: asyncio.Future[watcher.Batch | None] | None = None

    def next(self, timeout: float = WAIT) -> asyncio.Future[watcher.Batch | None]:
        if self.waiting is None:
            self.waiting = asyncio.ensure_future(asyncio.wait_for(anext(self.batches), timeout))
        waiting, self.waiting = self.waiting, None
        return waiting

    async def nothing_for(self, seconds: float) -> None:
        with pytest.raises(TimeoutError):
            batch = await self.next(seconds)
            pytest.fail(f"unexpected batch {batch}")


async def started(root: Path, quiet: float = 2.0) -> Watch:
    """A watch whose watches are set up: the generator's first step adds them, and it is under way."""
    w = Watch(root, quiet)
    w.waiting = asyncio.ensure_future(asyncio.wait_for(anext(w.batches), WAIT))
    await asyncio.sleep(0.05)
    return w


def test_an_atomic_save_goes_on_at_once_and_hidden_temp_files_never(tmp_path: Path) -> None:
    async def run() -> None:
        w = await started(tmp_path)
        tmp = tmp_path / ".post.md.tmp"
        tmp.write_text("---\ntitle: Whole\n---\nAll of it.\n")
        tmp.replace(tmp_path / "post.md")
        assert await w.next() == {(Change.added, str(tmp_path / "post.md"))}
        (tmp_path / "post.md").unlink()
        assert await w.next() == {(Change.deleted, str(tmp_path / "post.md"))}
        (tmp_path / "notes.md~").write_text("an editor's backup")
        await w.nothing_for(0.3)
        w.stop.set()

    asyncio.run(run())


def test_a_file_being_written_waits_for_its_close(tmp_path: Path) -> None:
    async def run() -> None:
        w = await started(tmp_path, quiet=5.0)
        path = tmp_path / "long.md"
        with path.open("w") as f:
            f.write("---\ntitle: Long\n---\nThe first half")
            f.flush()
            os.fsync(f.fileno())
            await asyncio.sleep(0.5)  # a hundred times the settle time: still not handed on
            assert w.waiting is not None and not w.waiting.done()
            f.write(", and the second.\n")
        assert await w.next() == {(Change.modified, str(path))}
        assert path.read_text().endswith("the second.\n")
        w.stop.set()

    asyncio.run(run())


def test_a_file_kept_open_goes_on_after_the_quiet_time(tmp_path: Path) -> None:
    async def run() -> None:
        w = await started(tmp_path, quiet=0.3)
        path = tmp_path / "open.txt"
        with path.open("w") as f:
            f.write("Brief\n\nWritten, and the writer keeps the file open.\n")
            f.flush()
            assert await w.next() == {(Change.modified, str(path))}
        w.stop.set()

    asyncio.run(run())


def test_a_folder_moved_in_is_handed_on_and_watched(tmp_path: Path) -> None:
    async def run() -> None:
        root = tmp_path / "content"
        root.mkdir()
        w = await started(root)
        outside = tmp_path / "incoming" / "2026"
        outside.mkdir(parents=True)
        (outside / "moved.md").write_text("---\ntitle: Moved\n---\nIn.\n")
        outside.rename(root / "2026")
        assert await w.next() == {(Change.added, str(root / "2026"))}
        # Its files are watched from now on.
        (root / "2026" / "later.md").write_text("---\ntitle: Later\n---\nNew.\n")
        assert await w.next() == {(Change.modified, str(root / "2026" / "later.md"))}
        # A folder that goes: only a rescan knows what it held.
        (root / "2026").rename(tmp_path / "gone")
        assert await w.next() == {(Change.deleted, str(root / "2026"))}
        w.stop.set()

    asyncio.run(run())
