"""The lake as Delta tables: any Delta reader sees the warehouse; a run's commits are tagged with it,
a retried commit writes nothing twice, and a run that died between commits is rolled back."""
from __future__ import annotations

import datetime as dt
import json
import shutil

import duckdb
import polars as pl
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from flows.cli import main
from flows.pipeline import ingest
from schemas.tables import REGISTRY, TABLES, polars_schema
from store.errors import UserError
from tests import dumps
from tests.conftest import SAMPLE_NAME, write_dump
from tests.dumps import FIRST, LATER, later_snapshot
from warehouse import history, lake, maintenance, partitions, recovery


def warehouse_table(home, name: str) -> pl.DataFrame:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.sql(f"SELECT * FROM {name}").pl()


def canonical(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(frame.columns, nulls_last=True)


def readers_disagree(home) -> list[str]:
    """Tables that polars.scan_delta or deltalake's Arrow reader read otherwise than the warehouse
    holds them (on the warehouse's columns: the lake adds a partition column to some tables)."""
    wrong = []
    for name in TABLES:
        want = canonical(warehouse_table(home, name))
        uri = str(home / "lake" / name)
        by_polars = pl.scan_delta(uri).select(want.columns).collect()
        by_arrow = pl.from_arrow(DeltaTable(uri).to_pyarrow_table(columns=want.columns))
        wrong += [f"{reader}:{name}" for reader, got in (("polars", by_polars), ("arrow", by_arrow))
                  if not canonical(got).equals(want)]
    return wrong


def commits_by(home) -> dict[str, set[str]]:
    """Each table's commits' `userMetadata` (what made them), as any Delta reader's history shows it."""
    return {name: {c["userMetadata"] for c in DeltaTable(str(home / "lake" / name)).history() if "userMetadata" in c}
            for name in TABLES}


def with_code_link(text: str) -> str:
    """The later snapshot, in which one more existing paper's abstract names its code."""
    header, blocks = dumps.split(later_snapshot(text))
    plain = next(b for b in blocks[2:] if len(b) > 5 and "http" not in b[-1])
    plain[-1] += " Code: https://github.com/example/linked."
    return dumps.join(header, blocks)


def test_delta_readers_see_the_warehouse_after_every_kind_of_run(prefect_harness, tmp_path, sample_text,
                                                                  monkeypatch):
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    write_dump(inbox, "000_aaaabbbbccccdddd.txt", sample_text.replace("h-index28", "h-index2"), FIRST)
    (inbox / "000_aaaabbbbccccdddd.meta.json").write_text("{broken")
    first = ingest(home=home, inbox=inbox, settle_seconds=0)["run_id"]
    assert readers_disagree(home) == []
    assert commits_by(home) == dict.fromkeys(TABLES, {first})   # SPEC §8: a run's commits carry its id

    write_dump(inbox, "001_7707062aadfcc580.txt", with_code_link(sample_text), LATER)
    second = ingest(home=home, inbox=inbox, settle_seconds=0)["run_id"]
    assert {name for name, by in commits_by(home).items() if second in by} >= {"dumps", "papers", "runs"}
    papers = warehouse_table(home, "papers")
    assert "https://github.com/example/linked" in papers["code_url"].to_list()   # a link added
    assert papers.filter(pl.col("title").str.starts_with("A Brand New Paper"))["has_code_badge"].to_list() == [True]
    assert readers_disagree(home) == []

    (inbox / "000_aaaabbbbccccdddd.meta.json").write_text('{"profile_key": "fixed"}')
    assert ingest(home=home, inbox=inbox, settle_seconds=0, reprocess=True)["reprocessed"] == 1
    assert "fixed" in warehouse_table(home, "profiles")["profile_key"].to_list()
    assert readers_disagree(home) == []
    before = {name: canonical(warehouse_table(home, name).drop("lake_versions", strict=False)) for name in TABLES}

    assert main(["--home", str(home), "rebuild"]) == 0
    assert [n for n in TABLES if not canonical(warehouse_table(home, n).drop("lake_versions", strict=False)).equals(before[n])] == []
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 0
    assert readers_disagree(home) == []
    assert all("rebuild --from-raw" in by for by in commits_by(home).values())
    after = {name: canonical(warehouse_table(home, name).drop("lake_versions", strict=False)) for name in TABLES}
    assert [name for name in TABLES if not after[name].equals(before[name])] == []
    monkeypatch.setenv("PROFILE_ETL_BATCH_SIZE", "1")   # a batch per copy: merged across batches, as a run's
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 0
    after = {name: canonical(warehouse_table(home, name).drop("lake_versions", strict=False)) for name in TABLES}
    assert [name for name in TABLES if not after[name].equals(before[name])] == []


def read_as_docs_say(home, name: str) -> pl.DataFrame:
    """docs/lake.md's recipe for another engine: each table at the versions the last runs row records."""
    runs = pl.read_delta(str(home / "lake" / "runs"))
    if name == "runs":
        return runs
    recorded = [json.loads(v) for v in runs["lake_versions"].drop_nulls()]
    versions = max(recorded, key=lambda v: sum(v.values()), default=None)
    return pl.read_delta(str(home / "lake" / name), version=versions[name])


def test_a_reader_at_the_versions_of_the_last_runs_row_sees_the_warehouse_while_a_dead_run_is_in_the_lake(
        prefect_harness, tmp_path, sample_text):
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    ingest(home=home, inbox=inbox, settle_seconds=0)
    dead = recovery.recover(home / "lake")   # a run killed after its first commits, before its runs row
    lake.append(home / "lake", "listings", lake.read_table(home / "lake", "listings").head(3), dead, "test-run")
    nobody = lake.read_table(home / "lake", "authors").head(1).with_columns(author_id=pl.lit("ffffffffffffffff"))
    lake.upsert(home / "lake", "authors", nobody, dead, "test-run", new_keys_only=True)
    latest = [name for name in TABLES if pl.read_delta(str(home / "lake" / name)).height
              != warehouse_table(home, name).height]
    assert sorted(latest) == ["authors", "listings"]
    wrong = [name for name in TABLES if not canonical(read_as_docs_say(home, name).select(
        warehouse_table(home, name).columns)).equals(canonical(warehouse_table(home, name)))]
    assert wrong == []


def test_the_tables_carry_the_models_descriptions_and_not_null_for_any_delta_reader(tmp_path):
    lake.ensure_tables(tmp_path)
    for name, table in REGISTRY.items():
        delta, columns = DeltaTable(str(tmp_path / name)), table.model.to_schema().columns
        assert (delta.metadata().name, delta.metadata().description) == (name, table.description)
        fields = {field.name: field for field in delta.schema().fields}
        assert {c: (f.metadata["comment"], f.nullable) for c, f in fields.items() if c in columns} == {
            c: (spec.description, spec.nullable) for c, spec in columns.items()}
        assert fields.keys() - columns.keys() == ({partitions.BUCKET} if table.bucket_of else set())
    with pytest.raises(Exception, match="failed validation"):   # delta-rs refuses a null where the model does
        lake.append(tmp_path, "runs", lake.read_table(tmp_path, "runs").vstack(
            pl.DataFrame([{"run_id": None}], schema=polars_schema(TABLES["runs"]))), 1, "test-run")


def test_a_home_whose_path_has_spaces_accents_and_a_percent_sign_works(prefect_harness, tmp_path, sample_text, capsys):
    """delta-rs names a local table's files by URI (a space as %20): the warehouse load and doctor
    read them by their paths."""
    home, inbox = tmp_path / "my home é 100%", tmp_path / "in box"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    assert ingest(home=home, inbox=inbox, settle_seconds=0)["dumps_loaded"] == 1
    write_dump(inbox, "001_7707062aadfcc580.txt", later_snapshot(sample_text), LATER)   # merges read the lake
    assert ingest(home=home, inbox=inbox, settle_seconds=0)["dumps_loaded"] == 1
    for name in TABLES:   # by deltalake: polars' scan_delta can't read such a folder (pola-rs/polars#20944)
        want = canonical(warehouse_table(home, name))
        assert canonical(pl.from_arrow(DeltaTable(str(home / "lake" / name)).to_pyarrow_table(
            columns=want.columns))).equals(want), name
    assert main(["--home", str(home), "doctor"]) == 0, capsys.readouterr().out


def test_a_lake_folder_with_a_percent_escape_is_refused(tmp_path, capsys):
    """deltalake reads `%41` in a local path as `A`: its tables would be written to another folder."""
    assert main(["--home", str(tmp_path / "at%41"), "status"]) == 2
    assert "holds %41, which deltalake reads as an escaped character" in capsys.readouterr().err


def authorship(*rows: tuple[str, int, str]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=polars_schema(TABLES["paper_authors"]), orient="row")


def test_the_last_runs_row_is_the_last_committed_even_with_an_earlier_start():
    """A host clock set back between two runs gives the later one the earlier start: the order is
    the lake versions' (they only grow), rows a rebuild from raw/ emptied first."""
    at = [dt.datetime(2026, 6, 1, h, tzinfo=dt.timezone.utc) for h in (9, 12, 10)]
    runs = pl.DataFrame({"run_id": ["rebuilt", "first", "second"], "started_at": at,
                         "lake_versions": [None, '{"dumps": 1, "runs": 0}', '{"dumps": 2, "runs": 0}']})
    assert history.in_commit_order(runs)["run_id"].to_list() == ["rebuilt", "first", "second"]
    assert history.recorded_versions(runs) == {"dumps": 2, "runs": 0}
    assert history.recorded_versions(runs, before_run="second") == {"dumps": 1, "runs": 0}


def test_a_commit_already_tagged_with_the_run_is_skipped(tmp_path):
    seq = recovery.recover(tmp_path)
    row = authorship(("00aa", 1, "a1"))
    listed = pl.DataFrame([{"dump_id": "d1", "rank": 1, "profile_key": "k", "paper_id": "00aa",
                            "captured_at": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)}]
                          ).cast(dict(polars_schema(TABLES["listings"])))
    lake.append(tmp_path, "listings", listed, seq, "test-run")
    lake.append(tmp_path, "listings", listed, seq, "test-run")   # a retried task
    assert lake.read_table(tmp_path, "listings").height == 1
    lake.upsert(tmp_path, "paper_authors", row, seq, "test-run", new_keys_only=True)
    lake.upsert(tmp_path, "paper_authors", row, seq, "test-run", new_keys_only=True)   # a retried task
    assert lake.read_table(tmp_path, "paper_authors").rows() == [("00aa", 1, "a1")]
    assert lake.open_table(tmp_path, "paper_authors").transaction_version(lake.APP_ID) == seq


