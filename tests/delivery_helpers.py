"""Shared pieces of the delivery tests: subscribers with queued digests, a small real composer, a drain loop.

``python -m tests.delivery_helpers CONFIG`` drains the outbox of that site with :func:`compose`, looping until
nothing is due (it is the process the crash test kills).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from publisher import config as config_mod
from publisher.config import Config
from publisher.delivery import Envelope
from publisher.delivery.loop import run
from publisher.delivery.outbox import DrainReport, OutboxRow, counts, drain, enqueue
from publisher.store import Store, iso, now_utc

DIGEST_ID = "correspondent:ana-ruiz/2026-03-02T07:00:00+00:00"
SENDER = "news@example.org"


def smtp_toml(port: int, *, host: str = "127.0.0.1", security: str = "none", **extra: object) -> str:
    """An [smtp] table for a test server; ``extra`` adds keys (TOML literals via repr for numbers)."""
    keys: dict[str, object] = {
        "host": host,
        "port": port,
        "security": security,
        "from": "Test News <news@example.org>",
        "verify_tls": False,
        "retry_base_seconds": 0.05,
        "timeout": 5,
    }
    keys.update(extra)
    lines = ["[smtp]"] + [f"{key} = {_toml(value)}" for key, value in keys.items()]
    return "\n" + "\n".join(lines) + "\n"


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def add_subscribers(store: Store, count: int, *, digest_id: str = DIGEST_ID, domain: str = "example.net") -> list[str]:
    """``count`` confirmed subscribers, each with one queued digest row; their addresses in order."""
    stamp = iso(now_utc())
    addresses = []
    with store.transaction() as conn:
        conn.execute(
            "INSERT OR IGNORE INTO digests (id, scope, period_start, period_end, section_ids, created_at, status)"
            " VALUES (?, 'correspondent:ana-ruiz', ?, ?, '[]', ?, 'queued')",
            (digest_id, stamp, stamp, stamp),
        )
        for i in range(count):
            email = f"reader{i:05d}@{domain}"
            cur = conn.execute(
                "INSERT INTO subscribers (email, name, status, created_at, updated_at)"
                " VALUES (?, ?, 'confirmed', ?, ?)",
                (email, f"Reader {i}", stamp, stamp),
            )
            enqueue(
                store,
                kind="digest",
                recipient=email,
                message_id=f"<digest.{i}.{cur.lastrowid}@news.example.org>",
                subscriber_id=cur.lastrowid,
                digest_id=digest_id,
                payload={"name": f"Reader {i}"},
            )
            addresses.append(email)
    return addresses


def compose(row: OutboxRow) -> Envelope:
    """A personalised plain-and-HTML message for one outbox row, as RFC 5322 bytes."""
    name = row.payload.get("name", "reader")
    msg = EmailMessage()
    msg["From"] = f"Test News <{SENDER}>"
    msg["To"] = row.recipient
    msg["Subject"] = "Ana Ruiz: 2 new"
    msg["Date"] = format_datetime(now_utc())
    msg["Message-ID"] = row.message_id
    text = f"Hello {name},\n\nDockworkers have promised a quiet week.\n.\n.. a line that starts with dots\n"
    msg.set_content(text)
    msg.add_alternative(f"<p>Hello {name},</p><p>Dockworkers have promised a quiet week.</p>", subtype="html")
    return Envelope(
        sender=SENDER,
        recipient=row.recipient,
        data=msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")),
        message_id=row.message_id,
    )


async def drain_until_settled(
    config: Config,
    composer: Callable[[OutboxRow], Envelope] = compose,
    *,
    rounds: int = 200,
    pause: float = 0.05,
) -> list[DrainReport]:
    """Drain again and again (retries come due after short backoffs) until no row is queued or sending."""
    reports = []
    for _ in range(rounds):
        reports.append(await drain(config, config.paths.database, composer))
        with Store(config.paths.database) as store:
            state = counts(store)
        if state["queued"] == 0 and state["sending"] == 0:
            return reports
        await asyncio.sleep(pause)
    raise AssertionError(f"outbox not settled after {rounds} drains: {state}")


def main(argv: list[str]) -> int:
    config = config_mod.load(Path(argv[0]), must_exist=True)
    started = time.monotonic()
    while time.monotonic() - started < 60:
        # On the event loop a send runs on (uvloop where installed), as the digest command does.
        report = run(drain(config, config.paths.database, compose))
        print(f"drain: sent={report.sent} deferred={report.deferred} failed={report.failed}", flush=True)
        with Store(config.paths.database) as store:
            if counts(store)["queued"] == 0:
                return 0
        time.sleep(0.05)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
