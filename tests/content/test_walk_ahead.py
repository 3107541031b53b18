"""A walk made ahead in a child process (walk.Ahead) gives a scan exactly what its own walk would: the same
report, the same store; and it is not taken when the store moved under it (rules, authors)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from publisher import config as config_mod
from publisher.config import Config
from publisher.content import walk
from publisher.content.scanner import ScanReport, scan
from publisher.store import SCHEMA_VERSION, Store
from tests.conftest import write_config

POST = (
    '---\ntitle: "{title}"\ndate: 2026-03-0{day}T06:15:00\nauthor: "Ana Ruiz"\ncategories: [News]\n---\n\n'
    "Text {title}.\n"
)


def put(root: Path, rel: str, text: str) -> None:
    path = root / "content" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def a_site(folder: Path) -> Config:
    folder.mkdir(parents=True, exist_ok=True)
    write_config(folder)
    for i in range(1, 8):
        put(folder, f"posts/2026/p{i}.md", POST.format(title=f"Post {i}", day=i))
    put(folder, "briefs/b1.txt", "Port strike ends\n\nBy Tomas Berg\n\nThe port reopened on Monday.\n")
    put(folder, "briefs/b1.txt.toml", 'title = "Pinned"\n')
    put(folder, "README.md", "# not a post\n")
    put(folder, "bundle/index.md", POST.format(title="Bundle", day=8))
    put(folder, "bundle/notes.md", "an asset\n")
    return config_mod.load(folder / "publisher.toml")


def changes(folder: Path) -> None:
    root = folder / "content"
    (root / "posts/2026/p2.md").write_text(POST.format(title="Post 2 edited", day=2), encoding="utf-8")
    (root / "posts/2026/p3.md").unlink()
    put(folder, "posts/2026/new.md", POST.format(title="New", day=9))
    put(folder, "posts/2026/p1-copy.md", (root / "posts/2026/p1.md").read_text(encoding="utf-8"))
    (root / "briefs/b1.txt.toml").write_text('title = "Pinned again"\n', encoding="utf-8")
    stamp = (root / "posts/2026/p4.md").stat()
    os.utime(root / "posts/2026/p4.md", ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 10**9))  # touched only
    (root / "posts/2026/p5.md").write_text("---\ntitle: [unclosed\n---\nText\n", encoding="utf-8")  # skipped


def summary(report: ScanReport) -> tuple[object, ...]:
    return (
        report.files_seen,
        report.files_read,
        report.unchanged,
        sorted(report.added),
        sorted(report.updated),
        sorted(report.removed),
        report.drafts,
        sorted(report.skipped.items()),
        sorted(report.left_out.items()),
        sorted(map(str, report.touched.keys)),
    )


def stored(store: Store) -> list[tuple[object, ...]]:
    rows = store.conn.execute("SELECT key, uid, title, source_path, deleted_at IS NULL FROM items ORDER BY key")
    sources = store.conn.execute("SELECT path, size, sha256, item_key, status, reason FROM sources")
    return [*rows.fetchall(), *sorted(sources.fetchall())]


def twin_sites(tmp_path: Path) -> tuple[Config, Config]:
    """Two copies of one scanned site, changed alike."""
    config = a_site(tmp_path / "a")
    with Store(config.paths.database) as store:
        scan(config, store)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    changes(tmp_path / "a")
    changes(tmp_path / "b")
    return config, config_mod.load(tmp_path / "b" / "publisher.toml")


def test_a_scan_given_the_walk_made_ahead_finds_what_its_own_walk_finds(tmp_path: Path) -> None:
    mine, theirs = twin_sites(tmp_path)
    ahead = walk.Ahead.start(mine)
    assert ahead is not None
    with Store(mine.paths.database) as store:
        walked = scan(mine, store, ahead=ahead)
        walked_rows = stored(store)
    with Store(theirs.paths.database) as store:
        itself = scan(theirs, store)
        itself_rows = stored(store)
    assert summary(walked) == summary(itself)
    assert walked.added and walked.updated and walked.removed and walked.skipped  # the changes were seen
    assert walked.unchanged == itself.unchanged > 0
    # The same rows, but for the paths of the two sites.
    assert [tuple(str(v).replace("/a/", "/b/") for v in row) for row in walked_rows] == [
        tuple(str(v) for v in row) for row in itself_rows
    ]


def test_the_walk_ahead_offers_nothing_under_other_selection_rules(tmp_path: Path) -> None:
    config = a_site(tmp_path)
    with Store(config.paths.database) as store:
        scan(config, store)
    write_config(tmp_path, '[content]\nexclude = ["briefs/"]\n')
    report = _scanned_without_the_walk_ahead(config_mod.load(tmp_path / "publisher.toml"))
    assert report.removed == ["briefs/b1"]  # the scan walked itself, under the new rules


def test_no_walk_is_made_ahead_of_a_store_not_made_yet(tmp_path: Path) -> None:
    """It would have nothing to compare with; and a first build's scan workers, started with the command line,
    must not have their input pipes held open by a forked walk."""
    config = a_site(tmp_path)
    assert walk.Ahead.start(config) is None
    with Store(config.paths.database) as store:
        report = scan(config, store, ahead=None)
    assert len(report.added) == 9 and report.unchanged == 0


class _Given:
    """A walk made ahead, already finished: what scan is handed."""

    def __init__(self, walked: walk.Walked) -> None:
        self.walked = walked

    def result(self) -> walk.Walked:
        return self.walked

    def discard(self) -> None:
        pass


def test_a_walk_that_read_a_store_of_another_schema_is_not_taken(tmp_path: Path) -> None:
    """The walk's process reads the store's stamps without migrating it: what it read under another schema
    version is not taken, and the scan walks itself."""
    config = a_site(tmp_path)
    with Store(config.paths.database) as store:
        scan(config, store)
    ahead = walk.Ahead.start(config)
    assert ahead is not None
    walked = ahead.result()
    assert walked is not None and walked.schema == SCHEMA_VERSION
    put(tmp_path, "posts/2026/later.md", POST.format(title="Later", day=9))  # after the walk: it cannot know
    for schema, added in ((SCHEMA_VERSION - 1, ["posts/2026/later"]), (SCHEMA_VERSION, [])):
        given = dataclasses.replace(walked, schema=schema)
        with Store(config.paths.database) as store:
            report = scan(config, store, ahead=_Given(given))  # type: ignore[arg-type]
        assert report.added == added


def test_the_walk_loads_nothing_of_the_store_but_its_light_reader() -> None:
    """A walk made ahead starts reading sooner for loading sqlite3 alone: not store.db, not store.content."""
    script = "import sys, publisher.store.ahead; print(sorted(m for m in sys.modules if m.startswith('publisher.')))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "['publisher.store', 'publisher.store.ahead']"


def _scanned_without_the_walk_ahead(config: Config) -> ScanReport:
    """A walk started ahead under ``config`` offers nothing; a scan given one walks itself."""
    ahead = walk.Ahead.start(config)
    assert ahead is not None
    assert ahead.result() is None
    ahead = walk.Ahead.start(config)
    with Store(config.paths.database) as store:
        return scan(config, store, ahead=ahead)


def test_a_walk_not_taken_is_stopped_and_reaped(tmp_path: Path) -> None:
    config = a_site(tmp_path)
    with Store(config.paths.database) as store:
        scan(config, store)
    ahead = walk.Ahead.start(config)
    assert ahead is not None
    pid = ahead._pid
    with Store(config.paths.database) as store:
        scan(config, store, only=["posts/2026/p1.md"], ahead=ahead)  # a watcher's scan walks no folder
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # reaped already
    else:
        raise AssertionError("the walk's process was left behind")


def test_a_walk_started_early_is_taken_only_for_what_it_was_made_for(tmp_path: Path) -> None:
    """publisher.cli.run starts the walk before the command group reads the config; the build's start
    takes it for the same folder, store and rules, and stops it for anything else."""
    config = a_site(tmp_path / "a")
    with Store(config.paths.database) as store:
        scan(config, store)
    walk.Ahead.start_early(config)
    early = walk.Ahead._early
    assert early is not None
    assert walk.Ahead.start(config) is early
    assert walk.Ahead._early is None
    assert early.result() is not None

    walk.Ahead.start_early(config)
    early = walk.Ahead._early
    assert early is not None
    other = config_mod.load(tmp_path / "a" / "publisher.toml", overrides=["content.exclude=['briefs/']"])
    ahead = walk.Ahead.start(other)
    assert ahead is not None and ahead is not early
    with pytest.raises(ChildProcessError):
        os.waitpid(early._pid, os.WNOHANG)  # stopped and reaped
    with Store(other.paths.database) as store:
        report = scan(other, store, ahead=ahead)
    assert report.removed == ["briefs/b1"]  # walked under the rules it was given


def test_a_walk_started_early_and_never_taken_is_reaped_at_exit(tmp_path: Path) -> None:
    config = a_site(tmp_path)
    with Store(config.paths.database) as store:
        scan(config, store)
    walk.Ahead.start_early(config)
    first = walk.Ahead._early
    walk.Ahead.start_early(config)  # started again: the first one is stopped, the second one is live
    early = walk.Ahead._early
    assert first is not None and early is not None and early is not first
    with pytest.raises(ChildProcessError):
        os.waitpid(first._pid, os.WNOHANG)
    assert walk.Ahead.start(config) is early and early.result() is not None
    walk.Ahead.start_early(config)
    early = walk.Ahead._early
    assert early is not None
    walk.Ahead._discard_early()  # what the exit handler runs
    assert walk.Ahead._early is None
    with pytest.raises(ChildProcessError):
        os.waitpid(early._pid, os.WNOHANG)


def test_the_walk_is_forked_before_logging_is_loaded() -> None:
    """A command forks its walk as soon as its config is read: neither the config nor the walk loads logging,
    which would hold the fork back."""
    script = "import sys, publisher.config, publisher.content.walk; print('logging' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def _unlistable(folder: Path) -> None:
    """A folder whose path is longer than the system allows (ENAMETOOLONG), made one short step at a time:
    listing it fails even for root, who may read any folder."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        for _ in range(40):
            os.mkdir("d" * 120, dir_fd=fd)
            inner = os.open("d" * 120, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
    finally:
        os.close(fd)


@pytest.mark.parametrize("ahead", [True, False], ids=["walked ahead", "walked by the scan"])
def test_a_folder_that_cannot_be_listed_is_logged_and_the_rest_is_scanned(
    tmp_path: Path, ahead: bool, caplog: pytest.LogCaptureFixture
) -> None:
    config = a_site(tmp_path)
    with Store(config.paths.database) as store:
        scan(config, store)
    _unlistable(tmp_path / "content" / "posts")
    put(tmp_path, "posts/2026/later.md", POST.format(title="Later", day=9))
    walked = walk.Ahead.start(config) if ahead else None
    assert (walked is not None) == ahead
    with caplog.at_level("WARNING", logger="publisher.content.scanner"), Store(config.paths.database) as store:
        report = scan(config, store, ahead=walked)
    assert report.added == ["posts/2026/later"]
    (warning,) = [r for r in caplog.records if "cannot list folder" in r.getMessage()]
    assert warning.levelname == "WARNING" and "/content/posts/ddd" in warning.getMessage()
    # Made in the walk's own process and logged again by the scan, or logged where the scan walked.
    assert Path(warning.pathname).name == ("scanner.py" if ahead else "walk.py")
