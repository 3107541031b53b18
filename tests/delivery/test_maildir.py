"""The embedded Maildir transport: one fsynced file per message, readable by the mailbox module, no duplicates."""

from __future__ import annotations

import mailbox
from collections.abc import Callable
from pathlib import Path

import pytest

from publisher.config import Config
from publisher.delivery import Envelope, make_transport
from publisher.delivery.maildir import MaildirTransport, maildir_name
from publisher.delivery.outbox import counts, drain
from publisher.errors import TemporaryFailure
from publisher.store import Store
from tests.delivery_helpers import add_subscribers, compose


def envelope(message_id: str = "<m1@news.example.org>", body: bytes = b"Hello\r\n") -> Envelope:
    data = b"From: news@example.org\r\nTo: a@example.net\r\nSubject: Hi\r\nMessage-ID: " + message_id.encode()
    return Envelope("news@example.org", "a@example.net", data + b"\r\n\r\n" + body, message_id)


def files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


async def test_writes_exact_bytes_into_new(tmp_path: Path) -> None:
    transport = MaildirTransport(tmp_path / "mail")
    env = envelope()

    await transport.send(env)

    (written,) = files(tmp_path / "mail" / "new")
    assert written.read_bytes() == env.data
    assert written.name == maildir_name(env.message_id)
    assert files(tmp_path / "mail" / "tmp") == []


async def test_entering_the_transport_makes_the_maildir(tmp_path: Path) -> None:
    # A mail client (or `ls`) finds the folders from the start, before the first message.
    async with MaildirTransport(tmp_path / "mail") as transport:
        assert all((tmp_path / "mail" / sub).is_dir() for sub in ("tmp", "new", "cur"))
        assert files(tmp_path / "mail" / "new") == []
        await transport.send(envelope(), prepared=None)
    assert len(files(tmp_path / "mail" / "new")) == 1
    # A folder that cannot be made is each message's failure, not the entry's.
    (tmp_path / "file").write_text("x")
    async with MaildirTransport(tmp_path / "file" / "mail") as broken:
        with pytest.raises(TemporaryFailure, match="maildir"):
            await broken.send(envelope())


def test_same_message_twice_is_one_file_even_after_it_was_read(tmp_path: Path) -> None:
    transport = MaildirTransport(tmp_path)
    assert transport.deliver(envelope()) is True
    assert transport.deliver(envelope()) is False
    assert len(files(tmp_path / "new")) == 1

    box = mailbox.Maildir(tmp_path, create=False)
    key = next(iter(box.keys()))
    message = box[key]
    message.set_subdir("cur")
    message.add_flag("S")
    box[key] = message
    assert files(tmp_path / "new") == []

    assert transport.deliver(envelope()) is False
    assert transport.deliver(envelope("<m2@news.example.org>")) is True
    assert len(box) == 2


def test_names_differ_per_message_id() -> None:
    assert maildir_name("<a@x>") != maildir_name("<b@x>")
    assert maildir_name("<a@x>") == maildir_name("<a@x>")
    assert "/" not in maildir_name("<a/b@x>") and ":" not in maildir_name("<a:b@x>")


async def test_default_pipeline_without_smtp_fills_the_state_maildir(make_config: Callable[..., Config]) -> None:
    config = make_config()
    assert config.smtp is None
    assert isinstance(make_transport(config), MaildirTransport)
    with Store(config.paths.database) as store:
        addresses = add_subscribers(store, 25)

    report = await drain(config, config.paths.database, compose)

    assert report.sent == 25
    assert config.maildir.path == config.paths.state / "maildir"
    box = mailbox.Maildir(config.maildir.path, create=False)
    assert sorted(str(m["To"]) for m in box) == addresses
    assert len({m["Message-ID"] for m in box}) == 25
    with Store(config.paths.database) as store:
        assert counts(store)["sent"] == 25
    # A second drain has nothing to do and writes nothing.
    again = await drain(config, config.paths.database, compose)
    assert again.due == 0 and len(box) == 25
