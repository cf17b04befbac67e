"""A home whose lake is gone or damaged is refused, not started over (issue 21, case 1)."""
from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from flows.cli import main
from store.errors import UserError
from tests.conftest import SAMPLE_NAME, write_dump
from tests.dumps import FIRST, LATER, later_snapshot


def dumps_in_warehouse(home) -> int:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute("SELECT count(*) FROM dumps").fetchone()[0]


@pytest.fixture
def loaded(run_ingest, tmp_path, sample_text):
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    run_ingest(home, inbox)
    write_dump(inbox, "001_7707062aadfcc580.txt", later_snapshot(sample_text), LATER)
    return home, inbox


def test_a_run_refuses_a_home_whose_lake_is_gone_and_rebuild_from_raw_repairs_it(loaded, run_ingest):
    home, inbox = loaded
    shutil.rmtree(home / "lake")
    with pytest.raises(UserError, match=r"has none of its Delta tables, though .*raw/ names the copies of 1 "
                                        r"batches.*the warehouse holds 1 dumps.*rebuild --from-raw"):
        run_ingest(home, inbox)
    assert not (home / "lake").exists() or not any((home / "lake").iterdir())   # nothing written
    assert dumps_in_warehouse(home) == 1
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 0
    summary = run_ingest(home, inbox)
    assert summary["dumps_new"] == 1 and dumps_in_warehouse(home) == 2


def test_a_run_refuses_a_lake_that_lost_one_table(loaded, run_ingest):
    home, inbox = loaded
    shutil.rmtree(home / "lake" / "papers" / "_delta_log")
    with pytest.raises(UserError, match=r"lacks the Delta tables papers, though lake table dumps holds runs"):
        run_ingest(home, inbox)
    assert dumps_in_warehouse(home) == 1


