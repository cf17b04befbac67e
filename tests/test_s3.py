"""Inbox and lake on object storage. A local S3 server (moto's server mode, on loopback) stands in for
S3; s3fs and delta-rs reach it through the standard AWS_* variables (delta-rs's own object store
writes the lake's Delta tables), and DuckDB reads the lake's files through the registered fsspec
filesystem (its httpfs extension can't be downloaded here, and isn't)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import duckdb
import polars as pl
import pytest
from deltalake import DeltaTable

from flows.cli import main
from flows.pipeline import ingest
from schemas.tables import TABLES
from store import storage
from store.faults import CRASH_ENV
from store.scratch import WORK
from tests.conftest import SAMPLE_NAME
from tests.dumps import later_snapshot
from tests.s3_server import bucket, fill_inbox, mirror, put, s3_env  # noqa: F401  (fixtures)
from tests.test_crash import api_env
from tests.warehouse_state import DATA_TABLES, canonical, same_tables, warehouse_tables
from warehouse import lake, lake_health, load, partitions

pytestmark = pytest.mark.e2e   # moto's S3 server

BIN = Path(sys.executable).parent


def run(home: Path, inbox, lake_dir=None) -> dict:
    return ingest(home=home, inbox=inbox, lake=None if lake_dir is None else str(lake_dir), settle_seconds=0)


def with_relative_sources(tables: dict, prefix: str) -> dict:
    """source_path names the inbox (a URL or a folder); the rest of it must be the same."""
    dumps = tables["dumps"].with_columns(tables["dumps"]["source_path"].str.strip_prefix(prefix))
    return tables | {"dumps": canonical(dumps)}


def lake_state(lake_dir: storage.Location) -> dict:
    return {t: canonical(lake.read_table(lake_dir, t)) for t in DATA_TABLES}


def assert_delta_lake(lake_dir: storage.Url) -> dict[str, pl.DataFrame]:
    """The lake holds one Delta table per warehouse table and nothing else (no run's _work/ scratch,
    no manifest), and no table holds a run that didn't reach its commit point. Returns the data
    tables as deltalake itself reads them (as any Delta reader would, with the options the
    environment gives), not through the lake module's reading code."""
    fs = storage.filesystem(lake_dir)
    assert sorted(storage.Url(fs.unstrip_protocol(p)).name for p in fs.ls(lake_dir, detail=False)) == sorted(TABLES)
    tables = {name: DeltaTable(lake_dir / name, storage_options=storage.object_store_options(lake_dir)) for name in TABLES}
    committed = lake.run_of(tables["runs"])
    assert committed and all(lake.run_of(table) <= committed for table in tables.values())
    return {name: canonical(pl.from_arrow(tables[name].to_pyarrow_table()).drop(partitions.BUCKET, strict=False))
            for name in DATA_TABLES}


