"""The delivery record from the command line and /metrics: `publisher outbox` sums it up, `outbox retry` makes
deferred mail due at once, `digest report` answers who got a digest, /metrics counts it."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path

from publisher.config import Config
from publisher.delivery import bounces
from publisher.store import Store
from tests.cli.test_cli_mail import ok, post
from tests.conftest import write_config
from tests.delivery.test_bounces import DIGEST, SECRET, fixture, sent_rows
from tests.web.test_web import _client


def test_outbox_retry_makes_deferred_mail_due_now(tmp_path: Path) -> None:
    write_config(tmp_path)
    ok("send-test", "--to", "ops@example.org", cwd=tmp_path)
    with Store(tmp_path / "state" / "publisher.db") as store:
        # As a relay that answered 451 twice leaves it: queued, waiting out its backoff for hours.
        store.conn.execute(
            "UPDATE outbox SET state = 'queued', attempts = 2, next_attempt_at = '2999-01-01T00:00:00+00:00',"
            " last_error = '451 4.3.0 try later', message_id = 'again@x'"
        )
    assert "Delivery: deferred: 1" in ok("outbox", cwd=tmp_path)
    retried = ok("outbox", "retry", cwd=tmp_path)
    assert "1 deferred messages due now" in retried and "Sent 1 of 1" in retried
    summary = ok("outbox", cwd=tmp_path)
    assert "sent: 1" in summary and "Delivery: accepted: 1" in summary


def config_for(site: Path) -> Path:
    write_config(
        site,
        f'[subscriptions]\nsecret = "{SECRET.decode()}"\n[bounces]\naddress = "bounces@example.org"\n'
        '[smtp]\nhost = "127.0.0.1"\nport = 2525\nsecurity = "none"\nfrom = "Test News <news@example.org>"\n',
    )
    return site / "publisher.toml"


def test_digest_report_and_outbox_summary_after_bounces(tmp_path: Path) -> None:
    from publisher import config as config_mod

    config = config_mod.load(config_for(tmp_path), must_exist=True)
    with Store(config.paths.database) as store:
        sent_rows(store)
        for name in ("postfix-dsn-unknown-user.eml", "arf-complaint.eml", "exim-mailbox-full.eml"):
            bounces.receive(store, config, fixture(name))
    post(tmp_path, "a.md", "A", "a")  # a content folder that is not empty, as a real site's
    rows = list(csv.DictReader(io.StringIO(ok("digest", "report", "ana-ruiz", "--csv", cwd=tmp_path))))
    states = {r["recipient"]: r["state"] for r in rows}
    assert states == {
        "nosuchuser@example.org": "bounced later",
        "gone@example.net": "accepted",
        "missing@contoso.com": "accepted",
        "reader@yahoo.example": "complained",
        "full@example.net": "bounced later",
        "two@example.net": "accepted",
        "seven@example.net": "accepted",
    }
    assert {r["relay"] for r in rows} == {"relay.example.org:587"}
    text = ok("digest", "report", cwd=tmp_path)
    assert f"{DIGEST}: accepted 4, bounced later 2, complained 1" in text
    assert "bounced later: 2" in ok("outbox", cwd=tmp_path)


async def test_metrics_count_deliveries_and_inbound_mail(make_config: Callable[..., Config]) -> None:
    config = make_config(f'[subscriptions]\nsecret = "{SECRET.decode()}"\n[bounces]\naddress = "bounces@example.org"\n')
    with Store(config.paths.database) as store:
        sent_rows(store)
        bounces.receive(store, config, fixture("postfix-dsn-unknown-user.eml"))
        bounces.receive(store, config, fixture("out-of-office.eml"))
    async for client in _client(config):
        body = await (await client.get("/metrics")).text()
        assert re.search(r'^publisher_deliveries\{state="accepted"\} 6$', body, re.M)
        assert re.search(r'^publisher_deliveries\{state="bounced later"\} 1$', body, re.M)
        assert re.search(r'^publisher_inbound_messages\{kind="bounce"\} 1$', body, re.M)
        assert re.search(r'^publisher_inbound_messages\{kind="unknown"\} 1$', body, re.M)


def test_check_config_prints_from_envelope_and_bounce_addresses(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        '[smtp]\nhost = "mail.example.org"\n[bounces]\nmaildir = "bounce-box"\n'
        '[subscriptions]\nunsubscribe_mailto = "leave@example.org"\n',
    )
    text = (tmp_path / "publisher.toml").read_text().replace("[site]\n", '[site]\nemail = "desk@example.org"\n', 1)
    (tmp_path / "publisher.toml").write_text(text)
    out = ok("check-config", cwd=tmp_path)
    assert "from:      Test News <desk@example.org>  (derived from site.title and site.email)" in out
    assert "envelope:  bounces+ROW-TOKEN@example.org" in out
    assert f"bounces:   bounces@example.org  (bounces@ the From domain; read from the Maildir {tmp_path}" in out
    assert "unsubscribe mail: leave@example.org" in out
