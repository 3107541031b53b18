"""Render once, personalise by splicing: each spliced copy reads exactly like the digest rendered for that reader.

The reference is the digest rendered through the templates with the reader's own values (Jinja escaping,
CSS inlining, whole-body transfer encoding, headers built one by one); the copy under test is what the
composer makes from the digest's prepared bytes. Both are parsed and compared: headers, the text part, the
HTML part as a tree. Names and addresses are chosen to need every kind of escaping on the way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from html.parser import HTMLParser
from pathlib import Path

import dkim
import pytest

from publisher.config import Config
from publisher.delivery.outbox import drain
from publisher.delivery.smtp import SmtpTransport, dot_stuff
from publisher.errors import PermanentFailure
from publisher.mail import digests, messages, mime, tokens
from publisher.mail import subscribers as subs
from publisher.mail.render import load_entries, render_digest, slot_values
from publisher.models import Scope
from publisher.store import Store
from tests.mailhelpers import NOW, add_item, make_dkim_key, outbox_rows, parse, parts
from tests.smtpserver import SmtpServer

pytest_plugins = ["tests.smtpserver"]

MAILTO = (
    '[subscriptions]\nunsubscribe_mailto = "unsubscribe@news.example.org"\nsecret = "splice-secret-0123456789abcdef"\n'
)

READERS = [
    ("ana@example.org", "Ana Ruiz"),
    ("zoe@example.org", 'Zoë "Z" O\'Brien <b>&amp; Co</b>'),  # HTML and address specials, non-ASCII
    ("ivan@example.org", "Иван Петров-Водкин"),  # all non-ASCII: RFC 2047 in To, QP in bodies
    ("eq=sign+tag@example.org", "=?utf-8?q?not_encoded?= =3D 100% = equal"),  # looks like encodings
    ("long@example.org", "Wolfeschlegelsteinhausenbergerdorff " * 4),  # longer than a QP line
    ("dot@example.org", ".Dot at the start"),  # a line could begin with a dot
    ("crab@example.org", "🦀 Ferris\u00a0the\u2028crab"),  # astral plane, no-break space, line separator
    ("nobody@example.org", ""),  # no name: "Hello,"
]


@pytest.fixture
def mailconfig(make_config: Callable[..., Config]) -> Config:
    return make_config(MAILTO)


def seed(store: Store, body: str = "Dockworkers promise a [quiet week](/quiet/) & more.") -> None:
    add_item(store, "a1", 'Harbour week: <ports> & "docks"', [("Ana Ruiz", body)], image="assets/harbour.jpg")
    add_item(
        store,
        "a2",
        "Freight = strikes",
        [("Ana Ruiz", "Strike talk.\n\n- one\n- two"), ("Tomas Berg", "Freight rates fell.")],
        published=NOW - timedelta(hours=1),
    )


def add_readers(store: Store) -> dict[str, subs.Subscriber]:
    return {
        email: subs.add(store, email, name, [subs.parse_follow("ana-ruiz")], confirmed=True) for email, name in READERS
    }


def reference(config: Config, store: Store, row: dict, reader: subs.Subscriber) -> bytes:  # type: ignore[type-arg]
    """The reader's digest rendered through the templates with their own values: no slots, no splicing."""
    record = store.conn.execute(
        "SELECT scope, period_start, period_end, section_ids FROM digests WHERE id = ?", (row["digest_id"],)
    ).fetchone()
    stored_scope, start, end, ids = record
    scope = Scope.parse(stored_scope)
    secret = tokens.load_secret(config)
    unsubscribe = tokens.unsubscribe_url(config, secret, reader)
    preferences = tokens.preferences_url(config, secret, reader)
    title = digests.scope_title(config, store, scope)
    bodies = render_digest(
        config,
        scope=scope,
        title=title,
        entries=load_entries(config, store, [int(i) for i in re.findall(r"\d+", ids)]),
        period_start=datetime.fromisoformat(start),
        period_end=datetime.fromisoformat(end),
        reader=slot_values(reader.name, reader.email, unsubscribe, preferences, for_html=False),
    )
    assert bodies.html.parts == (bodies.html.parts[0],)  # rendered whole: nothing left to splice
    headers = [
        ("From", mime.address_header(*parseaddr(config.sender))),
        ("To", mime.address_header(reader.name, reader.email)),
        ("Subject", mime.header_value(bodies.subject)),
        ("Date", "Tue, 10 Mar 2026 07:00:00 +0000"),
        ("Message-ID", f"<{row['message_id']}>"),
        ("List-Id", messages.list_id(config, scope, title)),
        ("List-Unsubscribe", mime.list_unsubscribe(unsubscribe, messages.unsubscribe_mailto(config))),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("Precedence", "bulk"),
        ("Auto-Submitted", "auto-generated"),
    ]
    text, page = bodies.text.parts[0], bodies.html.parts[0]
    return mime.assemble(headers, text.encode(), page.encode(), (bodies.text_encoding, bodies.html_encoding))


