"""The cheap look a run takes before Prefect starts: may the inbox hold files the index doesn't?"""
from __future__ import annotations

import os

from flows.discover import FILE_INDEX, may_have_new_files


def at(path, seconds: int):
    os.utime(path, ns=(seconds * 10**9, seconds * 10**9))
    return path


def test_only_folders_with_dump_files_changed_since_the_index_count(tmp_path):
    inbox, state = tmp_path / "inbox", tmp_path / "state"
    (inbox / "a").mkdir(parents=True)
    state.mkdir()
    assert not may_have_new_files(inbox, state), "an empty inbox"
    (inbox / "a" / "001_x.txt").write_text("dump")
    assert may_have_new_files(inbox, state), "files and no index yet"
    (state / FILE_INDEX).write_bytes(b"")
    at(state / FILE_INDEX, 2000)
    at(inbox, 1000), at(inbox / "a", 1000)
    assert not may_have_new_files(inbox, state), "nothing changed since the index"
    (inbox / "b").mkdir()
    (inbox / "b" / "002_y.txt.part").write_text("half a dump")
    at(inbox / "b", 3000)
    assert not may_have_new_files(inbox, state), "a dump still being written"
    (inbox / "b" / "002_y.txt").write_text("dump")
    at(inbox / "b", 3000)
    assert may_have_new_files(inbox, state)
