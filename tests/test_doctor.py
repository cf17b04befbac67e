"""`profile-etl doctor` (issue 21): a home checked against itself, and its safe repairs."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from flows import runs
from flows.cli import main
from store import raw_store
from tests.conftest import SAMPLE_NAME, write_dump
from tests.dumps import FIRST, LATER, later_snapshot
from tests.test_integrity import copy_of_later, dumps_in_warehouse, flip_a_bit, truncate
from warehouse import lake, recovery


@pytest.fixture
def home(run_ingest, tmp_path, sample_text):
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    write_dump(inbox, "001_7707062aadfcc580.txt", later_snapshot(sample_text), LATER)
    run_ingest(home, inbox)
    return home


def doctor(home, capsys, *extra) -> tuple[int, str]:
    code = main(["--home", str(home), "doctor", *extra])
    return code, capsys.readouterr().out


def test_a_whole_home_passes(home, capsys):
    code, out = doctor(home, capsys)
    assert code == 0 and out.endswith("0 problems found\n")
    assert "ok       raw/: 2 copies, each matching its hash, none missing" in out
    assert "ok       warehouse: at the lake's versions" in out


def test_a_folder_that_is_no_home_is_refused_and_left_untouched(tmp_path, sample_text, capsys):
    inbox = tmp_path / "inbox"   # given as --home by mistake; its dumps in a sub-folder
    write_dump(inbox / "2026-12", SAMPLE_NAME, sample_text, FIRST)
    assert main(["--home", str(inbox), "doctor"]) == 2
    assert f"{inbox} holds dump files but no home (no lake/, raw/, state/ or warehouse.duckdb)" in capsys.readouterr().err
    assert [path.name for path in inbox.rglob("*")] == ["2026-12", SAMPLE_NAME]


def test_doctor_names_each_problem_and_repair_fixes_the_safe_ones(home, capsys, tmp_path):
    did, copy = copy_of_later(home)
    flip_a_bit(copy)                                         # its inbox file still holds the bytes
    ((gone, other),) = [(d, p) for d, p in raw_store.copies_in(home / "raw").items() if d != did]
    other.unlink()
    (tmp_path / "inbox" / SAMPLE_NAME).unlink()              # so nothing can restore this one
    truncate(next((home / "lake" / "papers").glob("*/*.parquet")))
    truncate(home / "state" / "files.parquet")
    code, out = doctor(home, capsys)
    assert code == 1 and f"4 problems found\n`profile-etl --home {home} doctor --repair` makes the repairs" in out, out
    assert "is corrupt: its bytes hash to" in out and "repair: copy it again from" in out
    assert "is missing" in out and f"a lake rebuild needs `profile-etl --home {home} rebuild --from-raw --drop" in out, out
    assert "lake table papers:" in out and "can't be read" in out and "rebuild --from-raw" in out
    assert "the file index" in out and "make it again from the lake and raw/" in out
    code, out = doctor(home, capsys, "--repair")
    assert code == 1, out
    assert f"repaired: copied {did[:16]} again from" in out and raw_store.digest(copy) == did
    assert list((home / "raw" / "damaged").iterdir()) and list((home / "state").glob("files.parquet.damaged-*"))
    assert "repaired: made the file index again from the lake and raw/ (1 files" in out   # the later dump's file
    assert "NOT REPAIRED: the lake" in out and f"rebuild --from-raw --drop {gone[:16]}`" in out, out
    assert "repaired: rebuilt" not in out and dumps_in_warehouse(home) == 2   # nothing dropped unasked
    assert main(["--home", str(home), "rebuild", "--from-raw", "--drop", gone[:16]]) == 0
    code, out = doctor(home, capsys)
    assert code == 0 and out.endswith("0 problems found\n") and dumps_in_warehouse(home) == 1


def test_repair_finds_a_lost_copys_bytes_in_a_file_moved_or_renamed_in_the_inbox(home, capsys, tmp_path):
    did, copy = copy_of_later(home)
    copy.unlink()
    moved = tmp_path / "inbox" / "restored" / "from-backup.txt"
    moved.parent.mkdir()
    (tmp_path / "inbox" / "001_7707062aadfcc580.txt").rename(moved)
    code, out = doctor(home, capsys, "--repair")
    assert code == 1 and f"no file in the inbox ({home / 'inbox'}) holds its bytes" in out, out
    code, out = doctor(home, capsys, "--repair", "--inbox", str(tmp_path / "inbox"))
    assert code == 0 and f"repaired: copied {did[:16]} again from {moved}" in out, out
    assert raw_store.digest(copy) == did


def test_a_damaged_warehouse_file_is_rebuilt_from_the_lake(home, capsys):
    current = home / os.readlink(home / "warehouse.duckdb")
    truncate(current)
    code, out = doctor(home, capsys)
    assert code == 1 and "can't be read" in out and f"repair: `profile-etl --home {home} rebuild`" in out
    code, out = doctor(home, capsys, "--repair")
    assert code == 0 and "repaired: rebuilt" in out and dumps_in_warehouse(home) == 2


def test_copies_nothing_names_are_reported(home, capsys):
    import hashlib
    data = b"h-index1\n"
    did = hashlib.sha256(data).hexdigest()
    (home / "raw" / did[:2]).mkdir(exist_ok=True)
    (home / "raw" / did[:2] / f"{did}.txt").write_bytes(data)
    code, out = doctor(home, capsys)
    assert code == 1 and f"raw/ holds 1 copies nothing names ({did[:16]})" in out


def test_a_rolled_back_run_is_a_note_not_a_problem(home, capsys, run_ingest, tmp_path, sample_text):
    """Its dumps' raw/ copies stay, for the next run to load again: nothing to repair."""
    from warehouse import history, lake
    write_dump(tmp_path / "inbox", "002_other.txt", sample_text.replace("h-index28", "h-index3"), LATER)
    run_ingest(home, tmp_path / "inbox")
    [_, second] = history.runs_in_order(home / "lake")["run_id"].to_list()
    assert main(["--home", str(home), "rollback", second]) == 0
    code, out = doctor(home, capsys)
    assert code == 0 and out.endswith("0 problems found\n"), out
    assert "note     raw/ holds 1 dumps the lake doesn't" in out and "or one rolled back" in out
    assert lake.read_table(home / "lake", "dumps").height == 2


