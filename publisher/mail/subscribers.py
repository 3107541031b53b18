"""Subscribers and what they follow: adding, importing, exporting, status changes.

A subscriber is one normalised address with a status:

    pending ──confirm──▶ confirmed ──unsubscribe──▶ unsubscribed
       ▲                    │  ▲                         │
       │                    │  └──── subscribe again ────┘ (through pending, never directly)
       └── subscribe again ─┴── N hard bounces ──▶ bounced

Only ``confirmed`` subscribers are mailed digests. An import or a repeated subscription never revives an
address that unsubscribed or bounced without a new confirmation.

A follow is ``all``, ``category:NAME`` (stored by the category's slug, as the catalog stores categories) or a
correspondent slug (``Laura Bicker`` and ``laura-bicker`` are the same follow).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, TextIO, get_args

from publisher.errors import SubscriberError, TokenError
from publisher.mail import tokens
from publisher.models import Scope, slugify
from publisher.store import Store, iso, now_utc
from publisher.store import outbox as store_outbox
from publisher.store import subscribers as db

Status = Literal["pending", "confirmed", "unsubscribed", "bounced"]
STATUSES: tuple[Status, ...] = get_args(Status)
FollowKind = Literal["correspondent", "category", "all"]

_FORGOTTEN = b"publisher-forgotten/1"

# The longest name kept; names are shown in greetings and To headers, nothing needs more.
MAX_NAME = 200


@dataclass(frozen=True, order=True)
class Follow:
    kind: FollowKind
    value: str = ""  # correspondent slug or category slug; "" for all

    def __str__(self) -> str:
        if self.kind == "all":
            return "all"
        if self.kind == "category":
            return f"category:{self.value}"
        return self.value

    @property
    def scope(self) -> Scope:
        """The digest scope serving this follow (see :mod:`publisher.mail.digests`)."""
        return Scope(self.kind, "" if self.kind == "all" else self.value)


ALL = Follow("all")


@dataclass(frozen=True)
class Subscriber:
    id: int
    email: str
    name: str
    status: str
    created_at: datetime
    updated_at: datetime
    confirmed_at: datetime | None = None
    unsubscribed_at: datetime | None = None
    bounce_count: int = 0
    follows: tuple[Follow, ...] = field(default=())

    @property
    def active(self) -> bool:
        return self.status == "confirmed"


@dataclass(frozen=True)
class ImportReport:
    added: int
    updated: int
    unchanged: int
    errors: tuple[tuple[int, str], ...]  # (line number, reason)
    forgotten: int = 0  # rows left out: the address asked to be forgotten


# -- values -----------------------------------------------------------------------------------------------


def forgotten_hash(secret: bytes, email: str) -> str:
    """The keyed hash kept of a forgotten address (see :mod:`publisher.mail.lifecycle`)."""
    return hmac.new(secret, _FORGOTTEN + b"\0" + email.encode("utf-8"), hashlib.sha256).hexdigest()


def normalise_email(text: str) -> str:
    """A valid address, all in lower case (domain as IDNA ASCII): one person, one subscriber.

    Local parts are case-sensitive on paper and never in practice; keeping them as typed made
    ``Alice@example.org`` and ``alice@example.org`` two subscribers who each got every digest.

    Internationalised local parts are refused: they need SMTPUTF8, which many relays lack.
    """
    candidate = (text or "").strip()
    if not candidate:
        raise SubscriberError("an email address is required")
    # Imported here: its tables take ~40 ms to build, which every mail command would pay at start.
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(candidate, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise SubscriberError(f"invalid email address {candidate!r}: {exc}") from exc
    return f"{result.local_part.lower()}@{result.ascii_domain.lower()}"


def clean_name(text: str | None) -> str:
    """A display name fit for a greeting and a header: control characters and line breaks become spaces."""
    if not text:
        return ""
    # Printable text has none of those characters (the usual name): no walk over each character.
    cleaned = (
        text
        if text.isprintable()
        else "".join(" " if (ord(c) < 32 or c in "\x7f\u0085\u2028\u2029") else c for c in text)
    )
    return " ".join(cleaned.split())[:MAX_NAME]


def parse_follow(text: str) -> Follow:
    """``all``, ``category:NAME`` or a correspondent slug (a name is slugified): the :class:`Follow`."""
    raw = (text or "").strip()
    lowered = raw.lower()
    if lowered in ("all", "*", "everything"):
        return ALL
    kind: FollowKind = "correspondent"
    value = raw
    for prefix, k in (("category:", "category"), ("correspondent:", "correspondent")):
        if lowered.startswith(prefix):
            kind, value = k, raw[len(prefix) :].strip()  # type: ignore[assignment]
            break
    if not any(ch.isalnum() for ch in value):
        raise SubscriberError(f"invalid follow {text!r}: expected all, category:NAME or a correspondent slug")
    return Follow(kind, slugify(value))


def parse_follows(text: str | None) -> list[Follow]:
    """A follows field: values separated by ``;``, ``|`` or ``,``; else by spaces when every word is a slug
    or keyword (``ana-ruiz tomas-berg all``). A name with spaces (``José Pérez``) is one follow."""
    if not text or not text.strip():
        return []
    if re.search(r"[;|,]", text):
        parts = re.split(r"[;|,]", text)
    else:
        words = text.split()
        parts = words if all(_slug_word(w) for w in words) else [text]
    return _unique(parse_follow(p) for p in parts if p.strip())


def _slug_word(word: str) -> bool:
    """A slug or keyword ("ana-ruiz", "all", "category:News"), not a word of a name ("José")."""
    return word.lower().startswith(("category:", "correspondent:")) or word == word.lower()


def format_follows(follows: Iterable[Follow]) -> str:
    return ";".join(str(f) for f in sorted(follows))


def _unique(follows: Iterable[Follow]) -> list[Follow]:
    seen: dict[Follow, None] = {}
    for f in follows:
        seen.setdefault(f, None)
    return list(seen)


# -- reading --------------------------------------------------------------------------------------------


def _row_to_subscriber(row: Sequence[object], follows: Sequence[Follow]) -> Subscriber:
    def when(value: object) -> datetime | None:
        return datetime.fromisoformat(str(value)) if value else None

    return Subscriber(
        id=int(row[0]),  # type: ignore[call-overload]
        email=str(row[1]),
        name=str(row[2]),
        status=str(row[3]),
        created_at=when(row[4]),  # type: ignore[arg-type]
        updated_at=when(row[5]),  # type: ignore[arg-type]
        confirmed_at=when(row[6]),
        unsubscribed_at=when(row[7]),
        bounce_count=int(row[8]),  # type: ignore[call-overload]
        follows=tuple(follows),
    )


def follows_of(store: Store, subscriber_id: int) -> list[Follow]:
    return [Follow(kind, value) for kind, value in db.follows_of(store, subscriber_id)]  # type: ignore[arg-type]


def get(store: Store, id_or_email: int | str) -> Subscriber | None:
    """The subscriber with this id (an int, or a string of digits) or address; None when there is none.

    An address is matched exactly once normalised, then case-insensitively when that is unambiguous
    (``Bob@example.org`` finds ``bob@example.org`` unless both exist).
    """
    if isinstance(id_or_email, int) or (isinstance(id_or_email, str) and id_or_email.strip().isdigit()):
        row = db.row_by_id(store, int(id_or_email))
    else:
        try:
            email = normalise_email(id_or_email)
        except SubscriberError:
            return None
        row = db.row_by_email(store, email)
        if row is None:
            rows = db.rows_by_email_nocase(store, email)
            row = rows[0] if len(rows) == 1 else None
    if row is None:
        return None
    return _row_to_subscriber(row, follows_of(store, int(row[0])))


def require(store: Store, id_or_email: int | str) -> Subscriber:
    sub = get(store, id_or_email)
    if sub is None:
        raise SubscriberError(f"no subscriber {id_or_email}")
    return sub


def by_token(
    store: Store, secret: bytes, token: str, purpose: str, *, now: datetime | None = None, max_age_hours: float = 72
) -> Subscriber:
    """The subscriber a signed link names; :class:`TokenError` unless the token is valid *and* its id and
    address still belong together (a token dies with its subscriber or its old address)."""
    subscriber_id, email = tokens.verify(secret, token, purpose, now, max_age_hours=max_age_hours)
    sub = get(store, subscriber_id)
    if sub is None or sub.email != email:
        raise TokenError("this link is no longer valid")
    return sub


def iter_subscribers(store: Store, *, status: str | None = None) -> Iterator[Subscriber]:
    """Every subscriber (or those with ``status``), by address."""
    follows: dict[int, list[Follow]] = {}
    for sid, kind, value in db.all_follows(store):
        follows.setdefault(sid, []).append(Follow(kind, value))  # type: ignore[arg-type]
    for row in db.rows(store, status=status):
        yield _row_to_subscriber(row, follows.get(int(row[0]), []))


def counts(store: Store) -> dict[str, int]:
    return db.count_by_status(store)


# -- writing --------------------------------------------------------------------------------------------


def _write_follows(store: Store, subscriber_id: int, follows: Iterable[Follow], *, replace: bool) -> None:
    db.write_follows(store, subscriber_id, ((f.kind, f.value) for f in follows), replace=replace)


def _insert(store: Store, email: str, name: str, status: str, now: datetime) -> int:
    return db.insert(store, email, name, status, iso(now))


def add(
    store: Store,
    email: str,
    name: str = "",
    follows: Iterable[Follow] = (),
    *,
    confirmed: bool = False,
    now: datetime | None = None,
    secret: bytes | None = None,
) -> Subscriber:
    """Add a new subscriber (``pending`` unless ``confirmed``). An existing address is an error, and so is
    one that asked to be forgotten (checked when ``secret``, the signing secret, is given)."""
    address = normalise_email(email)
    now = now or now_utc()
    wanted = _unique(follows)
    if secret is not None and db.is_forgotten(store, forgotten_hash(secret, address)):
        raise SubscriberError(f"{address} asked to be forgotten; only they can subscribe again, on the web form")
    with store.transaction():
        if db.identity(store, address) is not None:
            raise SubscriberError(f"{address} is already a subscriber")
        sid = _insert(store, address, clean_name(name), "confirmed" if confirmed else "pending", now)
        _write_follows(store, sid, wanted, replace=True)
    return require(store, sid)


def subscribe_pending(
    store: Store, email: str, name: str = "", follows: Iterable[Follow] = (), *, now: datetime | None = None
) -> Subscriber:
    """A subscription request (the web form): a new or refreshed ``pending`` subscriber.

    A confirmed subscriber stays confirmed and gets the follows merged in; an unsubscribed or bounced one
    goes back to pending, so only a new confirmation mails them again. The caller answers the same in every
    case, never revealing which it was.
    """
    address = normalise_email(email)
    now = now or now_utc()
    wanted = _unique(follows)
    cleaned = clean_name(name)
    with store.transaction():
        row = db.identity(store, address)
        if row is None:
            sid = _insert(store, address, cleaned, "pending", now)
        else:
            sid, status, old_name = row
            new_status = "confirmed" if status == "confirmed" else "pending"
            db.update_request(store, sid, new_status, cleaned or old_name, iso(now))
        _write_follows(store, sid, wanted, replace=False)
    return require(store, sid)


def confirm(store: Store, subscriber_id: int, *, now: datetime | None = None) -> Subscriber:
    """Confirm a pending subscriber (the double opt-in link). Confirming twice is harmless; an address that
    unsubscribed since must subscribe again first."""
    sub = require(store, subscriber_id)
    if sub.status == "confirmed":
        return sub
    if sub.status == "unsubscribed":
        raise SubscriberError(f"{sub.email} has unsubscribed; subscribe again to receive digests")
    at = iso(now or now_utc())
    # A click on the link proves the mailbox works again: the bounce count starts over.
    db.mark_confirmed(store, sub.id, at)
    return require(store, sub.id)


def unsubscribe(store: Store, subscriber_id: int, *, now: datetime | None = None) -> Subscriber:
    """Stop all mail to this subscriber. Idempotent. The follows are kept for a later return."""
    sub = require(store, subscriber_id)
    if sub.status == "unsubscribed":
        return sub
    at = iso(now or now_utc())
    with store.transaction():
        db.mark_unsubscribed(store, sub.id, at)
        _drop_queued(store, sub.id)
    return require(store, sub.id)


def set_status(store: Store, subscriber_id: int, status: str, *, now: datetime | None = None) -> Subscriber:
    """Set a status directly (the operator's tool; subscribers go through confirm/unsubscribe)."""
    if status not in STATUSES:
        raise SubscriberError(f"unknown status {status!r} (known: {', '.join(STATUSES)})")
    if status == "confirmed":
        sub = require(store, subscriber_id)
        if sub.status == "unsubscribed":
            at = iso(now or now_utc())
            db.set_status(store, sub.id, "pending", at)
        return confirm(store, subscriber_id, now=now)
    if status == "unsubscribed":
        return unsubscribe(store, subscriber_id, now=now)
    at = iso(now or now_utc())
    db.set_status(store, subscriber_id, status, at)
    return require(store, subscriber_id)


def set_follows(
    store: Store, subscriber_id: int, follows: Iterable[Follow], *, now: datetime | None = None
) -> Subscriber:
    """Replace what a subscriber follows (the preferences page). Following nothing is allowed."""
    sub = require(store, subscriber_id)
    with store.transaction():
        _write_follows(store, sub.id, _unique(follows), replace=True)
        db.touch(store, sub.id, iso(now or now_utc()))
    return require(store, sub.id)


def remove(store: Store, id_or_email: int | str) -> Subscriber:
    """Delete a subscriber, their follows and any of their mail still waiting in the outbox."""
    sub = require(store, id_or_email)
    with store.transaction():
        _drop_queued(store, sub.id)
        db.delete(store, sub.id)
    return sub


def _drop_queued(store: Store, subscriber_id: int) -> None:
    # Rows being sent right now are left to delivery; only mail nobody has started on is withdrawn.
    store_outbox.withdraw_queued(store, subscriber_id)


def record_bounce(store: Store, subscriber_id: int, limit: int, *, now: datetime | None = None) -> bool:
    """Count a hard bounce; True when this one made the subscriber ``bounced`` (no more mail).

    The bounce rules live in :mod:`publisher.delivery.bounces`; this counts one bounce by them.
    """
    with store.transaction():
        return db.count_bounce(store, subscriber_id, limit, iso(now or now_utc()))


# -- CSV ------------------------------------------------------------------------------------------------

EXPORT_COLUMNS = ("email", "name", "follows", "status", "created_at")


def export_csv(store: Store, out: TextIO | None = None) -> str:
    """Every subscriber as CSV (``email,name,follows,status,created_at``), re-importable as is."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for sub in iter_subscribers(store):
        writer.writerow([sub.email, sub.name, format_follows(sub.follows), sub.status, iso(sub.created_at)])
    text = buffer.getvalue()
    if out is not None:
        out.write(text)
    return text


def import_csv(
    store: Store,
    text: str,
    *,
    default_follows: Sequence[Follow] = (ALL,),
    confirmed: bool = True,
    now: datetime | None = None,
    secret: bytes | None = None,
) -> ImportReport:
    """Import subscribers from CSV text; bad rows are reported by line number and the others imported.

    Columns: ``email`` (required), ``name``, ``follows``, ``status``; or listmonk's export, whose
    ``attributes`` column is a JSON object that may hold ``follows`` (a list or a string). New subscribers
    get ``status`` from the row when it is one of ours, else confirmed (or pending when ``confirmed`` is
    False), and ``default_follows`` when the row names none. Existing subscribers keep their status (an
    import never revives an unsubscribed address), take a non-empty name, and gain the row's follows.
    Running the same import twice changes nothing the second time. With ``secret`` (the signing secret),
    addresses that asked to be forgotten are left out and counted.
    """
    now = now or now_utc()
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return ImportReport(0, 0, 0, ())
    if "email" not in header:
        raise SubscriberError("line 1: the CSV header has no 'email' column")
    errors: list[tuple[int, str]] = []
    wanted: dict[str, tuple[str, list[Follow], str | None]] = {}
    for record in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        row = dict(zip(header, record, strict=False))
        try:
            email, name, follows, status = _read_row(row)
            if email in wanted:
                raise SubscriberError(f"{email} appears twice in the file")
        except SubscriberError as exc:
            errors.append((line, str(exc)))
            continue
        wanted[email] = (name, follows, status)
    forgotten = 0
    if secret is not None and wanted:
        hashes = {forgotten_hash(secret, email): email for email in wanted}
        for digest in db.forgotten_among(store, list(hashes)):
            del wanted[hashes[digest]]
            forgotten += 1
    # The good rows are written together, in one transaction (sqlite-utils' bulk insert for the new ones).
    new: list[db.ImportedSubscriber] = []
    renamed: dict[int, str] = {}
    followed: dict[int, list[tuple[str, str]]] = {}
    unchanged = 0
    with store.transaction():
        known = db.identities(store, list(wanted))
        have = db.follows_of_many(store, [sid for sid, _ in known.values()])
        for email, (name, follows, status) in wanted.items():
            pairs: list[tuple[str, str]] = [(f.kind, f.value) for f in follows]
            if email not in known:
                fresh = status or ("confirmed" if confirmed else "pending")
                defaults = [(f.kind, f.value) for f in default_follows]
                new.append(db.ImportedSubscriber(email, name, fresh, tuple(pairs or defaults)))
                continue
            sid, old_name = known[email]
            # An existing subscriber keeps their status, takes a non-empty name, and gains the row's follows.
            if name and name != old_name:
                renamed[sid] = name
            if not set(pairs) <= have[sid]:
                followed[sid] = pairs
            if sid not in renamed and sid not in followed:
                unchanged += 1
        db.import_rows(store, new, renamed, followed, iso(now))
    return ImportReport(len(new), len(set(renamed) | set(followed)), unchanged, tuple(errors), forgotten)


def _read_row(row: dict[str, str]) -> tuple[str, str, list[Follow], str | None]:
    email = normalise_email(row.get("email", ""))
    name = clean_name(row.get("name", ""))
    follows = parse_follows(row.get("follows", ""))
    attributes = (row.get("attributes") or "").strip()
    if attributes:
        try:
            attrs = json.loads(attributes)
        except json.JSONDecodeError as exc:
            raise SubscriberError(f"attributes is not a JSON object ({exc.msg})") from exc
        if not isinstance(attrs, dict):
            raise SubscriberError("attributes is not a JSON object")
        extra = attrs.get("follows")
        if isinstance(extra, list):
            follows += [parse_follow(str(v)) for v in extra]
        elif isinstance(extra, str):
            follows += parse_follows(extra)
        elif extra is not None:
            raise SubscriberError("attributes.follows must be a list or a string")
    status = (row.get("status") or "").strip().lower() or None
    if status is not None and status not in STATUSES:
        # listmonk's statuses (enabled, blocklisted) are not ours: blocklisted must never be mailed.
        status = {"enabled": None, "blocklisted": "unsubscribed", "disabled": "unsubscribed"}.get(status, "bad")
        if status == "bad":
            raise SubscriberError(f"unknown status {row.get('status')!r}")
    return email, name, _unique(follows), status
