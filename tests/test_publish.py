"""Publishing the warehouse: two files behind the `warehouse.duckdb` link, loaded in place, and
never from another lineage of the lake."""
from __future__ import annotations

import json
import re

import duckdb
import pytest

from flows.cli import main
from schemas.tables import TABLES
from store.faults import FAIL_ENV, InjectedFault
from tests.conftest import SAMPLE_NAME, write_dump
from tests.dumps import FIRST, LATER, later_snapshot
from tests.test_lake import commit
from tests.warehouse_state import lake_tables, run_statuses, warehouse_tables
from warehouse import files, lake, lake_files, load, publish, recovery


@pytest.fixture
def home_with_two_files(run_ingest, tmp_path, sample_text):
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    write_dump(inbox, "001_7707062aadfcc580.txt", later_snapshot(sample_text), LATER)
    run_ingest(home, inbox)
    run_ingest(home, inbox)
    assert all(path.exists() for path in files.pair(home / "warehouse.duckdb"))
    return home, inbox


@pytest.mark.parametrize("damaged", ["current", "idle", "both"])
def test_a_damaged_warehouse_file_is_never_copied_and_the_next_runs_make_it_whole(
        home_with_two_files, run_ingest, sample_text, damaged):
    """A warehouse file cut to nothing (a full disk, a careless `>`): the run loads the file that still
    opens, or a new one from the lake, publishes, and the run after it replaces the damaged one."""
    home, inbox = home_with_two_files
    link = home / "warehouse.duckdb"
    runs_before = len(run_statuses(home))
    for path in {"current": [files.current(link)], "idle": [files.idle(link)], "both": files.pair(link)}[damaged]:
        path.write_bytes(b"")
    write_dump(inbox, "002_otherprofile.txt", sample_text.replace("h-index28", "h-index3"), LATER)
    assert run_ingest(home, inbox)["dumps_loaded"] == 1
    assert run_ingest(home, inbox)["dumps_new"] == 0
    assert all(files.opens(path) for path in files.pair(link))
    lake_now, after = lake_tables(home), warehouse_tables(home)
    assert all(after[name].equals(lake_now[name]) for name in after) and after["dumps"].height == 3
    assert run_statuses(home) == ["completed"] * (runs_before + 2)


def drop_a_dump_from_raw(home) -> None:
    """The rebuilt lake then lacks that dump's snapshot, and papers only it listed (keys leave)."""
    later = lake.read_table(home / "lake", "dumps").sort("captured_at")["dump_id"][-1]
    for path in (home / "raw").rglob(f"{later}*"):
        path.unlink()


def test_runs_after_a_rebuild_from_raw_hold_the_rebuilt_lake_only(home_with_two_files, run_ingest):
    home, _ = home_with_two_files
    drop_a_dump_from_raw(home)
    assert main(["--home", str(home), "rebuild", "--from-raw", "--drop-damaged"]) == 0
    assert lake.read_table(home / "lake", "dumps").height == 1
    empty = home / "empty-inbox"
    empty.mkdir()
    run_ingest(home, empty)   # loads the file the rebuild didn't write
    got, want = warehouse_tables(home), lake_tables(home)
    assert all(got[t].equals(want[t]) for t in want), [t for t in want if not got[t].equals(want[t])]


def test_a_rebuild_from_raw_interrupted_before_publishing_is_not_mixed_with_the_old_lake(
        home_with_two_files, run_ingest, monkeypatch):
    home, _ = home_with_two_files
    drop_a_dump_from_raw(home)
    monkeypatch.setenv(FAIL_ENV, "load:copied")
    with pytest.raises(InjectedFault):
        main(["--home", str(home), "rebuild", "--from-raw", "--drop-damaged"])
    monkeypatch.delenv(FAIL_ENV)
    empty = home / "empty-inbox"
    empty.mkdir()
    run_ingest(home, empty)   # loads the idle file, written from the lake before the rebuild
    got, want = warehouse_tables(home), lake_tables(home)
    assert all(got[t].equals(want[t]) for t in want), [t for t in want if not got[t].equals(want[t])]


