"""The embedded transport: each message becomes one file in a local Maildir (tmp → new, fsynced).

Used when the configuration has no ``[smtp]`` table, so the whole pipeline runs with no mail server; any mail
client (mutt -f, the stdlib ``mailbox`` module) reads the folder.

A message's file name is derived from its Message-ID, and the file is published into ``new/`` with a hard link,
which fails when the name is already there. A retry of a message whose first delivery completed (the process
died before the outbox recorded it) therefore writes no second copy: the Maildir transport has no duplicates.
A message a reader has already moved to ``cur/`` is found there too when its flags are none, seen or
replied; one moved with other flags before the retry would be the one duplicate.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

from publisher.delivery import Envelope
from publisher.delivery.ratelimit import RateLimiter
from publisher.disk import fsync_dir
from publisher.errors import PermanentFailure, TemporaryFailure

log = logging.getLogger(__name__)

# The names a reader gives a message it has moved to cur/: unread, seen, seen+replied.
_READ_SUFFIXES = ("", ":2,", ":2,S", ":2,RS")


def _host() -> str:
    # The Maildir spec reserves "/" and ":" in names.
    return socket.gethostname().replace("/", "\\057").replace(":", "\\072") or "localhost"


def maildir_name(message_id: str) -> str:
    """The file name of a message: stable for one Message-ID, unique across them."""
    digest = hashlib.sha256(message_id.encode("utf-8")).hexdigest()[:40]
    return f"{digest}.{_host()}"


class MaildirTransport:
    """Write messages into the Maildir at ``path`` (created with its tmp/new/cur folders when missing, at the
    latest when the transport is entered)."""

    # Writes are fsync-bound, not CPU-bound: a few in parallel keep the disk busy.
    concurrency = 4
    # A local folder needs no pacing, and a message is written as it is.
    limiter: RateLimiter | None = None
    prepare: Callable[[Envelope], bytes] | None = None

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._ready = False

    def _prepare(self) -> None:
        if self._ready:
            return
        for sub in ("tmp", "new", "cur"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)
        self._ready = True

    def exists(self, message_id: str) -> bool:
        """True when the message is already in the Maildir (in new/, or read and moved to cur/)."""
        name = maildir_name(message_id)
        # Exact names only: globbing cur/ would cost a directory scan per message in a big Maildir.
        candidates = [self.path / "new" / name] + [self.path / "cur" / f"{name}{info}" for info in _READ_SUFFIXES]
        return any(p.exists() for p in candidates)

    def deliver(self, envelope: Envelope) -> bool:
        """Write one message; False when it was already there. Blocking: call off the event loop."""
        try:
            self._prepare()
            if self.exists(envelope.message_id):
                return False
            name = maildir_name(envelope.message_id)
            tmp = self.path / "tmp" / f"{name}.{os.getpid()}.{os.urandom(4).hex()}"
            with open(tmp, "xb") as fh:
                fh.write(envelope.data)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                # link() refuses an existing name: the atomic "deliver once" test.
                os.link(tmp, self.path / "new" / name)
            except FileExistsError:
                return False
            finally:
                tmp.unlink(missing_ok=True)
            fsync_dir(self.path / "new")
            return True
        except OSError as exc:
            # A full disk or a permission problem may be fixed by the operator: retry later.
            raise TemporaryFailure(f"maildir {self.path}: {exc}", recipient=envelope.recipient) from exc
        except ValueError as exc:
            raise PermanentFailure(f"maildir: {exc}", recipient=envelope.recipient) from exc

    async def send(self, envelope: Envelope, *, prepared: bytes | None = None) -> str | None:
        await asyncio.to_thread(self.deliver, envelope)
        return None

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> Self:
        try:
            await asyncio.to_thread(self._prepare)
        except OSError as exc:
            # Not fatal here: each message will say so (TemporaryFailure) until the operator fixes it.
            log.warning("maildir %s cannot be made: %s", self.path, exc)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
