"""The text guards shared by the readers, the feeds and the emails."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from publisher.text import one_line, xml_safe


def test_xml_safe() -> None:
    assert xml_safe("a\x00b\x01c\x08d\x0be\x0cf\x1fg") == "abcdefg"
    assert xml_safe("tab\tnl\ncr\r") == "tab\tnl\ncr\r"
    assert xml_safe("x\ufffey\uffffz\ud800w\udfff") == "xyzw"
    # Letters of every script stay; DEL and the C1 controls (mojibake in real content, discouraged by XML,
    # errors in HTML) go, as the feeds always dropped them: one set of characters for readers, feeds and mail.
    assert xml_safe("é ü 中 😀 \x7f \x85 \x9f") == "é ü 中 😀   "


# XML 1.0's Char production, less DEL and the C1 controls: what a feed may carry.
_XML_CHAR = re.compile("[\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@given(st.text(alphabet=st.characters(max_codepoint=0x7F)) | st.text())
def test_xml_safe_keeps_exactly_the_allowed_characters(text: str) -> None:
    # ASCII text takes a check on its bytes, other text the pattern: both keep what XML allows, in order.
    assert xml_safe(text) == "".join(_XML_CHAR.findall(text))


def test_one_line() -> None:
    assert one_line("  Harbour\r\nweek\u2028now\u2029\x85then\t\x0b\x0cend\u00a0 ") == "Harbour week now then end"
    assert one_line("\r\n") == ""
