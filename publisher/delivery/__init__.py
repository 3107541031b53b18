"""Delivery: the outbox, and the transports that take messages out of it.

A transport takes an :class:`Envelope` and either returns (the server accepted the DATA, or the message is in
the Maildir) or raises :class:`~publisher.errors.TemporaryFailure` / :class:`~publisher.errors.PermanentFailure`.
It is used as an async context manager: ``async with make_transport(config) as transport: ...`` opens what it
needs and closes its connections at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

if TYPE_CHECKING:
    from publisher.config import Config
    from publisher.delivery.ratelimit import RateLimiter


@dataclass(frozen=True)
class Envelope:
    sender: str  # bare address for MAIL FROM
    recipient: str  # bare address for RCPT TO
    data: bytes  # the exact message bytes (already DKIM-signed where configured)
    message_id: str
    # Whoever made ``data`` checked that it has CRLF line ends only and no line starting with a dot: it is
    # its own SMTP DATA payload, with nothing to repair or dot-stuff (~100 µs saved on a 20 KB digest).
    wire_ready: bool = False


class Transport(Protocol):
    """Everything the outbox's drain uses of a transport."""

    @property
    def concurrency(self) -> int:
        """How many messages may be in flight at once: the drain runs one sender for each."""
        ...

    @property
    def limiter(self) -> RateLimiter | None:
        """The pace the drain keeps (its hourly budget is saved between runs), or None for no limit."""
        ...

    @property
    def prepare(self) -> Callable[[Envelope], bytes] | None:
        """A pure, picklable function turning an envelope into what :meth:`send` takes as ``prepared``; the drain
        runs it in its composer thread or process, off the event loop. None: nothing to prepare."""
        ...

    async def send(self, envelope: Envelope, *, prepared: bytes | None = None) -> str | None:
        """Deliver one message; return once it is accepted, with who took it when that can be told (the relay's
        ``host:port``, for the delivery record), else raise TemporaryFailure or PermanentFailure
        (:class:`~publisher.delivery.smtp.RelayUnavailable` when no relay can be reached at all)."""
        ...

    async def close(self) -> None:
        """Let go of connections; messages in flight are the caller's to finish first."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


def make_transport(config: Config) -> Transport:
    """The transport ``config`` asks for: SMTP with an ``[smtp]`` table, else the Maildir under the state folder."""
    # Imported here: both modules import Envelope from this package.
    if config.smtp is None:
        from publisher.delivery.maildir import MaildirTransport

        return MaildirTransport(config.maildir.path)
    from publisher.delivery.smtp import SmtpTransport

    return SmtpTransport(config.smtp)
