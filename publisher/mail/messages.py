"""Composing the exact bytes of every email: digests, confirmation requests, test messages.

:class:`Composer` turns one outbox row into an :class:`~publisher.delivery.Envelope`. A digest is rendered
once for everyone who gets it: loading its sections, Jinja, CSS inlining, the size budget, the transfer
encoding of everything but the slots, and the whole message around them (headers, MIME structure, boundary)
as a :class:`~publisher.mail.mime.Splice`, cached per digest. Each subscriber's copy is then their name,
address and two signed links encoded for where they go (HTML-escaped and quoted-printable in the bodies,
RFC 2047 in To), joined into those prepared bytes; DKIM, when on, signs each final copy. The envelope
sender is not part of the bytes: delivery sets it per message.

The render module (Jinja, CSS inlining) is imported on first use, so a process that only hands rows to a
composer process does not load it.

Every header value that comes from content or input (titles, names) goes through ``one_line``: no header
can carry a CR or LF that was not put there by this module. DKIM signing (:mod:`publisher.mail.dkim`)
covers From, To, Subject, Date, Message-ID, both List-Unsubscribe headers and the MIME headers, and the
signed bytes are exactly the bytes returned: transports send them verbatim.
"""

from __future__ import annotations

import functools
import json
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from publisher.config import Config
from publisher.delivery import Envelope
from publisher.delivery.outbox import enqueue
from publisher.errors import ConfigError, PermanentFailure
from publisher.mail import digests, tokens
from publisher.mail.dkim import make_signer
from publisher.mail.mime import (
    HOLE,
    Splice,
    address_header,
    assemble,
    assemble_encoded,
    bare_address,
    choose_encoding,
    header_value,
    list_unsubscribe,
    make_boundary,
    wire_safe,
)
from publisher.mail.subscribers import Follow, Subscriber, follows_of, normalise_email
from publisher.models import Scope
from publisher.store import Store
from publisher.store import digests as store_digests
from publisher.store import subscribers as store_subscribers
from publisher.text import one_line

if TYPE_CHECKING:
    from publisher.mail.render import DigestBodies

log = logging.getLogger(__name__)

# Rendered digests kept; a combined digest has one entry per distinct selection of sections.
_CACHE_SIZE = 64


class Row(Protocol):
    """An outbox row as delivery hands it (its OutboxRow, a sqlite3.Row or a mapping): read by key."""

    def __getitem__(self, key: str, /) -> Any: ...


# -- headers ------------------------------------------------------------------------------------------------


def site_host(config: Config) -> str:
    return (urlsplit(config.site.base_url).hostname or "localhost").lower()


