"""A misbehaving server: 421/451 to some transactions, 550 to some recipients, dropped connections.

Everything deliverable must arrive exactly once, the 550s must be recorded as failed with their error, and
nothing else may be lost.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from publisher.config import Config
from publisher.delivery import Envelope
from publisher.delivery.outbox import OutboxRow, counts, drain, recent_errors, retry_failed
from publisher.errors import PermanentFailure
from publisher.store import Store
from tests.delivery_helpers import add_subscribers, compose, drain_until_settled, smtp_toml
from tests.smtpserver import Faults, SmtpServer, Transaction

pytest_plugins = ["tests.smtpserver"]


def number(tx: Transaction) -> int:
    """reader00042@example.net → 42"""
    return int(tx.rcpt_tos[0].split("@")[0].removeprefix("reader"))


def first_try_fault(tx: Transaction) -> str | None:
    if tx.attempt > 1:
        return None
    n = number(tx)
    if n % 4 == 1:
        return "451 4.3.0 Temporary local problem"
    if n % 7 == 2:
        return "421 4.3.2 Service shutting down"
    return None


def first_try_drop(tx: Transaction) -> bool:
    return tx.attempt == 1 and number(tx) % 5 == 3


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "lock-step"])
async def test_faulty_server_gets_everything_deliverable_exactly_once(
    make_smtp_server: Callable[..., SmtpServer], make_config: Callable[..., Config], pipelining: bool
) -> None:
    rejected = {"reader00010@example.net", "reader00025@example.net", "reader00049@example.net"}
    faults = Faults(
        rcpt_replies={a: "550 5.1.1 No such user here" for a in rejected},
        data=first_try_fault,
        drop=first_try_drop,
    )
    server = make_smtp_server(faults=faults, pipelining=pipelining)
    config = make_config(smtp_toml(server.port, connections=3, max_attempts=5))
    with Store(config.paths.database) as store:
        addresses = add_subscribers(store, 60)

    reports = await drain_until_settled(config)

    assert len(reports) > 1, "the faults should have deferred some messages to a later drain"
    assert server.transactions > 60
    delivered = [r for m in server.messages for r in m.rcpt_tos]
    assert sorted(delivered) == sorted(set(addresses) - rejected), "each deliverable address exactly once"
    assert set(server.message_ids().values()) == {1}
    with Store(config.paths.database) as store:
        assert counts(store) == {"queued": 0, "sending": 0, "sent": 57, "failed": 3}
        failed = store.query("SELECT recipient, last_error, attempts FROM outbox WHERE state = 'failed'")
        assert {r["recipient"] for r in failed} == rejected
        assert all("550" in r["last_error"] and "No such user" in r["last_error"] for r in failed)
        assert all(r["attempts"] == 1 for r in failed)
        # Every fault cost exactly one more attempt: nothing was retried more than it had to be.
        for row in store.query("SELECT recipient, attempts FROM outbox WHERE state = 'sent'"):
            n = int(row["recipient"][6:11])
            faulted = n % 4 == 1 or n % 7 == 2 or n % 5 == 3
            assert row["attempts"] == (2 if faulted else 1), row["recipient"]
        # The 550s count as hard bounces against their subscribers.
        bounces = store.query("SELECT email, bounce_count FROM subscribers WHERE bounce_count > 0")
        assert {r["email"] for r in bounces} == rejected


async def test_bounce_limit_marks_the_subscriber_and_stops_mailing(
    make_smtp_server: Callable[..., SmtpServer], make_config: Callable[..., Config]
) -> None:
    gone = "reader00001@example.net"
    server = make_smtp_server(faults=Faults(rcpt_replies={gone: "550 5.1.1 Mailbox unavailable"}))
    config = make_config(smtp_toml(server.port, bounce_limit=2))
    with Store(config.paths.database) as store:
        add_subscribers(store, 3, digest_id="d1")

    for digest_id in ("d2", "d3"):
        await drain(config, config.paths.database, compose)
        with Store(config.paths.database) as store:
            for sub in store.query("SELECT id, email FROM subscribers ORDER BY id"):
                store.conn.execute(
                    "INSERT INTO outbox (kind, digest_id, subscriber_id, recipient, message_id, state,"
                    " next_attempt_at, created_at, updated_at) VALUES ('digest', ?, ?, ?, ?, 'queued',"
                    " '2000-01-01T00:00:00+00:00', '2000-01-01T00:00:00+00:00', '2000-01-01T00:00:00+00:00')",
                    (digest_id, sub["id"], sub["email"], f"<{digest_id}.{sub['id']}@x>"),
                )
    await drain(config, config.paths.database, compose)

    with Store(config.paths.database) as store:
        sub = store.query("SELECT status, bounce_count FROM subscribers WHERE email = ?", (gone,))[0]
        assert (sub["status"], sub["bounce_count"]) == ("bounced", 2)
        rows = store.query("SELECT digest_id, state, last_error FROM outbox WHERE recipient = ? ORDER BY digest_id",
                           (gone,))  # fmt: skip
    assert [r["state"] for r in rows] == ["failed", "failed", "failed"]
    assert "550" in rows[0]["last_error"] and "550" in rows[1]["last_error"]
    assert "bounced" in rows[2]["last_error"]
    # The third digest was never offered to the server for that address.
    assert server.transactions == 6
    assert sum(1 for m in server.messages if gone in m.rcpt_tos) == 0


async def test_temporary_failures_give_up_after_max_attempts_and_can_be_retried(
    make_smtp_server: Callable[..., SmtpServer], make_config: Callable[..., Config]
) -> None:
    faults = Faults(data=lambda tx: "451 4.7.1 Greylisted" if number(tx) == 0 else None)
    server = make_smtp_server(faults=faults)
    config = make_config(smtp_toml(server.port, max_attempts=3))
    with Store(config.paths.database) as store:
        add_subscribers(store, 2)

    await drain_until_settled(config)

    with Store(config.paths.database) as store:
        row = store.query("SELECT state, attempts, last_error FROM outbox WHERE recipient LIKE 'reader00000%'")[0]
        assert (row["state"], row["attempts"]) == ("failed", 3)
        assert row["last_error"].startswith("gave up after 3 attempts") and "451" in row["last_error"]
        assert [e.recipient for e in recent_errors(store)] == ["reader00000@example.net"]
        assert server.message_ids().total() == 1
        faults.data = None
        assert retry_failed(store) == 1

    await drain_until_settled(config)

    assert server.message_ids().total() == 2 and set(server.message_ids().values()) == {1}
    with Store(config.paths.database) as store:
        assert counts(store)["sent"] == 2


async def test_unsubscribed_subscribers_are_skipped(
    smtp_server: SmtpServer, make_config: Callable[..., Config]
) -> None:
    config = make_config(smtp_toml(smtp_server.port))
    with Store(config.paths.database) as store:
        add_subscribers(store, 4)
        store.conn.execute("UPDATE subscribers SET status = 'unsubscribed' WHERE email LIKE 'reader00002%'")

    report = await drain(config, config.paths.database, compose)

    assert (report.sent, report.skipped) == (3, 1)
    assert "reader00002@example.net" not in {r for m in smtp_server.messages for r in m.rcpt_tos}
    with Store(config.paths.database) as store:
        row = store.query("SELECT state, last_error FROM outbox WHERE recipient LIKE 'reader00002%'")[0]
    assert row["state"] == "failed" and "unsubscribed" in row["last_error"]


async def test_a_message_that_cannot_be_composed_does_not_stop_the_others(
    smtp_server: SmtpServer, make_config: Callable[..., Config]
) -> None:
    config = make_config(smtp_toml(smtp_server.port, connections=2))
    with Store(config.paths.database) as store:
        addresses = add_subscribers(store, 40)
    broken, gone = addresses[3], addresses[17]

    def composer(row: OutboxRow) -> Envelope:
        if row.recipient == broken:
            raise ValueError("template bug")
        if row.recipient == gone:
            raise PermanentFailure("digest is not in the store", recipient=gone)
        return compose(row)

    report = await drain(config, config.paths.database, composer)

    assert (report.sent, report.failed, report.deferred) == (38, 1, 1)
    assert {r for m in smtp_server.messages for r in m.rcpt_tos} == set(addresses) - {broken, gone}
    with Store(config.paths.database) as store:
        rows = {r["recipient"]: r for r in store.query("SELECT recipient, state, attempts, last_error FROM outbox")}
        # Neither is a bounce: the server never saw them.
        assert store.scalar("SELECT SUM(bounce_count) FROM subscribers") == 0
    assert rows[broken]["state"] == "queued" and "ValueError: template bug" in rows[broken]["last_error"]
    assert rows[gone]["state"] == "failed" and "not in the store" in rows[gone]["last_error"]


async def test_a_reply_timeout_retries_and_is_the_one_allowed_duplicate(
    make_smtp_server: Callable[..., SmtpServer], make_config: Callable[..., Config]
) -> None:
    server = make_smtp_server(faults=Faults(reply_delay=0.8))
    config = make_config(smtp_toml(server.port, timeout=0.2))
    with Store(config.paths.database) as store:
        add_subscribers(store, 1)

    first = await drain(config, config.paths.database, compose)
    assert first.deferred == 1
    # The server had taken the message; only its 250 came too late.
    assert server.received_count() == 1
    server.faults.reply_delay = 0
    await drain_until_settled(config)

    with Store(config.paths.database) as store:
        row = store.query("SELECT state, attempts, last_error FROM outbox")[0]
    assert (row["state"], row["attempts"]) == ("sent", 2)
    assert list(server.message_ids().values()) == [2]
