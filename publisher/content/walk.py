"""Walking the content folder: which files are candidates, and which of them changed since the last scan.

Light on purpose (the selection rules and the store's stamps, no readers): a command starts the walk of an
unchanged folder ahead, in a child process (:class:`Ahead`), while it loads the readers and the feed code,
so that the stats of 10,000 files and the loading of the code that reads the few changed ones overlap.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import json
import marshal
import operator
import os
import stat
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from publisher import disk, processes
from publisher.content import selection

if TYPE_CHECKING:
    from publisher.config import Config

# The scanner's logger. logging is loaded where a record is made, not with this module: a command forks its
# walk as soon as it has read its config, and loading logging first would hold the fork back (about 10 ms).
LOGGER = "publisher.content.scanner"
WARNING = 30  # logging.WARNING
# In a walk's own process (Ahead): its records, to be logged again in the command's process; else None.
_kept: list[tuple[str, int, str]] | None = None


def _warn(message: str) -> None:
    if _kept is not None:
        _kept.append((LOGGER, WARNING, message))
        return
    import logging

    logging.getLogger(LOGGER).warning("%s", message)


# Editor, office and download droppings that never hold content: x~, .x.swp, x.bak, #x#, ~$x, x.part.
TEMP_SUFFIXES = ("~", ".swp", ".swx", ".swo", ".tmp", ".bak", ".orig", ".part", ".crdownload")
TEMP_PREFIXES = ("#", "~$")
SIDECAR_SUFFIX = ".toml"
SIDECAR_FOR = (".txt", ".pdf")  # files that cannot carry front matter of their own
# The reason a file is skipped with when another file holds its id (it is looked at again every scan).
DUPLICATE = "duplicate id"
_RULES_VERSION = 1  # moved on when the code's own rules (is_candidate, selection) change


def selection_rules(config: Config) -> str:
    """The settings that decide which files are candidates, as text to compare with the recorded ones."""
    content = config.content
    return json.dumps([_RULES_VERSION, list(content.extensions), list(content.include), list(content.excluded)])


@dataclass(frozen=True)
class Candidate:
    """A file of the content folder the scan may read."""

    relpath: str
    path: str
    size: int
    mtime_ns: int
    problem: str = ""  # set when the file must be skipped without reading
    sidecar: bool = False  # a sidecar file (PATH.toml) pins some of its fields


def is_candidate(relpath: str, extensions: tuple[str, ...] = (".md", ".markdown", ".txt", ".pdf")) -> bool:
    """Whether the file at ``relpath`` (relative, POSIX) may be a post worth reading.

    False for hidden files and folders, editor and download temp files (``x~``, ``.x.swp``, ``#x#``,
    ``.#x``), section pages (``_index.md``) and extensions not in ``extensions``.
    """
    parts = relpath.split("/")
    name = parts[-1]
    if not name or any(part.startswith(".") for part in parts):
        return False
    if is_temp_name(name):
        return False
    stem, dot, ext = name.lower().rpartition(".")
    if not dot or not stem or stem == "_index":
        return False
    return any(f".{ext}" == known.lower() for known in extensions)


def is_temp_name(name: str) -> bool:
    """Whether a file name is an editor's or a download's temporary file (the readers and the watcher agree)."""
    lower = name.lower()
    return lower.endswith(TEMP_SUFFIXES) or lower.startswith(TEMP_PREFIXES)


_NAME = operator.attrgetter("name")


def walk(
    root: Path,
    config: Config,
    left_out: Counter[str],
    *,
    known: dict[str, tuple[int, int, bool]] | None = None,
    unchanged: list[str] | None = None,
) -> Iterator[Candidate]:
    """The candidate files under ``root``, in a stable order.

    ``known``: path → (size, mtime_ns, skipped as a duplicate) as recorded for the same selection rules; a
    plain file found with its recorded stamp, in a folder that is no page bundle, was a post last time and
    is one still, so the rules are not asked again: its path goes to ``unchanged`` (given with ``known``)
    instead of being yielded. A walk over an unchanged folder is mostly stats.
    """
    if known is not None and unchanged is None:
        raise ValueError("a walk given the recorded stamps needs a list for the unchanged files")
    stack = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError as exc:
            _warn(f"{folder}: cannot list folder ({exc.strerror or exc})")
            continue
        # Only the names that make a page bundle matter to bundle_asset: filtered once per folder, not once
        # per file (a folder of 3,000 posts would cost 9 million comparisons).
        names = [
            e.name for e in entries if len(e.name) <= _BUNDLE_NAME_MAX and e.name.lower() in selection.BUNDLE_INDEXES
        ]
        if known is not None and unchanged is not None and not names:
            entries = _unchanged_files(entries, prefix, known, unchanged)
        entries.sort(key=_NAME)
        subfolders = []
        for entry in entries:
            rel = prefix + entry.name
            if entry.name.startswith("."):
                continue
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if left_out_by_rules(rel, config, left_out, is_file=not is_dir, names=names):
                continue
            if is_dir:
                subfolders.append((Path(entry.path), rel + "/"))
                continue
            if entry.is_symlink():
                cand = candidate(root, rel, Path(entry.path), True)
                if cand is not None:
                    yield cand
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                yield Candidate(rel, entry.path, 0, 0, f"cannot read ({exc.strerror or exc})")
                continue
            if stat.S_ISREG(st.st_mode):
                yield with_sidecar(Candidate(rel, entry.path, st.st_size, st.st_mtime_ns))
        stack.extend(reversed(subfolders))


# The longest name in selection.BUNDLE_INDEXES: longer names are not compared.
_BUNDLE_NAME_MAX = max(map(len, selection.BUNDLE_INDEXES))


def _unchanged_files(
    entries: list[os.DirEntry[str]], prefix: str, known: dict[str, tuple[int, int, bool]], unchanged: list[str]
) -> list[os.DirEntry[str]]:
    """The entries of one folder (no page bundle) that are not plain files found with their recorded stamp;
    the paths of those that are go to ``unchanged``. The stamp of a file that may have a sidecar counts the
    sidecar's (:func:`with_sidecar`); a file skipped as a duplicate (looked at again every scan) is never
    unchanged here."""
    if not entries:
        return entries
    rest = []
    # Each file is looked up by its name in the folder open once (dir_fd), not by its whole path: a third of
    # the time of DirEntry.stat over 10,000 files.
    try:
        folder = disk.open_folder(os.path.dirname(entries[0].path) or ".")
    except OSError:
        return entries  # the long way says why
    try:
        for entry in entries:
            rel = prefix + entry.name
            stamp = known.get(rel)
            if stamp is not None and not stamp[2] and entry.is_file(follow_symlinks=False):
                try:
                    st = os.stat(entry.name, dir_fd=folder, follow_symlinks=False)
                except OSError:
                    pass  # the long way says why
                else:
                    size, mtime_ns = st.st_size, st.st_mtime_ns
                    if rel.lower().endswith(SIDECAR_FOR):
                        size, mtime_ns, _ = sidecar_stamp(entry.path, size, mtime_ns)
                    if mtime_ns == stamp[1] and size == stamp[0]:
                        unchanged.append(rel)
                        continue
            rest.append(entry)
    finally:
        os.close(folder)
    return rest


def one(root: Path, rel: str, config: Config, left_out: Counter[str]) -> Candidate | None:
    rel = rel.replace(os.sep, "/").lstrip("/")
    if any(part.startswith(".") for part in rel.split("/")):
        return None
    folder = (root / rel).parent
    try:
        names = [n for n in os.listdir(folder) if n.lower() in selection.BUNDLE_INDEXES] if "/" in rel else []
    except OSError:
        names = []
    parts = rel.split("/")
    if any(left_out_by_rules("/".join(parts[:n]), config, left_out, is_file=False) for n in range(1, len(parts))):
        return None
    if left_out_by_rules(rel, config, left_out, is_file=True, names=names):
        return None
    path = root / rel
    if not os.path.lexists(path):
        return None
    return candidate(root, rel, path, path.is_symlink())


def left_out_by_rules(
    rel: str, config: Config, counts: Counter[str], *, is_file: bool, names: Iterable[str] = ()
) -> bool:
    """Whether a file or folder is not read: not a candidate name, or left out by the selection rules (which
    are counted, for the build summary)."""
    if is_file and not is_candidate(rel, config.content.extensions):
        return True
    reason = selection.left_out(rel, config.content.include, config.content.excluded, is_file=is_file)
    if reason is None and is_file and selection.bundle_asset(rel, names):
        reason = selection.LEFT_OUT_BUNDLE_ASSET
    if reason is None:
        return False
    if is_file:
        counts[reason] += 1
    return True


def candidate(root: Path, rel: str, path: Path, is_link: bool) -> Candidate | None:
    try:
        if is_link:
            target = path.resolve()
            if not target.is_relative_to(root.resolve()):
                return Candidate(rel, str(path), 0, 0, "symlink leads outside the content folder")
        st = path.stat()
    except OSError as exc:
        return Candidate(rel, str(path), 0, 0, f"cannot read ({exc.strerror or exc})")
    if not stat.S_ISREG(st.st_mode):
        return None
    return with_sidecar(Candidate(rel, str(path), st.st_size, st.st_mtime_ns))


def with_sidecar(cand: Candidate) -> Candidate:
    """A file with a sidecar (brief.pdf.toml) counts as changed when either changes: its size and time take
    the sidecar's in."""
    if not cand.relpath.lower().endswith(SIDECAR_FOR):
        return cand
    size, mtime_ns, sidecar = sidecar_stamp(cand.path, cand.size, cand.mtime_ns)
    return dataclasses.replace(cand, size=size, mtime_ns=mtime_ns, sidecar=True) if sidecar else cand


def sidecar_stamp(path: str, size: int, mtime_ns: int) -> tuple[int, int, bool]:
    """The (size, mtime_ns) of the file at ``path`` with its sidecar's taken in, and whether it has one."""
    try:
        st = os.stat(path + SIDECAR_SUFFIX)
    except OSError:
        return size, mtime_ns, False
    return size + st.st_size + 1, max(mtime_ns, st.st_mtime_ns), True


# -- a walk made ahead ------------------------------------------------------------------------------------


@dataclass
class Walked:
    """A whole walk compared with the store, made ahead under the selection rules ``rules`` (as recorded in
    the store when it read the stamps): what a scan finds when nothing moves in between."""

    rules: str
    schema: int  # the store's schema version when the walk read it (the scan takes none from an older one)
    unchanged: int  # files found with their recorded stamp
    candidates: list[Candidate]  # the others, in walk order
    gone: list[str]  # recorded files the walk did not find
    stamps: dict[str, tuple[int, int, bool]]  # the recorded stamps of the candidates and the gone
    left_out: Counter[str]
    logs: list[tuple[str, int, str]]  # (logger, level, message) logged by the walk, to log again


class Ahead:
    """A walk of the whole content folder in a child process, started before the command loads the code
    that reads files and writes feeds: on two cores the two overlap. The scan takes its result when it
    finds the store as the walk did (same selection rules, no authors change); else it walks itself.

    The child only reads: the store's stamps through a connection of its own, and the folder.

    The command line may start it sooner still, before it has loaded its own code (:meth:`start_early`):
    :meth:`start` then takes that walk when it was made for the same folder, store and selection rules."""

    _early: Ahead | None = None  # started by start_early, not taken yet; stopped at exit if never taken

    def __init__(self, pid: int, fd: int, made_for: tuple[str, str, str]) -> None:
        self._pid = pid
        self._fd = fd
        self._made_for = made_for

    @classmethod
    def start(cls, config: Config) -> Ahead | None:
        """Fork the walk; None where processes cannot fork, and where the store does not exist (the walk would
        have nothing to compare with). A walk :meth:`start_early` made for what ``config`` names is taken
        instead; one made for anything else is stopped."""
        early, Ahead._early = Ahead._early, None
        if early is not None:
            if early._made_for == _made_for(config):
                import logging

                logging.getLogger(LOGGER).debug("walk: taking the one started with the command line")
                return early
            early.discard()
        if not hasattr(os, "fork") or not config.paths.database.exists():
            return None
        forked = processes.fork_piped()
        if forked is None:
            return None
        pid, fd = forked
        if pid == 0:  # the child: walk, write the result, leave without the parent's exit handlers
            code = 1
            try:
                disk.write_all(fd, marshal.dumps(_walk_ahead(config)))
                code = 0
            finally:
                os._exit(code)
        return cls(pid, fd, _made_for(config))

    @classmethod
    def start_early(cls, config: Config) -> None:
        """Start the walk for ``config`` now, for the :meth:`start` to come; stopped at exit if none comes."""
        cls._discard_early()
        Ahead._early = cls.start(config)

    @staticmethod
    def _discard_early() -> None:
        early, Ahead._early = Ahead._early, None
        if early is not None:
            early.discard()

    def discard(self) -> None:
        """The walk is not wanted: stopped, and its process reaped."""
        import signal

        os.close(self._fd)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._pid, signal.SIGKILL)
        os.waitpid(self._pid, 0)

    def result(self) -> Walked | None:
        """Wait for the walk; None when it did not finish or had nothing to offer."""
        chunks = []
        try:
            while chunk := os.read(self._fd, 1 << 20):
                chunks.append(chunk)
        finally:
            os.close(self._fd)
            _, status = os.waitpid(self._pid, 0)
        if status != 0 or not chunks:
            return None
        raw = marshal.loads(b"".join(chunks))
        if raw is None:
            return None
        rules, schema, unchanged, candidates, gone, stamps, left_out, logs = raw
        return Walked(
            rules,
            schema,
            unchanged,
            [Candidate(*c) for c in candidates],
            gone,
            stamps,
            Counter(left_out),
            logs,
        )


