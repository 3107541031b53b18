"""Small text guards every output format relies on, shared by the readers, the feeds and the emails.

:func:`xml_safe` and :func:`one_line` are cheap enough to run on every string a reader produces.
"""

from __future__ import annotations

import re

# Characters a feed or an email must not carry. XML 1.0 forbids the C0 controls but tab/LF/CR, the
# non-characters U+FFFE/U+FFFF and lone surrogates (which only arrive from YAML escapes; lxml and any UTF-8
# encoder choke on them). DEL and the C1 controls are allowed by XML but discouraged, and an HTML parse error:
# in real content they are mojibake (cp1252 quotes read as Latin-1), never text anyone meant.
_NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids or discourages (lxml raises on the first kind, feed
    validators and HTML parsers complain about the second)."""
    return _NOT_TEXT.sub("", text)


def one_line(text: str) -> str:
    """All whitespace runs (CR, LF, U+2028, NBSP, ...) as one space, stripped: safe for titles and headers."""
    return " ".join(text.split())
