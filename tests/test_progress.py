"""The progress bar on a terminal (flows/progress.py)."""
from __future__ import annotations

import io
import logging

import pytest

from flows.progress import ProgressHandler


class Terminal(io.StringIO):
    def isatty(self):
        return True


def record(done: int, left: float) -> logging.LogRecord:
    rec = logging.LogRecord("profile_etl.progress", logging.INFO, __file__, 1, "read", (), None)
    rec.__dict__.update(done=done, total=2000, mb_s=40.0, left_s=left)
    return rec


@pytest.mark.parametrize("columns", [20, 45, 80, 200])
def test_the_bar_fits_the_terminal_and_clears_what_a_longer_line_left(columns, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(columns))
    stream = Terminal()
    handler = ProgressHandler(stream)
    handler.emit(record(500, 12))
    handler.emit(record(1000, 9))
    lines = stream.getvalue().split("\r")[1:]
    assert all(line.endswith("\x1b[K") and len(line.removesuffix("\x1b[K")) < columns for line in lines)
    assert lines[-1].startswith("[" if columns >= 45 else "1000/2000 dumps")


def test_the_last_update_ends_the_line():
    stream = Terminal()
    ProgressHandler(stream).emit(record(2000, 0))
    assert stream.getvalue().endswith("\x1b[K\n")