def test_copies_of_a_failed_first_run_are_a_note(run_ingest, tmp_path, sample_text, capsys, monkeypatch):
    """The lake holds no dump at all: raw/'s copies are still named, for the next run to load."""
    from store.faults import FAIL_ENV, InjectedFault
    write_dump(tmp_path / "inbox", SAMPLE_NAME, sample_text, FIRST)
    monkeypatch.setenv(FAIL_ENV, "normalise:tables-built")
    with pytest.raises(InjectedFault):
        run_ingest(tmp_path / "home", tmp_path / "inbox")
    monkeypatch.delenv(FAIL_ENV)
    code, out = doctor(tmp_path / "home", capsys)
    assert code == 0 and "note     raw/ holds 1 dumps the lake doesn't" in out, out


def test_a_home_whose_first_run_stopped_before_its_commit_point_lacks_no_warehouse(tmp_path, capsys):
    """A first run cancelled from Prefect's UI leaves the lake's empty tables: the next run makes the
    warehouse, which is no problem and needs no rebuild."""
    from warehouse import lake
    lake.ensure_tables(tmp_path / "home" / "lake")
    assert main(["--home", str(tmp_path / "home"), "status"]) == 2
    assert "no run has completed in this home; run `profile-etl run` first" in capsys.readouterr().err
    code, out = doctor(tmp_path / "home", capsys)
    assert code == 0 and "note     no warehouse yet at" in out and "the next run makes it" in out, out


def test_status_during_a_homes_first_run_says_the_run_is_working_on_it(tmp_path, capsys):
    """A first run of a big inbox takes minutes: status and sql during it said to run `profile-etl run`
    first, as if none were running."""
    from store.lock import run_lock
    from warehouse import lake
    lake.ensure_tables(tmp_path / "home" / "lake")
    with run_lock(tmp_path / "home"):
        assert main(["--home", str(tmp_path / "home"), "sql", "SELECT 1"]) == 2
    err = capsys.readouterr().err
    assert f"another run (pid {os.getpid()}) is working on this home" in err and "run `profile-etl run`" not in err, err


