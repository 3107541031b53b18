"""The persistent outbox: one row per message to send, and the drain that takes rows out through a transport.

States of a row::

    queued ──claim──▶ sending ──250 to the DATA──▶ sent
      ▲                  │
      └──4xx / dropped───┤ (attempts + 1, next_attempt_at = now + backoff with jitter)
                         └──5xx for the recipient, or attempts exhausted──▶ failed

The crash guarantee: a row is committed as ``sending`` before its MAIL FROM goes out, and committed as ``sent``
once the server answered 250 to the end of its DATA, before the same sender claims its next row (both in one
transaction when the next row is ready). So at any moment each connection has at most one row in ``sending``
that the server may already hold. After a crash or SIGKILL, :func:`recover` (run at the start of every drain)
puts ``sending`` rows back to ``queued``: nothing is lost, and the only duplicates are those rows, at most one
per connection that was in flight. Commits are grouped across connections (one transaction for all the
updates asked within a few turns of the event loop), never deferred past the point above.

Only one drain runs at a time per store: the drain holds an advisory lock on ``<database>.outbox.lock``; a
second drain returns at once with ``busy=True`` (the kernel drops the lock when a process dies).

Composition runs ahead of the senders within a prefetch window, so SMTP never waits on it: in one worker
thread for small sends, and for large ones (at least ``PROCESS_THRESHOLD`` rows due, with a composer that
offers ``factory()``) in one worker process (:mod:`publisher.delivery.composing`), so that composing and the
event loop do not take turns on one GIL. Rows are read from SQLite a page at a time, so memory does not grow
with the size of the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

from publisher.config import Config, SmtpConfig
from publisher.delivery import Envelope, Transport, make_transport, verp
from publisher.delivery.composing import ComposeError, ComposeWorker, Senders, WorkerGone, finish, prefetch
from publisher.delivery.ledger import Ledger, OutboxRow, Outcome, Progress
from publisher.delivery.ratelimit import BucketState, RateLimiter
from publisher.delivery.smtp import RelayUnavailable
from publisher.errors import DeliveryError, PermanentFailure, StoreError, TemporaryFailure
from publisher.mail import tokens
from publisher.store import Store, dumps, iso
from publisher.store import digests as store_digests
from publisher.store import outbox as store_outbox
from publisher.store.outbox import NewMessage

__all__ = [
    "Composer",
    "DrainReport",
    "OutboxError",
    "OutboxRow",
    "Progress",
    "compose_ahead",
    "counts",
    "drain",
    "enqueue",
    "recent_errors",
    "recover",
    "retry_deferred",
    "retry_failed",
]

log = logging.getLogger(__name__)

# The states of an outbox row: waiting (or waiting again, after a deferral), being sent, done, or given up.
OutboxState = Literal["queued", "sending", "sent", "failed"]
STATES: tuple[OutboxState, ...] = get_args(OutboxState)
INACTIVE = ("bounced", "unsubscribed")
PAGE_SIZE = 256
COMPOSE_BATCH = 16
# A worker process costs a spawn and the imports (a few hundred ms of CPU): worth it for large sends only.
PROCESS_THRESHOLD = 200
# Rows per hand-off to the process: pickling and pipe round trips amortised, yet the first batch comes fast.
PROCESS_BATCH = 48
_HOURLY_BUCKET_KEY = "outbox.hourly_bucket"
# How often the drain's checkpoint thread copies the write-ahead log into the database: at a few thousand
# messages a second, about the thousand pages after which SQLite would have done it in the commit.
CHECKPOINT_SECONDS = 0.1
# The log's length (pages of 4 KiB) at which the checkpoint thread has it start over (see _Checkpoints).
RESTART_PAGES = 4000

T = TypeVar("T")


Composer = Callable[[OutboxRow], Envelope]


@dataclass(frozen=True)
class DrainReport:
    """The outcome of one drain. ``deferred`` rows failed temporarily and wait for a later drain."""

    due: int = 0
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    skipped: int = 0
    bounced_subscribers: int = 0
    stopped: bool = False  # the stop event ended it early
    busy: bool = False  # another drain holds the lock; nothing was done
    error: str = ""  # why it ended early: no relay reachable, ...
    seconds: float = 0.0


@dataclass(frozen=True)
class OutboxError:
    id: int
    kind: str
    recipient: str
    state: str
    attempts: int
    last_error: str
    updated_at: str


# -- the table --------------------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def enqueue(
    store: Store,
    *,
    kind: str,
    recipient: str,
    message_id: str,
    subscriber_id: int | None = None,
    digest_id: str | None = None,
    payload: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> bool:
    """Queue one message; False when it is already there (same message_id, or same digest and subscriber).

    Call it inside ``store.transaction()`` when queueing many: one commit per row is slow.
    """
    message = NewMessage(kind, recipient, message_id, subscriber_id, digest_id, dumps(dict(payload or {})))
    return store_outbox.enqueue(store, [message], iso(now or _now())) == 1


def counts(store: Store) -> dict[str, int]:
    """Rows per state; every state is present."""
    out: dict[str, int] = dict.fromkeys(STATES, 0)
    out.update(store_outbox.count_by_state(store))
    return out


def recent_errors(store: Store, limit: int = 10) -> list[OutboxError]:
    """The latest rows that carry an error, failed or waiting for a retry, newest first."""
    return [OutboxError(*row) for row in store_outbox.recent_errors(store, limit)]


def retry_failed(store: Store, *, now: datetime | None = None) -> int:
    """Put every failed row back in the queue with its attempts reset; the number of rows."""
    return store_outbox.retry_failed(store, iso(now or _now()))


def retry_deferred(store: Store, *, now: datetime | None = None) -> int:
    """Make the rows waiting for a retry due now (the relay is fixed: no need to wait out the backoff)."""
    return store_outbox.make_due(store, iso(now or _now()))


def recover(store: Store, *, now: datetime | None = None) -> int:
    """Queue again the rows a crash left in ``sending`` (they may arrive twice); the number of rows."""
    count = store_outbox.requeue_interrupted(store, iso(now or _now()))
    if count:
        log.warning("outbox: %d message(s) were in flight when the last send stopped; sending them again", count)
    return count


# -- the drain --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _drain_lock(store_path: Path) -> Iterator[bool]:
    if str(store_path) == ":memory:":
        yield True
        return
    lock_path = Path(f"{store_path}.outbox.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


async def _until(awaitable: Awaitable[T], *events: asyncio.Event) -> tuple[bool, T | None]:
    """Await ``awaitable`` unless one of ``events`` is set first; (True, result) or (False, None)."""
    task = asyncio.ensure_future(awaitable)
    if any(e.is_set() for e in events):
        task.cancel()
        return False, None
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait({task, *waiters}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    if task.done():
        return True, task.result()
    task.cancel()
    return False, None


# A composed message, and what the transport prepared from it off the event loop (or None).
_Composed = tuple[Envelope, Any]


def _compose_all(
    composer: Composer, rows: list[OutboxRow], prepare: Callable[[Envelope], Any] | None, senders: Senders | None
) -> list[_Composed | Exception]:
    """Compose a batch in the composer thread; one row's error is that row's result, not the batch's."""
    prefetch(composer, rows)
    out: list[_Composed | Exception] = []
    for row in rows:
        try:
            out.append(finish(composer, row, prepare, senders))
        except Exception as exc:
            out.append(exc)
    return out


