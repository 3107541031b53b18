"""The ``publisher`` command group: a thin layer over the library.

Commands live in one module per area and register themselves on :data:`main`:
``cli/content.py`` (init, check-config, scan, build, items, correspondents), ``cli/mail.py`` (subscribers,
digest, send-test, outbox) and ``cli/daemon.py`` (run).
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from publisher.config import Config, load
from publisher.errors import ConfigError, PublisherError
from publisher.service.logs import setup_logging


@contextmanager
def progress_bar(label: str, *, at_least: int = 200) -> Iterator[Callable[[int, int], None] | None]:
    """A progress callback ``update(done, total)`` drawing a bar on stderr when it is a terminal and the
    work is long (``total >= at_least``); None otherwise, so logs and pipes stay clean.

    Several bars may be open at once for successive phases (scanning, then feeds): a bar is drawn from its
    first update, and the one before it is finished then, so each phase has its own line. While a bar is
    on screen, a log record first clears the bar's line, so log lines never land on it.
    """
    if not sys.stderr.isatty():
        yield None
        return
    bar: Any = None
    shown = 0

    def update(done: int, total: int) -> None:
        nonlocal bar, shown
        if bar is None:
            if total < at_least:
                return
            _finish_active_bar()
            bar = click.progressbar(length=total, label=label, file=sys.stderr)
            bar.__enter__()
            _active.append(bar)
        bar.update(done - shown)
        shown = done

    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(_clear_bar_line)
    try:
        yield update
    finally:
        for handler in handlers:
            handler.removeFilter(_clear_bar_line)
        if bar is not None and bar in _active:
            _active.remove(bar)
            bar.__exit__(None, None, None)


_active: list[Any] = []  # the bar on screen, if any


def _finish_active_bar() -> None:
    while _active:
        _active.pop().__exit__(None, None, None)


def _clear_bar_line(record: logging.LogRecord) -> bool:
    if _active:
        sys.stderr.write("\r\x1b[2K")
        sys.stderr.flush()
    return True


@dataclass
class App:
    """What every command gets: the config path and overrides, and the config once loaded."""

    config_path: Path | None
    overrides: tuple[str, ...]
    verbose: int = 0
    _config: Config | None = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        if self._config is None:
            # A ConfigError goes up to _Group, which prints it and exits with status 2.
            self._config = load(self.config_path, overrides=list(self.overrides))
            setup_logging(self._config.daemon.log_level if not self.verbose else "DEBUG")
        return self._config


# Command name → the module that defines it. Modules are imported only when their command runs, so
# `publisher build` does not pay for the daemon's or the mail commands' imports.
_COMMANDS = {
    "init": "content",
    "example-config": "content",
    "check-config": "content",
    "scan": "content",
    "build": "content",
    "items": "content",
    "correspondents": "content",
    "subscribers": "mail",
    "digest": "mail",
    "send-test": "mail",
    "outbox": "mail",
    "inbound": "bounces",
    "bounces": "bounces",
    "run": "daemon",
}


def _take_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.find_object(App).config_path = value  # type: ignore[union-attr]


def _take_overrides(ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]) -> None:
    if value:
        app = ctx.find_object(App)
        assert app is not None
        app.overrides = (*app.overrides, *value)


def _take_verbose(ctx: click.Context, _param: click.Parameter, value: int) -> None:
    if value:
        app = ctx.find_object(App)
        assert app is not None
        app.verbose += value


_CONFIG_HELP = "Config file (default: $PUBLISHER_CONFIG, else ./publisher.toml, else embedded defaults)."
_SET_HELP = "Override one config value, e.g. --set paths.content=posts. Repeatable."


def _common_options() -> list[click.Parameter]:
    """--config, --set and -v again on every command, so they may come after it too
    (``publisher build --config site.toml``); there they update the :class:`App` the group made."""
    return [
        click.Option(
            ["--config", "-c"],
            type=click.Path(path_type=Path, dir_okay=False),
            expose_value=False,
            callback=_take_config,
            help=_CONFIG_HELP,
        ),
        click.Option(
            ["--set"],
            multiple=True,
            metavar="TABLE.KEY=VALUE",
            expose_value=False,
            callback=_take_overrides,
            help=_SET_HELP,
        ),
        click.Option(
            ["--verbose", "-v"], count=True, expose_value=False, callback=_take_verbose, help="Log debug detail."
        ),
    ]


def _with_common_options(command: click.Command) -> click.Command:
    if not getattr(command, "_publisher_common", False):
        command.params.extend(_common_options())
        command._publisher_common = True  # type: ignore[attr-defined]
        if isinstance(command, click.Group):
            for sub in command.commands.values():
                _with_common_options(sub)
    return command


class _Group(click.Group):
    """Loads command modules on demand, gives every command the common options, and turns publisher's own
    errors into one clean line and exit status 1 (2 for configuration)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _COMMANDS:
            importlib.import_module(f"publisher.cli.{_COMMANDS[cmd_name]}")
        command = self.commands.get(cmd_name)
        return _with_common_options(command) if command is not None else None

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            click.echo(f"publisher: config error: {exc}", err=True)
            sys.exit(2)
        except PublisherError as exc:
            click.echo(f"publisher: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "-c", "config_path", type=click.Path(path_type=Path, dir_okay=False), help=_CONFIG_HELP)
@click.option("--set", "overrides", multiple=True, metavar="TABLE.KEY=VALUE", help=_SET_HELP)
@click.option("--verbose", "-v", count=True, help="Log debug detail.")
@click.version_option(package_name="publisher")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None, overrides: tuple[str, ...], verbose: int) -> None:
    """Turn a content folder into feeds and email digests."""
    ctx.obj = App(config_path=config_path, overrides=overrides, verbose=verbose)
    logging.captureWarnings(True)
