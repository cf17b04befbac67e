"""SQL data tests: pass on real runs, catch each broken rule, and stop a bad warehouse from publishing."""
from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import polars as pl
import pytest

from flows import runs
from flows.cli import main
from schemas.tables import REGISTRY
from tests.test_marts import home  # noqa: F401  (the session's two-profile home, tests/conftest.py)
from warehouse import checks, lake, recovery
from warehouse.checks import DataCheckFailed, check_names, run_checks, tables_read
from warehouse.publish import publish

BREAKAGES = {
    "entries_add_up": "UPDATE dumps SET entries_loaded = entries_loaded - 1 WHERE status = 'loaded'",
    "loaded_entries_are_listed": "DELETE FROM listings WHERE rank = 3",
    "rejected_entries_have_rows": "UPDATE dumps SET entries_found = entries_found + 1, "
                                  "entries_rejected = entries_rejected + 1",
    "listings_reference_papers": "DELETE FROM papers WHERE paper_id IN (SELECT paper_id FROM listings WHERE rank = 1)",
    "paper_authors_reference_both": "DELETE FROM authors WHERE name = 'Weiran Huang'",
    "papers_are_listed": "UPDATE papers SET last_seen_at = last_seen_at + INTERVAL 1 DAY",
    "profiles_count_their_snapshots": "UPDATE profiles SET snapshots = snapshots + 1",
    "runs_are_finished": "UPDATE runs SET finished_at = NULL",
    "snapshots_belong_to_readable_dumps": "UPDATE dumps SET status = 'quarantined'",
    "quarantined_dumps_have_a_reason": "UPDATE dumps SET status = 'quarantined', reason = NULL",
}


def test_checks_pass_on_real_runs(home):  # noqa: F811
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert run_checks(con) == {}


def test_every_check_has_a_breakage_test():
    assert sorted(BREAKAGES) == check_names()


