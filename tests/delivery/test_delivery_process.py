"""Large sends compose in a worker process: the bytes still arrive exactly once, a broken worker falls back to
the drain's own thread, and a SIGKILLed drain leaves no worker behind.

Each message carries the pid of the process that composed it (``X-Composed-By``), so the tests see where
composition really happened.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from publisher.config import Config
from publisher.delivery import Envelope, outbox
from publisher.delivery.outbox import OutboxRow, counts, drain
from publisher.store import Store
from tests.delivery_helpers import add_subscribers, compose, smtp_toml
from tests.smtpserver import SmtpServer

pytest_plugins = ["tests.smtpserver"]

ROOT = Path(__file__).resolve().parents[2]
COMPOSED_BY = re.compile(rb"^X-Composed-By: (\d+)\r$", re.MULTILINE)
FILLER = b"".join(b"X-Filler-%04d: %s\r\n" % (i, b"y" * 60) for i in range(2000))


def pid_compose(row: OutboxRow) -> Envelope:
    """The helpers' real composer, with the composing process's pid as a header."""
    envelope = compose(row)
    data = f"X-Composed-By: {os.getpid()}\r\n".encode() + envelope.data
    return Envelope(envelope.sender, envelope.recipient, data, envelope.message_id)


def _make_pid_composer() -> Callable[[OutboxRow], Envelope]:
    return pid_compose


def big_compose(row: OutboxRow) -> Envelope:
    """The pid composer's message with 150 KB of filler: a batch of answers is many times what a pipe holds."""
    envelope = pid_compose(row)
    return Envelope(envelope.sender, envelope.recipient, FILLER + envelope.data, envelope.message_id)


def _make_big_composer() -> Callable[[OutboxRow], Envelope]:
    return big_compose


def _broken_factory() -> Callable[[OutboxRow], Envelope]:
    raise RuntimeError("this composer cannot be built in a worker")


class PidComposer:
    """A composer that offers a factory, as publisher.mail.messages.Composer does, so the drain may use a worker."""

    def __init__(self, factory: Callable[[], Callable[[OutboxRow], Envelope]] = _make_pid_composer) -> None:
        self._factory = factory

    def __call__(self, row: OutboxRow) -> Envelope:
        return pid_compose(row)

    def factory(self) -> Callable[[], Callable[[OutboxRow], Envelope]]:
        return functools.partial(self._factory)


def composers(server: SmtpServer) -> set[int]:
    return {int(m.group(1)) for msg in server.messages for m in [COMPOSED_BY.search(msg.data)] if m}


@pytest.fixture
def in_process_from_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox, "PROCESS_THRESHOLD", 0)


async def test_large_send_composes_in_another_process(
    make_smtp_server: Callable[..., SmtpServer], make_config: Callable[..., Config], in_process_from_zero: None
) -> None:
    server = make_smtp_server(security="none")
    config = make_config(smtp_toml(server.port, connections=3))
    with Store(config.paths.database) as store:
        addresses = add_subscribers(store, 40)

    report = await drain(config, config.paths.database, PidComposer())

    assert (report.sent, report.failed, report.deferred) == (40, 0, 0)
    assert sorted(r for m in server.messages for r in m.rcpt_tos) == addresses
    pids = composers(server)
    assert len(pids) == 1 and os.getpid() not in pids
    with Store(config.paths.database) as store:
        assert counts(store) == {"queued": 0, "sending": 0, "sent": 40, "failed": 0}


async def test_answers_larger_than_the_pipe_arrive_whole(
    make_smtp_server: Callable[..., SmtpServer], make_config: Callable[..., Config], in_process_from_zero: None
) -> None:
    # A batch of answers (~7 MB) reaches the drain in many reads, a message often cut between two of them.
    server = make_smtp_server(security="none")
    config = make_config(smtp_toml(server.port, connections=3))
    with Store(config.paths.database) as store:
        addresses = add_subscribers(store, 60)

    report = await drain(config, config.paths.database, PidComposer(_make_big_composer))

    assert (report.sent, report.failed, report.deferred) == (60, 0, 0)
    assert sorted(r for m in server.messages for r in m.rcpt_tos) == addresses
    pids = composers(server)
    assert len(pids) == 1 and os.getpid() not in pids
    for message in server.messages:
        assert message.data.startswith(FILLER + b"X-Composed-By: ")
        assert f"\r\nTo: {message.rcpt_tos[0]}\r\n".encode() in message.data
        assert message.data.endswith(b"</html>\r\n") or message.data.endswith(b"--\r\n")


