"""The exceptions publisher raises, in one tree.

    PublisherError
    ├── ConfigError            a config file, key or value is wrong (names the file and key)
    ├── ContentError           one content file cannot be read (names the file; the scan goes on)
    ├── StoreError             the SQLite store is unusable (wrong schema version, corrupt file)
    ├── TokenError             a subscription token is forged, expired or for another address
    ├── SubscriberError        an address is invalid, or a subscriber operation is refused
    └── DeliveryError          a message could not be handed to the transport
        ├── TemporaryFailure   try again later (4xx, dropped connection, timeout)
        └── PermanentFailure   never try again for this recipient (5xx)

Errors raised by libraries (yaml, tomllib, sqlite3, aiosmtplib, ...) are converted to these at the edge,
with ``raise ... from exc`` so the cause stays visible in logs.
"""

from __future__ import annotations


class PublisherError(Exception):
    """Base class of every error publisher raises on purpose."""


class ConfigError(PublisherError):
    """A configuration file, key or value is wrong."""

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        self.file = file
        self.key = key
        where = ": ".join(part for part in (file, key) if part)
        super().__init__(f"{where}: {message}" if where else message)


class ContentError(PublisherError):
    """One content file cannot be read; the reason is short and fit for a log line."""

    def __init__(self, path: str, reason: str, *, line: int | None = None) -> None:
        self.path = path
        self.reason = reason
        self.line = line
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {reason}")


class StoreError(PublisherError):
    """The SQLite store cannot be used."""


class TokenError(PublisherError):
    """A subscription token is invalid, forged or belongs to another address."""


class SubscriberError(PublisherError):
    """A subscriber operation is refused (bad address, unknown subscriber, ...)."""


class DeliveryError(PublisherError):
    """A message could not be delivered."""

    def __init__(self, message: str, *, code: int | None = None, recipient: str | None = None) -> None:
        self.code = code
        self.recipient = recipient
        super().__init__(message)


class TemporaryFailure(DeliveryError):
    """The transport may accept the message later: retry with backoff."""


class PermanentFailure(DeliveryError):
    """The transport refused the message or recipient for good."""
