"""Reading SMTP replies off a real loopback connection, whatever pieces the server writes them in."""

from __future__ import annotations

import asyncio

import pytest
from aiosmtplib.errors import SMTPResponseException

from publisher.delivery.wire import Wire


async def _replies_of(pieces: list[bytes], count: int) -> list[tuple[int, str]]:
    """The first ``count`` replies a server writing ``pieces`` (one write each, a pause between) gives."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.01)
        await reader.read()  # until the client closes
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, _ = await asyncio.get_running_loop().create_connection(asyncio.Protocol, "127.0.0.1", port)
    wire = Wire.attach(transport)
    try:
        return [await wire.reply(5.0) for _ in range(count)]
    finally:
        wire.close()
        server.close()
        await server.wait_closed()


async def test_replies_cut_anywhere_and_run_together_come_out_whole_and_in_order() -> None:
    pieces = [
        b"250-first\r\n250-sec",
        b"ond\r\n250 third\r\n354 go",
        b" ahead\r\n",
        b"250 2.0.0 Ok: queued\r\n221 bye\r\n",
    ]
    assert await _replies_of(pieces, 4) == [
        (250, "first\nsecond\nthird"),
        (354, "go ahead"),
        (250, "2.0.0 Ok: queued"),
        (221, "bye"),
    ]


async def test_a_reply_that_is_not_smtp_fails_the_connection() -> None:
    with pytest.raises(SMTPResponseException, match="malformed reply"):
        await _replies_of([b"250 fine\r\nhello there\r\n"], 2)
