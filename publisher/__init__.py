"""publisher: a content folder in, Atom/RSS/JSON feeds and per-correspondent email digests out.

The pipeline, one module per stage:

    readers    file bytes → ParsedItem (pure)           markup     Markdown → sanitized HTML
    scanner    content folder → store (incremental)    store      the SQLite file
    feeds      store → Atom, RSS, JSON Feed, OPML bytes writers    bytes → files, atomically
    subscribers, tokens    who follows whom           digests    store → digest messages
    messages   MIME, headers, DKIM                     delivery   outbox → SMTP or Maildir
    daemon     watch + schedule + web, one event loop  web        HTTP endpoints
    cli        the `publisher` command
"""

__version__ = "0.1.0"
