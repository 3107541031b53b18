"""Forking, as the walk made ahead, the scan's workers and a full build's second feed writer do it: whether
this process may fork (:func:`may_fork`), on how many cores (:func:`cores`), and a child with a pipe back to
its parent (:func:`fork_piped`).

Standard library only, and little of it: the walk's child process loads this and not much more.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable


def cores() -> int:
    """The cores this process may run on (at least one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def may_fork(*, besides: Callable[[threading.Thread], bool] = lambda thread: False) -> bool:
    """Whether this process may fork a child that goes on running its code: POSIX, and no thread running but
    this one (and those ``besides`` accepts, which the child never needs): a thread's locks would stay taken
    in the child."""
    import threading

    main = threading.main_thread()
    return hasattr(os, "fork") and all(t is main or besides(t) for t in threading.enumerate())


def fork_piped() -> tuple[int, int] | None:
    """Fork, with a pipe from the child to the parent: (0, the write end) in the child, (the child's pid, the
    read end) in the parent; None where the fork fails (nothing is left open then)."""
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return None
    if pid == 0:
        os.close(read_end)
        return 0, write_end
    os.close(write_end)
    return pid, read_end
