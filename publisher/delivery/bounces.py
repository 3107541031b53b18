"""The bounce rules (the only implementation) and the way in for inbound mail.

Rules, applied to the outbox row a bounce names (see :mod:`publisher.delivery.inbound` for how it is named):

- **hard** (a 5xx in the SMTP session, or a report that the message failed with 5.x.x): one bounce counted
  toward ``smtp.bounce_limit``; at the limit the subscriber becomes ``bounced``, gets no further mail, and
  their queued rows are withdrawn.
- **soft** (the relay gave up on a 4.x.x: mailbox full, over quota): counted only when soft bounces repeat
  over ``bounces.soft_days``: a *streak* is the run of soft-bounced messages, in the order they were sent,
  with no delivered message between them. When a streak spans ``soft_days`` (first to last message sent),
  one bounce is counted and the streak starts over. A message delivered in between (accepted, and no
  report came back for it) ends the streak, so a later delivery resets it.
- **delayed** (a relay's warning that it is still trying): noted on the row, not counted.
- **complaint** (ARF): the subscriber is unsubscribed at once, the row and the subscriber record it.
- **unsubscribe** (mail to the List-Unsubscribe mailto address): its sender is unsubscribed.
- The same report twice (a relay resending, a file read again after a crash) counts once: a row that
  already bounced or drew a complaint is not counted again.
- :func:`reset` forgets an address's bounces: the count, the soft streak, and ``bounced`` → ``confirmed``.

Inbound mail comes in one way, :func:`receive`: the ``publisher inbound`` command (stdin, for Postfix
``pipe``, procmail or ``.forward``) and the daemon's watch of ``bounces.maildir`` both call it. Mail that is
not recognised, or that names none of our messages, is kept in the quarantine Maildir, and recognised mail
read from the watched Maildir moves to the processed one. Neither is pruned; :func:`erase_kept` deletes from
both the messages that name one person, when they are forgotten.
"""

from __future__ import annotations

import contextlib
import email
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path

from publisher.config import Config, SmtpConfig
from publisher.delivery.inbound import Failure, Inbound, classify
from publisher.disk import fsync_dir
from publisher.mail import tokens
from publisher.store import Store, iso, now_utc, parse_iso
from publisher.store import inbound as inbound_log
from publisher.store import outbox as sql
from publisher.store import subscribers as subscriber_sql

__all__ = ["Received", "in_session", "process_maildir", "receive", "reset"]

log = logging.getLogger(__name__)

_ENHANCED = re.compile(r"\b([45]\.\d{1,3}\.\d{1,3})\b")


@dataclass(frozen=True)
class Received:
    """What one inbound message was and what was done about it."""

    kind: str  # bounce | delayed | complaint | unsubscribe | unknown
    action: str  # one line for the log and the command's output
    row_id: int | None = None
    done: bool = False  # it changed something; else a person should look at it (quarantine)
    quarantined: Path | None = None


def _policy(config: Config) -> SmtpConfig:
    return config.smtp if config.smtp is not None else SmtpConfig()


# -- the rules ----------------------------------------------------------------------------------------------


def in_session(store: Store, row_id: int, subscriber_id: int | None, code: int | None, error: str,
               limit: int, stamp: str) -> bool:  # fmt: skip
    """A 5xx during our own SMTP session: a hard bounce. True when it made the subscriber ``bounced``."""
    found = _ENHANCED.search(error)
    status = found.group(1) if found else (str(code) if code else "5.0.0")
    sql.mark_outcome(store, row_id, "bounced", stamp, bounce_class="hard", status=status)
    if subscriber_id is None:
        return False
    became = subscriber_sql.count_bounce(store, subscriber_id, limit, stamp)
    if became:
        log.warning("subscriber %d marked bounced after %d hard bounces", subscriber_id, limit)
    return became