def test_a_link_whose_files_are_gone_is_loaded_again_from_the_lake(home_with_two_files, run_ingest):
    """A home copied without its hidden files keeps a dangling link: the next run starts over."""
    home, inbox = home_with_two_files
    for path in files.pair(home / "warehouse.duckdb"):
        files.remove(path)
    assert files.current(home / "warehouse.duckdb") is None
    run_ingest(home, inbox)
    got, want = warehouse_tables(home), lake_tables(home)
    assert all(got[t].equals(want[t]) for t in want)


def test_an_idle_file_far_behind_is_replaced_by_a_copy_else_loaded_in_place(home_with_two_files, run_ingest,
                                                                           monkeypatch):
    home, inbox = home_with_two_files
    link = home / "warehouse.duckdb"
    for cost, copied in [(10**9, True), (0, False)]:
        monkeypatch.setattr(publish, "CATCH_UP_BYTE_COST", cost)
        idle = files.idle(link)
        inode = idle.stat().st_ino
        run_ingest(home, inbox)
        assert files.current(link) == idle and (idle.stat().st_ino != inode) == copied, cost
        got, want = warehouse_tables(home), lake_tables(home)
        assert all(got[t].equals(want[t]) for t in want)


def spy(fn, calls: list):
    def called(*args, **kwargs):
        calls.append(args)
        return fn(*args, **kwargs)
    return called


def test_a_publish_that_copies_reads_each_table_once_and_copies_once(home_with_two_files, run_ingest, monkeypatch):
    """The copy is chosen before any change is read, and a missing idle file is copied once, not judged again."""
    home, inbox = home_with_two_files
    monkeypatch.setattr(publish, "CATCH_UP_BYTE_COST", 10**9)
    read, copied = [], []
    monkeypatch.setattr(load, "table_change", spy(load.table_change, read))
    monkeypatch.setattr(files, "copy_current", spy(files.copy_current, copied))
    for lose_the_idle_file in (False, True):
        if lose_the_idle_file:
            files.remove(files.idle(home / "warehouse.duckdb"))
        read.clear(), copied.clear()
        run_ingest(home, inbox)
        assert (len(read), len(copied)) == (len(TABLES), 1), lose_the_idle_file
        got, want = warehouse_tables(home), lake_tables(home)
        assert all(got[t].equals(want[t]) for t in want)


