"""Typed, validated configuration, built in layers: defaults ← TOML file ← environment ← command line.

Every table of the TOML file maps onto a frozen dataclass below. An unknown key, a wrong type or a bad value
raises :class:`ConfigError` naming the file and the dotted key. Relative paths resolve against the folder of
the config file (or the working folder when there is no file).

Environment overrides use ``PUBLISHER_<TABLE>__<KEY>`` (``PUBLISHER_SITE__BASE_URL=https://...``); command line
overrides use ``--set table.key=value``. Values of both are read as TOML values when they parse as such
(``42``, ``true``, ``["a", "b"]``) and as plain strings otherwise.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from publisher.content.ids import bad_authority
from publisher.content.selection import DEFAULT_EXCLUDE, UNDATED_RULES
from publisher.errors import ConfigError
from publisher.feeds.formats import FORMATS, FeedFormat


def bundled_templates() -> Path:
    """The folder of the bundled templates: ``templates/`` beside the package in a checkout (or an editable
    install), else ``share/publisher/templates`` under the installation prefix, where the wheel puts it."""
    checkout = Path(__file__).resolve().parent.parent / "templates"
    if checkout.is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "publisher" / "templates"


# How the SMTP connection is secured: STARTTLS after connecting, TLS from the start, or not at all.
SmtpSecurity = Literal["starttls", "tls", "none"]
# One digest per correspondent for their followers, or one per subscriber grouping all they follow.
DigestMode = Literal["per-correspondent", "combined"]

DEFAULT_CONFIG_NAME = "publisher.toml"
ENV_CONFIG = "PUBLISHER_CONFIG"
ENV_PREFIX = "PUBLISHER_"
# What errors name as their place when there is no config file.
NO_FILE = "embedded defaults"


# The table classes have no generated repr: nothing prints a whole table, a repr would show the
# subscriptions secret to whatever logs it, and each method a dataclass generates is compiled at every start.
@dataclass(frozen=True, repr=False)
class SiteConfig:
    """The ``[site]`` table: what the feeds and pages say about the site, and where it lives."""

    title: str = "Example News"
    base_url: str = "http://127.0.0.1:8080/"
    timezone: str = "UTC"
    language: str = "en"
    author: str = "Newsroom"
    description: str = ""
    # The naming authority of tag: ids. Empty: the host of base_url at the first build, then kept in the
    # store, so ids survive a later move of base_url.
    id_authority: str = ""
    # The path of an article under base_url; {year} {month} {day} {slug} {key} are filled in.
    permalink: str = "{year}/{month}/{day}/{slug}/"
    # The sender address when there is no [smtp] table.
    email: str = "publisher@localhost"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True, repr=False)
class PathsConfig:
    """The ``[paths]`` table: the content folder, the database, the feeds' folder and the state folder."""

    content: Path = Path("content")
    database: Path = Path("state/publisher.db")
    output: Path = Path("public")
    state: Path = Path("state")
    # A folder whose templates override the bundled ones, file by file.
    templates: Path | None = None


@dataclass(frozen=True, repr=False)
class AuthorConfig:
    """One author of `[content.authors.HANDLE]`: the display name, role, and whether readers may follow."""

    name: str = ""
    role: str = ""
    subscribable: bool = True


@dataclass(frozen=True, repr=False)
class ContentConfig:
    """The ``[content]`` table: which files of the content folder are read, and how."""

    max_file_size: int = 5_000_000
    extensions: tuple[str, ...] = (".md", ".markdown", ".txt", ".pdf")
    # Glob patterns (relative to the content folder, .gitignore style; see publisher.content.selection):
    # only files matching one of `include` are read (empty: every file), and never one matching `exclude`
    # or, unless `default_exclude` is false, one of the defaults (Jekyll/Hugo/Zola build and theme folders).
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    default_exclude: bool = True
    # Undated files: "pages" (those with front matter are pages, left out), "mtime" or "skip".
    undated: str = "pages"
    # Handle → display name, role, subscribable; beside _data/authors.yml or data/authors (which it overrides).
    authors: Mapping[str, AuthorConfig] = field(default_factory=dict)

    @property
    def excluded(self) -> tuple[str, ...]:
        """Every exclude pattern in force: the defaults (unless turned off) and the configured ones."""
        return (DEFAULT_EXCLUDE if self.default_exclude else ()) + self.exclude


