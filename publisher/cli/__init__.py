"""The ``publisher`` command: a thin layer over the library.

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
    work is long (``total >= at_least``); None otherwise, so logs and pipes stay clean."""
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
            bar = click.progressbar(length=total, label=label, file=sys.stderr)
            bar.__enter__()
        bar.update(done - shown)
        shown = done

    try:
        yield update
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)


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
    "check-config": "content",
    "scan": "content",
    "build": "content",
    "items": "content",
    "correspondents": "content",
    "subscribers": "mail",
    "digest": "mail",
    "send-test": "mail",
    "outbox": "mail",
    "run": "daemon",
}


class _Group(click.Group):
    """Loads command modules on demand, and turns publisher's own errors into one clean line and exit
    status 1 (2 for configuration)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _COMMANDS:
            importlib.import_module(f"publisher.cli.{_COMMANDS[cmd_name]}")
        return self.commands.get(cmd_name)

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
@click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Config file (default: $PUBLISHER_CONFIG, else ./publisher.toml, else embedded defaults).",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="TABLE.KEY=VALUE",
    help="Override one config value, e.g. --set paths.content=posts. Repeatable.",
)
@click.option("--verbose", "-v", count=True, help="Log debug detail.")
@click.version_option(package_name="publisher")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None, overrides: tuple[str, ...], verbose: int) -> None:
    """Turn a content folder into feeds and email digests."""
    ctx.obj = App(config_path=config_path, overrides=overrides, verbose=verbose)
    logging.captureWarnings(True)
