"""The ``publisher`` command line (:func:`run`; the commands are in :mod:`publisher.cli.app`).

This module loads nothing but the standard library until it knows the command. A plain ``publisher
build`` line (:func:`build_arguments`) is run without click (:func:`publisher.cli.building.plain`), and
the build starts its walk of the content folder (:class:`publisher.content.walk.Ahead`), or for a first
build its scan workers (:mod:`publisher.content.workers`), before it loads its own code, so that loading
overlaps the walk or the workers' own start. Every other line goes to the click command group.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, NoReturn

if TYPE_CHECKING:
    from publisher.config import Config
    from publisher.errors import PublisherError


def run() -> None:
    """The command line as a process runs it (the ``publisher`` script, ``python -m publisher``): a plain
    build, or the command group; then the end of the process without the interpreter's teardown
    (:func:`_end`)."""
    line = build_arguments(sys.argv[1:])
    if line is not None:
        config = _start_ahead_of_build(line)
        from publisher.cli import building

        _end(building.plain(line.config, line.overrides, line.verbose, config))
    from publisher.cli.app import main

    try:
        main()  # the group runs standalone: it ends with SystemExit, whatever the outcome
    except SystemExit as exc:
        _end(exc.code)
    _end(0)


def _end(status: object) -> NoReturn:
    """End the process as the interpreter would after ``sys.exit(status)``, without its teardown.

    Threads are joined and exit handlers run (log handlers are flushed, a walk or workers started ahead and
    never taken are stopped; stores were closed by their commands), and the standard streams are flushed;
    a status that is not a number is printed, and ends the process with 1. What is left out is the
    teardown: unloading every module and freeing their objects one by one, and a last garbage collection
    that walks every object a build leaves (60 ms after a cold build of a real blog, 15 ms after a
    one-post build), when the process's memory goes back whole anyway."""
    import atexit
    import threading

    threading._shutdown()  # type: ignore[attr-defined]  # what the interpreter's own exit does first
    atexit._run_exitfuncs()
    if status is None:
        code = 0
    elif isinstance(status, int):
        code = status
    else:
        print(status, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: the interpreter's exit says 120 then
            code = code or 120
    os._exit(code)


# -- what both ways of running a command share: the click group (cli/app.py) and a plain build (cli/building.py)


def start_logging(config: Config, verbose: int) -> None:
    """Logging for a command: the config's level, DEBUG with ``-v``."""
    from publisher.service.logs import setup_logging

    setup_logging(config.daemon.log_level if not verbose else "DEBUG")


def tell(exc: PublisherError) -> int:
    """One line on stderr for an error publisher raised on purpose; the status to exit with: 2 for the
    configuration, 1 for anything else."""
    from publisher.errors import ConfigError

    if isinstance(exc, ConfigError):
        print(f"publisher: config error: {exc}", file=sys.stderr, flush=True)
        return 2
    print(f"publisher: {exc}", file=sys.stderr, flush=True)
    return 1


class BuildLine(NamedTuple):
    """A plain ``publisher build`` command line, as the command group would read it."""

    config: Path | None  # --config / -c, the last one given
    overrides: list[str]  # every --set, in order
    verbose: int  # how many -v / --verbose


def build_arguments(argv: list[str]) -> BuildLine | None:
    """The ``--config`` path, the ``--set`` overrides and the ``-v`` count of a plain ``publisher build``
    command line, as the command group reads them; None for any other command line, and for one this reading
    is not sure of (an option it does not know, ``--help``, a config path that names no readable regular
    file, which click would refuse or a pipe that can be read once): the command group alone says what
    those mean."""
    path: str | None = None
    overrides: list[str] = []
    verbose = 0
    building = False
    args = iter(argv)
    for arg in args:
        name, equals, value = arg.partition("=")
        if name in ("--config", "-c", "--set") and not equals:
            value = next(args, "")
        elif not (equals and name in ("--config", "--set")):
            if arg == "--verbose":
                verbose += 1
                continue
            if arg.startswith("-") and set(arg[1:]) == {"v"}:
                verbose += len(arg) - 1
                continue
            if arg == "build" and not building:
                building = True
                continue
            return None
        if not value or value.startswith("-"):
            return None
        if name == "--set":
            overrides.append(value)
        else:
            path = value
    if not building:
        return None
    if path is not None and os.path.exists(path) and not (os.path.isfile(path) and os.access(path, os.R_OK)):
        return None
    return BuildLine(Path(path) if path is not None else None, overrides, verbose)


def _start_ahead_of_build(line: BuildLine) -> Config | None:
    """For ``publisher build``: with a store, the walk of the content folder (most files are found unchanged,
    and the walk is most of the work); without one, the scan's worker processes (every file will be read).
    The config, once loaded for that, for the build to use; None where it was not loaded."""
    from publisher.config import DEFAULT_CONFIG_NAME, ENV_CONFIG, load

    path = line.config or Path(os.environ.get(ENV_CONFIG) or DEFAULT_CONFIG_NAME)
    if path.exists() and not path.is_file():
        return None  # a pipe (PUBLISHER_CONFIG=/dev/stdin) can be read once: that read is the build's own
    try:
        config = load(line.config, overrides=line.overrides)
    except Exception:  # the build loads it again, and says what is wrong
        return None
    if not config.paths.content.is_dir():
        return config
    if config.paths.database.exists():
        from publisher.content.walk import Ahead

        Ahead.start_early(config)
        return config
    from publisher.content import workers

    size = workers.pool_size()
    if size and workers.enough_files(config.paths.content, config.content.extensions):
        workers.start_early(size)
    return config