@dataclass(frozen=True, repr=False)
class FeedsConfig:
    """The ``[feeds]`` table: which feeds are written, in which formats, and how big they grow."""

    entries: int = 50
    formats: tuple[FeedFormat, ...] = FORMATS
    per_correspondent: bool = True
    per_category: bool = True
    per_tag: bool = False
    # Largest size of a current feed file, in bytes; older entries move to archive pages to stay under it.
    max_bytes: int = 1_048_576


@dataclass(frozen=True, repr=False)
class SmtpConfig:
    """The ``[smtp]`` table: the relay mail goes through; without it, mail goes into a Maildir."""

    host: str = "127.0.0.1"
    port: int = 587
    security: SmtpSecurity = "starttls"
    username: str = ""
    password_env: str = "PUBLISHER_SMTP_PASSWORD"
    password_file: Path | None = None
    # The From of every email. Empty: derived as "site.title <site.email>", which needs site.email set.
    from_: str = ""
    connections: int = 4
    rate: float = 50.0  # messages per second, 0 = unlimited
    rate_per_hour: int = 0  # 0 = unlimited
    messages_per_connection: int = 1000
    timeout: float = 30.0
    # Further relays tried in order when the first cannot be reached: "host:port" strings.
    fallback: tuple[str, ...] = ()
    max_attempts: int = 8
    retry_base_seconds: float = 60.0
    bounce_limit: int = 3
    # Verify the server's certificate (turn off only for a relay on loopback with a self-signed cert).
    verify_tls: bool = True

    def password(self) -> str:
        if self.password_file is not None:
            return self.password_file.read_text(encoding="utf-8").strip()
        return os.environ.get(self.password_env, "") if self.password_env else ""


@dataclass(frozen=True, repr=False)
class MaildirConfig:
    """The ``[maildir]`` table: where mail goes when there is no ``[smtp]`` table."""

    path: Path = Path("state/maildir")


@dataclass(frozen=True, repr=False)
class DkimConfig:
    """The ``[dkim]`` table: DKIM signing of outgoing mail, on when all three keys are set."""

    selector: str = ""
    domain: str = ""
    key_file: Path | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.selector and self.domain and self.key_file)


@dataclass(frozen=True, repr=False)
class DigestConfig:
    """The ``[digest]`` table: when digests go out, and what goes into them."""

    schedule: str = "0 7 * * *"
    mode: DigestMode = "per-correspondent"
    max_age_days: int = 7
    subject: str = "{{ correspondent.name }}: {{ sections|length }} new"
    # Per-correspondent cron overrides: slug → cron expression.
    schedules: Mapping[str, str] = field(default_factory=dict)
    max_html_bytes: int = 100_000
    # A run missed while the daemon was down still runs at start if no older than this.
    grace_minutes: int = 360


@dataclass(frozen=True, repr=False)
class SubscriptionsConfig:
    """The ``[subscriptions]`` table: subscribe, confirm and unsubscribe links and their limits."""

    public_url: str = ""  # default: site.base_url
    secret: str = ""
    secret_env: str = "PUBLISHER_SECRET"
    secret_file: Path = Path("state/secret")
    unsubscribe_mailto: str = ""
    # A welcome message after confirmation: the name of its template pair (email/NAME.txt and .html, e.g.
    # "welcome" for the bundled one). Empty: none is sent.
    welcome: str = ""
    welcome_subject: str = "Welcome to {site_title}"
    confirm_hours: int = 72
    # Rate limits of POST /subscribe.
    per_client_per_hour: int = 20
    per_address_per_hour: int = 3