atexit.register(Ahead._discard_early)


def _made_for(config: Config) -> tuple[str, str, str]:
    """What a walk made ahead depends on: the folder, the store, and the selection rules."""
    return str(config.paths.content), str(config.paths.database), selection_rules(config)


def gone_files(recorded: Iterable[str], unchanged: Iterable[str], candidates: Iterable[Candidate]) -> list[str]:
    """The recorded files a walk did not find: neither unchanged nor among its candidates."""
    seen = set(unchanged)
    seen.update(c.relpath for c in candidates)
    return [path for path in recorded if path not in seen]


def _walk_ahead(config: Config) -> Any:
    """The child's work, as plain values for marshal: None unless the store holds stamps recorded under the
    selection rules of ``config``."""
    global _kept
    from publisher.store import ahead

    rules = selection_rules(config)
    read = ahead.stamps(config.paths.database, DUPLICATE, rules)
    if read is None:
        return None
    schema, recorded = read
    logs: list[tuple[str, int, str]] = []
    _kept = logs  # this process only walks, then leaves: its records go back to the command with the result
    left_out: Counter[str] = Counter()
    unchanged: list[str] = []
    candidates = list(walk(config.paths.content, config, left_out, known=recorded, unchanged=unchanged))
    gone = gone_files(recorded, unchanged, candidates)
    stamps = {path: recorded[path] for path in [c.relpath for c in candidates] + gone if path in recorded}
    plain = [dataclasses.astuple(c) for c in candidates]
    return rules, schema, len(unchanged), plain, gone, stamps, dict(left_out), logs
