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
updates made in the same turn of the event loop), never deferred past the point above.

Only one drain runs at a time per store: the drain holds an advisory lock on ``<database>.outbox.lock``; a
second drain returns at once with ``busy=True`` (the kernel drops the lock when a process dies).

Composition happens in one dedicated worker thread with a prefetch window, so SMTP never waits on it; rows
are read from SQLite a page at a time, so memory does not grow with the size of the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from publisher.config import Config, SmtpConfig
from publisher.delivery import Envelope, Transport, make_transport
from publisher.delivery.ratelimit import BucketState, RateLimiter
from publisher.delivery.smtp import RelayUnavailable
from publisher.errors import DeliveryError, PermanentFailure, StoreError, TemporaryFailure
from publisher.store import Store, dumps, iso

log = logging.getLogger(__name__)

STATES = ("queued", "sending", "sent", "failed")
INACTIVE = ("bounced", "unsubscribed")
MAX_BACKOFF_SECONDS = 6 * 3600.0
PAGE_SIZE = 256
COMPOSE_BATCH = 16
_HOURLY_BUCKET_KEY = "outbox.hourly_bucket"

T = TypeVar("T")


@dataclass(frozen=True)
class OutboxRow:
    """What the composer gets: an outbox row. ``row.recipient`` and ``row["recipient"]`` both work."""

    id: int
    kind: str
    digest_id: str | None
    subscriber_id: int | None
    recipient: str
    message_id: str
    payload: dict[str, Any]  # decoded JSON
    attempts: int

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


Composer = Callable[[OutboxRow], Envelope]
Progress = Callable[[int, int], None]


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
    stamp = iso(now or _now())
    cur = store.conn.execute(
        "INSERT OR IGNORE INTO outbox (kind, digest_id, subscriber_id, recipient, message_id, payload, state,"
        " attempts, next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?)",
        (kind, digest_id, subscriber_id, recipient, message_id, dumps(dict(payload or {})), stamp, stamp, stamp),
    )
    return cur.rowcount == 1


def counts(store: Store) -> dict[str, int]:
    """Rows per state; every state is present."""
    out = dict.fromkeys(STATES, 0)
    for state, n in store.conn.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state"):
        out[state] = n
    return out


def recent_errors(store: Store, limit: int = 10) -> list[OutboxError]:
    """The latest rows that carry an error, failed or waiting for a retry, newest first."""
    rows = store.conn.execute(
        "SELECT id, kind, recipient, state, attempts, last_error, updated_at FROM outbox"
        " WHERE last_error != '' AND state IN ('queued', 'failed') ORDER BY updated_at DESC, id DESC LIMIT ?",
        (limit,),
    )
    return [OutboxError(*row) for row in rows]


def retry_failed(store: Store, *, now: datetime | None = None) -> int:
    """Put every failed row back in the queue with its attempts reset; the number of rows."""
    stamp = iso(now or _now())
    with store.transaction() as conn:
        cur = conn.execute(
            "UPDATE outbox SET state = 'queued', attempts = 0, next_attempt_at = ?, updated_at = ?"
            " WHERE state = 'failed'",
            (stamp, stamp),
        )
    return cur.rowcount


def recover(store: Store, *, now: datetime | None = None) -> int:
    """Queue again the rows a crash left in ``sending`` (they may arrive twice); the number of rows."""
    stamp = iso(now or _now())
    with store.transaction() as conn:
        cur = conn.execute(
            "UPDATE outbox SET state = 'queued', next_attempt_at = ?, updated_at = ?,"
            " last_error = 'interrupted while sending; sent again' WHERE state = 'sending'",
            (stamp, stamp),
        )
    if cur.rowcount:
        log.warning("outbox: %d message(s) were in flight when the last send stopped; sending them again",
                    cur.rowcount)  # fmt: skip
    return cur.rowcount


def backoff(attempts: int, base: float, *, rng: random.Random | None = None) -> float:
    """Seconds before the next try after ``attempts`` failed ones: doubling from ``base``, ±20 % jitter."""
    delay = min(MAX_BACKOFF_SECONDS, base * 2 ** max(0, attempts - 1))
    return delay * (rng or random).uniform(0.8, 1.2)