def _row(record: tuple[Any, ...]) -> OutboxRow:
    row_id, kind, digest_id, subscriber_id, recipient, message_id, payload, attempts = record[:8]
    return OutboxRow(row_id, kind, digest_id, subscriber_id, recipient, message_id,
                     json.loads(payload) if payload else {}, attempts)  # fmt: skip


class _Run:
    """One drain: a producer feeding composed envelopes to one sender task per connection."""

    def __init__(self, store: Store, transport: Transport, composer: Composer, ledger: Ledger,
                 halt: asyncio.Event, due_before: str, senders: Senders | None = None) -> None:  # fmt: skip
        self.store = store
        # VERP: the envelope sender names the row; set beside the composing (the composer never sees it).
        self.senders = senders
        self.transport = transport
        self.composer = composer
        self.ledger = ledger
        self.halt = halt
        self.due_before = due_before
        self.workers = max(1, transport.concurrency)
        self.limiter = transport.limiter
        # A transport may turn an envelope into wire bytes ahead of time (SMTP: dot-stuffing, ~50 µs for
        # 20 KB); done in the composer thread, that work leaves the event loop, the critical path.
        self.prepare = transport.prepare
        # Composed messages waiting for a sender. The producer adds a whole batch once there is room (one
        # wait per batch, not per message); it holds about ``room`` messages, a batch more at most.
        self.ready: deque[tuple[OutboxRow, _Composed]] = deque()
        self.room = self.workers * 2
        self.has_room = asyncio.Event()
        self.has_items = asyncio.Event()
        # Rows composed or being composed ahead of the senders: enough to ride out a slow message, bounded
        # so memory does not depend on the size of the queue.
        self.window = max(2 * COMPOSE_BATCH, self.workers * 4)
        self.produced = asyncio.Event()
        self.error = ""
        self.remote: ComposeWorker | None = None
        self.executor: ThreadPoolExecutor | None = None

    def use_process(self, remote: ComposeWorker) -> None:
        """Compose in ``remote`` from now on, in larger batches, with room for three of them in flight."""
        self.remote = remote
        self.window = max(self.window, 3 * PROCESS_BATCH)

    def compose(self, batch: list[OutboxRow]) -> asyncio.Future[list[_Composed | Exception]]:
        if self.remote is not None:
            return self.remote.submit(batch)
        assert self.executor is not None
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self.executor, _compose_all, self.composer, batch, self.prepare, self.senders)

    def pages(self) -> Iterable[tuple[OutboxRow, str]]:
        cursor: tuple[str, int] = ("", 0)
        while True:
            records = store_outbox.due_page(self.store, self.due_before, cursor, PAGE_SIZE)
            if not records:
                return
            for record in records:
                cursor = (record[8], record[0])
                gone, status = record[9], record[10]
                yield _row(record), ("removed" if gone else status if status in INACTIVE else "")

    async def produce(self, executor: ThreadPoolExecutor) -> None:
        self.executor = executor
        # Rows go to the composer in batches: one hand-off (a lock, a wake-up, a GIL switch, a pipe write)
        # per batch instead of per message.
        size = PROCESS_BATCH if self.remote is not None else COMPOSE_BATCH
        window: deque[tuple[list[OutboxRow], asyncio.Future[list[_Composed | Exception]]]] = deque()
        batch: list[OutboxRow] = []
        in_window = 0
        try:
            for row, inactive in self.pages():
                if self.halt.is_set():
                    break
                if inactive:
                    self.ledger.add(Outcome(row, "skipped", f"subscriber {inactive}; not sent"))
                    continue
                batch.append(row)
                if len(batch) < size:
                    continue
                window.append((batch, self.compose(batch)))
                in_window += len(batch)
                batch = []
                while in_window >= self.window and window:
                    rows, fut = window.popleft()
                    in_window -= len(rows)
                    if not await self.emit(rows, fut):
                        return
            if batch and not self.halt.is_set():
                window.append((batch, self.compose(batch)))
            while window and not self.halt.is_set():
                if not await self.emit(*window.popleft()):
                    return
        finally:
            for _, fut in window:
                fut.cancel()
            self.produced.set()

    async def emit(self, rows: list[OutboxRow], fut: asyncio.Future[list[_Composed | Exception]]) -> bool:
        """Hand a composed batch to the senders; False when the drain is halting."""
        try:
            results = await fut
        except WorkerGone as exc:
            if self.remote is not None:
                log.warning("outbox: %s; composing in this process from now on", exc)
                self.remote = None
            results = await self.compose(rows)
        items: list[tuple[OutboxRow, _Composed]] = []
        for row, result in zip(rows, results, strict=True):
            if isinstance(result, PermanentFailure):
                self.ledger.add(Outcome(row, "failed", f"compose: {result}"))
                continue
            if isinstance(result, ComposeError):
                log.error("outbox: cannot compose message %s to %s:\n%s", row.message_id, row.recipient, result.trace)
                self.ledger.add(Outcome(row, "deferred", f"compose: {result.kind}: {result}"))
                continue
            if isinstance(result, Exception):
                log.error("outbox: cannot compose message %s to %s", row.message_id, row.recipient, exc_info=result)
                self.ledger.add(Outcome(row, "deferred", f"compose: {result.__class__.__name__}: {result}"))
                continue
            items.append((row, result))
        while len(self.ready) >= self.room:
            self.has_room.clear()
            ok, _ = await _until(self.has_room.wait(), self.halt)
            if not ok:
                return False
        self.ready.extend(items)
        if items:
            self.has_items.set()
        return True

    def _take(self) -> tuple[OutboxRow, _Composed]:
        item = self.ready.popleft()
        if len(self.ready) < self.room:
            self.has_room.set()
        return item

    async def next_item(self, previous: Outcome | None) -> tuple[tuple[OutboxRow, _Composed] | None, Outcome | None]:
        """The next envelope, or None at the end; commits ``previous`` first when it would have to wait."""
        if self.ready:
            return self._take(), previous
        if previous is not None:
            await self.ledger.record(previous)
        while not self.ready:
            if self.halt.is_set() or self.produced.is_set():
                # Production ended (or the drain halts): what is left is all there is.
                return None, None
            self.has_items.clear()
            await _until(self.has_items.wait(), self.halt, self.produced)
        return self._take(), None

    async def send_loop(self) -> None:
        try:
            await self._send_loop()
        except BaseException:
            # A broken store or a bug: the other senders must not go on without it.
            self.halt.set()
            raise

    async def _send_loop(self) -> None:
        previous: Outcome | None = None
        try:
            while not self.halt.is_set():
                item, previous = await self.next_item(previous)
                if item is None:
                    break
                row, composed = item
                if row.subscriber_id in self.ledger.bounced:
                    self.ledger.add(Outcome(row, "skipped", "subscriber bounced; not sent"))
                    continue
                if self.limiter is not None:
                    delay = self.limiter.reserve()
                    if delay > 0:
                        if previous is not None:
                            await self.ledger.record(previous)
                            previous = None
                        ok, _ = await _until(asyncio.sleep(delay), self.halt)
                        if not ok:
                            break
                claimed = await self.ledger.claim(row.id, previous)
                previous = None
                if claimed:
                    previous = await self.deliver(row, composed)
        finally:
            if previous is not None:
                await self.ledger.record(previous)

    async def deliver(self, row: OutboxRow, composed: _Composed) -> Outcome:
        envelope, prepared = composed
        try:
            relay = await self.transport.send(envelope, prepared=prepared)
        except RelayUnavailable as exc:
            self.error = str(exc)
            self.halt.set()
            log.error("outbox: %s; stopping until the next run", exc)
            return Outcome(row, "requeued", str(exc))
        except PermanentFailure as exc:
            hard = exc.code is not None and 500 <= exc.code < 600
            log.warning("outbox: %s to %s failed for good: %s", row.message_id, row.recipient, exc)
            return Outcome(row, "failed", str(exc), bounce=hard, code=exc.code)
        except TemporaryFailure as exc:
            log.info("outbox: %s to %s deferred: %s", row.message_id, row.recipient, exc)
            return Outcome(row, "deferred", str(exc))
        except DeliveryError as exc:
            return Outcome(row, "deferred", str(exc))
        except Exception as exc:
            log.exception("outbox: unexpected error sending %s", row.message_id)
            return Outcome(row, "deferred", f"{exc.__class__.__name__}: {exc}")
        return Outcome(row, "sent", relay=relay or "")


