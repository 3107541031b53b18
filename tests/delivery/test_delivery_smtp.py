"""Delivery through a real SMTP server on loopback: STARTTLS, implicit TLS, AUTH, pooling, failover, stop."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import pytest

from publisher.config import Config
from publisher.delivery import Envelope, outbox, verp
from publisher.delivery.loop import run
from publisher.delivery.outbox import (
    DrainReport,
    OutboxRow,
    _Checkpoints,
    _drain_lock,
    counts,
    drain,
    enqueue,
    recent_errors,
)
from publisher.delivery.smtp import SmtpTransport, dot_stuff
from publisher.errors import PermanentFailure, TemporaryFailure
from publisher.mail import tokens
from publisher.store import Store
from tests.delivery_helpers import DIGEST_ID, add_subscribers, compose, drain_until_settled, smtp_toml
from tests.smtpserver import SmtpServer, client_context

pytest_plugins = ["tests.smtpserver"]

PASSWORD = "correct horse battery staple"


class Recorder:
    """The test composer, keeping the exact bytes it produced per Message-ID."""

    def __init__(self) -> None:
        self.sent: dict[str, bytes] = {}

    def __call__(self, row: OutboxRow) -> Envelope:
        envelope = compose(row)
        self.sent[envelope.message_id] = envelope.data
        return envelope


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def queue(config: Config, count: int) -> list[str]:
    with Store(config.paths.database) as store:
        return add_subscribers(store, count)


def assert_exact(server: SmtpServer, recorder: Recorder) -> None:
    for message in server.messages:
        assert message.message_id is not None
        assert message.data == recorder.sent[message.message_id]


async def test_starttls_auth_delivers_exact_bytes(
    make_smtp_server: Callable[..., SmtpServer],
    make_config: Callable[..., Config],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("PUBLISHER_SMTP_PASSWORD", PASSWORD)
    server = make_smtp_server(security="starttls", users={"mailer": PASSWORD})
    config = make_config(smtp_toml(server.port, security="starttls", username="mailer", connections=2))
    addresses = queue(config, 12)
    recorder = Recorder()

    report = await drain(config, config.paths.database, recorder)

    assert (report.sent, report.failed, report.deferred) == (12, 0, 0)
    assert sorted(r for m in server.messages for r in m.rcpt_tos) == addresses
    assert all(m.tls and m.auth_user == "mailer" for m in server.messages)
    # VERP: each envelope sender is bounces+TOKEN@ the From domain, its token naming that message's row.
    secret = tokens.load_secret(config)
    with Store(config.paths.database) as store:
        row_of = {r["message_id"]: r["id"] for r in store.query("SELECT id, message_id FROM outbox")}
    assert all(verp.parse(secret, m.mail_from, "bounces@example.org") == row_of[m.message_id] for m in server.messages)
    assert_exact(server, recorder)
    # A line holding a single dot survived the DATA transparency round trip.
    assert b"\r\n.\r\n.. a line" in server.messages[0].data
    with Store(config.paths.database) as store:
        assert counts(store) == {"queued": 0, "sending": 0, "sent": 12, "failed": 0}
        assert store.scalar("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL") == 0
        assert store.scalar("SELECT status FROM digests WHERE id = ?", (DIGEST_ID,)) == "sent"
    assert PASSWORD not in caplog.text


async def test_implicit_tls_with_a_verified_certificate(
    make_smtp_server: Callable[..., SmtpServer],
    make_config: Callable[..., Config],
    tls_cert: tuple,
    tmp_path,
) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text(PASSWORD + "\n")
    server = make_smtp_server(security="tls", users={"mailer": PASSWORD})
    config = make_config(
        smtp_toml(server.port, security="tls", username="mailer", password_file=str(secret), verify_tls=True)
    )
    queue(config, 3)
    transport = SmtpTransport(config.smtp, tls_context=client_context(tls_cert[0]))

    report = await drain(config, config.paths.database, compose, transport)
    await transport.close()

    assert report.sent == 3
    assert all(m.tls and m.auth_user == "mailer" for m in server.messages)


async def test_unverifiable_certificate_stops_the_send(
    make_smtp_server: Callable[..., SmtpServer], make_config: Callable[..., Config]
) -> None:
    server = make_smtp_server(security="starttls")
    config = make_config(smtp_toml(server.port, security="starttls", verify_tls=True))
    queue(config, 4)

    report = await drain(config, config.paths.database, compose)

    assert report.sent == 0 and "certificate" in report.error.lower()
    assert server.messages == []
    with Store(config.paths.database) as store:
        assert counts(store)["queued"] == 4
        # The relay's fault is not the message's: no attempt is counted.
        assert store.scalar("SELECT MAX(attempts) FROM outbox") == 0


async def test_wrong_password_is_reported_without_the_password(
    make_smtp_server: Callable[..., SmtpServer],
    make_config: Callable[..., Config],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("PUBLISHER_SMTP_PASSWORD", "not-the-password-xyz")
    server = make_smtp_server(security="starttls", users={"mailer": PASSWORD})
    config = make_config(smtp_toml(server.port, security="starttls", username="mailer"))
    queue(config, 2)

    report = await drain(config, config.paths.database, compose)

    assert report.sent == 0 and "login refused" in report.error
    with Store(config.paths.database) as store:
        errors = " ".join(e.last_error for e in recent_errors(store))
    assert "login refused" in errors
    assert "not-the-password-xyz" not in caplog.text + errors + report.error


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "lock-step"])
async def test_connections_are_reused_then_replaced(
    make_smtp_server: Callable[..., SmtpServer], make_config: Callable[..., Config], pipelining: bool
) -> None:
    smtp_server = make_smtp_server(pipelining=pipelining)
    config = make_config(smtp_toml(smtp_server.port, connections=2, messages_per_connection=10))
    queue(config, 40)
    transport = SmtpTransport(config.smtp)

    report = await drain(config, config.paths.database, compose, transport)
    await transport.close()

    assert report.sent == 40
    assert len(smtp_server.message_ids()) == 40
    # 40 messages at most 10 a connection: at least 4 connections, and far fewer than one per message.
    assert 4 <= transport.connections_made <= 6
    assert smtp_server.connections == transport.connections_made
    assert transport.pipelined_connections == (transport.connections_made if pipelining else 0)


async def test_the_transport_closes_its_pool_when_left(
    make_smtp_server: Callable[..., SmtpServer], make_config: Callable[..., Config]
) -> None:
    smtp_server = make_smtp_server()
    config = make_config(smtp_toml(smtp_server.port, connections=2))
    queue(config, 6)
    async with SmtpTransport(config.smtp) as transport:
        report = await drain(config, config.paths.database, compose, transport)
        # A transport passed in stays open: a second drain reuses its connections.
        assert report.sent == 6 and transport.connections_made >= 1
        assert transport._idle
    assert not transport._idle
    with pytest.raises(TemporaryFailure, match="closed"):
        await transport.send(Envelope("a@example.org", "b@example.org", b"Subject: x\r\n\r\nx\r\n", "<x@y>"))


async def test_connections_the_server_timed_out_are_replaced_without_cost(
    make_smtp_server: Callable[..., SmtpServer], make_config: Callable[..., Config]
) -> None:
    server = make_smtp_server(idle_timeout=0.2)
    config = make_config(smtp_toml(server.port, connections=2))
    transport = SmtpTransport(config.smtp)
    queue(config, 4)
    first = await drain(config, config.paths.database, compose, transport)
    # The pooled connections sit idle until the server says "421 timeout" and hangs up.
    await asyncio.sleep(0.5)
    with Store(config.paths.database) as store:
        add_subscribers(store, 4, digest_id="second", domain="example.com")

    second = await drain(config, config.paths.database, compose, transport)
    await transport.close()

    assert (first.sent, second.sent, second.deferred) == (4, 4, 0)
    assert transport.connections_made == 4
    with Store(config.paths.database) as store:
        assert store.scalar("SELECT MAX(attempts) FROM outbox") == 1


async def test_hourly_budget_carries_over_between_drains(
    smtp_server: SmtpServer, make_config: Callable[..., Config]
) -> None:
    # 6,000 an hour: a burst of 100 (one minute's worth), refilled at 1.7 a second.
    config = make_config(smtp_toml(smtp_server.port, rate=0, rate_per_hour=6000))
    queue(config, 30)
    await drain(config, config.paths.database, compose)
    with Store(config.paths.database) as store:
        after_first = json.loads(store.get_meta("outbox.hourly_bucket") or "{}")["tokens"]
        add_subscribers(store, 20, digest_id="second", domain="example.com")
    await drain(config, config.paths.database, compose)
    with Store(config.paths.database) as store:
        after_second = json.loads(store.get_meta("outbox.hourly_bucket") or "{}")["tokens"]

    assert 69 <= after_first < 75
    # A new drain starts from what the last one left, not from a full bucket.
    assert after_second < after_first - 15


async def test_failover_to_the_next_relay(smtp_server: SmtpServer, make_config: Callable[..., Config]) -> None:
    dead = free_port()
    config = make_config(smtp_toml(dead, fallback=[f"127.0.0.1:{smtp_server.port}"]))
    queue(config, 5)

    report = await drain(config, config.paths.database, compose)

    assert report.sent == 5 and len(smtp_server.messages) == 5


async def test_no_relay_reachable_keeps_everything_queued(make_config: Callable[..., Config]) -> None:
    config = make_config(smtp_toml(free_port(), fallback=[f"127.0.0.1:{free_port()}"]))
    queue(config, 20)

    report = await drain(config, config.paths.database, compose)

    assert report.sent == 0 and report.error.startswith("no relay reachable")
    with Store(config.paths.database) as store:
        assert counts(store)["queued"] == 20
        assert store.scalar("SELECT MAX(attempts) FROM outbox") == 0


async def test_stop_finishes_in_flight_and_resumes_later(
    smtp_server: SmtpServer, make_config: Callable[..., Config]
) -> None:
    config = make_config(smtp_toml(smtp_server.port, connections=3))
    queue(config, 60)
    stop = asyncio.Event()

    def progress(done: int, due: int) -> None:
        assert due == 60
        if done >= 10:
            stop.set()

    first = await drain(config, config.paths.database, compose, progress=progress, stop=stop)

    assert first.stopped and 10 <= first.sent < 60
    with Store(config.paths.database) as store:
        state = counts(store)
    assert state["sending"] == 0 and state["sent"] == first.sent == len(smtp_server.messages)
    await drain_until_settled(config)
    ids = smtp_server.message_ids()
    assert len(ids) == 60 and set(ids.values()) == {1}


async def test_nothing_due_is_cheap_and_connects_nowhere(
    smtp_server: SmtpServer, make_config: Callable[..., Config]
) -> None:
    config = make_config(smtp_toml(smtp_server.port))
    with Store(config.paths.database) as store:
        enqueue(store, kind="test", recipient="a@example.net", message_id="<t1@x>")
        store.conn.execute("UPDATE outbox SET next_attempt_at = '2999-01-01T00:00:00+00:00'")

    report = await drain(config, config.paths.database, compose)

    assert report.due == 0 and report.sent == 0
    assert smtp_server.connections == 0


async def test_a_second_drain_backs_off_while_one_runs(make_config: Callable[..., Config]) -> None:
    config = make_config(smtp_toml(free_port()))
    queue(config, 1)
    with _drain_lock(config.paths.database) as locked:
        assert locked
        report = await drain(config, config.paths.database, compose)
    assert report.busy and report.sent == 0


async def test_a_row_withdrawn_after_it_was_read_is_not_sent(
    smtp_server: SmtpServer, make_config: Callable[..., Config]
) -> None:
    config = make_config(smtp_toml(smtp_server.port, connections=1))
    addresses = queue(config, 6)

    def composer(row: OutboxRow) -> Envelope:
        if row.recipient == addresses[0]:
            # As `subscribers remove` does: withdraw another subscriber's queued mail mid-send.
            with Store(config.paths.database) as other:
                other.conn.execute("DELETE FROM outbox WHERE recipient = ?", (addresses[4],))
        return compose(row)

    report = await drain(config, config.paths.database, composer)

    assert report.sent == 5
    assert sorted(r for m in smtp_server.messages for r in m.rcpt_tos) == addresses[:4] + addresses[5:]


@pytest.mark.parametrize("choice", ["", "asyncio"])
def test_a_send_runs_on_uvloop_unless_asked_for_asyncio(
    choice: str,
    make_smtp_server: Callable[..., SmtpServer],
    make_config: Callable[..., Config],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uvloop  # a dependency wherever the tests run (Linux, macOS)

    monkeypatch.setenv("PUBLISHER_EVENT_LOOP", choice)
    server = make_smtp_server()
    config = make_config(smtp_toml(server.port, connections=3))
    addresses = queue(config, 20)
    loops: list[type] = []

    async def send() -> DrainReport:
        loops.append(type(asyncio.get_running_loop()))
        return await drain(config, config.paths.database, compose)

    report = run(send())

    assert (report.sent, report.failed, report.deferred) == (20, 0, 0)
    assert sorted(r for m in server.messages for r in m.rcpt_tos) == addresses
    assert (loops[0] is uvloop.Loop) == (choice != "asyncio")


def test_enqueue_is_idempotent(store: Store) -> None:
    assert enqueue(store, kind="digest", recipient="a@x.org", message_id="<1@x>", subscriber_id=1, digest_id="d")
    assert not enqueue(store, kind="digest", recipient="a@x.org", message_id="<1@x>", subscriber_id=1, digest_id="d")
    # The same digest and subscriber under another Message-ID is still the same message.
    assert not enqueue(store, kind="digest", recipient="a@x.org", message_id="<2@x>", subscriber_id=1, digest_id="d")
    assert counts(store)["queued"] == 1


async def test_an_address_carrying_smtp_commands_is_refused(
    smtp_server: SmtpServer, make_config: Callable[..., Config]
) -> None:
    config = make_config(smtp_toml(smtp_server.port))
    transport = SmtpTransport(config.smtp)
    evil = Envelope(
        "news@example.org", "a@example.net>\r\nRCPT TO:<b@example.net", b"Subject: x\r\n\r\nhi\r\n", "<e@x>"
    )
    try:
        with pytest.raises(PermanentFailure, match="unusable address"):
            await transport.send(evil)
        await transport.send(Envelope("news@example.org", "ok@example.net", b"Subject: y\r\n\r\nhi\r\n", "<o@x>"))
    finally:
        await transport.close()
    assert [m.rcpt_tos for m in smtp_server.messages] == [("ok@example.net",)]


@pytest.mark.parametrize(
    ("data", "wire"),
    [
        (b"a\r\nb\r\n", b"a\r\nb\r\n.\r\n"),
        (b"a\nb", b"a\r\nb\r\n.\r\n"),
        (b".lead\r\n.\r\nx\r\n", b"..lead\r\n..\r\nx\r\n.\r\n"),
        (b"a\rb\r\n", b"a\r\nb\r\n.\r\n"),
        # A bare-LF "end of data" inside the message (SMTP smuggling) goes out as an ordinary dotted line.
        (b"a\n.\nMAIL FROM:<x@y>\r\n", b"a\r\n..\r\nMAIL FROM:<x@y>\r\n.\r\n"),
    ],
)
def test_dot_stuff(data: bytes, wire: bytes) -> None:
    assert dot_stuff(data) == wire


async def test_a_wire_ready_message_goes_out_as_it_is(
    smtp_server: SmtpServer, make_config: Callable[..., Config]
) -> None:
    config = make_config(smtp_toml(smtp_server.port))
    ready = Envelope("news@example.org", "a@example.net", b"Subject: x\r\n\r\nhi\r\n", "<r@x>", wire_ready=True)
    # A maker's word is not taken for a message that does not end its last line: it is repaired as usual.
    unended = Envelope("news@example.org", "b@example.net", b"Subject: y\r\n\r\n.hi", "<u@x>", wire_ready=True)
    assert SmtpTransport.prepare(ready) == ready.data + b".\r\n"
    assert SmtpTransport.prepare(unended) == dot_stuff(unended.data)
    async with SmtpTransport(config.smtp, local_hostname="test.example") as transport:
        await transport.send(ready)
        await transport.send(unended)
    assert [m.data for m in smtp_server.messages] == [ready.data, b"Subject: y\r\n\r\n.hi\r\n"]


def _rows_in_database_file_alone(path: Path) -> int:
    """Outbox rows in the database file without its write-ahead log: what checkpoints have copied there."""
    copy = path.with_name("copy-" + path.name)
    shutil.copyfile(path, copy)
    with Store(copy) as alone:
        return int(alone.scalar("SELECT COUNT(*) FROM outbox"))


def test_a_drain_leaves_checkpoints_to_its_own_thread(make_config: Callable[..., Config]) -> None:
    config = make_config()
    path = config.paths.database
    with Store(path) as store:
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        before = _rows_in_database_file_alone(path)
        with _Checkpoints(store, interval=0.01):
            # The drain's commits never checkpoint (one would wait for the disk on the event loop) ...
            assert store.scalar("PRAGMA wal_autocheckpoint") == 0
            add_subscribers(store, 40)
            # ... the thread copies the log into the database file meanwhile.
            deadline = time.monotonic() + 30
            while _rows_in_database_file_alone(path) < before + 40:
                assert time.monotonic() < deadline, "the write-ahead log was never copied"
                time.sleep(0.02)
        assert store.scalar("PRAGMA wal_autocheckpoint") == 1000
        # At the end the log is copied and emptied: nothing is left for the last connection to copy on closing.
        assert path.with_name(path.name + "-wal").stat().st_size == 0


def test_the_write_ahead_log_starts_over_during_a_long_drain(
    make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Commits that never stop keep a PASSIVE checkpoint from finishing, unless one happens to catch up in a
    # pause (often, on a fast disk; seldom on a slow one, where the log then grows with every message sent).
    # Once the log holds RESTART_PAGES, the thread has it start over: here it must have done so, and the log
    # stayed short, whatever the disk.
    monkeypatch.setattr(outbox, "RESTART_PAGES", 20)
    modes: list[str] = []
    checkpoint = outbox.store_outbox.checkpoint

    def counted(store: Store, mode: Literal["PASSIVE", "RESTART", "TRUNCATE"] = "PASSIVE") -> int:
        modes.append(mode)
        return checkpoint(store, mode)

    monkeypatch.setattr(outbox.store_outbox, "checkpoint", counted)
    config = make_config()
    wal = config.paths.database.with_name(config.paths.database.name + "-wal")
    largest = 0
    with Store(config.paths.database) as store:
        add_subscribers(store, 50)
        with _Checkpoints(store, interval=0.005):
            # The ledger's pattern: small commits one after another, a short pause now and then.
            for n in range(3000):
                with store.transaction() as conn:
                    conn.execute("UPDATE outbox SET updated_at = ? WHERE id = ?", (str(n), n % 50 + 1))
                if n % 20 == 0:
                    time.sleep(0.001)
                    largest = max(largest, wal.stat().st_size)
    pages = largest // 4096
    assert "RESTART" in modes, "the log never reached RESTART_PAGES: the test shows nothing"
    assert pages < 500, f"the log grew to {pages} pages"
