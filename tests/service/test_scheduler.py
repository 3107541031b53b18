"""Cron in the site time zone across DST changes, weekday numbering, and missed runs with a frozen clock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from publisher.config import Config
from publisher.service.scheduler import CronJob, IntervalJob, Scheduler, crontab_day_of_week, missed_run, next_runs
from publisher.store import iso
from publisher.web import StoreWorker

LONDON = ZoneInfo("Europe/London")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)  # type: ignore[misc]


# -- DST -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "start", "expected_utc"),
    [
        # Spring forward, 2026-03-29: 01:00 → 02:00 local. 01:00 and 01:30 do not exist that day: one run,
        # shifted by the gap (02:00 / 02:30 BST).
        (
            "0 1 * * *",
            local(2026, 3, 27),
            [utc(2026, 3, 27, 1), utc(2026, 3, 28, 1), utc(2026, 3, 29, 1), utc(2026, 3, 30, 0)],
        ),
        (
            "30 1 * * *",
            local(2026, 3, 27),
            [utc(2026, 3, 27, 1, 30), utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)],
        ),
        # Fall back, 2026-10-25: 02:00 BST → 01:00 GMT. 01:00 and 01:30 happen twice: one run, the first.
        (
            "0 1 * * *",
            local(2026, 10, 23),
            [utc(2026, 10, 23, 0), utc(2026, 10, 24, 0), utc(2026, 10, 25, 0), utc(2026, 10, 26, 1)],
        ),
        (
            "30 1 * * *",
            local(2026, 10, 23),
            [utc(2026, 10, 23, 0, 30), utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)],
        ),
        ("0 7 * * *", local(2026, 3, 28), [utc(2026, 3, 28, 7), utc(2026, 3, 29, 6), utc(2026, 3, 30, 6)]),
        ("0 7 * * *", local(2026, 10, 24), [utc(2026, 10, 24, 6), utc(2026, 10, 25, 7), utc(2026, 10, 26, 7)]),
    ],
)
def test_one_run_per_local_day_across_dst(expr: str, start: datetime, expected_utc: list[datetime]) -> None:
    runs = next_runs(expr, LONDON, start, len(expected_utc))
    assert [r.astimezone(UTC) for r in runs] == expected_utc
    days = [r.astimezone(LONDON).date() for r in runs]
    assert len(set(days)) == len(days)
    assert days == [start.date() + timedelta(days=i) for i in range(len(days))]


def test_hourly_job_runs_each_wall_clock_hour_once_when_clocks_go_back() -> None:
    runs = next_runs("0 * * * *", LONDON, local(2026, 10, 25), 24)
    walls = [r.astimezone(LONDON).replace(tzinfo=None) for r in runs]
    assert len(set(walls)) == 24
    assert [w.hour for w in walls] == list(range(24))
    assert all(w.date() == datetime(2026, 10, 25).date() for w in walls)


def test_crontab_weekdays_not_apscheduler_weekdays() -> None:
    assert crontab_day_of_week("1-5") == "mon,tue,wed,thu,fri"
    assert crontab_day_of_week("0") == crontab_day_of_week("7") == "sun"
    assert crontab_day_of_week("*/2") == "sun,tue,thu,sat"
    runs = next_runs("0 7 * * 1-5", LONDON, local(2026, 3, 27), 5)  # 27 March 2026 is a Friday
    assert [r.strftime("%a %d") for r in runs] == ["Fri 27", "Mon 30", "Tue 31", "Wed 01", "Thu 02"]
    with pytest.raises(ValueError):
        crontab_day_of_week("mon-funday")


# -- missed runs, pure -----------------------------------------------------------------------------------------

GRACE = timedelta(hours=6)


def test_down_over_the_fire_time_runs_once() -> None:
    last = utc(2026, 3, 1, 7)
    assert missed_run("0 7 * * *", LONDON, last, utc(2026, 3, 2, 8), GRACE) == utc(2026, 3, 2, 7)


def test_down_longer_than_grace_runs_nothing() -> None:
    assert missed_run("0 7 * * *", LONDON, utc(2026, 3, 1, 7), utc(2026, 3, 2, 13, 1), GRACE) is None


def test_several_missed_fire_times_coalesce_into_the_latest() -> None:
    fire = missed_run("0 * * * *", LONDON, utc(2026, 3, 2, 1, 30), utc(2026, 3, 2, 5, 10), GRACE)
    assert fire == utc(2026, 3, 2, 5)


def test_nothing_missed() -> None:
    assert missed_run("0 7 * * *", LONDON, utc(2026, 3, 2, 7), utc(2026, 3, 2, 9), GRACE) is None
    assert missed_run("0 7 * * *", LONDON, None, utc(2026, 3, 2, 9), GRACE) is None
    # A fire time equal to "now" belongs to the live scheduler, not to the catch-up.
    assert missed_run("0 7 * * *", LONDON, utc(2026, 3, 1, 7), utc(2026, 3, 2, 7), GRACE) is None


def test_missed_run_across_the_autumn_change() -> None:
    # Down from before 01:30 BST to 03:00 GMT, the night 01:30 happens twice: caught up once, the first.
    fire = missed_run("30 1 * * *", LONDON, utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 3), GRACE)
    assert fire == utc(2026, 10, 25, 0, 30)


# -- the live scheduler, with a frozen clock and a real store ------------------------------------------------------


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def meta(config: Config) -> AsyncIterator[StoreWorker]:
    worker = StoreWorker(config.paths.database)
    yield worker
    worker.close()


def _job(runs: list[datetime], clock: Clock) -> CronJob:
    async def run() -> None:
        runs.append(clock())

    return CronJob("digest", "0 7 * * *", run)


async def test_missed_at_start_runs_once_and_restarts_do_not_repeat_it(meta: StoreWorker) -> None:
    runs: list[datetime] = []
    clock = Clock(utc(2026, 3, 2, 6, 0))
    first = Scheduler(meta, tz=LONDON, grace=GRACE, clock=clock)
    await first.install([_job(runs, clock)])  # first start ever: history begins now
    assert await first.catch_up([_job(runs, clock)]) == []
    # The daemon is down over 07:00 and back at 08:00.
    clock.now = utc(2026, 3, 2, 8, 0)
    second = Scheduler(meta, tz=LONDON, grace=GRACE, clock=clock)
    assert await second.catch_up([_job(runs, clock)]) == ["digest"]
    assert runs == [utc(2026, 3, 2, 8, 0)]
    # Restarted again at 08:05, and at 09:00: the 07:00 run is not made twice.
    for now in (utc(2026, 3, 2, 8, 5), utc(2026, 3, 2, 9, 0)):
        clock.now = now
        again = Scheduler(meta, tz=LONDON, grace=GRACE, clock=clock)
        assert await again.catch_up([_job(runs, clock)]) == []
    assert len(runs) == 1
    assert await meta.get_meta("scheduler.last_run.digest") == iso(utc(2026, 3, 2, 8, 0))


async def test_down_past_the_grace_runs_nothing_at_start(meta: StoreWorker) -> None:
    runs: list[datetime] = []
    await meta.set_meta("scheduler.last_run.digest", iso(utc(2026, 3, 1, 7)))
    clock = Clock(utc(2026, 3, 2, 14, 0))  # 07:00 was seven hours ago; the grace is six
    assert await Scheduler(meta, tz=LONDON, grace=GRACE, clock=clock).catch_up([_job(runs, clock)]) == []
    assert runs == []


async def test_jobs_never_overlap_and_failures_are_contained(
    meta: StoreWorker, caplog: pytest.LogCaptureFixture
) -> None:
    scheduler = Scheduler(meta, tz=LONDON, grace=GRACE)
    running = 0
    peak = 0

    async def slow() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1

    async def broken() -> None:
        raise RuntimeError("the relay is on fire")

    with caplog.at_level(logging.ERROR):
        await asyncio.gather(
            scheduler._guarded("a", slow), scheduler._guarded("b", broken), scheduler._guarded("c", slow)
        )
    assert peak == 1
    assert "job b failed" in caplog.text
    assert "the relay is on fire" in caplog.text

    async def cancelled() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await scheduler._guarded("d", cancelled)


async def test_live_scheduler_runs_interval_job_and_reports_next_cron_time(meta: StoreWorker) -> None:
    ticked = asyncio.Event()

    async def tick() -> None:
        ticked.set()

    async def never() -> None:
        raise AssertionError("not due")

    scheduler = Scheduler(meta, tz=LONDON, grace=GRACE)
    await scheduler.start([CronJob("digest", "0 7 * * *", never)], [IntervalJob("retry", 1, tick)])
    try:
        await asyncio.wait_for(ticked.wait(), 10)
        nxt = scheduler.next_run_times()["digest"]
        assert nxt is not None and nxt.astimezone(LONDON).hour == 7
        # A reload that drops the cron job removes it.
        await scheduler.install([], [IntervalJob("retry", 1, tick)])
        assert set(scheduler.next_run_times()) == {"retry"}
    finally:
        scheduler.shutdown()
