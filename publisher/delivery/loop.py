"""The event loop a send runs on: uvloop where it is installed, asyncio's own loop elsewhere.

A large send is bound by the CPU of its one process: every message is a few socket writes and reads, two
replies to wait for and a commit to the ledger, each a turn of the event loop. uvloop (libuv, MIT or
Apache-2.0) runs those turns in C and takes about a tenth off the drain's CPU per message. It is a
dependency on Linux and macOS; without it (Windows, or ``PUBLISHER_EVENT_LOOP=asyncio`` to compare) the
standard loop runs the same code.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["loop_factory", "run"]

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory, or None for asyncio's default loop."""
    if os.environ.get("PUBLISHER_EVENT_LOOP", "").strip().lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the loop :func:`loop_factory` chooses."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
