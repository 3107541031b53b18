"""Bounces, complaints and unsubscribe mail, read from real messages: a DSN Postfix wrote (kept as a fixture:
a local Postfix bounced a message to a user that does not exist), hand-made Exim, Microsoft and ARF reports,
and an out-of-office reply nobody should act on.

The fixtures' VERP tokens were made with :data:`SECRET` for outbox rows 1 to 7; :func:`sent_rows` makes those
rows, accepted by the relay, on a real SQLite file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.config import Config
from publisher.delivery import bounces, verp
from publisher.delivery.inbound import classify
from publisher.store import Store, iso
from publisher.store import inbound as inbound_log
from publisher.store import outbox as sql
from publisher.store import subscribers as subscriber_sql

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = b"bounce-fixture-secret-0123456789"
BOUNCES = "bounces@example.org"
T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
DIGEST = "correspondent:ana-ruiz/2026-03-02T07:00:00+00:00"

# Row id → the recipient the fixture for that row names.
RECIPIENTS = {
    1: "nosuchuser@example.org",  # postfix-dsn-unknown-user.eml
    2: "gone@example.net",  # exim-failed.eml
    3: "missing@contoso.com",  # microsoft-dsn.eml
    4: "reader@yahoo.example",  # arf-complaint.eml
    5: "full@example.net",  # exim-mailbox-full.eml
    6: "two@example.net",  # out-of-office.eml
    7: "seven@example.net",
}
MESSAGE_IDS = {1: "<digest-1.a1b2c3@example.org>", 3: "<digest-3.c7d8e9@example.org>",
               4: "<digest-4.f0e1d2@example.org>"}  # fmt: skip


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def config(make_config: Callable[..., Config]) -> Config:
    return make_config(
        f'[subscriptions]\nsecret = "{SECRET.decode()}"\nunsubscribe_mailto = "unsubscribe@example.org"\n'
        f'[bounces]\naddress = "{BOUNCES}"\nsoft_days = 3\n'
        '[smtp]\nhost = "127.0.0.1"\nport = 2525\nsecurity = "none"\nfrom = "Test News <news@example.org>"\n'
        "bounce_limit = 2\n"
    )


def sent_rows(store: Store, *, at: datetime = T0) -> dict[int, int]:
    """Rows 1-7, one per recipient, accepted by the relay at ``at``; row id → subscriber id."""
    stamp = iso(at)
    out = {}
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO digests (id, scope, period_start, period_end, section_ids, created_at, status)"
            " VALUES (?, 'correspondent:ana-ruiz', ?, ?, '[]', ?, 'sent')",
            (DIGEST, stamp, stamp, stamp),
        )
        for row_id, email in RECIPIENTS.items():
            sub = conn.execute(
                "INSERT INTO subscribers (email, name, status, created_at, updated_at)"
                " VALUES (?, '', 'confirmed', ?, ?)",
                (email, stamp, stamp),
            ).lastrowid
            conn.execute(
                "INSERT INTO outbox (id, kind, digest_id, subscriber_id, recipient, message_id, state, attempts,"
                " next_attempt_at, created_at, updated_at, sent_at, relay)"
                " VALUES (?, 'digest', ?, ?, ?, ?, 'sent', 1, ?, ?, ?, ?, 'relay.example.org:587')",
                (row_id, DIGEST, sub, email, MESSAGE_IDS.get(row_id, f"<digest-{row_id}@example.org>"),
                 stamp, stamp, stamp, stamp),
            )  # fmt: skip
            assert sub is not None
            out[row_id] = int(sub)
    return out


def later_row(store: Store, subscriber_id: int, recipient: str, sent: datetime, row_id: int) -> None:
    """Another accepted digest to the same subscriber, sent at ``sent``."""
    stamp = iso(sent)
    digest = f"correspondent:ana-ruiz/{stamp}"
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO digests (id, scope, period_start, period_end, section_ids, created_at, status)"
            " VALUES (?, 'correspondent:ana-ruiz', ?, ?, '[]', ?, 'sent')",
            (digest, stamp, stamp, stamp),
        )
        conn.execute(
            "INSERT INTO outbox (id, kind, digest_id, subscriber_id, recipient, message_id, state, attempts,"
            " next_attempt_at, created_at, updated_at, sent_at)"
            " VALUES (?, 'digest', ?, ?, ?, ?, 'sent', 1, ?, ?, ?, ?)",
            (row_id, digest, subscriber_id, recipient, f"<d{row_id}@example.org>", stamp, stamp, stamp, stamp),
        )


def subscriber(store: Store, email: str) -> tuple[str, int, str | None]:
    row = store.conn.execute(
        "SELECT status, bounce_count, complained_at FROM subscribers WHERE email = ?", (email,)
    ).fetchone()
    return row[0], row[1], row[2]


def delivery(store: Store, row_id: int) -> tuple[str, str, str]:
    rows = {r.recipient: r for r in sql.delivery_rows(store, DIGEST)}
    r = rows[RECIPIENTS[row_id]]
    return r.state, r.relay, r.detail


def snapshot(store: Store) -> list[tuple[object, ...]]:
    return [tuple(r) for t in ("subscribers", "outbox") for r in store.query(f"SELECT * FROM {t}")]


# -- VERP -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("row_id", [0, 7, 42, 65_535, 10**12 + 3, 10**18 - 1])
def test_verp_token_is_the_documented_hmac_in_lower_case_base32(row_id: int) -> None:
    # As the module says, computed here with the standard library: ROW-MAC, MAC = the first 80 bits of
    # HMAC-SHA256(secret, "publisher-verp/1" NUL ROW) in lower-case base32. Tokens already out must still parse.
    mac = hmac.new(SECRET, b"publisher-verp/1\0" + str(row_id).encode(), hashlib.sha256).digest()[:10]
    assert verp.token(SECRET, row_id) == f"{row_id}-{base64.b32encode(mac).decode().lower()}"


def test_verp_address_names_its_row_and_keeps_the_bounce_address() -> None:
    sender = verp.envelope_sender(BOUNCES, SECRET, 42)
    assert sender.startswith("bounces+42-") and sender.endswith("@example.org")
    assert verp.parse(SECRET, sender, BOUNCES) == 42
    assert verp.parse(SECRET, sender.upper(), BOUNCES) == 42  # an MTA folding case still names the row
    assert verp.parse(SECRET, f"<{sender}>") == 42
    assert verp.parse(b"another-secret-entirely-000000", sender, BOUNCES) is None
    assert verp.parse(SECRET, sender.replace("@example.org", "@example.net"), BOUNCES) is None
    assert verp.parse(SECRET, sender.replace("bounces+", "news+"), BOUNCES) is None


POSTFIX = (FIXTURES / "postfix-dsn-unknown-user.eml").read_bytes()
_LOCAL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._", min_size=0, max_size=40)


@settings(max_examples=300, deadline=None)
@given(row_id=st.integers(min_value=0, max_value=10**12), forged=_LOCAL, position=st.integers(min_value=0),
       replacement=st.characters(codec="ascii"))  # fmt: skip
def test_forged_or_altered_verp_token_is_never_attributed(row_id: int, forged: str, position: int,
                                                           replacement: str) -> None:  # fmt: skip
    genuine = verp.envelope_sender(BOUNCES, SECRET, row_id)
    assert verp.parse(SECRET, genuine, BOUNCES) == row_id
    # Altered: any one character of the tag changed (case aside) names no row at all.
    local, _, domain = genuine.rpartition("@")
    base, _, tag = local.partition("+")
    i = position % len(tag)
    if tag[i].lower() != replacement.lower():
        altered = f"{base}+{tag[:i]}{replacement}{tag[i + 1 :]}@{domain}"
        assert verp.parse(SECRET, altered, BOUNCES) is None
    # Forged: a tag made without the secret is not ours, whatever it looks like.
    if forged.lower() != tag:
        assert verp.parse(SECRET, f"bounces+{forged}@example.org", BOUNCES) is None
        assert verp.parse(SECRET, f"bounces+{row_id}-{forged}@example.org", BOUNCES) is None
    # Another row's token with this row's number (a tag moved between rows) is refused too.
    other = verp.token(SECRET, row_id + 1)
    moved = f"bounces+{row_id}-{other.partition('-')[2]}@example.org"
    assert verp.parse(SECRET, moved, BOUNCES) is None
    # And through the whole reading of a real DSN: the altered token in the envelope names no row.
    if tag[i].lower() != replacement.lower():
        dsn = POSTFIX.replace(b"bounces+1-wrykqglkwyimociq@example.org", altered.encode("ascii", "replace"))
        assert classify(dsn, secret=SECRET, bounce_address=BOUNCES, envelope_recipients=[altered]).row_id is None


# -- classification ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "row_id", "address", "bounce_class", "status"),
    [
        ("postfix-dsn-unknown-user.eml", "bounce", 1, "nosuchuser@example.org", "hard", "5.1.1"),
        ("exim-failed.eml", "bounce", 2, "gone@example.net", "hard", "5.1.1"),
        ("microsoft-dsn.eml", "bounce", 3, "missing@contoso.com", "hard", "5.1.10"),
        ("exim-mailbox-full.eml", "bounce", 5, "full@example.net", "soft", "4.2.2"),
        ("arf-complaint.eml", "complaint", 4, "reader@yahoo.example", "", ""),
        ("out-of-office.eml", "unknown", 6, "", "", ""),
    ],
)
def test_fixtures_are_classified(name: str, kind: str, row_id: int, address: str, bounce_class: str,
                                 status: str) -> None:  # fmt: skip
    found = classify(fixture(name), secret=SECRET, bounce_address=BOUNCES)
    assert (found.kind, found.row_id) == (kind, row_id)
    if kind == "bounce":
        assert [(f.address, f.bounce_class, f.status) for f in found.failures] == [(address, bounce_class, status)]
    if kind == "complaint":
        assert (found.address, found.feedback_type) == (address, "abuse")
        assert found.original_ids == ("<digest-4.f0e1d2@example.org>",)


def test_the_postfix_fixture_is_what_postfix_wrote() -> None:
    data = fixture("postfix-dsn-unknown-user.eml")
    assert b"X-Postfix-Queue-ID:" in data and b"Reporting-MTA: dns; mail.example.org" in data
    assert b"From: Mail Delivery System <MAILER-DAEMON@mail.example.org>" in data


# -- the rules ----------------------------------------------------------------------------------------------


def test_a_dsn_after_the_relays_250_flips_the_row_to_bounced(config: Config) -> None:
    with Store(config.paths.database) as store:
        sent_rows(store)
        assert delivery(store, 1)[:2] == ("accepted", "relay.example.org:587")
        received = bounces.receive(store, config, fixture("postfix-dsn-unknown-user.eml"))
        assert (received.kind, received.row_id, received.done) == ("bounce", 1, True)
        state, relay, detail = delivery(store, 1)
        assert (state, relay) == ("bounced later", "relay.example.org:587")
        assert detail.startswith("5.1.1") and "unknown user" in detail
        assert subscriber(store, "nosuchuser@example.org")[:2] == ("confirmed", 1)
        assert delivery(store, 2)[0] == "accepted"  # nobody else's row moved


def test_a_delay_warning_is_noted_and_not_counted(config: Config) -> None:
    warning = fixture("postfix-dsn-unknown-user.eml").replace(
        b"Action: failed\nStatus: 5.1.1", b"Action: delayed\nStatus: 4.4.1"
    )
    assert b"Action: delayed" in warning
    with Store(config.paths.database) as store:
        sent_rows(store)
        received = bounces.receive(store, config, warning)
        assert (received.kind, received.row_id, received.done) == ("delayed", 1, True)
        assert delivery(store, 1)[0] == "deferred by relay"
        assert subscriber(store, "nosuchuser@example.org")[:2] == ("confirmed", 0)
        # The failure that follows still counts.
        bounces.receive(store, config, fixture("postfix-dsn-unknown-user.eml"))
        assert delivery(store, 1)[0] == "bounced later"
        assert subscriber(store, "nosuchuser@example.org")[:2] == ("confirmed", 1)


def test_the_same_report_twice_counts_once(config: Config) -> None:
    with Store(config.paths.database) as store:
        sent_rows(store)
        bounces.receive(store, config, fixture("exim-failed.eml"))
        again = bounces.receive(store, config, fixture("exim-failed.eml"))
        assert "not counted again" in again.action
        assert subscriber(store, "gone@example.net")[:2] == ("confirmed", 1)


def test_past_the_limit_the_subscriber_is_bounced_and_gets_no_further_mail(config: Config) -> None:
    with Store(config.paths.database) as store:
        subs = sent_rows(store)
        sub = subs[3]
        later_row(store, sub, RECIPIENTS[3], T0 + timedelta(days=1), 30)
        with store.transaction() as conn:  # and one more digest waiting to go
            conn.execute(
                "INSERT INTO outbox (id, kind, digest_id, subscriber_id, recipient, message_id, state, attempts,"
                " next_attempt_at, created_at, updated_at) VALUES (31, 'digest', NULL, ?, ?, '<q@x>', 'queued', 0,"
                " ?, ?, ?)",
                (sub, RECIPIENTS[3], iso(T0), iso(T0), iso(T0)),
            )
        bounces.receive(store, config, fixture("microsoft-dsn.eml"))
        assert subscriber(store, RECIPIENTS[3])[:2] == ("confirmed", 1)
        # The second hard bounce: for the later message, found by its token in the envelope recipient.
        second = fixture("microsoft-dsn.eml").replace(b"bounces+3-2aovpw5brnp5qmfy", b"someone-else")
        envelope = [verp.envelope_sender(BOUNCES, SECRET, 30)]
        received = bounces.receive(store, config, second, envelope_recipients=envelope)
        assert received.row_id == 30 and "now bounced" in received.action
        assert subscriber(store, RECIPIENTS[3])[:2] == ("bounced", 2)
        assert store.scalar("SELECT COUNT(*) FROM outbox WHERE id = 31") == 0  # the queued digest is withdrawn


def test_in_session_and_later_bounces_count_by_one_rule(config: Config) -> None:
    """A 550 in the session and a DSN later are both hard bounces toward the same limit."""
    with Store(config.paths.database) as store:
        subs = sent_rows(store)
        with store.transaction():
            bounces.in_session(store, 2, subs[2], 550, "550 5.1.1 <gone@example.net>: no such user", 2, iso(T0))
        assert subscriber(store, "gone@example.net")[:2] == ("confirmed", 1)
        later_row(store, subs[2], "gone@example.net", T0 + timedelta(days=1), 20)
        dsn = fixture("exim-failed.eml")
        received = bounces.receive(store, config, dsn, envelope_recipients=[verp.envelope_sender(BOUNCES, SECRET, 20)])
        assert received.row_id == 20
        assert subscriber(store, "gone@example.net")[:2] == ("bounced", 2)


def test_a_complaint_unsubscribes_at_once_and_is_recorded(config: Config) -> None:
    with Store(config.paths.database) as store:
        sent_rows(store)
        received = bounces.receive(store, config, fixture("arf-complaint.eml"))
        assert (received.kind, received.row_id) == ("complaint", 4)
        status, _, complained_at = subscriber(store, "reader@yahoo.example")
        assert status == "unsubscribed" and complained_at is not None
        assert delivery(store, 4)[0] == "complained"
        assert inbound_log.counts(store) == {"complaint": 1}


def test_a_complaint_is_attributed_by_the_original_message_id_without_a_token(config: Config) -> None:
    with Store(config.paths.database) as store:
        sent_rows(store)
        data = fixture("arf-complaint.eml").replace(b"bounces+4-jix6uueoka3mthxz", b"bounces")
        received = bounces.receive(store, config, data)
        assert (received.kind, received.row_id) == ("complaint", 4)
        assert subscriber(store, "reader@yahoo.example")[0] == "unsubscribed"


def test_an_unknown_message_sits_in_quarantine_untouched(config: Config) -> None:
    data = fixture("out-of-office.eml")
    with Store(config.paths.database) as store:
        sent_rows(store)
        before = snapshot(store)
        received = bounces.receive(store, config, data)
        assert received.kind == "unknown" and received.quarantined is not None
        assert received.quarantined.parent == config.bounces.quarantine / "new"
        assert received.quarantined.read_bytes() == data
        assert snapshot(store) == before  # no subscriber and no row changed
        assert inbound_log.counts(store) == {"unknown": 1}


def test_a_forged_token_in_a_real_dsn_names_nothing_and_is_quarantined(config: Config) -> None:
    forged = fixture("postfix-dsn-unknown-user.eml").replace(b"wrykqglkwyimociq", b"wrykqglkwyimocia")
    forged = forged.replace(b"<digest-1.a1b2c3@example.org>", b"<made-up@example.org>")
    with Store(config.paths.database) as store:
        sent_rows(store)
        received = bounces.receive(store, config, forged)
        assert received.row_id is None and not received.done and received.quarantined is not None
        assert delivery(store, 1)[0] == "accepted"
        assert subscriber(store, "nosuchuser@example.org")[:2] == ("confirmed", 0)


def test_mail_to_the_unsubscribe_address_unsubscribes_its_sender(config: Config) -> None:
    data = (
        b"From: Seven <SEVEN@example.net>\r\nTo: unsubscribe@example.org\r\nSubject: unsubscribe\r\n"
        b"Message-ID: <u1@example.net>\r\n\r\nunsubscribe\r\n"
    )
    with Store(config.paths.database) as store:
        sent_rows(store)
        received = bounces.receive(store, config, data, envelope_recipients=["unsubscribe@example.org"])
        assert received.kind == "unsubscribe" and received.done
        assert subscriber(store, "seven@example.net")[0] == "unsubscribed"
        assert subscriber(store, "two@example.net")[0] == "confirmed"


def soft_dsn(row_id: int) -> tuple[bytes, list[str]]:
    return fixture("exim-mailbox-full.eml"), [verp.envelope_sender(BOUNCES, SECRET, row_id)]


def test_soft_bounces_count_only_when_they_repeat_over_the_configured_days(config: Config) -> None:
    assert config.bounces.soft_days == 3
    with Store(config.paths.database) as store:
        sub = sent_rows(store)[5]
        for n in (1, 2, 3):
            later_row(store, sub, RECIPIENTS[5], T0 + timedelta(days=n), 50 + n)
        data, _ = soft_dsn(5)
        first = bounces.receive(store, config, data)
        assert "not counted yet" in first.action
        for n in (1, 2):
            bounces.receive(store, config, data, envelope_recipients=soft_dsn(50 + n)[1])
        assert subscriber(store, RECIPIENTS[5])[1] == 0  # three in a row over two days: not yet
        third = bounces.receive(store, config, data, envelope_recipients=soft_dsn(53)[1])
        assert "counted" in third.action and "not counted" not in third.action
        assert subscriber(store, RECIPIENTS[5])[1] == 1


def test_a_later_delivery_resets_the_soft_streak(config: Config) -> None:
    with Store(config.paths.database) as store:
        sub = sent_rows(store)[5]
        for n in (1, 2, 3, 4):
            later_row(store, sub, RECIPIENTS[5], T0 + timedelta(days=n), 50 + n)
        data, _ = soft_dsn(5)
        bounces.receive(store, config, data)
        bounces.receive(store, config, data, envelope_recipients=soft_dsn(51)[1])
        # The digest of day 2 was delivered (no report came back for it); days 3 and 4 bounce soft again.
        bounces.receive(store, config, data, envelope_recipients=soft_dsn(53)[1])
        fourth = bounces.receive(store, config, data, envelope_recipients=soft_dsn(54)[1])
        assert "2 in a row" in fourth.action
        assert subscriber(store, RECIPIENTS[5])[1] == 0


def test_reset_forgets_an_addresses_bounces(config: Config) -> None:
    with Store(config.paths.database) as store:
        subs = sent_rows(store)
        with store.transaction():
            for _ in range(2):
                subscriber_sql.count_bounce(store, subs[2], 2, iso(T0))
        assert subscriber(store, "gone@example.net")[:2] == ("bounced", 2)
        assert bounces.reset(store, "Gone@Example.net")
        assert subscriber(store, "gone@example.net")[:2] == ("confirmed", 0)
        assert not bounces.reset(store, "nobody@example.net")


def test_the_watched_maildir_moves_each_message_once_it_is_safe(config: Config, tmp_path: Path) -> None:
    inbox = tmp_path / "bounce-box"
    for sub in ("new", "cur", "tmp"):
        (inbox / sub).mkdir(parents=True)
    names = ["postfix-dsn-unknown-user.eml", "arf-complaint.eml", "out-of-office.eml"]
    for i, name in enumerate(names):
        (inbox / "new" / f"{i}.msg").write_bytes(fixture(name))
    with Store(config.paths.database) as store:
        sent_rows(store)
        done = bounces.process_maildir(store, config, inbox, secret=SECRET)
        assert sorted(r.kind for r in done) == ["bounce", "complaint", "unknown"]
        assert delivery(store, 1)[0] == "bounced later"
    assert not list((inbox / "new").iterdir())
    processed = sorted(p.read_bytes() for p in (config.bounces.processed / "new").iterdir())
    assert processed == sorted([fixture(names[0]), fixture(names[1])])
    assert [p.read_bytes() for p in (config.bounces.quarantine / "new").iterdir()] == [fixture(names[2])]


def _wrapped(about: str, *, encoding: str) -> bytes:
    """A report whose only mention of ``about`` is inside the original message, encoded."""
    from email.message import EmailMessage

    original = EmailMessage()
    original["To"] = about
    original["Subject"] = "Digest"
    original.set_content("Hello", cte=encoding)
    report = EmailMessage()
    report["From"] = "MAILER-DAEMON@relay.example"
    report["Subject"] = "Undelivered"
    report.set_content("This message could not be delivered.")
    report.add_attachment(original.as_bytes(), maintype="application", subtype="octet-stream", filename="orig.eml")
    return report.as_bytes()


def test_forgetting_erases_the_kept_mail_that_names_the_person(config: Config) -> None:
    dsn = fixture("postfix-dsn-unknown-user.eml")  # names nosuchuser@example.org in its text and report
    kept = {
        "dsn": bounces.keep(config.bounces.quarantine, dsn),
        "shouting": bounces.keep(config.bounces.processed, dsn.replace(b"nosuchuser@", b"NoSuchUser@")),
        "encoded": bounces.keep(config.bounces.quarantine, _wrapped("ann@example.org", encoding="base64")),
        "longer": bounces.keep(config.bounces.quarantine, _wrapped("joann@example.org", encoding="7bit")),
        "subdomain": bounces.keep(config.bounces.processed, b"To: ann@example.org.uk\n\nHi\n"),
        "other": bounces.keep(config.bounces.quarantine, fixture("exim-failed.eml")),
    }
    assert b"ann@example.org" not in kept["encoded"].read_bytes()  # only in the base64 part

    assert bounces.erase_kept(config, "nosuchuser@example.org") == 2
    assert [k for k, path in kept.items() if not path.exists()] == ["dsn", "shouting"]
    assert bounces.erase_kept(config, "ann@example.org") == 1
    assert [k for k, path in kept.items() if path.exists()] == ["longer", "subdomain", "other"]
    assert bounces.erase_kept(config, "ann@example.org") == 0
