"""The sd_notify protocol, by hand: one datagram per message to ``$NOTIFY_SOCKET``.

systemd reads newline-separated ``KEY=VALUE`` assignments from a ``SOCK_DGRAM`` AF_UNIX socket: a path, or a
name in the abstract namespace written with a leading ``@``. ``READY=1`` ends start-up (``Type=notify``),
``WATCHDOG=1`` must arrive at least every ``WatchdogSec=`` (systemd passes it as ``$WATCHDOG_USEC``, for the
process in ``$WATCHDOG_PID`` when set), ``RELOADING=1`` / ``STOPPING=1`` announce a reload or a stop.

Outside systemd (no ``$NOTIFY_SOCKET``) every call is a no-op, and a failed send is logged, never raised: a
daemon must not die because its supervisor went away.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Self

logger = logging.getLogger(__name__)


class Notifier:
    """Talks to the service manager named by ``$NOTIFY_SOCKET`` (read once, at construction)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = _address(env.get("NOTIFY_SOCKET", ""))
        self.watchdog_usec = _watchdog_usec(env)
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings: half of WatchdogSec=, as sd_watchdog_enabled(3) advises."""
        if self.watchdog_usec is None or not self.enabled:
            return None
        return self.watchdog_usec / 2 / 1_000_000

    def notify(self, *assignments: str) -> bool:
        """Send ``KEY=VALUE`` lines in one datagram; True when it was sent."""
        if self.address is None:
            return False
        message = "\n".join(a.replace("\n", " ") for a in assignments).encode("utf-8", "replace")
        try:
            if self._sock is None:
                # Non-blocking: a supervisor that stops reading (its queue holds ~10 datagrams) must not
                # freeze the event loop; a message it had no room for is dropped.
                self._sock = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
                )
            self._sock.sendto(message, self.address)
        except BlockingIOError:
            logger.debug("the service manager's queue is full; dropped %r", message)
            return False
        except OSError as exc:
            logger.warning("cannot notify the service manager at %s: %s", self.address, exc)
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def reloading(self) -> bool:
        # MONOTONIC_USEC lets Type=notify-reload tell this reload from an earlier one.
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self, status: str = "") -> bool:
        return self.notify("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    async def watchdog_loop(self) -> None:
        """Ping the watchdog from the event loop, so a stuck loop stops the pings and systemd restarts us."""
        interval = self.watchdog_interval
        if interval is None:
            return
        while True:
            self.watchdog()
            await asyncio.sleep(interval)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _address(value: str) -> str | bytes | None:
    if not value:
        return None
    if value.startswith("@"):
        # Abstract namespace: a leading NUL instead of the "@".
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    logger.warning("NOTIFY_SOCKET=%r is neither an absolute path nor an abstract name; not notifying", value)
    return None


def _watchdog_usec(env: Mapping[str, str]) -> int | None:
    text = env.get("WATCHDOG_USEC", "")
    if not text:
        return None
    pid = env.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        # The watchdog is meant for another process (e.g. our parent shell under systemd-run).
        return None
    try:
        usec = int(text)
    except ValueError:
        logger.warning("WATCHDOG_USEC=%r is not a number; no watchdog pings", text)
        return None
    return usec if usec > 0 else None