@dataclass(frozen=True, repr=False)
class BouncesConfig:
    """The ``[bounces]`` table: the bounce address and the Maildir of returned mail."""

    # The bounce address LOCAL@DOMAIN; every message's envelope sender is LOCAL+TOKEN@DOMAIN (VERP).
    # Empty: "bounces@" the domain of the From address.
    address: str = ""
    # A Maildir the daemon watches for bounces, complaints and unsubscribe mail; unset: not watched.
    maildir: Path | None = None
    # Where mail nobody recognised goes (a Maildir), kept until a person it names is forgotten; default:
    # state/inbound/quarantine.
    quarantine: Path = Path("state/inbound/quarantine")
    # Where the watched Maildir's recognised mail goes once read; default: state/inbound/processed.
    processed: Path = Path("state/inbound/processed")
    # Soft bounces (mailbox full, relay gave up on a 4.x.x) count once they repeat over this many days.
    soft_days: int = 7
    # How often the daemon looks into bounces.maildir.
    poll_seconds: float = 10.0


@dataclass(frozen=True, repr=False)
class HttpConfig:
    """The ``[http]`` table: the daemon's HTTP server."""

    enabled: bool = True
    listen: str = "127.0.0.1:8080"

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]") or "127.0.0.1", int(port)


@dataclass(frozen=True, repr=False)
class WebSubConfig:
    """The ``[websub]`` table: the hubs told when a feed changes."""

    hubs: tuple[str, ...] = ()


@dataclass(frozen=True, repr=False)
class DaemonConfig:
    """The ``[daemon]`` table: the watcher's debounce, the periodic rescans and retries, the log level."""

    debounce_ms: int = 100
    rescan_minutes: float = 15.0
    outbox_retry_seconds: float = 60.0
    log_level: str = "INFO"


