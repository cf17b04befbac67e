"""Find the dump files of an inbox that may be new (SPEC §6). File system (or fsspec URL) only."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG

from core import identity
from core.identity import SIDECAR_SUFFIX
from core.records import FUTURE_TOLERANCE, SourceFile
from flows.file_index import index_for_run, source_file, unrecognised
from store import storage
from store.errors import UserError
from warehouse import lake

DUMP_SUFFIXES = (".txt", ".txt.gz")
IN_PROGRESS_SUFFIXES = (".part", ".tmp")
LOST_FOUND = "lost+found"   # a file system's own folder, which only root may list: an inbox on its own volume has one


@dataclass
class Inbox:
    # settled dump files as (path, size, mtime_ns): a local path as text, made a Path only for the
    # files a run reads (a big inbox's known files then cost a listing and a stat each, no objects)
    found: list[tuple[str | storage.Url, int, int]]
    waiting: list[storage.Location]
    # not dumps, reported so that nothing in the inbox is passed over unsaid: other names than
    # *.txt and *.txt.gz (sidecars and dot-files aside), and links to folders (not followed)
    ignored: list[storage.Location] = field(default_factory=list)
    # folders under the inbox that can't be listed, each with the reason: their dumps are not read
    unlisted: list[str] = field(default_factory=list)

    @property
    def ready(self) -> list[SourceFile]:
        return [source_file(row) for row in self.found]


@dataclass
class Plan:
    found: Inbox
    known: set[str]             # the dump ids the lake holds
    todo: list[SourceFile]      # the files the run reads
    note: str | None = None     # a damaged file index, moved aside


def plan_run(inbox: storage.Location, lake_dir: storage.Location, state: Path, settle_seconds: float,
             listed: Inbox | None = None, home_folders: tuple[Path, ...] = ()) -> Plan:
    """What a run reads: the inbox's settled files (`listed`, or listed now) that the file index
    doesn't recognise. The dumps the lake holds are known (the caller holds the run lock and has
    recovered the lake)."""
    found = listed if listed is not None else scan_inbox(inbox, settle_seconds, home_folders=home_folders)
    known = lake.known_dump_ids(lake_dir)
    index, note = index_for_run(state)
    return Plan(found, known, unrecognised(found.found, index, known), note)


def is_dump_name(name: str) -> bool:
    return name.endswith(DUMP_SUFFIXES) and not name.endswith(SIDECAR_SUFFIX)


def final_name(name: str) -> str:
    """The name a file being written under a temporary name will have."""
    return name.lstrip(".").removesuffix(".part").removesuffix(".tmp")


def is_in_progress(name: str) -> bool:
    return name.startswith(".") or name.endswith(IN_PROGRESS_SUFFIXES)


def scan_inbox(inbox: storage.Location, settle_seconds: float, now: float | None = None,
               home_folders: tuple[Path, ...] = ()) -> Inbox:
    """Dump files under inbox, split into settled ones and ones that may still be being written;
    home_folders (a home's raw/, state/ and lake, in an inbox that holds the home) are not read."""
    now = time.time() if now is None else now
    if storage.is_url(inbox):
        return _scan_url(inbox, settle_seconds, now)
    try:
        entries = _entries(str(inbox))
    except OSError as exc:   # an unreadable inbox must not look like an empty one
        raise unlistable(inbox, exc) from None
    inbox_found = Inbox([], [], [])
    _scan_folder(str(inbox), settle_seconds, now, inbox_found, folder_identities(home_folders), entries)
    return inbox_found


def refuse_unlistable(inbox: storage.Location) -> None:
    """Before a run takes the home: an inbox this user can't list is refused, not a failed run."""
    if not storage.is_url(inbox):
        try:
            _entries(str(inbox))
        except OSError as exc:
            raise unlistable(inbox, exc) from None


def unlistable(inbox: storage.Location, exc: OSError) -> UserError:
    return UserError(f"can't list the inbox {identity.shown(str(inbox))} ({exc.strerror or exc}): nothing was "
                     "read; let this user read the folder, or pass --inbox DIR")


def folder_identities(folders: tuple[Path, ...]) -> set[tuple[int, int]]:
    """(device, inode) of each folder that exists: the same folder whatever link leads to it."""
    found = set()
    for folder in folders:
        try:
            stat = os.stat(folder)
        except OSError:
            continue
        found.add((stat.st_dev, stat.st_ino))
    return found


def _identity(entry: os.DirEntry) -> tuple[int, int]:
    return entry.stat(follow_symlinks=False).st_dev, entry.inode()


def _entries(folder: str) -> list[os.DirEntry]:
    with os.scandir(folder) as listing:
        return sorted(listing, key=lambda entry: entry.name)


def _scan_folder(folder: str, settle_seconds: float, now: float, found: Inbox, skipped: set[tuple[int, int]],
                 entries: list[os.DirEntry] | None = None) -> None:
    """One folder's files in name order, then its subfolders' (dot-folders and skipped ones passed
    over, links to folders reported, not followed): os.walk's order, from the entries' own types."""
    try:
        entries = _entries(folder) if entries is None else entries
    except FileNotFoundError:   # gone since listed: nothing of it to read
        return
    except OSError as exc:   # its dumps can't be read: said, as an unreadable file is
        found.unlisted.append(f"{identity.shown(folder)}: {exc.strerror or exc}")
        return
    subfolders, sidecars_settling = [], set()
    for entry in entries:
        name = entry.name
        path = name if folder == "." else entry.path   # as Path() writes it: the file index's key
        kind = _kind(entry)
        if kind == "folder":
            if not name.startswith(".") and name != LOST_FOUND and not (skipped and _identity(entry) in skipped):
                subfolders.append(path)
        elif kind == "link to a folder":
            if not name.startswith("."):
                found.ignored.append(Path(path))
        else:
            _sort_file(entry, path, settle_seconds, now, found, sidecars_settling)
    for subfolder in subfolders:
        _scan_folder(subfolder, settle_seconds, now, found, skipped)


def _sort_file(entry: os.DirEntry, path: str, settle_seconds: float, now: float, found: Inbox,
               sidecars_settling: set[str]) -> None:
    """A file of the folder into found (a dump ready, or waiting; ignored), or, a sidecar still being
    written, its dump's stem into sidecars_settling, which makes that dump wait."""
    name = entry.name
    if is_in_progress(name):
        if is_dump_name(final := final_name(name)):
            found.waiting.append(Path(path))
        elif final.endswith(SIDECAR_SUFFIX):   # a sidecar written under a temporary name
            sidecars_settling.add(final.removesuffix(SIDECAR_SUFFIX))
    elif not is_dump_name(name):
        if not name.endswith(SIDECAR_SUFFIX):
            found.ignored.append(Path(path))
        elif _is_settling_entry(entry, settle_seconds, now):   # its dump's name sorts after it
            sidecars_settling.add(name.removesuffix(SIDECAR_SUFFIX))
    else:
        settling = bool(sidecars_settling) and identity.dump_stem(Path(name)) in sidecars_settling
        _add_dump(entry, path, settle_seconds, now, found, settling)


def _kind(entry: os.DirEntry) -> str:
    """A folder, a link to one, or anything else (a file, a dangling link or a link loop: its stat
    then fails, as os.walk's would)."""
    try:
        if entry.is_dir(follow_symlinks=False):
            return "folder"
        return "link to a folder" if entry.is_symlink() and entry.is_dir() else "other"
    except OSError:
        return "other"


def _is_settling_entry(entry: os.DirEntry, settle_seconds: float, now: float) -> bool:
    try:
        return is_settling(now - entry.stat().st_mtime, settle_seconds)
    except OSError:
        return False


def _add_dump(entry: os.DirEntry, path: str, settle_seconds: float, now: float, found: Inbox,
              sidecar_settling: bool = False) -> None:
    """A dump name: read if it is a regular file (or a link to one); a FIFO, socket or device, a
    dangling link or a link loop is counted as ignored, and never opened. It waits while it, or
    its sidecar, may still be being written."""
    try:
        stat = entry.stat()
    except OSError:  # a dangling link or a link loop (ignored), or a file removed since listed
        if entry.is_symlink():
            found.ignored.append(Path(path))
        return
    if not S_ISREG(stat.st_mode):
        found.ignored.append(Path(path))
        return
    if sidecar_settling or is_settling(now - stat.st_mtime, settle_seconds):
        found.waiting.append(Path(path))
    else:
        found.found.append((path, stat.st_size, storage.file_mtime_ns(stat)))


def is_settling(age_seconds: float, settle_seconds: float) -> bool:
    """Modified within the settle time. A file stamped ahead of this clock by less than a capture
    time may be (FUTURE_TOLERANCE: a file server or store whose clock runs ahead stamps a file being
    written now so) waits until the settle time has passed its stamp; one stamped further ahead (a
    wrong stamp) is not being written now, and would otherwise wait for ever: read, it is
    quarantined for its time."""
    ahead = max(settle_seconds, FUTURE_TOLERANCE.total_seconds())
    return settle_seconds > 0 and -ahead < age_seconds < settle_seconds


def _scan_url(inbox: storage.Url, settle_seconds: float, now: float) -> Inbox:
    """scan_inbox on object storage: one recursive listing gives each key's size and LastModified;
    keys under a dot-folder are skipped, as os.walk's pruning does for a local inbox."""
    ready, waiting, ignored, sidecars_settling = [], [], [], set()
    prefix = inbox.rstrip("/") + "/"
    for url, size, mtime_ns in storage.list_files(inbox):   # key order: a sidecar before its dump
        *folders, name = url.removeprefix(prefix).split("/")
        if not name or any(f.startswith(".") for f in folders):
            continue   # a folder marker (a key ending in `/`), or under a dot-folder
        settling = is_settling(now - mtime_ns / 1e9, settle_seconds)
        if is_in_progress(name):
            if is_dump_name(final := final_name(name)):
                waiting.append(url)
            elif final.endswith(SIDECAR_SUFFIX):
                sidecars_settling.add(url.rsplit("/", 1)[0] + "/" + final.removesuffix(SIDECAR_SUFFIX))
        elif is_dump_name(name) and (settling or url.removesuffix(".gz").removesuffix(".txt") in sidecars_settling):
            waiting.append(url)
        elif is_dump_name(name):
            ready.append((url, size, mtime_ns))
        elif not name.endswith(SIDECAR_SUFFIX):
            ignored.append(url)
        elif settling:
            sidecars_settling.add(url.removesuffix(SIDECAR_SUFFIX))
    return Inbox(ready, waiting, ignored)
