"""The command's standard streams: none left closed, stdout's characters kept, and stderr's messages
never the reason a command fails."""
from __future__ import annotations

import io
import os
import sys


def prepare() -> None:
    """The streams as the `profile-etl` command uses them (in-process callers of main keep theirs)."""
    open_closed_streams()
    sys.stderr = Messages(open(2, "wb", closefd=False), encoding=sys.stderr.encoding, errors=sys.stderr.errors,
                          line_buffering=True)
    if sys.stdout.isatty() and hasattr(sys.stdout, "reconfigure"):   # σ on an ASCII terminal shows as \u03c3
        sys.stdout.reconfigure(errors="backslashreplace")


def discard(stream) -> None:
    """What the stream's file descriptor gets from now on goes to /dev/null."""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, stream.fileno())
    os.close(null)


class Messages(io.TextIOWrapper):
    """stderr, the command's messages and progress: one it can't write (a full disk, a reader or terminal
    gone) is lost, not the run or the exit code; from then on they go to /dev/null."""

    def write(self, text: str) -> int:
        try:
            return super().write(text)
        except OSError:
            discard(self)
            return len(text)

    def flush(self) -> None:
        try:
            super().flush()
        except OSError:
            discard(self)


def open_closed_streams() -> None:
    """A standard stream the caller closed (`>&-`, `2>&-`, a daemon's start), which Python leaves None (the
    progress bar's isatty and every print fail on it), reads or writes /dev/null instead; it also keeps
    the next file opened from taking the stream's number, where a child's output would go."""
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        if getattr(sys, name) is None:
            null = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            setattr(sys, name, open(fd, "r" if fd == 0 else "w", closefd=False))
