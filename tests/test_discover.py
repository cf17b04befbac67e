"""Discovering the inbox: which files are ready, which wait."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl

from core.validate import FILE_SCHEMA
from flows.discover import scan_inbox
from flows.file_index import index_key, unrecognised
from store import storage


def at(path, seconds: int):
    os.utime(path, ns=(seconds * 10**9, seconds * 10**9))
    return path


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


def test_a_file_stamped_a_little_ahead_waits_until_the_settle_time_has_passed_its_stamp(tmp_path):
    """A file server whose clock runs a minute ahead stamps a file being written now a minute ahead:
    read at once, it would be loaded half-written. A stamp further ahead than a capture time may be
    (core.records.FUTURE_TOLERANCE) is read, and quarantined for it."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    now = 1_000_000
    for name, mtime in [("ahead.txt", now + 60), ("far.txt", now + 600)]:
        (inbox / name).write_text("dump")
        at(inbox / name, mtime)
    found = scan_inbox(inbox, settle_seconds=5, now=now)
    assert [f.path.name for f in found.ready] == ["far.txt"] and [p.name for p in found.waiting] == ["ahead.txt"]
    assert [p.name for p in scan_inbox(inbox, settle_seconds=5, now=now + 64).waiting] == ["ahead.txt"]
    assert len(scan_inbox(inbox, settle_seconds=5, now=now + 65).ready) == 2
    assert [p.name for p in scan_inbox(inbox, settle_seconds=900, now=now).waiting] == ["ahead.txt", "far.txt"]


SIDECAR_TIMES = [("000_a.txt", -60), ("000_a.meta.json", -2), ("001_b.txt.gz", -60), ("001_b.meta.json", -1),
                 ("002_c.txt", -60), ("002_c.meta.json", -60), ("003_d.txt", -60),
                 (".003_d.meta.json.tmp", -60)]   # seconds from now; a sidecar under a temporary name waits


