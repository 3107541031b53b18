"""The feed formats, named once: their names in the config, file extensions and media types.

Imports nothing heavy: the config, the web server and WebSub read it without the feed libraries.
"""

from __future__ import annotations

from typing import Literal, get_args

FeedFormat = Literal["atom", "rss", "json"]
FORMATS: tuple[FeedFormat, ...] = get_args(FeedFormat)
EXTENSIONS: dict[FeedFormat, str] = {fmt: f".{fmt}" for fmt in FORMATS}
MEDIA_TYPES: dict[str, str] = {
    "atom": "application/atom+xml",
    "rss": "application/rss+xml",
    "json": "application/feed+json",
    "opml": "text/x-opml",
}
# Files that are feeds a hub or a reader can fetch: ours, and ".xml", which may be either Atom or RSS.
FEED_SUFFIXES: tuple[str, ...] = (*EXTENSIONS.values(), ".xml")