def test_a_missing_warehouse_is_a_problem_that_a_rebuild_repairs(home, capsys):
    (home / "warehouse.duckdb").unlink()
    assert main(["--home", str(home), "status"]) == 2
    assert f"though the home has a lake: `profile-etl --home {home} rebuild` makes it again" in capsys.readouterr().err
    code, out = doctor(home, capsys)
    assert code == 1 and f"the warehouse {home / 'warehouse.duckdb'} is missing" in out
    code, out = doctor(home, capsys, "--repair")
    assert code == 0 and dumps_in_warehouse(home) == 2, out


def test_a_home_that_is_not_there_is_named_and_a_new_one_passes(tmp_path, capsys):
    code = main(["--home", str(tmp_path / "typo"), "doctor"])
    assert code == 2 and f"no home at {tmp_path / 'typo'}" in capsys.readouterr().err
    (tmp_path / "new").mkdir()
    for _ in range(2):   # its own lock file doesn't make it something else
        code, out = doctor(tmp_path / "new", capsys)
        assert code == 0 and "lake: none yet (a new home)" in out, out


def test_copies_the_lake_holds_that_no_meta_file_names_are_a_problem(home, capsys):
    """What `rebuild --from-raw` would refuse for is found before it is needed."""
    for meta in (home / "raw" / "meta").iterdir():
        meta.write_text(meta.read_text()[:20])   # cut short
    code, out = doctor(home, capsys)
    assert code == 1 and "no raw/meta/ file names 2 raw/ copies the lake holds" in out, out
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 2


def test_a_lake_maintained_after_the_publish_is_not_ahead_of_the_warehouse(home, capsys, run_ingest, tmp_path,
                                                                          sample_text):
    """Compaction moves a table's version, not its rows: the warehouse is not behind."""
    from warehouse import lake
    write_dump(tmp_path / "inbox", "002_other.txt", sample_text.replace("h-index28", "h-index3"), LATER)
    run_ingest(home, tmp_path / "inbox")
    before = lake.versions(home / "lake")
    assert main(["--home", str(home), "maintain"]) == 0
    assert lake.versions(home / "lake")["dumps"] > before["dumps"]   # its two files compacted
    code, out = doctor(home, capsys)
    assert code == 0 and "ok       warehouse: at the lake's versions" in out, out


@pytest.mark.e2e
def test_a_rollback_killed_half_way_is_found_and_undone(home, capsys, run_ingest, tmp_path, sample_text):
    from store.faults import CRASH_ENV
    from warehouse import history, lake
    write_dump(tmp_path / "inbox", "002_other.txt", sample_text.replace("h-index28", "h-index3"), LATER)
    run_ingest(home, tmp_path / "inbox")
    [_, second] = history.runs_in_order(home / "lake")["run_id"].to_list()
    killed = subprocess.run([str(Path(sys.executable).parent / "profile-etl"), "--home", str(home), "rollback", second],
                            env=os.environ | {CRASH_ENV: "rollback:restored:papers"}, capture_output=True, timeout=300)
    assert killed.returncode == -9, killed.stderr
    code, out = doctor(home, capsys)
    assert code == 1 and "hold commits of a run or rollback that didn't finish" in out and "papers" in out, out
    code, out = doctor(home, capsys, "--repair")
    assert code == 0 and "repaired: undid the unfinished commits of" in out and out.endswith("0 problems found\n"), out
    assert lake.read_table(home / "lake", "papers").height == dumps_papers(home)


def dumps_papers(home) -> int:
    import duckdb
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute("SELECT count(*) FROM papers").fetchone()[0]


