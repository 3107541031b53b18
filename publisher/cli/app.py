"""The ``publisher`` command group: a thin layer over the library.

Commands live in one module per area and register themselves on :data:`main`:
``cli/content.py`` (init, check-config, scan, build, items, correspondents), ``cli/mail.py`` (subscribers,
digest, send-test, outbox) and ``cli/daemon.py`` (run).
"""

from __future__ import annotations

import importlib
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click

from publisher.cli import start_logging, tell
from publisher.config import Config, load
from publisher.errors import PublisherError


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
            start_logging(self._config, self.verbose)
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
        except PublisherError as exc:
            sys.exit(tell(exc))


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