@dataclass(frozen=True, repr=False)
class Config:
    """The whole configuration: one attribute per TOML table, and where the values came from."""

    site: SiteConfig = field(default_factory=SiteConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    content: ContentConfig = field(default_factory=ContentConfig)
    feeds: FeedsConfig = field(default_factory=FeedsConfig)
    smtp: SmtpConfig | None = None
    maildir: MaildirConfig = field(default_factory=MaildirConfig)
    dkim: DkimConfig = field(default_factory=DkimConfig)
    digest: DigestConfig = field(default_factory=DigestConfig)
    subscriptions: SubscriptionsConfig = field(default_factory=SubscriptionsConfig)
    bounces: BouncesConfig = field(default_factory=BouncesConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    websub: WebSubConfig = field(default_factory=WebSubConfig)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    # Where the values came from, for messages; not TOML keys. ``origins``: (dotted key, "--set" or
    # "environment NAME") for the values set outside the file.
    source: Path | None = None
    origins: tuple[tuple[str, str], ...] = ()

    def origin(self, key: str) -> str:
        """Where the value of the dotted ``key`` came from, for an error message: the file, ``--set`` or the
        environment variable."""
        return _Origins(str(self.source) if self.source else NO_FILE, dict(self.origins))(key)

    @property
    def sender(self) -> str:
        """The From address of every email: ``smtp.from``, else ``site.title <site.email>``."""
        if self.smtp is not None and self.smtp.from_:
            return self.smtp.from_
        from email.utils import formataddr  # not at import: only mail needs it, and it costs a command's start

        return formataddr((self.site.title, self.site.email))

    @property
    def sender_source(self) -> str:
        """Where :attr:`sender` comes from, in words, for check-config."""
        if self.smtp is not None and self.smtp.from_:
            return "smtp.from"
        return "derived from site.title and site.email"

    @property
    def bounce_address(self) -> str:
        """The address bounces come back to (the envelope sender before its VERP tag)."""
        if self.bounces.address:
            return self.bounces.address
        from email.utils import parseaddr

        _, addr = parseaddr(self.sender)
        domain = addr.rpartition("@")[2] or "localhost"
        return f"bounces@{domain}"

    @property
    def public_url(self) -> str:
        """The URL under which /subscribe, /confirm and /unsubscribe are reachable."""
        url = self.subscriptions.public_url or self.site.base_url
        return url if url.endswith("/") else url + "/"


# TOML key names that are not Python identifiers.
_ALIASES = {"from": "from_"}
_REVERSE_ALIASES = {v: k for k, v in _ALIASES.items()}
_SECTIONS = {f.name: f for f in dataclasses.fields(Config) if f.name not in ("source", "origins")}


def load(
    path: Path | str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    must_exist: bool = True,
) -> Config:
    """Build the configuration from defaults, the file at ``path``, the environment and ``overrides``.

    A file named by ``path`` or by ``$PUBLISHER_CONFIG`` must exist: a typo must not start a blank service on
    the defaults. Only the implicit ``./publisher.toml`` may be missing, which gives the embedded defaults.
    (``must_exist=False`` lets a named file be missing too.)
    """
    env = os.environ if environ is None else environ
    if path is None:
        named = env.get(ENV_CONFIG)
        path = Path(named) if named else Path(DEFAULT_CONFIG_NAME)
        must_exist = must_exist and bool(named)
    path = Path(path)
    label = str(path)
    raw: dict[str, Any] = {}
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML ({exc})", file=label) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read ({exc})", file=label) from exc
        base = path.resolve().parent
    elif must_exist:
        raise ConfigError("no such file", file=label)
    else:
        base = Path.cwd()
        label = NO_FILE
    origins: dict[str, str] = {}
    for name, key, value in _env_layer(env):
        _set_dotted(raw, key, value, label=f"environment {name}")
        origins[key] = f"environment {name}"
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep:
            raise ConfigError("expected table.key=value", key=item, file="--set")
        key = key.strip()
        _set_dotted(raw, key, _parse_value(text.strip()), label="--set")
        origins[key] = "--set"
    return from_mapping(raw, base=base, file=label, source=path if path.exists() else None, origins=origins)


def from_mapping(
    raw: Mapping[str, Any],
    *,
    base: Path,
    file: str = "<config>",
    source: Path | None = None,
    origins: Mapping[str, str] | None = None,
) -> Config:
    """Validate a parsed TOML mapping into a :class:`Config`; paths resolve against ``base``.

    ``origins`` maps dotted keys set outside the file (``--set``, the environment) to where they came from, so
    an error about one of them names that place instead of the file."""
    where = _Origins(file, origins or {})
    sections: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in _SECTIONS:
            raise ConfigError(f"unknown table (known: {', '.join(sorted(_SECTIONS))})", file=where(name), key=name)
        if not isinstance(value, Mapping):
            raise ConfigError("expected a table", file=where(name), key=name)
        cls = _section_class(_SECTIONS[name])
        sections[name] = _build(cls, value, base=base, where=where, prefix=name)
    config = Config(**sections, source=source, origins=tuple(sorted((origins or {}).items())))
    # Paths in [subscriptions] and [maildir] defaults live under the state folder when left alone.
    config = _place_under_state(config, raw, base)
    _validate(config, where)
    return config


class _Origins:
    """Where the value of a dotted key came from: the file, or the ``--set`` / environment layer that set it."""

    def __init__(self, file: str, origins: Mapping[str, str]) -> None:
        self.file = file
        self.origins = origins

    def __call__(self, key: str) -> str:
        parts = key.split("[", 1)[0].split(".")
        # The key itself or a table above it (``--set digest.schedules.x=...`` for digest.schedules.x).
        for n in range(len(parts), 0, -1):
            found = self.origins.get(".".join(parts[:n]))
            if found is not None:
                return found
        if self.file == NO_FILE:
            # A table-wide rule (``dkim``: all three keys or none) broken by keys that only came from outside.
            below = sorted({label for k, label in self.origins.items() if k.startswith(parts[0] + ".")})
            if below:
                return ", ".join(below)
        return self.file


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    """The field types of a config class, evaluated once: each is a string (``from __future__ import
    annotations``) that costs a compile to evaluate, and every table of every load asks again."""
    return typing.get_type_hints(cls)


def _section_class(f: dataclasses.Field[Any]) -> type:
    hint = _type_hints(Config)[f.name]
    for arg in typing.get_args(hint) or (hint,):
        if dataclasses.is_dataclass(arg):
            return arg  # type: ignore[return-value]
    raise AssertionError(f.name)


def _build(cls: type, table: Mapping[str, Any], *, base: Path, where: _Origins, prefix: str) -> Any:
    hints = _type_hints(cls)
    known = {_REVERSE_ALIASES.get(f.name, f.name): f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}.{key}"
        if key not in known:
            raise ConfigError(f"unknown key (known: {', '.join(sorted(known))})", file=where(dotted), key=dotted)
        attr = known[key]
        values[attr] = _coerce(value, hints[attr], base=base, file=where(dotted), key=dotted)
    return cls(**values)


def _coerce(value: Any, hint: Any, *, base: Path, file: str, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        return _coerce(value, non_none[0], base=base, file=file, key=key)
    if origin is Literal:
        if value not in args:
            choices = [str(a) for a in args]
            raise ConfigError(f"must be {', '.join(choices[:-1])} or {choices[-1]}, got {value!r}", file=file, key=key)
        return value
    if hint is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"expected a path string, got {_kind(value)}", file=file, key=key)
        p = Path(value).expanduser()
        return p if p.is_absolute() else base / p
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"expected true or false, got {_kind(value)}", file=file, key=key)
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"expected a whole number, got {_kind(value)}", file=file, key=key)
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"expected a number, got {_kind(value)}", file=file, key=key)
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"expected a string, got {_kind(value)}", file=file, key=key)
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"expected a list, got {_kind(value)}", file=file, key=key)
        return tuple(_coerce(v, args[0], base=base, file=file, key=f"{key}[{i}]") for i, v in enumerate(value))
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, Mapping):
            raise ConfigError(f"expected a table, got {_kind(value)}", file=file, key=key)
        return _build(hint, value, base=base, where=lambda _dotted: file, prefix=key)  # type: ignore[arg-type]
    if origin in (Mapping, dict):
        if not isinstance(value, Mapping):
            raise ConfigError(f"expected a table, got {_kind(value)}", file=file, key=key)
        return {str(k): _coerce(v, args[1], base=base, file=file, key=f"{key}.{k}") for k, v in value.items()}
    raise AssertionError(f"unsupported config type {hint!r} for {key}")


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list"}.get(
        type(value), "a table" if isinstance(value, Mapping) else type(value).__name__
    )


