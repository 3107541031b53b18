"""Source text to safe HTML, and the small text guards every output format relies on.

:func:`render` turns a Markdown or plain-text body into HTML that is safe to put in a feed or an email:
cmark-gfm (GitHub's CommonMark engine, through cmarkgfm: CommonMark plus the GFM tables,
strikethrough and autolink extensions, raw HTML passed through) and then nh3, which removes
scripts, event handlers and ``javascript:`` URLs and, in the same pass, resolves every relative ``href`` and
``src`` against the page's URL, because feed readers and mail clients have no base to resolve them with.

:func:`~publisher.text.xml_safe` and :func:`~publisher.text.one_line` (in ``publisher/text.py``) guard every
string a reader produces.
"""

from __future__ import annotations

import copy
import ctypes
import functools
import html
import re
import threading
from typing import Literal
from urllib.parse import quote, urljoin

import nh3
from cmarkgfm import _cmark
from cmarkgfm.cmark import Options

from publisher.text import one_line, xml_safe

# Characters quote() leaves alone: the URL's own delimiters, and "%" so existing escapes survive.
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")

_ATTRIBUTES = copy.deepcopy(nh3.ALLOWED_ATTRIBUTES)
for _tag in ("a", "img", "abbr"):
    # Markdown's [text](url "title") and ![alt](src "title") produce title attributes worth keeping.
    _ATTRIBUTES.setdefault(_tag, set()).add("title")


def absolute_url(url: str, base: str) -> str:
    """``url`` resolved against ``base`` (RFC 3986), with spaces and non-ASCII characters percent-encoded.

    Absolute URLs come back unchanged but for the encoding; "/x" resolves against the host of ``base`` and
    "x" against its folder. A URL that cannot be parsed (``http://[::1``) comes back encoded but unresolved.
    """
    cleaned = quote(one_line(xml_safe(url)), safe=_URL_SAFE)
    if cleaned[:1] == "/" and cleaned[1:2] != "/" and "/." not in cleaned and base.startswith(("https://", "http://")):
        # A site-relative link ("/coast/"), the most common kind: the base's scheme and host in front is
        # what urljoin gives, without its parsing (nothing to resolve: no "." or ".." segment).
        host_start = base.find("//") + 2
        host_end = base.find("/", host_start)
        if host_end != -1 and "?" not in base[host_start:host_end] and "#" not in base[host_start:host_end]:
            return base[:host_end] + cleaned
    try:
        return urljoin(base, cleaned)
    except ValueError:
        return cleaned


# Raw HTML is passed through (CMARK_OPT_UNSAFE) because nh3 sanitizes every output below; GFM's tagfilter
# extension would only duplicate that, less thoroughly.
_CMARK_OPTIONS = Options.CMARK_OPT_UNSAFE
_CMARK_EXTENSIONS = (b"table", b"strikethrough", b"autolink")


class _Cmark:
    """cmark-gfm called through cmarkgfm's bindings, freeing what it allocates.

    cmarkgfm's own ``markdown_to_html*`` functions never free the document tree nor the HTML they get back
    from C: about ten times the Markdown's size leaks on every call, which a daemon cannot afford. The two
    frees it lacks are called here through ctypes, on the same library.
    """

    def __init__(self) -> None:
        self.lib, self.ffi = _cmark.lib, _cmark.ffi
        so = ctypes.CDLL(_cmark.__file__)
        self.node_free = so.cmark_node_free
        self.node_free.argtypes, self.node_free.restype = [ctypes.c_void_p], None
        self.free = ctypes.CDLL(None).free  # cmark's default allocator is the C library's
        self.free.argtypes, self.free.restype = [ctypes.c_void_p], None
        self.lib.cmark_gfm_core_extensions_ensure_registered()
        self.extensions = [self.lib.cmark_find_syntax_extension(name) for name in _CMARK_EXTENSIONS]

    def _address(self, pointer: object) -> int:
        return int(self.ffi.cast("uintptr_t", pointer))

    def html(self, text: str) -> str:
        lib = self.lib
        data = text.encode("utf-8", "surrogatepass")
        parser = lib.cmark_parser_new(_CMARK_OPTIONS)
        try:
            for extension in self.extensions:
                lib.cmark_parser_attach_syntax_extension(parser, extension)
            lib.cmark_parser_feed(parser, data, len(data))
            root = lib.cmark_parser_finish(parser)
            try:
                raw = lib.cmark_render_html(root, _CMARK_OPTIONS, lib.cmark_parser_get_syntax_extensions(parser))
                try:
                    return str(self.ffi.string(raw).decode("utf-8", "replace"))
                finally:
                    self.free(self._address(raw))
            finally:
                self.node_free(self._address(root))
        finally:
            lib.cmark_parser_free(parser)


@functools.cache
def _engine() -> _Cmark:
    return _Cmark()


def markdown_html(body: str) -> str:
    """Unsanitized HTML of a CommonMark + GFM (tables, strikethrough, autolinks) body."""
    return _engine().html(body)


def render(body: str, body_format: Literal["markdown", "text"], *, page_url: str) -> str:
    """Sanitized HTML for ``body``, every relative link and image made absolute against ``page_url``.

    ``body_format`` "markdown" goes through cmark-gfm then nh3; "text" becomes one escaped ``<p>`` per
    blank-line-separated paragraph.
    """
    body = xml_safe(body)
    if body_format == "text":
        paragraphs = (p.strip() for p in _PARAGRAPH_BREAK.split(body))
        return "\n".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs if p)
    raw = markdown_html(body)
    _page.url = page_url
    return _cleaner().clean(raw)


# The page whose relative links the cleaner is resolving, per thread (each thread renders its own pages).
_page = threading.local()


def _resolve(url: str) -> str:
    return absolute_url(url, _page.url)


@functools.cache
def _cleaner() -> nh3.Cleaner:
    # Built once: nh3.clean(...) with these options builds its sanitizer again on every call, which costs
    # more than the sanitizing of a short post. The page URL each call needs is read by _resolve.
    return nh3.Cleaner(attributes=_ATTRIBUTES, url_relative=_resolve)
