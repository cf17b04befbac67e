"""`history`, `rollback RUN_ID` and `maintain` (SPEC §5, §8) on homes the real flow filled: a rollback
returns the lake and the warehouse to their state before the run, and the next run ingests its dumps
again; maintenance compacts without changing what any reader sees."""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
import types

import duckdb
import polars as pl
import pytest
from deltalake import DeltaTable

from flows.cli import main
from flows import pipeline
from flows.discover import plan_run
from flows.pipeline import ingest
from schemas.tables import TABLES, polars_schema
from store.errors import UserError
from store.faults import FAIL_ENV, InjectedFault
from tests.conftest import OTHER, SAMPLE_NAME, write_dump
from tests.dumps import FIRST, LATER, later_snapshot, other_profile
from tests.test_lake import commit
from tests.warehouse_state import canonical, lake_tables, same_tables, warehouse_tables
from warehouse import history, lake, maintenance, partitions, publish, recovery, retention
from warehouse import changes as changes_mod

LATER_NAME = "001_7707062aadfcc580.txt"


def run(home, inbox) -> dict:
    return ingest(home=home, inbox=inbox, settle_seconds=0)


def third_run(home, inbox, sample_text) -> None:
    """A run of one more dump (another profile) on a copy of the two-run home."""
    write_dump(inbox, f"002_{OTHER}.txt", other_profile(sample_text), LATER)
    assert run(home, inbox)["dumps_new"] == 1


def vacuum_as_days_later(monkeypatch) -> None:
    """From now on `maintain` vacuums as it would once every file replaced so far is past the retention."""
    real = DeltaTable.vacuum
    monkeypatch.setattr(DeltaTable, "vacuum", lambda table, **options: real(
        table, **options | {"retention_hours": 0, "enforce_retention_duration": False}))


def lake_run_ids(home) -> list[str]:
    return history.runs_in_order(home / "lake")["run_id"].to_list()


def warehouse_run_ids(home) -> list[str]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return [r for (r,) in con.execute("SELECT run_id FROM runs ORDER BY started_at, run_id").fetchall()]


@pytest.fixture(scope="module")
def two_runs(prefect_harness, tmp_path_factory, sample_text):
    """A home of two runs (the sample, then its later snapshot), with the tables after each."""
    base = tmp_path_factory.mktemp("two_runs")
    home, inbox = base / "home", base / "inbox"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    run(home, inbox)
    first = warehouse_tables(home)
    write_dump(inbox, LATER_NAME, later_snapshot(sample_text), LATER)
    run(home, inbox)
    return base, first, warehouse_tables(home)