def _place_under_state(config: Config, raw: Mapping[str, Any], base: Path) -> Config:
    state = config.paths.state if "state" in raw.get("paths", {}) else None
    if state is None:
        db_given = "database" in raw.get("paths", {})
        state = config.paths.database.parent if db_given else base / "state"
        config = dataclasses.replace(config, paths=dataclasses.replace(config.paths, state=state))
    changes: dict[str, Any] = {}
    if "database" not in raw.get("paths", {}):
        changes["paths"] = dataclasses.replace(config.paths, database=state / "publisher.db")
    for name in ("content", "output"):
        if name not in raw.get("paths", {}):
            current = changes.get("paths", config.paths)
            changes["paths"] = dataclasses.replace(current, **{name: base / getattr(PathsConfig(), name)})
    if "path" not in raw.get("maildir", {}):
        changes["maildir"] = MaildirConfig(path=state / "maildir")
    if "secret_file" not in raw.get("subscriptions", {}):
        changes["subscriptions"] = dataclasses.replace(config.subscriptions, secret_file=state / "secret")
    bounces = raw.get("bounces", {})
    for name in ("quarantine", "processed"):
        if name not in bounces:
            current = changes.get("bounces", config.bounces)
            changes["bounces"] = dataclasses.replace(current, **{name: state / "inbound" / name})
    return dataclasses.replace(config, **changes)


_CRON_FIELDS = 5


