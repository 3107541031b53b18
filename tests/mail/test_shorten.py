"""Digests shortened between blocks: a long release note keeps its headings, lists and code blocks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.config import Config
from publisher.content import markup
from publisher.mail import digests, messages
from publisher.mail import subscribers as subs
from publisher.mail.shorten import VOID, cut_html
from publisher.store import Store
from tests.mailhelpers import NOW, add_item, outbox_rows, parse, parts


@dataclass
class Node:
    tag: str
    attrs: tuple[tuple[str, str | None], ...] = ()
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def find(self, tag: str) -> list[Node]:
        found = [self] if self.tag == tag else []
        for child in self.children:
            if isinstance(child, Node):
                found += child.find(tag)
        return found


class StrictTree(HTMLParser):
    """HTML → a tree of Nodes; fails on an end tag that does not close the innermost open element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, tuple(attrs))
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if data.strip() or self.stack[-1].tag in ("pre", "code"):
            self.stack[-1].children.append(data)


def tree(fragment: str) -> Node:
    parser = StrictTree()
    parser.feed(fragment)
    parser.close()
    assert parser.stack == [parser.root], f"left open: {[n.tag for n in parser.stack[1:]]}"
    return parser.root


def blocks(node: Node) -> list[Node]:
    return [c for c in node.children if isinstance(c, Node)]


def release_note(versions: int) -> str:
    """Markdown shaped like a project's History file: per version, headings, bullet lists, a code block."""
    out = []
    for v in range(versions, 0, -1):
        out.append(f"## 4.{v}.0 / 2026-02-{v % 28 + 1:02d}\n")
        out.append("### Bug Fixes\n")
        out += [f"  * Fix `site.url` < 2 & caching in case {v}.{i} ([#{9000 + i}](/pull/{9000 + i}))"
                for i in range(12)]  # fmt: skip
        out.append("\n### Minor Enhancements\n")
        out += [f"  * Allow `include_relative` in layouts, part {v}.{i}" for i in range(8)]
        out.append("\nUpgrade with:\n")
        out.append(f'```ruby\ngem "jekyll", "~> 4.{v}"\n  # indented: keep me\nbundle update jekyll\n```\n')
    return "\n".join(out)


def section_html(body: str) -> str:
    return markup.render(body, "markdown", page_url="https://news.example.org/notes/")


def test_cut_keeps_whole_blocks_and_closes_the_one_it_cuts_into() -> None:
    source = section_html(release_note(3))
    whole = blocks(tree(source))
    for limit in (200, 700, 1500, 2500):
        kept, cut = cut_html(source, limit)
        assert cut and len(kept) <= limit + 40  # the end tags of what was open
        got = blocks(tree(kept))
        assert got, limit
        # Every block but the last is the original block, unchanged.
        assert got[:-1] == whole[: len(got) - 1]
        last, original = got[-1], whole[len(got) - 1]
        assert last.tag == original.tag
        if last != original:
            # A list cut between its items: the items kept are the original items. Only when no whole item
            # fits is the first one cut, between words.
            assert last.tag in ("ul", "ol"), (limit, last.tag)
            items = blocks(last)
            assert items and items[:-1] == blocks(original)[: len(items) - 1]
            if items[-1] != blocks(original)[len(items) - 1]:
                assert len(items) == 1 and items[0].text().endswith("…"), limit
        # Never ends on a heading with nothing under it.
        assert got[-1].tag not in ("h1", "h2", "h3", "h4")


def test_cut_of_a_code_block_keeps_whole_lines() -> None:
    code = "\n".join(f"    line_{i} = compute({i}) if {i} < 10 else None" for i in range(200))
    source = section_html(f"```python\n{code}\n```\n")
    kept, cut = cut_html(source, 600)
    assert cut
    pre = tree(kept).find("pre")
    assert len(pre) == 1
    lines = pre[0].text().rstrip("\n").split("\n")
    assert 3 < len(lines) < 20
    assert lines == code.split("\n")[: len(lines)]  # whole lines, indentation kept


