"""Subscribers: addresses, follows, status changes and CSV import/export, on a real SQLite store."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher.errors import SubscriberError
from publisher.mail import subscribers as subs
from publisher.mail.subscribers import ALL, Follow
from publisher.store import Store


def test_addresses_are_validated_and_the_domain_lower_cased() -> None:
    assert subs.normalise_email("  Bob.Smith@Example.COM ") == "bob.smith@example.com"
    assert subs.normalise_email("user@Bücher.de") == "user@xn--bcher-kva.de"
    for bad in ("", "no-at-sign", "a@b", "two@@example.org", "ü@example.org", "a@example.org\r\nBcc: x@evil.org"):
        with pytest.raises(SubscriberError):
            subs.normalise_email(bad)


def test_follows_parse_all_categories_and_correspondents() -> None:
    assert subs.parse_follow("all") == ALL
    assert subs.parse_follow("category:World News") == Follow("category", "world-news")
    assert subs.parse_follow("laura-bicker") == Follow("correspondent", "laura-bicker")
    assert subs.parse_follow("Laura Bicker") == Follow("correspondent", "laura-bicker")
    assert subs.parse_follows("a; category:B | c") == [
        Follow("correspondent", "a"),
        Follow("category", "b"),
        Follow("correspondent", "c"),
    ]
    assert subs.parse_follows("a b a") == [Follow("correspondent", "a"), Follow("correspondent", "b")]
    for bad in ("", "category:", "!!!", "category:???"):
        with pytest.raises(SubscriberError, match="invalid follow"):
            subs.parse_follow(bad)


def test_names_lose_line_breaks_and_controls() -> None:
    assert subs.clean_name("Ana\r\nBcc: x@evil.org\x00") == "Ana Bcc: x@evil.org"
    assert subs.clean_name("  Zoë   Ó Briain ") == "Zoë Ó Briain"


def test_add_get_and_duplicate(store: Store) -> None:
    sub = subs.add(store, "Ana@Example.org", "Ana", [subs.parse_follow("laura-bicker")])
    assert sub.status == "pending" and sub.email == "ana@example.org"
    assert sub.follows == (Follow("correspondent", "laura-bicker"),)
    assert subs.get(store, sub.id) == sub
    assert subs.get(store, "Ana@EXAMPLE.org") == sub
    # Case-insensitive when unambiguous.
    assert subs.get(store, "ana@example.org") == sub
    assert subs.get(store, "nobody@example.org") is None
    with pytest.raises(SubscriberError, match="already"):
        subs.add(store, "Ana@example.org")


def test_subscribe_pending_merges_and_never_downgrades(store: Store) -> None:
    first = subs.subscribe_pending(store, "a@example.org", "A", [subs.parse_follow("x")])
    assert first.status == "pending"
    subs.confirm(store, first.id)
    again = subs.subscribe_pending(store, "a@example.org", "", [subs.parse_follow("y")])
    assert again.id == first.id and again.status == "confirmed" and again.name == "A"
    assert {f.value for f in again.follows} == {"x", "y"}


def test_unsubscribed_address_needs_a_new_confirmation(store: Store) -> None:
    sub = subs.add(store, "a@example.org", confirmed=True)
    assert subs.unsubscribe(store, sub.id).status == "unsubscribed"
    assert subs.unsubscribe(store, sub.id).status == "unsubscribed"  # idempotent
    with pytest.raises(SubscriberError, match="unsubscribed"):
        subs.confirm(store, sub.id)
    back = subs.subscribe_pending(store, "a@example.org")
    assert back.status == "pending"
    assert subs.confirm(store, sub.id).status == "confirmed"


def test_bounces_mark_bounced_at_the_limit_and_confirm_resets(store: Store) -> None:
    sub = subs.add(store, "a@example.org", confirmed=True)
    assert subs.record_bounce(store, sub.id, 2) is False
    assert subs.record_bounce(store, sub.id, 2) is True
    assert subs.get(store, sub.id).status == "bounced"  # type: ignore[union-attr]
    assert subs.record_bounce(store, sub.id, 2) is False  # already bounced: not "now bounced"
    subs.subscribe_pending(store, "a@example.org")
    fresh = subs.confirm(store, sub.id)
    assert fresh.status == "confirmed" and fresh.bounce_count == 0
    assert subs.record_bounce(store, 999, 1) is False


def test_set_follows_replaces_and_remove_deletes_queued_mail(store: Store) -> None:
    sub = subs.add(store, "a@example.org", follows=[ALL], confirmed=True)
    assert subs.set_follows(store, sub.id, [subs.parse_follow("category:News")]).follows == (
        Follow("category", "news"),
    )
    assert subs.set_follows(store, sub.id, []).follows == ()
    store.conn.execute(
        "INSERT INTO outbox(kind, subscriber_id, recipient, message_id, state, next_attempt_at, created_at,"
        " updated_at) VALUES ('confirm', ?, 'a@example.org', 'm1', 'queued', '', '', '')",
        (sub.id,),
    )
    subs.remove(store, "a@example.org")
    assert subs.get(store, sub.id) is None
    assert store.scalar("SELECT COUNT(*) FROM follows") == 0
    assert store.scalar("SELECT COUNT(*) FROM outbox") == 0
    with pytest.raises(SubscriberError):
        subs.remove(store, "a@example.org")


CSV = """email,name,follows
ana@example.org,Ana,laura-bicker;category:World News
bad-address,Nobody,all
ben@Example.org,Ben,
cat@example.org,Cat,"laura-bicker | tomas-berg"
dup@example.org,Dup,???
"""


def test_import_reports_bad_rows_by_line_and_imports_the_rest(store: Store) -> None:
    report = subs.import_csv(store, CSV)
    assert (report.added, report.updated, report.unchanged) == (3, 0, 0)
    assert [line for line, _ in report.errors] == [3, 6]
    assert "bad-address" in report.errors[0][1] and "???" in report.errors[1][1]
    ana = subs.get(store, "ana@example.org")
    assert ana is not None and ana.status == "confirmed"
    assert set(ana.follows) == {Follow("correspondent", "laura-bicker"), Follow("category", "world-news")}
    assert subs.get(store, "ben@example.org").follows == (ALL,)  # type: ignore[union-attr]
    # Re-import: nothing changes.
    again = subs.import_csv(store, CSV)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
    assert store.scalar("SELECT COUNT(*) FROM subscribers") == 3


def test_import_never_revives_an_unsubscribed_address(store: Store) -> None:
    subs.import_csv(store, CSV)
    ana = subs.get(store, "ana@example.org")
    assert ana is not None
    subs.unsubscribe(store, ana.id)
    subs.import_csv(store, CSV.replace("Ana,", "Ana Maria,"))
    after = subs.get(store, "ana@example.org")
    assert after is not None and after.status == "unsubscribed" and after.name == "Ana Maria"


def test_listmonk_export_with_attributes(store: Store) -> None:
    text = (
        "uuid,email,name,attributes,status,created_at,updated_at\n"
        'u1,lm@example.org,Lee,"{""follows"": [""laura-bicker"", ""category:Politics""], ""city"": ""X""}",'
        "enabled,2024-01-01,2024-01-01\n"
        'u2,block@example.org,Blo,"{}",blocklisted,2024-01-01,2024-01-01\n'
        'u3,broken@example.org,Bro,"{not json",enabled,2024-01-01,2024-01-01\n'
    )
    report = subs.import_csv(store, text)
    assert report.added == 2 and [line for line, _ in report.errors] == [4]
    lee = subs.get(store, "lm@example.org")
    assert lee is not None and lee.status == "confirmed"
    assert set(lee.follows) == {Follow("correspondent", "laura-bicker"), Follow("category", "politics")}
    assert subs.get(store, "block@example.org").status == "unsubscribed"  # type: ignore[union-attr]


def test_export_round_trips(store: Store, tmp_path: Path) -> None:
    subs.import_csv(store, CSV)
    subs.add(store, "p@example.org", "Pending Person", [ALL])
    exported = subs.export_csv(store)
    assert exported.splitlines()[0] == "email,name,follows,status,created_at"
    with Store(tmp_path / "other.db") as other:
        report = subs.import_csv(other, exported)
        assert report.errors == () and report.added == 4
        mine = {(s.email, s.name, s.status, s.follows) for s in subs.iter_subscribers(store)}
        theirs = {(s.email, s.name, s.status, s.follows) for s in subs.iter_subscribers(other)}
        assert mine == theirs
        # A second import of the export is a no-op.
        assert subs.import_csv(other, exported).unchanged == 4


def test_by_token_checks_the_address_still_matches(store: Store) -> None:
    from publisher.errors import TokenError
    from publisher.mail import tokens

    secret = b"0123456789abcdef0123456789abcdef"
    sub = subs.add(store, "a@example.org", confirmed=True)
    token = tokens.make(secret, "prefs", sub.id, sub.email)
    assert subs.by_token(store, secret, token, "prefs") == sub
    with pytest.raises(TokenError):
        subs.by_token(store, secret, token, "unsubscribe")
    # The subscriber is removed and the id goes to someone else (SQLite may reuse it): the old link fails.
    subs.remove(store, sub.id)
    other = subs.add(store, "b@example.org", confirmed=True)
    assert other.id == sub.id
    with pytest.raises(TokenError, match="no longer valid"):
        subs.by_token(store, secret, token, "prefs")
    # A genuine token for the same id with another address does not work either.
    stale = tokens.make(secret, "unsubscribe", other.id, "a@example.org")
    with pytest.raises(TokenError, match="no longer valid"):
        subs.by_token(store, secret, stale, "unsubscribe")


def test_addresses_differing_only_in_case_are_one_subscriber(store: Store) -> None:
    subs.add(store, "Alice@Example.ORG", "Alice", [subs.ALL], confirmed=True)
    with pytest.raises(SubscriberError, match="already"):
        subs.add(store, "alice@example.org")
    assert store.scalar("SELECT count(*) FROM subscribers") == 1


def test_follows_fields_keep_names_with_spaces_whole() -> None:
    assert [str(f) for f in subs.parse_follows("José Pérez")] == ["jose-perez"]
    assert [str(f) for f in subs.parse_follows("Иван Петров")] == ["иван-петров"]
    assert [str(f) for f in subs.parse_follows("ana-ruiz tomas-berg")] == ["ana-ruiz", "tomas-berg"]
    assert [str(f) for f in subs.parse_follows("Ana Ruiz; category:News")] == ["ana-ruiz", "category:news"]
