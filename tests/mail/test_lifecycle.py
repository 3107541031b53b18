"""The subscriber's lifecycle: a welcome after confirmation (only when configured), everything held about one
person, and forgetting them so that no import brings them back."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from publisher.config import Config
from publisher.delivery import bounces
from publisher.errors import SubscriberError
from publisher.mail import lifecycle, messages, tokens
from publisher.mail import subscribers as subs
from publisher.store import Store
from tests.cli.test_cli_mail import ok, publisher
from tests.conftest import write_config
from tests.delivery.test_bounces import SECRET, fixture, sent_rows
from tests.mailhelpers import parse, parts
from tests.web.test_web import _client

SECRET_TOML = f'[subscriptions]\nsecret = "{SECRET.decode()}"\n[bounces]\naddress = "bounces@example.org"\n'


def table(store: Store, sql: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in store.query(sql)]


def test_forget_erases_the_person_and_no_import_brings_them_back(make_config: Callable[..., Config]) -> None:
    config = make_config(SECRET_TOML)
    with Store(config.paths.database) as store:
        sent_rows(store)
        bounces.receive(store, config, fixture("postfix-dsn-unknown-user.eml"))
        assert lifecycle.forget(store, SECRET, "NoSuchUser@example.org")
        assert subs.get(store, "nosuchuser@example.org") is None
        dump = repr(table(store, "SELECT * FROM outbox")) + repr(table(store, "SELECT * FROM inbound"))
        dump += repr(table(store, "SELECT * FROM forgotten")) + repr(table(store, "SELECT * FROM subscribers"))
        assert "nosuchuser" not in dump  # nothing that names them is left, the hash aside
        assert len(table(store, "SELECT * FROM forgotten")) == 1
        assert subs.get(store, "gone@example.net") is not None  # nobody else touched

        report = subs.import_csv(store, "email,name\nnosuchuser@example.org,Back\nnew@example.org,New\n",
                                 secret=SECRET)  # fmt: skip
        assert (report.added, report.forgotten) == (1, 1)
        assert subs.get(store, "nosuchuser@example.org") is None
        with pytest.raises(SubscriberError, match="forgotten"):
            subs.add(store, "nosuchuser@example.org", confirmed=True, secret=SECRET)
        # Forgetting an address nobody holds still keeps it out of imports.
        assert not lifecycle.forget(store, SECRET, "never@example.org")
        assert subs.import_csv(store, "email\nnever@example.org\n", secret=SECRET).forgotten == 1


def test_export_gives_everything_held_about_one_person(make_config: Callable[..., Config]) -> None:
    config = make_config(SECRET_TOML)
    with Store(config.paths.database) as store:
        sent_rows(store)
        bounces.receive(store, config, fixture("arf-complaint.eml"))
        data = lifecycle.export_person(store, "Reader@Yahoo.example")
    assert data["subscriber"]["email"] == "reader@yahoo.example"
    assert data["subscriber"]["status"] == "unsubscribed" and data["subscriber"]["complained_at"]
    (message,) = data["messages"]
    assert message["outcome"] == "complained" and message["relay"] == "relay.example.org:587"
    assert [e["kind"] for e in data["inbound"]] == ["complaint"]
    json.dumps(data)  # all of it JSON


async def test_welcome_after_confirmation_only_when_configured(make_config: Callable[..., Config]) -> None:
    for welcome in ("", "welcome"):
        config = make_config(SECRET_TOML.replace("[subscriptions]\n", f'[subscriptions]\nwelcome = "{welcome}"\n'))
        with Store(config.paths.database) as store:
            store.conn.execute("DELETE FROM outbox")
            store.conn.execute("DELETE FROM follows")
            store.conn.execute("DELETE FROM subscribers")
            sub = subs.add(store, "pat@example.org", name="Pat", follows=[subs.ALL])
        # The web side signs with its own secret in these tests (see _client).
        path = "/" + tokens.confirm_url(config, b"s" * 32, sub).removeprefix(config.public_url)
        async for client in _client(config):
            assert (await client.post(path)).status == 200
            assert (await client.post(path)).status == 200  # twice: still one welcome
        with Store(config.paths.database) as store:
            rows = table(store, "SELECT kind, recipient FROM outbox WHERE kind = 'welcome'")
        if not welcome:
            assert rows == []
            continue
        assert rows == [("welcome", "pat@example.org")]
        composer = messages.Composer(config, config.paths.database)
        try:
            with Store(config.paths.database) as store:
                row = store.query("SELECT * FROM outbox WHERE kind = 'welcome'")[0]
            message = parse(composer(row).data)
        finally:
            composer.close()
        assert message["Subject"] == "Welcome to Test News"
        text, page = parts(message)
        assert "Hello Pat," in text and "/unsubscribe/" in text and "/preferences/" in page


def test_confirming_again_on_the_web_remembers_a_forgotten_address(make_config: Callable[..., Config]) -> None:
    config = make_config(SECRET_TOML)
    with Store(config.paths.database) as store:
        lifecycle.forget(store, SECRET, "pat@example.org")
        assert lifecycle.is_forgotten(store, SECRET, "pat@example.org")
        sub = subs.subscribe_pending(store, "pat@example.org")  # the web form: their own double opt-in
        sub = subs.confirm(store, sub.id)
        lifecycle.confirmed(config, store, SECRET, sub, was="pending")
        assert not lifecycle.is_forgotten(store, SECRET, "pat@example.org")


def test_export_and_forget_commands(tmp_path: Path) -> None:
    write_config(tmp_path, SECRET_TOML)
    ok("subscribers", "add", "ann@example.org", "--name", "Ann", "--confirmed", cwd=tmp_path)
    data = json.loads(ok("subscribers", "export", "ann@example.org", cwd=tmp_path))
    assert data["subscriber"]["name"] == "Ann" and data["follows"] == [{"kind": "all", "value": ""}]
    quarantine = tmp_path / "state" / "inbound" / "quarantine"
    kept = bounces.keep(
        quarantine, b"To: Ann <ann@example.org>\nSubject: Undelivered\n\nann@example.org: no such user\n"
    )
    other = bounces.keep(quarantine, b"To: joann@example.org\nSubject: Undelivered\n\nno such user\n")
    said = ok("subscribers", "forget", "Ann@example.org", cwd=tmp_path)
    assert "Forgot ann@example.org." in said
    assert "Erased 1 kept inbound message naming ann@example.org." in said
    assert not kept.exists() and other.exists()
    assert publisher("subscribers", "export", "ann@example.org", cwd=tmp_path).returncode == 1
    (tmp_path / "back.csv").write_text("email,name\nann@example.org,Ann\n", encoding="utf-8")
    out = ok("subscribers", "import", str(tmp_path / "back.csv"), cwd=tmp_path)
    assert "0 added" in out and "1 left out (asked to be forgotten)" in out
    refused = publisher("subscribers", "add", "ann@example.org", cwd=tmp_path)
    assert refused.returncode == 1 and "forgotten" in refused.stderr