def primary_keys(path) -> dict[str, list[str]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return dict(con.execute("SELECT table_name, constraint_column_names FROM duckdb_constraints() "
                                "WHERE constraint_type = 'PRIMARY KEY'").fetchall())


def test_a_new_warehouse_gets_its_keys_with_its_first_rows_even_after_a_failed_first_load(
        home_with_two_files, monkeypatch, tmp_path):
    """Keys are added after a new table's first rows; a first load that fails leaves key-less empty
    tables, which the next load into the same file fills and keys."""
    home, _ = home_with_two_files
    target = tmp_path / "fresh.duckdb"
    monkeypatch.setenv(FAIL_ENV, "load:before-commit")
    with pytest.raises(InjectedFault):
        load.load(target, home / "lake")
    monkeypatch.delenv(FAIL_ENV)
    assert "papers" not in primary_keys(target)
    load.load(target, home / "lake")
    assert primary_keys(target) == primary_keys(home / "warehouse.duckdb")
    assert primary_keys(target)["paper_authors"] == ["paper_id", "position"] and len(primary_keys(target)) == 9
    with duckdb.connect(str(target), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM papers").fetchone()[0] == lake.read_table(home / "lake", "papers").height


def test_a_file_written_with_bigger_row_groups_takes_keyed_upserts(tmp_path):
    """Warehouse files written before loads used smaller row groups have groups of up to 122,880
    rows; a DuckDB before the fix of duckdb#22109 failed fatally inserting into such a keyed table."""
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:   # DuckDB's default row group size
        con.execute("CREATE TABLE t (k BIGINT PRIMARY KEY, v VARCHAR)")
        con.execute("INSERT INTO t SELECT range, 'old' FROM range(50000)")
    with load.connect(path) as con:
        con.execute("BEGIN TRANSACTION")
        con.execute("DELETE FROM t WHERE k % 1000 = 0")
        con.execute("INSERT INTO t SELECT range * 1000, 'new' FROM range(50)")
        con.execute("INSERT INTO t SELECT range, 'new' FROM range(50000, 50100)")
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT k), count(*) FILTER (v = 'new') FROM t").fetchone() \
            == (50100, 50100, 150)


def test_a_warehouse_file_of_the_old_layout_moves_its_bookkeeping_and_staging_views(run_ingest, tmp_path,
                                                                                    sample_text):
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    run_ingest(home, inbox)
    run_ingest(home, inbox)
    for path in files.pair(home / "warehouse.duckdb"):   # as a release before the internal schema left them
        with duckdb.connect(str(path)) as con:
            con.execute("CREATE TABLE main._lake_versions AS SELECT * FROM internal.lake_versions")
            con.execute("DROP TABLE internal.lake_versions")
            con.execute("CREATE VIEW main.stg_snapshots AS SELECT * FROM staging.stg_snapshots")
    write_dump(inbox, "001_7707062aadfcc580.txt", later_snapshot(sample_text), LATER)
    run_ingest(home, inbox)
    got, want = warehouse_tables(home), lake_tables(home)
    assert all(got[t].equals(want[t]) for t in want), [t for t in want if not got[t].equals(want[t])]
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        left = con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND table_name LIKE '\\_%' "
                           "ESCAPE '\\' UNION ALL SELECT view_name FROM duckdb_views() WHERE schema_name = 'main' "
                           "AND view_name LIKE 'stg\\_%' ESCAPE '\\'").fetchall()
        assert left == [] and con.execute("SELECT count(*) FROM internal.lake_versions").fetchone()[0] == 9


def test_an_analysts_marts_are_created_listed_and_a_broken_one_stops_the_publish(run_ingest, tmp_path,
                                                                                 sample_text, capsys):
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    (home / "marts").mkdir(parents=True)
    mart = home / "marts" / "badge_share.sql"
    mart.write_text("-- Share of papers with the Code badge.\n-- @share: papers with the badge / all papers\n"
                    "SELECT avg(has_code_badge::INT) AS share FROM papers;\n")
    run_ingest(home, inbox)
    assert main(["--home", str(home), "sql", "SELECT round(share, 2) AS s FROM badge_share", "--format", "csv"]) == 0
    assert capsys.readouterr().out == "s\n0.36\n"
    assert main(["--home", str(home), "tables"]) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("badge_share ")]
    assert line.split(None, 3) == ["badge_share", "mart", "1", "Share of papers with the Code badge."]
    mart.write_text("SELECT no_such_column FROM papers")
    write_dump(inbox, "001_7707062aadfcc580.txt", later_snapshot(sample_text), LATER)
    capsys.readouterr()
    assert main(["--home", str(home), "run", "--inbox", str(inbox), "--settle-seconds", "0", "--json"]) == 1
    failed = json.loads(capsys.readouterr().out)   # a script reading --json gets an object, not nothing
    assert (failed["status"], failed["exit_code"]) == ("failed", 1)
    runs = lake.read_table(home / "lake", "runs")   # its row, marked failed (the warehouse is as it was)
    assert runs.filter(runs["run_id"] == failed["run_id"])["status"].to_list() == ["failed"]
    assert lake.open_table(home / "lake", "runs").history(1)[0]["userMetadata"] == failed["run_id"]   # marked by it
    assert re.search(r"badge_share\.sql: Binder Error: .*no_such_column", failed["error"])
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:   # the last warehouse stays
        assert con.execute("SELECT count(*) FROM dumps").fetchone()[0] == 1
    capsys.readouterr()
    assert main(["--home", str(home), "rebuild"]) == 2   # a message, no traceback
    assert "badge_share.sql: Binder Error" in (err := capsys.readouterr().err) and "fix or remove your mart" in err
    mart.write_text("SELECT 1 AS share;\nDELETE FROM dumps;\n")   # a stray statement: none of it runs
    assert main(["--home", str(home), "rebuild"]) == 2
    assert "badge_share.sql: a mart is one query" in capsys.readouterr().err
    mart.unlink()
    run_ingest(home, inbox)   # publishes the committed run, without the mart
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM dumps").fetchone()[0] == 2
        assert con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'badge_share'").fetchone()[0] == 0


