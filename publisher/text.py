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


# Of those characters, the ones a single byte of UTF-8 stands for (the C0 controls but tab, LF and CR, and
# DEL): all ASCII text can hold, so checking its bytes for them is enough, several times faster than the
# pattern; the readers check a file's raw bytes with them before decoding.
CONTROL_BYTES = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])


def xml_safe(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids or discourages (lxml raises on the first kind, feed
    validators and HTML parsers complain about the second)."""
    if text.isascii():
        data = text.encode("ascii")
        if len(data.translate(None, CONTROL_BYTES)) == len(data):
            return text  # the common case: every feed entry's whole HTML, checked as it is serialized
    return _NOT_TEXT.sub("", text)


def one_line(text: str) -> str:
    """All whitespace runs (CR, LF, U+2028, NBSP, ...) as one space, stripped: safe for titles and headers."""
    return " ".join(text.split())