@pytest.mark.parametrize("check", sorted(BREAKAGES))
def test_check_catches_its_rule_broken(check, home, tmp_path):  # noqa: F811
    copy = tmp_path / "w.duckdb"
    shutil.copyfile(home / "warehouse.duckdb", copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(BREAKAGES[check])
        assert check in run_checks(con)


def test_a_gap_in_a_papers_author_positions_is_caught(home, tmp_path):  # noqa: F811
    copy = tmp_path / "w.duckdb"
    shutil.copyfile(home / "warehouse.duckdb", copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("DELETE FROM paper_authors WHERE position = 1 AND paper_id IN "
                    "(SELECT paper_id FROM paper_authors WHERE position = 2)")
        assert "paper_authors_reference_both" in run_checks(con)


def test_a_failing_check_stops_publishing(home, tmp_path):  # noqa: F811
    """A publish checks the rows it adds: a listing of an unknown paper in the lake is not published."""
    work = tmp_path / "home"
    shutil.copytree(home, work)
    listings = lake.read_table(work / "lake", "listings")
    bogus = listings.head(1).with_columns(paper_id=pl.lit("0" * 16), rank=pl.lit(999, pl.Int64))
    seq = recovery.recover(work / "lake")
    lake.append(work / "lake", "listings", bogus, seq, "test-run")
    lake.commit_run(work / "lake", runs.run_row("bogus-run", dt.datetime.now(dt.timezone.utc), "completed", 0,
                                                  pl.DataFrame(schema={"status": pl.String})), seq)
    before = (work / "warehouse.duckdb").read_bytes()
    with pytest.raises(DataCheckFailed, match="listings_reference_papers"):
        publish(work / "warehouse.duckdb", work / "lake")
    assert (work / "warehouse.duckdb").read_bytes() == before


def test_a_publish_checks_only_what_it_changed_and_a_full_run_checks_everything(home, tmp_path):  # noqa: F811
    """Rows loaded earlier were checked then: a small run's publish walks its own rows only."""
    copy = tmp_path / "w.duckdb"
    shutil.copyfile(home / "warehouse.duckdb", copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("DELETE FROM listings WHERE rank = 3")
        con.execute("CREATE TEMP TABLE _scope_dump_id AS SELECT NULL::VARCHAR AS dump_id WHERE false")
        con.execute("CREATE TEMP TABLE _scope_paper_id AS SELECT NULL::VARCHAR AS paper_id WHERE false")
        assert run_checks(con, scoped=True) == {}
        con.execute("INSERT INTO _scope_dump_id SELECT dump_id FROM dumps")
        assert "loaded_entries_are_listed" in run_checks(con, scoped=True)
        assert "loaded_entries_are_listed" in run_checks(con)


def test_a_scoped_publish_runs_only_the_checks_that_read_a_changed_table(home, tmp_path):  # noqa: F811
    copy = tmp_path / "w.duckdb"
    shutil.copyfile(home / "warehouse.duckdb", copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(BREAKAGES["runs_are_finished"])
        assert "runs_are_finished" in run_checks(con, changed={"runs"})
        assert run_checks(con, changed={"papers", "listings"}) == {}
    assert tables_read("paper_authors_reference_both") == {"paper_authors", "papers", "authors"}


def test_a_check_that_reads_a_view_or_no_known_table_runs_on_every_publish(monkeypatch):
    monkeypatch.setattr(checks, "check_sql", lambda name: {
        "via_view": "SELECT * FROM staging.stg_snapshots JOIN dumps USING (dump_id)",
        "no_table": "SELECT 1 WHERE false"}[name])
    assert checks.tables_read("via_view") is None and checks.tables_read("no_table") is None


def test_every_table_has_a_checked_view(home):  # noqa: F811
    """docs/architecture.md tells a new data test to read `checked_<table>`: it exists for every table."""
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        checks.create_checked_views(con, scoped=False)
        counts = {name: con.execute(f"SELECT count(*) FROM checked_{name}").fetchone()[0] for name in REGISTRY}
        assert counts == {name: con.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in REGISTRY}


def test_a_data_test_that_cant_run_names_its_file_not_a_damaged_warehouse(home, tmp_path, monkeypatch, capsys):  # noqa: F811
    folder = tmp_path / "checks"
    shutil.copytree(checks.CHECKS, folder)
    (folder / "typo.sql").write_text("-- a rule with a typo\nSELECT * FROM checked_papers WHERE no_such_column")
    monkeypatch.setattr(checks, "CHECKS", folder)
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        with pytest.raises(checks.DataCheckBroken, match=r"data test typo can't run, .*checks/typo.sql: Binder Error"):
            run_checks(con)
    assert main(["--home", str(home), "check"]) == 2
    err = capsys.readouterr().err
    assert "warehouse/sql/checks/typo.sql" in err and "damaged" not in err
    work = tmp_path / "home"
    shutil.copytree(home, work)
    assert main(["--home", str(work), "rebuild"]) == 2
    err = capsys.readouterr().err
    assert "typo.sql" in err and "fix the file, then rebuild again" in err and "--from-raw" not in err


def test_a_warehouse_without_a_column_a_data_test_reads_is_not_the_tests_mistake(home, tmp_path, capsys):  # noqa: F811
    work = tmp_path / "home"
    shutil.copytree(home, work)
    with duckdb.connect(str(work / "warehouse.duckdb")) as con:
        con.execute("ALTER TABLE dumps DROP COLUMN entries_loaded")
    assert main(["--home", str(work), "check"]) == 2
    err = capsys.readouterr().err
    assert "can't read the warehouse" in err and "mistake" not in err


def test_a_failing_data_test_says_its_rule_and_rows_by_column(home, tmp_path):  # noqa: F811
    copy = tmp_path / "w.duckdb"
    shutil.copyfile(home / "warehouse.duckdb", copy)
    with duckdb.connect(str(copy)) as con:
        con.execute(BREAKAGES["runs_are_finished"])
        with pytest.raises(DataCheckFailed) as failed:
            checks.assert_checks_pass(con)
    assert f"runs_are_finished ({checks.check_description('runs_are_finished').rstrip('.')}): run_id=" in str(failed.value)
    assert "finished_at=None" in str(failed.value) and "datetime.datetime(" not in str(failed.value)
