"""The feed files under ``paths.output``, served with validators, gzip, content types and WebSub links."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import re
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

from aiohttp import web

from publisher.feeds.formats import EXTENSIONS, MEDIA_TYPES
from publisher.feeds.websub import topic_url
from publisher.web.state import STATE

CONTENT_TYPES = {
    **{ext: f"{MEDIA_TYPES[fmt]}; charset=utf-8" for fmt, ext in EXTENSIONS.items()},
    ".opml": f"{MEDIA_TYPES['opml']}; charset=utf-8",
    ".xml": "",  # atom or rss: read from the root element
}
# Below this, gzip costs more than it saves.
GZIP_MIN_BYTES = 512


@dataclass(frozen=True)
class FeedFile:
    stamp: tuple[int, int, int]  # (inode, size, mtime_ns): a new file or new bytes change it
    body: bytes
    etag: str
    mtime: float
    content_type: str
    gzipped: bytes | None


class FileCache:
    """Bodies, ETags and gzip forms of the feed files, re-read when a file's stat changes."""

    MAX_FILES = 4096

    def __init__(self) -> None:
        self._files: dict[Path, FeedFile] = {}

    async def get(self, path: Path, want_gzip: bool) -> FeedFile | None:
        try:
            st = path.stat()
        except OSError:
            return None
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        cached = self._files.get(path)
        if cached is None or cached.stamp != stamp or (want_gzip and cached.gzipped is None):
            cached = await asyncio.to_thread(_load, path, stamp, st.st_mtime, want_gzip, cached)
            if cached is None:
                return None
            if len(self._files) >= self.MAX_FILES:
                self._files.clear()
            self._files[path] = cached
        return cached


CACHE = web.AppKey("feed_files", FileCache)


def _load(
    path: Path, stamp: tuple[int, int, int], mtime: float, want_gzip: bool, old: FeedFile | None
) -> FeedFile | None:
    if old is not None and old.stamp == stamp:
        body, etag = old.body, old.etag
    else:
        try:
            body = path.read_bytes()
        except OSError:
            return None
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    gz = gzip.compress(body, compresslevel=6, mtime=0) if want_gzip and len(body) >= GZIP_MIN_BYTES else None
    return FeedFile(stamp, body, etag, mtime, _content_type(path, body), gz)


def _content_type(path: Path, body: bytes) -> str:
    known = CONTENT_TYPES.get(path.suffix.lower())
    if known:
        return known
    head = body[:512]
    if b"<feed" in head:
        return CONTENT_TYPES[".atom"]
    if b"<rss" in head:
        return CONTENT_TYPES[".rss"]
    return "application/xml; charset=utf-8"


def resolve_feed(root: Path, rel: str) -> Path | None:
    """The file under ``root`` a URL path names, or None: no dot-segments, hidden files or escapes."""
    if not rel or "\x00" in rel or "\\" in rel or len(rel) > 1024:
        return None
    parts = rel.split("/")
    if any(not p or p.startswith(".") for p in parts):
        return None
    path = root.joinpath(*parts)
    if path.suffix.lower() not in CONTENT_TYPES:
        return None
    try:
        real = path.resolve(strict=True)
        base = root.resolve(strict=True)
    except OSError:
        return None
    if not real.is_relative_to(base) or not real.is_file():
        return None
    return real


def _accepts_gzip(header: str) -> bool:
    for part in header.split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip"):
            q = re.search(r"q\s*=\s*([0-9.]+)", params)
            return not q or float(q.group(1) or 0) > 0
    return False


def _etag_matches(header: str, tags: set[str]) -> bool:
    if header.strip() == "*":
        return True
    # Weak comparison (RFC 9110 13.1.2): a W/ prefix does not matter for If-None-Match.
    return any(t.strip().removeprefix("W/") in tags for t in header.split(","))


async def feed_file(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    root = state.config.paths.output
    rel = request.match_info["path"]
    path = resolve_feed(root, rel)
    if path is None:
        raise web.HTTPNotFound(text="not found\n")
    want_gzip = _accepts_gzip(request.headers.get("Accept-Encoding", ""))
    entry = await request.app[CACHE].get(path, want_gzip)
    if entry is None:
        raise web.HTTPNotFound(text="not found\n")
    use_gzip = want_gzip and entry.gzipped is not None
    etag = entry.etag[:-1] + '-gz"' if use_gzip else entry.etag
    headers = {
        "ETag": etag,
        "Last-Modified": formatdate(entry.mtime, usegmt=True),
        "Cache-Control": "public, no-cache",
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
    }
    if state.config.websub.hubs and not rel.endswith(".opml"):
        links = [f'<{hub}>; rel="hub"' for hub in state.config.websub.hubs]
        links.append(f'<{topic_url(state.config.site.base_url, rel)}>; rel="self"')
        headers["Link"] = ", ".join(links)
    inm = request.headers.get("If-None-Match")
    if inm is not None:
        if _etag_matches(inm, {entry.etag, entry.etag[:-1] + '-gz"'}):
            return web.Response(status=304, headers=headers)
    elif request.if_modified_since is not None and int(entry.mtime) <= request.if_modified_since.timestamp():
        return web.Response(status=304, headers=headers)
    if use_gzip:
        headers["Content-Encoding"] = "gzip"
    body = entry.gzipped if use_gzip else entry.body
    headers["Content-Type"] = entry.content_type
    return web.Response(body=body, headers=headers)
