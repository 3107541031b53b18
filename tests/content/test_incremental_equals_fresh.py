"""An incremental build's output equals a fresh build's of the same folder, byte for byte, after any sequence
of edits: roles given and taken away, co-authors added and dropped, sections and files deleted, correspondents
renamed, files renamed (with an id in their front matter, the only way a fresh build can know the old one).

Item ids are the exception by design: an item renamed without an ``id`` keeps its first id in the store (ids
readers see never change), which a fresh build cannot know; so renames here carry an id.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publisher import config as config_mod
from publisher.feeds.build import build
from publisher.store import Store
from tests.conftest import write_config

NAMES = ["Ana Ruiz", "Emily Post", "Tom Marshall", "Mira Head", "Ruth Judge"]
ROLES = ["", "Lisbon correspondent", "Nordic business correspondent", "Harbour editor"]
# 2026-01-01, before every post's date: an edit moves a file's time on by a second, as a real edit would
# (a change of the same size within the same second is not seen by any scanner).
MTIME = 1_767_225_600


@dataclass
class Post:
    ident: str
    day: int
    authors: list[str]
    sections: list[tuple[str, str, str]] = field(default_factory=list)  # name, role, text

    def text(self) -> str:
        authors = ", ".join(f'"{a}"' for a in self.authors)
        lines = [
            "---",
            f"id: {self.ident}",
            f"title: Post {self.ident}",
            f"date: 2026-02-{self.day:02d}",
            f"authors: [{authors}]",
            "---",
            "",
            f"Lead text of {self.ident}.",
        ]
        for name, role, text in self.sections:
            lines += ["", f"By {name}, {role}" if role else f"By {name}, Guest", "", text]
        return "\n".join(lines) + "\n"


edits = st.lists(
    st.tuples(
        st.sampled_from(
            ["role", "coauthor", "drop-coauthor", "section", "drop-section", "delete", "rename", "rename-person", "add"]
        ),
        st.integers(0, 50),
        st.integers(0, 50),
    ),
    min_size=1,
    max_size=8,
)


def apply(posts: dict[str, Post], files: dict[str, str], edit: tuple[str, int, int], counter: list[int]) -> None:
    kind, a, b = edit
    if kind == "add" or not files:
        counter[0] += 1
        ident = f"p{counter[0]}"
        posts[ident] = Post(ident, 1 + a % 27, [NAMES[b % len(NAMES)]], [(NAMES[a % len(NAMES)], ROLES[1], "Text.")])
        files[ident] = f"{ident}.md"
        return
    ident = sorted(files)[a % len(files)]
    post = posts[ident]
    if kind == "role" and post.sections:
        i = b % len(post.sections)
        name, _, text = post.sections[i]
        post.sections[i] = (name, ROLES[b % len(ROLES)], text)
    elif kind == "coauthor":
        post.authors = list(dict.fromkeys([*post.authors, NAMES[b % len(NAMES)]]))
    elif kind == "drop-coauthor" and len(post.authors) > 1:
        post.authors.pop(b % len(post.authors))
    elif kind == "section":
        post.sections.append((NAMES[b % len(NAMES)], ROLES[(a + b) % len(ROLES)], f"Section {a}."))
    elif kind == "drop-section" and post.sections:
        post.sections.pop(b % len(post.sections))
    elif kind == "delete":
        del files[ident], posts[ident]
    elif kind == "rename":
        files[ident] = f"moved/{b}-{ident}.md"
    elif kind == "rename-person":
        old, new = NAMES[a % len(NAMES)], NAMES[b % len(NAMES)]
        post.authors = list(dict.fromkeys(new if n == old else n for n in post.authors))
        post.sections = [(new if n == old else n, r, t) for n, r, t in post.sections]


def write(content: Path, posts: dict[str, Post], files: dict[str, str]) -> None:
    wanted = {files[i]: posts[i].text() for i in files}
    for path in list(content.rglob("*.md")):
        rel = path.relative_to(content).as_posix()
        if rel not in wanted:
            path.unlink()
    for rel, text in wanted.items():
        path = content / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stamp = MTIME if not path.exists() else int(path.stat().st_mtime) + 1
            path.write_text(text, encoding="utf-8")
            os.utime(path, (stamp, stamp))


def outputs(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def fresh_build(content: Path, where: Path) -> dict[str, bytes]:
    if where.exists():
        shutil.rmtree(where)
    where.mkdir(parents=True)
    write_config(where, "[feeds]\nper_tag = true\n")
    shutil.rmtree(where / "content")
    shutil.copytree(content, where / "content", copy_function=shutil.copy2)
    config = config_mod.load(where / "publisher.toml", environ={}, must_exist=True)
    with Store(config.paths.database) as store:
        build(config, store)
    return outputs(config.paths.output)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=edits)
def test_incremental_build_equals_fresh_build(tmp_path_factory: object, steps: list[tuple[str, int, int]]) -> None:
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="incr-"))
    try:
        site = root / "site"
        site.mkdir()
        write_config(site, "[feeds]\nper_tag = true\n")
        config = config_mod.load(site / "publisher.toml", environ={}, must_exist=True)
        posts: dict[str, Post] = {}
        files: dict[str, str] = {}
        counter = [0]
        apply(posts, files, ("add", 1, 2), counter)
        apply(posts, files, ("add", 3, 4), counter)
        with Store(config.paths.database) as store:
            write(config.paths.content, posts, files)
            build(config, store)
            for step in steps:
                apply(posts, files, step, counter)
                write(config.paths.content, posts, files)
                build(config, store)
        incremental = outputs(config.paths.output)
        fresh = fresh_build(config.paths.content, root / "fresh")
        assert sorted(incremental) == sorted(fresh)
        for name in fresh:
            assert incremental[name] == fresh[name], name
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_role_case(tmp_path: Path) -> None:
    """The reported case: the only section that gave a correspondent their role is deleted."""
    site = tmp_path / "site"
    site.mkdir()
    write_config(site)
    config = config_mod.load(site / "publisher.toml", environ={}, must_exist=True)
    posts = {
        "a": Post("a", 2, ["Desk"], [("Ana Ruiz", "Lisbon correspondent", "Text.")]),
        "b": Post("b", 3, ["Ana Ruiz"]),
    }
    files = {"a": "a.md", "b": "b.md"}
    with Store(config.paths.database) as store:
        write(config.paths.content, posts, files)
        build(config, store)
        feed = (config.paths.output / "correspondents" / "ana-ruiz" / "feed.atom").read_bytes()
        assert b"Lisbon correspondent" in feed
        posts["a"].sections = []
        write(config.paths.content, posts, files)
        build(config, store)
    incremental = outputs(config.paths.output)
    assert b"Lisbon correspondent" not in incremental["correspondents/ana-ruiz/feed.atom"]
    assert incremental == fresh_build(config.paths.content, tmp_path / "fresh")
