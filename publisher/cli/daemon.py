"""The daemon command: ``publisher run``."""

from __future__ import annotations

import asyncio
import logging
import sys

import click

from publisher.cli.app import App, main
from publisher.config import Config, load

logger = logging.getLogger("publisher.service.daemon")


def summary(config: Config) -> str:
    """One line naming everything the daemon will touch, for the first line of its log."""
    http = f"http://{config.http.listen}/" if config.http.enabled else "HTTP off"
    if config.smtp is None:
        mail = f"mail to Maildir {config.maildir.path}"
    else:
        mail = f"mail via SMTP {config.smtp.host}:{config.smtp.port} ({config.smtp.security})"
    return (
        f"content {config.paths.content}; store {config.paths.database}; feeds {config.paths.output}; "
        f"{http}; {mail}; digests at '{config.digest.schedule}' {config.site.timezone}"
    )


@main.command()
@click.option("--no-http", is_flag=True, help="Serve nothing over HTTP (same as --set http.enabled=false).")
@click.option("--listen", metavar="HOST:PORT", help="Address of the HTTP server (same as --set http.listen=...).")
@click.pass_obj
def run(app: App, no_http: bool, listen: str | None) -> None:
    """Run the service: watch the content folder, rebuild feeds, send digests on schedule, serve HTTP.

    Runs in the foreground until SIGTERM or Ctrl-C; SIGHUP reloads the config file. Under systemd it
    reports readiness and watchdog pings (Type=notify).

    Example: publisher --config /etc/publisher/publisher.toml run --listen 127.0.0.1:8080
    """
    extra = []
    if listen:
        extra.append(f"http.listen={_toml_string(listen)}")
    if no_http:
        extra.append("http.enabled=false")
    app.overrides = (*app.overrides, *extra)
    config = app.config
    from publisher.service.daemon import Daemon

    def reload_config() -> Config:
        return load(app.config_path, overrides=list(app.overrides))

    logger.info("publisher %s starting: %s", _version(), summary(config))
    code = asyncio.run(Daemon(config, load_config=reload_config).run())
    sys.exit(code)


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("publisher")
    except PackageNotFoundError:
        return "(source)"