# -- recording outcomes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    row: OutboxRow
    kind: str  # sent | failed | deferred | requeued | skipped
    error: str = ""
    bounce: bool = False


@dataclass
class _Pending:
    outcomes: list[_Outcome] = field(default_factory=list)
    # (row to mark sending, or None for "tell me when committed", future of "claimed")
    claims: list[tuple[int | None, asyncio.Future[bool]]] = field(default_factory=list)


class _Ledger:
    """Writes outcomes and claims to the outbox, grouping everything asked in one event-loop turn."""

    def __init__(self, store: Store, policy: SmtpConfig, clock: Callable[[], datetime], due: int,
                 progress: Progress | None) -> None:  # fmt: skip
        self.store = store
        self.policy = policy
        self.clock = clock
        self.due = due
        self.progress = progress
        self.counts = dict.fromkeys(("sent", "failed", "deferred", "requeued", "skipped"), 0)
        self.bounced: set[int] = set()
        self.digests: set[str] = set()
        self._pending = _Pending()
        self._scheduled = False
        self._rng = random.Random()
        self.failure: Exception | None = None

    def add(self, outcome: _Outcome) -> None:
        self._pending.outcomes.append(outcome)
        self._schedule()

    def claim(self, row_id: int, outcome: _Outcome | None = None) -> asyncio.Future[bool]:
        """Record ``outcome`` (the sender's previous row) and mark ``row_id`` sending, in one commit."""
        if outcome is not None:
            self._pending.outcomes.append(outcome)
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.claims.append((row_id, fut))
        self._schedule()
        return fut

    async def record(self, outcome: _Outcome) -> None:
        """Record ``outcome`` and wait until it is committed."""
        self._pending.outcomes.append(outcome)
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.claims.append((None, fut))
        self._schedule()
        await fut

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, _Pending()
        if not pending.outcomes and not pending.claims:
            return
        results: list[bool] = []
        try:
            now = self.clock()
            stamp = iso(now)
            with self.store.transaction() as conn:
                sent = [o.row.id for o in pending.outcomes if o.kind == "sent"]
                for outcome in pending.outcomes:
                    self._apply(conn, outcome, now, stamp)
                # One statement for all the sent rows and one for all the claims: each SQLite step lets the
                # composer thread take the GIL, and getting it back costs up to a switch interval.
                if sent:
                    conn.execute(sent_sql(len(sent)), (stamp, stamp, *sent))
                claimed = self._claim(conn, [row_id for row_id, _ in pending.claims if row_id is not None], stamp)
                results = [row_id is None or row_id in claimed for row_id, _ in pending.claims]
        except Exception as exc:
            # Rows whose outcome is lost stay queued or sending: the next drain sends them again.
            log.exception("outbox: cannot record %d outcome(s)", len(pending.outcomes))
            self.failure = exc
            for _, fut in pending.claims:
                if not fut.done():
                    fut.set_exception(exc)
            return
        for (_, fut), ok in zip(pending.claims, results, strict=True):
            if not fut.done():
                fut.set_result(ok)
        if self.progress is not None and pending.outcomes:
            self.progress(self.settled, self.due)

    @staticmethod
    def _claim(conn: Any, ids: list[int], stamp: str) -> set[int]:
        """Mark ``ids`` sending if still queued; the ids that were."""
        if not ids:
            return set()
        cur = conn.execute(claim_sql(len(ids)), (stamp, *ids))
        if cur.rowcount == len(ids):
            return set(ids)
        # Some row changed under us (a subscriber removed meanwhile): find out which ones we hold.
        found = conn.execute(
            f"SELECT id FROM outbox WHERE id IN ({_marks(len(ids))}) AND +state = 'sending' AND updated_at = ?",
            (*ids, stamp),
        )
        return {row[0] for row in found}

    @property
    def settled(self) -> int:
        return sum(self.counts.values())

    def _apply(self, conn: Any, outcome: _Outcome, now: datetime, stamp: str) -> None:
        row, kind, error = outcome.row, outcome.kind, outcome.error[:1000]
        attempts = row.attempts + 1
        if row.digest_id:
            self.digests.add(row.digest_id)
        if kind == "deferred" and attempts >= self.policy.max_attempts:
            kind, error = "failed", f"gave up after {attempts} attempts: {error}"
        self.counts[kind] += 1
        if kind == "sent":
            return  # written for the whole batch by flush()
        if kind == "deferred":
            retry_at = now + timedelta(seconds=backoff(attempts, self.policy.retry_base_seconds, rng=self._rng))
            conn.execute(
                "UPDATE outbox SET state = 'queued', attempts = ?, next_attempt_at = ?, last_error = ?,"
                " updated_at = ? WHERE id = ?",
                (attempts, iso(retry_at), error, stamp, row.id),
            )
        elif kind == "requeued":
            # The relay was down: not this message's fault, so no attempt is counted.
            retry_at = now + timedelta(seconds=self.policy.retry_base_seconds)
            conn.execute(
                "UPDATE outbox SET state = 'queued', next_attempt_at = ?, last_error = ?, updated_at = ? WHERE id = ?",
                (iso(retry_at), error, stamp, row.id),
            )
        else:  # failed, skipped
            conn.execute(
                "UPDATE outbox SET state = 'failed', attempts = ?, last_error = ?, updated_at = ? WHERE id = ?",
                (attempts if kind == "failed" else row.attempts, error, stamp, row.id),
            )
            if outcome.bounce and row.subscriber_id is not None:
                self._bounce(conn, row.subscriber_id, stamp)

    def _bounce(self, conn: Any, subscriber_id: int, stamp: str) -> None:
        status = conn.execute(
            "UPDATE subscribers SET bounce_count = bounce_count + 1, last_bounce_at = ?, updated_at = ?,"
            " status = CASE WHEN bounce_count + 1 >= ? AND status != 'unsubscribed' THEN 'bounced' ELSE status END"
            " WHERE id = ? RETURNING status",
            (stamp, stamp, self.policy.bounce_limit, subscriber_id),
        ).fetchone()
        if status is not None and status[0] == "bounced" and subscriber_id not in self.bounced:
            self.bounced.add(subscriber_id)
            log.warning("subscriber %d marked bounced after %d hard bounces", subscriber_id, self.policy.bounce_limit)


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


