"""The ``publisher`` command line (:func:`run`; the commands are in :mod:`publisher.cli.app`).

This module loads nothing but the standard library until it knows the command: ``publisher build`` starts
its walk of the content folder (:class:`publisher.content.walk.Ahead`), or for a first build its scan
workers (:mod:`publisher.content.workers`), before the command line's own code (click, the commands) is
loaded, so that loading overlaps the walk or the workers' own start.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn


def run() -> None:
    """The command line as a process runs it (the ``publisher`` script, ``python -m publisher``): the command
    group, then the end of the process without the interpreter's teardown (:func:`_end`)."""
    _start_ahead_of_build(sys.argv[1:])
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


def build_arguments(argv: list[str]) -> tuple[Path | None, list[str]] | None:
    """The ``--config`` path and the ``--set`` overrides of a ``publisher build`` command line, as the command
    group reads them; None for any other command line, and for one this reading is not sure of (an option
    it does not know, ``--help``): the build then starts its walk itself, a little later, and the command
    group alone says what the command line means."""
    path: str | None = None
    overrides: list[str] = []
    building = False
    args = iter(argv)
    for arg in args:
        name, equals, value = arg.partition("=")
        if name in ("--config", "-c", "--set") and not equals:
            value = next(args, "")
        elif not (equals and name in ("--config", "--set")):
            if arg == "--verbose" or (arg.startswith("-") and set(arg[1:]) == {"v"}):
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
    return (Path(path) if path is not None else None), overrides


def _start_ahead_of_build(argv: list[str]) -> None:
    """For ``publisher build``: with a store, the walk of the content folder (most files are found unchanged,
    and the walk is most of the work); without one, the scan's worker processes (every file will be read)."""
    arguments = build_arguments(argv)
    if arguments is None:
        return
    from publisher.config import DEFAULT_CONFIG_NAME, ENV_CONFIG, load

    path = arguments[0] or Path(os.environ.get(ENV_CONFIG) or DEFAULT_CONFIG_NAME)
    if path.exists() and not path.is_file():
        return  # a pipe (-c /dev/stdin, -c <(...)) can be read once, and that read is the command group's
    try:
        config = load(arguments[0], overrides=arguments[1])
    except Exception:  # the command group loads it again, and says what is wrong
        return
    if not config.paths.content.is_dir():
        return
    if config.paths.database.exists():
        from publisher.content.walk import Ahead

        Ahead.start_early(config)
        return
    from publisher.content import workers

    size = workers.pool_size()
    if size and workers.enough_files(config.paths.content, config.content.extensions):
        workers.start_early(size)