def test_run_json_names_no_run_id_when_the_failed_row_could_not_be_written(run_ingest, tmp_path, sample_text,
                                                                          capsys, monkeypatch):
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    run_ingest(home, inbox)
    (home / "marts").mkdir()
    (home / "marts" / "broken.sql").write_text("SELECT no_such_column FROM papers")
    write_dump(inbox, "001_7707062aadfcc580.txt", later_snapshot(sample_text), LATER)

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(lake, "mark_failed", full_disk)
    capsys.readouterr()
    assert main(["--home", str(home), "run", "--inbox", str(inbox), "--settle-seconds", "0", "--json"]) == 1
    failed = json.loads(capsys.readouterr().out)
    assert failed["status"] == "failed" and failed["run_id"] is None and "broken.sql" in failed["error"]


def test_run_json_names_the_failed_row_of_a_run_that_stopped_on_a_damaged_lake(run_ingest, tmp_path, sample_text,
                                                                              capsys):
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    run_ingest(home, inbox)
    for data in (home / "lake" / "papers").rglob("*.parquet"):
        data.write_bytes(b"not parquet")
    write_dump(inbox, "001_7707062aadfcc580.txt", later_snapshot(sample_text), LATER)
    capsys.readouterr()
    assert main(["--home", str(home), "run", "--inbox", str(inbox), "--settle-seconds", "0", "--json"]) == 2
    printed = json.loads(capsys.readouterr().out)
    assert "damaged" in printed["error"] and printed["run_id"] is not None
    runs = lake.read_table(home / "lake", "runs")
    assert runs.filter(runs["run_id"] == printed["run_id"])["status"].to_list() == ["failed"]


def test_a_marts_column_comment_written_otherwise_is_refused_not_folded_into_its_description(tmp_path):
    from warehouse.views import MartError, user_marts
    (tmp_path / "share.sql").write_text("-- Share of papers.\n-- @share: the share\nSELECT 1 AS share\n")
    [view] = user_marts(tmp_path, set())
    assert (view.description, view.columns) == ("Share of papers.", {"share": "the share"})
    (tmp_path / "share.sql").write_text("-- Share of papers.\n-- @column share: the share\nSELECT 1 AS share\n")
    with pytest.raises(MartError, match="'-- @column share: the share' names no column"):
        user_marts(tmp_path, set())


@pytest.mark.parametrize("text, kinds", [("SELECT 1 AS a;\nUPDATE profiles SET citations = 0;\n", "2 statements (SELECT, UPDATE)"),
                                         ("SELECT 1 AS a;\nSELECT 2 AS b", "2 statements (SELECT, SELECT)"),
                                         ("DROP TABLE profiles", "1 statements (DROP)")])
