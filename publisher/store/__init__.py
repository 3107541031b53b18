"""The SQLite store: every SQL statement of publisher lives in this package, and each table has one owner.

==========================  ==================================================================================
module                      tables
==========================  ==================================================================================
:mod:`~.store.db`           none: the file itself. Opening it (WAL), transactions and savepoints, the numbered
                            migrations (``PRAGMA user_version``), ``query``/``scalar`` for tests
:mod:`~.store.content`      ``items``, ``sections``, ``correspondents``, ``sources``, ``item_categories``
                            (categories and tags), ``meta``
:mod:`~.store.subscribers`  ``subscribers``, ``follows``, ``forgotten`` (addresses erased on request)
:mod:`~.store.outbox`       ``outbox``: queueing, the drain's claims and outcomes (the ledger's statements)
:mod:`~.store.digests`      ``digests``, ``digest_marks``
:mod:`~.store.inbound`      ``inbound``: the log of bounces, complaints and unsubscribe mail read
:mod:`~.store.archives`     ``feed_archive``: which RFC 5005 archive page of which feed holds an entry
:mod:`~.store.ahead`        none of its own: the reads of ``sources`` and ``meta`` a walk made ahead needs,
                            through a connection of its own in another process, with nothing loaded but
                            ``sqlite3``; :mod:`~.store.content` reads stamps and meta with the same functions
==========================  ==================================================================================

Everything else calls the named functions of the owning module: :mod:`publisher.content.catalog` and the
scanner, the feed and digest builders, mail, delivery, the web and the command line. A statement that reads
two groups (the drain's page joins ``subscribers`` to see who left) lives with the table it serves. The rules
stay with their stage (ids and hashes in ``content/``, statuses in ``mail/``, backoff in ``delivery/``); the
store holds no rules beyond what a statement says. A test walks every module and fails on SQL outside here.

Raw ``sqlite3`` or sqlite-utils:

- **Raw ``sqlite3``** for everything that runs per file, per item, per message or per request: the scanner's
  writes, feed and digest reads, queueing, the drain's claims and outcomes, the web pages. These are the hot
  paths (thousands of statements a second); a fixed statement text is compiled once and kept in
  ``sqlite3``'s statement cache, and the rows come back as tuples. sqlite-utils would add a Python layer per
  call (building SQL text, introspecting tables) for no gain there.
- **sqlite-utils** (:attr:`Store.db`, imported on first use) where its higher level pays: migrations
  written as ``create``/``create_index``/``transform`` steps (:mod:`~.store.db`), and bulk imports
  (``subscribers import``: ``insert_all`` in batches, :func:`~.store.subscribers.import_rows`). Its writes
  join the transaction open on the connection as savepoints (sqlite-utils 4), so an import is all or nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from publisher.store.db import MIGRATIONS, SCHEMA_VERSION, Store, dumps, iso, now_utc, parse_iso

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Store", "dumps", "iso", "now_utc", "parse_iso"]


def __getattr__(name: str) -> Any:
    # The names above load store.db on first use, not with the package: a walk made ahead, in a process of
    # its own, imports store.ahead alone (sqlite3 and nothing else of the store).
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from publisher.store import db

    value = getattr(db, name)
    globals()[name] = value
    return value
