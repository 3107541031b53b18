"""The subscriber's lifecycle beyond subscribing: a welcome message after confirmation, everything held about
one person (``subscribers export EMAIL``), and forgetting them (``subscribers forget EMAIL``).

Forgetting erases the subscriber, their follows, their messages in the outbox and the inbound mail about
them, and keeps one keyed hash of the address: HMAC-SHA256 with the signing secret, so the table cannot be
read back into addresses without the secret. An import, or ``subscribers add``, checks the hash and never
adds a forgotten address back; only the person can, through the web form's double opt-in, which removes the
hash once they confirm.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from publisher.config import Config
from publisher.errors import SubscriberError
from publisher.mail.subscribers import Subscriber, forgotten_hash, normalise_email
from publisher.store import Store, iso, now_utc
from publisher.store import inbound as store_inbound
from publisher.store import outbox as store_outbox
from publisher.store import subscribers as db

__all__ = ["confirmed", "enqueue_welcome", "export_person", "forget", "is_forgotten"]


def is_forgotten(store: Store, secret: bytes, email: str) -> bool:
    return db.is_forgotten(store, forgotten_hash(secret, normalise_email(email)))


def export_person(store: Store, email: str) -> dict[str, Any]:
    """Everything held about the subscriber with this address, as JSON-ready data."""
    address = normalise_email(email)
    record = db.everything_about(store, address)
    if record is None:
        raise SubscriberError(f"no subscriber {address}")
    sid = int(record["id"])
    return {
        "subscriber": record,
        "follows": [{"kind": kind, "value": value} for kind, value in db.follows_of(store, sid)],
        "messages": store_outbox.messages_of(store, sid),
        "inbound": store_inbound.about(store, sid, address),
    }


def forget(store: Store, secret: bytes, email: str, *, now: datetime | None = None) -> bool:
    """Erase a person's data, keeping only the keyed hash of their address; False when nothing was held."""
    address = normalise_email(email)
    at = iso(now or now_utc())
    with store.transaction():
        found = db.identity(store, address)
        db.add_forgotten(store, forgotten_hash(secret, address), at)
        if found is None:
            return False
        sid = found[0]
        store_inbound.erase(store, sid, address)
        store_outbox.erase_subscriber(store, sid)
        db.delete(store, sid)
    return True


def confirmed(config: Config, store: Store, secret: bytes, subscriber: Subscriber, *, was: str) -> bool:
    """After a confirmation on the web (status before: ``was``): the person subscribed again themselves, so
    their address is no longer forgotten; and the welcome message, once. True when one was queued."""
    with store.transaction():
        db.remember_again(store, forgotten_hash(secret, subscriber.email))
        if was == "confirmed":
            return False
        return enqueue_welcome(config, store, subscriber)


def enqueue_welcome(config: Config, store: Store, subscriber: Subscriber) -> bool:
    """Queue the welcome message after a confirmation, when ``subscriptions.welcome`` names its template."""
    if not config.subscriptions.welcome:
        return False
    from publisher.mail import digests

    mid = f"welcome.{secrets.token_hex(10)}.{subscriber.id}@{digests.sender_domain(config)}"
    store_outbox.enqueue(
        store,
        [store_outbox.NewMessage("welcome", subscriber.email, mid, subscriber_id=subscriber.id)],
        iso(now_utc()),
    )
    return True
