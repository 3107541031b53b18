"""``publisher scan`` and ``publisher build``: their work, free of click.

The click commands of :mod:`publisher.cli.content` call :func:`scan` and :func:`build`. A plain
``publisher build`` line (``--config``, ``--set`` and ``-v``, before or after the word: see
:func:`publisher.cli.build_arguments`) is run by :func:`plain`, straight from :func:`publisher.cli.run`,
without loading click at all: loading it and reading the line with it took 10-18 ms of a one-post build of
0.2 s. :func:`plain` tells errors with the command group's own :func:`publisher.cli.tell`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from publisher.cli.progress import progress_bar
from publisher.errors import ContentError

if TYPE_CHECKING:
    from publisher.config import Config
    from publisher.content.scanner import ScanReport
    from publisher.store import Store


def say(line: str) -> None:
    """A line of the command's report on stdout, written out at once (as click.echo does)."""
    print(line, flush=True)


def require_content(config: Config) -> None:
    """A missing content folder is an error, not an empty site: most often a wrong ``paths.content``."""
    folder = config.paths.content
    if not folder.is_dir():
        raise ContentError(
            str(folder), f"the content folder does not exist (paths.content, from {config.origin('paths.content')})"
        )


def open_store(config: Config) -> Store:
    from publisher.store import Store

    return Store(config.paths.database)


def scan(config: Config) -> None:
    """Read the content folder into the store, and say what the scan found."""
    from publisher.content.scanner import scan as run_scan

    require_content(config)
    with open_store(config) as store:
        with progress_bar("scanning") as progress:
            report = run_scan(config, store, progress=progress)
        print_scan(report, store)


def build(config: Config) -> None:
    """Scan, write the feeds that changed, and say what was done."""
    from publisher.content import walk
    from publisher.store import content as db

    require_content(config)
    # The folder is walked in a child process while this one loads what reads files and writes feeds. That
    # includes the feed pages and renderer and the threads feed files are flushed from, which the build
    # itself loads only after its scan, once the walk is over: here they load while this process would
    # otherwise wait for the walk. The walk is the one the command line started before loading its own code
    # (publisher.cli.run), when that one was made for this config.
    ahead = walk.Ahead.start(config)
    import concurrent.futures.thread  # noqa: F401

    from publisher.feeds import pages  # noqa: F401
    from publisher.feeds.build import build as run_build

    with open_store(config) as store:
        with progress_bar("scanning") as progress, progress_bar("feeds", at_least=10) as feed_progress:
            report = run_build(config, store, progress=progress, feed_progress=feed_progress, ahead=ahead)
        print_scan(report.scan, store)
        items = db.count_items(store)
        people = len(db.published_correspondents(store))
    say(f"store: {items} items, {people} correspondents")
    say(
        f"feeds: {report.feeds_total} feeds, {len(report.feeds_written)} files written, "
        f"{len(report.archives_written)} archive pages written, "
        f"{len(report.feeds_removed)} removed, in {config.paths.output} ({report.seconds:.2f}s: "
        f"scan {report.scan_seconds:.2f}s, feeds {report.seconds - report.scan_seconds:.2f}s)"
    )


def print_scan(scan: ScanReport, store: Store) -> None:
    from publisher.content.scanner import skipped_sources

    say(
        f"files: {scan.files_seen} seen, {scan.files_read} read, {scan.unchanged} unchanged; "
        f"items: {len(scan.added)} added, {len(scan.updated)} updated, {len(scan.removed)} removed, "
        f"{scan.drafts} drafts"
    )
    if scan.undated:
        say(f"undated: {scan.undated} file(s) gave no date; their modification time was used")
    for reason, count in sorted(scan.left_out.items()):
        say(f"left out: {count} file(s), {reason}")
    skipped = skipped_sources(store)
    if skipped:
        say(f"skipped: {len(skipped)}")
        for path, reason in skipped:
            say(f"  {path}: {reason}")


def plain(config_path: Path | None, overrides: list[str], verbose: int, config: Config | None = None) -> int:
    """Run ``publisher build`` as the command group would, without it; the exit status. ``config``: the one
    already loaded from the same ``config_path`` and ``overrides``, if any."""
    import logging

    from publisher.cli import start_logging, tell
    from publisher.config import load
    from publisher.errors import PublisherError

    logging.captureWarnings(True)
    try:
        if config is None:
            config = load(config_path, overrides=overrides)
        start_logging(config, verbose)
        build(config)
    except PublisherError as exc:
        return tell(exc)
    except (KeyboardInterrupt, EOFError):  # as click says it
        print("\nAborted!", file=sys.stderr)
        return 1
    except BrokenPipeError:  # stdout went away: as click ends then
        return 1
    return 0
