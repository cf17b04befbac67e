"""`warehouse.duckdb` is a symbolic link to one of two files beside it, `.warehouse.duckdb.a` and
`.warehouse.duckdb.b`. A publish brings the other one, the idle file, up to the lake and then
repoints the link in one atomic rename: readers keep the file they opened and never block a run,
and no run copies the warehouse (a copy costs what the warehouse weighs, not what the run adds).

The idle file is one publish behind; a load goes by lake version (`internal.lake_versions`), so it catches up on
both runs. The idle file is made from a copy of the current one only when it is missing, when the
warehouse is a plain file (written before this layout, or copied without its link), when a reader
still holds it open (DuckDB then refuses a writer; the copy replaces the name, and the reader keeps
the file it has), when a rebuild published last (the idle file is then the lake as it was: marked
`<file>.stale`, never loaded in place), or when the run before was big enough that copying is cheaper
than catching up (warehouse/publish.py decides).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb

from store.faults import checkpoint


def pair(link: Path) -> tuple[Path, Path]:
    return link.with_name(f".{link.name}.a"), link.with_name(f".{link.name}.b")


def current(link: Path) -> Path | None:
    """The file readers open now: the link's target, a plain file from before, or none."""
    if link.is_symlink():
        target = link.parent / os.readlink(link)
        return target if target.exists() else None   # a home copied without its hidden files
    return link if link.exists() else None


def idle(link: Path) -> Path:
    """The file of the pair the link doesn't name. A link naming a missing file (a home copied
    without its hidden files) still names it: a file made there would be read through the link while
    it is loaded, and published by a load that fails or is killed."""
    a, b = pair(link)
    named = link.parent / os.readlink(link) if link.is_symlink() else current(link)
    return b if named == a else a


def lacks_idle(link: Path) -> bool:
    """No idle file to bring up to date in place: the warehouse is a plain file, or the idle one is
    gone or marked stale by a rebuild."""
    return not link.is_symlink() or not idle(link).exists() or stale(idle(link)).exists()


def stale(path: Path) -> Path:
    """The mark of a file a rebuild replaced as current. The file itself is left as it is: a reader
    may have resolved the link to it a moment ago, and DuckDB reads a file's header and its blocks
    through two opens of its name, so another file put under that name mixes the two."""
    return path.with_name(path.name + ".stale")


def prepare_idle(link: Path, from_scratch: bool, copy: bool = False) -> Path:
    """The file to load into: emptied for a rebuild, else made a copy of the current file when it
    can't (or, with `copy`, shouldn't) be brought up to date in place."""
    target = idle(link)
    if from_scratch:
        remove(target)
    elif copy or lacks_idle(link):
        if opens(current(link)):
            copy_current(link, target)
        else:   # a damaged current file is no copy's source: the load starts a new file from the lake
            remove(target)
    return target


def copy_current(link: Path, target: Path) -> None:
    source = current(link)
    tmp = target.with_name(f".{link.name}.tmp")
    remove(tmp)
    try:
        if source is not None:
            shutil.copyfile(source, tmp)
            with open(tmp, "rb+") as handle:   # on disk before its name replaces the idle file's
                os.fsync(handle.fileno())
        wal(target).unlink(missing_ok=True)   # the old file's WAL must not be replayed onto the copy
        if source is not None:
            os.replace(tmp, target)
            stale(target).unlink(missing_ok=True)
        else:
            remove(target)
    finally:
        remove(tmp)


def point_to(link: Path, target: Path) -> None:
    """Repoint the link at target (relative, so the home can move) in one rename."""
    tmp = link.with_name(f".{link.name}.link")
    tmp.unlink(missing_ok=True)
    os.symlink(target.name, tmp)
    checkpoint("load:link-made")
    os.replace(tmp, link)
    wal(link).unlink(missing_ok=True)   # a plain file's leftover: readers of the link would take it as the target's
    fd = os.open(link.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def opens(path: Path | None) -> bool:
    """Whether DuckDB opens path as a database (read-only, as readers do); False for no file. A file
    another process holds for writing, or this one under other options, is a database."""
    if path is None:
        return False
    try:
        duckdb.connect(str(path), read_only=True).close()
    except duckdb.Error as exc:
        return is_held_by_a_reader(exc) or "different configuration" in str(exc)
    return True


def is_held_by_a_reader(exc: duckdb.Error) -> bool:
    return isinstance(exc, duckdb.IOException) and "could not set lock" in str(exc).lower()


def wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    wal(path).unlink(missing_ok=True)
    stale(path).unlink(missing_ok=True)