def test_a_merge_replaces_changed_rows_and_deletes_positions_a_paper_lost(tmp_path):
    seq = recovery.recover(tmp_path)
    lake.upsert(tmp_path, "paper_authors", authorship(("00aa", 1, "a1"), ("00aa", 2, "a2"), ("ff01", 1, "b1")), seq, "test-run",
                new_keys_only=True)
    lake.upsert(tmp_path, "paper_authors", authorship(("00aa", 1, "a9")), seq + 1, "test-run", gone=authorship(("00aa", 2, "a2")))
    assert sorted(lake.read_table(tmp_path, "paper_authors").rows()) == [("00aa", 1, "a9"), ("ff01", 1, "b1")]
    cdf = pl.from_arrow(pa.table(lake.open_table(tmp_path, "paper_authors").load_cdf(starting_version=2)))
    assert sorted(cdf["_change_type"].to_list()) == ["delete", "update_postimage", "update_preimage"]


def commit(lake_dir, seq: int, run_id: str) -> None:
    started = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=seq)
    row = {"run_id": run_id, "started_at": started, "finished_at": started, "status": "completed",
           "dumps_seen": 0, "dumps_new": 0, "dumps_loaded": 0, "dumps_partial": 0, "dumps_quarantined": 0}
    lake.commit_run(lake_dir, row, seq)