def _hard(store: Store, row: sql.SentRow, failure: Failure, limit: int, stamp: str) -> str:
    sql.mark_outcome(store, row.id, "bounced", stamp, bounce_class="hard", status=failure.status,
                     detail=failure.detail)  # fmt: skip
    if row.subscriber_id is None:
        return f"hard bounce ({failure.status}) of message {row.id} to {row.recipient}"
    became = subscriber_sql.count_bounce(store, row.subscriber_id, limit, stamp)
    tail = "; subscriber now bounced, no further mail" if became else ""
    return f"hard bounce ({failure.status}) of message {row.id} to {row.recipient}, counted{tail}"


def _soft(store: Store, row: sql.SentRow, failure: Failure, limit: int, days: int, stamp: str) -> str:
    sql.mark_outcome(store, row.id, "bounced", stamp, bounce_class="soft", status=failure.status,
                     detail=failure.detail)  # fmt: skip
    head = f"soft bounce ({failure.status}) of message {row.id} to {row.recipient}"
    if row.subscriber_id is None:
        return head
    streak = _streak(sql.soft_history(store, row.subscriber_id))
    if not streak:
        return head
    first, last = parse_iso(streak[-1][1]), parse_iso(streak[0][1])
    span = (last - first).total_seconds() / 86400
    if span < days:
        return f"{head}; {len(streak)} in a row over {span:.1f} of {days} days, not counted yet"
    sql.mark_soft_counted(store, [row_id for row_id, _ in streak])
    became = subscriber_sql.count_bounce(store, row.subscriber_id, limit, stamp)
    tail = "; subscriber now bounced, no further mail" if became else ""
    return f"{head}; {len(streak)} in a row over {span:.1f} days, counted{tail}"


def _streak(history: Sequence[tuple[int, str, str, str, int]]) -> list[tuple[int, str]]:
    """The uncounted soft bounces in a row, newest first, ending at the newest soft bounce (rows sent after it
    may still bounce: they neither extend nor end it)."""
    streak: list[tuple[int, str]] = []
    for row_id, sent_at, outcome, bounce_class, counted in history:
        soft = outcome == "bounced" and bounce_class == "soft"
        if soft and not counted:
            streak.append((row_id, sent_at))
        elif streak or (soft and counted):
            break  # delivered, hard-bounced or already counted: the run ends here
    return streak


def _apply_bounce(store: Store, config: Config, inbound: Inbound, row: sql.SentRow, stamp: str) -> str:
    failure = next((f for f in inbound.failures if f.address == row.recipient.lower()), inbound.failures[0])
    if row.outcome in ("bounced", "complained"):
        return f"message {row.id} to {row.recipient} already {row.outcome}; not counted again"
    if failure.bounce_class == "delayed":
        sql.mark_outcome(store, row.id, "delayed", stamp, status=failure.status, detail=failure.detail)
        return f"delay warning ({failure.status}) for message {row.id} to {row.recipient}; not counted"
    limit = _policy(config).bounce_limit
    if failure.bounce_class == "soft":
        return _soft(store, row, failure, limit, config.bounces.soft_days, stamp)
    return _hard(store, row, failure, limit, stamp)


def _complain(store: Store, inbound: Inbound, row: sql.SentRow | None, stamp: str) -> tuple[str, int | None]:
    subscriber_id = row.subscriber_id if row is not None else None
    if subscriber_id is None and inbound.address:
        found = subscriber_sql.identity(store, inbound.address)
        subscriber_id = found[0] if found else None
    if row is not None:
        sql.mark_outcome(store, row.id, "complained", stamp, detail=f"complaint: {inbound.feedback_type}")
    if subscriber_id is None:
        return "", None
    subscriber_sql.unsubscribe_now(store, subscriber_id, stamp, complained=True)
    who = row.recipient if row is not None else inbound.address
    return f"complaint ({inbound.feedback_type}) from {who}: unsubscribed", subscriber_id


def _row_of(store: Store, inbound: Inbound) -> sql.SentRow | None:
    """The outbox row the message names: by VERP token, else by the attached original's Message-ID when the
    failed or complaining address is that row's recipient."""
    if inbound.row_id is not None:
        row = sql.find_row(store, row_id=inbound.row_id)
        if row is not None:
            return row
    named = {f.address for f in inbound.failures} | ({inbound.address} if inbound.address else set())
    for message_id in inbound.original_ids:
        row = sql.find_row(store, message_id=message_id)
        if row is not None and row.recipient.lower() in named:
            return row
    return None


