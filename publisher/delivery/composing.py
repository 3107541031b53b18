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
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
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

    Batches are answered in the order they were submitted; a reader thread takes the answers off the pipe
    (unpickling there, not in the event loop's callbacks) and settles the futures in the loop of the first
    :meth:`submit`. It may be started before any loop runs (the process starts and imports meanwhile).
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
        self._results = Connection(results_in, writable=False)
        try:
            self._requests.send_bytes(setup)
        except BaseException:  # the child died at once (its pipe is closed): nothing to compose with
            self._requests.close()
            self._results.close()
            self._process.kill()
            self._process.wait()
            raise
        self._pending: deque[asyncio.Future[list[Result]]] = deque()
        self._gone: str = ""
        self._lock = threading.Lock()  # _gone and _pending change together
        self._reader = threading.Thread(target=self._read, name="publisher-composer-reader", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self._process.pid

    def submit(self, rows: list[OutboxRow]) -> asyncio.Future[list[Result]]:
        """Send ``rows`` to the worker; the future raises :class:`WorkerGone` if it cannot answer."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        self._submitted = True
        future: asyncio.Future[list[Result]] = self._loop.create_future()
        with self._lock:
            if self._gone:
                future.set_exception(WorkerGone(self._gone))
                return future
            # Appended before sending, so the reader always finds the future of the answer it reads.
            self._pending.append(future)
        try:
            self._requests.send(rows)
        except (OSError, ValueError) as exc:
            with self._lock, contextlib.suppress(ValueError):
                self._pending.remove(future)
            if not future.done():
                future.set_exception(WorkerGone(f"composer process unreachable: {exc}"))
        return future

    def _read(self) -> None:
        reason = "composer process exited"
        while True:
            try:
                message = self._results.recv()
            except (EOFError, OSError):
                break
            if message[0] != "ok":
                reason = str(message[1])
                break
            try:
                value: list[Result] | BaseException = [_result(wire) for wire in message[1]]
            except Exception as exc:  # a malformed answer: treat the worker as gone
                value = exc
            try:
                future = self._pending.popleft()
            except IndexError:
                break
            self._call(_settle, future, value)
        with self._lock:
            self._gone = reason
            left = list(self._pending)
            self._pending.clear()
        for future in left:
            self._call(_settle, future, WorkerGone(reason))

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        if self._loop is None:
            return  # nothing was submitted: nobody waits
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            self._loop.call_soon_threadsafe(fn, *args)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the worker: EOF on its pipe, then wait for it (it finishes the batch it is composing).

        A worker that was never given rows is stopped at once, not waited for through its start-up.
        """
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
        self._reader.join(timeout)
        with contextlib.suppress(OSError):
            self._results.close()
        for future in list(self._pending):
            if not future.done():
                future.cancel()


def _settle(future: asyncio.Future[list[Result]], value: list[Result] | BaseException) -> None:
    if future.done():
        return
    if isinstance(value, BaseException):
        future.set_exception(value)
    else:
        future.set_result(value)
