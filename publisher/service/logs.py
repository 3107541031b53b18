"""Logging to stderr, one line per event; with ``<N>`` priority prefixes when the journal reads it."""

from __future__ import annotations

import logging
import os
import sys

# syslog priorities, as sd-daemon(3) reads them from a "<N>" prefix.
_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


class JournalFormatter(logging.Formatter):
    """``<3>publisher.content.scanner: posts/a.md: bad YAML`` — systemd stores the priority, not the prefix."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record).replace("\n", "\n    ")
        return f"<{_PRIORITY.get(record.levelno, 6)}>{text}"


def under_journal() -> bool:
    """True when stderr is connected to the journal (systemd sets JOURNAL_STREAM for that)."""
    stream = os.environ.get("JOURNAL_STREAM")
    if not stream:
        return False
    try:
        st = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError):
        return False
    return stream == f"{st.st_dev}:{st.st_ino}"


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if under_journal():
        handler.setFormatter(JournalFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries speak at WARNING and up only.
    for noisy in ("aiohttp.access", "apscheduler", "watchfiles", "mail.log", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
