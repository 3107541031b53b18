"""Scopes and feed keys: typed values that read and write the same text the store has always held."""

from __future__ import annotations

import pytest

from publisher.mail.subscribers import parse_follow
from publisher.models import ALL, COMBINED, FeedKey, Scope


@pytest.mark.parametrize("text", ["correspondent:ana-ruiz", "category:world-news", "all", "combined"])
def test_scope_text_round_trips(text: str) -> None:
    scope = Scope.parse(text)
    assert str(scope) == text
    assert Scope.parse(str(scope)) == scope


def test_scope_parts() -> None:
    ana = Scope.parse("correspondent:ana-ruiz")
    assert (ana.kind, ana.value, ana.correspondent, ana.category) == ("correspondent", "ana-ruiz", "ana-ruiz", "")
    news = Scope.parse("category:news")
    assert (news.correspondent, news.category) == ("", "news")
    assert Scope.parse("all") is not ALL and Scope.parse("all") == ALL and str(COMBINED) == "combined"
    assert Scope.of_correspondent("ana-ruiz") == ana
    # A follow's scope is the scope its digest is stored under.
    assert parse_follow("category:News").scope == news and parse_follow("all").scope == ALL
    assert f"digest {ana}" == "digest correspondent:ana-ruiz"


@pytest.mark.parametrize("text", ["", "everyone", "correspondent:", "category", "all:x", "tag:ports"])
def test_not_a_scope(text: str) -> None:
    with pytest.raises(ValueError, match="not a digest scope"):
        Scope.parse(text)


@pytest.mark.parametrize("text", ["site", "correspondent/ana-ruiz", "category/news", "tag/ports"])
def test_feed_key_text_round_trips(text: str) -> None:
    key = FeedKey.parse(text)
    assert str(key) == text and FeedKey.parse(str(key)) == key


@pytest.mark.parametrize("text", ["", "sites", "correspondent", "correspondent/", "site/x", "tags/ports"])
def test_not_a_feed_key(text: str) -> None:
    with pytest.raises(ValueError, match="not a feed key"):
        FeedKey.parse(text)
