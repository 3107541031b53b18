"""Composing digest, confirmation and test emails: the exact bytes, parsed back with the email package."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import dkim
import pytest
from dkim.canonicalization import Relaxed
from hypothesis import given
from hypothesis import strategies as st

from publisher.config import Config
from publisher.delivery.outbox import OutboxRow
from publisher.errors import PermanentFailure
from publisher.mail import digests, messages, tokens
from publisher.mail import subscribers as subs
from publisher.mail.dkim import DkimpySigner, FastSigner, make_signer, relaxed_body
from publisher.store import Store
from tests.mailhelpers import NOW, add_item, make_dkim_key, outbox_rows, parse, parts

MAILTO = '[subscriptions]\nunsubscribe_mailto = "unsubscribe@news.example.org"\n'


@pytest.fixture
def mailconfig(make_config: Callable[..., Config]) -> Config:
    return make_config(MAILTO)


def queue_digest(config: Config, store: Store) -> list:  # type: ignore[type-arg]
    digests.queue(config, store, now=NOW)
    return outbox_rows(store, "digest")


def seed(store: Store) -> None:
    add_item(
        store,
        "a1",
        "Harbour week",
        [("Ana Ruiz", "Dockworkers promise a [quiet week](/quiet/).\n\n![crane](/img/crane.jpg)")],
        image="assets/harbour.jpg",
    )
    add_item(
        store,
        "a2",
        "Freight & strikes",
        [("Ana Ruiz", "Strike talk."), ("Tomas Berg", "Freight rates fell.")],
        published=NOW - timedelta(hours=1),
    )


def test_digest_headers_parts_and_personalisation(
    mailconfig: Config, store: Store, composer: messages.Composer
) -> None:
    seed(store)
    ana = subs.add(store, "Ana.Reader@Example.org", "Ana <b>& Co</b>", [subs.parse_follow("ana-ruiz")], confirmed=True)
    bob = subs.add(store, "bob@example.org", "Bob", [subs.parse_follow("ana-ruiz")], confirmed=True)
    rows = {r["subscriber_id"]: r for r in queue_digest(mailconfig, store)}
    envelope = composer(rows[ana.id])
    assert envelope.sender == "publisher@localhost" and envelope.recipient == "ana.reader@example.org"
    msg = parse(envelope.data)

    assert msg["From"] == "Test News <publisher@localhost>"
    assert msg["To"].addresses[0].display_name == "Ana <b>& Co</b>"
    assert msg["To"].addresses[0].addr_spec == "ana.reader@example.org"
    assert msg["Subject"] == "Ana Ruiz: 2 new"
    assert msg["Date"].datetime is not None
    assert msg["Message-ID"] == f"<{rows[ana.id]['message_id']}>" == f"<{envelope.message_id}>"
    assert msg["List-Id"] == '"Test News: Ana Ruiz" <ana-ruiz.digest.news.example.org>'
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = re.findall(r"<([^>]+)>", str(msg["List-Unsubscribe"]))
    assert mailto == "mailto:unsubscribe@news.example.org?subject=unsubscribe"
    assert https.startswith("https://news.example.org/unsubscribe/")
    secret = tokens.load_secret(mailconfig)
    assert tokens.verify(secret, https.rsplit("/", 1)[1], "unsubscribe") == (ana.id, "ana.reader@example.org")

    assert msg.get_content_type() == "multipart/alternative"
    kinds = [p.get_content_type() for p in msg.iter_parts()]
    assert kinds == ["text/plain", "text/html"]  # the richest last: clients show the last they can
    text, html = parts(msg)
    # The same content: each article title and link of the HTML part is in the text part.
    links = re.findall(r'<h3[^>]*><a href="([^"]+)"[^>]*>([^<]+)</a>', html)
    assert len(links) == 2
    for url, title in links:
        assert url.startswith("https://news.example.org/2026/03/")
        assert title.replace("&amp;", "&") in text and url in text
    # Links and images inside bodies are absolute.
    assert 'href="https://news.example.org/quiet/"' in html and "https://news.example.org/quiet/" in text
    assert 'src="https://news.example.org/img/crane.jpg"' in html
    assert 'src="https://news.example.org/assets/harbour.jpg"' in html
    # Personalisation: escaped in HTML, as is in text; both links in both parts.
    assert "Hello Ana &lt;b&gt;&amp; Co&lt;/b&gt;," in html and "Hello Ana <b>& Co</b>," in text
    assert https in text and https in html
    assert "/preferences/" in text and "/preferences/" in html
    assert "Unsubscribe</a>" in html
    # CSS was inlined (no class-only styling left for Gmail to drop).
    assert 'style="' in html and "max-width: 600px" in html

    other = parse(composer(rows[bob.id]).data)
    other_text, _ = parts(other)
    assert "Hello Bob," in other_text and "Ana <b>" not in other_text
    assert other["Message-ID"] != msg["Message-ID"]
    # A retry of the same row gives the same Message-ID.
    assert parse(composer(rows[ana.id]).data)["Message-ID"] == msg["Message-ID"]


def test_wire_format(mailconfig: Config, store: Store, composer: messages.Composer) -> None:
    seed(store)
    subs.add(store, "a@example.org", "A", [subs.parse_follow("all")], confirmed=True)
    data = composer(queue_digest(mailconfig, store)[0]).data
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF everywhere
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    assert data.isascii()
    head = data.split(b"\r\n\r\n", 1)[0].decode()
    assert "\r\nMIME-Version: 1.0\r\n" in head
    assert "Content-Transfer-Encoding: quoted-printable" in data.decode()


def test_no_header_carries_cr_lf_from_content(make_config: Callable[..., Config], store: Store) -> None:
    config = make_config('[digest]\nsubject = "{{ sections[0].title }}\\r\\nX-Injected: 1"\n')
    add_item(store, "evil", "Hi\r\nBcc: x@evil.example", [("Eve\r\nBcc: y@evil.example", "Body.")])
    subs.add(store, "a@example.org", "Mal\r\nBcc: z@evil.example", [subs.parse_follow("all")], confirmed=True)
    composer = messages.Composer(config, config.paths.database)
    try:
        data = composer(queue_digest(config, store)[0]).data
    finally:
        composer.close()
    head = data.split(b"\r\n\r\n", 1)[0].decode()
    assert not re.search(r"^(Bcc|X-Injected):", head, re.I | re.M)
    msg = parse(data)
    assert msg["Bcc"] is None and msg["X-Injected"] is None
    assert msg["Subject"] == "Hi Bcc: x@evil.example X-Injected: 1"
    assert msg["To"].addresses[0].addr_spec == "a@example.org"


def test_non_ascii_content_and_subject(mailconfig: Config, store: Store, composer: messages.Composer) -> None:
    add_item(store, "zh", "港口罢工结束", [("Zoë Ó Briain", "码头工人今天复工。" * 200)])
    subs.add(store, "z@example.org", "Zoë", [subs.parse_follow("zoe-o-briain")], confirmed=True)
    data = composer(queue_digest(mailconfig, store)[0]).data
    msg = parse(data)
    assert msg["Subject"] == "Zoë Ó Briain: 1 new"
    text, html = parts(msg)
    assert "港口罢工结束" in text and "码头工人今天复工。" in html and "Hello Zoë," in text
    assert b"Content-Transfer-Encoding: base64" in data  # denser than quoted-printable for CJK


def test_long_digests_fit_the_budget_with_read_more_links(make_config: Callable[..., Config], store: Store) -> None:
    config = make_config("[digest]\nmax_html_bytes = 60000\n")
    paragraph = "The harbour authority published its figures for the quarter today. " * 12
    for i in range(40):
        add_item(store, f"p{i}", f"Report number {i}", [("Ana Ruiz", f"{paragraph}\n\n{paragraph}")])
    subs.add(store, "a@example.org", "A", [subs.parse_follow("ana-ruiz")], confirmed=True)
    composer = messages.Composer(config, config.paths.database)
    try:
        msg = parse(composer(queue_digest(config, store)[0]).data)
    finally:
        composer.close()
    html_part = msg.get_body(("html",))
    assert html_part is not None
    encoded = html_part.get_payload(decode=False)
    assert len(encoded.encode()) <= 60000
    text, html = parts(msg)
    assert "Read more" in html and "Read more: https://news.example.org/2026/03/p0/" in text
    for i in range(40):
        assert f"Report number {i}<" in html and f"Report number {i}\n" in text


def test_huge_digests_keep_what_fits_and_link_to_the_site(make_config: Callable[..., Config], store: Store) -> None:
    config = make_config("[digest]\nmax_html_bytes = 12000\n")
    for i in range(80):
        add_item(store, f"p{i}", f"A rather long headline for report number {i}", [("Ana Ruiz", "Text.")])
    subs.add(store, "a@example.org", "A", [subs.parse_follow("ana-ruiz")], confirmed=True)
    rendered = digests.preview(config, store, "ana-ruiz", now=NOW)
    assert 0 < rendered.shown < 80 and rendered.truncated
    assert f"And {80 - rendered.shown} more pieces" in rendered.text
    assert f"And {80 - rendered.shown} more pieces" in rendered.html


def test_templates_folder_overrides_file_by_file(make_config: Callable[..., Config], store: Store, site: Path) -> None:
    folder = site / "my-templates" / "email"
    folder.mkdir(parents=True)
    (folder / "digest.txt").write_text(
        "Custom for {{ subscriber.name }}: {% for s in sections %}[{{ s.title }}]{% endfor %}\n{{ unsubscribe_url }}\n",
        encoding="utf-8",
    )
    config = make_config(f'{MAILTO}[paths]\ntemplates = "{site / "my-templates"}"\n')
    seed(store)
    subs.add(store, "a@example.org", "Ann", [subs.parse_follow("ana-ruiz")], confirmed=True)
    composer = messages.Composer(config, config.paths.database)
    try:
        text, html = parts(parse(composer(queue_digest(config, store)[0]).data))
    finally:
        composer.close()
    assert text.startswith("Custom for Ann: [Harbour week][Freight & strikes]")
    assert "https://news.example.org/unsubscribe/" in text
    assert "Read on the site" in html  # the bundled HTML template still serves


def test_combined_digest_groups_by_correspondent(make_config: Callable[..., Config], store: Store) -> None:
    config = make_config('[digest]\nmode = "combined"\n')
    seed(store)
    both = subs.add(store, "b@example.org", "", [subs.parse_follow("ana-ruiz"), subs.parse_follow("tomas-berg")])
    subs.confirm(store, both.id)
    tomas = subs.add(store, "t@example.org", "", [subs.parse_follow("tomas-berg")], confirmed=True)
    rows = {r["subscriber_id"]: r for r in queue_digest(config, store)}
    composer = messages.Composer(config, config.paths.database)
    try:
        text, _ = parts(parse(composer(rows[both.id]).data))
        only, _ = parts(parse(composer(rows[tomas.id]).data))
    finally:
        composer.close()
    assert text.index("== Ana Ruiz ==") < text.index("Harbour week") < text.index("== Tomas Berg ==")
    assert text.index("== Tomas Berg ==") < text.index("Freight rates fell.")
    assert "Harbour week" not in only and "Freight rates fell." in only and "Strike talk." not in only


def test_refuses_subscribers_who_left(mailconfig: Config, store: Store, composer: messages.Composer) -> None:
    seed(store)
    sub = subs.add(store, "a@example.org", "", [subs.parse_follow("ana-ruiz")], confirmed=True)
    (row,) = queue_digest(mailconfig, store)
    store.conn.execute("UPDATE subscribers SET status = 'unsubscribed' WHERE id = ?", (sub.id,))
    with pytest.raises(PermanentFailure, match="unsubscribed"):
        composer(row)


def test_delivery_rows_are_accepted(mailconfig: Config, store: Store, composer: messages.Composer) -> None:
    """The drain hands the composer its own row type, with the payload already decoded."""
    config = dataclasses.replace(mailconfig, digest=dataclasses.replace(mailconfig.digest, mode="combined"))
    seed(store)
    tomas_section = store.scalar("SELECT id FROM sections WHERE correspondent_slug = 'tomas-berg'")
    sub = subs.add(store, "a@example.org", "", [subs.parse_follow("tomas-berg")], confirmed=True)
    digests.queue(config, store, now=NOW)
    (raw,) = outbox_rows(store, "digest")
    row = OutboxRow(raw["id"], "digest", raw["digest_id"], sub.id, raw["recipient"], raw["message_id"],
                    {"sections": [tomas_section]}, 0)  # fmt: skip
    text, _ = parts(parse(composer(row).data))
    assert "Freight rates fell." in text and "Harbour week" not in text


def test_confirmation_and_test_messages(mailconfig: Config, store: Store, composer: messages.Composer) -> None:
    seed(store)
    sub = subs.subscribe_pending(store, "new@example.org", "Newt", [subs.parse_follow("ana-ruiz")])
    messages.enqueue_confirmation(mailconfig, store, sub)
    messages.enqueue_confirmation(mailconfig, store, sub)
    messages.enqueue_test(mailconfig, store, "Ops@Example.org")
    confirm_rows = outbox_rows(store, "confirm")
    assert len({r["message_id"] for r in confirm_rows}) == 2
    msg = parse(composer(confirm_rows[0]).data)
    assert msg["Subject"] == "Confirm your subscription to Test News" and msg["List-Unsubscribe"] is None
    text, html = parts(msg)
    url = re.search(r"https://news\.example\.org/confirm/(\S+)", text)
    assert url is not None and url.group(0) in html
    secret = tokens.load_secret(mailconfig)
    assert tokens.verify(secret, url.group(1), "confirm") == (sub.id, "new@example.org")
    # The name came from whoever filled in the form: it is not shown to the address owner.
    assert "Hello," in text and "Newt" not in text and "following Ana Ruiz" in text

    (test_row,) = outbox_rows(store, "test")
    test_msg = parse(composer(test_row).data)
    assert test_msg["To"].addresses[0].addr_spec == "ops@example.org"
    assert "the local Maildir" in parts(test_msg)[0]


def test_dkim_signature_covers_the_unsubscribe_headers(
    make_config: Callable[..., Config], store: Store, site: Path
) -> None:
    key, record = make_dkim_key(site)
    config = make_config(f'{MAILTO}[dkim]\nselector = "sel"\ndomain = "example.org"\nkey_file = "{key}"\n')
    seed(store)
    subs.add(store, "a@example.org", "A", [subs.parse_follow("ana-ruiz")], confirmed=True)
    composer = messages.Composer(config, config.paths.database)
    try:
        data = composer(queue_digest(config, store)[0]).data
    finally:
        composer.close()

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"sel._domainkey.example.org."
        return record.encode()

    assert data.startswith(b"DKIM-Signature: ")
    assert dkim.verify(data, dnsfunc=dns)
    signed = parse(data)["DKIM-Signature"]
    h = re.search(r"h=([^;]+);", re.sub(r"\s+", "", str(signed)))
    assert h is not None
    names = set(h.group(1).lower().split(":"))
    assert {
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "list-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
    } <= names
    # Tampering with either unsubscribe header, or the body, breaks the signature.
    tampered = data.replace(
        b"List-Unsubscribe: <https://news.example.org/", b"List-Unsubscribe: <https://evil.example/"
    )
    assert tampered != data and not dkim.verify(tampered, dnsfunc=dns)
    tampered = data.replace(b"List-Unsubscribe=One-Click", b"List-Unsubscribe=One-Clack")
    assert tampered != data and not dkim.verify(tampered, dnsfunc=dns)
    tampered = data.replace(b"Strike talk.", b"Strike walk.")
    assert tampered != data and not dkim.verify(tampered, dnsfunc=dns)


@pytest.mark.parametrize("fast", [True, False], ids=["openssl", "dkimpy"])
def test_both_signers_verify_with_dkimpy(
    make_config: Callable[..., Config], store: Store, site: Path, fast: bool
) -> None:
    key, record = make_dkim_key(site)
    config = make_config(f'{MAILTO}[dkim]\nselector = "s1"\ndomain = "news.example.org"\nkey_file = "{key}"\n')
    signer = make_signer(config, fast=fast)
    assert isinstance(signer, FastSigner if fast else DkimpySigner)
    seed(store)
    subs.add(store, "a@example.org", "Zoë", [subs.parse_follow("all")], confirmed=True)
    unsigned = messages.Composer(make_config(MAILTO), config.paths.database)
    try:
        data = signer.sign(unsigned(queue_digest(config, store)[0]).data)
    finally:
        unsigned.close()

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return record.encode() if name == b"s1._domainkey.news.example.org." else b""

    assert dkim.verify(data, dnsfunc=dns)
    head = data.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\nFrom:", 1)[0].split(b"\r\n"))  # the signature
    for old, new in ((b"One-Click", b"One-Clock"), (b"Subject: ", b"Subject: Re: "), (b"Freight", b"Fright")):
        assert not dkim.verify(data.replace(old, new, 1), dnsfunc=dns)


@given(st.lists(st.sampled_from(["a", "b c", "  ", "\t", "x\t y ", ""]), max_size=12))
def test_relaxed_body_matches_dkimpy(lines: list[str]) -> None:
    body = "\r\n".join(lines).encode()
    for candidate in (body, body + b"\r\n", body + b"\r\n\r\n"):
        assert relaxed_body(candidate) == Relaxed.canonicalize_body(candidate)