def test_a_mart_file_of_other_statements_than_one_query_is_refused_before_any_runs(tmp_path, text, kinds):
    """A stray statement in a mart's file would run on the warehouse at each publish (and stay done)."""
    from warehouse.views import MartError, one_query, user_marts
    (tmp_path / "stray.sql").write_text(f"-- x\n-- @a: one\n{text}")
    con = duckdb.connect()
    con.execute("CREATE TABLE profiles AS SELECT 5 AS citations")
    [view] = user_marts(tmp_path, set())
    with pytest.raises(MartError, match=f"stray.sql: a mart is one query .* holds {re.escape(kinds)}: nothing of it"):
        one_query(con, view, tmp_path)
    assert con.execute("SELECT citations FROM profiles").fetchall() == [(5,)]


def test_a_mart_saved_with_a_byte_order_mark_and_crlf_keeps_its_comments(tmp_path):
    from warehouse.views import user_marts
    (tmp_path / "share.sql").write_bytes("\ufeff-- Share of papers.\r\n-- @share: the share\r\nSELECT 1 AS share\r\n".encode())
    [view] = user_marts(tmp_path, set())
    assert (view.description, view.columns) == ("Share of papers.", {"share": "the share"})


def test_an_analysts_marts_may_read_each_other_whatever_their_names(tmp_path):
    """DuckDB checks a view's query when it is created: a mart is created after the marts it reads."""
    from warehouse.views import MartError, in_creation_order, user_marts
    (tmp_path / "a_top.sql").write_text("-- Doubled.\nSELECT n * 2 AS n FROM Z_Base JOIN read_csv('gone.csv') USING (n)\n")
    (tmp_path / "m_mid.sql").write_text("WITH a_top AS (SELECT 5 AS n) SELECT a_top.n FROM main.z_base, a_top\n")
    (tmp_path / "z_base.sql").write_text("SELECT 1 AS n\n")
    con = duckdb.connect()
    (tmp_path / "gone.csv").write_text("n\n1\n")
    for view in in_creation_order(con, user_marts(tmp_path, set())):   # read_csv reads only when queried
        con.execute(view.sql.replace("gone.csv", str(tmp_path / "gone.csv")))
    assert con.execute("SELECT a_top.n, m_mid.n FROM a_top, m_mid").fetchall() == [(2, 5)]
    (tmp_path / "z_base.sql").write_text("SELECT n FROM a_top\n")
    with pytest.raises(MartError, match="read each other in a circle"):
        in_creation_order(duckdb.connect(), user_marts(tmp_path, set()))


