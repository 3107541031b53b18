"""Markdown and text to safe HTML with absolute links; the XML and one-line text guards."""

from __future__ import annotations

import pytest
from lxml import etree, html

from publisher.content.markup import absolute_url, render
from publisher.text import xml_safe
from tests.readers_helpers import read_example

PAGE = "https://news.example.org/2026/03/02/harbour-week/"
SITE = "https://news.example.org/"


def links(fragment: str) -> list[tuple[str, str, str]]:
    """(tag, attribute, value) of every href and src in ``fragment``."""
    tree = html.fragment_fromstring(fragment, create_parent="div")
    return [(el.tag, attr, el.get(attr)) for el in tree.iter() for attr in ("href", "src") if el.get(attr) is not None]


# --- links ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("[a](other/)", ("a", "href", PAGE + "other/")),
        ("[a](/about/)", ("a", "href", SITE + "about/")),
        ("[a](../../01/)", ("a", "href", "https://news.example.org/2026/03/01/")),
        ("[a](#lisbon)", ("a", "href", PAGE + "#lisbon")),
        ("[a](?page=2)", ("a", "href", PAGE + "?page=2")),
        ("[a](https://port.example/tenders)", ("a", "href", "https://port.example/tenders")),
        ("[a](//cdn.example/x)", ("a", "href", "https://cdn.example/x")),
        ("[a](mailto:desk@example.org)", ("a", "href", "mailto:desk@example.org")),
        ("![i](assets/images/harbour.jpg)", ("img", "src", PAGE + "assets/images/harbour.jpg")),
        ("![i](/assets/my%20photo.jpg)", ("img", "src", SITE + "assets/my%20photo.jpg")),
        ('<img src="assets/x.png" alt="raw html">', ("img", "src", PAGE + "assets/x.png")),
        ('<a href="notes.html">raw</a>', ("a", "href", PAGE + "notes.html")),
    ],
)
def test_relative_links_and_images_become_absolute(markdown: str, expected: tuple[str, str, str]) -> None:
    assert links(render(markdown, "markdown", page_url=PAGE)) == [expected]


def test_example_post_renders_with_absolute_links_only() -> None:
    item = read_example("2026-03-05-dredging-contract.md")
    out = render(item.body, item.body_format, page_url="http://127.0.0.1:8080/2026/03/05/dredging-contract/")
    assert links(out) == [
        ("a", "href", "https://port.example/tenders"),
        ("a", "href", "http://127.0.0.1:8080/2026/03/05/dredging-contract/minutes/2026-03-04.pdf"),
    ]


# --- sanitizing -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "markdown",
    [
        "<script>alert(1)</script>",
        "Text <script>alert(1)</script> more",
        '<img src="x.png" onerror="alert(1)">',
        '<a href="javascript:alert(1)">x</a>',
        '<a href="JaVaScRiPt:alert(1)">x</a>',
        '<a href=" javascript:alert(1)">x</a>',
        "[x](javascript:alert(1))",
        "[x](vbscript:msgbox)",
        '<iframe src="https://evil.example/"></iframe>',
        "<style>body{display:none}</style>",
        '<div style="background:url(javascript:alert(1))" onclick="alert(1)">d</div>',
        '<img src="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=">',
        "<svg><script>alert(1)</script></svg>",
        '<form action="https://evil.example/"><input name="q"></form>',
        "<!-- comment with <script>alert(1)</script> -->",
    ],
)
def test_dangerous_html_is_removed(markdown: str) -> None:
    out = render(markdown, "markdown", page_url=PAGE)
    tree = html.fragment_fromstring(out, create_parent="div")
    for el in tree.iter():
        assert el.tag in ("div", "p", "a", "img"), out
        for name, value in el.attrib.items():
            assert name in ("href", "src", "rel", "alt"), out
            if name in ("href", "src"):
                assert value.startswith(("https://", "mailto:")), out
    for bad in ("<script", "<iframe", "<style", "<form", "<svg", "<!--", "onerror=", "onclick="):
        assert bad not in out.lower(), out


def test_links_get_rel_noopener() -> None:
    out = render("[a](https://x.example/)", "markdown", page_url=PAGE)
    assert 'rel="noopener noreferrer"' in out


