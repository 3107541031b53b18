"""The SQLite store: every SQL statement of publisher lives in this package, and each table has one owner.

- :mod:`publisher.store.db`: the file itself. Opening, WAL, transactions and savepoints, the numbered
  migrations (``PRAGMA user_version``), and the generic ``query``/``scalar`` helpers used by store modules and
  tests.
- :mod:`publisher.store.content`: ``items``, ``sections``, ``correspondents``, ``sources``,
  ``item_categories`` (categories and tags) and ``meta``. Written by the scanner through
  :mod:`publisher.content.catalog`, read by the feed and digest builders.
- :mod:`publisher.store.inbound`: ``inbound``, the log of bounces, complaints and unsubscribe mail read.

No module outside this package writes SQL; callers use the named functions of the owning module (a test
walks every module and fails on a SQL statement outside ``publisher/store/``).

Raw ``sqlite3`` and sqlite-utils: the scanner, feed builds, digest queueing and the outbox drain run on
prepared statements through the plain ``sqlite3`` connection. They are the hot paths (thousands of rows per
second, one statement compiled once and cached by ``sqlite3``), and sqlite-utils would add a Python layer
per row and per call there.
"""

from __future__ import annotations

from publisher.store.db import MIGRATIONS, SCHEMA_VERSION, Store, dumps, iso, now_utc, parse_iso

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Store", "dumps", "iso", "now_utc", "parse_iso"]
