"""Transfer encodings write bytes that go into SMTP's DATA as they are: CRLF line ends only, no line that starts
with a dot, and they decode to the text given (line ends as LF)."""

from __future__ import annotations

import binascii

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publisher.delivery.smtp import dot_stuff
from publisher.mail import mime

TEXT = st.text(alphabet=st.sampled_from(list("ab .=\t\r\né€🦀")), max_size=400)


def decoded(qp: bytes) -> str:
    return binascii.a2b_qp(qp.replace(b"\r\n", b"\n")).decode("utf-8")


def as_lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


@given(TEXT)
def test_quoted_printable_needs_nothing_done_on_the_wire(text: str) -> None:
    body = mime.encode_body(text.encode("utf-8"), "quoted-printable")
    assert mime.wire_safe(body) or body == b""
    assert dot_stuff(body + b"\r\n") == body + b"\r\n.\r\n"
    assert decoded(body) == as_lf(text)
    # The escape of a leading dot never makes a line longer than the encoder's own longest.
    plain = binascii.b2a_qp(as_lf(text).encode("utf-8"), istext=True)
    longest = max(len(line) for line in plain.split(b"\n"))
    assert all(len(line) <= max(76, longest) for line in body.split(b"\r\n"))


@given(TEXT)
def test_a_chunk_starts_a_line_and_ends_with_one(text: str) -> None:
    chunk = mime.qp_chunk(text)
    if text:
        assert mime.wire_safe(chunk) and chunk.endswith(b"\r\n")
    assert decoded(chunk) == as_lf(text)


def test_a_dot_that_would_start_a_line_is_escaped() -> None:
    url = "https://news.example.org/unsubscribe/" + "M" * 38 + ".HZlcMJhbfYDibCdlRorH1zm2VWoMF"
    chunk = mime.qp_chunk(url)
    assert b"\r\n=2EHZlc" in chunk and b"\n." not in chunk
    assert decoded(chunk) == url
    assert mime.qp_chunk(".starts") == b"=2Estarts=\r\n"
    # A line at the longest already gets a soft line break for its escape, outside any =XX.
    line = "." + "é" * 40
    chunk = mime.qp_chunk(line)
    assert all(len(part) <= 76 for part in chunk.split(b"\r\n")) and decoded(chunk) == line


def test_a_carriage_return_is_a_line_end_not_a_bare_cr() -> None:
    body = mime.encode_body(b"one\r\ntwo\rthree\n", "quoted-printable")
    assert body == b"one\r\ntwo\r\nthree\r\n"


@pytest.mark.parametrize(
    ("piece", "safe"),
    [
        (b"", True),
        (b"To: a@b\r\n", True),
        (b"\r\nSubject: x", True),
        (b"a\nb", False),  # bare LF
        (b"a\rb", False),  # bare CR
        (b"\nb", False),  # could follow a piece ending in CR... or be bare
        (b"a\r", False),
        (b".x", False),  # may start a line
        (b"a\r\n.b", False),
    ],
)
def test_wire_safe(piece: bytes, safe: bool) -> None:
    assert mime.wire_safe(piece) is safe


def test_a_splice_with_unsafe_shared_bytes_is_not_wire_safe() -> None:
    assert mime.Splice(b"From: a\r\nTo: \0to\0\r\n\r\nbody\r\n").wire_safe
    assert not mime.Splice(b"From: a\nTo: \0to\0\r\n\r\nbody\r\n").wire_safe


@given(st.text(alphabet=st.sampled_from(" .=-_@+~!abcXYZ019\t/:?&é"), max_size=90))
def test_a_slot_value_is_encoded_as_the_body_encoder_would(text: str) -> None:
    # Short plain values (names, addresses) take a shortcut; it must give the encoder's bytes exactly.
    if not text:
        assert mime.qp_chunk(text) == b""
        return
    data = mime.encode_body(text.encode("utf-8"), "quoted-printable")
    assert mime.qp_chunk(text) == (data if data.endswith(b"\r\n") else data + b"=\r\n")
