"""sd_notify datagrams, received on a real AF_UNIX socket standing in for systemd's."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher.service.systemd import Notifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    sock.bind(path)
    sock.settimeout(5)
    yield sock, path
    sock.close()


def _recv(sock: socket.socket) -> list[str]:
    return sock.recv(4096).decode().split("\n")


def test_ready_status_stopping(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    n = Notifier({"NOTIFY_SOCKET": path})
    assert n.enabled
    assert n.ready("watching 3 items")
    assert _recv(sock) == ["READY=1", "STATUS=watching 3 items"]
    n.status("line one\nline two")
    assert _recv(sock) == ["STATUS=line one line two"]  # a newline would start a new assignment
    n.reloading()
    reload = _recv(sock)
    assert reload[0] == "RELOADING=1" and reload[1].startswith("MONOTONIC_USEC=")
    assert int(reload[1].split("=")[1]) > 0
    n.stopping()
    assert _recv(sock) == ["STOPPING=1"]
    n.close()


def test_abstract_namespace() -> None:
    name = f"publisher-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(5)
    try:
        n = Notifier({"NOTIFY_SOCKET": "@" + name})
        assert n.ready()
        assert _recv(sock) == ["READY=1"]
    finally:
        sock.close()


def test_no_socket_is_a_no_op() -> None:
    n = Notifier({})
    assert not n.enabled
    assert not n.ready()
    assert n.watchdog_interval is None
    assert not Notifier({"NOTIFY_SOCKET": "relative/path"}).enabled


def test_gone_supervisor_is_not_fatal(tmp_path: Path) -> None:
    n = Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})
    assert n.enabled
    assert not n.ready()


def test_watchdog_interval_and_pid(listener: tuple[socket.socket, str]) -> None:
    _, path = listener
    mine = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())})
    assert mine.watchdog_interval == 2.0
    other = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid() + 1)})
    assert other.watchdog_interval is None
    assert Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "0"}).watchdog_interval is None
    assert Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "soon"}).watchdog_interval is None


async def test_watchdog_loop_pings(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    sock.setblocking(False)
    n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"})
    task = asyncio.create_task(n.watchdog_loop())
    loop = asyncio.get_running_loop()
    got = [await asyncio.wait_for(loop.sock_recv(sock, 4096), 5) for _ in range(3)]
    task.cancel()
    assert got == [b"WATCHDOG=1"] * 3


def test_a_supervisor_that_stops_reading_never_blocks_us(listener: tuple[socket.socket, str]) -> None:
    _, path = listener  # bound, never read: its queue fills after a few datagrams
    n = Notifier({"NOTIFY_SOCKET": path})
    results: list[bool] = []
    sender = threading.Thread(target=lambda: results.extend(n.watchdog() for _ in range(500)))
    sender.start()
    sender.join(30)
    assert not sender.is_alive(), "notify blocked on a full queue"
    assert results[0] is True
    assert results.count(False) > 0  # the ones without room were dropped, not waited for