class _Checkpoints:
    """The write-ahead log copied into the database by a thread of the drain, not by its commits.

    SQLite checkpoints in the connection whose commit crossed 1000 pages of log, and a checkpoint waits for
    two syncs of the disk: in the ledger's commits, that would stop the event loop, every connection with it,
    every few hundred messages. During a drain its connection does not checkpoint; this thread does, every
    :data:`CHECKPOINT_SECONDS`, through a connection of its own: PASSIVE, so the ledger's commits go on
    meanwhile. Those never let the log start over, so once it holds :data:`RESTART_PAGES` the thread also
    copies the little left with the writer held off (RESTART), and the log is written from its start again;
    at the end, the log is copied and emptied (TRUNCATE). Without that connection (it cannot be opened)
    SQLite's own checkpoints stay on.
    """

    def __init__(self, store: Store, interval: float = CHECKPOINT_SECONDS) -> None:
        self.store = store
        self.interval = interval
        self._own: Store | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="publisher-checkpoints", daemon=True)

    def __enter__(self) -> _Checkpoints:
        if str(self.store.path) == ":memory:":
            return self
        try:
            self._own = Store(self.store.path, create=False)
        except StoreError as exc:
            log.warning("outbox: %s; the send copies its write-ahead log itself", exc)
            return self
        store_outbox.pause_checkpoints(self.store)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._own is None:
            return
        self._stop.set()
        self._thread.join()
        self._own.close()
        self._own = None
        store_outbox.resume_checkpoints(self.store)

    def _run(self) -> None:
        assert self._own is not None
        warned = False
        while True:
            stopping = self._stop.wait(self.interval)
            try:
                if stopping:
                    store_outbox.checkpoint(self._own, "TRUNCATE")
                    return
                if store_outbox.checkpoint(self._own) >= RESTART_PAGES:
                    store_outbox.checkpoint(self._own, "RESTART")
            except Exception as exc:  # the next one may succeed; the log is only longer meanwhile
                if stopping:
                    return
                if not warned:
                    log.warning("outbox: cannot copy the write-ahead log into the store: %s", exc)
                    warned = True


