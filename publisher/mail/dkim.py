"""DKIM signatures (RFC 6376: rsa-sha256, relaxed/relaxed) for the messages the composer makes.

Two signers make the same kind of signature:

- :class:`DkimpySigner` hands the whole job to dkimpy. Its RSA is pure Python: ~6 ms a message with a
  2048-bit key, so ~150 messages a second.
- :class:`FastSigner` canonicalizes and hashes here and signs with OpenSSL through ``cryptography``:
  ~1 ms a message. It only has to handle what :mod:`publisher.mail.messages` writes (CRLF line ends, ASCII
  headers), and the tests check its signatures with dkimpy's verifier.

:func:`make_signer` picks the fast one when ``cryptography`` is there and the key is RSA, else dkimpy.
Both sign the header fields in :data:`SIGNED_HEADERS`, including both List-Unsubscribe fields (RFC 8058
requires them to be covered), and return the signed message: the DKIM-Signature field, then the bytes given.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from pathlib import Path
from typing import Protocol

from publisher.config import Config
from publisher.errors import ConfigError

SIGNED_HEADERS: tuple[str, ...] = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
)

_WSP_RUN = re.compile(rb"[ \t]+")
_TRAILING_WSP = re.compile(rb"[ \t]+(?=\r\n)")


class Signer(Protocol):
    def sign(self, message: bytes) -> bytes: ...


def _read_key(config: Config) -> bytes:
    assert config.dkim.key_file is not None
    try:
        return Path(config.dkim.key_file).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the DKIM key ({exc})", key="dkim.key_file") from exc


class DkimpySigner:
    def __init__(self, config: Config) -> None:
        self.key = _read_key(config)
        self.selector = config.dkim.selector.encode("ascii")
        self.domain = config.dkim.domain.encode("ascii")
        self.headers = [h.encode("ascii") for h in SIGNED_HEADERS]
        # Fail at start, not at the first message, when the key is not a usable private key.
        self.sign(b"From: a@b\r\n\r\n")

    def sign(self, message: bytes) -> bytes:
        import dkim  # dkimpy brings dnspython: loaded only where this signer is used

        try:
            signature = dkim.sign(
                message,
                self.selector,
                self.domain,
                self.key,
                include_headers=self.headers,
                canonicalize=(b"relaxed", b"relaxed"),
            )
        except dkim.DKIMException as exc:
            raise ConfigError(f"cannot sign with the DKIM key ({exc})", key="dkim.key_file") from exc
        return bytes(signature) + message


def relaxed_body(body: bytes) -> bytes:
    """RFC 6376 3.4.4: no whitespace at line ends, runs of it as one space, no empty lines at the end."""
    body = _WSP_RUN.sub(b" ", _TRAILING_WSP.sub(b"", body))
    while body.endswith(b"\r\n"):
        body = body[:-2]
    return body + b"\r\n" if body else b""


def relaxed_header(name: bytes, value: bytes) -> bytes:
    """RFC 6376 3.4.2: lower-case name, value unfolded, whitespace runs as one space, trimmed."""
    value = _WSP_RUN.sub(b" ", value.replace(b"\r\n", b"")).strip(b" \t")
    return name.strip().lower() + b":" + value


def header_fields(head: bytes) -> list[tuple[bytes, bytes]]:
    """(name, raw value) of each field of a CRLF header block, continuation lines kept."""
    fields: list[tuple[bytes, bytes]] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + b"\r\n" + line)
        elif line:
            name, _, value = line.partition(b":")
            fields.append((name, value))
    return fields


class FastSigner:
    def __init__(self, config: Config) -> None:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        try:
            key = serialization.load_pem_private_key(_read_key(config), password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"not a PEM private key without a password ({exc})", key="dkim.key_file") from exc
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ConfigError("only RSA keys are supported", key="dkim.key_file")
        self._key = key
        self._padding = padding.PKCS1v15()
        self._hash = hashes.SHA256()
        self.domain = config.dkim.domain
        self.selector = config.dkim.selector
        names = [h.lower() for h in SIGNED_HEADERS]
        # h= folded after a colon (FWS is allowed there) to keep every line short.
        half = len(names) // 2
        self._h = ":".join(names[:half]) + ":\r\n\t" + ":".join(names[half:])
        self._names = [n.encode("ascii") for n in names]

    def sign(self, message: bytes) -> bytes:
        head, sep, body = message.partition(b"\r\n\r\n")
        if not sep:
            head, body = message.rstrip(b"\r\n"), b""
        bh = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest()).decode("ascii")
        value = (
            f" v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n\td={self.domain}; s={self.selector};"
            f" t={int(time.time())};\r\n\th={self._h};\r\n\tbh={bh};\r\n\tb="
        )
        # Signed fields, each taken from the bottom up when repeated (RFC 6376 5.4.2); absent ones add nothing.
        available: dict[bytes, list[bytes]] = {}
        for name, raw in header_fields(head):
            available.setdefault(name.strip().lower(), []).append(raw)
        parts = []
        for name in self._names:
            values = available.get(name)
            if values:
                parts.append(relaxed_header(name, values.pop()) + b"\r\n")
        parts.append(relaxed_header(b"dkim-signature", value.encode("ascii")))
        signature = self._key.sign(b"".join(parts), self._padding, self._hash)
        b = base64.b64encode(signature).decode("ascii")
        folded = "\r\n\t".join(b[i : i + 70] for i in range(0, len(b), 70))
        return f"DKIM-Signature:{value}{folded}\r\n".encode("ascii") + message


def make_signer(config: Config, *, fast: bool = True) -> Signer:
    """The signer for ``config.dkim``: :class:`FastSigner` when it can be, else :class:`DkimpySigner`."""
    if fast:
        try:
            import cryptography  # noqa: F401
        except ImportError:
            fast = False
    if fast:
        try:
            return FastSigner(config)
        except ConfigError as exc:
            if "only RSA" not in str(exc):
                raise
    return DkimpySigner(config)