def test_outgrown_partitions_split_by_one_more_hex_digit_and_merges_find_their_rows_there(tmp_path, monkeypatch):
    seq = recovery.recover(tmp_path)
    lake.upsert(tmp_path, "paper_authors", authorship(("00aa", 1, "a1"), ("00ab", 1, "b1"), ("ff01", 1, "c1")), seq, "test-run",
                new_keys_only=True)
    commit(tmp_path, seq, "r1")
    assert partitions.bucket_chars(lake.open_table(tmp_path, "paper_authors")) == 2
    assert not maintenance.maintenance_due(tmp_path, 10**6)
    monkeypatch.setattr(maintenance, "SPLIT_ROWS", 1)   # bucket 00 holds two rows
    assert maintenance.maintenance_due(tmp_path, 10**6)
    split_group = maintenance.split_group

    def dies_at_f(lake_dir, name, digit, chars):
        if digit == "f":
            raise OSError("disk full")
        split_group(lake_dir, name, digit, chars)
    monkeypatch.setattr(maintenance, "split_group", dies_at_f)
    with pytest.raises(OSError):
        maintenance.maintain(tmp_path)
    table = lake.open_table(tmp_path, "paper_authors")
    assert sorted(p[partitions.BUCKET] for p in table.partitions()) == ["00a", "ff"]   # a split part way
    # merges and reads find keys in either kind of partition, new rows go to the finer one
    lake.upsert(tmp_path, "paper_authors", authorship(("00ab", 1, "b2"), ("ff02", 1, "d1")), seq + 1, "test-run")
    commit(tmp_path, seq + 1, "r2")
    assert sorted(p[partitions.BUCKET] for p in lake.open_table(tmp_path, "paper_authors").partitions()) == ["00a", "ff", "ff0"]
    want = [("00aa", 1, "a1"), ("00ab", 1, "b2"), ("ff01", 1, "c1"), ("ff02", 1, "d1")]
    assert sorted(lake.read_table(tmp_path, "paper_authors").rows()) == want
    assert lake.read_keys(tmp_path, "paper_authors", pl.Series(["ff01", "00ab"])).sort("paper_id").rows() == want[1:3]
    monkeypatch.setattr(maintenance, "split_group", split_group)
    assert maintenance.maintenance_due(tmp_path, 10**6)   # the split is finished
    assert [(m.table, m.split) for m in maintenance.maintain(tmp_path) if m.split] == [("paper_authors", 3)]
    table = lake.open_table(tmp_path, "paper_authors")
    assert sorted(p[partitions.BUCKET] for p in table.partitions()) == ["00a", "ff0"]
    assert not maintenance.maintenance_due(tmp_path, 10**6)   # no further than MAX_BUCKET_CHARS
    assert sorted(lake.read_table(tmp_path, "paper_authors").rows()) == want


