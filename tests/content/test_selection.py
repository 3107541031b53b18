"""Which files are posts (include/exclude globs, page bundles, undated pages), dates kept only in a path,
authors data, and the id authority: through the real scanner and build."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import feedparser
import pytest

from publisher import config as config_mod
from publisher.config import Config
from publisher.content import catalog, ids, selection
from publisher.content.scanner import scan
from publisher.errors import ConfigError
from publisher.feeds.build import build
from publisher.store import Store
from tests.content.test_scanner import put
from tests.readers_helpers import read


@pytest.mark.parametrize(
    ("path", "pattern", "expected"),
    [
        ("README.md", "README*", True),
        ("docs/README.md", "README*", True),
        ("_layouts/post.md", "_layouts/", True),
        ("a/_layouts/post.md", "_layouts/", True),
        ("_layouts", "_layouts/", False),
        ("drafts/x.md", "drafts/*", True),
        ("drafts/deep/x.md", "drafts/*", True),
        ("posts/drafts/x.md", "drafts/*", False),
        ("posts/drafts/x.md", "**/drafts/*", True),
        ("posts/x.md", "*.txt", False),
    ],
)
def test_globs(path: str, pattern: str, expected: bool) -> None:
    assert selection.matches(path, pattern) is expected


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ('+++\ntitle = "A"\npath = "2024/02/28/some-slug"\n+++\nText.', "2024-02-28"),
        ('+++\ntitle = "A"\naliases = ["releases/1.0", "2019/05/23/x.html"]\n+++\nText.', "2019-05-23"),
        ("---\ntitle: A\npermalink: /blog/2021-07-01-slug/\n---\nText.", "2021-07-01"),
        ('---\ntitle: A\nurl: "/2020/1/9/slug"\n---\nText.', "2020-01-09"),
    ],
)
def test_dates_kept_only_in_a_front_matter_path(text: str, day: str) -> None:
    item = read("post.md", text)
    assert item.dated and item.published.date().isoformat() == day
    assert item.origin("published").startswith("front matter")


def test_not_posts_are_left_out_and_counted(config: Config, store: Store, caplog: pytest.LogCaptureFixture) -> None:
    put(config, "index.md", "---\ntitle: Blog\nlayout: list\n---\nAll posts.")  # a listing page, no date
    put(config, "releases/latest.md", '+++\ntemplate = "latest.html"\n+++\n')  # a redirect stub
    put(config, "reach/index.md", '+++\ntitle = "Reach"\npath = "2017/06/27/reach"\n+++\nApply below.')
    put(config, "reach/application.txt", "Application form\n\n1. Your name:\n")  # an asset of the bundle
    put(config, "_layouts/post.md", "---\ntitle: Layout\ndate: 2026-01-01\n---\nx")
    put(config, "README.md", "# Read me\n\nThis is the repository.")
    put(config, "2026-03-01-first.md", "---\ntitle: First\n---\nText.")
    put(config, "notes/undated.md", "A note without any date.")  # no front matter: a post with the mtime
    caplog.set_level("INFO")
    report = scan(config, store)
    assert sorted(report.added) == ["2026-03-01-first", "notes/undated", "reach/index"]
    assert report.left_out == {
        selection.LEFT_OUT_UNDATED: 2,
        selection.LEFT_OUT_BUNDLE_ASSET: 1,
        selection.LEFT_OUT_EXCLUDED: 2,  # README.md, _layouts/post.md
    }
    assert report.undated == 1
    summaries = [r.getMessage() for r in caplog.records if "have no date" in r.getMessage()]
    assert summaries == ["1 file(s) have no date; their modification time was used"]


def test_include_limits_what_is_read(make_config: Callable[..., Config], store: Store) -> None:
    config = make_config('[content]\ninclude = ["_posts/*"]\nexclude = ["_posts/private-*"]\n')
    put(config, "_posts/2026-03-01-a.md", "---\ntitle: A\n---\nText.")
    put(config, "_posts/private-2026-03-02-b.md", "---\ntitle: B\n---\nText.")
    put(config, "about.md", "---\ntitle: About\ndate: 2026-01-01\n---\nText.")
    report = scan(config, store)
    assert report.added == ["_posts/2026-03-01-a"]
    assert report.left_out == {selection.LEFT_OUT_NOT_INCLUDED: 1, selection.LEFT_OUT_EXCLUDED: 1}


def test_authors_data_names_handles(site: Path, make_config: Callable[..., Config]) -> None:
    (site / "content" / "_data").mkdir(parents=True)
    (site / "content" / "_data" / "authors.yml").write_text(
        "jdoe:\n  name: Jane Doe\n  role: Harbour editor\nbot:\n  name: Release Bot\n  subscribable: false\n",
        encoding="utf-8",
    )
    config = make_config('[content.authors.asmith]\nname = "Anna Smith"\nrole = "Data desk"\n')
    put(config, "2026-03-01-a.md", "---\ntitle: A\nauthor: jdoe\n---\nText.")
    put(config, "2026-03-02-b.md", "---\ntitle: B\nauthors: [asmith, bot]\n---\nText.")
    with Store(config.paths.database) as store:
        build(config, store)
        people = {c.slug: (c.name, c.role) for c in catalog.correspondents(store)}
        assert people == {
            "jane-doe": ("Jane Doe", "Harbour editor"),
            "anna-smith": ("Anna Smith", "Data desk"),
            "release-bot": ("Release Bot", ""),
        }
        assert [c.slug for c in catalog.subscribable_correspondents(store)] == ["anna-smith", "jane-doe"]
        # A change of the authors data is an edit of every file that names a handle.
        (site / "content" / "_data" / "authors.yml").write_text("jdoe:\n  name: Jane Q. Doe\n", encoding="utf-8")
        build(config, store)
        assert "jane-q-doe" in {c.slug for c in catalog.correspondents(store)}
        assert "jane-doe" not in {c.slug for c in catalog.correspondents(store)}


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "10.0.0.5", "intranet", "box.local"])
def test_loopback_and_bare_ip_hosts_never_name_ids(host: str) -> None:
    assert not ids.is_real_host(host)


def test_configured_authority_must_be_a_real_name(site: Path) -> None:
    path = site / "publisher.toml"
    path.write_text('[site]\nbase_url = "http://127.0.0.1:8080/"\nid_authority = "127.0.0.1"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"site\.id_authority"):
        config_mod.load(path, environ={}, must_exist=True)


def test_ids_are_provisional_until_a_real_host_then_never_change(site: Path) -> None:
    path = site / "publisher.toml"
    path.write_text('[site]\nbase_url = "http://127.0.0.1:8080/"\n', encoding="utf-8")
    config = config_mod.load(path, environ={}, must_exist=True)
    put(config, "2026-03-01-a.md", "---\ntitle: A\n---\nText.")
    with Store(config.paths.database) as store:
        build(config, store)
        feed = feedparser.parse((config.paths.output / "feed.atom").read_bytes())
        assert feed.entries[0].id.startswith(f"tag:{ids.PROVISIONAL},")
        assert "127.0.0.1" not in feed.feed.id
        path.write_text('[site]\nbase_url = "https://news.example.org/"\n', encoding="utf-8")
        config = config_mod.load(path, environ={}, must_exist=True)
        build(config, store)
        first = feedparser.parse((config.paths.output / "feed.atom").read_bytes()).entries[0].id
        assert first == "tag:news.example.org,2026-03-01:2026-03-01-a"
        path.write_text('[site]\nbase_url = "https://moved.example.net/"\n', encoding="utf-8")
        config = config_mod.load(path, environ={}, must_exist=True)
        build(config, store)
        assert feedparser.parse((config.paths.output / "feed.atom").read_bytes()).entries[0].id == first


def test_unchanged_files_are_chosen_again_when_the_rules_or_their_folder_change(
    make_config: Callable[..., Config], store: Store
) -> None:
    """A walk trusts an unchanged file's record only while the rules and its folder are the same."""
    config = make_config()
    post = "---\ntitle: {t}\ndate: 2026-03-0{d}\n---\nText.\n"
    put(config, "2026/keep.md", post.format(t="Keep", d=1))
    put(config, "2026/private-notes.md", post.format(t="Private", d=2))
    put(config, "2026/slug/notes.md", post.format(t="Notes", d=3))
    put(config, "2026/brief.txt", "Ferries\n\nThe ferries run again.\n")
    first = scan(config, store)
    assert len(first.added) == 4
    assert scan(config, store).unchanged == 4
    # New rules: the unchanged file they leave out leaves the feeds.
    config = make_config('[content]\nexclude = ["private-*"]\n')
    report = scan(config, store)
    assert report.removed == ["2026/private-notes"] and report.left_out[selection.LEFT_OUT_EXCLUDED] == 1
    # An index.md makes its folder a page bundle: the unchanged file beside it is an asset now.
    put(config, "2026/slug/index.md", post.format(t="Slug", d=4))
    report = scan(config, store)
    assert report.added == ["2026/slug/index"] and report.removed == ["2026/slug/notes"]
    # A sidecar beside an unchanged brief pins its title: the brief is read again.
    put(config, "2026/brief.txt.toml", 'title = "Island ferries"\n')
    report = scan(config, store)
    assert report.updated == ["2026/brief"]
    titles = {item.title for item in catalog.site_items(store, catalog.Context.load(config, store), 10)}
    assert titles == {"Keep", "Slug", "Island ferries"}