def _start_worker(
    composer: Composer, prepare: Callable[[Envelope], Any] | None, senders: Senders | None
) -> ComposeWorker | None:
    """A process composing like ``composer``, when it offers a picklable ``factory()``; None otherwise."""
    factory = getattr(composer, "factory", None)
    if not callable(factory):
        return None
    try:
        worker = ComposeWorker(factory(), prepare, senders)
    except Exception as exc:  # unpicklable, or no process can be started here: the thread will do
        log.warning(
            "outbox: cannot start a composer process (%s: %s); composing in this process", type(exc).__name__, exc
        )
        return None
    log.info("outbox: composing in process %d", worker.pid)
    return worker


def compose_ahead(config: Config, composer: Composer) -> ComposeWorker | None:
    """A composer process started now, for a large send about to be queued; hand it to :func:`drain`.

    Its interpreter start and imports (a few hundred ms) then overlap the caller's queueing instead of
    delaying the first message. None when ``composer`` offers no ``factory()`` or no process can start.
    The caller closes it (``worker.close()``) after the drain; unused, it is stopped at once.
    """
    prepare = None
    if config.smtp is not None:
        from publisher.delivery.smtp import SmtpTransport

        prepare = SmtpTransport.prepare
    return _start_worker(composer, prepare, verp_sender(config))


