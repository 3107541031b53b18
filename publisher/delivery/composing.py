"""Composing outbox rows in a worker process, so the drain's event loop does not share a GIL with it.

A large send spends about as much CPU composing messages (rendering each subscriber's copy, DKIM, the DATA
preparation) as it does on SMTP; in one process both wait for the same GIL. :class:`ComposeWorker` runs a
composer in one child process and feeds it rows in batches over a pipe; it gets back the sender, recipient,
Message-ID and prepared DATA of each. The child is a fresh interpreter (``python -c``, like multiprocessing's
``spawn``: the daemon is multi-threaded, so forking it is unsafe) that imports only this module, not the
caller's ``__main__`` as multiprocessing would (a script without a ``__main__`` guard would run again there).
Each message's envelope sender (VERP, an HMAC per row) is worked out there too.

The worker only composes: it never touches the outbox's states or its lock (it reads the store, as the
composer does in a thread). It exits when its request pipe reaches EOF, which happens when the drain closes
it or when the drain's process dies, even by SIGKILL: the only write end of that pipe lives in the parent.
A worker that cannot start or that dies fails its batches with :class:`WorkerGone`; the outbox then composes
them in its thread, so a broken worker never loses a row.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import pickle
import signal
import struct
import subprocess
import sys
import traceback
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import publisher
from publisher.delivery import Envelope
from publisher.delivery.ledger import OutboxRow
from publisher.errors import PermanentFailure

__all__ = ["ComposeError", "ComposeWorker", "Result", "Senders", "WorkerGone", "finish", "prefetch"]

log = logging.getLogger(__name__)

# A composed row (envelope, what the transport prepared from it or None), or why it could not be composed.
Result = tuple[Envelope, Any] | Exception

_DATA_END = b".\r\n"
# multiprocessing.connection's framing of a message: its length, big-endian (-1, then 8 bytes, past 2 GiB).
_LENGTH = struct.Struct("!i")
_LONG_LENGTH = struct.Struct("!Q")
# At most this much is read from the answers' pipe at once (a pipe holds 64 KiB unless enlarged).
_READ_SIZE = 1 << 20


class WorkerGone(Exception):
    """The worker process is not there (it could not start, or it died): compose elsewhere."""


class ComposeError(Exception):
    """A row the worker could not compose, for a reason other than :class:`PermanentFailure`.

    ``kind`` is the name of the original exception's class; ``trace`` its traceback, as text.
    """

    def __init__(self, kind: str, message: str, trace: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.trace = trace


def prefetch(composer: Callable[[OutboxRow], Envelope], rows: list[OutboxRow]) -> None:
    """Let ``composer`` read what a batch needs at once (a composer with ``prefetch(rows)``: the subscribers).

    Only an optimisation: when it fails, each row is composed as if it had not been called.
    """
    ahead = getattr(composer, "prefetch", None)
    if callable(ahead):
        try:
            ahead(rows)
        except Exception:
            log.warning("outbox: cannot read a batch ahead; composing its rows one by one", exc_info=True)


# -- in the worker process ----------------------------------------------------------------------------------


# The envelope sender of an outbox row (VERP), worked out where the message is composed.
Senders = Callable[[int], str]


def finish(composer: Callable[[OutboxRow], Envelope], row: OutboxRow, prepare: Callable[[Envelope], Any] | None,
           senders: Senders | None) -> tuple[Envelope, Any]:  # fmt: skip
    """Compose ``row``, give it its envelope sender and prepare it for the transport: all of a message's
    work that can be done away from the event loop."""
    envelope = composer(row)
    if senders is not None:
        envelope = Envelope(senders(row.id), envelope.recipient, envelope.data, envelope.message_id,
                            envelope.wire_ready)  # fmt: skip
    return envelope, prepare(envelope) if prepare is not None else None


def _wire_result(composer: Callable[[OutboxRow], Envelope], prepare: Callable[[Envelope], Any] | None,
                 senders: Senders | None, row: OutboxRow) -> tuple[Any, ...]:  # fmt: skip
    try:
        envelope, prepared = finish(composer, row, prepare, senders)
    except PermanentFailure as exc:
        return ("permanent", str(exc))
    except Exception as exc:
        return ("error", exc.__class__.__name__, str(exc), traceback.format_exc())
    data = envelope.data
    if isinstance(prepared, bytes) and len(prepared) == len(data) + 3 and prepared.startswith(data):
        # The usual case (CRLF already, no line starting with a dot): the DATA is the message plus ".\r\n",
        # so the message's bytes cross the pipe once instead of twice.
        return ("ok", envelope.sender, envelope.recipient, envelope.message_id, None, prepared, envelope.wire_ready)
    return ("ok", envelope.sender, envelope.recipient, envelope.message_id, data, prepared, envelope.wire_ready)


def serve(requests_fd: int, results_fd: int) -> None:
    """The worker's main: (factory, prepare) first, then a batch of rows in, a batch of results out, until EOF."""
    # Ctrl-C in a terminal reaches the whole process group: the drain decides when this process stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests = Connection(requests_fd, writable=False)
    results = Connection(results_fd, readable=False)
    try:
        factory, prepare, senders = requests.recv()
        composer = factory()
    except (EOFError, OSError):
        return
    except Exception as exc:
        with contextlib.suppress(OSError):
            results.send(("broken", f"cannot build the composer: {exc.__class__.__name__}: {exc}"))
        return
    # Imports and set-up the first rows would wait for, done while the drain is still getting ready
    # (the digest command starts this process before it queues).
    warm = getattr(composer, "warm", None)
    if callable(warm):
        try:
            warm()
        except Exception:
            log.warning("composer process: warming up failed; composing anyway", exc_info=True)
    try:
        while True:
            try:
                rows: list[OutboxRow] = requests.recv()
            except (EOFError, OSError):
                return  # the drain closed the pipe, or its process is gone
            prefetch(composer, rows)
            out = [_wire_result(composer, prepare, senders, row) for row in rows]
            try:
                results.send(("ok", out))
            except OSError:
                return
    finally:
        close = getattr(composer, "close", None)
        if callable(close):
            with contextlib.suppress(Exception):
                close()