def test_a_table_a_dead_run_was_undone_in_is_split_only_after_the_next_run(tmp_path, monkeypatch):
    seq = recovery.recover(tmp_path)
    lake.upsert(tmp_path, "paper_authors", authorship(("00aa", 1, "a1"), ("00ab", 1, "b1")), seq, "test-run", new_keys_only=True)
    commit(tmp_path, seq, "r1")
    dead = recovery.recover(tmp_path)
    lake.upsert(tmp_path, "paper_authors", authorship(("00bb", 1, "c1")), dead, "test-run", new_keys_only=True)
    monkeypatch.setattr(maintenance, "SPLIT_ROWS", 1)
    assert not [m for m in maintenance.maintain(tmp_path) if m.split]   # its restore must stay its last commit
    assert recovery.recover(tmp_path) == dead + 1 and lake.read_table(tmp_path, "paper_authors").height == 2
    lake.upsert(tmp_path, "paper_authors", authorship(("00bb", 1, "c1")), dead + 1, "test-run")
    commit(tmp_path, dead + 1, "r2")
    assert [(m.table, m.split) for m in maintenance.maintain(tmp_path) if m.split] == [("paper_authors", 3)]
    assert sorted(lake.read_table(tmp_path, "paper_authors")["paper_id"]) == ["00aa", "00ab", "00bb"]


def test_a_run_that_died_between_its_commits_is_not_loaded_and_is_rolled_back(tmp_path):
    seq = recovery.recover(tmp_path)
    lake.upsert(tmp_path, "paper_authors", authorship(("00aa", 1, "a1")), seq, "test-run", new_keys_only=True)
    commit(tmp_path, seq, "r1")
    assert json.loads(lake.read_table(tmp_path, "runs")["lake_versions"][0])["paper_authors"] == 1
    dead = recovery.recover(tmp_path)
    lake.upsert(tmp_path, "paper_authors", authorship(("00bb", 1, "b1")), dead, "test-run", new_keys_only=True)
    assert recovery.target_versions(tmp_path)["paper_authors"] == 1   # a load doesn't see the dead run
    assert recovery.recover(tmp_path) == dead + 1
    assert lake.read_table(tmp_path, "paper_authors").rows() == [("00aa", 1, "a1")]
    assert DeltaTable(str(tmp_path / "paper_authors")).history(1)[0]["userMetadata"] == f"undo of unfinished run {dead}"
    assert recovery.recover(tmp_path) == dead + 1   # nothing more to restore


def test_a_lake_in_the_manifest_format_is_refused_with_the_way_out(tmp_path):
    (tmp_path / lake.OLD_MANIFEST).write_text(json.dumps({"version": 3, "tables": {}}))
    with pytest.raises(UserError, match="rebuild --from-raw"):
        recovery.recover(tmp_path)


def to_manifest_format(lake_dir) -> None:
    """The lake as profile-etl wrote it before Delta tables: Parquet files named by `_manifest.json`
    (only dumps and runs matter to a rebuild from raw/)."""
    dumps_rows, runs_rows = lake.read_table(lake_dir, "dumps"), lake.read_table(lake_dir, "runs")
    shutil.rmtree(lake_dir)
    for name, frame in (("dumps", dumps_rows), ("runs", runs_rows.drop("lake_versions"))):
        (lake_dir / name).mkdir(parents=True)
        frame.write_parquet(lake_dir / name / "old.parquet")
    (lake_dir / lake.OLD_MANIFEST).write_text(json.dumps(
        {"version": 7, "run_id": "old", "tables": {"dumps": ["dumps/old.parquet"], "runs": ["runs/old.parquet"]}}))


def test_a_home_with_the_old_lake_is_refused_until_rebuilt_from_raw(prefect_harness, tmp_path, sample_text, capsys):
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    ingest(home=home, inbox=inbox, settle_seconds=0)
    before = {name: canonical(warehouse_table(home, name)) for name in TABLES if name != "runs"}
    to_manifest_format(home / "lake")
    assert main(["--home", str(home), "run", "--inbox", str(inbox), "--settle-seconds", "0"]) == 2
    assert "rebuild --from-raw" in capsys.readouterr().err
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 0
    assert [name for name in before if not canonical(warehouse_table(home, name)).equals(before[name])] == []
    assert readers_disagree(home) == []
