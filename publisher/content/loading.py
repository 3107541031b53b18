"""One content file read, parsed and rendered: what the scan's worker processes run, file by file.

A function of the file alone (its bytes, its sidecar, the site's URL rules), touching nothing else: no store,
no configuration object. The module imports only the readers and the renderer, so that a worker process
started fresh for a cold scan holds little more than the libraries that do the work (libyaml, cmark-gfm, nh3).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from publisher.content import markup, readers, urls
from publisher.errors import ContentError
from publisher.models import ParsedItem

logger = logging.getLogger("publisher.content.scanner")


@dataclass(frozen=True)
class Candidate:
    """A file of the content folder the scan may read."""

    relpath: str
    path: str
    size: int
    mtime_ns: int
    problem: str = ""  # set when the file must be skipped without reading
    sidecar: bool = False  # a sidecar file (PATH.toml) pins some of its fields


@dataclass(frozen=True)
class Rendered:
    """An item's section HTML (sanitized, links absolute), rendered for the page at ``page_url``: in the
    order of its sections, or the one section of its whole body when it has none of its own."""

    page_url: str
    sections: tuple[str, ...]


@dataclass(frozen=True)
class Loaded:
    """One file read and parsed (or not)."""

    cand: Candidate
    sha: str = ""
    parsed: ParsedItem | None = None
    problem: str = ""
    rendered: Rendered | None = None  # None: rendered later, when a feed or digest needs it


@dataclass(frozen=True)
class Job:
    """What every file of one scan is read with."""

    max_size: int
    tz: ZoneInfo
    default_author: str
    site: urls.Site | None = None  # render each item's HTML against these URL rules; None: do not render


def load(cand: Candidate, job: Job) -> Loaded:
    if cand.size > job.max_size:
        return Loaded(cand, problem=f"file is {cand.size:,} bytes, over the limit of {job.max_size:,}")
    try:
        with open(cand.path, "rb") as f:
            data = f.read()
    except OSError as exc:
        return Loaded(cand, problem=f"cannot read ({exc.strerror or exc})")
    sidecar = None
    if cand.sidecar:
        try:
            with open(cand.path + readers.SIDECAR_SUFFIX, "rb") as f:
                sidecar = f.read()
        except OSError as exc:
            return Loaded(cand, problem=f"cannot read its sidecar ({exc.strerror or exc})")
    sha = hashlib.sha256(data if sidecar is None else data + b"\x00sidecar\x00" + sidecar).hexdigest()
    try:
        mtime = cand.mtime_ns / 1e9
        parsed = readers.read(
            cand.relpath, data, tz=job.tz, default_author=job.default_author, mtime=mtime, sidecar=sidecar
        )
    except ContentError as exc:
        return Loaded(cand, sha, problem=exc.reason if not exc.line else f"line {exc.line}: {exc.reason}")
    except Exception as exc:  # an error boundary per file: one bad file never stops the others
        logger.exception("%s: unexpected error while reading", cand.relpath)
        return Loaded(cand, sha, problem=f"internal error: {exc!r}")
    rendered = None
    if job.site is not None and not parsed.draft:
        try:
            rendered = render(parsed, job.site)
        except Exception:  # left to the feeds, which render what has no HTML yet (and say why it fails)
            logger.debug("%s: not rendered ahead", cand.relpath, exc_info=True)
    return Loaded(cand, sha, parsed, rendered=rendered)


def load_chunk(cands: list[Candidate], job: Job) -> list[Loaded]:
    return [load(cand, job) for cand in cands]


def render(parsed: ParsedItem, site: urls.Site) -> Rendered:
    """The HTML of each of ``parsed``'s sections as the catalog stores it: rendered against the page's URL,
    with the link to an attached file (a PDF) at the end of every section, since each may be mailed alone."""
    page_url = site.url(site.url_path(parsed))
    bodies = [s.body for s in parsed.sections] or [parsed.body]
    attachment = site.attachment(parsed.source_path)
    link = urls.attachment_link(attachment) if attachment is not None else ""
    return Rendered(
        page_url, tuple(markup.render(body, parsed.body_format, page_url=page_url) + link for body in bodies)
    )