@pytest.mark.parametrize("in_place", [True, False])
def test_a_warehouse_loaded_from_a_lake_since_rebuilt_is_stale(home, capsys, monkeypatch, in_place):
    """Rebuilt in place, the tables went on to later versions; a lake replaced whole (a damaged one) has
    new tables whose versions start again low: the table ids tell the warehouse's lake from it."""
    from flows import integrity
    from warehouse import publish
    monkeypatch.setattr(publish, "rebuild", lambda *args: None)   # the warehouse step of the rebuild never ran
    if not in_place:
        monkeypatch.setattr(integrity, "rewritable_in_place", lambda lake_dir: False)
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 0
    monkeypatch.undo()
    code, out = doctor(home, capsys)
    assert code == 1 and ("the warehouse is behind the lake" if in_place else "loaded from a lake since rebuilt") in out, out


def test_doctor_waits_for_no_run(home, capsys):
    """Between a run's lake commit and its publish the home looks damaged: doctor takes the run lock."""
    from store.lock import run_lock
    with run_lock(home, 0, "run"):
        code = main(["--home", str(home), "doctor"])
    assert code == 2 and "another run" in capsys.readouterr().err


def test_a_lake_that_fails_the_data_tests_gets_a_message_from_rebuild_and_doctor_repair(home, capsys):
    seq = recovery.recover(home / "lake")
    bogus = lake.read_table(home / "lake", "listings").head(1).with_columns(paper_id=pl.lit("0" * 16))
    lake.append(home / "lake", "listings", bogus, seq, "test-run")
    lake.commit_run(home / "lake", runs.run_row("bogus-run", dt.datetime.now(dt.timezone.utc), "completed", 0,
                                                pl.DataFrame(schema={"status": pl.String})), seq)
    assert main(["--home", str(home), "rebuild"]) == 1
    err = capsys.readouterr().err
    assert "the rebuild failed (data tests failed" in err and "listings_reference_papers" in err
    assert "The published warehouse is as it was" in err and "Traceback" not in err
    code, out = doctor(home, capsys, "--repair")
    assert code == 1 and "NOT REPAIRED: the warehouse (data tests failed" in out
    assert dumps_in_warehouse(home) == 2


def test_a_repair_that_fails_is_reported_and_the_others_still_apply(home, capsys, monkeypatch):
    from flows import doctor as doctor_mod
    truncate(home / "state" / "files.parquet")
    broken = doctor_mod.Problem("a problem whose repair fails", "the failing repair", fix=lambda: 1 / 0)
    real = doctor_mod.examine

    def with_a_broken_repair(settings):
        found = real(settings)
        found.problems.insert(0, broken)
        return found
    monkeypatch.setattr(doctor_mod, "examine", with_a_broken_repair)
    code, out = doctor(home, capsys, "--repair")
    assert code == 1 and "NOT REPAIRED: a problem whose repair fails. The repair, the failing repair, failed:" in out
    assert "repaired: made the file index again" in out and "Traceback" not in out


def test_a_user_who_may_only_read_the_home_can_still_check_it(home, capsys, monkeypatch):
    from store import lock

    def read_only(path, flags, *mode):
        raise PermissionError(13, "Permission denied", str(path))
    monkeypatch.setattr(lock.os, "open", read_only)
    assert main(["--home", str(home), "doctor"]) == 0
    captured = capsys.readouterr()
    assert captured.out.endswith("0 problems found\n") and "no permission to take the home's run lock" in captured.err


def test_many_problems_of_one_kind_are_listed_a_few_then_counted():
    """A raw/ restored from an old backup lacks hundreds of copies, each with the same repair."""
    from flows.findings import SHOWN_ALIKE, Findings, Problem, report
    alike = [Problem(f"raw/ab/{n:02}.txt is missing", f"copy it again from inbox/{n}.txt", alike="copies missing")
             for n in range(SHOWN_ALIKE + 3)]
    other = Problem("the file index can't be read", "doctor --repair makes it again")
    out = report(Findings(alike[:2] + [other] + alike[2:], checked=[], unrecoverable=[]))
    listed = [line for line in out.splitlines() if line.startswith("PROBLEM")]
    assert listed[2] == "PROBLEM  the file index can't be read" and len(listed) == SHOWN_ALIKE + 2
    assert listed[-1] == "PROBLEM  3 more copies missing" and f"{len(alike) + 1} problems found" in out
    assert "inbox/4.txt" in out and "inbox/5.txt" not in out