@pytest.mark.e2e
def test_a_run_never_waits_on_a_fifo_or_a_device_in_the_inbox(tmp_path, sample_text):
    """A real `profile-etl run` with a timeout: before, it blocked in open() holding the run lock."""
    import os
    import subprocess
    import sys
    from pathlib import Path
    inbox, home = tmp_path / "inbox", tmp_path / "home"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    os.mkfifo(inbox / "001_fifo.txt")
    (inbox / "002_zero.txt").symlink_to("/dev/zero")
    import socket
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(str(inbox / "003_socket.txt"))   # a socket file: never opened for reading either
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PROFILE_ETL_SETTLE_SECONDS": "0"}
    done = subprocess.run([str(Path(sys.executable).parent / "profile-etl"), "--home", str(home), "run",
                           "--inbox", str(inbox)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    listening.close()
    assert "1 new dump " in done.stdout and "3 other files ignored" in done.stdout, done.stdout


def test_a_file_that_vanishes_during_a_run_is_read_by_the_next_one(loaded, run_ingest, monkeypatch):
    """Case 3: moved out after the scan and put back with its mtime, it was quarantined under a made-up
    id and indexed for good, so no run (not even --reprocess) read it again."""
    from flows import pipeline
    home, inbox = loaded
    later = inbox / "001_7707062aadfcc580.txt"
    away = home.parent / "away.txt"
    scan = pipeline.plan_run

    def scan_then_move(*args):
        plan = scan(*args)
        later.rename(away)
        return plan
    monkeypatch.setattr(pipeline, "plan_run", scan_then_move)
    summary = run_ingest(home, inbox)
    assert summary["dumps_new"] == 0 and summary["unreadable"] == 1
    assert dumps_in_warehouse(home) == 1
    monkeypatch.setattr(pipeline, "plan_run", scan)
    away.rename(later)
    summary = run_ingest(home, inbox)
    assert (summary["dumps_new"], summary["dumps_loaded"], summary["unreadable"]) == (1, 1, 0)
    assert dumps_in_warehouse(home) == 2


def truncate(path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


LAKE_DAMAGE = {
    "a truncated data file": (lambda lake: truncate(next((lake / "dumps").glob("*.parquet"))), "can't be read"),
    "truncated files of a merged table": (lambda lake: [truncate(f) for f in (lake / "papers").glob("*/*.parquet")],
                                          "can't be read"),
    "a deleted data file": (lambda lake: next((lake / "papers").glob("*/*.parquet")).unlink(), "is in its log but missing"),
    "an empty commit": (lambda lake: sorted((lake / "dumps" / "_delta_log").glob("*.json"))[-1].write_text("{}\n"),
                        r"its log \(_delta_log/\d+\.json\) isn't a Delta commit"),
    "a truncated log entry": (lambda lake: truncate(sorted((lake / "dumps" / "_delta_log").glob("*.json"))[-1]),
                              r"its log \(_delta_log/\d+\.json\) isn't a Delta commit"),
}


@pytest.mark.parametrize("damage", LAKE_DAMAGE)
def test_a_damaged_lake_is_named_with_its_repair_which_works(loaded, prefect_harness, capsys, damage):
    """Case 5: runs and `rebuild` failed with tracebacks; `rebuild --from-raw` read the damaged lake too."""
    import re
    home, inbox = loaded
    harm, message = LAKE_DAMAGE[damage]
    harm(home / "lake")
    run = ["--home", str(home), "run", "--inbox", str(inbox), "--settle-seconds", "0"]
    for argv in (run, ["--home", str(home), "rebuild"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert re.search(f"the lake at .* is damaged \\(lake table \\w+: .*{message}", err), err
        assert f"`profile-etl --home {home} rebuild --from-raw`" in err
    assert dumps_in_warehouse(home) == 1
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 0
    assert main(run) == 0
    assert dumps_in_warehouse(home) == 2
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM runs WHERE status = 'completed'").fetchone()[0] == 2   # history kept


def test_a_damaged_file_index_is_moved_aside_and_made_anew(loaded, run_ingest):
    """Case 5: a truncated state/files.parquet failed every run, named nowhere, and survived rebuilds."""
    home, inbox = loaded
    truncate(home / "state" / "files.parquet")
    summary = run_ingest(home, inbox)
    assert summary["dumps_new"] == 1 and dumps_in_warehouse(home) == 2
    assert "couldn't be read" in summary["notes"][0] and "every inbox file was read again" in summary["notes"][0]
    assert len(list((home / "state").glob("files.parquet.damaged-*"))) == 1
    assert run_ingest(home, inbox)["files_read"] == 0   # indexed again


def copy_of_later(home):
    from store import raw_store
    copies = raw_store.copies_in(home / "raw")
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        did = con.execute("SELECT dump_id FROM dumps WHERE source_path LIKE '%001_7707062aadfcc580.txt'").fetchone()[0]
    return did, copies[did]


def flip_a_bit(path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage, message, drop", [
    ("missing", "is missing", "--drop"), ("flipped", "is corrupt: its bytes hash to", "--drop-damaged")])
def test_rebuild_from_raw_verifies_every_copy_and_drops_only_what_it_is_told(loaded, run_ingest, capsys,
                                                                              damage, message, drop):
    """Case 4: a missing copy dropped its dump silently; a flipped bit loaded a corrupted dump under a
    new id, and the next run loaded the original as a second capture."""
    home, inbox = loaded
    run_ingest(home, inbox)
    did, copy = copy_of_later(home)
    copy.unlink() if damage == "missing" else flip_a_bit(copy)
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 2
    err = capsys.readouterr().err
    assert "1 of the dumps raw/ should hold can't be read back" in err and message in err and "Nothing was changed" in err
    assert dumps_in_warehouse(home) == 2
    assert main(["--home", str(home), "rebuild", "--from-raw", *([drop, did[:12]] if drop == "--drop" else [drop])]) == 0
    assert f"dropped {did[:16]}" in capsys.readouterr().err
    assert dumps_in_warehouse(home) == 1
    if damage == "flipped":
        assert (home / "raw" / "damaged" / f"{copy.name}.damaged").exists()
    assert did in (home / "raw" / "damaged" / "dropped.jsonl").read_text()
    summary = run_ingest(home, inbox)   # its inbox file is still there: read again, copied again
    assert (summary["dumps_new"], summary["dumps_loaded"]) == (1, 1) and dumps_in_warehouse(home) == 2
    assert copy.exists() and copy_of_later(home)[0] == did


@pytest.mark.parametrize("command", [["history"], ["maintain"], ["rollback", "some-run"]])
def test_lake_commands_on_a_damaged_lake_say_so_and_change_nothing(loaded, capsys, command):
    home, _ = loaded
    log = sorted((home / "lake" / "runs" / "_delta_log").glob("*.json"))[-1]
    log.write_text("{}\n")
    files_before = sorted(p.name for p in (home / "lake").rglob("*"))
    assert main(["--home", str(home), *command]) == 2
    err = capsys.readouterr().err
    assert "is damaged (lake table runs: its log" in err and "rebuild --from-raw" in err and "Traceback" not in err
    assert sorted(p.name for p in (home / "lake").rglob("*")) == files_before


def runs_in_warehouse(home) -> int:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute("SELECT count(*) FROM runs").fetchone()[0]


def test_rebuild_from_raw_of_a_lost_lake_keeps_the_runs_history(loaded, run_ingest):
    home, inbox = loaded
    run_ingest(home, inbox)
    shutil.rmtree(home / "lake")
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 0
    assert (runs_in_warehouse(home), dumps_in_warehouse(home)) == (2, 2)


def killed_between_renames(loaded, run_ingest, monkeypatch):
    """The loaded home after one more run, then a rebuild from raw/ that died with the lake in lake.old
    (a lake it replaces whole rather than rewriting its tables: a damaged one, say)."""
    from flows import integrity
    from store.faults import FAIL_ENV, InjectedFault
    home, inbox = loaded
    run_ingest(home, inbox)
    monkeypatch.setenv(FAIL_ENV, "rebuild:lake-moved-aside")
    with monkeypatch.context() as replacing:
        replacing.setattr(integrity, "rewritable_in_place", lambda lake_dir: False)
        with pytest.raises(InjectedFault):
            main(["--home", str(home), "rebuild", "--from-raw"])
    monkeypatch.delenv(FAIL_ENV)
    return home, inbox


def test_a_rebuild_from_raw_killed_between_its_renames_loses_nothing(loaded, run_ingest, monkeypatch):
    """The old lake was in lake.old, and the next rebuild deleted it first (with the runs history)."""
    home, inbox = killed_between_renames(loaded, run_ingest, monkeypatch)
    assert not (home / "lake").exists() and (home / "lake.old").is_dir()
    assert run_ingest(home, inbox)["dumps_new"] == 0   # the lake as it was put back first
    assert (runs_in_warehouse(home), dumps_in_warehouse(home)) == (3, 2)
    assert not (home / "lake.old").exists()


@pytest.mark.parametrize("command", [["history"], ["maintain"], ["rollback"], ["rebuild"]])
def test_lake_commands_put_back_the_lake_a_rebuild_killed_between_its_renames_left_aside(loaded, run_ingest,
                                                                                         monkeypatch, capsys, command):
    home, inbox = killed_between_renames(loaded, run_ingest, monkeypatch)
    capsys.readouterr()
    latest = runs_ids_in_warehouse(home)[-1:] if command == ["rollback"] else []
    assert main(["--home", str(home), *command, *latest]) == 0
    assert "put back" in capsys.readouterr().err and (home / "lake").is_dir() and not (home / "lake.old").exists()
    assert dumps_in_warehouse(home) == (1 if latest else 2)


def runs_ids_in_warehouse(home) -> list[str]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return [run_id for (run_id,) in con.execute("SELECT run_id FROM runs ORDER BY started_at").fetchall()]


def test_a_lake_that_lost_its_newest_commits_is_refused_and_doctor_repairs_it(loaded, run_ingest, capsys):
    """Recovery took the lost run's other tables for a dead run's and rolled them back: a dump vanished."""
    home, inbox = loaded
    run_ingest(home, inbox)
    sorted((home / "lake" / "runs" / "_delta_log").glob("*.json"))[-1].unlink()
    with pytest.raises(UserError, match=r"is behind the warehouse it published \(runs at version \d+, the "
                                        r"warehouse at \d+\).*rebuild --from-raw"):
        run_ingest(home, inbox)
    assert dumps_in_warehouse(home) == 2
    assert main(["--home", str(home), "doctor"]) == 1
    assert "the lake is behind the warehouse it published" in capsys.readouterr().out
    assert main(["--home", str(home), "doctor", "--repair"]) == 0
    assert (runs_in_warehouse(home), dumps_in_warehouse(home)) == (2, 2)
    assert run_ingest(home, inbox)["dumps_new"] == 0


def lose_the_newest_runs_commit(home: Path) -> str:
    sorted((home / "lake" / "runs" / "_delta_log").glob("*.json"))[-1].unlink()
    return "is behind the warehouse it published"


def damage_a_checkpoint(home: Path) -> str:
    assert main(["--home", str(home), "maintain"]) == 0   # writes each table's checkpoint
    next((home / "lake" / "papers" / "_delta_log").glob("*.checkpoint.parquet")).write_bytes(b"junk" * 100)
    return "is damaged (lake table papers"


@pytest.mark.parametrize("damage", [lose_the_newest_runs_commit, damage_a_checkpoint])
def test_rebuild_refuses_a_damaged_lake_and_names_the_repair(loaded, run_ingest, capsys, damage):
    """`rebuild` published a lake that had lost its newest commits (the lost run's dumps vanished, with
    exit 0, and with them the evidence doctor goes by), and ended in delta-rs' traceback on a damaged
    checkpoint, where a run, `maintain` and doctor name the damage."""
    home, inbox = loaded
    run_ingest(home, inbox)
    said = damage(home)
    capsys.readouterr()
    assert main(["--home", str(home), "rebuild"]) == 2
    err = capsys.readouterr().err
    assert "the rebuild stopped: the lake at" in err and said in err
    assert "rebuild --from-raw" in err and dumps_in_warehouse(home) == 2
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 0
    assert (runs_in_warehouse(home), dumps_in_warehouse(home)) == (2, 2)


def test_rebuild_of_a_lake_missing_a_table_says_so(loaded, capsys):
    home, _ = loaded
    shutil.rmtree(home / "lake" / "papers")
    assert main(["--home", str(home), "rebuild"]) == 2
    assert "lacks the Delta tables papers" in capsys.readouterr().err


def test_a_lake_written_with_other_columns_is_refused_until_rebuilt_from_raw(loaded, run_ingest, monkeypatch, capsys):
    """A column added to a table's model after the home was made: runs and a warehouse-only rebuild
    refuse with the repair, which writes the lake and the warehouse again with the column."""
    import dataclasses

    import pandera.polars as pa

    from schemas.tables import REGISTRY, TABLES
    home, inbox = loaded
    extended = type("Runs", (TABLES["runs"],), {
        "__annotations__": {"note": str}, "note": pa.Field(nullable=True, description="A note on the run")})
    monkeypatch.setitem(REGISTRY, "runs", dataclasses.replace(REGISTRY["runs"], model=extended))
    monkeypatch.setitem(TABLES, "runs", extended)
    with pytest.raises(UserError, match=r"holds other columns .*\(runs lacks note\).*rebuild --from-raw"):
        run_ingest(home, inbox)
    assert main(["--home", str(home), "rebuild"]) == 2 and "(runs lacks note)" in capsys.readouterr().err
    assert dumps_in_warehouse(home) == 1
    assert main(["--home", str(home), "doctor"]) == 1
    assert "holds other columns than this version of profile-etl's tables (runs lacks note): runs refuse" in capsys.readouterr().out
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 0
    assert run_ingest(home, inbox)["dumps_new"] == 1 and dumps_in_warehouse(home) == 2
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*), count(note) FROM runs").fetchone() == (2, 0)   # the column is there


@pytest.mark.parametrize("command", [["maintain"], ["rollback"], ["rebuild"]])
def test_a_command_that_waited_for_a_rebuild_killed_between_its_renames_puts_its_lake_back(loaded, run_ingest,
                                                                                          monkeypatch, capsys, command):
    """`--wait` behind a rebuild from raw/ that dies between its renames: the command looked for the lake
    before it waited, and must look again once it holds the lock, not report a lost lake (nor leave
    an empty lake folder that keeps lake.old from being put back)."""
    from store import lock
    home, inbox = loaded
    run_ingest(home, inbox)
    latest = runs_ids_in_warehouse(home)[-1:] if command == ["rollback"] else []
    real, moved = lock.run_lock, []

    def holder_died_between_renames(*args, **kwargs):   # what the rebuild the command waited for left
        if not moved:
            (home / "lake").rename(home / "lake.old")
            (home / "lake.rebuild").mkdir()
            moved.append(True)
        return real(*args, **kwargs)
    with monkeypatch.context() as waiting:
        waiting.setattr(lock, "run_lock", holder_died_between_renames)
        assert main(["--home", str(home), *command, *latest]) == 0, capsys.readouterr().err
    assert (home / "lake").is_dir() and not (home / "lake.old").exists()
    assert run_ingest(home, inbox)["dumps_new"] == (1 if latest else 0)


def test_an_empty_lake_folder_made_meanwhile_does_not_keep_a_killed_rebuilds_lake_aside(loaded, run_ingest,
                                                                                       monkeypatch):
    home, inbox = killed_between_renames(loaded, run_ingest, monkeypatch)
    (home / "lake").mkdir()   # as a command that found no lake and was refused leaves it
    assert run_ingest(home, inbox)["dumps_new"] == 0   # the lake as it was put back first
    assert (runs_in_warehouse(home), dumps_in_warehouse(home)) == (3, 2)