def verp_sender(config: Config) -> verp.Senders:
    """The envelope sender of outbox row ``id``: ``LOCAL+TOKEN@DOMAIN`` of the bounce address (VERP)."""
    return verp.Senders(config.bounce_address, tokens.load_secret(config))


def _restore_bucket(store: Store, limiter: RateLimiter | None) -> None:
    if limiter is None or limiter.hour is None:
        return
    text = store.get_meta(_HOURLY_BUCKET_KEY)
    if text:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            data = json.loads(text)
            limiter.restore(BucketState(float(data["tokens"]), float(data["at"])))


def _save_bucket(store: Store, limiter: RateLimiter | None) -> None:
    state = limiter.snapshot() if limiter is not None else None
    if state is not None:
        store.set_meta(_HOURLY_BUCKET_KEY, dumps({"tokens": state.tokens, "at": state.at}))


def _settle_digests(store: Store, digest_ids: set[str]) -> None:
    """A digest is ``sent`` once none of its rows waits any more (sent or failed for good)."""
    if not digest_ids:
        return
    with store.transaction():
        store_digests.settle(store, sorted(digest_ids))


async def drain(
    config: Config,
    store_path: Path | str,
    composer: Composer,
    transport: Transport | None = None,
    *,
    progress: Progress | None = None,
    stop: asyncio.Event | None = None,
    now: datetime | None = None,
    worker: ComposeWorker | None = None,
) -> DrainReport:
    """Send every row that is due, once; return what happened.

    ``transport`` None: ``make_transport(config)``, closed at the end (a transport passed in stays open).
    ``worker``: a composer process from :func:`compose_ahead`, used for a large send (the caller closes it).
    ``progress(settled, due)`` is called as rows settle. ``stop``: when set, no new row is taken, the
    transactions in flight finish and are recorded, and the drain returns with ``stopped=True``.
    ``now`` shifts the clock (rows due at or before it are sent), for tests. Cheap when nothing is due.
    """
    started = time.monotonic()
    offset = (now - _now()) if now is not None else timedelta(0)

    def clock() -> datetime:
        return _now() + offset

    store_path = Path(store_path)
    with _drain_lock(store_path) as locked:
        if not locked:
            return DrainReport(busy=True)
        with Store(store_path) as store:
            recover(store, now=clock())
            due_before = iso(clock())
            due = store_outbox.count_due(store, due_before)
            if not due:
                return DrainReport(seconds=time.monotonic() - started)
            async with contextlib.AsyncExitStack() as owned:
                owned.enter_context(_Checkpoints(store))
                if transport is None:
                    transport = await owned.enter_async_context(make_transport(config))
                run, ledger = await _send_due(
                    store, transport, composer, config, clock, due, due_before, progress, stop, worker
                )
            if ledger.failure is not None:
                raise StoreError(
                    f"{store_path}: cannot record delivery outcomes ({ledger.failure})"
                ) from ledger.failure
            c = ledger.counts
            return DrainReport(
                due=due,
                sent=c["sent"],
                failed=c["failed"],
                deferred=c["deferred"] + c["requeued"],
                skipped=c["skipped"],
                bounced_subscribers=len(ledger.bounced),
                stopped=stop is not None and stop.is_set(),
                error=run.error,
                seconds=time.monotonic() - started,
            )