async def test_small_send_composes_in_the_drains_own_process(
    make_smtp_server: Callable[..., SmtpServer], make_config: Callable[..., Config]
) -> None:
    server = make_smtp_server(security="none")
    config = make_config(smtp_toml(server.port))
    with Store(config.paths.database) as store:
        add_subscribers(store, 5)
    report = await drain(config, config.paths.database, PidComposer())
    assert report.sent == 5
    assert composers(server) == {os.getpid()}


async def test_a_worker_that_cannot_start_falls_back_to_the_thread(
    make_smtp_server: Callable[..., SmtpServer], make_config: Callable[..., Config], in_process_from_zero: None
) -> None:
    server = make_smtp_server(security="none")
    config = make_config(smtp_toml(server.port, connections=2))
    with Store(config.paths.database) as store:
        addresses = add_subscribers(store, 30)

    report = await drain(config, config.paths.database, PidComposer(_broken_factory))

    assert (report.sent, report.failed) == (30, 0)
    assert sorted(r for m in server.messages for r in m.rcpt_tos) == addresses
    assert composers(server) == {os.getpid()}


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie has stopped running
    except FileNotFoundError:
        return True


def test_sigkill_of_the_drain_leaves_no_worker(
    make_smtp_server: Callable[..., SmtpServer], make_config: Callable[..., Config]
) -> None:
    server = make_smtp_server(security="none")
    server.faults.delay = 0.05  # a slow server: the send is still going when it is killed
    config = make_config(smtp_toml(server.port, connections=2))
    with Store(config.paths.database) as store:
        add_subscribers(store, 300)
    code = (
        "import asyncio, sys\n"
        "from publisher import config as c\n"
        "from publisher.delivery import outbox as o\n"
        "from tests.delivery.test_delivery_process import PidComposer\n"
        "o.PROCESS_THRESHOLD = 0\n"
        "cfg = c.load(sys.argv[1], must_exist=True)\n"
        "asyncio.run(o.drain(cfg, cfg.paths.database, PidComposer()))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(config.source)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while len(server.messages) < 10:
            assert time.monotonic() < deadline, "the drain sent nothing"
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            time.sleep(0.02)
        (worker,) = composers(server)
        assert worker != proc.pid
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 10
    while not _gone(worker):
        assert time.monotonic() < deadline, f"worker {worker} outlived its drain"
        time.sleep(0.05)
    with Store(config.paths.database) as store:
        state = counts(store)
    assert state["sending"] <= 2 and state["sent"] + state["sending"] + state["queued"] == 300


async def test_a_worker_started_ahead_composes_and_is_left_to_its_caller(
    make_smtp_server: Callable[..., SmtpServer], make_config: Callable[..., Config], in_process_from_zero: None
) -> None:
    # The digest command starts the worker before it queues; the drain then composes there.
    server = make_smtp_server(security="none")
    config = make_config(smtp_toml(server.port, connections=2))
    worker = outbox.compose_ahead(config, PidComposer())
    assert worker is not None
    try:
        with Store(config.paths.database) as store:
            addresses = add_subscribers(store, 30)
        report = await drain(config, config.paths.database, PidComposer(), worker=worker)
        assert (report.sent, report.failed) == (30, 0)
        assert sorted(r for m in server.messages for r in m.rcpt_tos) == addresses
        assert composers(server) == {worker.pid}
        assert not _gone(worker.pid), "the drain closed a worker it was lent"
    finally:
        worker.close()
    assert _gone(worker.pid)


async def test_a_worker_started_ahead_for_a_small_send_is_stopped_unused(
    make_smtp_server: Callable[..., SmtpServer], make_config: Callable[..., Config]
) -> None:
    server = make_smtp_server(security="none")
    config = make_config(smtp_toml(server.port))
    worker = outbox.compose_ahead(config, PidComposer())
    assert worker is not None
    try:
        with Store(config.paths.database) as store:
            add_subscribers(store, 3)
        report = await drain(config, config.paths.database, PidComposer(), worker=worker)
    finally:
        worker.close()
    assert report.sent == 3 and composers(server) == {os.getpid()}
    assert _gone(worker.pid)
