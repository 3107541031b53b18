"""MIME by hand: header values, transfer encodings, multipart/alternative assembly, and prepared messages.

Everything here is pure and works on ASCII headers and CRLF bodies. A :class:`Splice` is a whole message
made once with holes in it: a digest's thousands of copies each cost one ``bytes.join`` of what they share
and what is theirs (see :class:`publisher.mail.messages.Composer`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping, Sequence
from email.charset import Charset
from email.header import Header
from email.utils import formataddr, parseaddr

from publisher.mail.subscribers import clean_name
from publisher.text import one_line

_UTF8 = Charset("utf-8")

# -- headers ------------------------------------------------------------------------------------------------


def header_value(value: str, name: str = "Subject") -> str:
    """A header value on one logical line, RFC 2047-encoded when not ASCII, folded at 78 columns."""
    text = one_line(value)
    # Text shaped like an RFC 2047 encoded word would be decoded by mail readers: encoded, it reads as written.
    charset = "us-ascii" if text.isascii() and "=?" not in text else "utf-8"
    return Header(text, charset=charset, header_name=name, maxlinelen=78).encode(linesep="\r\n")


def address_header(name: str, address: str) -> str:
    """``Name <address>`` with the name made safe (no CR/LF, quoted or encoded as needed)."""
    clean = clean_name(name)
    if "=?" in clean:
        # Mail readers decode anything shaped like an RFC 2047 encoded word, even in an ASCII name: encode
        # the whole name, so it reads as it was typed.
        return f"{_UTF8.header_encode(clean)} <{address}>"
    return formataddr((clean, address), charset="utf-8")


def bare_address(text: str) -> str:
    return parseaddr(text)[1]


def list_unsubscribe(url: str, mailto: str | None) -> str:
    # One URI per line keeps every line short whatever the token's length.
    return f"<{url}>,\r\n <{mailto}>" if mailto else f"<{url}>"


def assemble(headers: Sequence[tuple[str, str]], text: bytes, html: bytes, encodings: tuple[str, str]) -> bytes:
    """A multipart/alternative message (text first, HTML last: the part clients prefer) with CRLF ends.

    ``text`` and ``html`` are UTF-8 with LF line ends; header values are ASCII, folded already.
    """
    return assemble_encoded(headers, encode_body(text, encodings[0]), encode_body(html, encodings[1]), encodings)


def assemble_encoded(
    headers: Sequence[tuple[str, str]],
    text_body: bytes,
    html_body: bytes,
    encodings: tuple[str, str],
    boundary: str | None = None,
) -> bytes:
    """:func:`assemble` for bodies already transfer-encoded (CRLF line ends)."""
    text_cte, html_cte = encodings
    text_body = text_body.rstrip(b"\r\n")
    html_body = html_body.rstrip(b"\r\n")
    # "=_" can occur in neither quoted-printable nor base64, so the boundary never clashes with a body.
    boundary = boundary or make_boundary(text_body[:4096] + html_body[-4096:])
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    head += f'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
    return b"".join(
        (
            head.encode("ascii"),
            f'--{boundary}\r\nContent-Type: text/plain; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: {text_cte}\r\n\r\n".encode("ascii"),
            text_body,
            f'\r\n--{boundary}\r\nContent-Type: text/html; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: {html_cte}\r\n\r\n".encode("ascii"),
            html_body,
            f"\r\n--{boundary}--\r\n".encode("ascii"),
        )
    )


def make_boundary(seed: bytes) -> str:
    return "=_" + hashlib.blake2b(seed, digest_size=12).hexdigest()


# -- a message prepared once ----------------------------------------------------------------------

# Holes in a prepared message. NUL is in no header value and no transfer-encoded body, so a marker made of
# it cannot be mistaken for content.
HOLES = ("subject", "to", "date", "message_id", "list_unsubscribe", "text", "html")
HOLE = {name: f"\0{name}\0" for name in HOLES}
HOLE_RE = re.compile(b"\0(" + b"|".join(n.encode("ascii") for n in HOLES) + b")\0")


class Splice:
    """A message's bytes made once, with holes each copy fills: a copy is one ``bytes.join``.

    Everything that is the same for every recipient (From, Subject, List-Id, the MIME structure and its
    boundary, the parts' headers) is written once per digest; the holes take the per-recipient header values
    and the two transfer-encoded bodies, themselves spliced from literals encoded once (:class:`Body`).
    """

    __slots__ = ("holes", "literals", "wire_safe")

    def __init__(self, data: bytes) -> None:
        pieces = HOLE_RE.split(data)
        self.literals: tuple[bytes, ...] = tuple(pieces[::2])
        self.holes: tuple[str, ...] = tuple(p.decode("ascii") for p in pieces[1::2])
        # Checked once here: a copy is then wire-safe when the values filled in are.
        self.wire_safe = all(wire_safe(literal) for literal in self.literals)

    def fill(self, values: Mapping[str, bytes]) -> bytes:
        literals = self.literals
        out = [literals[0]]
        for i, hole in enumerate(self.holes, 1):
            out.append(values[hole])
            out.append(literals[i])
        return b"".join(out)


# -- transfer encoding -------------------------------------------------------------------------------------


def choose_encoding(text: str) -> str:
    """quoted-printable for mostly-ASCII text, base64 when QP would inflate it more (CJK, Cyrillic...)."""
    data = text.encode("utf-8")
    high = sum(1 for b in data[:20000] if b > 127)
    return "base64" if high * 3 > len(data[:20000]) else "quoted-printable"


def qp_chunk(text: str) -> bytes:
    """``text`` quoted-printable (CRLF ends), closed by a soft line break unless it ends a line.

    Like :func:`encode_body`: line ends only CRLF, no line starting with a dot (see :func:`wire_safe`).
    """
    if not text:
        return b""
    # A short printable ASCII value (a name, an address) is its own quoted-printable, unless a space ends it
    # (encoded) or a dot starts it (escaped: a chunk may start a line).
    if (
        len(text) < _QP_LINE
        and text.isascii()
        and text.isprintable()
        and "=" not in text
        and not text.endswith(" ")
        and not text.startswith(".")
    ):
        return text.encode("ascii") + b"=\r\n"
    data = _qp(text.encode("utf-8"))
    return data if data.endswith(b"\r\n") else data + b"=\r\n"


def encode_body(data: bytes, encoding: str) -> bytes:
    """``data`` (LF line ends) in ``encoding`` with CRLF line ends, 76-character lines.

    The result is :func:`wire_safe`: it goes into SMTP's DATA as it is (base64 by its alphabet;
    quoted-printable because CRs are taken as line ends and a line-leading dot is written ``=2E``).
    """
    if encoding == "base64":
        return base64.encodebytes(data).replace(b"\n", b"\r\n")
    return _qp(data)


def _qp(data: bytes) -> bytes:
    if b"\r" in data:
        # b2a_qp passes a CR through (and keeps CRLF), which the widening of LF below would turn into a
        # bare CR: every kind of line end becomes LF first.
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    out = binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")
    if out.startswith(b".") or b"\n." in out:
        out = _escape_leading_dots(out)
    return out


# The longest line quoted-printable allows (RFC 2045 6.7), its soft line break included.
_QP_LINE = 76


def _escape_leading_dots(qp: bytes) -> bytes:
    """Quoted-printable text with each line-leading ``.`` written ``=2E``.

    SMTP doubles a dot that starts a line (and some relays mangle it); encoded, the bytes of the message are
    its DATA as they are. A line made too long by the escape is broken with a soft line break, never inside
    an ``=XX`` escape.
    """
    out: list[bytes] = []
    for line in qp.split(b"\r\n"):
        while line.startswith(b"."):
            line = b"=2E" + line[1:]
            if len(line) <= _QP_LINE:
                break
            cut = _QP_LINE - 1
            while line[cut - 1 : cut] == b"=" or line[cut - 2 : cut - 1] == b"=":
                cut -= 1  # not between "=" and its two hex digits
            out.append(line[:cut] + b"=")
            line = line[cut:]
        out.append(line)
    return b"\r\n".join(out)


def wire_safe(piece: bytes) -> bool:
    """True when ``piece``, wherever it is put in a message made of such pieces, needs nothing done to it
    on the way into SMTP's DATA: every CR is followed by LF and every LF preceded by CR (within the piece),
    and no line starts with a dot (nor does the piece: it may start a line)."""
    if b"\n" not in piece and b"\r" not in piece:
        return not piece.startswith(b".")
    return (
        not piece.startswith((b".", b"\n"))
        and not piece.endswith(b"\r")
        and b"\n." not in piece
        and piece.count(b"\r") == piece.count(b"\n") == piece.count(b"\r\n")
    )