async def _send_due(
    store: Store,
    transport: Transport,
    composer: Composer,
    config: Config,
    clock: Callable[[], datetime],
    due: int,
    due_before: str,
    progress: Progress | None,
    stop: asyncio.Event | None,
    worker: ComposeWorker | None = None,
) -> tuple[_Run, Ledger]:
    """The sending part of a drain, through an open ``transport``."""
    policy = config.smtp if config.smtp is not None else SmtpConfig()
    ledger = Ledger(store, policy, clock, due, progress)
    halt = asyncio.Event()
    run = _Run(store, transport, composer, ledger, halt, due_before, verp_sender(config))
    _restore_bucket(store, run.limiter)
    watcher = asyncio.ensure_future(stop.wait()) if stop is not None else None
    if watcher is not None:
        watcher.add_done_callback(lambda _: halt.set())
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="publisher-composer")
    remote = None
    if due >= PROCESS_THRESHOLD:
        # The caller's worker when it prepares what this transport takes; else one of our own.
        ready = worker is not None and worker.prepare == run.prepare and worker.senders == run.senders
        remote = worker if ready else _start_worker(composer, run.prepare, run.senders)
    if remote is not None:
        run.use_process(remote)
    try:
        producer = asyncio.ensure_future(run.produce(executor))
        results = await asyncio.gather(*(run.send_loop() for _ in range(run.workers)), return_exceptions=True)
        halt.set()
        await asyncio.gather(producer, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
    finally:
        if watcher is not None:
            watcher.cancel()
        if remote is not None and remote is not worker:
            remote.close()
        executor.shutdown(wait=True, cancel_futures=True)
        ledger.flush()
        _save_bucket(store, run.limiter)
        _settle_digests(store, ledger.digests)
    return run, ledger
