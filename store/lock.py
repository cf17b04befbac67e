"""One run at a time per home: an advisory lock on `<home>/run.lock`, released by the OS if
the holder dies, so a killed run never blocks the next one."""
from __future__ import annotations

import errno
import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path

from store.errors import UserError

LOCK_FILE = "run.lock"
POLL_SECONDS = 0.2


class RunLocked(UserError):
    """Another run holds the home."""


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


class HomeNotWritable(UserError):
    """This user can't create or open the home's lock file (no permission, a read-only file system)."""


@contextmanager
def _holding(path: Path, record: str, wait_seconds: float, refuse, waiting=None) -> None:
    """An exclusive advisory lock on path, waited for up to wait_seconds (waiting(the holder's record)
    told once when the wait begins); then refuse(the holder's record) raises. The holder's record
    (its pid, and what it does) is left for the next one to name."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        raise HomeNotWritable(f"can't write the home's lock {path} ({exc.strerror}): this user can't change the home "
                        "there. Nothing was changed; run as its owner, or give this user write access") from None
    try:
        deadline, told = time.monotonic() + wait_seconds, waiting is None
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                refuse(_holder(fd))
            if not told:
                waiting(_holder(fd))
                told = True
            time.sleep(POLL_SECONDS)
        os.ftruncate(fd, 0)
        os.pwrite(fd, record.encode(), 0)
        yield
    finally:
        os.close(fd)


def _holder(fd: int) -> str:
    return os.pread(fd, 64, 0).decode(errors="replace").strip()


def run_lock(home: Path, wait_seconds: float = 0.0, what: str = "run", waiting=None,
             to_queue: str = "pass --wait SECONDS"):
    """Hold the home's run lock for `what` (a run, a rollback, ...); wait up to wait_seconds for
    its holder to finish (waiting(a line naming it) told once), then give up, naming it and how
    to queue behind it (`to_queue`)."""
    path = home / LOCK_FILE

    def holder_of(record: str) -> str:
        pid, _, command = record.partition(" ")
        return f"another {command or 'run'} (pid {pid or 'unknown'})"

    def refuse(record: str) -> None:
        raise RunLocked(f"{holder_of(record)} is working on {home}: it holds {path}. Wait for it to "
                        f"finish, or {to_queue} to queue behind it.")
    tell = None if waiting is None else (
        lambda record: waiting(f"{holder_of(record)} is working on {home}: waiting up to {wait_seconds:.0f} s for it"))
    return _holding(path, f"{os.getpid()} {what}", wait_seconds, refuse, tell)


SERVE_LOCK_FILE = "serve.lock"


def serve_lock(home: Path):
    """One `serve` per home: a second one would share its deployment, and its exit would pause the
    first one's schedule (Prefect pauses a served deployment when its process stops)."""
    def refuse(holder: str) -> None:
        raise UserError(f"another `serve` (pid {holder or 'unknown'}) serves {home} already: serve each home once "
                        "(stopping either would pause the schedule of both)")
    return _holding(home / SERVE_LOCK_FILE, str(os.getpid()), 0.0, refuse)
