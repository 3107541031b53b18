"""SIGKILL the sending process at several points, restart it: nothing lost, duplicates only for in-flight rows.

The send runs as a real subprocess (``python -m tests.delivery_helpers CONFIG``) against the test SMTP server
in this process, which counts what it receives.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from publisher.config import Config
from publisher.delivery.outbox import counts
from publisher.store import Store
from tests.delivery_helpers import add_subscribers, smtp_toml
from tests.smtpserver import Faults, SmtpServer

pytest_plugins = ["tests.smtpserver"]

ROOT = Path(__file__).resolve().parents[2]
CONNECTIONS = 3


def start_sender(config: Config) -> subprocess.Popen[bytes]:
    assert config.source is not None
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.delivery_helpers", str(config.source)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL, "the sender finished before it could be killed"


def in_flight(config: Config) -> set[str]:
    with Store(config.paths.database) as store:
        return {r["message_id"] for r in store.query("SELECT message_id FROM outbox WHERE state = 'sending'")}


def test_sigkill_during_smtp_send_loses_nothing(
    make_smtp_server: Callable[..., SmtpServer], make_config: Callable[..., Config]
) -> None:
    # A slow server keeps every connection busy, so each kill lands with transactions in flight.
    server = make_smtp_server(faults=Faults(delay=0.01))
    config = make_config(smtp_toml(server.port, connections=CONNECTIONS))
    with Store(config.paths.database) as store:
        addresses = add_subscribers(store, 150)
    kill_points = (10, 45, 90)
    maybe_twice: set[str] = set()

    for target in kill_points:
        proc = start_sender(config)
        assert server.wait_for(target, timeout=30), proc.stderr.read() if proc.poll() is not None else "slow"
        kill(proc)
        sending = in_flight(config)
        # The invariant that bounds duplicates: never more rows marked sending than connections.
        assert len(sending) <= CONNECTIONS
        maybe_twice |= sending
    proc = start_sender(config)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()

    ids = server.message_ids()
    recipients = {r for m in server.messages for r in m.rcpt_tos}
    assert recipients == set(addresses), "every subscriber got the digest"
    assert len(ids) == len(addresses)
    duplicated = {mid for mid, n in ids.items() if n > 1}
    assert max(ids.values()) <= 2
    assert len(duplicated) <= CONNECTIONS * len(kill_points)
    assert duplicated <= maybe_twice, "only messages in flight at a kill may arrive twice"
    with Store(config.paths.database) as store:
        assert counts(store) == {"queued": 0, "sending": 0, "sent": len(addresses), "failed": 0}


def test_sigkill_during_maildir_delivery_leaves_no_duplicate(make_config: Callable[..., Config]) -> None:
    config = make_config()
    assert config.smtp is None
    with Store(config.paths.database) as store:
        addresses = add_subscribers(store, 200)
    new = config.maildir.path / "new"

    for target in (20, 90):
        proc = start_sender(config)
        deadline = time.monotonic() + 30
        while not (new.is_dir() and sum(1 for _ in new.iterdir()) >= target):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.002)
        kill(proc)
    proc = start_sender(config)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()

    import mailbox

    box = mailbox.Maildir(config.maildir.path, create=False)
    recipients = sorted(str(message["To"]) for message in box)
    assert recipients == sorted(addresses), "exactly one file per subscriber"
