"""The cheap look a run takes before Prefect starts: may the inbox hold files the index doesn't?"""
from __future__ import annotations

import os

from flows.discover import FILE_INDEX, may_have_new_files, scan_inbox


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


def test_a_file_waits_while_modified_within_the_settle_time_and_a_far_future_stamp_does_not(tmp_path):
    """A far-future file is read (extract then quarantines it: its time can't be the capture time)."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    now = 1_000_000
    for name, mtime in [("old.txt", now - 60), ("fresh.txt", now - 2), ("skewed.txt", now + 2),
                        ("future.txt", now + 7200)]:
        (inbox / name).write_text("dump")
        at(inbox / name, mtime)
    found = scan_inbox(inbox, settle_seconds=10, now=now)
    assert sorted(f.path.name for f in found.ready) == ["future.txt", "old.txt"]
    assert sorted(p.name for p in found.waiting) == ["fresh.txt", "skewed.txt"]
    assert len(scan_inbox(inbox, settle_seconds=0, now=now).ready) == 4


def test_other_files_and_links_to_folders_are_reported_as_ignored(tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "sub").mkdir(parents=True)
    for name in ["000_a.txt", "000_a.meta.json", "001_b.txt.gz", "README.md", "002_c.TXT", "sub/003_d.txt.bak",
                 ".DS_Store", "004_e.txt.part"]:
        (inbox / name).write_text("x")
    (tmp_path / "elsewhere").mkdir()
    (inbox / "linked").symlink_to(tmp_path / "elsewhere")
    found = scan_inbox(inbox, settle_seconds=0)
    assert sorted(f.path.name for f in found.ready) == ["000_a.txt", "001_b.txt.gz"]
    assert sorted(str(p.relative_to(inbox)) for p in found.ignored) == ["002_c.TXT", "README.md", "linked",
                                                                        "sub/003_d.txt.bak"]
