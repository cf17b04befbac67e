"""The progress bar on a terminal (flows/progress.py)."""
from __future__ import annotations

import io
import logging
import os
import pty

import pytest

from flows.progress import LOGGER, ProgressHandler
from tests.conftest import SAMPLE_NAME, write_dump


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


def test_a_stage_after_the_reading_is_a_line_of_its_own_on_a_terminal():
    stream = Terminal()
    handler = ProgressHandler(stream)
    handler.emit(record(2000, 0))
    stage = logging.LogRecord("profile_etl.progress", logging.INFO, __file__, 1, "committed; publishing", (), None)
    stage.stage = True
    handler.emit(stage)
    assert stream.getvalue().endswith("\x1b[K\ncommitted; publishing\n")


def test_a_run_says_what_it_does_after_its_last_file_is_read(sample_text, prefect_harness, tmp_path):
    """On a big run merging, publishing and compacting took a third of its time after the bar said
    "0 s left": the progress names each stage after the reading."""
    from flows.pipeline import ingest
    from tests.dumps import FIRST, other_profile
    write_dump(tmp_path / "inbox", SAMPLE_NAME, sample_text, FIRST)
    write_dump(tmp_path / "inbox", "000_aaaabbbbccccdddd.txt", other_profile(sample_text), FIRST)
    stream = io.StringIO()
    handler = ProgressHandler(stream)
    LOGGER.addHandler(handler)
    level = LOGGER.level
    LOGGER.setLevel(logging.INFO)
    try:
        ingest(home=tmp_path / "home", inbox=tmp_path / "inbox", settle_seconds=0, batch_size=1)
    finally:
        LOGGER.removeHandler(handler)
        LOGGER.setLevel(level)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("read 1 of 2 dump files") and lines[1].startswith("read 2 of 2 dump files"), lines
    assert lines[2] == "read 2 files; committing their rows and merging them into the lake", lines
    assert lines[3] == "committed; publishing the warehouse", lines


@pytest.mark.parametrize("columns", [None, "0"])
def test_a_terminal_that_reports_no_size_gets_the_whole_bar(monkeypatch, columns):
    """A pseudo-terminal whose size was never set (`script` started without a terminal, some CI and
    container consoles) reports 0 columns, and COLUMNS=0 says as little: the bar was dropped and the
    line cut ("12 s lef")."""
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    master, slave = pty.openpty()   # a new pty's size is 0 x 0
    with os.fdopen(slave, "w") as stream, os.fdopen(master, "rb", buffering=0) as reader:
        ProgressHandler(stream).emit(record(500, 12))
        shown = reader.read(4096).decode()
    assert shown.startswith("\r[") and shown.endswith(" 500/2000 dumps 40.0 MB/s 12 s left\x1b[K"), repr(shown)
