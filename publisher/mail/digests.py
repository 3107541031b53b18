"""Gathering digests and queuing them in the outbox.

A *scope* names what one digest gathers and who gets it:

- ``correspondent:SLUG``: one correspondent's sections, for the followers of that correspondent;
- ``category:SLUG``: the sections of items in one category, for the followers of that category;
- ``all``: every section, for the followers of everything (who get only this one, not the others too);
- ``combined`` (``digest.mode = "combined"``): every section, and each subscriber's email holds the part
  of it that they follow, grouped by correspondent.

Each scope has a mark (``digest_marks.last_end``): a digest gathers the sections the store recorded after
it, and making the digest moves the mark to the digest's period end, in the same transaction that freezes
the digest's section ids and inserts one outbox row per confirmed subscriber. So the next digest never
repeats a section, running :func:`queue` again changes nothing, and the outbox guarantees delivery.

No section older (by publication date) than ``digest.max_age_days`` is ever gathered: the first digest of a
scope, a newly imported archive, or a daemon that was down for a month never floods anyone with a backlog.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import TYPE_CHECKING

from publisher import models
from publisher.config import Config
from publisher.errors import PublisherError, SubscriberError
from publisher.mail.subscribers import parse_follow
from publisher.models import ALL, Scope
from publisher.store import Store, dumps, iso, parse_iso
from publisher.store import content as store_content
from publisher.store import digests as store_digests
from publisher.store import outbox as store_outbox
from publisher.store import subscribers as store_subscribers
from publisher.store.outbox import NewMessage

if TYPE_CHECKING:
    from publisher.mail.render import RenderedDigest

log = logging.getLogger(__name__)

# The one scope of digest.mode = "combined".
COMBINED = models.COMBINED


class DigestError(PublisherError):
    """A digest cannot be planned (an unknown scope or correspondent)."""


@dataclass(frozen=True)
class DigestPlan:
    """What one digest will hold and who will get it. Nothing is written until :func:`queue`."""

    digest_id: str
    scope: Scope
    title: str  # the correspondent's or category's name; the site's title for all and combined
    period_start: datetime
    period_end: datetime
    section_ids: tuple[int, ...]
    recipients: tuple[int, ...]  # subscriber ids
    # Combined digests only: the sections each recipient follows (a subset of section_ids).
    selections: Mapping[int, tuple[int, ...]] = field(default_factory=dict)


def normalise_scope(scope: Scope | str) -> Scope:
    """A scope as the operator types it: ``laura-bicker``, ``correspondent:laura-bicker``,
    ``category:World News``, ``all``, ``combined`` (a :class:`Scope` is taken as it is)."""
    if isinstance(scope, Scope):
        return scope
    text = scope.strip()
    if text.lower() == str(COMBINED):
        return COMBINED
    try:
        return parse_follow(text).scope
    except SubscriberError as exc:
        raise DigestError(f"unknown digest scope {scope!r}") from exc


def digest_id(scope: Scope, period_end: datetime) -> str:
    return f"{scope}@{iso(period_end)}"


def message_id(config: Config, digest: str, subscriber_id: int) -> str:
    """The Message-ID (without angle brackets) of one digest email: the same on every retry."""
    return _message_id_prefix(config, digest) + f"{subscriber_id}@{sender_domain(config)}"


def _message_id_prefix(config: Config, digest: str) -> str:
    """What every Message-ID of a digest starts with (:func:`message_id` is this, the subscriber, the domain)."""
    return f"digest.{hashlib.sha256(digest.encode('utf-8')).hexdigest()[:24]}."


def sender_domain(config: Config) -> str:
    address = parseaddr(config.sender)[1]
    return address.rpartition("@")[2].lower() or "localhost"


# -- reading the store ----------------------------------------------------------------------------------


def _followers(store: Store) -> dict[Scope, list[int]]:
    """Scope → confirmed subscriber ids. Followers of everything are left out of the narrower scopes."""
    rows = store_subscribers.confirmed_follows(store)
    everything = {sid for kind, _, sid in rows if kind == "all"}
    # Keyed by the (kind, value) text first: thousands of followers share a few scopes.
    by_text: dict[tuple[str, str], list[int]] = defaultdict(list)
    for kind, value, sid in rows:
        if kind == "all" or sid not in everything:
            by_text[(kind, value)].append(sid)
    scopes: dict[Scope, list[int]] = defaultdict(list)
    for (kind, value), sids in by_text.items():
        scopes[ALL if kind == "all" else Scope.of(kind, value)].extend(sids)
    return dict(scopes)


def _mark(store: Store, scope: Scope) -> datetime | None:
    text = store_digests.mark(store, str(scope))
    return parse_iso(text) if text else None


def _window(config: Config, store: Store, scope: Scope, now: datetime) -> tuple[datetime, datetime, datetime]:
    """(start, end, oldest publication date) of the next digest of ``scope``."""
    oldest = now - timedelta(days=config.digest.max_age_days)
    mark = _mark(store, scope)
    start = mark if mark is not None else oldest
    return start, now, oldest


def _section_rows(
    store: Store, scope: Scope, start: datetime, end: datetime, oldest: datetime, *, keep_shared: bool = False
) -> list[tuple[int, str, str]]:
    """(section id, correspondent slug, item key) of the sections ``scope`` gathers in the window."""
    return store_content.window_sections(
        store,
        after=iso(start),
        until=iso(end),
        published_since=iso(oldest),
        correspondent=scope.correspondent,
        category=scope.category,
        # A co-author's credit for a text shares the text's anchor: the text once, not once per co-author.
        first_of_shared=scope.kind in ("all", "category") and not keep_shared,
    )


def scope_title(config: Config, store: Store, scope: Scope) -> str:
    kind, value = scope.kind, scope.value
    if kind == "correspondent":
        person = store_content.correspondent(store, value)
        return person.name if person is not None and person.name else value
    if kind == "category":
        from publisher.models import slugify

        for raw in store_content.category_lists(store, value, 20):
            for name in json.loads(raw):
                if slugify(name) == value:
                    return str(name)
        return value
    return config.site.title


def _selections(store: Store, rows: Sequence[tuple[int, str, str]]) -> dict[int, tuple[int, ...]]:
    """Combined mode: each confirmed subscriber's share of the sections (those left empty are dropped)."""
    categories: dict[str, set[str]] = defaultdict(set)
    categories.update(store_content.item_category_slugs(store, [key for _, _, key in rows]))
    wants: dict[int, tuple[set[str], set[str], bool]] = {}
    for kind, value, sid in store_subscribers.confirmed_follows(store):
        people, cats, everything = wants.setdefault(sid, (set(), set(), False))
        if kind == "correspondent":
            people.add(value)
        elif kind == "category":
            cats.add(value)
        elif kind == "all":
            wants[sid] = (people, cats, True)
    out: dict[int, tuple[int, ...]] = {}
    for sid in sorted(wants):
        people, cats, everything = wants[sid]
        chosen = tuple(
            section
            for section, slug, key in rows
            if everything or slug in people or not cats.isdisjoint(categories[key])
        )
        if chosen:
            out[sid] = chosen
    return out