def apply(store: Store, config: Config, inbound: Inbound, *, now: datetime | None = None) -> Received:
    """Apply the rules to a classified message, in one transaction. Unattributed: ``kind`` stays, nothing done."""
    stamp = iso(now or now_utc())
    with store.transaction():
        row = _row_of(store, inbound)
        if inbound.kind == "bounce":
            delayed = all(f.bounce_class == "delayed" for f in inbound.failures)
            kind = "delayed" if delayed else "bounce"
            if row is None:
                return Received(kind, "a bounce naming none of our messages")
            action = _apply_bounce(store, config, inbound, row, stamp)
            failure = inbound.failures[0]
            inbound_log.record(store, stamp=stamp, kind=kind, outbox_id=row.id, subscriber_id=row.subscriber_id,
                               address=row.recipient, bounce_class=failure.bounce_class, status=failure.status,
                               detail=action, message_id=inbound.message_id)  # fmt: skip
            return Received(kind, action, row.id, done=True)
        if inbound.kind == "complaint":
            action, subscriber_id = _complain(store, inbound, row, stamp)
            if not action:
                return Received("complaint", f"a complaint naming no subscriber ({inbound.address or 'no address'})")
            inbound_log.record(store, stamp=stamp, kind="complaint", outbox_id=row.id if row else None,
                               subscriber_id=subscriber_id, address=inbound.address, status=inbound.feedback_type,
                               detail=action, message_id=inbound.message_id)  # fmt: skip
            return Received("complaint", action, row.id if row else None, done=True)
        if inbound.kind == "unsubscribe":
            found = subscriber_sql.identity(store, inbound.address)
            if found is None:
                return Received("unsubscribe", f"an unsubscribe request from {inbound.address}, not a subscriber")
            changed = subscriber_sql.unsubscribe_now(store, found[0], stamp, complained=False)
            action = f"unsubscribe request from {inbound.address}: " + ("unsubscribed" if changed else "already out")
            inbound_log.record(store, stamp=stamp, kind="unsubscribe", subscriber_id=found[0],
                               address=inbound.address, detail=action, message_id=inbound.message_id)  # fmt: skip
            return Received("unsubscribe", action, done=True)
    return Received("unknown", inbound.reason or "not recognised")


def reset(store: Store, email: str, *, now: datetime | None = None) -> bool:
    """Forget the bounces of the subscriber with this address; False when there is none."""
    stamp = iso(now or now_utc())
    with store.transaction():
        found = subscriber_sql.identity(store, email.strip().lower())
        if found is None:
            return False
        sql.forget_soft_bounces(store, found[0])
        return subscriber_sql.reset_bounces(store, found[0], stamp)


# -- the way in ---------------------------------------------------------------------------------------------


def unsubscribe_address(config: Config) -> str:
    return parseaddr(config.subscriptions.unsubscribe_mailto)[1].lower()