def test_cut_of_one_long_paragraph_ends_between_words() -> None:
    source = section_html("The harbour & the < river rose again today. " * 100)
    kept, cut = cut_html(source, 300)
    assert cut and kept.endswith("…</p>")
    text = tree(kept).text()
    assert text.startswith("The harbour & the < river rose")
    assert text[:-1].rstrip() in ("The harbour & the < river rose again today. " * 100)


def test_short_sections_stay_whole() -> None:
    source = section_html(release_note(1))
    assert cut_html(source, len(source)) == (source, False)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(st.sampled_from("ab <>&é\"' "), min_size=1, max_size=40).map(lambda t: f"Para {t}.\n"),
            st.integers(1, 5).map(lambda n: "\n".join(f"- item {i} with `code` & <tag>" for i in range(n)) + "\n"),
            st.integers(1, 4).map(lambda n: "```\n" + "\n".join(f"  x{i} < y" for i in range(n)) + "\n```\n"),
            st.sampled_from(["## Heading\n", "> quoted *text* here\n", "1. one\n2. two\n   - nested\n"]),
        ),
        min_size=1,
        max_size=12,
    ),
    st.integers(1, 800),
)
def test_any_cut_is_balanced_and_a_prefix_of_the_source(pieces: list[str], limit: int) -> None:
    source = section_html("\n".join(pieces))
    kept, cut = cut_html(source, limit)
    tree(kept)  # balanced: raises otherwise
    if not cut:
        assert kept == source
        return
    body = kept
    while body.endswith(">") and body[body.rfind("<") + 1 : body.rfind("<") + 2] == "/":
        body = body[: body.rfind("<")]  # the end tags added
    body = body.removesuffix("…")
    assert source.startswith(body.rstrip(" ,;:.-\n")) or source.startswith(body)


def test_long_release_note_digest_fits_and_keeps_its_structure(
    make_config: Callable[..., Config], store: Store
) -> None:
    config = make_config()
    note = release_note(60)
    assert len(section_html(note)) > 150_000
    add_item(store, "notes", "Release notes", [("Ana Ruiz", note)])
    add_item(store, "short", "A short piece", [("Ana Ruiz", "Just a paragraph.")])
    subs.add(store, "a@example.org", "A", [subs.parse_follow("ana-ruiz")], confirmed=True)
    digests.queue(config, store, now=NOW)
    composer = messages.Composer(config, config.paths.database)
    try:
        msg = parse(composer(outbox_rows(store, "digest")[0]).data)
    finally:
        composer.close()
    html_part = msg.get_body(("html",))
    assert html_part is not None
    assert len(html_part.get_payload(decode=False).encode()) <= config.digest.max_html_bytes
    text, page = parts(msg)
    doc = tree(page.split("<body", 1)[1].split(">", 1)[1].rsplit("</body>", 1)[0])
    entries = [td for td in doc.find("td") if ("class", "entry") in td.attrs]
    assert len(entries) == 2
    notes = next(e for e in entries if "Release notes" in e.text())
    # Much of the note is kept (the room is shared out, not a fixed excerpt), in its own shape.
    headings = [h.text() for h in notes.find("h2")]
    assert len(headings) > 5 and headings[:2] == ["4.60.0 / 2026-02-05", "4.59.0 / 2026-02-04"]
    # The entry's title is the first h3; the note's own h3 headings follow.
    assert [h.text() for h in notes.find("h3")][:3] == ["Release notes", "Bug Fixes", "Minor Enhancements"]
    items = [li.text() for li in notes.find("li")]
    assert items[0] == "Fix site.url < 2 & caching in case 60.0 (#9000)"
    assert len(items) > 60
    codes = [p.text() for p in notes.find("pre")]
    assert codes[0] == 'gem "jekyll", "~> 4.60"\n  # indented: keep me\nbundle update jekyll\n'
    assert "Read more" in notes.text()
    # The short piece is whole, and the text part carries the same shape: bullets and the code lines.
    assert "Just a paragraph." in page and "Just a paragraph." in text
    assert "- Fix site.url < 2 & caching in case 60.0 (#9000" in text
    assert "  # indented: keep me" in text
    assert "Read more: https://news.example.org/2026/03/notes/" in text
