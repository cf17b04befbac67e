"""One run at a time per home: an advisory lock on `<home>/run.lock`, released by the OS if
the holder dies, so a killed run never blocks the next one."""
from __future__ import annotations

import errno
import fcntl
import os
import time
from contextlib import contextmanager, suppress
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
def _holding(path: Path, record: str, wait_seconds: float, refuse, waiting=None, pass_on: bool = False):
    """An exclusive advisory lock on path, waited for up to wait_seconds (waiting(the holder's record)
    told once when the wait begins); then refuse(the holder's record) raises. The holder's record
    (its pid, and what it does) names it to those who wait, and is cleared when it lets go: one found
    on taking the lock is a holder's that died holding it (killed), which is yielded, and with
    pass_on written back on letting go, for the next holder that puts right what it left."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        raise HomeNotWritable(f"can't write the home's lock {path} ({exc.strerror}): this user can't change the home "
                        "there. Nothing was changed; run as its owner, or give this user write access") from None
    held = False
    try:
        deadline, told = time.monotonic() + wait_seconds, waiting is None
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                refuse(_holder(fd))
            if not told:
                waiting(_holder(fd))
                told = True
            time.sleep(POLL_SECONDS)
        held, died_holding = True, _holder(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, record.encode(), 0)
        yield died_holding
    finally:
        if held:   # however it ended, it let go alive
            with suppress(OSError):
                os.ftruncate(fd, 0)
                if pass_on and flow_run_of(died_holding):
                    os.pwrite(fd, died_holding.encode(), 0)
        os.close(fd)


def _holder(fd: int) -> str:
    return os.pread(fd, RECORD_BYTES, 0).decode(errors="replace").strip()


RECORD_BYTES = 256
FLOW_RUN = " flow-run="   # a run's record ends with its Prefect flow run's id


def run_lock(home: Path, wait_seconds: float = 0.0, what: str = "run", waiting=None,
             to_queue: str = "pass --wait SECONDS", flow_run_id: str | None = None):
    """Hold the home's run lock for `what` (a run, a rollback, ...); wait up to wait_seconds for
    its holder to finish (waiting(a line naming it) told once), then give up, naming it and how
    to queue behind it (`to_queue`). Yields the record of a holder that died holding it, or ''; a
    holder without a flow run passes a killed run's record on to the next run, which crashes its flow run."""
    path = home / LOCK_FILE

    def refuse(record: str) -> None:
        raise locked(home, record, to_queue)
    tell = None if waiting is None else (
        lambda record: waiting(f"{holder_of(record)} is working on {home}: waiting up to {wait_seconds:.0f} s for it"))
    record = f"{os.getpid()} {what}" + (f"{FLOW_RUN}{flow_run_id}" if flow_run_id else "")
    return _holding(path, record, wait_seconds, refuse, tell, pass_on=flow_run_id is None)


def holder_of(record: str) -> str:
    """The process a lock record names, in words."""
    pid, _, command = record.partition(FLOW_RUN)[0].partition(" ")
    return f"another {command or 'run'} (pid {pid or 'unknown'})"


def locked(home: Path, record: str, to_queue: str = "pass --wait SECONDS") -> RunLocked:
    return RunLocked(f"{holder_of(record)} is working on {home}: it holds {home / LOCK_FILE}. Wait for it to "
                     f"finish, or {to_queue} to queue behind it.")


def current_holder(home: Path) -> str | None:
    """The record of the process holding the home's lock now, None if none does. The lock is tried
    (shared, let go at once) only when a record is there, as a holder's is: a try on a free home could
    refuse a run taking it that instant; a record on a free lock is a killed holder's."""
    try:
        fd = os.open(home / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return None
    try:
        if not (record := _holder(fd)):
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return record
        return None
    finally:
        os.close(fd)   # lets go of the shared lock


def flow_run_of(record: str) -> str | None:
    """The Prefect flow run id a lock record names, if any."""
    return record.partition(FLOW_RUN)[2].split()[0] if FLOW_RUN in record else None


SERVE_LOCK_FILE = "serve.lock"


def serve_lock(home: Path):
    """One `serve` per home: a second one would share its deployment, and its exit would pause the
    first one's schedule (Prefect pauses a served deployment when its process stops)."""
    def refuse(holder: str) -> None:
        raise UserError(f"another `serve` (pid {holder or 'unknown'}) serves {home} already (or served it at the "
                        "path it had before a move): stop that one first; one serve per home")
    return _holding(home / SERVE_LOCK_FILE, str(os.getpid()), 0.0, refuse)
