"""Signed, URL-safe tokens for the confirm, unsubscribe and preferences links.

A token is ``BASE64URL(payload) "." BASE64URL(HMAC-SHA256(secret, context))`` where the payload is
``ID.ISSUED.EMAIL`` and the MAC covers a version tag, the purpose and the payload. So a token:

- cannot be made without the secret, nor edited (any byte changed breaks the MAC);
- works for one purpose only (an unsubscribe token does not confirm);
- names one subscriber id *and* address: the caller checks both against the store, so a token outlives
  neither a deleted subscriber nor a changed address;
- for ``confirm`` only, expires ``subscriptions.confirm_hours`` after it was issued. Unsubscribe and
  preferences tokens never expire: an unsubscribe link in a year-old digest must still work (RFC 8058).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import logging
import os
import secrets
import time
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

from publisher.config import Config
from publisher.errors import ConfigError, TokenError

log = logging.getLogger(__name__)

Purpose = Literal["confirm", "unsubscribe", "prefs"]
PURPOSES: tuple[str, ...] = ("confirm", "unsubscribe", "prefs")
_VERSION = b"publisher-token/1"
# A token issued this far in the future (clock skew between hosts) is still accepted.
_SKEW_SECONDS = 300
# Shorter secrets are accepted (an operator's choice) but warned about.
_MIN_SECRET = 16


class HasIdentity(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def email(self) -> str: ...


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hmac_sha256(secret: bytes, data: bytes) -> bytes:
    """HMAC-SHA256 of ``data`` with ``secret``: for the links' tokens and the envelope senders (VERP)."""
    mac = _keyed(secret).copy()
    mac.update(data)
    return mac.digest()


@functools.lru_cache(maxsize=8)
def _keyed(secret: bytes) -> hmac.HMAC:
    """HMAC-SHA256 with ``secret``, its key already worked in: a copy of it, then ``update``, costs a third of
    a one-shot ``hmac.digest`` (two per digest copy, one more for its envelope sender)."""
    return hmac.new(secret, digestmod="sha256")


def _mac(secret: bytes, purpose: str, payload: bytes) -> bytes:
    return hmac_sha256(secret, b"\0".join((_VERSION, purpose.encode("ascii"), payload)))


def _timestamp(now: datetime | float | None) -> int:
    if now is None:
        return int(time.time())
    if isinstance(now, datetime):
        return int(now.timestamp())
    return int(now)


def make(secret: bytes, purpose: str, subscriber_id: int, email: str, now: datetime | float | None = None) -> str:
    """A token for ``purpose`` binding the subscriber id and the (normalised) address."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    if not secret:
        raise ValueError("empty token secret")
    issued = _timestamp(now) if purpose == "confirm" else 0
    payload = f"{int(subscriber_id)}.{issued}.{email}".encode()
    return f"{_b64(payload)}.{_b64(_mac(secret, purpose, payload))}"


def verify(
    secret: bytes,
    token: str,
    purpose: str,
    now: datetime | float | None = None,
    *,
    max_age_hours: float = 72,
) -> tuple[int, str]:
    """(subscriber id, address) from a token made for ``purpose``; :class:`TokenError` otherwise."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    if not isinstance(token, str) or token.count(".") != 1 or len(token) > 2048:
        raise TokenError("malformed token")
    body, _, sig = token.partition(".")
    try:
        payload = _unb64(body)
        given = _unb64(sig)
    except (binascii.Error, ValueError) as exc:
        raise TokenError("malformed token") from exc
    if not hmac.compare_digest(given, _mac(secret, purpose, payload)):
        raise TokenError("invalid token")
    try:
        sid_text, issued_text, email = payload.decode("utf-8").split(".", 2)
        subscriber_id, issued = int(sid_text), int(issued_text)
    except ValueError as exc:  # a valid MAC over a bad payload means a bug, not an attack; still refuse
        raise TokenError("malformed token") from exc
    if purpose == "confirm":
        current = _timestamp(now)
        if issued > current + _SKEW_SECONDS:
            raise TokenError("token issued in the future")
        if current - issued > max_age_hours * 3600:
            raise TokenError("this confirmation link has expired; please subscribe again")
    return subscriber_id, email


# -- the secret ---------------------------------------------------------------------------------------------


def load_secret(config: Config) -> bytes:
    """The signing secret: ``$<subscriptions.secret_env>`` > ``subscriptions.secret`` > the secret file.

    With none of them, a new random secret is written to ``subscriptions.secret_file`` (mode 0600), so a
    fresh install signs links from its first start and keeps them valid across restarts.
    """
    subs = config.subscriptions
    if subs.secret_env and os.environ.get(subs.secret_env):
        return _checked(os.environ[subs.secret_env].encode("utf-8"), f"${subs.secret_env}")
    if subs.secret:
        return _checked(subs.secret.encode("utf-8"), "subscriptions.secret")
    path = Path(subs.secret_file)
    try:
        return _checked(path.read_bytes().strip(), str(path))
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError(f"cannot read the secret file ({exc})", key="subscriptions.secret_file") from exc
    return _generate(path)


def _checked(secret: bytes, where: str) -> bytes:
    if not secret:
        raise ConfigError(f"{where} is empty", key="subscriptions.secret")
    if len(secret) < _MIN_SECRET:
        log.warning("the token secret from %s is short (%d bytes); use at least %d", where, len(secret), _MIN_SECRET)
    return secret


def _generate(path: Path) -> bytes:
    secret = secrets.token_hex(32).encode("ascii")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Another process made it first: use theirs, so both sign alike.
        return _checked(path.read_bytes().strip(), str(path))
    except OSError as exc:
        raise ConfigError(f"cannot create the secret file ({exc})", key="subscriptions.secret_file") from exc
    with os.fdopen(fd, "wb") as fh:
        fh.write(secret + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    log.info("generated a new token secret in %s", path)
    return secret


# -- URLs -----------------------------------------------------------------------------------------------------


def _url(config: Config, path: str, token: str) -> str:
    return f"{config.public_url}{path}/{token}"


def unsubscribe_url(config: Config, secret: bytes, sub: HasIdentity) -> str:
    return _url(config, "unsubscribe", make(secret, "unsubscribe", sub.id, sub.email))


def preferences_url(config: Config, secret: bytes, sub: HasIdentity) -> str:
    return _url(config, "preferences", make(secret, "prefs", sub.id, sub.email))


def confirm_url(config: Config, secret: bytes, sub: HasIdentity, now: datetime | float | None = None) -> str:
    return _url(config, "confirm", make(secret, "confirm", sub.id, sub.email, now))
