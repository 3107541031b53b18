"""One content file read, parsed and rendered: what the scan's worker processes run, file by file.

A function of the file alone (its bytes, its sidecar, the site's URL rules), touching nothing else: no store,
no configuration object. The module imports only the readers and the renderer, so that a worker process
started fresh for a cold scan holds little more than the libraries that do the work (libyaml, cmark-gfm, nh3).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from publisher.content import markup, readers, urls
from publisher.content.walk import Candidate as Candidate
from publisher.errors import ContentError
from publisher.models import ParsedItem

logger = logging.getLogger("publisher.content.scanner")


def _sha256_function() -> Any:
    """CPython's own SHA-256 rather than hashlib's, which loads OpenSSL's library: 3.7 MB more in each
    worker process, for hashing that takes a few tenths of a second in a whole cold scan either way."""
    import importlib

    for name in ("_sha2", "_sha256"):  # Python 3.12 and later, 3.11
        try:
            return importlib.import_module(name).sha256
        except (ImportError, AttributeError):
            continue
    import hashlib

    return hashlib.sha256


_sha256 = _sha256_function()


@dataclass(frozen=True)
class Rendered:
    """An item's section HTML (sanitized, links absolute), rendered for the page at ``page_url``: in the
    order of its sections, or the one section of its whole body when it has none of its own. With the item's
    URL path, worked out here too; "" when the item the worker read is not the one recorded (the writer gave
    it an old key)."""

    page_url: str
    sections: tuple[str, ...]
    url_path: str = ""


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
    sha = _sha256(data if sidecar is None else data + b"\x00sidecar\x00" + sidecar).hexdigest()
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
    url_path = site.url_path(parsed)
    page_url = site.url(url_path)
    bodies = [s.body for s in parsed.sections] or [parsed.body]
    attachment = site.attachment(parsed.source_path)
    link = urls.attachment_link(attachment) if attachment is not None else ""
    sections = tuple(markup.render(body, parsed.body_format, page_url=page_url) + link for body in bodies)
    return Rendered(page_url, sections, url_path)


# -- worker processes ------------------------------------------------------------------------------------------

_PIPE_SIZE = 1 << 20  # results a worker may have written ahead of the writer (Linux; 64 KiB elsewhere)


def in_workers(chunks: list[list[Candidate]], job: Job, workers: int) -> Iterator[list[Loaded]]:
    """:func:`load_chunk` of every chunk, in order, worked out by ``workers`` worker processes.

    The workers come from :mod:`publisher.content.workers`, which gives those the command line started early
    first (forks of the command, made before it loaded more than its configuration), else fresh interpreters
    that import this module alone (not forks of a process that may have threads, nor a pool with its fork
    server and resource tracker, which would stay in memory beside it). Each is given
    its share of the chunks at once (chunk k goes to worker k mod n) and writes their results in order to a
    pipe, where they wait for the writer: a worker works at most a pipe's worth ahead, so memory stays flat
    however large the folder. Should a worker fail, the chunks left are read in this process.
    """
    import pickle

    from publisher.content import workers as pool

    procs: list[pool.Worker] = []
    k = 0
    try:
        procs = pool.take(min(workers, len(chunks)))
        for n, proc in enumerate(procs):
            assert proc.stdin is not None and proc.stdout is not None
            _widen(proc.stdout.fileno())
            proc.stdin.write(pickle.dumps((job, chunks[n :: len(procs)]), pickle.HIGHEST_PROTOCOL))
            proc.stdin.close()
        for k in range(len(chunks)):
            out = procs[k % len(procs)].stdout
            assert out is not None
            yield pickle.load(out)
    except (OSError, EOFError, pickle.UnpicklingError) as exc:
        # A worker that cannot start or died (killed, out of memory): this process reads what is left.
        logger.warning("a scan worker stopped (%r); reading the remaining files in this process", exc)
        for rest in chunks[k:]:
            yield load_chunk(rest, job)
    finally:
        for proc in procs:
            pool.stop(proc)


def serve(data: BinaryIO, out: BinaryIO) -> None:
    """A worker's work: the (job, chunks) pickled in ``data``, each chunk's results pickled to ``out``."""
    import pickle

    job, chunks = pickle.load(data)
    for chunk in chunks:
        pickle.dump(load_chunk(chunk, job), out, pickle.HIGHEST_PROTOCOL)
        out.flush()


def _widen(fd: int) -> None:
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE_SIZE)
    except (ImportError, OSError):
        pass
