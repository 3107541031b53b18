"""VERP: an envelope sender per message, naming the outbox row it carried, signed so it cannot be forged.

Every message leaves with ``MAIL FROM:<LOCAL+ROW-MAC@DOMAIN>`` where ``LOCAL@DOMAIN`` is the bounce address
(``bounces.address``, or ``bounces@`` the From domain), ``ROW`` the outbox row id in decimal and ``MAC`` the
first 80 bits of HMAC-SHA256(secret, "publisher-verp/1" NUL ROW), in lower-case base32. A bounce that reaches
that address is attributed to exactly that row, even when the DSN quotes nothing of the message.

Lower-case base32, because some MTAs fold the case of local parts; 80 bits, because a forger gets one guess per
mail they send us. The From header is not touched: only the envelope.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass

from publisher.mail.tokens import hmac_sha256

__all__ = ["Senders", "envelope_sender", "parse", "token"]

_VERSION = b"publisher-verp/1"
_MAC_BYTES = 10
_TOKEN = re.compile(r"([0-9]{1,18})-([a-z2-7]{16})")


_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"  # RFC 4648's alphabet, lower case
_SHIFTS = range(_MAC_BYTES * 8 - 5, -1, -5)


def _mac(secret: bytes, row_id: int) -> str:
    # Once per message: the 80 bits in base32 by arithmetic (exactly 16 digits, no padding) rather than
    # base64.b32encode, which is written in Python.
    digest = hmac_sha256(secret, _VERSION + b"\0" + str(row_id).encode("ascii"))
    bits = int.from_bytes(digest[:_MAC_BYTES], "big")
    return "".join([_BASE32[(bits >> shift) & 31] for shift in _SHIFTS])


def token(secret: bytes, row_id: int) -> str:
    """``ROW-MAC`` for outbox row ``row_id``."""
    if not secret:
        raise ValueError("empty VERP secret")
    if row_id < 0:
        raise ValueError("negative outbox row id")
    return f"{row_id}-{_mac(secret, row_id)}"


def envelope_sender(bounce_address: str, secret: bytes, row_id: int) -> str:
    """``LOCAL+ROW-MAC@DOMAIN`` from the bounce address ``LOCAL@DOMAIN``."""
    local, at, domain = bounce_address.rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"not an address: {bounce_address!r}")
    return f"{local}+{token(secret, row_id)}@{domain}"


@dataclass(frozen=True)
class Senders:
    """The envelope senders of one bounce address: ``senders(row_id)``. Picklable, so the composer process
    works them out beside the messages, off the drain's event loop."""

    bounce_address: str
    secret: bytes

    def __call__(self, row_id: int) -> str:
        return envelope_sender(self.bounce_address, self.secret, row_id)


def parse(secret: bytes, address: str, bounce_address: str | None = None) -> int | None:
    """The outbox row id a VERP address names, or None when it is not one of ours or its MAC is wrong.

    ``bounce_address`` given: the local part before ``+`` and the domain must match it too (case-insensitive).
    """
    address = address.strip().strip("<>").strip()
    local, at, domain = address.rpartition("@")
    if not at or "+" not in local:
        return None
    base, _, tag = local.rpartition("+")
    if bounce_address is not None:
        want_local, _, want_domain = bounce_address.rpartition("@")
        if base.lower() != want_local.lower() or domain.lower() != want_domain.lower():
            return None
    match = _TOKEN.fullmatch(tag.lower())
    if match is None or not secret:
        return None
    row_id = int(match.group(1))
    if match.group(1) != str(row_id):
        return None  # leading zeros: not a token we made
    if not hmac.compare_digest(match.group(2), _mac(secret, row_id)):
        return None
    return row_id