def test_markdown_features() -> None:
    text = "# Head\n\n| a | b |\n|---|--:|\n| 1 | 2 |\n\n~~gone~~ **bold** `code`\n\n- one\n- two\n"
    out = render(text, "markdown", page_url=PAGE)
    for fragment in ("<h1>Head</h1>", "<table>", "<td", "<del>gone</del>", "<strong>bold</strong>", "<code>code</code>",
                     "<li>one</li>"):  # fmt: skip
        assert fragment in out
    assert 'title="T"' in render('![alt](a.png "T")', "markdown", page_url=PAGE)


def test_text_format_paragraphs_are_escaped() -> None:
    out = render("a < b & c\n\n<script>alert(1)</script>\nsecond line\n\n\n\nthird", "text", page_url=PAGE)
    assert out == ("<p>a &lt; b &amp; c</p>\n<p>&lt;script&gt;alert(1)&lt;/script&gt;\nsecond line</p>\n<p>third</p>")


def test_render_output_is_well_formed_xml_even_from_hostile_text() -> None:
    body = "Bell\x07 and\x00 NUL, \ufffe, and a lone \ud800 surrogate; <b>unclosed <i>tags"
    for fmt in ("markdown", "text"):
        out = render(body, fmt, page_url=PAGE)  # type: ignore[arg-type]
        etree.fromstring(f"<div>{out}</div>".encode())  # raises if not well-formed
        assert xml_safe(out) == out


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("assets/images/harbour.jpg", SITE, SITE + "assets/images/harbour.jpg"),
        ("/assets/x.jpg", "https://news.example.org/blog/", SITE + "assets/x.jpg"),
        ("https://cdn.example/a.jpg", SITE, "https://cdn.example/a.jpg"),
        ("assets/my photo.jpg", SITE, SITE + "assets/my%20photo.jpg"),
        ("assets/caf%C3%A9.jpg", SITE, SITE + "assets/caf%C3%A9.jpg"),
        ("assets/café.jpg", SITE, SITE + "assets/caf%C3%A9.jpg"),
        ("  assets/x.jpg\n", SITE, SITE + "assets/x.jpg"),
        ("mailto:desk@example.org", SITE, "mailto:desk@example.org"),
    ],
)
def test_absolute_url(url: str, base: str, expected: str) -> None:
    assert absolute_url(url, base) == expected


def test_absolute_url_of_unparseable_url_does_not_raise() -> None:
    assert absolute_url("http://[::1", SITE) == "http://[::1"


def test_gfm_autolinks_bare_urls_and_keeps_them_absolute() -> None:
    out = render("See https://x.example/a and www.example.org today.", "markdown", page_url=PAGE)
    assert '<a href="https://x.example/a"' in out
    assert '<a href="http://www.example.org"' in out


def test_table_alignment_survives_sanitizing() -> None:
    out = render("| a | b |\n|:--|--:|\n| 1 | 2 |\n", "markdown", page_url=PAGE)
    assert '<td align="right">2</td>' in out


def test_rendering_frees_what_cmark_allocates() -> None:
    def rss_kb() -> int:
        with open("/proc/self/status", encoding="ascii") as f:
            return int(f.read().split("VmRSS:")[1].split()[0])

    body = "| a | b |\n|---|---|\n| ~~x~~ | https://x.example/ |\n\n" + "Words and *more* words.\n\n" * 2000
    render(body, "markdown", page_url=PAGE)
    before = rss_kb()
    for _ in range(60):
        render(body, "markdown", page_url=PAGE)
    # ~50 KB of Markdown rendered 60 times: a leak of the tree and the HTML would be ~30 MB.
    assert rss_kb() - before < 10_000


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("/coast/", "https://news.example.org/2026/03/03/links/", "https://news.example.org/coast/"),
        ("/a b/ü?x=1#f", "http://x.org:8080/a/b", "http://x.org:8080/a%20b/%C3%BC?x=1#f"),
        ("/a/../b", "https://x.org/a/", "https://x.org/b"),
        ("//cdn.example.net/x.png", "https://x.org/a/", "https://cdn.example.net/x.png"),
        ("/coast/", "https://x.org?q=/a", "https://x.org/coast/"),
        ("/coast/", "mailto:desk@x.org", "/coast/"),
    ],
)
def test_site_relative_links_resolve_as_rfc_3986_says(url: str, base: str, expected: str) -> None:
    assert absolute_url(url, base) == expected
