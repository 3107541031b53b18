"""Composing the exact bytes of every email: digests, confirmation requests, test messages.

:class:`Composer` turns one outbox row into an :class:`~publisher.delivery.Envelope`. It is fast because
the expensive part of a digest (loading its sections, Jinja, CSS inlining, the size budget) happens once
per digest and is cached; each subscriber's copy is then string joins (:class:`~publisher.mail.render.Body`),
two HMACs for the signed links, a C-speed transfer encoding and MIME assembled by hand.

Every header value that comes from content or input (titles, names) goes through ``one_line``: no header
can carry a CR or LF that was not put there by this module. DKIM signing (:mod:`publisher.mail.dkim`)
covers From, To, Subject, Date, Message-ID, both List-Unsubscribe headers and the MIME headers, and the
signed bytes are exactly the bytes returned: transports send them verbatim.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from publisher.config import Config
from publisher.delivery import Envelope
from publisher.delivery.outbox import enqueue
from publisher.errors import ConfigError, PermanentFailure
from publisher.mail import digests, tokens
from publisher.mail.dkim import make_signer
from publisher.mail.render import (
    DigestBodies,
    choose_encoding,
    encode_body,
    load_entries,
    render_digest,
    render_page_pair,
    slot_values,
)
from publisher.mail.subscribers import Follow, Subscriber, clean_name, follows_of, normalise_email
from publisher.store import Store
from publisher.store import digests as store_digests
from publisher.store import subscribers as store_subscribers
from publisher.text import one_line

log = logging.getLogger(__name__)

# Rendered digests kept; a combined digest has one entry per distinct selection of sections.
_CACHE_SIZE = 64


class Row(Protocol):
    """An outbox row as delivery hands it (its OutboxRow, a sqlite3.Row or a mapping): read by key."""

    def __getitem__(self, key: str, /) -> Any: ...


# -- headers ------------------------------------------------------------------------------------------------


def header_value(value: str, name: str = "Subject") -> str:
    """A header value on one logical line, RFC 2047-encoded when not ASCII, folded at 78 columns."""
    text = one_line(value)
    charset = "us-ascii" if text.isascii() else "utf-8"
    return Header(text, charset=charset, header_name=name, maxlinelen=78).encode(linesep="\r\n")


def address_header(name: str, address: str) -> str:
    """``Name <address>`` with the name made safe (no CR/LF, quoted or encoded as needed)."""
    return formataddr((clean_name(name), address), charset="utf-8")


def bare_address(text: str) -> str:
    return parseaddr(text)[1]


def site_host(config: Config) -> str:
    return (urlsplit(config.site.base_url).hostname or "localhost").lower()


def list_id(config: Config, scope: str, title: str) -> str:
    """RFC 2919 List-Id: ``digest.HOST`` for everything, ``SLUG.digest.HOST`` per correspondent."""
    host = site_host(config)
    kind, _, value = scope.partition(":")
    if kind == "correspondent":
        label = f"{value}.digest.{host}"
    elif kind == "category":
        label = f"category-{value}.digest.{host}"
    else:
        label = f"digest.{host}"
    phrase = one_line(f"{config.site.title}: {title}" if kind in ("correspondent", "category") else config.site.title)
    return formataddr((phrase, label), charset="utf-8")


def unsubscribe_mailto(config: Config) -> str | None:
    """The mailto: URI of List-Unsubscribe, when ``subscriptions.unsubscribe_mailto`` is set."""
    mailto = config.subscriptions.unsubscribe_mailto.strip()
    return f"mailto:{bare_address(mailto) or one_line(mailto)}?subject=unsubscribe" if mailto else None


def list_unsubscribe(url: str, mailto: str | None) -> str:
    # One URI per line keeps every line short whatever the token's length.
    return f"<{url}>,\r\n <{mailto}>" if mailto else f"<{url}>"


def assemble(headers: Sequence[tuple[str, str]], text: bytes, html: bytes, encodings: tuple[str, str]) -> bytes:
    """A multipart/alternative message (text first, HTML last: the part clients prefer) with CRLF ends.

    ``text`` and ``html`` are UTF-8 with LF line ends; header values are ASCII, folded already.
    """
    return assemble_encoded(headers, encode_body(text, encodings[0]), encode_body(html, encodings[1]), encodings)


def assemble_encoded(
    headers: Sequence[tuple[str, str]], text_body: bytes, html_body: bytes, encodings: tuple[str, str]
) -> bytes:
    """:func:`assemble` for bodies already transfer-encoded (CRLF line ends)."""
    text_cte, html_cte = encodings
    text_body = text_body.rstrip(b"\r\n")
    html_body = html_body.rstrip(b"\r\n")
    # "=_" can occur in neither quoted-printable nor base64, so the boundary never clashes with a body.
    boundary = "=_" + hashlib.blake2b(text_body[:4096] + html_body[-4096:], digest_size=12).hexdigest()
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


# -- the composer -------------------------------------------------------------------------------------------


class Composer:
    """Outbox row → envelope. Used by delivery from one worker thread; opens its store in that thread."""

    def __init__(self, config: Config, store_path: Path) -> None:
        self.config = config
        self.store_path = Path(store_path)
        self.sender = bare_address(config.sender)
        if not self.sender:
            raise ConfigError(f"no address in {config.sender!r}", key="smtp.from")
        name, _ = parseaddr(config.sender)
        self.from_header = address_header(name, self.sender)
        self.signer = make_signer(config) if config.dkim.enabled else None
        self._store: Store | None = None
        self._secret: bytes | None = None
        self._digests: OrderedDict[tuple[str, tuple[int, ...] | None], _Prepared] = OrderedDict()
        self._lock = threading.Lock()
        self._mailto = unsubscribe_mailto(config)
        self._date_cache = (0, "")

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.store_path, create=False)
        return self._store

    @property
    def secret(self) -> bytes:
        if self._secret is None:
            self._secret = tokens.load_secret(self.config)
        return self._secret

    def factory(self) -> Callable[[], Composer]:
        """A picklable recipe for an equal composer: delivery builds one in a worker process with it."""
        return functools.partial(Composer, self.config, self.store_path)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def __call__(self, row: Row) -> Envelope:
        with self._lock:
            kind = row["kind"]
            if kind == "digest":
                data = self._digest(row)
            elif kind == "confirm":
                data = self._confirm(row)
            elif kind == "test":
                data = self._test(row)
            else:
                raise PermanentFailure(f"unknown outbox kind {kind!r}", recipient=row["recipient"])
            if self.signer is not None:
                data = self.signer.sign(data)
            return Envelope(sender=self.sender, recipient=row["recipient"], data=data, message_id=row["message_id"])

    # -- per kind ---------------------------------------------------------------------------------------

    def _subscriber(self, row: Row, allowed: tuple[str, ...]) -> tuple[int, str, str]:
        sid = row["subscriber_id"]
        record = store_subscribers.contact(self.store, sid)
        if record is None:
            raise PermanentFailure(f"subscriber {sid} no longer exists", recipient=row["recipient"])
        if record[3] not in allowed:
            raise PermanentFailure(f"subscriber {sid} is {record[3]}; not sent", recipient=row["recipient"])
        return record[0], record[1], record[2]

    def _headers(self, row: Row, to_name: str, subject_header: str) -> list[tuple[str, str]]:
        """The first headers of every message; ``subject_header`` is already encoded (:func:`header_value`)."""
        mid = str(row["message_id"]).strip("<>")
        return [
            ("From", self.from_header),
            ("To", address_header(to_name, row["recipient"])),
            ("Subject", subject_header),
            ("Date", self._date()),
            ("Message-ID", f"<{mid}>"),
        ]

    def _date(self) -> str:
        # Formatting a date costs more than the rest of a header; it changes once a second.
        now = int(time.time())
        if now != self._date_cache[0]:
            self._date_cache = (now, format_datetime(datetime.fromtimestamp(now, UTC)))
        return self._date_cache[1]

    def _digest(self, row: Row) -> bytes:
        sid, email, name = self._subscriber(row, ("confirmed",))
        prepared = self._prepared(row)
        identity = _Identity(sid, email)
        unsubscribe = tokens.unsubscribe_url(self.config, self.secret, identity)
        preferences = tokens.preferences_url(self.config, self.secret, identity)
        bodies = prepared.bodies
        text = bodies.text.encode(
            slot_values(name, email, unsubscribe, preferences, for_html=False), prepared.encodings[0]
        )
        page = bodies.html.encode(
            slot_values(name, email, unsubscribe, preferences, for_html=True), prepared.encodings[1]
        )
        headers = self._headers(row, name, prepared.subject)
        headers += [
            ("List-Id", prepared.list_id),
            ("List-Unsubscribe", list_unsubscribe(unsubscribe, self._mailto)),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ("Precedence", "bulk"),
            ("Auto-Submitted", "auto-generated"),
        ]
        return assemble_encoded(headers, text, page, prepared.encodings)

    def _prepared(self, row: Row) -> _Prepared:
        digest_id = row["digest_id"]
        payload = _payload(row)
        selection = tuple(int(i) for i in payload["sections"]) if "sections" in payload else None
        key = (digest_id, selection)
        found = self._digests.get(key)
        if found is not None:
            self._digests.move_to_end(key)
            return found
        record = store_digests.record(self.store, digest_id)
        if record is None:
            raise PermanentFailure(f"digest {digest_id} is not in the store", recipient=row["recipient"])
        scope, start, end, ids = record.scope, record.period_start, record.period_end, record.section_ids
        section_ids = selection if selection is not None else tuple(json.loads(ids))
        entries = load_entries(self.config, self.store, section_ids)
        if not entries:
            raise PermanentFailure(f"digest {digest_id}: its sections are gone", recipient=row["recipient"])
        title = digests.scope_title(self.config, self.store, scope)
        bodies = render_digest(
            self.config,
            scope=scope,
            title=title,
            entries=entries,
            period_start=datetime.fromisoformat(start),
            period_end=datetime.fromisoformat(end),
        )
        prepared = _Prepared(bodies, list_id(self.config, scope, title))
        self._digests[key] = prepared
        while len(self._digests) > _CACHE_SIZE:
            self._digests.popitem(last=False)
        return prepared

    def _confirm(self, row: Row) -> bytes:
        sid, email, name = self._subscriber(row, ("pending", "confirmed"))
        # Issued now, at sending: a message held back by retries still gives the reader the full time.
        url = tokens.confirm_url(self.config, self.secret, _Identity(sid, email))
        follows = [self._follow_label(f) for f in follows_of(self.store, sid)]
        context = {
            "subscriber": {"name": name, "email": email},
            "confirm_url": url,
            "hours": self.config.subscriptions.confirm_hours,
            "follows": follows,
        }
        page, text = render_page_pair(self.config, "confirm", context)
        subject = f"Confirm your subscription to {self.config.site.title}"
        headers = [*self._headers(row, name, header_value(subject)), ("Auto-Submitted", "auto-generated")]
        return _single(headers, text, page)

    def _follow_label(self, follow: Follow) -> str:
        if follow.kind == "all":
            return "everything"
        title = digests.scope_title(self.config, self.store, follow.scope)
        return f"the {title} category" if follow.kind == "category" else title

    def _test(self, row: Row) -> bytes:
        smtp = self.config.smtp
        transport = f"the relay {smtp.host}:{smtp.port}" if smtp is not None else "the local Maildir"
        context = {
            "sender": self.sender,
            "transport": transport,
            "to": row["recipient"],
            "sent_at": format_datetime(datetime.now(UTC).replace(microsecond=0)),
        }
        page, text = render_page_pair(self.config, "test", context)
        headers = self._headers(row, "", header_value(f"Test message from {self.config.site.title}"))
        headers.append(("Auto-Submitted", "auto-generated"))
        return _single(headers, text, page)


def _single(headers: Sequence[tuple[str, str]], text: str, page: str) -> bytes:
    encodings = (choose_encoding(text), choose_encoding(page))
    return assemble(headers, text.encode("utf-8"), page.encode("utf-8"), encodings)


class _Prepared:
    """A digest ready to personalise: bodies with slots, and the headers every copy shares."""

    __slots__ = ("bodies", "encodings", "list_id", "subject")

    def __init__(self, bodies: DigestBodies, list_id: str) -> None:
        self.bodies = bodies
        self.list_id = list_id
        self.subject = header_value(bodies.subject)
        self.encodings = (bodies.text_encoding, bodies.html_encoding)


class _Identity:
    __slots__ = ("email", "id")

    def __init__(self, id: int, email: str) -> None:
        self.id = id
        self.email = email


def _payload(row: Row) -> dict[str, Any]:
    """The row's payload: delivery hands it decoded, a raw sqlite3.Row holds the JSON text."""
    try:
        raw = row["payload"]
    except (KeyError, IndexError, AttributeError):
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        value = json.loads(raw or "{}")
    except (TypeError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


# -- enqueuing single messages --------------------------------------------------------------------------------


def enqueue_confirmation(config: Config, store: Store, subscriber: Subscriber) -> None:
    """Queue a double opt-in email for ``subscriber`` (each request a new message; the caller rate-limits)."""
    mid = f"confirm.{secrets.token_hex(10)}.{subscriber.id}@{digests.sender_domain(config)}"
    enqueue(store, kind="confirm", recipient=subscriber.email, message_id=mid, subscriber_id=subscriber.id)


def enqueue_test(config: Config, store: Store, to: str) -> None:
    """Queue a test message to the address ``to``."""
    address = normalise_email(to)
    mid = f"test.{secrets.token_hex(10)}@{digests.sender_domain(config)}"
    enqueue(store, kind="test", recipient=address, message_id=mid, payload={"to": address})
