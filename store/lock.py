"""One run at a time per home: an advisory lock on `<home>/run.lock`, released by the OS if
the holder dies, so a killed run never blocks the next one."""
from __future__ import annotations

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


@contextmanager
def run_lock(home: Path, wait_seconds: float = 0.0):
    """Hold the home's run lock; wait up to wait_seconds for another run to finish, then give up."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_seconds
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                raise RunLocked(f"another run (pid {holder}) is working on {home}: it holds {path}. "
                                f"Wait for it to finish, or pass --wait SECONDS to queue behind it.")
            time.sleep(POLL_SECONDS)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)