def without_paths(tables: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The tables without dumps.source_path, which names the inbox a copied home reads."""
    return tables | {"dumps": tables["dumps"].drop("source_path")}


@pytest.fixture
def copied(two_runs, tmp_path):
    """A copy of the two-run home (the warehouse link kept), for a test to change."""
    base, first, second = two_runs
    shutil.copytree(base / "home", tmp_path / "home", symlinks=True)
    shutil.copytree(base / "inbox", tmp_path / "inbox")
    return tmp_path / "home", tmp_path / "inbox", first, second


def test_rollback_returns_lake_and_warehouse_to_before_the_run_and_the_next_run_ingests_it_again(
        prefect_harness, tmp_path, sample_text, capsys):
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    run(home, inbox)
    after_first = warehouse_tables(home)
    write_dump(inbox, LATER_NAME, later_snapshot(sample_text), LATER)
    run(home, inbox)
    after_second = warehouse_tables(home)
    assert not same_tables(after_first, after_second)
    first, second = lake_run_ids(home)

    assert main(["--home", str(home), "rollback", second]) == 0
    assert f"rolled back run {second}" in capsys.readouterr().out
    assert same_tables(warehouse_tables(home), after_first) and same_tables(lake_tables(home), after_first)
    assert lake_run_ids(home) == warehouse_run_ids(home) == [first]
    assert recovery.target_versions(home / "lake") == lake.versions(home / "lake")   # the restores are committed
    assert DeltaTable(str(home / "lake" / "runs")).history(1)[0]["userMetadata"] == f"rollback of {second}"
    todo = plan_run(inbox, home / "lake", home / "state", 0).todo
    assert [f.path.name for f in todo] == [LATER_NAME]   # indexed, but to a dump the lake no longer holds

    assert run(home, inbox)["dumps_new"] == 1
    assert same_tables(warehouse_tables(home), after_second) and same_tables(lake_tables(home), after_second)
    assert warehouse_run_ids(home)[0] == first and len(warehouse_run_ids(home)) == 2


def test_rollback_refuses_to_undo_later_runs_unless_forced(copied, capsys):
    home, inbox, _, second_tables = copied
    first, second = lake_run_ids(home)
    before = lake.versions(home / "lake")

    assert main(["--home", str(home), "rollback", first]) == 2
    assert second in capsys.readouterr().err and lake.versions(home / "lake") == before
    assert main(["--home", str(home), "rollback", "no-such-run"]) == 2
    assert "no run 'no-such-run'" in capsys.readouterr().err

    before_any = history.restore_targets(home / "lake", history.runs_in_order(home / "lake"), first)
    assert before_any == dict.fromkeys(TABLES, 0)   # the lake began with the first run
    assert main(["--home", str(home), "rollback", first, "--force"]) == 0
    assert second in capsys.readouterr().out
    assert all(frame.is_empty() for frame in warehouse_tables(home).values())
    assert lake_run_ids(home) == warehouse_run_ids(home) == []
    assert run(home, inbox)["dumps_new"] == 2   # both dumps again, in one run
    assert same_tables(without_paths(warehouse_tables(home)), without_paths(second_tables))


def test_a_clock_set_back_between_two_runs_leaves_them_in_commit_order(prefect_harness, tmp_path, sample_text,
                                                                       monkeypatch, capsys):
    """The second run starts "before" the first: history, status and rollback still know it came after."""
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    first = run(home, inbox)["run_id"]
    real = dt.datetime

    class TwoHoursBehind(real):
        @classmethod
        def now(cls, tz=None):
            return real.now(tz) - dt.timedelta(hours=2)
    monkeypatch.setattr(pipeline, "dt", types.SimpleNamespace(datetime=TwoHoursBehind, timezone=dt.timezone))
    write_dump(inbox, LATER_NAME, later_snapshot(sample_text), LATER)
    second = run(home, inbox)["run_id"]
    monkeypatch.undo()

    assert lake_run_ids(home) == [first, second]
    assert main(["--home", str(home), "status", "--json"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)["last runs"]] == [second, first]
    assert main(["--home", str(home), "rollback", first]) == 2   # the later run is not undone unasked
    assert second in capsys.readouterr().err
    assert main(["--home", str(home), "rollback", second]) == 0
    assert lake_run_ids(home) == warehouse_run_ids(home) == [first]


def test_history_lists_the_runs_with_their_versions_and_nulls_after_a_rebuild_from_raw(copied, capsys):
    home, _, _, _ = copied
    first, second = lake_run_ids(home)
    assert main(["--home", str(home), "history", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in listed] == [first, second]   # oldest first
    assert [r["dumps_new"] for r in listed] == [1, 1] and {r["status"] for r in listed} == {"completed"}
    now = {name: v for name, v in lake.versions(home / "lake").items() if name != "runs"}
    assert listed[1]["lake_versions"] == now
    assert all(listed[0]["lake_versions"][name] <= now[name] for name in now)
    assert main(["--home", str(home), "history"]) == 0
    text = capsys.readouterr().out
    assert first in text and second in text and f"papers={now['papers']}" in text

    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 0
    capsys.readouterr()
    assert main(["--home", str(home), "history", "--json"]) == 0
    assert [r["lake_versions"] for r in json.loads(capsys.readouterr().out)] == [None, None]
    assert main(["--home", str(home), "history"]) == 0
    assert history.REBUILT in capsys.readouterr().out
    assert main(["--home", str(home), "rollback", second]) == 2
    assert "rebuilt from raw/" in capsys.readouterr().err


def test_a_rollback_that_dies_part_way_is_undone(copied, monkeypatch):
    home, _, _, second_tables = copied
    lake_dir = home / "lake"
    first, second = lake_run_ids(home)
    before = lake.versions(lake_dir)

    # Killed after restoring the data tables, before `runs` (its commit point): loads don't see
    # the restores, and the next recover undoes them.
    seq = recovery.recover(lake_dir)
    targets = history.restore_targets(lake_dir, history.runs_in_order(lake_dir), second)
    for name in TABLES:
        if name != "runs" and targets[name] != before[name]:
            lake.open_table(lake_dir, name).restore(targets[name], commit_properties=lake.tagged(seq, "test-run"))
    assert recovery.target_versions(lake_dir) == before
    recovery.recover(lake_dir)
    assert same_tables(lake_tables(home), second_tables) and lake_run_ids(home) == [first, second]

    # Failed half-way: undone at once, and reported.
    monkeypatch.setenv(FAIL_ENV, "rollback:restored:papers")
    with pytest.raises(InjectedFault):
        main(["--home", str(home), "rollback", second])
    assert same_tables(lake_tables(home), second_tables) and lake_run_ids(home) == [first, second]
    monkeypatch.delenv(FAIL_ENV)
    assert main(["--home", str(home), "rollback", second]) == 0
    assert lake_run_ids(home) == [first]


def test_maintain_compacts_and_a_rollback_and_a_run_after_it_still_load_right(copied, capsys):
    home, inbox, after_first, after_second = copied
    lake_dir = home / "lake"
    files_before = {name: len(maintenance.data_files(lake.open_table(lake_dir, name))) for name in TABLES}
    assert maintenance.maintenance_due(lake_dir, 0)
    before = lake.versions(lake_dir)

    for days in ("0", str(10**12)):
        assert main(["--home", str(home), "maintain", "--retention-days", days]) == 2
        assert "the lake's retention must be 1 to 36500 days" in capsys.readouterr().err and lake.versions(lake_dir) == before
    assert main(["--home", str(home), "maintain"]) == 0
    out = capsys.readouterr().out
    assert all(line.split(":")[0] in TABLES for line in out.splitlines()) and len(out.splitlines()) == len(TABLES)
    files_after = {name: len(maintenance.data_files(lake.open_table(lake_dir, name))) for name in TABLES}
    assert files_after["dumps"] == files_after["runs"] == 1 < files_before["dumps"]
    assert all(files_after[name] <= files_before[name] for name in TABLES)
    assert not maintenance.maintenance_due(lake_dir, 0)
    assert same_tables(lake_tables(home), after_second) and same_tables(warehouse_tables(home), after_second)
    # vacuum kept the replaced files (within the retention): the state before still reads
    assert DeltaTable(str(lake_dir / "dumps"), version=1).to_pyarrow_table().num_rows == 1

    assert main(["--home", str(home), "rollback", lake_run_ids(home)[-1]]) == 0
    assert same_tables(warehouse_tables(home), after_first) and same_tables(lake_tables(home), after_first)
    assert run(home, inbox)["dumps_new"] == 1
    publish.publish(home / "warehouse.duckdb", lake_dir)   # the other warehouse file too, incrementally
    want = without_paths(after_second)
    assert same_tables(without_paths(warehouse_tables(home)), want)
    assert same_tables(without_paths(lake_tables(home)), want)


def test_maintain_splits_outgrown_partitions_and_rollbacks_and_runs_across_the_split_load_right(
        copied, monkeypatch, capsys):
    home, inbox, after_first, after_second = copied
    lake_dir, link = home / "lake", home / "warehouse.duckdb"
    monkeypatch.setattr(maintenance, "SPLIT_ROWS", 1)
    assert maintenance.maintenance_due(lake_dir, 10**6)   # outgrown, however few its files
    assert main(["--home", str(home), "maintain"]) == 0
    out = capsys.readouterr().out
    for name in partitions.PARTITIONED:
        table = lake.open_table(lake_dir, name)
        assert f"{name}: partitions split by 3 hex digits" in out
        assert {len(p[partitions.BUCKET]) for p in table.partitions()} == {3} == {partitions.bucket_chars(table)}
        assert table.metadata().configuration[partitions.STATS_COLUMNS] == ",".join(lake.MERGE_KEYS[name])
    assert same_tables(lake_tables(home), after_second) and not maintenance.maintenance_due(lake_dir, 10**6)
    publish.publish(link, lake_dir)   # both warehouse files read the split tables whole
    publish.publish(link, lake_dir)
    assert same_tables(warehouse_tables(home), after_second)
    with duckdb.connect(str(link), read_only=True) as con:   # tables read whole keep their keys and comments
        assert {"papers", "paper_authors"} <= {t for (t,) in con.execute(
            "SELECT table_name FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY'").fetchall()}
        assert con.execute("SELECT comment FROM duckdb_tables() WHERE table_name = 'papers'").fetchone()[0]

    assert main(["--home", str(home), "rollback", lake_run_ids(home)[-1]]) == 0   # to before the split
    assert same_tables(lake_tables(home), after_first) and same_tables(warehouse_tables(home), after_first)
    assert partitions.bucket_chars(lake.open_table(lake_dir, "papers")) == 2
    maintenance.maintain(lake_dir)
    assert run(home, inbox)["dumps_new"] == 1   # merges into three-digit partitions
    assert partitions.bucket_chars(lake.open_table(lake_dir, "papers")) == 3
    want = without_paths(after_second)
    assert same_tables(without_paths(warehouse_tables(home)), want)
    assert same_tables(without_paths(lake_tables(home)), want)


def test_maintain_cleans_up_old_log_files_and_keeps_the_run_tags(copied):
    home, _, _, second_tables = copied
    lake_dir = home / "lake"
    next_seq = recovery.recover(lake_dir)
    month_ago = time.time() - 40 * 86400   # past delta.logRetentionDuration (30 days)
    for log in lake_dir.glob("*/_delta_log/*.json"):
        os.utime(log, (month_ago, month_ago))
    maintenance.maintain(lake_dir)
    for name in TABLES:   # the log files before the checkpoint are gone
        log = lake_dir / name / "_delta_log"
        kept = min(int(path.name.split(".")[0]) for path in log.glob("0*.json"))
        assert kept == json.loads((log / "_last_checkpoint").read_text())["version"]
    assert recovery.recover(lake_dir) == next_seq   # the tags live on in the checkpoints
    assert recovery.target_versions(lake_dir) == lake.versions(lake_dir)
    publish.publish(home / "warehouse.duckdb", lake_dir)   # the idle file catches up without the old log
    assert same_tables(warehouse_tables(home), second_tables)
    with pytest.raises(UserError, match=r"state before run .*The lake is as it was.* log for 30 days"):
        history.rollback(lake_dir, lake_run_ids(home)[-1])
    maintenance.maintain(lake_dir)   # the latest run's versions, which it keeps, are past the log too
    assert same_tables(lake_tables(home), second_tables)


def test_doctor_after_maintenance_whose_log_was_cleaned_finds_no_stale_warehouse(copied, capsys):
    """The commits between the version the warehouse holds and the latest are maintenance, but the log
    that said so is past its 30 days and cleaned: doctor can't tell, and says so in a note, not as a
    problem (a walk-through met this after two maintains 40 days apart with no run between)."""
    home, _, _, _ = copied
    lake_dir = home / "lake"
    dumps = lake.open_table(lake_dir, "dumps")
    dumps.optimize.compact()   # version 3, after the warehouse's 2
    dumps.alter.set_table_properties({"delta.checkpointInterval": "10"})
    dumps.create_checkpoint()   # at version 4: the log before it may go once a month old
    month_ago = time.time() - 40 * 86400
    for log in lake_dir.glob("*/_delta_log/*.json"):
        os.utime(log, (month_ago, month_ago))
    maintenance.maintain(lake_dir)
    assert not (lake_dir / "dumps" / "_delta_log" / f"{3:020d}.json").exists()
    assert main(["--home", str(home), "doctor"]) == 0
    out = capsys.readouterr().out
    assert "the lake's log no longer shows the commits after those versions" in out and "PROBLEM" not in out


def authorship(*keys: str) -> pl.DataFrame:
    return pl.DataFrame([(key, 1, "a1") for key in keys], schema=polars_schema(TABLES["paper_authors"]), orient="row")


def test_maintenance_is_due_past_a_number_of_files_beyond_one_per_partition(tmp_path):
    seq = recovery.recover(tmp_path)
    lake.upsert(tmp_path, "paper_authors", authorship("00aa", "ff01"), seq, "test-run", new_keys_only=True)
    assert not maintenance.maintenance_due(tmp_path, 0)   # one file in each of two buckets
    lake.upsert(tmp_path, "paper_authors", authorship("00bb"), seq + 1, "test-run", new_keys_only=True)
    commit(tmp_path, seq + 1, "r1")   # else maintain's recover would take the run's commits for a dead run's
    assert maintenance.maintenance_due(tmp_path, 0) and not maintenance.maintenance_due(tmp_path, 1)
    maintenance.maintain(tmp_path)
    assert not maintenance.maintenance_due(tmp_path, 0)
    assert sorted(lake.read_table(tmp_path, "paper_authors")["paper_id"]) == ["00aa", "00bb", "ff01"]


def test_a_rollback_whose_files_were_vacuumed_says_so_plainly(copied, monkeypatch):
    home, *_ = copied
    def vacuumed(*args):
        raise OSError("Object at location /x/runs/part-1.parquet not found: \x1b[1m\x1b[31mNo such file\x1b[0m")
    monkeypatch.setattr(history, "restore_targets", vacuumed)
    with pytest.raises(UserError) as raised:
        history.rollback(home / "lake", lake_run_ids(home)[-1])
    assert "part-1.parquet not found: No such file). The lake is as it was" in str(raised.value)
    assert "\x1b" not in str(raised.value)


def test_maintain_and_rollback_refuse_a_lake_that_lost_a_table_and_make_none(copied, capsys):
    home, *_ = copied
    shutil.rmtree(home / "lake" / "listings")
    for command in (["maintain"], ["rollback", lake_run_ids(home)[-1]]):
        assert main(["--home", str(home), *command]) == 2
        assert "lacks the Delta tables listings" in capsys.readouterr().err
        assert not (home / "lake" / "listings").exists()   # `doctor` and `run` still see the loss


def test_maintain_refuses_a_lake_that_lost_its_latest_runs_commit_and_keeps_the_runs_data(copied, capsys):
    home, *_ = copied
    lake_dir = home / "lake"
    (lake_dir / "runs" / "_delta_log" / f"{lake.versions(lake_dir)['runs']:020}.json").unlink()
    before = lake.versions(lake_dir)
    assert main(["--home", str(home), "maintain"]) == 2
    assert "behind the warehouse it published" in capsys.readouterr().err
    assert lake.versions(lake_dir) == before   # the lost run's data tables not restored to the run before


def test_the_latest_run_rolls_back_after_maintains_a_retention_apart_before_it(copied, monkeypatch, sample_text):
    home, inbox, _, after_second = copied
    maintenance.maintain(home / "lake")
    vacuum_as_days_later(monkeypatch)
    maintenance.maintain(home / "lake")   # the files the first one's compaction replaced are gone
    third_run(home, inbox, sample_text)
    assert main(["--home", str(home), "rollback", lake_run_ids(home)[-1]]) == 0   # to the compacted state
    assert same_tables(lake_tables(home), after_second) and same_tables(warehouse_tables(home), after_second)


def test_the_first_run_after_a_rebuild_from_raw_rolls_back(copied, sample_text, capsys):
    home, inbox, _, _ = copied
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 0
    rebuilt = lake_tables(home)
    third_run(home, inbox, sample_text)
    assert main(["--home", str(home), "rollback", lake_run_ids(home)[-1]]) == 0
    assert same_tables(lake_tables(home), rebuilt) and same_tables(warehouse_tables(home), rebuilt)


def test_the_version_before_a_run_is_found_without_the_log_that_maintain_cleaned_up(tmp_path):
    recovery.recover(tmp_path)
    for seq in range(1, 13):
        commit(tmp_path, seq, f"r{seq}")
    log = tmp_path / "runs" / "_delta_log"
    checkpointed = json.loads((log / "_last_checkpoint").read_text())["version"]   # delta.checkpointInterval
    for old in log.glob("*.json"):   # as maintain's cleanup removes them past 30 days
        if int(old.name.split(".")[0]) < checkpointed:
            old.unlink()
    assert history.last_version_before(tmp_path, "runs", 12) == 11 and history.appended_at(tmp_path, "r12") == (12, 12)


def test_maintain_vacuums_change_feed_files_past_the_retention_and_loads_go_on(copied, sample_text):
    """Change-feed files have no tombstone, so vacuum's lite mode kept them for ever; those written
    longer ago than the retention go, and a load that needed them reads its tables whole."""
    home, inbox, _, _ = copied
    changes = sorted((home / "lake").glob("*/_change_data/*.parquet"))   # the second run's update of profiles
    maintenance.maintain(home / "lake")
    assert changes and sorted((home / "lake").glob("*/_change_data/*.parquet")) == changes   # within the retention
    week_ago = time.time() - (retention.DEFAULT_DAYS + 1) * 86400
    for path in changes:
        os.utime(path, (week_ago, week_ago))
    assert [m.table for m in maintenance.maintain(home / "lake") if m.removed] == ["profiles"]
    assert not list((home / "lake").glob("*/_change_data/*.parquet"))
    third_run(home, inbox, sample_text)
    publish.publish(home / "warehouse.duckdb", home / "lake")   # the file that was a run behind
    assert same_tables(warehouse_tables(home), lake_tables(home))


def test_maintain_sets_a_shorter_retention_on_every_table_and_vacuums_by_it(copied, sample_text, capsys):
    """A home that runs often keeps a week of rewrites (docs/lake.md): `--retention-days` shortens
    it for good, in the tables' own property, which later maintains and other engines go by."""
    home, inbox, _, _ = copied
    changes = sorted((home / "lake").glob("*/_change_data/*.parquet"))
    two_days_ago = time.time() - 2 * 86400
    for path in changes:
        os.utime(path, (two_days_ago, two_days_ago))
    assert main(["--home", str(home), "maintain"]) == 0
    assert changes and sorted((home / "lake").glob("*/_change_data/*.parquet")) == changes   # within 7 days
    capsys.readouterr()
    assert main(["--home", str(home), "maintain", "--retention-days", "1"]) == 0
    out = capsys.readouterr().out
    assert "keeps replaced files 1 day from now on (it kept them 7 days)" in out and "more than 1 day ago" in out
    assert not list((home / "lake").glob("*/_change_data/*.parquet"))
    tables = lake.open_all(home / "lake")
    assert {t.metadata().configuration[retention.KEY] for t in tables.values()} == {"interval 1 days"}
    # the settings' commits change no rows: the warehouse catches up on them row by row
    assert changes_mod.whole_reads(home / "warehouse.duckdb", home / "lake", tables) == set()
    third_run(home, inbox, sample_text)
    assert same_tables(warehouse_tables(home), lake_tables(home))
    assert main(["--home", str(home), "maintain"]) == 0 and "from now on" not in capsys.readouterr().out


def test_the_latest_runs_versions_still_read_after_maintains_past_the_retention(copied, monkeypatch):
    """docs/lake.md has other engines read each table at the versions the last runs row records:
    compaction replaces those versions' files, and vacuum keeps them however old."""
    home, _, _, after_second = copied
    vacuum_as_days_later(monkeypatch)
    for _ in range(2):
        maintenance.maintain(home / "lake")
    versions = json.loads(history.runs_in_order(home / "lake")["lake_versions"][-1])
    at_run = {name: canonical(lake.read_table(home / "lake", name, version)) for name, version in versions.items()
              if name in after_second}
    assert all(lake.open_table(home / "lake", name).version() > version for name, version in versions.items()
               if name in ("dumps", "papers"))   # compacted since
    assert same_tables(at_run, after_second)


def test_maintain_and_rollback_go_on_working_after_a_rollback_and_vacuums(copied, monkeypatch, capsys):
    home, _, after_first, _ = copied
    maintenance.maintain(home / "lake")
    assert main(["--home", str(home), "rollback", lake_run_ids(home)[-1]]) == 0
    vacuum_as_days_later(monkeypatch)
    for _ in range(2):   # vacuum removed the runs files of the versions between: the log finds the run's commit
        assert main(["--home", str(home), "maintain"]) == 0, capsys.readouterr().err
    assert same_tables(lake_tables(home), after_first) and same_tables(warehouse_tables(home), after_first)
    assert main(["--home", str(home), "rollback", lake_run_ids(home)[-1]]) == 0
    assert lake_run_ids(home) == warehouse_run_ids(home) == []


def test_a_rebuild_from_raw_leaves_out_the_dumps_of_a_rolled_back_run_until_a_run_loads_them_again(copied, capsys):
    home, inbox, after_first, after_second = copied
    first, second = lake_run_ids(home)
    assert main(["--home", str(home), "rollback", second]) == 0
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 0
    assert "left out the 1 dumps of rolled-back runs" in capsys.readouterr().err
    assert lake.read_table(home / "lake", "dumps")["dump_id"].to_list() == after_first["dumps"]["dump_id"].to_list()
    assert warehouse_run_ids(home) == lake_run_ids(home) == [first]
    assert run(home, inbox)["dumps_new"] == 1   # its file is still in the inbox
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 0
    assert "rolled-back" not in capsys.readouterr().err
    assert sorted(lake.read_table(home / "lake", "dumps")["dump_id"]) == sorted(after_second["dumps"]["dump_id"])


def test_a_rollback_that_died_after_its_lake_commit_is_finished_by_running_it_again(copied, monkeypatch, capsys):
    home, _, after_first, _ = copied
    first, second = lake_run_ids(home)
    monkeypatch.setenv(FAIL_ENV, "rollback:restored:runs")   # before the warehouse is rebuilt
    with pytest.raises(InjectedFault):
        main(["--home", str(home), "rollback", second])
    monkeypatch.delenv(FAIL_ENV)
    assert lake_run_ids(home) == [first] and warehouse_run_ids(home) == [first, second]
    assert main(["--home", str(home), "rollback", second]) == 0
    assert "rolled back in the lake already" in capsys.readouterr().out
    assert warehouse_run_ids(home) == [first] and same_tables(warehouse_tables(home), after_first)


def undone_and_compacted(lake_dir, monkeypatch) -> None:
    """A run of two paper_authors files, then a dead run, undone and compacted by a `maintain`; from
    then on maintain vacuums as if the retention had passed."""
    seq = recovery.recover(lake_dir)
    lake.upsert(lake_dir, "paper_authors", authorship("00aa"), seq, "test-run", new_keys_only=True)
    lake.upsert(lake_dir, "paper_authors", authorship("00ab"), seq, "test-run", new_keys_only=True, part="second file")
    commit(lake_dir, seq, "r1")
    dead = recovery.recover(lake_dir)
    lake.upsert(lake_dir, "paper_authors", authorship("00bb"), dead, "test-run", new_keys_only=True)   # then it died
    maintenance.maintain(lake_dir)   # restores, then compacts the two files
    vacuum_as_days_later(monkeypatch)


def test_a_table_a_dead_run_was_undone_in_is_restored_once_and_reads_after_its_compaction_is_vacuumed(
        tmp_path, monkeypatch):
    undone_and_compacted(tmp_path, monkeypatch)
    maintenance.maintain(tmp_path)
    maintenance.maintain(tmp_path)
    table = lake.open_table(tmp_path, "paper_authors")
    assert [c["operation"] for c in table.history()].count("RESTORE") == 1
    target = recovery.target_versions(tmp_path)["paper_authors"]
    assert sorted(lake.read_table(tmp_path, "paper_authors", target)["paper_id"]) == ["00aa", "00ab"]


def test_a_second_dead_run_after_the_first_was_undone_and_vacuumed_is_undone_too(tmp_path, monkeypatch):
    """The first undo was compacted and the version it restored to vacuumed: the second undo goes
    back to the compacted version, which holds the same rows."""
    undone_and_compacted(tmp_path, monkeypatch)
    maintenance.maintain(tmp_path)   # the version restored to loses its files
    again = recovery.recover(tmp_path)
    lake.upsert(tmp_path, "paper_authors", authorship("00cc"), again, "test-run", new_keys_only=True)   # died too
    assert recovery.recover(tmp_path) == again + 1
    target = recovery.target_versions(tmp_path)["paper_authors"]
    assert target == lake.open_table(tmp_path, "paper_authors").version()
    assert sorted(lake.read_table(tmp_path, "paper_authors", target)["paper_id"]) == ["00aa", "00ab"]


def test_a_rollback_keeps_the_retention_maintain_set(copied, monkeypatch):
    """`maintain --retention-days N` sets the lake's retention "from then on" (docs/reference.md): a
    rollback of a run from before it restores the tables' rows, not their older retention (a restore
    brings back a version's properties too), also when it fails half-way and is undone."""
    home, inbox, _, second_tables = copied
    assert main(["--home", str(home), "maintain", "--retention-days", "30"]) == 0
    first, second = lake_run_ids(home)
    monkeypatch.setenv(FAIL_ENV, "rollback:restored:papers")
    with pytest.raises(InjectedFault):
        main(["--home", str(home), "rollback", second])
    monkeypatch.delenv(FAIL_ENV)
    assert same_tables(lake_tables(home), second_tables) and lake_run_ids(home) == [first, second]
    assert main(["--home", str(home), "rollback", second]) == 0
    kept = {name: t.metadata().configuration[retention.KEY] for name, t in lake.open_all(home / "lake").items()}
    assert set(kept.values()) == {"interval 30 days"}, kept
    assert recovery.target_versions(home / "lake") == lake.versions(home / "lake")
    assert run(home, inbox)["dumps_new"] == 1   # the rolled-back run's dump again
    assert same_tables(warehouse_tables(home), lake_tables(home))


def test_a_rebuild_that_replaces_the_lake_keeps_the_retention_maintain_set(copied, capsys):
    """A lake `rebuild --from-raw` can't rewrite in place (a table gone, a damaged log) is made anew:
    its tables keep the retention `maintain --retention-days` set "from then on", as an in-place
    rebuild's do, instead of going back to 7 days unsaid."""
    home, _, _, _ = copied
    assert main(["--home", str(home), "maintain", "--retention-days", "30"]) == 0
    shutil.rmtree(home / "lake" / "rejects")
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 0
    said = capsys.readouterr()
    assert "lake.replaced-" in said.out + said.err, said   # replaced whole, not rewritten in place
    kept = {name: t.metadata().configuration[retention.KEY] for name, t in lake.open_all(home / "lake").items()}
    assert set(kept.values()) == {"interval 30 days"}, kept


def test_a_run_far_back_is_found_in_the_runs_log_without_looking_into_later_runs_commits(tmp_path, monkeypatch):
    """Each later run's append is passed over by the run id its commit carries: finding a run N runs
    back looks into its own commit's files only, not into 2N versions of the table."""
    recovery.recover(tmp_path)
    for seq in range(1, 13):
        commit(tmp_path, seq, f"r{seq}")
    looked = []
    added = history.added_run_ids
    monkeypatch.setattr(history, "added_run_ids", lambda table, version: looked.append(version) or added(table, version))
    assert history.appended_at(tmp_path, "r2") == (2, 2) and looked == [2]
