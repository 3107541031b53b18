"""The watcher's filter and the readers agree on which file names are editors' and downloads' droppings."""

from __future__ import annotations

from pathlib import Path

import pytest
import watchfiles

from publisher.content.readers import is_candidate
from publisher.service.daemon import ContentFilter

EXTENSIONS = (".md", ".markdown", ".txt")


@pytest.mark.parametrize(
    "name",
    [
        "post.md~",
        ".post.md.swp",
        "post.md.swx",
        "post.md.swo",
        "post.md.tmp",
        "post.md.bak",
        "post.md.orig",
        "post.md.part",
        "post.md.crdownload",
        "#post.md#",
        "~$report.txt",
        "POST.MD.SWP",
    ],
)
def test_temporary_files_are_ignored_by_both(tmp_path: Path, name: str) -> None:
    watcher = ContentFilter(tmp_path, EXTENSIONS)
    assert not is_candidate(name, EXTENSIONS)
    assert not watcher(watchfiles.Change.added, str(tmp_path / "2026" / name))


def test_posts_pass_both(tmp_path: Path) -> None:
    watcher = ContentFilter(tmp_path, EXTENSIONS)
    for name in ("post.md", "brief.txt", "notes.markdown"):
        assert is_candidate(f"2026/{name}", EXTENSIONS)
        assert watcher(watchfiles.Change.modified, str(tmp_path / "2026" / name))
