"""Reading mail that comes back: bounces (DSNs), complaints (ARF) and unsubscribe requests. Pure: bytes in,
an :class:`Inbound` out; nothing here touches the store or the disk.

- **Bounces** go through flufl.bounce, Mailman's detectors (RFC 3464 DSNs, Postfix, Exim, Microsoft,
  qmail and a dozen more formats seen in the wild). It tells which addresses failed for good and which are
  only delayed; the RFC 3464 ``Status`` of each (``5.1.1``, ``4.2.2``) is read from the report when there is
  one, else the first enhanced status code in the text. Failed with ``4.x.x`` (the relay gave up on a
  temporary error: mailbox full) is *soft*; everything else that failed is *hard*.
- **Complaints** are RFC 5965 feedback reports (``multipart/report; report-type=feedback-report``).
- **Unsubscribe** is mail sent to ``subscriptions.unsubscribe_mailto`` (the mailto: of List-Unsubscribe).
- Anything else is ``unknown``: the caller quarantines it.

Attribution, best first: the VERP token of the address the mail was delivered to (the envelope recipient, or
``Delivered-To``/``X-Original-To``/``To``), the VERP token in the ``Return-Path`` of the attached original,
then the ``Message-ID`` of the attached original. A token whose MAC does not verify names nothing.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses, parseaddr
from typing import Literal

from flufl.bounce import all_failures

from publisher.delivery import verp

__all__ = ["Failure", "Inbound", "classify"]

Kind = Literal["bounce", "complaint", "unsubscribe", "unknown"]
BounceClass = Literal["hard", "soft", "delayed"]

_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_SMTP_CODE = re.compile(r"\b([45]\d\d)[ -]")
_RECIPIENT_HEADERS = ("delivered-to", "x-original-to", "envelope-to", "x-envelope-to", "to", "cc")


@dataclass(frozen=True)
class Failure:
    address: str
    bounce_class: BounceClass
    status: str = ""  # 5.1.1
    detail: str = ""  # the remote server's words


@dataclass(frozen=True)
class Inbound:
    kind: Kind
    row_id: int | None = None  # the outbox row named by a valid VERP token
    original_ids: tuple[str, ...] = ()  # Message-IDs of the attached original message
    failures: tuple[Failure, ...] = ()
    address: str = ""  # who complained, or who asked to unsubscribe
    message_id: str = ""  # of this inbound message
    reason: str = ""  # why it is unknown
    feedback_type: str = ""
    recipients: tuple[str, ...] = field(default=(), repr=False)


def parse_message(data: bytes) -> Message:
    # compat32: the detectors walk the tree with the classic Message API.
    return email.message_from_bytes(data, policy=email.policy.compat32)


def _addresses(values: Sequence[str]) -> list[str]:
    return [addr for _, addr in getaddresses([str(v) for v in values]) if "@" in addr]


def _recipients(msg: Message, envelope: Sequence[str]) -> list[str]:
    out = [a.strip().strip("<>") for a in envelope if a and "@" in a]
    for name in _RECIPIENT_HEADERS:
        out.extend(_addresses(msg.get_all(name, [])))
    return out


def _originals(msg: Message) -> Iterator[Message]:
    """The headers of the original message(s) attached to a report."""
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global") and part.is_multipart():
            for inner in part.get_payload():
                if isinstance(inner, Message):
                    yield inner
        elif ctype in ("text/rfc822-headers", "message/rfc822-headers", "text/rfc822"):
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                yield HeaderParser(policy=email.policy.compat32).parsestr(payload.decode("utf-8", "replace"))


def _verp_row(secret: bytes, bounce_address: str, candidates: Sequence[str]) -> int | None:
    for address in candidates:
        row_id = verp.parse(secret, address, bounce_address)
        if row_id is not None:
            return row_id
    return None


def _report_blocks(msg: Message, subtype: str) -> Iterator[Message]:
    for part in msg.walk():
        if part.get_content_type() == f"message/{subtype}" and part.is_multipart():
            for block in part.get_payload():
                if isinstance(block, Message):
                    yield block
        elif part.get_content_type() == f"message/{subtype}":
            # Some reporters send the fields as a plain payload.
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                text = payload.decode("utf-8", "replace")
                for chunk in re.split(r"\r?\n\r?\n", text):
                    if chunk.strip():
                        yield HeaderParser(policy=email.policy.compat32).parsestr(chunk.strip() + "\n")


def _field_address(value: str) -> str:
    """``rfc822; a@b`` → ``a@b``."""
    _, _, rest = value.rpartition(";")
    return parseaddr(rest.strip())[1].lower()


def _statuses(msg: Message) -> dict[str, tuple[str, str]]:
    """Final/original recipient → (Status, Diagnostic-Code) from the RFC 3464 parts."""
    out: dict[str, tuple[str, str]] = {}
    for block in _report_blocks(msg, "delivery-status"):
        status = (block.get("status") or "").strip().split(" ")[0]
        diagnostic = " ".join(str(block.get("diagnostic-code") or "").split())
        for name in ("final-recipient", "original-recipient", "x-actual-recipient"):
            value = block.get(name)
            if value:
                out.setdefault(_field_address(str(value)), (status, diagnostic))
    return out


def _text_of(msg: Message) -> str:
    for part in msg.walk():
        if part.get_content_maintype() == "text" and part.get_content_type() != "text/rfc822-headers":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload.decode(part.get_content_charset() or "utf-8", "replace")
    return ""


def _status_near(text: str, address: str) -> tuple[str, str]:
    """The enhanced status code (or SMTP code) nearest after ``address`` in a free-text bounce."""
    at = text.lower().find(address.lower())
    window = text[at:at + 2000] if at >= 0 else text[:4000]  # fmt: skip
    found = _STATUS.search(window)
    if found:
        return found.group(1), _line_of(window, found.start())
    code = _SMTP_CODE.search(window)
    if code:
        return f"{code.group(1)[0]}.0.0", _line_of(window, code.start())
    return "", ""


def _line_of(text: str, at: int) -> str:
    start = text.rfind("\n", 0, at) + 1
    end = text.find("\n", at)
    return " ".join(text[start : end if end >= 0 else None].split())[:300]


def _failures(msg: Message) -> list[Failure]:
    temporary, permanent = all_failures(msg)
    if not temporary and not permanent:
        return []
    statuses = _statuses(msg)
    text = _text_of(msg) if not statuses else ""
    out: list[Failure] = []
    for raw in sorted(permanent):
        address = raw.decode("ascii", "replace").lower()
        status, detail = statuses.get(address) or _status_near(text, address)
        bounce_class: BounceClass = "soft" if status.startswith("4") else "hard"
        out.append(Failure(address, bounce_class, status or "5.0.0", detail))
    for raw in sorted(temporary - permanent):
        address = raw.decode("ascii", "replace").lower()
        status, detail = statuses.get(address) or _status_near(text, address)
        out.append(Failure(address, "delayed", status or "4.0.0", detail))
    return out


def _is_feedback_report(msg: Message) -> bool:
    if msg.get_content_type() == "multipart/report" and msg.get_param("report-type", "") == "feedback-report":
        return True
    return any(part.get_content_type() == "message/feedback-report" for part in msg.walk())


def _complaint(msg: Message, originals: list[Message]) -> tuple[str, str]:
    """(complaining address, feedback type) from the ARF report and the original's headers."""
    feedback_type, address = "", ""
    for block in _report_blocks(msg, "feedback-report"):
        feedback_type = feedback_type or str(block.get("feedback-type") or "").strip().lower()
        for name in ("original-rcpt-to", "removal-recipient"):
            value = block.get(name)
            if value and not address:
                address = _field_address(str(value))
    if not address:
        for original in originals:
            found = _addresses(original.get_all("to", []))
            if found:
                address = found[0].lower()
                break
    return address, feedback_type or "abuse"