def _marks(count: int) -> str:
    return ",".join("?" * count)


# The statements run per message, as functions of how many rows they carry, so tests can check their plans.
# "+state": without the unary plus SQLite walks the state index over every queued row instead of the ids,
# which makes a drain quadratic in the size of the queue.


def claim_sql(count: int) -> str:
    return f"UPDATE outbox SET state = 'sending', updated_at = ? WHERE id IN ({_marks(count)}) AND +state = 'queued'"


def sent_sql(count: int) -> str:
    return (
        "UPDATE outbox SET state = 'sent', attempts = attempts + 1, sent_at = ?, updated_at = ?, last_error = ''"
        f" WHERE id IN ({_marks(count)})"
    )


def _compose_all(
    composer: Composer, rows: list[OutboxRow], prepare: Callable[[Envelope], Any] | None
) -> list[_Composed | Exception]:
    """Compose a batch in the composer thread; one row's error is that row's result, not the batch's."""
    out: list[_Composed | Exception] = []
    for row in rows:
        try:
            envelope = composer(row)
            out.append((envelope, prepare(envelope) if prepare is not None else None))
        except Exception as exc:
            out.append(exc)
    return out


def _row(record: tuple[Any, ...]) -> OutboxRow:
    row_id, kind, digest_id, subscriber_id, recipient, message_id, payload, attempts = record[:8]
    return OutboxRow(row_id, kind, digest_id, subscriber_id, recipient, message_id,
                     json.loads(payload) if payload else {}, attempts)  # fmt: skip


PAGE_SQL = (
    "SELECT o.id, o.kind, o.digest_id, o.subscriber_id, o.recipient, o.message_id, o.payload, o.attempts,"
    " o.next_attempt_at, o.subscriber_id IS NOT NULL AND s.id IS NULL, s.status"
    " FROM outbox o LEFT JOIN subscribers s ON s.id = o.subscriber_id"
    " WHERE o.state = 'queued' AND o.next_attempt_at <= ? AND (o.next_attempt_at, o.id) > (?, ?)"
    " ORDER BY o.next_attempt_at, o.id LIMIT ?"
)