def _validate(config: Config, where: _Origins) -> None:
    def bad(key: str, message: str) -> ConfigError:
        return ConfigError(message, file=where(key), key=key)

    if config.site.id_authority and (why := bad_authority(config.site.id_authority)):
        raise bad("site.id_authority", why)
    url = urlsplit(config.site.base_url)
    if url.scheme not in ("http", "https") or not url.netloc:
        raise bad("site.base_url", f"must be an absolute http(s) URL, got {config.site.base_url!r}")
    try:
        ZoneInfo(config.site.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise bad("site.timezone", f"unknown IANA time zone {config.site.timezone!r}") from exc
    if config.feeds.entries < 1:
        raise bad("feeds.entries", "must be at least 1")
    if config.feeds.max_bytes < 65_536:
        raise bad("feeds.max_bytes", "must be at least 65536 (64 KiB)")
    if config.content.max_file_size < 1:
        raise bad("content.max_file_size", "must be positive")
    if config.content.undated not in UNDATED_RULES:
        raise bad("content.undated", f"must be one of {', '.join(UNDATED_RULES)}, got {config.content.undated!r}")
    if config.smtp is not None:
        smtp = config.smtp
        if not 0 < smtp.port < 65536:
            raise bad("smtp.port", f"not a port number: {smtp.port}")
        if smtp.connections < 1:
            raise bad("smtp.connections", "must be at least 1")
        if smtp.rate < 0:
            raise bad("smtp.rate", "must be 0 (unlimited) or more")
        for i, relay in enumerate(smtp.fallback):
            relay_host, _, relay_port = relay.rpartition(":")
            if not relay_host or not relay_port.isdigit():
                raise bad(f"smtp.fallback[{i}]", f"expected host:port, got {relay!r}")
    if config.smtp is not None and not config.smtp.from_ and config.site.email == SiteConfig.email:
        raise bad(
            "smtp.from",
            'mail through [smtp] needs a From address: set smtp.from = "News <news@example.org>"'
            ' (or site.email, and it is derived as "site.title <site.email>")',
        )
    if config.smtp is not None:
        from email.utils import parseaddr  # here, not at import: a command that sends no mail never loads it

        _, addr = parseaddr(config.sender)
        if "@" not in addr or addr.startswith("@") or addr.endswith("@"):
            key = "smtp.from" if config.smtp.from_ else "site.email"
            raise bad(key, f"expected an address like 'News <news@example.org>', got {config.sender!r}")
    address = config.bounces.address
    if address:
        from email.utils import parseaddr

        local, at, domain = address.rpartition("@")
        if not at or not local or not domain or "+" in local or parseaddr(address)[1] != address:
            raise bad("bounces.address", f"expected a bare address like bounces@example.org, got {address!r}")
    if config.bounces.soft_days < 1:
        raise bad("bounces.soft_days", "must be at least 1")
    if config.bounces.poll_seconds <= 0:
        raise bad("bounces.poll_seconds", "must be more than 0")
    if config.subscriptions.public_url and urlsplit(config.subscriptions.public_url).scheme not in ("http", "https"):
        raise bad("subscriptions.public_url", f"must be an http(s) URL, got {config.subscriptions.public_url!r}")
    if config.digest.max_age_days < 1:
        raise bad("digest.max_age_days", "must be at least 1")
    for key, expr in [("digest.schedule", config.digest.schedule)] + [
        (f"digest.schedules.{slug}", expr) for slug, expr in config.digest.schedules.items()
    ]:
        if len(expr.split()) != _CRON_FIELDS:
            raise bad(key, f"expected a 5-field cron expression, got {expr!r}")
    dkim_asked = bool(config.dkim.selector or config.dkim.domain or config.dkim.key_file)
    if dkim_asked and not config.dkim.enabled:
        raise bad("dkim", "selector, domain and key_file must all be set to sign")
    try:
        _, port = config.http.host_port
    except ValueError as exc:
        raise bad("http.listen", f"expected host:port, got {config.http.listen!r}") from exc
    if not 0 <= port < 65536:
        raise bad("http.listen", f"not a port number: {port}")
    for i, hub in enumerate(config.websub.hubs):
        if urlsplit(hub).scheme not in ("http", "https"):
            raise bad(f"websub.hubs[{i}]", f"must be an http(s) URL, got {hub!r}")
    if config.daemon.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise bad("daemon.log_level", f"unknown level {config.daemon.log_level!r}")


def _env_layer(env: Mapping[str, str]) -> list[tuple[str, str, Any]]:
    """``(variable name, dotted key, value)`` for each ``PUBLISHER_<TABLE>__<KEY>`` variable."""
    out = []
    for name, text in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        table, _, key = name[len(ENV_PREFIX) :].partition("__")
        if table.lower() in _SECTIONS:
            out.append((name, f"{table.lower()}.{key.lower()}", _parse_value(text)))
    return sorted(out, key=lambda t: t[1])


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any, *, label: str) -> None:
    table, sep, key = dotted.partition(".")
    if not sep or not key:
        raise ConfigError("expected table.key", file=label, key=dotted)
    target = raw.setdefault(table, {})
    if not isinstance(target, dict):
        raise ConfigError("expected a table", file=label, key=table)
    *parents, last = key.split(".")
    for parent in parents:
        target = target.setdefault(parent, {})
    target[last] = value