def test_a_settled_dump_waits_while_its_sidecar_is_being_written(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    now = 1_000_000
    for name, mtime in SIDECAR_TIMES:
        (inbox / name).write_text("x")
        at(inbox / name, now + mtime)
    found = scan_inbox(inbox, settle_seconds=10, now=now)
    assert [f.path.name for f in found.ready] == ["002_c.txt"]
    assert sorted(p.name for p in found.waiting) == ["000_a.txt", "001_b.txt.gz", "003_d.txt"]
    assert len(scan_inbox(inbox, settle_seconds=10, now=now + 10).ready) == 3


def test_a_dump_on_object_storage_waits_for_its_sidecar_too(monkeypatch):
    inbox, now = storage.Url("s3://bucket/inbox"), 1_000_000
    listing = sorted((inbox / name, 1, (now + mtime) * 10**9) for name, mtime in SIDECAR_TIMES)
    monkeypatch.setattr(storage, "list_files", lambda url: listing)
    found = scan_inbox(inbox, settle_seconds=10, now=now)
    assert [f.path.name for f in found.ready] == ["002_c.txt"]
    assert sorted(u.name for u in found.waiting) == ["000_a.txt", "001_b.txt.gz", "003_d.txt"]


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


def test_a_link_loop_is_passed_over_and_the_rest_is_found(tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "sub").mkdir(parents=True)
    (inbox / "sub" / "000_a.txt").write_text("x")
    (inbox / "loop").symlink_to(inbox / "loop")
    (inbox / "001_b.txt").symlink_to(inbox / "001_b.txt")
    found = scan_inbox(inbox, settle_seconds=0)
    assert [f.path.name for f in found.ready] == ["000_a.txt"]
    assert [p.name for p in found.ignored] == ["001_b.txt", "loop"]


def test_only_regular_files_are_dumps_the_rest_is_ignored_unopened(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "000_a.txt").write_text("x")
    os.mkfifo(inbox / "001_fifo.txt")
    (inbox / "002_device.txt").symlink_to("/dev/zero")
    (inbox / "003_dangling.txt").symlink_to(tmp_path / "gone.txt")
    (inbox / "004_link.txt").symlink_to(inbox / "000_a.txt")
    found = scan_inbox(inbox, settle_seconds=0)
    assert [f.path.name for f in found.ready] == ["000_a.txt", "004_link.txt"]
    assert [p.name for p in found.ignored] == ["001_fifo.txt", "002_device.txt", "003_dangling.txt"]


def test_opening_a_fifo_to_read_it_is_refused_at_once(tmp_path):
    """In a child process with a timeout: a regression would wait on the FIFO for ever."""
    os.mkfifo(tmp_path / "fifo.txt")
    code = ("from pathlib import Path; from store import storage\n"
            "try:\n    storage.open_read(Path('fifo.txt'))\nexcept OSError as exc:\n    print(exc)")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env=os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert "is not a regular file" in done.stdout, done.stderr


def test_an_inbox_given_as_the_current_folder_is_matched_against_the_file_index(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    for name in ("000_a.txt", "sub/001_b.txt"):
        (tmp_path / name).write_text("x")
    found = scan_inbox(Path("."), settle_seconds=0)
    assert [str(f.path) for f in found.ready] == ["000_a.txt", "sub/001_b.txt"]
    index = pl.DataFrame([(*index_key(f), f"d{i}") for i, f in enumerate(found.ready)], schema=FILE_SCHEMA, orient="row")
    assert unrecognised(found.found, index, {"d0", "d1"}) == []
    assert [str(f.path) for f in unrecognised(found.found, index, {"d0"})] == ["sub/001_b.txt"]


def test_the_file_index_keeps_only_files_the_run_listed_as_indexed(tmp_path):
    """Files removed from the inbox, or changed since they were indexed, leave the index when a run
    writes it: the index follows the inbox instead of growing with everything it ever held."""
    from flows.file_index import add_to_file_index, listed_keys, read_file_index
    inbox, state = tmp_path / "inbox", tmp_path / "state"
    inbox.mkdir()
    for name in ("a", "b", "c"):
        (inbox / f"000_{name}.txt").write_text(f"h-index1\n{name}\n")

    def index_run() -> None:
        found = scan_inbox(inbox, settle_seconds=0).found
        rows = pl.DataFrame([(*key, f"id-{Path(key[0]).stem}") for key in listed_keys(found).iter_rows()],
                            schema=FILE_SCHEMA, orient="row")
        add_to_file_index(state, [rows], (inbox, listed_keys(found)))
    other = tmp_path / "inbox-2"   # another inbox of the home, whose rows stay
    other.mkdir()
    (other / "000_d.txt").write_text("h-index1\nd\n")
    keys = listed_keys(scan_inbox(other, settle_seconds=0).found)
    add_to_file_index(state, [pl.DataFrame([(*key, "id-d") for key in keys.rows()], schema=FILE_SCHEMA, orient="row")],
                      (other, keys))
    index_run()
    (inbox / "000_a.txt").unlink()
    (inbox / "000_b.txt").write_text("h-index2\nb, longer now\n")
    index_run()
    index = read_file_index(state)
    assert sorted(Path(p).name for p in index["path"]) == ["000_b.txt", "000_c.txt", "000_d.txt"]
    assert index.filter(pl.col("path").str.ends_with("000_b.txt"))["size"].to_list() == [(inbox / "000_b.txt").stat().st_size]


def test_relative_rows_an_older_version_indexed_leave_the_index(tmp_path):
    """An older version indexed an inbox given relative (`--inbox my-dumps`) by relative paths, which
    no listing of today's absolute inboxes matches: the next write drops them."""
    from flows.file_index import FILE_INDEX, add_to_file_index, read_file_index
    old = pl.DataFrame([("inbox/a.txt", 1, 1, "id-a"), ("s3://bucket/b.txt", 1, 1, "id-b")], schema=FILE_SCHEMA, orient="row")
    old.write_parquet(tmp_path / FILE_INDEX)
    new = pl.DataFrame([(str(tmp_path / "inbox" / "a.txt"), 1, 1, "id-a")], schema=FILE_SCHEMA, orient="row")
    add_to_file_index(tmp_path, [new], (tmp_path / "inbox", new.drop("dump_id")))
    assert sorted(read_file_index(tmp_path)["path"]) == sorted(["s3://bucket/b.txt", str(tmp_path / "inbox" / "a.txt")])


def test_the_file_index_of_an_s3a_inbox_prunes_the_rows_listed_as_s3(tmp_path):
    """A listing names the objects of an s3a:// inbox s3:// (as fsspec does): they are still its rows."""
    from flows.file_index import add_to_file_index, read_file_index
    from store.storage import Url
    rows = pl.DataFrame([("s3://bucket/inbox/a.txt", 1, 1, "id-a"), ("s3://bucket/inbox/b.txt", 1, 1, "id-b")],
                        schema=FILE_SCHEMA, orient="row")
    add_to_file_index(tmp_path, [rows], (Url("s3a://bucket/inbox"), rows.drop("dump_id")))
    add_to_file_index(tmp_path, [rows.tail(1)], (Url("s3a://bucket/inbox"), rows.tail(1).drop("dump_id")))
    assert read_file_index(tmp_path)["path"].to_list() == ["s3://bucket/inbox/b.txt"]


def test_a_folder_that_cant_be_listed_is_said_and_an_inbox_that_cant_is_refused(tmp_path, monkeypatch):
    """Root reads folders whatever their mode, so the listing is refused here as the OS refuses it."""
    import pytest

    from flows import discover
    from store.errors import UserError
    inbox = tmp_path / "inbox"
    (inbox / "locked").mkdir(parents=True)
    (inbox / "lost+found").mkdir()   # a volume's own, which only root lists: passed over, not warned of
    for path in (inbox / "a.txt", inbox / "locked" / "b.txt"):
        path.write_text("h-index1\n")
    listed = discover._entries

    def refusing(folder):
        if folder.endswith(("locked", "lost+found")) or refuse_all:
            raise PermissionError(13, "Permission denied")
        return listed(folder)
    refuse_all = False
    monkeypatch.setattr(discover, "_entries", refusing)
    found = scan_inbox(inbox, settle_seconds=0)
    assert [f.path.name for f in found.ready] == ["a.txt"] and found.unlisted == [f"{inbox / 'locked'}: Permission denied"]
    refuse_all = True
    with pytest.raises(UserError, match=r"can't list the inbox .*inbox \(Permission denied\): nothing was read"):
        scan_inbox(inbox, settle_seconds=0)


def test_a_home_inside_the_inbox_or_the_inbox_itself_is_not_read_as_dumps(tmp_path):
    """Its raw/ copies would load again as dumps of a profile named by their hash after a rollback."""
    from store.settings import Settings
    (tmp_path / "3").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "3")   # the same folders, named through a link
    for inbox, home in ((tmp_path / "1", tmp_path / "1" / "home"), (tmp_path / "2", tmp_path / "2"),
                        (tmp_path / "3", tmp_path / "link" / "home")):
        for path in (inbox / "a.txt", home / "raw" / "0d" / "0dbb.txt", home / "state" / "s.txt",
                     home / "lake" / "dumps" / "d.txt", inbox / "sub" / "b.txt"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("h-index1\n")
        settings = Settings.load(home=home, inbox=inbox)
        found = scan_inbox(settings.inbox, 0, home_folders=settings.home_folders)
        assert sorted(str(f.path.relative_to(inbox)) for f in found.ready) == ["a.txt", "sub/b.txt"], home
        assert len(scan_inbox(settings.inbox, 0).ready) == 5, home
