"""Digests end to end over real SMTP: queue, compose, drain through aiosmtpd with STARTTLS and AUTH, read back."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import dkim
import pytest

from publisher.config import Config
from publisher.delivery.outbox import counts, drain
from publisher.mail import digests, messages, tokens
from publisher.mail import subscribers as subs
from publisher.store import Store
from tests.mailhelpers import NOW, add_item, make_dkim_key, parse, parts
from tests.smtpserver import SmtpServer

pytest_plugins = ["tests.smtpserver"]

PASSWORD = "correct horse battery staple"


def site_config(make_config: Callable[..., Config], server: SmtpServer, key: Path) -> Config:
    return make_config(
        "[smtp]\n"
        f'host = "127.0.0.1"\nport = {server.port}\nsecurity = "starttls"\nusername = "mailer"\n'
        'from = "Test News <news@example.org>"\nverify_tls = false\nconnections = 2\ntimeout = 10\n'
        "[subscriptions]\n"
        'unsubscribe_mailto = "unsubscribe@example.org"\nsecret = "a-secret-for-the-tests-0123456789"\n'
        "[dkim]\n"
        f'selector = "mail"\ndomain = "example.org"\nkey_file = "{key}"\n'
    )


async def test_digests_over_starttls_with_auth_and_dkim(
    make_smtp_server: Callable[..., SmtpServer],
    make_config: Callable[..., Config],
    monkeypatch: pytest.MonkeyPatch,
    site: Path,
) -> None:
    monkeypatch.setenv("PUBLISHER_SMTP_PASSWORD", PASSWORD)
    server = make_smtp_server(security="starttls", users={"mailer": PASSWORD})
    key, record = make_dkim_key(site)
    config = site_config(make_config, server, key)
    secret = tokens.load_secret(config)

    with Store(config.paths.database) as store:
        add_item(store, "a1", "Harbour week", [("Ana Ruiz", "Dockworkers promise a quiet week.")])
        add_item(
            store,
            "a2",
            "Freight & strikes",
            [("Ana Ruiz", "Strike talk."), ("Tomas Berg", "Freight rates fell.")],
            published=NOW - timedelta(hours=1),
        )
        readers = {
            "ana@example.net": subs.add(
                store, "ana@example.net", "Ana Ng", [subs.parse_follow("ana-ruiz")], confirmed=True
            ),
            "bo@example.net": subs.add(store, "bo@example.net", "Bo", [subs.parse_follow("ana-ruiz")], confirmed=True),
            "tom@example.net": subs.add(
                store, "tom@example.net", "Tom", [subs.parse_follow("tomas-berg")], confirmed=True
            ),
        }
        subs.add(store, "pending@example.net", "P", [subs.parse_follow("ana-ruiz")])
        gone = subs.add(store, "gone@example.net", "G", [subs.parse_follow("ana-ruiz")], confirmed=True)
        subs.unsubscribe(store, gone.id)
        queued = digests.queue(config, store, now=NOW)
        assert len(queued) == 2
        expected_ids = {r[0]: r[1] for r in store.conn.execute("SELECT recipient, message_id FROM outbox")}

    composer = messages.Composer(config, config.paths.database)
    try:
        report = await drain(config, config.paths.database, composer)
    finally:
        composer.close()

    assert (report.sent, report.failed, report.deferred) == (3, 0, 0)
    assert server.wait_for(3)
    received = {m.rcpt_tos[0]: m for m in server.messages}
    assert set(received) == set(readers)  # pending and unsubscribed get nothing

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"mail._domainkey.example.org."
        return record.encode()

    for address, message in received.items():
        assert message.tls and message.auth_user == "mailer"
        # The envelope sender is the VERP bounce address; the From header stays news@example.org.
        assert message.mail_from.startswith("bounces+") and message.mail_from.endswith("@example.org")
        assert parse(message.data)["From"].addresses[0].addr_spec == "news@example.org"
        # DKIM verifies on the exact bytes the server received, and covers both List-Unsubscribe headers.
        assert dkim.verify(message.data, dnsfunc=dns), address
        signed = re.sub(r"\s+", "", str(parse(message.data)["DKIM-Signature"]))
        assert "list-unsubscribe:list-unsubscribe-post" in signed.lower()

        msg = parse(message.data)
        sub = readers[address]
        assert msg["Message-ID"] == f"<{expected_ids[address]}>"
        assert msg["To"].addresses[0].addr_spec == address and msg["To"].addresses[0].display_name == sub.name
        assert msg["From"] == "Test News <news@example.org>" and msg["Date"] is not None
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        https, mailto = re.findall(r"<([^>]+)>", str(msg["List-Unsubscribe"]))
        assert mailto == "mailto:unsubscribe@example.org?subject=unsubscribe"
        assert tokens.verify(secret, https.rsplit("/", 1)[1], "unsubscribe") == (sub.id, address)
        assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
        text, html = parts(msg)
        assert f"Hello {sub.name}," in text and f"Hello {sub.name}," in html
        assert https in text and https in html

    ana_text, ana_html = parts(parse(received["ana@example.net"].data))
    for title in ("Harbour week", "Freight & strikes"):
        assert title in ana_text and title.replace("&", "&amp;") in ana_html
    assert "Freight rates fell." not in ana_text
    tom_text, _ = parts(parse(received["tom@example.net"].data))
    assert "Freight rates fell." in tom_text and "Harbour week" not in tom_text

    # One click on the unsubscribe link, then a new section: Ana's follower who left gets nothing more.
    with Store(config.paths.database) as store:
        assert counts(store) == {"queued": 0, "sending": 0, "sent": 3, "failed": 0}
        assert {s for (s,) in store.conn.execute("SELECT status FROM digests")} == {"sent"}
        https = re.findall(r"<([^>]+)>", str(parse(received["bo@example.net"].data)["List-Unsubscribe"]))[0]
        bo = subs.by_token(store, secret, https.rsplit("/", 1)[1], "unsubscribe")
        subs.unsubscribe(store, bo.id)
        later = NOW + timedelta(days=1)
        add_item(store, "a3", "Ferries", [("Ana Ruiz", "Ferries resume.")], published=later, recorded=later)
        assert len(digests.queue(config, store, now=later + timedelta(hours=1))) == 1
    composer = messages.Composer(config, config.paths.database)
    try:
        report = await drain(config, config.paths.database, composer)
    finally:
        composer.close()
    assert report.sent == 1 and server.wait_for(4)
    last = server.messages[-1]
    assert last.rcpt_tos == ("ana@example.net",)
    text, _ = parts(parse(last.data))
    assert "Ferries" in text and "Harbour week" not in text