def assert_same(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for name in got:
        assert got[name].equals(want[name]), name


def test_s3_inbox_and_lake_give_the_warehouse_of_a_local_run(prefect_harness, bucket, tmp_path, sample_text, s3_env):
    inbox, lake_dir = bucket / "inbox", bucket / "lake"
    fill_inbox(inbox, sample_text)
    local_inbox = mirror(inbox, tmp_path / "inbox")
    s3_home, local_home = tmp_path / "s3-home", tmp_path / "local-home"

    summary = run(s3_home, inbox, lake_dir)
    local = run(local_home, local_inbox)
    keys = ("dumps_seen", "dumps_new", "dumps_loaded", "dumps_partial", "dumps_quarantined", "waiting", "ignored",
            "files_read")
    assert {k: summary[k] for k in keys} == {k: local[k] for k in keys}
    assert (summary["dumps_new"], summary["dumps_quarantined"], summary["waiting"]) == (6, 1, 2)
    want = with_relative_sources(warehouse_tables(local_home), f"{local_inbox}/")
    assert_same(with_relative_sources(warehouse_tables(s3_home), f"{inbox}/"), want)
    assert_same(with_relative_sources(lake_state(lake_dir), f"{inbox}/"), want)
    assert not (s3_home / "lake").exists() and (s3_home / "raw").is_dir()   # state stays local, the lake doesn't

    assert_same(with_relative_sources(assert_delta_lake(lake_dir), f"{inbox}/"), want)
    stored = {url for url, _, _ in storage.list_files(lake_dir)}
    for name in TABLES:   # written by delta-rs: its log names files in the bucket (s3:// URLs), and it has a change feed
        table = lake.open_table(lake_dir, name)
        assert table.metadata().configuration["delta.enableChangeDataFeed"] == "true"
        assert set(table.file_uris()) <= stored and (table.file_uris() or name not in DATA_TABLES)

    again = run(s3_home, inbox, lake_dir)        # nothing new: files recognised by key, size and LastModified
    assert (again["dumps_new"], again["files_read"]) == (0, 0)
    assert_same(with_relative_sources(warehouse_tables(s3_home), f"{inbox}/"), want)

    later = sample_text.replace("h-index28", "h-index29").replace("1,945citations", "2,001citations")
    put(inbox / "later" / "001_7707062aadfcc580.txt", later)
    result = subprocess.run([str(BIN / "profile-etl"), "--home", str(s3_home), "run", "--inbox", inbox,
                             "--lake", lake_dir, "--settle-seconds", "0", "--json"],
                            env=cli_env(tmp_path, s3_env), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    latest = json.loads(result.stdout)
    assert (latest["dumps_new"], latest["dumps_loaded"], latest["files_read"]) == (1, 1, 1)
    with duckdb.connect(str(s3_home / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT citations FROM profiles WHERE profile_key = '7707062aadfcc580'").fetchone() == (2001,)
        assert con.execute("SELECT count(*) FROM runs").fetchone() == (3,)


def cli_env(tmp_path: Path, s3_env: dict) -> dict:
    """A `profile-etl` process of its own (its own Prefect home), told where S3 is by AWS_* only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PROFILE_ETL_", "AWS_"))}
    return env | s3_env | {"PREFECT_HOME": str(tmp_path / "prefect")}


def test_duckdb_reads_the_s3_lake_through_the_registered_filesystem(prefect_harness, bucket, tmp_path,
                                                                    sample_text, capsys):
    inbox, lake_dir, home = bucket / "inbox", bucket / "lake", tmp_path / "home"
    put(inbox / SAMPLE_NAME, sample_text)
    run(home, inbox, lake_dir)
    loaded = warehouse_tables(home)
    (home / "warehouse.duckdb").unlink()
    assert main(["--home", str(home), "rebuild", "--lake", lake_dir]) == 0     # the warehouse from the lake alone
    assert_same(warehouse_tables(home), loaded)
    versions = lake.versions(lake_dir)
    assert main(["--home", str(home), "rebuild", "--from-raw", "--lake", lake_dir]) == 0   # the lake from raw/
    assert_same(warehouse_tables(home), loaded)
    assert_same(assert_delta_lake(lake_dir), loaded)
    # on object storage each table is rewritten in place: overwritten (a mutable one emptied, then merged into)
    after = lake.versions(lake_dir)
    assert all(any(commit["operationParameters"].get("mode") == "Overwrite"
                   for commit in lake.open_table(lake_dir, t).history(limit=after[t] - versions[t])) for t in TABLES)
    assert main(["--home", str(home), "sql", "SELECT count(*) AS n FROM papers", "--format", "csv"]) == 0
    assert capsys.readouterr().out.endswith("n\n50\n")

    files = lake.open_table(lake_dir, "papers").file_uris()    # what a full load reads
    assert files and all(f.startswith(f"{lake_dir}/papers/{partitions.BUCKET}=") for f in files)
    with load.connect(tmp_path / "probe.duckdb", lake=lake_dir) as con:
        assert con.execute("SELECT count(*) FROM read_parquet(?)", [files]).fetchone() == (50,)
        httpfs = con.execute("SELECT loaded, installed FROM duckdb_extensions() WHERE extension_name = 'httpfs'")
        assert httpfs.fetchall() == [(False, False)]
        with pytest.raises(duckdb.Error, match="httpfs"):   # a protocol nobody registered: no download attempt
            con.execute("SELECT * FROM read_parquet('gcs://elsewhere/x.parquet')").fetchall()

    # the same lake named s3a:// (as Spark names it): delta-rs names its files s3a://, and s3fs serves both
    alias = storage.Url("s3a://" + lake_dir.removeprefix("s3://"))
    aliased = lake.open_table(alias, "papers").file_uris()
    assert sorted(aliased) == sorted("s3a://" + f.removeprefix("s3://") for f in files)
    with load.connect(tmp_path / "probe-s3a.duckdb", lake=alias) as con:
        assert con.execute("SELECT count(*) FROM read_parquet(?)", [aliased]).fetchone() == (50,)
    assert lake_health.lake_problems(alias) == [] == lake_health.lake_problems(lake_dir)   # a whole lake either way


def test_fixed_sidecar_in_the_bucket_loads_on_reprocess(prefect_harness, bucket, tmp_path, sample_text):
    inbox, lake_dir, home = bucket / "inbox", bucket / "lake", tmp_path / "home"
    put(inbox / SAMPLE_NAME, sample_text)
    put(inbox / "000_7707062aadfcc580.meta.json", '{"profile_key": "fixed"')
    assert run(home, inbox, lake_dir)["dumps_quarantined"] == 1
    put(inbox / "000_7707062aadfcc580.meta.json", '{"profile_key": "fixed"}')
    summary = ingest(home=home, inbox=inbox, lake=lake_dir, settle_seconds=0, reprocess=True)
    assert (summary["reprocessed"], summary["dumps_loaded"]) == (1, 1)     # read again from the bucket
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT profile_key, status, source_path FROM dumps").fetchall() == [
            ("fixed", "loaded", f"{inbox}/{SAMPLE_NAME}")]


def copy_lake(source: storage.Url, target: storage.Url) -> None:
    for url, _, _ in storage.list_files(source):
        put(target / url.removeprefix(source + "/"), storage.read_bytes(url))


@pytest.fixture(scope="module")
def crash_homes(s3_env, tmp_path_factory, sample_text, prefect_harness):
    """One S3 inbox; a home and lake holding its first dump (before the crashed run), and a home and
    lake after an uninterrupted second run that adds a later snapshot (expected)."""
    base, root = tmp_path_factory.mktemp("s3-crash"), storage.Url(f"s3://crash-{uuid.uuid4().hex[:12]}")
    storage.filesystem(root).mkdir(root)
    put(root / "inbox" / SAMPLE_NAME, sample_text)
    run(base / "before", root / "inbox", root / "before")
    put(root / "inbox" / "001_7707062aadfcc580.txt", later_snapshot(sample_text))
    shutil.copytree(base / "before", base / "expected")
    copy_lake(root / "before", root / "expected")
    run(base / "expected", root / "inbox", root / "expected")
    return base, root


@pytest.mark.parametrize("points", [["lake:committed:listings"], ["lake:committed:papers"], ["lake:committed:runs"],
                                    ["lake:committed:papers", "lake:restored:listings"]], ids="+".join)
def test_run_killed_while_committing_to_s3_then_rerun_equals_uninterrupted_run(points, crash_homes, tmp_path, s3_env):
    """Killed between two of its table commits (or, the last case, again while the next run restores
    the tables the dead run committed to), then run again: the lake and warehouse are those of an
    uninterrupted run, and the lake holds no scratch."""
    base, root = crash_homes
    home, lake_dir = tmp_path / "home", root / f"lake-{uuid.uuid4().hex[:8]}"
    shutil.copytree(base / "before", home)
    copy_lake(root / "before", lake_dir)
    for point in points:
        killed = subprocess.run([str(BIN / "profile-etl"), "--home", str(home), "run", "--inbox", root / "inbox",
                                 "--lake", lake_dir, "--settle-seconds", "0"],
                                env=api_env() | s3_env | {CRASH_ENV: point}, capture_output=True, text=True,
                                timeout=300)
        assert killed.returncode == -9, f"the run was not killed at {point}: {killed.stderr}"
    assert lake_leftovers(lake_dir)   # the dead run left scratch, or commits past the last runs row
    run(home, root / "inbox", lake_dir)
    assert_same(warehouse_tables(home), warehouse_tables(base / "expected"))
    assert_same(lake_state(lake_dir), lake_state(root / "expected"))
    assert_same(assert_delta_lake(lake_dir), assert_delta_lake(root / "expected"))
    assert lake_leftovers(lake_dir) == []


def lake_leftovers(lake_dir: storage.Url) -> list[str]:
    """A run's scratch under _work/, and tables holding a run that never reached its commit point."""
    scratch = [url for url, _, _ in storage.list_files(lake_dir / WORK)]
    committed = lake.run_of(lake.open_table(lake_dir, "runs"))
    return scratch + [t for t in TABLES if lake.run_of(lake.open_table(lake_dir, t)) > committed]


def test_an_s3_lake_in_the_format_before_delta_tables_is_refused(prefect_harness, bucket, tmp_path, sample_text,
                                                                 capsys):
    inbox, lake_dir, home = bucket / "inbox", bucket / "lake", tmp_path / "home"
    put(inbox / SAMPLE_NAME, sample_text)
    put(lake_dir / lake.OLD_MANIFEST, json.dumps({"tables": {}}))
    assert main(["--home", str(home), "run", "--inbox", inbox, "--lake", lake_dir, "--settle-seconds", "0"]) == 2
    assert "rebuild --from-raw" in capsys.readouterr().err
    assert [url.name for url, _, _ in storage.list_files(lake_dir)] == [lake.OLD_MANIFEST]   # nothing written


def test_a_damaged_s3_lake_is_named_before_a_run_and_by_doctor(prefect_harness, bucket, tmp_path, sample_text,
                                                                capsys):
    """A commit that isn't one hides its rows (the next run would load the dump again, and every publish
    after fail on the duplicate); a data file gone would fail every load: both are named, with the repair."""
    inbox, lake_dir, home = bucket / "inbox", bucket / "lake", tmp_path / "home"
    put(inbox / SAMPLE_NAME, sample_text)
    run(home, inbox, lake_dir)
    [listing_file] = [url for url, _, _ in storage.list_files(lake_dir / "listings") if url.endswith(".parquet")]
    storage.filesystem(listing_file).rm_file(listing_file)
    assert main(["--home", str(home), "doctor", "--lake", lake_dir]) == 1
    assert f"lake table listings: listings/{listing_file.name} is in its log but missing" in capsys.readouterr().out
    put(lake_dir / "dumps/_delta_log/00000000000000000001.json", "{}")
    assert main(["--home", str(home), "run", "--inbox", inbox, "--lake", lake_dir, "--settle-seconds", "0"]) == 2
    err = capsys.readouterr().err
    assert "lake table dumps: its log (_delta_log/00000000000000000001.json) isn't a Delta commit" in err
    assert f"`profile-etl --home {home} rebuild --from-raw --lake {lake_dir}`" in err   # without it: the home's own lake/


def test_doctor_repairs_raw_copies_and_the_file_index_from_an_s3_inbox(prefect_harness, bucket, tmp_path, sample_text, capsys):
    inbox, home = bucket / "inbox", tmp_path / "home"
    put(inbox / SAMPLE_NAME, sample_text)
    run(home, inbox)
    [copy] = (home / "raw").glob("*/*.txt")
    copy.unlink()
    (home / "state" / "files.parquet").write_bytes(b"PAR1 cut short")
    assert main(["--home", str(home), "doctor", "--repair"]) == 0
    out = capsys.readouterr().out
    assert f"repaired: copied {copy.stem[:16]} again from {inbox / SAMPLE_NAME}" in out, out
    assert copy.read_bytes() == sample_text.encode() and "made the file index again" in out
    assert run(home, inbox)["files_read"] == 0   # the object is known by its listing's size and time


def test_credentials_from_an_aws_profile_reach_the_lake_too(prefect_harness, bucket, tmp_path, sample_text,
                                                             monkeypatch):
    """AWS_PROFILE (keys in ~/.aws/credentials) worked for s3fs's inbox but not for delta-rs, which
    then asked the instance metadata service and called the new lake damaged."""
    import s3fs
    (tmp_path / "credentials").write_text("[team]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_PROFILE", "team")
    s3fs.S3FileSystem.clear_instance_cache()
    put(bucket / "inbox" / SAMPLE_NAME, sample_text)
    assert run(tmp_path / "home", bucket / "inbox", bucket / "lake")["dumps_loaded"] == 1
    assert DeltaTable(lake.table_uri(bucket / "lake", "dumps"),
                      storage_options=storage.object_store_options(bucket / "lake")).to_pyarrow_table().num_rows == 1
    s3fs.S3FileSystem.clear_instance_cache()


def test_a_lake_delta_rs_cant_reach_is_not_called_damaged(prefect_harness, bucket, tmp_path, sample_text, capsys,
                                                          monkeypatch):
    """AWS_ALLOW_HTTP=false against an http:// endpoint: s3fs reads the objects, delta-rs refuses. That
    was "the lake is damaged", with a rebuild from raw/ (which fails the same way) as its repair."""
    inbox, lake_dir, home = bucket / "inbox", bucket / "lake", tmp_path / "home"
    put(inbox / SAMPLE_NAME, sample_text)
    run(home, inbox, lake_dir)
    monkeypatch.setenv("AWS_ALLOW_HTTP", "false")
    assert main(["--home", str(home), "run", "--inbox", inbox, "--lake", lake_dir, "--settle-seconds", "0"]) == 2
    err = capsys.readouterr().err
    assert f"delta-rs can't reach the lake at {lake_dir}" in err and "damaged" not in err, err
    assert main(["--home", str(home), "doctor", "--lake", lake_dir]) == 2
    assert "delta-rs can't reach the lake" in capsys.readouterr().err


def test_maintain_prunes_old_log_checkpoints_on_s3_and_later_versions_still_load(bucket, monkeypatch):
    """warehouse/log_checkpoints.py on an object store: checkpoints listed by fsspec, removed by it, and
    the versions after the newest one past the retention still load in delta-rs."""
    import time

    from tests.test_lake import commit
    from warehouse import log_checkpoints, recovery
    lake_dir = bucket / "lake"
    recovery.recover(lake_dir)
    for seq in range(1, 26):   # runs checkpoints at versions 9 and 19
        commit(lake_dir, seq, f"r{seq}")
    log = lake_dir / "runs" / "_delta_log"
    assert [v for v, _, _ in log_checkpoints.checkpoint_files(log)] == [9, 19]
    later = time.time() + 8 * 86400   # both written longer ago than the 7 days' retention
    monkeypatch.setattr(log_checkpoints.time, "time", lambda: later)
    table = lake.open_table(lake_dir, "runs")
    assert log_checkpoints.prune_checkpoints(lake_dir, "runs", table, keep=[]) == 1
    assert [v for v, _, _ in log_checkpoints.checkpoint_files(log)] == [19]
    options = storage.object_store_options(lake_dir)
    assert [DeltaTable(str(lake_dir / "runs"), version=v, storage_options=options).version()
            for v in range(19, 26)] == list(range(19, 26))


def test_a_killed_runs_commits_another_engines_vacuum_made_unrestorable_are_repaired_as_named(
        prefect_harness, bucket, tmp_path, sample_text, capsys):
    """On object storage the rebuild writes in place: it refused as the run did, so the repair that every
    refusal and doctor named (`rebuild --from-raw`, `doctor --repair`) never worked. (docs/lake.md)"""
    inbox, lake_dir, home = bucket / "inbox", bucket / "lake", tmp_path / "home"
    put(inbox / SAMPLE_NAME, sample_text)
    run(home, inbox, lake_dir)
    before = warehouse_tables(home)
    killed = lake.run_of(lake.open_table(lake_dir, "runs")) + 1
    for name in ("papers", "dumps"):   # a run killed after these commits (overwrites: their files replaced)
        lake.overwrite(lake_dir, name, lake.read_table(lake_dir, name).head(1), killed, "killed-run")
    for name in TABLES:
        lake.open_table(lake_dir, name).vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    assert main(["--home", str(home), "doctor", "--lake", lake_dir]) == 1
    found = capsys.readouterr().out
    assert "papers (version 1: part-" in found and f"rebuild --from-raw --lake {lake_dir}`" in found, found
    assert main(["--home", str(home), "doctor", "--repair", "--lake", lake_dir]) == 0, capsys.readouterr()
    assert "NOT REPAIRED" not in capsys.readouterr().out
    assert same_tables(warehouse_tables(home), before)
    put(inbox / f"001_{SAMPLE_NAME[4:]}", later_snapshot(sample_text))
    assert run(home, inbox, lake_dir)["dumps_loaded"] == 1