class _Run:
    """One drain: a producer feeding composed envelopes to one sender task per connection."""

    def __init__(self, store: Store, transport: Transport, composer: Composer, ledger: _Ledger,
                 halt: asyncio.Event, due_before: str) -> None:  # fmt: skip
        self.store = store
        self.transport = transport
        self.composer = composer
        self.ledger = ledger
        self.halt = halt
        self.due_before = due_before
        self.workers = max(1, int(getattr(transport, "concurrency", 1)))
        self.limiter: RateLimiter | None = getattr(transport, "limiter", None)
        # A transport may turn an envelope into wire bytes ahead of time (SMTP: dot-stuffing, ~50 µs for
        # 20 KB); done in the composer thread, that work leaves the event loop, the critical path.
        self.prepare: Callable[[Envelope], Any] | None = getattr(transport, "prepare", None)
        self.queue: asyncio.Queue[tuple[OutboxRow, _Composed]] = asyncio.Queue(maxsize=self.workers * 2)
        # Rows composed or being composed ahead of the senders: enough to ride out a slow message, bounded
        # so memory does not depend on the size of the queue.
        self.window = max(2 * COMPOSE_BATCH, self.workers * 4)
        self.produced = asyncio.Event()
        self.error = ""

    def pages(self) -> Iterable[tuple[OutboxRow, str]]:
        cursor: tuple[str, int] = ("", 0)
        while True:
            records = self.store.conn.execute(PAGE_SQL, (self.due_before, *cursor, PAGE_SIZE)).fetchall()
            if not records:
                return
            for record in records:
                cursor = (record[8], record[0])
                gone, status = record[9], record[10]
                yield _row(record), ("removed" if gone else status if status in INACTIVE else "")

    async def produce(self, executor: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        # Rows go to the composer thread in small batches: one hand-off (a lock, a wake-up, a GIL switch)
        # per batch instead of per message.
        window: deque[tuple[list[OutboxRow], asyncio.Future[list[_Composed | Exception]]]] = deque()
        batch: list[OutboxRow] = []
        in_window = 0
        try:
            for row, inactive in self.pages():
                if self.halt.is_set():
                    break
                if inactive:
                    self.ledger.add(_Outcome(row, "skipped", f"subscriber {inactive}; not sent"))
                    continue
                batch.append(row)
                if len(batch) < COMPOSE_BATCH:
                    continue
                window.append((batch, loop.run_in_executor(executor, _compose_all, self.composer, batch, self.prepare)))
                in_window += len(batch)
                batch = []
                while in_window >= self.window and window:
                    rows, fut = window.popleft()
                    in_window -= len(rows)
                    if not await self.emit(rows, fut):
                        return
            if batch and not self.halt.is_set():
                window.append((batch, loop.run_in_executor(executor, _compose_all, self.composer, batch, self.prepare)))
            while window and not self.halt.is_set():
                if not await self.emit(*window.popleft()):
                    return
        finally:
            for _, fut in window:
                fut.cancel()
            self.produced.set()

    async def emit(self, rows: list[OutboxRow], fut: asyncio.Future[list[_Composed | Exception]]) -> bool:
        """Hand a composed batch to the senders; False when the drain is halting."""
        results = await fut
        for row, result in zip(rows, results, strict=True):
            if isinstance(result, PermanentFailure):
                self.ledger.add(_Outcome(row, "failed", f"compose: {result}"))
                continue
            if isinstance(result, Exception):
                log.error("outbox: cannot compose message %s to %s", row.message_id, row.recipient, exc_info=result)
                self.ledger.add(_Outcome(row, "deferred", f"compose: {result.__class__.__name__}: {result}"))
                continue
            try:
                self.queue.put_nowait((row, result))
            except asyncio.QueueFull:
                ok, _ = await _until(self.queue.put((row, result)), self.halt)
                if not ok:
                    return False
        return True

    async def next_item(self, previous: _Outcome | None) -> tuple[tuple[OutboxRow, _Composed] | None, _Outcome | None]:
        """The next envelope, or None at the end; commits ``previous`` first when it would have to wait."""
        try:
            return self.queue.get_nowait(), previous
        except asyncio.QueueEmpty:
            pass
        if previous is not None:
            await self.ledger.record(previous)
        while not self.produced.is_set():
            ok, item = await _until(self.queue.get(), self.halt, self.produced)
            if ok:
                return item, None
            if self.halt.is_set():
                return None, None
        # Production ended: what is left in the queue is all there is.
        try:
            return self.queue.get_nowait(), None
        except asyncio.QueueEmpty:
            return None, None

    async def send_loop(self) -> None:
        try:
            await self._send_loop()
        except BaseException:
            # A broken store or a bug: the other senders must not go on without it.
            self.halt.set()
            raise

    async def _send_loop(self) -> None:
        previous: _Outcome | None = None
        try:
            while not self.halt.is_set():
                item, previous = await self.next_item(previous)
                if item is None:
                    break
                row, composed = item
                if row.subscriber_id in self.ledger.bounced:
                    self.ledger.add(_Outcome(row, "skipped", "subscriber bounced; not sent"))
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

    async def deliver(self, row: OutboxRow, composed: _Composed) -> _Outcome:
        envelope, prepared = composed
        try:
            if prepared is not None:
                await self.transport.send(envelope, prepared=prepared)  # type: ignore[call-arg]
            else:
                await self.transport.send(envelope)
        except RelayUnavailable as exc:
            self.error = str(exc)
            self.halt.set()
            log.error("outbox: %s; stopping until the next run", exc)
            return _Outcome(row, "requeued", str(exc))
        except PermanentFailure as exc:
            hard = exc.code is not None and 500 <= exc.code < 600
            log.warning("outbox: %s to %s failed for good: %s", row.message_id, row.recipient, exc)
            return _Outcome(row, "failed", str(exc), bounce=hard)
        except TemporaryFailure as exc:
            log.info("outbox: %s to %s deferred: %s", row.message_id, row.recipient, exc)
            return _Outcome(row, "deferred", str(exc))
        except DeliveryError as exc:
            return _Outcome(row, "deferred", str(exc))
        except Exception as exc:
            log.exception("outbox: unexpected error sending %s", row.message_id)
            return _Outcome(row, "deferred", f"{exc.__class__.__name__}: {exc}")
        return _Outcome(row, "sent")


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
    with store.transaction() as conn:
        conn.executemany(
            "UPDATE digests SET status = 'sent' WHERE id = ? AND status = 'queued' AND NOT EXISTS"
            " (SELECT 1 FROM outbox WHERE digest_id = digests.id AND state IN ('queued', 'sending'))",
            [(d,) for d in sorted(digest_ids)],
        )


async def drain(
    config: Config,
    store_path: Path | str,
    composer: Composer,
    transport: Transport | None = None,
    *,
    progress: Progress | None = None,
    stop: asyncio.Event | None = None,
    now: datetime | None = None,
) -> DrainReport:
    """Send every row that is due, once; return what happened.

    ``transport`` None: ``make_transport(config)``, closed at the end (a transport passed in stays open).
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
            due = store.scalar(
                "SELECT COUNT(*) FROM outbox WHERE state = 'queued' AND next_attempt_at <= ?", (due_before,)
            )
            if not due:
                return DrainReport(seconds=time.monotonic() - started)
            own = transport is None
            transport = transport if transport is not None else make_transport(config)
            policy = config.smtp if config.smtp is not None else SmtpConfig()
            ledger = _Ledger(store, policy, clock, due, progress)
            halt = asyncio.Event()
            run = _Run(store, transport, composer, ledger, halt, due_before)
            _restore_bucket(store, run.limiter)
            watcher = asyncio.ensure_future(stop.wait()) if stop is not None else None
            if watcher is not None:
                watcher.add_done_callback(lambda _: halt.set())
            executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="publisher-composer")
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
                executor.shutdown(wait=True, cancel_futures=True)
                ledger.flush()
                if own:
                    await transport.close()
                _save_bucket(store, run.limiter)
                _settle_digests(store, ledger.digests)
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
