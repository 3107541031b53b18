"""Delivery: the outbox, and the transports that take messages out of it.

A transport takes an :class:`Envelope` and either returns (the server accepted the DATA, or the message is in
the Maildir) or raises :class:`~publisher.errors.TemporaryFailure` / :class:`~publisher.errors.PermanentFailure`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from publisher.config import Config


@dataclass(frozen=True)
class Envelope:
    sender: str  # bare address for MAIL FROM
    recipient: str  # bare address for RCPT TO
    data: bytes  # the exact message bytes (already DKIM-signed where configured)
    message_id: str


class Transport(Protocol):
    # Returns who took the message when it can tell (the relay's host:port), for the delivery record.
    async def send(self, envelope: Envelope) -> str | None: ...

    async def close(self) -> None: ...


def make_transport(config: Config) -> Transport:
    """The transport ``config`` asks for: SMTP with an ``[smtp]`` table, else the Maildir under the state folder."""
    # Imported here: both modules import Envelope from this package.
    if config.smtp is None:
        from publisher.delivery.maildir import MaildirTransport

        return MaildirTransport(config.maildir.path)
    from publisher.delivery.smtp import SmtpTransport

    return SmtpTransport(config.smtp)