def list_id(config: Config, scope: Scope, title: str) -> str:
    """RFC 2919 List-Id: ``digest.HOST`` for everything, ``SLUG.digest.HOST`` per correspondent."""
    host = site_host(config)
    kind, value = scope.kind, scope.value
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
        # Subscribers read ahead for the batch being composed (see prefetch); each is used once.
        self._contacts: dict[int, tuple[int, str, str, str]] = {}

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

    def warm(self) -> None:
        """Import now what the first digest needs (Jinja, the CSS inliner): a composer process calls it while
        the drain is still queueing. The store and the secret wait for the first row (the secret may not
        exist yet, and only one process may create it)."""
        import publisher.mail.render  # noqa: F401

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def __call__(self, row: Row) -> Envelope:
        with self._lock:
            kind = row["kind"]
            ready = False
            if kind == "digest":
                data, ready = self._digest(row)
            elif kind == "confirm":
                data = self._confirm(row)
            elif kind == "test":
                data = self._test(row)
            elif kind == "welcome":
                data = self._welcome(row)
            else:
                raise PermanentFailure(f"unknown outbox kind {kind!r}", recipient=row["recipient"])
            if self.signer is not None:
                # The signature field is base64 folded with CRLF and a tab: it keeps a message wire-ready.
                data = self.signer.sign(data)
            return Envelope(self.sender, row["recipient"], data, row["message_id"], wire_ready=ready)

    # -- per kind ---------------------------------------------------------------------------------------

    def prefetch(self, rows: Sequence[Row]) -> None:
        """Read the subscribers of a batch of digest rows in one query; delivery calls it before composing them.

        Optional: a row whose subscriber was not read here is read on its own when composed.
        """
        ids = [int(r["subscriber_id"]) for r in rows if r["kind"] == "digest" and r["subscriber_id"] is not None]
        with self._lock:
            self._contacts = store_subscribers.contacts(self.store, ids) if ids else {}

    def _subscriber(self, row: Row, allowed: tuple[str, ...]) -> tuple[int, str, str]:
        sid = row["subscriber_id"]
        record = self._contacts.pop(sid, None) if self._contacts else None
        if record is None:
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

    def _digest(self, row: Row) -> tuple[bytes, bool]:
        """One reader's copy, and whether it is wire-ready (see :class:`~publisher.delivery.Envelope`).

        It is when the digest's shared bytes are (checked once per digest) and so are this copy's header
        values (checked here: they come from the store). The bodies always are: quoted-printable and base64
        as :func:`~publisher.mail.mime.encode_body` writes them, literals and slots alike.
        """
        from publisher.mail.render import slot_values

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
        mid = str(row["message_id"]).strip("<>")
        subject = b""
        if prepared.personal_subject is not None:
            values = slot_values(name, email, unsubscribe, preferences, for_html=False)
            subject = header_value(prepared.personal_subject.fill(values)).encode("ascii")
        headers = {
            "subject": subject,
            "to": address_header(name, row["recipient"]).encode("ascii"),
            "date": self._date().encode("ascii"),
            "message_id": mid.encode("ascii"),
            "list_unsubscribe": list_unsubscribe(unsubscribe, self._mailto).encode("ascii"),
        }
        ready = prepared.message.wire_safe and all(wire_safe(value) for value in headers.values())
        data = prepared.message.fill({**headers, "text": text.rstrip(b"\r\n"), "html": page.rstrip(b"\r\n")})
        return data, ready

    def _splice(self, prepared: _Prepared) -> Splice:
        """The digest's message with holes for what differs per recipient (see :meth:`_digest`)."""
        bodies = prepared.bodies
        headers = [
            ("From", self.from_header),
            ("To", HOLE["to"]),
            ("Subject", prepared.subject if prepared.personal_subject is None else HOLE["subject"]),
            ("Date", HOLE["date"]),
            ("Message-ID", f"<{HOLE['message_id']}>"),
            ("List-Id", prepared.list_id),
            ("List-Unsubscribe", HOLE["list_unsubscribe"]),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ("Precedence", "bulk"),
            ("Auto-Submitted", "auto-generated"),
        ]
        # One boundary for every copy of the digest, drawn from what they share.
        seed = "".join(bodies.text.parts[::2][:4]) + "".join(bodies.html.parts[::2][-4:])
        boundary = make_boundary(seed.encode("utf-8"))
        encodings = (bodies.text_encoding, bodies.html_encoding)
        data = assemble_encoded(
            headers, HOLE["text"].encode("ascii"), HOLE["html"].encode("ascii"), encodings, boundary
        )
        return Splice(data)

    def _prepared(self, row: Row) -> _Prepared:
        from publisher.mail.render import load_entries, render_digest

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
        scope, start, end, ids = Scope.parse(record.scope), record.period_start, record.period_end, record.section_ids
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
        prepared.message = self._splice(prepared)
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
        from publisher.mail.render import render_page_pair

        page, text = render_page_pair(self.config, "confirm", context)
        subject = f"Confirm your subscription to {self.config.site.title}"
        headers = [*self._headers(row, name, header_value(subject)), ("Auto-Submitted", "auto-generated")]
        return _single(headers, text, page)

    def _welcome(self, row: Row) -> bytes:
        sid, email, name = self._subscriber(row, ("confirmed",))
        who = _Identity(sid, email)
        context = {
            "subscriber": {"name": name, "email": email},
            "follows": [self._follow_label(f) for f in follows_of(self.store, sid)],
            "unsubscribe_url": tokens.unsubscribe_url(self.config, self.secret, who),
            "preferences_url": tokens.preferences_url(self.config, self.secret, who),
        }
        from publisher.mail.render import render_page_pair

        subs = self.config.subscriptions
        page, text = render_page_pair(self.config, subs.welcome, context)
        subject = subs.welcome_subject.replace("{site_title}", self.config.site.title)
        return _single(self._headers(row, name, header_value(subject)), text, page)

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
        from publisher.mail.render import render_page_pair

        page, text = render_page_pair(self.config, "test", context)
        headers = self._headers(row, "", header_value(f"Test message from {self.config.site.title}"))
        headers.append(("Auto-Submitted", "auto-generated"))
        return _single(headers, text, page)


def _single(headers: Sequence[tuple[str, str]], text: str, page: str) -> bytes:
    encodings = (choose_encoding(text), choose_encoding(page))
    return assemble(headers, text.encode("utf-8"), page.encode("utf-8"), encodings)


class _Prepared:
    """A digest ready to personalise: bodies with slots, and the headers every copy shares."""

    __slots__ = ("bodies", "encodings", "list_id", "message", "personal_subject", "subject")

    def __init__(self, bodies: DigestBodies, list_id: str) -> None:
        from publisher.mail.render import Body

        self.bodies = bodies
        self.list_id = list_id
        # A subject template may name the reader ({{ subscriber.name }}): then it is filled per copy.
        subject = Body.parse(bodies.subject)
        self.personal_subject = subject if len(subject.parts) > 1 else None
        self.subject = header_value(bodies.subject)
        self.encodings = (bodies.text_encoding, bodies.html_encoding)
        self.message = Splice(b"")


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
    if type(raw) is dict:  # what delivery hands over, once per message: read here, never changed
        return raw
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
