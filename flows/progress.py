"""Progress of a run: a bar on a terminal, plain log lines otherwise (SPEC §5)."""
from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import time

LOGGER = logging.getLogger("profile_etl.progress")


class Progress:
    """Counts extracted dumps and bytes; each update goes to the `profile_etl.progress` logger."""

    def __init__(self, files: int, total_bytes: int, started_at: dt.datetime):
        self.files, self.total_bytes = files, total_bytes
        self.done = self.bytes_done = 0
        self.started = started_at.timestamp()

    def advance(self, frames):
        self.done += frames.files.height
        self.bytes_done += frames.files["size"].sum()
        elapsed = max(time.time() - self.started, 1e-9)
        rate = self.bytes_done / elapsed
        left = (self.total_bytes - self.bytes_done) / rate if rate else 0.0
        LOGGER.info("read %d of %d dump files, %.1f MB/s, %.0f s left", self.done, self.files, rate / 1e6, left,
                    extra={"done": self.done, "total": self.files, "mb_s": rate / 1e6, "left_s": left})
        return frames

    def stage(self, text: str) -> None:
        """A stage after the reading, shown where the bar was: on a big run merging, publishing and
        compacting take a third of its time, which the bar's "0 s left" left unsaid. A run that read
        nothing shows none (its stages take moments)."""
        if self.files:
            LOGGER.info(text, extra={"stage": True})


class ProgressHandler(logging.Handler):
    """Draws the progress records as one bar line on a terminal, or prints them as lines."""

    def __init__(self, stream=None):
        super().__init__()
        self._stream = stream

    @property
    def stream(self):
        """The given stream, else sys.stderr as it is now (it may have been replaced since)."""
        return self._stream or sys.stderr

    def emit(self, record: logging.LogRecord) -> None:
        if not self.stream.isatty() or getattr(record, "stage", False):   # the bar ended its line when done
            self.stream.write(record.getMessage() + "\n")
            return
        text = f" {record.done}/{record.total} dumps {record.mb_s:.1f} MB/s {record.left_s:.0f} s left"
        columns = columns_of(self.stream) - 1   # a full last column wraps on some terminals
        width = max(min(30, columns - len(text) - 2), 0)
        filled = int(width * record.done / max(record.total, 1))
        bar = f"[{'#' * filled}{'.' * (width - filled)}]" if width >= 5 else ""
        # \x1b[K clears what a longer line before left ("12 s left" then "9 s left")
        self.stream.write(f"\r{(bar + text if bar else text.lstrip())[:columns]}\x1b[K")
        if record.done >= record.total:
            self.stream.write("\n")
        self.stream.flush()


def columns_of(stream) -> int:
    """The width of the terminal the stream writes to (COLUMNS first, 80 where neither says; 0 says
    nothing, as a pty whose size was never set reports it)."""
    if os.environ.get("COLUMNS", "").isdigit() and int(os.environ["COLUMNS"]):
        return int(os.environ["COLUMNS"])
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, OSError, ValueError):   # not a file (a test's stream), or no terminal
        return 80


def show_progress(stream=None) -> None:
    """Once per process: a process that runs the flow again (in-process callers) keeps one handler."""
    if any(isinstance(h, ProgressHandler) for h in LOGGER.handlers):
        return
    LOGGER.addHandler(ProgressHandler(stream))
    LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False