def leave() -> None:
    """End the worker once :func:`serve` returned: its output flushed, without the interpreter's teardown
    (freeing every module and cache takes a fifth of a second that the drain would wait out)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


# -- in the drain's process ---------------------------------------------------------------------------------


def _result(wire: tuple[Any, ...]) -> Result:
    if wire[0] == "permanent":
        return PermanentFailure(wire[1])
    if wire[0] == "error":
        return ComposeError(wire[1], wire[2], wire[3])
    _, sender, recipient, message_id, data, prepared, ready = wire
    if data is None:
        data = prepared[: -len(_DATA_END)]
    return (Envelope(sender, recipient, data, message_id, ready), prepared)


class ComposeWorker:
    """One composer process; :meth:`submit` a batch of rows, await its results (in the order of the rows).

    Batches are answered in the order they were submitted. The answers are read on the event loop of the
    first :meth:`submit` as they arrive (the pipe is watched by the loop like a socket), so no thread of
    the drain's process competes with the loop for the GIL. It may be started before any loop runs (the
    process starts and imports meanwhile).
    """

    def __init__(self, factory: Callable[[], Callable[[OutboxRow], Envelope]],
                 prepare: Callable[[Envelope], Any] | None, senders: Senders | None = None) -> None:  # fmt: skip
        self._loop: asyncio.AbstractEventLoop | None = None
        self.prepare = prepare
        self.senders = senders
        self._submitted = False
        # Checked here, so that a factory that cannot cross to another process fails before one is started.
        setup = pickle.dumps((factory, prepare, senders), protocol=pickle.HIGHEST_PROTOCOL)
        # os.pipe() ends are not inheritable: the child gets exactly its two, and no other child any.
        requests_in, requests_out = os.pipe()
        results_in, results_out = os.pipe()
        _widen(results_out)
        root = str(Path(publisher.__file__).resolve().parent.parent)
        code = f"import sys; sys.path.insert(0, {root!r}); from {__name__} import serve, leave; "
        code += f"serve({requests_in}, {results_out}); leave()"
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", code], stdin=subprocess.DEVNULL, pass_fds=(requests_in, results_out)
            )
        except BaseException:
            for fd in (requests_in, requests_out, results_in, results_out):
                os.close(fd)
            raise
        # The child holds its own copies now; without closing ours, EOF could never reach either side.
        os.close(requests_in)
        os.close(results_out)
        self._requests = Connection(requests_out, readable=False)
        try:
            self._requests.send_bytes(setup)
        except BaseException:  # the child died at once (its pipe is closed): nothing to compose with
            self._requests.close()
            os.close(results_in)
            self._process.kill()
            self._process.wait()
            raise
        self._results = results_in  # read without blocking, by the loop, once a batch was submitted
        self._inbox = _Inbox()
        self._pending: deque[asyncio.Future[list[Result]]] = deque()
        self._gone: str = ""

    @property
    def pid(self) -> int:
        return self._process.pid

    def submit(self, rows: list[OutboxRow]) -> asyncio.Future[list[Result]]:
        """Send ``rows`` to the worker; the future raises :class:`WorkerGone` if it cannot answer."""
        if self._loop is None:
            self._watch(asyncio.get_running_loop())
        assert self._loop is not None
        self._submitted = True
        future: asyncio.Future[list[Result]] = self._loop.create_future()
        if self._gone:
            future.set_exception(WorkerGone(self._gone))
            return future
        # Appended before sending, so the answer read always finds its future.
        self._pending.append(future)
        try:
            self._requests.send(rows)
        except (OSError, ValueError) as exc:
            with contextlib.suppress(ValueError):
                self._pending.remove(future)
            if not future.done():
                future.set_exception(WorkerGone(f"composer process unreachable: {exc}"))
        return future

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        if self._results < 0:
            self._gone = self._gone or "composer process closed"
            return
        os.set_blocking(self._results, False)
        loop.add_reader(self._results, self._readable)

    def _readable(self) -> None:
        """The loop saw answers on the pipe: take what is there, settle each batch read in full."""
        try:
            if not self._inbox.fill(self._results):
                self._stop("composer process exited")
                return
        except OSError as exc:
            self._stop(f"composer process unreachable: {exc}")
            return
        while True:
            message = self._inbox.message()
            if message is None:
                return
            if message[0] != "ok":
                self._stop(str(message[1]))
                return
            try:
                value: list[Result] | BaseException = [_result(wire) for wire in message[1]]
            except Exception as exc:  # a malformed answer: treat the worker as gone
                self._stop(f"composer process answered nonsense: {exc}")
                return
            if not self._pending:
                self._stop("composer process answered a batch nobody sent")
                return
            _settle(self._pending.popleft(), value)

    def _stop(self, reason: str) -> None:
        """No more answers: every batch still waiting fails with :class:`WorkerGone`."""
        if not self._gone:
            self._gone = reason
        self._unwatch()
        left = list(self._pending)
        self._pending.clear()
        for future in left:
            _settle(future, WorkerGone(self._gone))

    def _unwatch(self) -> None:
        if self._results < 0:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._results)
        os.close(self._results)
        self._results = -1

    def close(self, timeout: float = 10.0) -> None:
        """Stop the worker: EOF on its pipe, then wait for it (it finishes the batch it is composing, whose
        answer nobody reads any more).

        A worker that was never given rows is stopped at once, not waited for through its start-up.
        """
        # Ours closed first: a worker writing an answer gets EPIPE and ends instead of waiting for a reader.
        self._gone = self._gone or "composer process closed"
        self._unwatch()
        with contextlib.suppress(OSError):
            self._requests.close()
        if not self._submitted:
            with contextlib.suppress(OSError):
                self._process.terminate()
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("outbox: the composer process did not stop; killing it")
            self._process.kill()
            self._process.wait()
        for future in list(self._pending):
            if not future.done():
                future.cancel()
        self._pending.clear()


class _Inbox:
    """The answers read from the pipe, into one buffer kept for the whole send, and cut into messages.

    Reading into the same memory again and again matters: a fresh megabyte per read (``os.read``) costs the
    drain's process a page fault per 4 KiB, about as much CPU as the reading itself.
    """

    def __init__(self, size: int = 2 * _READ_SIZE) -> None:
        self._data = bytearray(size)
        self._start = 0  # the first byte not yet taken as a message
        self._end = 0  # the end of what was read

    def fill(self, fd: int) -> bool:
        """Read what the non-blocking ``fd`` holds; False at EOF."""
        while True:
            if len(self._data) - self._end < _READ_SIZE // 4:
                self._make_room()
            with memoryview(self._data) as view:
                try:
                    count = os.readv(fd, [view[self._end :]])
                except BlockingIOError:
                    return True
            if count == 0:
                return False
            self._end += count
            if self._end < len(self._data):
                return True  # less than the room offered: the pipe is empty for now

    def _make_room(self) -> None:
        """Move what is left to the front; twice the space when a message is larger than the buffer."""
        data, start, end = self._data, self._start, self._end
        if start:
            data[: end - start] = data[start:end]
            self._start, self._end = 0, end - start
        if len(data) - self._end < _READ_SIZE // 4:
            data.extend(bytes(len(data)))

    def message(self) -> Any:
        """The next whole message (``Connection.send``'s framing: a big-endian length, then the pickle), or
        None until it has all arrived."""
        data, start, have = self._data, self._start, self._end - self._start
        if have < 4:
            return None
        (size,) = _LENGTH.unpack_from(data, start)
        header = 4
        if size == -1:  # over 2 GiB: the length follows as 8 bytes
            if have < 12:
                return None
            (size,) = _LONG_LENGTH.unpack_from(data, start + 4)
            header = 12
        if have < header + size:
            return None
        with memoryview(data) as view:
            message = pickle.loads(view[start + header : start + header + size])
        self._start += header + size
        if self._start == self._end:
            self._start = self._end = 0
        return message


def _widen(fd: int) -> None:
    """Let the answers' pipe hold a whole batch (Linux: 64 KiB by default, a batch is about 1 MiB), so the
    loop reads it in one or two turns rather than sixteen, and the worker never waits for room."""
    setter = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setter is not None:
        with contextlib.suppress(OSError):  # above /proc/sys/fs/pipe-max-size: the default size will do
            fcntl.fcntl(fd, setter, _READ_SIZE)


def _settle(future: asyncio.Future[list[Result]], value: list[Result] | BaseException) -> None:
    if future.done():
        return
    if isinstance(value, BaseException):
        future.set_exception(value)
    else:
        future.set_result(value)