def test_a_mart_that_fails_only_when_queried_is_named_and_the_rest_still_read(run_ingest, tmp_path, sample_text,
                                                                              capsys):
    """Creating a mart checks its query binds; one that fails on the data (a cast) is found by readers,
    which name it and read the rest. A mart may take an SQL keyword for its name."""
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    (home / "marts").mkdir(parents=True)
    (home / "marts" / "numkeys.sql").write_text("-- Numeric keys.\nSELECT * FROM profiles WHERE CAST(profile_key AS INTEGER) > 0\n")
    (home / "marts" / "order.sql").write_text("-- Profiles by key.\n-- @profile_key: the key\nSELECT profile_key FROM profiles\n")
    run_ingest(home, inbox)
    assert main(["--home", str(home), "tables"]) == 0
    lines = {line.split(None, 1)[0]: line for line in capsys.readouterr().out.splitlines()}
    assert lines["numkeys"].split(None, 3)[1:3] == ["mart", "error"] and "Conversion Error" in lines["numkeys"]
    assert lines["order"].split(None, 3) == ["order", "mart", "1", "Profiles by key."]
    assert main(["--home", str(home), "describe", "profiles"]) == 0 and "profile_key" in capsys.readouterr().out
    assert main(["--home", str(home), "export", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "1 marts fail when queried" in err and "numkeys: Conversion Error" in err
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "order.parquet" in written and "profiles.parquet" in written and "numkeys.parquet" not in written
    assert not [name for name in written if name.endswith(".tmp")]


def test_listing_relations_reports_a_damaged_file_rather_than_a_mart_that_fails(tmp_path):
    """Only a query's own errors (a cast a value fails) make a relation's count `error`: a corrupt
    block must reach the reader as damage, whose repair is `rebuild`."""
    from warehouse import catalog
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE big AS SELECT range AS x, md5(range::VARCHAR) AS y FROM range(2000000)")
        con.execute("CREATE VIEW casts AS SELECT x FROM big WHERE CAST(y AS INTEGER) > 0")
        con.execute("CREATE VIEW reads_all AS SELECT x FROM big WHERE y LIKE '%zz%'")
        con.execute("CHECKPOINT")
    with duckdb.connect(str(path), read_only=True) as con:
        assert [count for _, _, count, _ in catalog.relations(con)][:2] == [2000000, None]
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        for offset in range(size // 3, size - 300_000, 262_144):
            handle.seek(offset)
            handle.write(b"\xff" * 64)
    with duckdb.connect(str(path), read_only=True) as con, pytest.raises(duckdb.Error, match="Corrupt database file"):
        catalog.relations(con)


def test_a_warehouse_file_another_process_writes_is_a_database_and_an_empty_one_is_not(tmp_path):
    """A BI tool holding the current file for writing must not make a publish take it for damage (and
    load the whole lake instead of copying it)."""
    import subprocess
    import sys
    path = tmp_path / "w.duckdb"
    duckdb.connect(str(path)).execute("CREATE TABLE t AS SELECT 1 AS n").close()
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb, sys; c = duckdb.connect({str(path)!r}); "
                               "print('held', flush=True); sys.stdin.read()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert files.opens(path)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    (tmp_path / "empty.duckdb").write_bytes(b"")
    assert not files.opens(tmp_path / "empty.duckdb") and not files.opens(None)


def test_a_load_after_a_dangling_link_never_writes_the_file_the_link_names(home_with_two_files, monkeypatch):
    """A home copied without its hidden files keeps a link naming a missing file: the load must go to
    the other file of the pair, else readers open the file being loaded through the link (DuckDB's
    writer lock fails them) and a load that fails or is killed leaves its empty tables published."""
    home, _ = home_with_two_files
    link = home / "warehouse.duckdb"
    for path in files.pair(link):
        files.remove(path)
    named = files.pair(link)[0]   # the link may name either file: the first is the one idle() picked
    link.unlink()
    link.symlink_to(named.name)
    monkeypatch.setenv(FAIL_ENV, "load:before-commit")
    with pytest.raises(InjectedFault):
        publish.publish(link, home / "lake")
    assert files.current(link) is None   # still no warehouse: readers are told so, not shown empty tables
    monkeypatch.delenv(FAIL_ENV)
    publish.publish(link, home / "lake")
    got, want = warehouse_tables(home), lake_tables(home)
    assert all(got[t].equals(want[t]) for t in want)


def test_an_idle_file_one_run_behind_a_long_history_is_caught_up_not_copied(tmp_path, monkeypatch):
    """The runs table grows with every run: an idle file that lacks a run's row weighs that row, not the
    whole table, else every publish of a home with a long history copies the warehouse file."""
    lake_dir, link = tmp_path / "lake", tmp_path / "warehouse.duckdb"
    recovery.recover(lake_dir)
    for seq in range(1, 31):   # runs that found nothing new: a runs row each, in a file of its own
        commit(lake_dir, seq, f"r{seq}")
    publish.publish(link, lake_dir)
    publish.publish(link, lake_dir)   # both files hold the 30 runs
    commit(lake_dir, 31, "r31")
    tables = lake.open_all(lake_dir)
    # the whole runs table would weigh twice the current file; the one row the idle file lacks, a fifteenth
    monkeypatch.setattr(publish, "CATCH_UP_BYTE_COST",
                        2 * files.current(link).stat().st_size / lake_files.stored_size(tables["runs"])[0])
    with load.open_for_load(files.idle(link), lake_dir) as con:
        assert not publish.copy_is_cheaper(link, lake_dir, tables, con, set())
