"""The mail-transaction phase of an SMTP connection that aiosmtplib has set up (TLS, EHLO, AUTH).

aiosmtplib's protocol reads exactly one reply per command it writes and drops bytes that arrive while no
command waits, so it cannot pipeline (RFC 2920). :class:`Wire` takes over the connection's transport once the
session is established and queues every reply as it arrives, so MAIL, RCPT and DATA go out in one write and
their three replies are read in order: two round trips per message instead of four. Without the server's
PIPELINING extension the same class is used in lock-step, one command per reply.
"""

from __future__ import annotations

import asyncio
from collections import deque

from aiosmtplib.errors import SMTPReadTimeoutError, SMTPResponseException, SMTPServerDisconnected

# A reply longer than this without its last line is not SMTP: give up on the connection.
MAX_REPLY_BYTES = 64 * 1024


class Wire(asyncio.Protocol):
    """Reads SMTP replies into a queue; ``await reply()`` takes the next one, in order."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self._loop = asyncio.get_running_loop()
        self._buffer = bytearray()
        self._replies: deque[tuple[int, str]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._error: Exception | None = None
        # One timer per connection, moved on as replies come, instead of one per wait (two a message).
        self._deadline = 0.0
        self._watchdog: asyncio.TimerHandle | None = None

    @classmethod
    def attach(cls, transport: asyncio.BaseTransport) -> Wire:
        """Take over ``transport`` (whose previous protocol must have no reply pending)."""
        wire = cls(transport)  # type: ignore[arg-type]
        transport.set_protocol(wire)
        return wire

    @property
    def alive(self) -> bool:
        return self._error is None and not self.transport.is_closing()

    @property
    def unread(self) -> bool:
        """Replies nobody asked for are waiting (a server saying 421 to an idle connection)."""
        return bool(self._replies)

    # -- asyncio.Protocol -------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        pos = 0
        while True:
            used = self._parse_one(pos)
            if used <= pos:
                break
            pos = used
        if pos:
            del buffer[:pos]  # once for all the replies taken, not once per reply
        if len(buffer) > MAX_REPLY_BYTES:
            self._fail(SMTPResponseException(-1, "reply too long"))
            self.transport.abort()
        self._wake()

    def eof_received(self) -> bool:
        self._fail(SMTPServerDisconnected("the server closed the connection"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        error = SMTPServerDisconnected("connection lost")
        error.__cause__ = exc
        self._fail(error)

    # -- reading and writing ----------------------------------------------------------------------------

    def _parse_one(self, pos: int) -> int:
        """Take the reply starting at ``pos`` in the buffer; where the next one starts, or ``pos`` until the
        whole reply has arrived (or when it is malformed: the connection is then failed)."""
        buffer = self._buffer
        end = buffer.find(b"\n", pos)
        if end < 0:
            return pos
        first = bytes(buffer[pos:end]).rstrip(b"\r")
        lines = [first]
        after = end + 1
        line = first
        while line[3:4] == b"-":  # a multi-line reply: "250-..." up to "250 ..."
            end = buffer.find(b"\n", after)
            if end < 0:
                return pos
            line = bytes(buffer[after:end]).rstrip(b"\r")
            after = end + 1
            lines.append(line)
        try:
            code = int(first[:3])
        except ValueError:
            self._fail(SMTPResponseException(-1, f"malformed reply {first[:80]!r}"))
            self.transport.abort()
            return pos
        if len(lines) == 1:
            text = first[4:].decode("utf-8", "replace")
        else:
            text = "\n".join(line[4:].decode("utf-8", "replace") for line in lines)
        self._replies.append((code, text))
        return after

    def _fail(self, error: Exception) -> None:
        if self._error is None:
            self._error = error
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def write(self, data: bytes) -> None:
        if not self.alive:
            raise self._error or SMTPServerDisconnected("connection closed")
        self.transport.write(data)

    async def reply(self, timeout: float | None) -> tuple[int, str]:
        """The next reply (code, text); raises SMTPServerDisconnected or SMTPReadTimeoutError."""
        while not self._replies:
            if self._error is not None:
                raise self._error
            waiter = self._waiter = self._loop.create_future()
            if timeout:
                self._deadline = deadline = self._loop.time() + timeout
                watchdog = self._watchdog
                if watchdog is None or watchdog.when() > deadline:
                    if watchdog is not None:
                        watchdog.cancel()
                    self._watchdog = self._loop.call_at(deadline, self._check)
            else:
                self._deadline = 0.0
            try:
                await waiter
            finally:
                self._waiter = None
        return self._replies.popleft()

    def _check(self) -> None:
        """The watchdog: time out the wait in progress if its deadline passed, else look again at it."""
        self._watchdog = None
        waiter = self._waiter
        if waiter is None or waiter.done() or not self._deadline:
            return  # the next wait sets it again
        if self._loop.time() >= self._deadline:
            waiter.set_exception(SMTPReadTimeoutError("timed out waiting for the server's reply"))
        else:
            self._watchdog = self._loop.call_at(self._deadline, self._check)

    async def command(self, line: bytes, timeout: float | None) -> tuple[int, str]:
        self.write(line)
        return await self.reply(timeout)

    def close(self) -> None:
        self._fail(SMTPServerDisconnected("connection closed"))
        self.transport.close()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
