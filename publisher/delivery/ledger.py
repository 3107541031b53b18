"""Recording what happened to outbox rows: claims (``queued`` → ``sending``) and outcomes, grouped in commits.

:class:`Ledger` is the only writer of row states during a drain. Everything asked of it within a few turns
of the event loop (:data:`GATHER_TURNS`) goes into one transaction, so concurrent senders share commits; a
sender's claim of its next row and the outcome of its previous one are committed together, before that next
message's MAIL FROM can go out.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from publisher.config import SmtpConfig
from publisher.store import Store, iso
from publisher.store import outbox as store_outbox

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 6 * 3600.0

Progress = Callable[[int, int], None]

# Turns of the event loop a commit waits after the first thing asked of it. Each turn reads the replies that
# arrived meanwhile, so the senders they finish join the same transaction: a commit costs about as much for
# one row as for ten, and a sender waits a few tens of microseconds more for its claim.
GATHER_TURNS = 2


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


def backoff(attempts: int, base: float, *, rng: random.Random | None = None) -> float:
    """Seconds before the next try after ``attempts`` failed ones: doubling from ``base``, ±20 % jitter."""
    delay = min(MAX_BACKOFF_SECONDS, base * 2 ** max(0, attempts - 1))
    return float(delay * (rng or random).uniform(0.8, 1.2))


# What one attempt came to: sent; failed for good; deferred for a retry with backoff; requeued at once (the
# relay, not the message, failed); skipped (the subscriber left or bounced before it went).
OutcomeKind = Literal["sent", "failed", "deferred", "requeued", "skipped"]


@dataclass(frozen=True)
class Outcome:
    row: OutboxRow
    kind: OutcomeKind
    error: str = ""
    bounce: bool = False  # a hard bounce in the session (5xx to RCPT or DATA)
    code: int | None = None  # the SMTP reply code of a failure
    relay: str = ""  # who took the message (host:port), for the delivery record


@dataclass
class _Pending:
    outcomes: list[Outcome] = field(default_factory=list)
    # (row to mark sending, or None for "tell me when committed", future of "claimed")
    claims: list[tuple[int | None, asyncio.Future[bool]]] = field(default_factory=list)


class Ledger:
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

    def add(self, outcome: Outcome) -> None:
        self._pending.outcomes.append(outcome)
        self._schedule()

    def claim(self, row_id: int, outcome: Outcome | None = None) -> asyncio.Future[bool]:
        """Record ``outcome`` (the sender's previous row) and mark ``row_id`` sending, in one commit."""
        if outcome is not None:
            self._pending.outcomes.append(outcome)
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.claims.append((row_id, fut))
        self._schedule()
        return fut

    async def record(self, outcome: Outcome) -> None:
        """Record ``outcome`` and wait until it is committed."""
        self._pending.outcomes.append(outcome)
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.claims.append((None, fut))
        self._schedule()
        await fut

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._gather, GATHER_TURNS)

    def _gather(self, turns: int) -> None:
        if turns > 0 and self._scheduled:
            asyncio.get_running_loop().call_soon(self._gather, turns - 1)
        else:
            self.flush()

    def flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, _Pending()
        if not pending.outcomes and not pending.claims:
            return
        results: list[bool] = []
        try:
            now = self.clock()
            stamp = iso(now)
            with self.store.transaction():
                sent: dict[str, list[int]] = {}
                for outcome in pending.outcomes:
                    if outcome.kind == "sent":
                        sent.setdefault(outcome.relay, []).append(outcome.row.id)
                    self._apply(outcome, now, stamp)
                # One statement for all the sent rows (one per relay: one, but for failover) and one for all
                # the claims: each SQLite step lets the composer thread take the GIL, and getting it back costs
                # up to a switch interval.
                for relay, ids in sent.items():
                    store_outbox.mark_sent(self.store, ids, stamp, relay)
                claims = [row_id for row_id, _ in pending.claims if row_id is not None]
                claimed = store_outbox.claim(self.store, claims, stamp)
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

    @property
    def settled(self) -> int:
        return sum(self.counts.values())

    def _apply(self, outcome: Outcome, now: datetime, stamp: str) -> None:
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
            store_outbox.defer(self.store, row.id, attempts=attempts, retry_at=iso(retry_at), error=error, stamp=stamp)
        elif kind == "requeued":
            # The relay was down: not this message's fault, so no attempt is counted.
            retry_at = now + timedelta(seconds=self.policy.retry_base_seconds)
            store_outbox.requeue(self.store, row.id, retry_at=iso(retry_at), error=error, stamp=stamp)
        else:  # failed, skipped
            final = attempts if kind == "failed" else row.attempts
            store_outbox.fail(self.store, row.id, attempts=final, error=error, stamp=stamp)
            if outcome.bounce:
                # Imported on the first hard bounce: the bounce parsers cost a drain ~60 ms at start.
                from publisher.delivery import bounces

                became = bounces.in_session(self.store, row.id, row.subscriber_id, outcome.code, error,
                                            self.policy.bounce_limit, stamp)  # fmt: skip
                if became and row.subscriber_id is not None:
                    self.bounced.add(row.subscriber_id)