# -- planning -------------------------------------------------------------------------------------------


def due_scopes(config: Config, store: Store, followers: Mapping[Scope, list[int]] | None = None) -> list[Scope]:
    """The scopes a scheduled run serves: those with confirmed followers, in a stable order.

    Correspondents with their own schedule (``digest.schedules``) are left to their own runs. ``followers``:
    what ``_followers(store)`` returned, when the caller has it already.
    """
    if config.digest.mode == "combined":
        return [COMBINED]
    own = {Scope.of_correspondent(slug) for slug in config.digest.schedules}
    return sorted(s for s in (followers if followers is not None else _followers(store)) if s not in own)


def _plan_scope(
    config: Config, store: Store, scope: Scope, now: datetime, *, followers: Mapping[Scope, list[int]] | None
) -> DigestPlan | None:
    start, end, oldest = _window(config, store, scope, now)
    combined = scope == COMBINED
    rows = _section_rows(store, ALL if combined else scope, start, end, oldest, keep_shared=combined)
    if not rows:
        log.info("digest %s: no new sections since %s; no digest", scope, iso(start))
        return None
    selections: dict[int, tuple[int, ...]] = {}
    if scope == COMBINED:
        selections = _selections(store, rows)
        recipients = tuple(selections)
    else:
        recipients = tuple((followers if followers is not None else _followers(store)).get(scope, ()))
    return DigestPlan(
        digest_id=digest_id(scope, end),
        scope=scope,
        title=scope_title(config, store, scope),
        period_start=start,
        period_end=end,
        section_ids=tuple(r[0] for r in rows),
        recipients=recipients,
        selections=selections,
    )