def keep(folder: Path, data: bytes) -> Path:
    """Write ``data`` into the Maildir ``folder``: to tmp/, fsynced, then renamed into new/ (and the rename
    fsynced), so a message is never half there and never lost once this returns."""
    for sub in ("tmp", "new", "cur"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns()}.P{os.getpid()}R{secrets.token_hex(6)}.{socket.gethostname().replace('/', '_')}"
    tmp = folder / "tmp" / name
    with open(tmp, "xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    final = folder / "new" / name
    os.rename(tmp, final)
    fsync_dir(folder / "new")
    return final


def receive(store: Store, config: Config, data: bytes, *, envelope_recipients: Sequence[str] = (),
            secret: bytes | None = None, keep_unknown: bool = True,
            now: datetime | None = None) -> Received:  # fmt: skip
    """Classify one inbound message and apply the rules; unknown or unattributed mail is quarantined."""
    secret = secret if secret is not None else tokens.load_secret(config)
    inbound = classify(data, secret=secret, bounce_address=config.bounce_address,
                       unsubscribe_address=unsubscribe_address(config),
                       envelope_recipients=envelope_recipients)  # fmt: skip
    received = apply(store, config, inbound, now=now)
    if received.done:
        log.info("inbound: %s", received.action)
        return received
    where = keep(config.bounces.quarantine, data) if keep_unknown else None
    if where is not None:
        log.warning("inbound: %s (%s); kept in %s", received.kind, received.action, where)
    with store.transaction():
        inbound_log.record(store, stamp=iso(now or now_utc()), kind="unknown", detail=received.action,
                           message_id=inbound.message_id)  # fmt: skip
    return replace(received, quarantined=where)


def process_maildir(store: Store, config: Config, folder: Path, *, secret: bytes | None = None) -> list[Received]:
    """Read every message in the Maildir ``folder`` (new/ and cur/) through :func:`receive`.

    Recognised mail moves to ``bounces.processed``, the rest to ``bounces.quarantine``; the file leaves the
    watched folder only once its copy is safely written. One unreadable file does not stop the others.
    """
    secret = secret if secret is not None else tokens.load_secret(config)
    out: list[Received] = []
    for path in _messages(folder):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue  # taken by another reader
        except OSError as exc:
            log.error("inbound: cannot read %s (%s); left where it is", path, exc)
            continue
        try:
            received = receive(store, config, data, secret=secret, keep_unknown=False)
            if received.done:
                keep(config.bounces.processed, data)
            else:
                where = keep(config.bounces.quarantine, data)
                received = replace(received, quarantined=where)
                log.warning("inbound: %s: %s; moved to %s", path.name, received.action, where)
            path.unlink()
        except Exception:
            log.exception("inbound: cannot process %s; left where it is, tried again later", path)
            continue
        out.append(received)
    return out


def erase_kept(config: Config, address: str) -> int:
    """Delete the kept inbound messages (``bounces.quarantine`` and ``bounces.processed``, new/ and cur/)
    that name ``address``: part of forgetting a person. A message names them when the address stands in its
    bytes or in one of its decoded parts (a report often carries the original message in base64 or
    quoted-printable), in any case, and not as the tail of a longer address (``ann@`` is not in
    ``joann@``). Returns how many files went."""
    wanted = _naming(address)
    touched: list[Path] = []
    for folder in dict.fromkeys((config.bounces.quarantine, config.bounces.processed)):
        for path in _messages(folder):
            try:
                data = path.read_bytes()
            except OSError:
                continue  # gone meanwhile, or a directory
            if _names(data, wanted):
                path.unlink(missing_ok=True)
                touched.append(path.parent)
    for directory in dict.fromkeys(touched):
        fsync_dir(directory)
    return len(touched)


def _messages(folder: Path) -> Iterator[Path]:
    """The messages in the Maildir ``folder``: new/ then cur/, each in name order, dot files left out."""
    for sub in ("new", "cur"):
        try:
            names = sorted(os.listdir(folder / sub))
        except FileNotFoundError:
            continue
        yield from (folder / sub / name for name in names if not name.startswith("."))


def _naming(address: str) -> re.Pattern[bytes]:
    """The address (and its domain's Unicode form, when it has one) as a whole address, in any case."""
    local, _, domain = address.lower().rpartition("@")
    domains = {domain}
    with contextlib.suppress(UnicodeError):
        domains.add(domain.encode("ascii").decode("idna"))
    forms = b"|".join(re.escape(f"{local}@{d}".encode()) for d in sorted(domains))
    atext = rb"A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-"
    return re.compile(rb"(?<![" + atext + rb"])(?:" + forms + rb")(?![A-Za-z0-9\-]|\.[A-Za-z0-9])", re.I)


def _names(data: bytes, wanted: re.Pattern[bytes]) -> bool:
    if wanted.search(data):
        return True
    for part in email.message_from_bytes(data).walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and wanted.search(payload):
            return True
    return False
