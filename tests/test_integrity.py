"""A home whose lake is gone or damaged is refused, not started over (issue 21, case 1)."""
from __future__ import annotations

import shutil

import duckdb
import pytest

from flows.cli import main
from flows.settings import UserError
from tests.conftest import SAMPLE_NAME, write_dump
from tests.test_pipeline import FIRST, LATER, later_snapshot


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