class Tree(HTMLParser):
    """An HTML document as a list of events, character references decoded, whitespace runs as one space."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[tuple[str, ...]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.events.append(("start", tag, *sorted(f"{k}={v}" for k, v in attrs)))

    def handle_endtag(self, tag: str) -> None:
        self.events.append(("end", tag))

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if text:
            self.events.append(("text", text))


def html_tree(page: str) -> list[tuple[str, ...]]:
    tree = Tree()
    tree.feed(page)
    tree.close()
    return tree.events


HEADERS = ("From", "Subject", "Message-ID", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post", "Precedence",
           "Auto-Submitted", "MIME-Version")  # fmt: skip


def assert_same_message(spliced: EmailMessage, rendered: EmailMessage) -> None:
    for name in HEADERS:
        assert str(spliced[name]) == str(rendered[name]), name
    got, want = spliced["To"].addresses[0], rendered["To"].addresses[0]
    assert (got.display_name, got.addr_spec) == (want.display_name, want.addr_spec)
    assert [p.get_content_type() for p in spliced.iter_parts()] == ["text/plain", "text/html"]
    assert [p["Content-Transfer-Encoding"] for p in spliced.iter_parts()] == [
        p["Content-Transfer-Encoding"] for p in rendered.iter_parts()
    ]
    text, page = parts(spliced)
    want_text, want_page = parts(rendered)
    assert text == want_text
    assert html_tree(page) == html_tree(want_page)


@pytest.mark.parametrize("body", ["latin", "cjk"])
def test_each_spliced_copy_equals_the_digest_rendered_for_its_reader(
    mailconfig: Config, store: Store, composer: messages.Composer, body: str
) -> None:
    # Mostly ASCII: quoted-printable parts, slots spliced between literals encoded once. CJK: base64 parts.
    seed(
        store, "Dockworkers promise a [quiet week](/quiet/) & more." if body == "latin" else "码头工人今天复工。" * 300
    )
    readers = add_readers(store)
    digests.queue(mailconfig, store, now=NOW)
    rows = {r["recipient"]: r for r in outbox_rows(store, "digest")}
    assert set(rows) == set(readers)
    encodings = set()
    for email, reader in readers.items():
        spliced = parse(composer(rows[email]).data)
        rendered = parse(reference(mailconfig, store, rows[email], reader))
        assert_same_message(spliced, rendered)
        encodings.add(spliced.get_body(("html",))["Content-Transfer-Encoding"])  # type: ignore[index]
        # The personal values are there, each as its reader typed it.
        text, _ = parts(spliced)
        greeting = f"Hello {subs.clean_name(reader.name)}," if reader.name else "Hello,"
        assert greeting in text and reader.email in text
        assert spliced["To"].addresses[0].display_name == subs.clean_name(reader.name)
    assert encodings == {"quoted-printable" if body == "latin" else "base64"}


def test_copies_differ_only_where_readers_do(mailconfig: Config, store: Store, composer: messages.Composer) -> None:
    seed(store)
    readers = add_readers(store)
    digests.queue(mailconfig, store, now=NOW)
    rows = outbox_rows(store, "digest")
    first, second = (composer(r).data for r in rows[:2])
    # One boundary for the whole digest, and the same shared bytes around the personal values.
    boundary = re.search(rb'boundary="([^"]+)"', first)
    assert boundary is not None and boundary.group(1) in second
    assert len(set(re.findall(rb'boundary="([^"]+)"', b"".join(composer(r).data for r in rows)))) == 1
    for row in rows:
        data = composer(row).data
        assert b"\0" not in data and b"%%" not in data  # no hole or slot marker left anywhere
        assert data.isascii() and b"\n" not in data.replace(b"\r\n", b"")
        assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    assert len(readers) == len(rows)


async def test_dkim_verifies_on_the_received_bytes_of_every_copy(
    make_smtp_server: Callable[..., SmtpServer], make_config: Callable[..., Config], site: Path
) -> None:
    server = make_smtp_server()
    key, record = make_dkim_key(site)
    config = make_config(
        f'{MAILTO}[smtp]\nhost = "127.0.0.1"\nport = {server.port}\nsecurity = "none"\n'
        'from = "Test News <news@example.org>"\nconnections = 2\ntimeout = 10\n'
        f'[dkim]\nselector = "mail"\ndomain = "example.org"\nkey_file = "{key}"\n'
    )
    with Store(config.paths.database) as store:
        seed(store)
        readers = add_readers(store)
        digests.queue(config, store, now=NOW)
    composer = messages.Composer(config, config.paths.database)
    try:
        report = await drain(config, config.paths.database, composer)
    finally:
        composer.close()
    assert report.sent == len(readers)
    assert server.wait_for(len(readers))

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"mail._domainkey.example.org."
        return record.encode()

    with Store(config.paths.database) as store:
        rows = {r["recipient"]: r for r in outbox_rows(store, "digest")}
        for message in server.messages:
            address = message.rcpt_tos[0]
            assert dkim.verify(message.data, dnsfunc=dns), address
            assert message.data.startswith(b"DKIM-Signature: ")
            received = parse(message.data)
            assert_same_message(received, parse(reference(config, store, rows[address], readers[address])))


def test_every_copy_is_its_own_smtp_data(mailconfig: Config, store: Store, composer: messages.Composer) -> None:
    # Readers whose names and links put dots at line starts, need escaping, or are long: the copy still has
    # nothing for SMTP to repair or dot-stuff, so it says so, and its DATA payload is the copy plus ".".
    seed(store)
    readers = add_readers(store)
    digests.queue(mailconfig, store, now=NOW)
    rows = outbox_rows(store, "digest")
    for row in rows:
        envelope = composer(row)
        assert envelope.wire_ready, row["recipient"]
        assert dot_stuff(envelope.data) == envelope.data + b".\r\n"
        assert SmtpTransport.prepare(envelope) == envelope.data + b".\r\n"
    assert len(rows) == len(readers)


def test_a_batch_read_ahead_composes_the_same_copies(
    mailconfig: Config, store: Store, composer: messages.Composer
) -> None:
    seed(store)
    readers = add_readers(store)
    gone = subs.add(store, "gone@example.org", "Gone", [subs.parse_follow("ana-ruiz")], confirmed=True)
    digests.queue(mailconfig, store, now=NOW)
    rows = outbox_rows(store, "digest")
    subs.remove(store, gone.id)
    alone = messages.Composer(mailconfig, mailconfig.paths.database)
    try:
        one_by_one = {r["id"]: alone(r).data for r in rows if r["subscriber_id"] != gone.id}
    finally:
        alone.close()
    composer.prefetch(rows)
    for row in rows:
        if row["subscriber_id"] == gone.id:
            with pytest.raises(PermanentFailure, match="no longer exists"):
                composer(row)
            continue
        data = composer(row).data
        date = re.compile(rb"\r\nDate: [^\r]+")
        assert date.sub(b"", data) == date.sub(b"", one_by_one[row["id"]])
    assert len(one_by_one) == len(readers)


def test_a_subject_naming_the_reader_is_filled_per_copy(make_config: Callable[..., Config], store: Store) -> None:
    config = make_config(MAILTO + '[digest]\nsubject = "For {{ subscriber.name }}: {{ count }} new from {{ title }}"\n')
    seed(store)
    readers = add_readers(store)
    digests.queue(config, store, now=NOW)
    composer = messages.Composer(config, config.paths.database)
    try:
        for row in outbox_rows(store, "digest"):
            data = composer(row).data
            assert b"%%" not in data
            name = subs.clean_name(readers[row["recipient"]].name)
            assert parse(data)["Subject"] == " ".join(f"For {name}: 2 new from Ana Ruiz".split())
    finally:
        composer.close()
    subs.add(store, "late@example.org", "Late", [subs.parse_follow("tomas-berg")], confirmed=True)
    preview = digests.preview(config, store, "ana-ruiz", now=NOW + timedelta(hours=1))
    assert preview.subject.startswith("For Sample Reader:")