def classify(
    data: bytes,
    *,
    secret: bytes,
    bounce_address: str,
    unsubscribe_address: str = "",
    envelope_recipients: Sequence[str] = (),
) -> Inbound:
    """What one inbound message is, and what it names."""
    try:
        msg = parse_message(data)
    except Exception as exc:  # the parser is lenient; this is a message it could not even split
        return Inbound("unknown", reason=f"cannot parse: {exc.__class__.__name__}: {exc}")
    message_id = " ".join(str(msg.get("message-id") or "").split())
    recipients = _recipients(msg, envelope_recipients)
    originals = list(_originals(msg))
    original_ids = tuple(" ".join(str(o.get("message-id")).split()) for o in originals if o.get("message-id"))
    returns = _addresses([v for o in originals for v in o.get_all("return-path", [])])
    row_id = _verp_row(secret, bounce_address, recipients)
    if row_id is None:
        row_id = _verp_row(secret, bounce_address, returns)
    base = Inbound("unknown", row_id=row_id, original_ids=original_ids, message_id=message_id,
                   recipients=tuple(recipients))  # fmt: skip
    if _is_feedback_report(msg):
        address, feedback_type = _complaint(msg, originals)
        return replace(base, kind="complaint", address=address, feedback_type=feedback_type)
    try:
        failures = _failures(msg)
    except Exception as exc:  # a detector tripped over a malformed message: nobody can say what it is
        return replace(base, reason=f"bounce detectors failed: {exc.__class__.__name__}: {exc}")
    if failures:
        return replace(base, kind="bounce", failures=tuple(failures))
    unsubscribe = unsubscribe_address.strip().lower()
    if unsubscribe and any(r.lower() == unsubscribe for r in recipients):
        sender = parseaddr(str(msg.get("from") or ""))[1].lower()
        if sender:
            return replace(base, kind="unsubscribe", address=sender)
        return replace(base, reason="unsubscribe request without a From address")
    return replace(base, reason="neither a bounce, a complaint nor an unsubscribe request")
