"""Progress bars on stderr for the long phases of a command (scanning, feeds, sending), click-free until a
bar is drawn: a plain ``publisher build`` runs without loading click (:func:`publisher.cli.run`)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def progress_bar(label: str, *, at_least: int = 200) -> Iterator[Callable[[int, int], None] | None]:
    """A progress callback ``update(done, total)`` drawing a bar on stderr when it is a terminal and the
    work is long (``total >= at_least``); None otherwise, so logs and pipes stay clean.

    Several bars may be open at once for successive phases (scanning, then feeds): a bar is drawn from its
    first update, and the one before it is finished then, so each phase has its own line. While a bar is
    on screen, a log record first clears the bar's line, so log lines never land on it.
    """
    if not sys.stderr.isatty():
        yield None
        return
    bar: Any = None
    shown = 0

    def update(done: int, total: int) -> None:
        nonlocal bar, shown
        if bar is None:
            if total < at_least:
                return
            _finish_active_bar()
            import click  # only where a bar is drawn: a plain build runs without click

            bar = click.progressbar(length=total, label=label, file=sys.stderr)
            bar.__enter__()
            _active.append(bar)
        bar.update(done - shown)
        shown = done

    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(_clear_bar_line)
    try:
        yield update
    finally:
        for handler in handlers:
            handler.removeFilter(_clear_bar_line)
        if bar is not None and bar in _active:
            _active.remove(bar)
            bar.__exit__(None, None, None)


_active: list[Any] = []  # the bar on screen, if any


def _finish_active_bar() -> None:
    while _active:
        _active.pop().__exit__(None, None, None)


def _clear_bar_line(record: logging.LogRecord) -> bool:
    if _active:
        sys.stderr.write("\r\x1b[2K")
        sys.stderr.flush()
    return True