def plan(
    config: Config, store: Store, *, now: datetime | None = None, scope: Scope | str | None = None
) -> list[DigestPlan]:
    """The digests a run at ``now`` would make (for ``scope`` only, when given). Writes nothing.

    A plan with no recipients is still listed (``--dry-run`` shows it); :func:`queue` skips it.
    """
    now = now or datetime.now(UTC)  # as precise as the sections' stamps: no second is cut off
    scopes = [normalise_scope(scope)] if scope else due_scopes(config, store)
    followers = _followers(store)
    plans = []
    for name in scopes:
        p = _plan_scope(config, store, name, now, followers=followers)
        if p is not None:
            plans.append(p)
    return plans


# -- queuing --------------------------------------------------------------------------------------------


def queue(config: Config, store: Store, *, now: datetime | None = None, scope: Scope | str | None = None) -> list[str]:
    """Make the digests due at ``now`` and put one outbox row per recipient; the ids of digests queued.

    Each digest is planned again inside its own write transaction, so two runs at once (the daemon and
    the CLI) cannot both gather the same sections.
    """
    now = now or datetime.now(UTC)  # as precise as the sections' stamps: no second is cut off
    # Who follows what is read once for the whole run: a subscriber who arrives a moment later gets the
    # next digest, and one who leaves is skipped by delivery. Only the sections are re-read under the lock.
    followers = _followers(store)
    scopes = [normalise_scope(scope)] if scope else due_scopes(config, store, followers)
    emails: dict[int, str] = {}
    queued: list[str] = []
    for name in scopes:
        with store.transaction():
            p = _plan_scope(config, store, name, now, followers=followers)
            if p is None:
                continue
            if not p.recipients:
                log.info("digest %s: %d new sections but no confirmed followers; no digest", name, len(p.section_ids))
                continue
            if not emails:
                emails = store_subscribers.confirmed_emails(store)
            if _insert(config, store, p, now, emails):
                queued.append(p.digest_id)
    return queued


def _insert(config: Config, store: Store, p: DigestPlan, now: datetime, emails: Mapping[int, str]) -> bool:
    at = iso(now)
    made = store_digests.insert(
        store,
        p.digest_id,
        scope=str(p.scope),
        period_start=iso(p.period_start),
        period_end=iso(p.period_end),
        section_ids=dumps(list(p.section_ids)),
        at=at,
    )
    if not made:
        # Made before (a rerun at the same instant): its rows are already in the outbox.
        return False
    rows = []
    # Rows sharing a selection go out one after another, so the composer renders each selection once.
    order = sorted(p.recipients, key=lambda sid: (p.selections[sid], sid)) if p.selections else p.recipients
    # message_id() per row, with what every row shares worked out once (parsing the From address, hashing
    # the digest id): a digest to 10,000 readers queues in a fraction of the time.
    prefix, domain = _message_id_prefix(config, p.digest_id), sender_domain(config)
    for sid in order:
        if sid not in emails:
            continue
        payload = dumps({"sections": list(p.selections[sid])}) if p.selections else "{}"
        rows.append(NewMessage("digest", emails[sid], f"{prefix}{sid}@{domain}", sid, p.digest_id, payload))
    store_outbox.enqueue(store, rows, at)
    store_digests.move_mark(store, str(p.scope), iso(p.period_end))
    log.info(
        "digest %s: %d sections for %d subscribers queued as %s",
        p.scope,
        len(p.section_ids),
        len(rows),
        p.digest_id,
    )
    return True


def last_digest_times(store: Store) -> dict[str, datetime]:
    """Scope → the end of its last digest (for metrics and status pages)."""
    return {scope: parse_iso(end) for scope, end in store_digests.marks(store).items()}


# -- preview ----------------------------------------------------------------------------------------------


def preview(config: Config, store: Store, correspondent_slug: str, *, now: datetime | None = None) -> RenderedDigest:
    """The digest ``correspondent_slug``'s followers would get at ``now``, rendered; sends and marks nothing.

    With nothing new to send the result has no sections (and a digest run would send nothing).
    """
    from publisher.mail.render import render_plan

    now = now or datetime.now(UTC)  # as precise as the sections' stamps: no second is cut off
    scope = normalise_scope(correspondent_slug)
    if scope.correspondent and store_content.correspondent(store, scope.correspondent) is None:
        raise DigestError(f"no correspondent {scope.correspondent!r} in the store")
    start, end, _ = _window(config, store, scope, now)
    p = _plan_scope(config, store, scope, now, followers={}) or DigestPlan(
        digest_id=digest_id(scope, end),
        scope=scope,
        title=scope_title(config, store, scope),
        period_start=start,
        period_end=end,
        section_ids=(),
        recipients=(),
    )
    return render_plan(config, store, p)
