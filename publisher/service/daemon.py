"""``publisher run``: one asyncio process that watches, builds, schedules, sends and serves.

- **Start-up**: the config and the store; HTTP bound (a port in use fails the start); a first full
  scan and build; then ``READY=1`` to systemd.
- **Watching**: watchfiles on the content folder, debounced by ``daemon.debounce_ms`` and filtered to
  files a scan could read; the paths that changed are built incrementally. A full rescan every
  ``daemon.rescan_minutes`` catches what events miss (network file systems, a moved folder).
- **Builds** run one at a time in a thread (the event loop keeps serving HTTP); changes that arrive during
  a build are gathered into the next one. Feeds whose bytes changed are announced to WebSub hubs.
- **Jobs** (see :mod:`publisher.service.scheduler`): digests on ``digest.schedule`` and the per-correspondent
  ``digest.schedules``; an outbox drain every ``daemon.outbox_retry_seconds``; never two at once.
- **Signals**: SIGTERM/SIGINT stop taking work, let the SMTP transaction in flight finish, record the stop
  and exit 0. SIGHUP reloads the config file; an invalid one is refused and the running config kept.

Each unit of work (a build, a job, a request) runs inside an error boundary: logged with context, and the
daemon goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import watchfiles
from aiohttp import web

from publisher.config import Config
from publisher.content.readers import is_temp_name
from publisher.delivery import bounces, outbox
from publisher.errors import ConfigError, PublisherError
from publisher.feeds import build
from publisher.feeds.websub import WebSubPublisher, topic_url
from publisher.mail import digests, messages, tokens
from publisher.models import Scope
from publisher.service import watcher
from publisher.service.scheduler import CronJob, IntervalJob, Scheduler, make_trigger
from publisher.service.systemd import Notifier
from publisher.store import content as store_content
from publisher.store import iso, now_utc
from publisher.web import Stats, StoreWorker, WebState, make_app

logger = logging.getLogger(__name__)

# How long a stop waits for the job in flight (a digest or drain) before giving up on it; the unit's
# TimeoutStopSec= must be longer.
STOP_GRACE_SECONDS = 60.0
# How long a watcher that failed (the content folder vanished, inotify limits) waits before trying again.
WATCH_RETRY_SECONDS = 5.0


def check_config(config: Config) -> None:
    """What loading the file cannot check cheaply, checked before the config is used (at start, on SIGHUP,
    and by ``publisher check-config``): cron expressions as APScheduler reads them, and the digest subject
    template. Raises ConfigError naming the key."""
    from publisher.mail.render import subject_template

    check_schedules(config)
    subject_template(config)


def check_schedules(config: Config) -> None:
    """Refuse a cron expression APScheduler cannot read, naming its key (config only counts the fields)."""
    for key, expr in [("digest.schedule", config.digest.schedule)] + [
        (f"digest.schedules.{slug}", expr) for slug, expr in config.digest.schedules.items()
    ]:
        try:
            make_trigger(expr, config.site.tz)
        except ValueError as exc:
            raise ConfigError(f"bad cron expression {expr!r}: {exc}", file=config.origin(key), key=key) from exc


class ContentFilter:
    """Which file events can matter to a scan: content extensions, no hidden or temporary files.

    Paths with no extension pass too: they may be folders (a folder moved in or out of the content tree
    gives one event for the folder, none for its files).
    """

    def __init__(self, root: Path, extensions: Iterable[str]) -> None:
        self.root = str(root)
        self.extensions = tuple(e.lower() for e in extensions)

    def __call__(self, change: watchfiles.Change, path: str) -> bool:
        rel = os.path.relpath(path, self.root)
        if rel == "." or rel.startswith(".."):
            return False
        parts = rel.split(os.sep)
        name = parts[-1]
        if any(p.startswith((".", "#")) for p in parts) or is_temp_name(name):
            return False
        stem, suffix = os.path.splitext(name.lower())
        # A sidecar (brief.pdf.toml) pins fields of the file it sits beside: its edits are that file's.
        return suffix in self.extensions or suffix == "" or (suffix == ".toml" and stem.endswith(self.extensions))


def changed_paths(
    root: Path, changes: Iterable[tuple[watchfiles.Change, str]], extensions: Iterable[str]
) -> set[str] | None:
    """Content-relative paths to rescan, or None when only a full rescan will do (a folder went away)."""
    exts = tuple(e.lower() for e in extensions)
    out: set[str] = set()
    for change, path in changes:
        p = Path(path)
        if not p.is_relative_to(root):
            continue
        if p.suffix.lower() in exts:
            out.add(p.relative_to(root).as_posix())
        elif p.suffix.lower() == ".toml" and p.stem.lower().endswith(exts):
            out.add(p.relative_to(root).as_posix()[: -len(".toml")])  # a sidecar: rescan its file
        elif p.is_dir():
            # A folder arrived (moved in, unpacked): its files, which had no events of their own.
            for sub, _dirs, files in os.walk(p):
                out.update(
                    (Path(sub) / f).relative_to(root).as_posix() for f in files if Path(f).suffix.lower() in exts
                )
        elif change == watchfiles.Change.deleted:
            return None  # perhaps a folder: which files it held only the store knows
    return out


class Daemon:
    """The long-running service. ``await Daemon(config, reload=...).run()`` returns the exit code."""

    def __init__(
        self,
        config: Config,
        *,
        load_config: Callable[[], Config] | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.config = config
        self.load_config = load_config
        self.notifier = notifier or Notifier()
        self.stats = Stats()
        db = config.paths.database
        self.web_db = StoreWorker(db, "publisher-web")
        self.build_db = StoreWorker(db, "publisher-build")
        self._warm = False  # the fragment cache holds every feed's current entries
        self.jobs_db = StoreWorker(db, "publisher-jobs")
        self.scheduler = Scheduler(self.web_db, tz=config.site.tz, grace=timedelta(minutes=config.digest.grace_minutes))
        self.websub = WebSubPublisher(config.websub.hubs)
        self.websub.stats = self.stats.websub
        self.web_state: WebState | None = None
        self._stop = asyncio.Event()
        self._drain_stop = asyncio.Event()  # tells a drain to finish the message in flight and return
        self._watch_stop = asyncio.Event()
        self._build_wanted = asyncio.Event()
        self._pending_full = False
        self._pending_paths: set[str] = set()
        self._building = False
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._listening = ""
        self._composer: messages.Composer | None = None
        self._composer_config: Config | None = None
        self._kick_again = False
        self._kick_task: asyncio.Task[None] | None = None
        self._inotify = watcher.available()  # else (or once it failed) watchfiles

    # -- life cycle ------------------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stop, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, self.stop, "SIGINT")
        loop.add_signal_handler(signal.SIGHUP, self._on_hup)
        # The parts that outlive everything else: left last, in reverse order, after the shutdown below.
        async with contextlib.AsyncExitStack() as parts:
            parts.enter_context(self.notifier)
            for worker in (self.web_db, self.build_db, self.jobs_db):
                await parts.enter_async_context(worker)
            await parts.enter_async_context(self.websub)
            self._spawn("watchdog", self.notifier.watchdog_loop())
            try:
                await self._start()
                if not self._stop.is_set():
                    await self._stop.wait()
            finally:
                await self._shutdown()
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    loop.remove_signal_handler(sig)
        logger.info("stopped")
        return 0

    def stop(self, why: str = "stop") -> None:
        if not self._stop.is_set():
            logger.info("%s: stopping", why)
        self._stop.set()
        self._drain_stop.set()

    async def _start(self) -> None:
        config = self.config
        check_config(config)
        self.notifier.status("starting: opening the store")
        await self.web_db.run(lambda store: store.set_meta("daemon.started_at", iso(now_utc())))
        secret = await asyncio.to_thread(tokens.load_secret, config)
        self.web_state = WebState(
            config=config,
            db=self.web_db,
            stats=self.stats,
            secret=secret,
            kick_drain=self.kick_drain,
            enqueue_confirmation=messages.enqueue_confirmation,
        )
        if config.http.enabled:
            await self._start_http(config)
        self.notifier.status("starting: first scan and build")
        await self._build_once(None)
        if self._stop.is_set():
            return
        self._spawn("builder", self._build_loop())
        self._spawn("watcher", self._watch_forever())
        self._spawn("rescan", self._rescan_loop())
        await self.scheduler.start(self._cron_jobs(config), self._interval_jobs(config))
        self.stats.ready = True
        self.notifier.ready(await self._status_line())
        logger.info("ready: %s", await self._status_line())
        # Mail left in the outbox by a previous run (a crash, a stop mid-send) goes out now.
        self.kick_drain()

    async def _shutdown(self) -> None:
        self.notifier.stopping("stopping: finishing the work in flight")
        self._stop.set()
        self._drain_stop.set()
        self._watch_stop.set()
        self.scheduler.pause()
        # The build in flight (a thread) cannot be interrupted: let it finish, then stop the loops.
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while self._building and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for name in ("builder", "watcher", "rescan"):
            task = self._tasks.get(name)
            if task is not None:
                task.cancel()
        if not await self.scheduler.idle(max(1.0, deadline - time.monotonic())):
            logger.warning("a job was still running after %.0fs; stopping without it", STOP_GRACE_SECONDS)
        self.scheduler.shutdown()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._composer is not None:
            self._composer.close()
        try:
            await self.web_db.run(lambda store: store.set_meta("daemon.stopped_at", iso(now_utc())))
        except Exception:
            logger.exception("could not record the stop in the store")
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    def _spawn(self, name: str, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks[name] = task
        return task

    async def _status_line(self) -> str:
        items = await self.web_db.run(store_content.count_items)
        http = f"HTTP on {self._listening}" if self._listening else "no HTTP"
        return f"{items} items; watching {self.config.paths.content}; {http}"

    # -- HTTP ------------------------------------------------------------------------------------------

    async def _start_http(self, config: Config) -> None:
        assert self.web_state is not None
        if self._runner is None:
            # No access log: the URLs carry subscriber tokens.
            self._runner = web.AppRunner(make_app(self.web_state), access_log=None, shutdown_timeout=5.0)
            await self._runner.setup()
        host, port = config.http.host_port
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            raise PublisherError(f"cannot listen on {config.http.listen} (http.listen): {exc.strerror}") from exc
        old, self._site = self._site, site
        if old is not None:
            await old.stop()
        self._listening = config.http.listen

    # -- builds ----------------------------------------------------------------------------------------

    def request_build(self, paths: set[str] | None) -> None:
        """Ask for a build of ``paths`` (None: everything); merged with what is already asked for."""
        if paths is None:
            self._pending_full = True
        else:
            self._pending_paths |= paths
        self._build_wanted.set()

    async def _build_loop(self) -> None:
        while True:
            await self._build_wanted.wait()
            self._build_wanted.clear()
            full, paths = self._pending_full, self._pending_paths
            self._pending_full, self._pending_paths = False, set()
            if full or paths:
                await self._build_once(None if full else paths)

    async def _build_once(self, changed: set[str] | None) -> None:
        config = self.config
        what = "full build" if changed is None else f"build of {len(changed)} changed path(s)"
        self._building = True
        try:
            report = await self.build_db.run(lambda store: build.build(config, store, changed=changed))
        except asyncio.CancelledError:
            raise
        except Exception:
            self.stats.build_failures += 1
            logger.exception("%s failed; the daemon goes on", what)
            return
        finally:
            self._building = False
        if not self._warm:
            # Once, after the first build: every feed's current entries serialized and kept, so that a new
            # post in any feed is written without serializing its neighbours again.
            self._warm = True
            try:
                count = await self.build_db.run(lambda store: build.warm(config, store))
                logger.debug("kept the serialized entries of the current feeds (%d entries)", count)
            except Exception:
                logger.exception("could not keep the current feeds' entries; builds serialize them as needed")
        self.stats.builds += 1
        self.stats.last_scan = time.time()
        self.stats.feeds_written += len(report.feeds_written)
        self.stats.skipped_files += len(report.scan.skipped)
        if report.feeds_written and config.websub.hubs:
            self.websub.publish(topic_url(config.site.base_url, rel) for rel in report.feeds_written)
        if self.stats.ready:
            self.notifier.status(await self._status_line())

    async def _watch_forever(self) -> None:
        missing = False
        while not self._watch_stop.is_set():
            config = self.config
            root = config.paths.content
            if not root.is_dir():
                if not missing:
                    logger.warning("the content folder %s does not exist; waiting for it", root)
                missing = True
                await asyncio.sleep(WATCH_RETRY_SECONDS)
                continue
            if missing:
                logger.info("the content folder %s is here now", root)
                missing = False
                self.request_build(None)
            try:
                await self._watch(config, root)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("watching %s failed; trying again in %.0fs", root, WATCH_RETRY_SECONDS)
                await asyncio.sleep(WATCH_RETRY_SECONDS)

    async def _watch(self, config: Config, root: Path) -> None:
        debounce = max(1, config.daemon.debounce_ms)
        keep = ContentFilter(root, config.content.extensions)
        if self._inotify:
            try:
                # Whole files go to a build a few ms after they are (see service/watcher.py).
                async for batch in watcher.watch(root, keep, quiet=debounce / 1000, stop=self._watch_stop):
                    self._changes_seen(root, config, batch)
                return
            except OSError as exc:
                if root.is_dir():
                    self._inotify = False
                    logger.warning("cannot watch %s with inotify (%s); watching with watchfiles", root, exc)
                raise
        async for changes in watchfiles.awatch(
            root,
            watch_filter=ContentFilter(root, config.content.extensions),
            debounce=debounce,
            # Yield once the folder has been quiet for `step` ms (an editor's save, a sync tool's
            # temp-file-and-rename, all land within it); `debounce` caps a stream of changes.
            step=max(5, min(50, debounce // 5)),
            stop_event=self._watch_stop,
            ignore_permission_denied=True,
        ):
            self._changes_seen(root, config, changes)

    def _changes_seen(self, root: Path, config: Config, changes: set[tuple[watchfiles.Change, str]] | None) -> None:
        paths = None if changes is None else changed_paths(root, changes, config.content.extensions)
        logger.debug(
            "watcher: %s → %s",
            "events lost" if changes is None else f"{len(changes)} change(s)",
            "full rescan" if paths is None else sorted(paths),
        )
        if paths is None or paths:
            self.request_build(paths)

    async def _rescan_loop(self) -> None:
        while True:
            minutes = self.config.daemon.rescan_minutes
            if minutes <= 0:
                await asyncio.sleep(60)
                continue
            await asyncio.sleep(minutes * 60)
            logger.debug("periodic full rescan")
            self.request_build(None)

    # -- jobs ------------------------------------------------------------------------------------------

    def _cron_jobs(self, config: Config) -> list[CronJob]:
        jobs = [CronJob("digest", config.digest.schedule, self._counted(lambda: self._digest(None)))]
        if config.digest.mode == "combined":
            if config.digest.schedules:
                logger.warning("digest.schedules is ignored in combined mode: one digest per subscriber")
            return jobs
        for slug, expr in sorted(config.digest.schedules.items()):
            scope = Scope.of_correspondent(slug)
            jobs.append(CronJob(f"digest:{slug}", expr, self._counted(lambda scope=scope: self._digest(scope))))  # type: ignore[misc]
        return jobs

    def _interval_jobs(self, config: Config) -> list[IntervalJob]:
        jobs = [IntervalJob("outbox-retry", config.daemon.outbox_retry_seconds, self._counted(self._drain))]
        if config.bounces.maildir is not None:
            jobs.append(IntervalJob("inbound", config.bounces.poll_seconds, self._counted(self._inbound)))
        return jobs

    async def _inbound(self) -> None:
        """Read the bounces, complaints and unsubscribe mail waiting in ``bounces.maildir``."""
        config = self.config
        folder = config.bounces.maildir
        if folder is None:
            return
        secret = self.web_state.secret if self.web_state is not None else None
        done = await self.jobs_db.run(lambda store: bounces.process_maildir(store, config, folder, secret=secret))
        if done:
            logger.info("inbound: %d message(s) read from %s", len(done), folder)

    def _counted(self, run: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[None]]:
        """``run``, with its failures counted for /metrics (the scheduler's boundary logs them)."""

        async def counted() -> None:
            try:
                await run()
            except Exception:
                self.stats.job_failures += 1
                raise

        return counted

    async def _digest(self, scope: Scope | None) -> None:
        """Queue the digests due now (for ``scope``, or every scope without its own schedule), then send."""
        config = self.config
        now = datetime.now(UTC)
        ids = await self.jobs_db.run(lambda store: digests.queue(config, store, now=now, scope=scope))
        self.stats.last_digest = time.time()
        self.stats.digests_queued += len(ids)
        logger.info("digest run (%s): %d digest(s) queued", scope or "default schedule", len(ids))
        if ids:
            await self._drain()

    async def _drain(self) -> None:
        """Send what the outbox holds that is due. Called under the scheduler's lock."""
        if self._drain_stop.is_set():
            return
        config = self.config
        if self._composer is None or self._composer_config is not config:
            # Made again after a reload, here under the lock, so no drain is using the old one.
            if self._composer is not None:
                self._composer.close()
            self._composer = messages.Composer(config, config.paths.database)
            self._composer_config = config
        report = await outbox.drain(config, config.paths.database, self._composer, stop=self._drain_stop)
        if getattr(report, "busy", False):
            logger.info("outbox: another process is draining it; leaving it to them")

    def kick_drain(self) -> None:
        """Drain now (a confirmation email was queued), under the jobs' lock; repeated kicks coalesce."""
        if self._stop.is_set():
            return
        if self._kick_task is not None and not self._kick_task.done():
            self._kick_again = True
            return
        self._kick_task = self.scheduler.run_now("drain", self._kicked)

    async def _kicked(self) -> None:
        self._kick_again = True
        while self._kick_again and not self._drain_stop.is_set():
            self._kick_again = False
            await self._drain()

    # -- reload ----------------------------------------------------------------------------------------

    def _on_hup(self) -> None:
        if self._stop.is_set():
            return
        task = self._tasks.get("reload")
        if task is not None and not task.done():
            logger.info("SIGHUP: a reload is already under way")
            return
        self._spawn("reload", self.reload())

    async def reload(self) -> bool:
        """Load the config file again; True when it replaced the running one."""
        if self.load_config is None:
            logger.warning("SIGHUP: no config file to reload")
            return False
        self.notifier.reloading()
        try:
            new = await asyncio.to_thread(self.load_config)
            check_config(new)
            secret = await asyncio.to_thread(tokens.load_secret, new)
        except ConfigError as exc:
            logger.error("reload refused, the running configuration is kept: %s", exc)
            self.notifier.ready(await self._status_line())
            return False
        except Exception:
            logger.exception("reload failed, the running configuration is kept")
            self.notifier.ready(await self._status_line())
            return False
        try:
            await self._apply(new, secret)
        except Exception:
            logger.exception("reload applied in part; check the log above")
        self.notifier.ready(await self._status_line())
        return True

    async def _apply(self, new: Config, secret: bytes) -> None:
        old = self.config
        if new.paths != old.paths:
            changed = [
                f.name
                for f in dataclasses.fields(old.paths)
                if getattr(old.paths, f.name) != getattr(new.paths, f.name)
            ]
            logger.warning(
                "paths.%s changed: a restart is needed for that; keeping the old paths", ", paths.".join(changed)
            )
            new = dataclasses.replace(new, paths=old.paths)
        self.config = new
        logging.getLogger().setLevel(new.daemon.log_level.upper())
        assert self.web_state is not None
        self.web_state.reconfigure(new, secret)
        self.websub.hubs = tuple(new.websub.hubs)
        self.scheduler.tz = new.site.tz
        self.scheduler.grace = timedelta(minutes=new.digest.grace_minutes)
        await self.scheduler.install(self._cron_jobs(new), self._interval_jobs(new))
        if (new.http.enabled, new.http.listen) != (old.http.enabled, old.http.listen):
            await self._reconfigure_http(new)
        if (new.daemon.debounce_ms, new.content) != (old.daemon.debounce_ms, old.content):
            # The watcher reads its settings when it starts: start it again.
            task = self._tasks.get("watcher")
            if task is not None:
                task.cancel()
            self._spawn("watcher", self._watch_forever())
        if (new.site, new.feeds, new.content, new.websub) != (old.site, old.feeds, old.content, old.websub):
            self.request_build(None)
        logger.info("configuration reloaded from %s", new.source or "the defaults")

    async def _reconfigure_http(self, new: Config) -> None:
        if not new.http.enabled:
            if self._site is not None:
                await self._site.stop()
                self._site = None
                self._listening = ""
                logger.info("HTTP stopped (http.enabled = false)")
            return
        try:
            await self._start_http(new)
        except PublisherError as exc:
            logger.error("%s; still serving on %s", exc, self._listening or "nothing")
        else:
            logger.info("HTTP now on %s", self._listening)


async def run(config: Config, *, load_config: Callable[[], Config] | None = None) -> int:
    """Run the daemon until SIGTERM; the exit code."""
    return await Daemon(config, load_config=load_config).run()
