"""Signed subscription tokens and the secret they are signed with."""

from __future__ import annotations

import base64
import hmac
import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publisher.config import Config
from publisher.errors import TokenError
from publisher.mail import tokens

SECRET = b"0123456789abcdef0123456789abcdef"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_round_trip_for_each_purpose() -> None:
    for purpose in tokens.PURPOSES:
        token = tokens.make(SECRET, purpose, 42, "Ana@example.org", now=T0)
        assert tokens.verify(SECRET, token, purpose, now=T0) == (42, "Ana@example.org")
        assert all(c.isalnum() or c in "-_." for c in token)


def test_a_token_is_its_payload_and_the_documented_hmac() -> None:
    # Links already in readers' mailboxes must keep working: the MAC is HMAC-SHA256 over version, purpose and
    # payload joined by NUL, computed here with the standard library, for two secrets in turn.
    for secret in (SECRET, b"another secret, long enough to be taken seriously"):
        token = tokens.make(secret, "unsubscribe", 42, "ana@example.org")
        payload = b"42.0.ana@example.org"
        mac = hmac.digest(secret, b"publisher-token/1\0unsubscribe\0" + payload, "sha256")
        b64 = base64.urlsafe_b64encode
        assert token == f"{b64(payload).rstrip(b'=').decode()}.{b64(mac).rstrip(b'=').decode()}"


def test_a_token_works_for_one_purpose_only() -> None:
    token = tokens.make(SECRET, "unsubscribe", 1, "a@example.org")
    for other in ("confirm", "prefs"):
        with pytest.raises(TokenError):
            tokens.verify(SECRET, token, other)


def test_forged_or_edited_tokens_fail() -> None:
    token = tokens.make(SECRET, "unsubscribe", 1, "a@example.org")
    body, sig = token.split(".")
    # Another address or id with the same signature.
    other = tokens.make(SECRET, "unsubscribe", 2, "b@example.org").split(".")[0]
    for bad in (f"{other}.{sig}", f"{body}.{sig[:-2]}AA", f"{body}x.{sig}", "", "abc", "a.b.c", body):
        with pytest.raises(TokenError):
            tokens.verify(SECRET, bad, "unsubscribe")
    with pytest.raises(TokenError):
        tokens.verify(b"another secret of some length", token, "unsubscribe")


@given(st.text(min_size=1, max_size=300))
def test_garbage_never_verifies(garbage: str) -> None:
    with pytest.raises(TokenError):
        tokens.verify(SECRET, garbage, "unsubscribe")


def test_confirm_tokens_expire_and_others_do_not() -> None:
    confirm = tokens.make(SECRET, "confirm", 1, "a@example.org", now=T0)
    assert tokens.verify(SECRET, confirm, "confirm", now=T0 + timedelta(hours=71), max_age_hours=72)
    with pytest.raises(TokenError, match="expired"):
        tokens.verify(SECRET, confirm, "confirm", now=T0 + timedelta(hours=73), max_age_hours=72)
    with pytest.raises(TokenError, match="future"):
        tokens.verify(SECRET, confirm, "confirm", now=T0 - timedelta(hours=1))
    unsub = tokens.make(SECRET, "unsubscribe", 1, "a@example.org", now=T0)
    assert tokens.verify(SECRET, unsub, "unsubscribe", now=T0 + timedelta(days=3650))


def test_secret_from_env_then_config_then_file(make_config: Callable[..., Config], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("PUBLISHER_SECRET", raising=False)
    config = make_config()
    secret_file = config.subscriptions.secret_file
    assert not secret_file.exists()
    generated = tokens.load_secret(config)
    assert len(generated) >= 32 and secret_file.exists()
    assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
    assert tokens.load_secret(config) == generated  # kept across restarts

    configured = make_config('[subscriptions]\nsecret = "from-the-config-file-0123456789"\n')
    assert tokens.load_secret(configured) == b"from-the-config-file-0123456789"
    monkeypatch.setenv("PUBLISHER_SECRET", "from-the-environment-0123456789")
    assert tokens.load_secret(configured) == b"from-the-environment-0123456789"


def test_urls_are_built_on_public_url(make_config: Callable[..., Config]) -> None:
    config = make_config('[subscriptions]\npublic_url = "https://subs.example.org/news"\n')

    class Sub:
        id = 7
        email = "a@example.org"

    url = tokens.unsubscribe_url(config, SECRET, Sub())
    assert url.startswith("https://subs.example.org/news/unsubscribe/")
    assert tokens.verify(SECRET, url.rsplit("/", 1)[1], "unsubscribe") == (7, "a@example.org")
    assert "/preferences/" in tokens.preferences_url(config, SECRET, Sub())
    confirm = tokens.confirm_url(config, SECRET, Sub(), now=T0)
    assert tokens.verify(SECRET, confirm.rsplit("/", 1)[1], "confirm", now=T0) == (7, "a@example.org")
