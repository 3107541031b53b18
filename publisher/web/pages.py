"""The subscription pages: subscribe, confirm, unsubscribe (RFC 8058 one-click) and preferences."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from publisher.content import catalog
from publisher.errors import SubscriberError, TokenError
from publisher.mail import lifecycle, subscribers, tokens
from publisher.store import Store
from publisher.web.state import STATE, WebState

logger = logging.getLogger(__name__)


def _choices(store: Store) -> dict[str, Any]:
    people = catalog.subscribable_correspondents(store)
    return {"correspondents": people, "categories": catalog.labels(store, "category")}


async def _form_page(
    request: web.Request,
    *,
    error: str = "",
    status: int = 200,
    email: str = "",
    name: str = "",
    chosen: set[str] | None = None,
) -> web.Response:
    state = request.app[STATE]
    choices = await state.db.run(_choices)
    return state.pages.render(
        "subscribe",
        status=status,
        page_title="Subscribe",
        error=error,
        email=email,
        name=name,
        chosen=chosen or set(),
        **choices,
    )


async def subscribe_form(request: web.Request) -> web.Response:
    return await _form_page(request)


async def subscribe(request: web.Request) -> web.Response:
    state = request.app[STATE]
    form = await request.post()
    email = str(form.get("email", "")).strip()[:320]
    name = str(form.get("name", ""))[:400]
    follow_values = [str(v) for v in form.getall("follow", [])][:200]
    client = request.remote or "unknown"
    if not state.client_limit.allow(client):
        return _too_many(request, state.client_limit.retry_after(client))
    try:
        address = subscribers.normalise_email(email)
        follows = [subscribers.parse_follow(v) for v in follow_values] or [subscribers.ALL]
    except SubscriberError as exc:
        return await _form_page(request, error=str(exc), status=400, email=email, name=name, chosen=set(follow_values))
    limit_key = address.lower()  # case variants of one mailbox share a bucket
    if not state.address_limit.allow(limit_key):
        return _too_many(request, state.address_limit.retry_after(limit_key))
    config = state.config

    def work(store: Store) -> bool:
        known = subscribers.get(store, address)
        if known is not None and known.status == "confirmed":
            # Changing a confirmed subscription takes its owner's link (preferences), not a form anyone
            # can post: nothing changes, and the answer is the same as for a new address.
            return False
        sub = subscribers.subscribe_pending(store, address, name, follows)
        if sub.status != "pending" or state.enqueue_confirmation is None:
            return False
        state.enqueue_confirmation(config, store, sub)
        return True

    if await state.db.run(work):
        state.kick_drain()
    # The same page and status whether the address was new, pending or confirmed.
    return state.pages.render("subscribed", page_title="Check your inbox")


def _too_many(request: web.Request, retry_after: int) -> web.Response:
    state = request.app[STATE]
    response = state.pages.render(
        "message",
        status=429,
        page_title="Too many requests",
        text="Too many subscription requests; please try again later.",
        error=True,
    )
    response.headers["Retry-After"] = str(retry_after)
    return response


async def _subscriber_for(request: web.Request, purpose: str) -> subscribers.Subscriber | web.Response:
    """The subscriber a token names, if the token is genuine and still matches them; else the error page."""
    state = request.app[STATE]
    token = request.match_info["token"]
    try:
        sid, email = tokens.verify(state.secret, token, purpose, max_age_hours=state.config.subscriptions.confirm_hours)
    except TokenError as exc:
        return _bad_link(state, str(exc))
    sub = await state.db.run(subscribers.get, sid)
    if sub is None or sub.email != email:
        return _bad_link(state, "invalid token")
    return sub


def _bad_link(state: WebState, reason: str) -> web.Response:
    text = reason if "expired" in reason else "This link is not valid. It may have been copied incompletely."
    return state.pages.render(
        "message",
        status=400,
        page_title="Link not valid",
        text=text,
        error=True,
        link=state.config.public_url + "subscribe",
        link_text="Subscribe",
    )


def _links(state: WebState, sub: subscribers.Subscriber) -> dict[str, Any]:
    return {
        "email": sub.email,
        "name": sub.name,
        "sub_status": sub.status,
        "unsubscribe_url": tokens.unsubscribe_url(state.config, state.secret, sub),
        "preferences_url": tokens.preferences_url(state.config, state.secret, sub),
    }


async def confirm_page(request: web.Request) -> web.Response:
    """GET and HEAD: a page with a button. Mail security scanners fetch every link in a message; a GET that
    confirmed would subscribe addresses whose owners never asked."""
    state = request.app[STATE]
    sub = await _subscriber_for(request, "confirm")
    if isinstance(sub, web.Response):
        return sub
    if sub.status == "confirmed":
        return state.pages.render("confirmed", page_title="You are subscribed", **_links(state, sub))
    return state.pages.render("confirm", page_title="Confirm your subscription", **_links(state, sub))


async def confirm(request: web.Request) -> web.Response:
    """POST: the button of :func:`confirm_page` was pressed."""
    state = request.app[STATE]
    await request.read()
    sub = await _subscriber_for(request, "confirm")
    if isinstance(sub, web.Response):
        return sub
    was = sub.status
    try:
        sub = await state.db.run(subscribers.confirm, sub.id)
    except SubscriberError:
        return state.pages.render(
            "message",
            status=409,
            page_title="Subscribe again",
            text="This address unsubscribed after this link was sent. Subscribe again to receive digests.",
            link=state.config.public_url + "subscribe",
            link_text="Subscribe",
        )
    logger.info("subscriber %d confirmed", sub.id)
    confirmed = sub
    if await state.db.run(lambda store: lifecycle.confirmed(state.config, store, state.secret, confirmed, was=was)):
        state.kick_drain()  # the welcome message
    return state.pages.render("confirmed", page_title="You are subscribed", **_links(state, sub))


async def unsubscribe_page(request: web.Request) -> web.Response:
    state = request.app[STATE]
    sub = await _subscriber_for(request, "unsubscribe")
    if isinstance(sub, web.Response):
        return sub
    # A GET changes nothing: mail scanners follow links.
    return state.pages.render(
        "unsubscribe", page_title="Unsubscribe", already=sub.status == "unsubscribed", **_links(state, sub)
    )


async def unsubscribe(request: web.Request) -> web.Response:
    state = request.app[STATE]
    await request.read()  # "List-Unsubscribe=One-Click" (RFC 8058) or the page's form: both mean yes
    sub = await _subscriber_for(request, "unsubscribe")
    if isinstance(sub, web.Response):
        return sub
    sub = await state.db.run(subscribers.unsubscribe, sub.id)
    logger.info("subscriber %d unsubscribed", sub.id)
    return state.pages.render("unsubscribed", page_title="You are unsubscribed", **_links(state, sub))


async def preferences(request: web.Request) -> web.Response:
    state = request.app[STATE]
    sub = await _subscriber_for(request, "prefs")
    if isinstance(sub, web.Response):
        return sub
    saved = False
    if request.method == "POST":
        form = await request.post()
        try:
            follows = [subscribers.parse_follow(str(v)) for v in form.getall("follow", [])][:200]
        except SubscriberError as exc:
            return state.pages.render("message", status=400, page_title="Not saved", text=str(exc), error=True)
        sub = await state.db.run(subscribers.set_follows, sub.id, follows)
        saved = True
    choices = await state.db.run(_choices)
    chosen = {str(f) for f in sub.follows}
    return state.pages.render(
        "preferences", page_title="Your subscription", saved=saved, chosen=chosen, **choices, **_links(state, sub)
    )
