"""When digests run: cron expressions in the site's time zone, on APScheduler 3's AsyncIOScheduler.

Three things cron on its own gets wrong, handled here:

- **Weekdays.** APScheduler 3 reads day-of-week 0 as Monday; crontab reads it as Sunday. Expressions are
  translated (``1-5`` is Monday to Friday, as an operator expects).
- **DST.** When clocks go back, a wall-clock time such as 01:30 happens twice; APScheduler would fire on
  both. :class:`WallClockCronTrigger` fires on the first only, so each matching wall-clock time runs once.
  When clocks go forward past a time that does not exist that day, the run happens once, shifted by the
  size of the gap (01:30 in a 01:00→02:00 gap runs at 02:30 local).
- **Downtime.** A run missed while the daemon was down runs once at start if it is no older than the grace,
  never twice: the last run of each job is kept in the store's meta table and compared with the fire times
  of its trigger (:func:`missed_run`, a pure function with the clock passed in).

Jobs never overlap: each has ``max_instances=1`` and every job body runs under one :class:`asyncio.Lock`
(:attr:`Scheduler.lock`), which the daemon also takes for a drain outside the schedule.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from publisher.store import iso, now_utc, parse_iso

logger = logging.getLogger(__name__)

META_PREFIX = "scheduler.last_run."

_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


# -- triggers: pure, clock passed in --------------------------------------------------------------------------


# APScheduler 3 ships no type hints: CronTrigger is Any to mypy.
class WallClockCronTrigger(CronTrigger):  # type: ignore[misc]
    """A cron trigger that fires once per matching wall-clock time, also on the night clocks go back."""

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        fire: datetime | None = super().get_next_fire_time(previous_fire_time, now)
        while fire is not None and _second_of_repeated(fire, self.timezone):
            # The same wall-clock time matched an hour earlier, at its first occurrence: skip this one.
            fire = super().get_next_fire_time(fire, fire)
        return fire


def _second_of_repeated(moment: datetime, tz: tzinfo) -> bool:
    """True when ``moment`` is the second occurrence of a wall-clock time repeated by a DST change."""
    local = moment.astimezone(tz)
    wall = local.replace(tzinfo=None)
    first = wall.replace(tzinfo=tz, fold=0)
    second = wall.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return False
    return local.utcoffset() == second.utcoffset() and first.utcoffset() != local.utcoffset()


def crontab_day_of_week(field: str) -> str:
    """Translate crontab's day-of-week field (0 or 7 = Sunday, names allowed) into APScheduler 3's."""
    field = field.strip().lower()
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for item in field.split(","):
        part, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"bad step in day-of-week {field!r}")
        if part == "*":
            lo, hi = 0, 6
        elif "-" in part:
            a, b = part.split("-", 1)
            lo, hi = _cron_day(a), _cron_day(b)
            if hi == 0 and b.strip() == "7":
                hi = 7
        else:
            lo = hi = _cron_day(part)
            if step_text:
                hi = 6
        if lo > hi:
            raise ValueError(f"day-of-week range runs backwards in {field!r}")
        days.update(d % 7 for d in range(lo, hi + 1, step))
    return ",".join(_CRON_DAYS[d] for d in sorted(days))


def _cron_day(text: str) -> int:
    text = text.strip()
    if text.isdigit():
        value = int(text)
        if not 0 <= value <= 7:
            raise ValueError(f"day of week out of range: {text!r}")
        return value % 7 if value != 7 else 0
    if text[:3] in _CRON_DAYS:
        return _CRON_DAYS.index(text[:3])
    raise ValueError(f"unknown day of week {text!r}")


def make_trigger(expr: str, tz: tzinfo | str) -> WallClockCronTrigger:
    """A trigger for a 5-field crontab expression in ``tz``; ValueError when the expression is bad.

    As in APScheduler (and unlike Vixie cron), a day-of-month and a day-of-week both restricted must both
    match.
    """
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 cron fields, got {len(fields)} in {expr!r}")
    minute, hour, day, month, dow = fields
    return WallClockCronTrigger(
        minute=minute, hour=hour, day=day, month=month, day_of_week=crontab_day_of_week(dow), timezone=zone
    )


def next_runs(expr: str, tz: tzinfo | str, start: datetime, n: int) -> list[datetime]:
    """The first ``n`` fire times at or after ``start``."""
    trigger = make_trigger(expr, tz)
    out: list[datetime] = []
    previous: datetime | None = None
    now = start
    while len(out) < n:
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None:
            break
        out.append(fire)
        previous = now = fire
    return out


def missed_run(
    expr: str, tz: tzinfo | str, last_run: datetime | None, now: datetime, grace: timedelta
) -> datetime | None:
    """The latest fire time (in UTC) strictly after ``last_run`` and before ``now``, if within ``grace``.

    None when nothing was missed, when the job never ran (``last_run`` None: nothing to catch up on), or when
    the latest missed fire time is older than ``grace``. Fire times at or after ``now`` belong to the live
    scheduler, so the two never both run the same fire time.
    """
    if last_run is None:
        return None
    trigger = make_trigger(expr, tz)
    # Fire times older than the grace do not matter; start there rather than walk a long downtime.
    floor = max(last_run, now - grace)
    candidate: datetime | None = None
    fire = trigger.get_next_fire_time(None, floor)
    # Compared in UTC: PEP 495 makes == between zones False for a wall time that happens twice.
    while fire is not None and (at := fire.astimezone(UTC)) < now:
        if at > last_run and now - at <= grace:
            candidate = at
        fire = trigger.get_next_fire_time(fire, fire)
    return candidate


# -- the live scheduler ---------------------------------------------------------------------------------------


class Meta(Protocol):
    """Where the last run of each job is kept (the store's meta table, reached off the event loop)."""

    async def get_meta(self, key: str) -> str | None: ...

    async def set_meta(self, key: str, value: str) -> None: ...


@dataclass(frozen=True)
class CronJob:
    id: str
    expr: str
    run: Callable[[], Awaitable[Any]]


@dataclass(frozen=True)
class IntervalJob:
    id: str
    seconds: float
    run: Callable[[], Awaitable[Any]]


class Scheduler:
    """Cron jobs with catch-up, interval jobs, one lock; the clock is injectable for tests."""

    def __init__(
        self,
        meta: Meta,
        *,
        tz: tzinfo | str,
        grace: timedelta,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self.meta = meta
        self.tz = ZoneInfo(tz) if isinstance(tz, str) else tz
        self.grace = grace
        self.clock = clock
        self.lock = asyncio.Lock()
        self._aps = AsyncIOScheduler(timezone=self.tz)
        self._ids: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.last_runs: dict[str, datetime] = {}
        self.failures = 0

    # -- set-up ------------------------------------------------------------------------------------------

    async def start(self, cron: Sequence[CronJob], intervals: Sequence[IntervalJob] = ()) -> list[str]:
        """Install the jobs, start ticking, and run once each job missed while down; returns those ids."""
        now = self.clock()
        missed = await self.find_missed(cron, now)
        await self.install(cron, intervals, now=now)
        self._aps.start()
        for job in missed:
            logger.info("job %s missed a run while the daemon was down; running it now", job.id)
            self.spawn(self._run_cron(job))
        return [job.id for job in missed]

    async def install(
        self, cron: Sequence[CronJob], intervals: Sequence[IntervalJob] = (), *, now: datetime | None = None
    ) -> None:
        """Add or replace jobs; jobs whose ids are gone are removed. Used at start and on reload."""
        now = now or self.clock()
        wanted: set[str] = set()
        for job in cron:
            trigger = make_trigger(job.expr, self.tz)
            key = META_PREFIX + job.id
            if await self.meta.get_meta(key) is None:
                # A new job has nothing to catch up on: its history starts now.
                await self.meta.set_meta(key, iso(now))
            self._aps.add_job(
                self._run_cron,
                trigger,
                args=(job,),
                id=job.id,
                name=f"{job.id} ({job.expr})",
                replace_existing=True,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=max(1, int(self.grace.total_seconds())),
                # Computed from the same "now" as the catch-up, so a fire time is either missed or next.
                next_run_time=trigger.get_next_fire_time(None, now),
            )
            wanted.add(job.id)
        for ijob in intervals:
            seconds = max(1.0, ijob.seconds)
            self._aps.add_job(
                self._run_interval,
                IntervalTrigger(seconds=seconds, timezone=self.tz),
                args=(ijob,),
                id=ijob.id,
                name=f"{ijob.id} (every {seconds:g} s)",
                replace_existing=True,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=max(1, int(seconds)),
            )
            wanted.add(ijob.id)
        for stale in self._ids - wanted:
            self._aps.remove_job(stale)
            logger.info("job %s removed", stale)
        self._ids = wanted

    async def find_missed(self, cron: Iterable[CronJob], now: datetime) -> list[CronJob]:
        out = []
        for job in cron:
            text = await self.meta.get_meta(META_PREFIX + job.id)
            last = parse_iso(text) if text else None
            fire = missed_run(job.expr, self.tz, last, now, self.grace)
            if fire is not None:
                logger.info("job %s: fire time %s passed while down (last run %s)", job.id, iso(fire), text)
                out.append(job)
        return out

    async def catch_up(self, cron: Sequence[CronJob]) -> list[str]:
        """Run, and wait for, each job missed while down (the start-up half of :meth:`start`, for tests)."""
        missed = await self.find_missed(cron, self.clock())
        for job in missed:
            await self._run_cron(job)
        return [job.id for job in missed]

    def next_run_times(self) -> dict[str, datetime | None]:
        return {job.id: job.next_run_time for job in self._aps.get_jobs()}

    # -- running -----------------------------------------------------------------------------------------

    def spawn(self, coro: Awaitable[None]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def run_now(self, job_id: str, run: Callable[[], Awaitable[Any]]) -> asyncio.Task[None]:
        """Run ``run`` outside the schedule, under the same lock and error boundary as the jobs."""
        return self.spawn(self._guarded(job_id, run))

    async def _run_cron(self, job: CronJob) -> None:
        now = self.clock()
        # Recorded before the work: a run that crashes half-way is not repeated (the outbox resumes it).
        try:
            await self.meta.set_meta(META_PREFIX + job.id, iso(now))
        except Exception:
            logger.exception("job %s: cannot record its run; running it anyway", job.id)
        self.last_runs[job.id] = now
        await self._guarded(job.id, job.run)

    async def _run_interval(self, job: IntervalJob) -> None:
        await self._guarded(job.id, job.run)

    async def _guarded(self, job_id: str, run: Callable[[], Awaitable[Any]]) -> None:
        async with self.lock:
            try:
                await run()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failures += 1
                logger.exception("job %s failed; the daemon goes on", job_id)

    # -- stopping ----------------------------------------------------------------------------------------

    def pause(self) -> None:
        """Take no new work; jobs already running go on."""
        if self._aps.running:
            self._aps.pause()

    async def idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the job running now (if any) to finish; True when none runs."""
        try:
            async with asyncio.timeout(timeout), self.lock:
                pass
        except TimeoutError:
            return False
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            _done, still = await asyncio.wait(pending, timeout=timeout)
            return not still
        return True

    def shutdown(self) -> None:
        if self._aps.running:
            self._aps.shutdown(wait=False)
        for task in self._tasks:
            task.cancel()
