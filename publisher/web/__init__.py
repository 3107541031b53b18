"""The HTTP side of the daemon (aiohttp, in the daemon's event loop).

- The feed files under ``paths.output``, at the same relative paths, so ``site.base_url`` can point here:
  strong ETags from the bytes, Last-Modified from the file, 304 to conditional requests, gzip when asked,
  the feed content types, and WebSub ``Link`` headers when hubs are configured.
- Subscriptions: ``POST /subscribe`` (double opt-in, rate-limited, never revealing whether an address is
  known), ``/confirm/{token}`` (a page with a button on GET and HEAD, which mail scanners fetch; POST confirms),
  ``/unsubscribe/{token}`` (a page on GET; RFC 8058 one-click on POST) and
  ``/preferences/{token}``. Plain HTML from ``templates/web/``, no JavaScript, autoescaped.
- ``/healthz`` and ``/metrics`` (Prometheus text).

Every store access runs on a :class:`StoreWorker` thread, so a long SQLite write elsewhere (a build) never
stalls the event loop. There is no access log: the URLs carry subscriber tokens.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from publisher.web import files, pages, status
from publisher.web.state import STATE, Stats, StoreWorker, WebState

__all__ = ["STATE", "Stats", "StoreWorker", "WebState", "make_app"]

logger = logging.getLogger(__name__)

_TOKEN_IN_PATH = re.compile(r"/(confirm|unsubscribe|preferences)/[^/?]+")


@web.middleware
async def error_boundary(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.setdefault("X-Content-Type-Options", "nosniff")
        exc.headers.setdefault("Referrer-Policy", "no-referrer")
        raise
    except asyncio.CancelledError:
        raise
    except Exception:
        where = _TOKEN_IN_PATH.sub(r"/\1/…", request.path)
        logger.exception("HTTP %s %s failed", request.method, where)
        return web.Response(status=500, text="internal error\n", headers={"X-Content-Type-Options": "nosniff"})
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def make_app(state: WebState) -> web.Application:
    app = web.Application(middlewares=[error_boundary], client_max_size=64 * 1024)
    app[STATE] = state
    app[files.CACHE] = files.FileCache()
    app.router.add_get("/healthz", status.healthz)
    app.router.add_get("/metrics", status.metrics)
    app.router.add_get("/subscribe", pages.subscribe_form)
    app.router.add_post("/subscribe", pages.subscribe)
    app.router.add_get("/confirm/{token}", pages.confirm_page)
    app.router.add_post("/confirm/{token}", pages.confirm)
    app.router.add_get("/unsubscribe/{token}", pages.unsubscribe_page)
    app.router.add_post("/unsubscribe/{token}", pages.unsubscribe)
    app.router.add_get("/preferences/{token}", pages.preferences)
    app.router.add_post("/preferences/{token}", pages.preferences)
    app.router.add_get("/{path:.+}", files.feed_file)
    return app
