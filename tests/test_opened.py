"""Reusing opened lake tables within a run: the same object, brought up to date with commits made
since through any other object; fresh objects outside the block and for older versions."""
from __future__ import annotations

import polars as pl
from deltalake import DeltaTable, write_deltalake

from warehouse.opened import open_table, reusing_tables


def make_table(lake, name: str = "t") -> None:
    write_deltalake(str(lake / name), pl.DataFrame({"x": [1]}).to_arrow())


def append_elsewhere(lake, name: str = "t") -> None:
    """A commit through another object, as another stage's fresh open would make it."""
    write_deltalake(DeltaTable(str(lake / name)), pl.DataFrame({"x": [2]}).to_arrow(), mode="append")


def test_a_reused_table_is_brought_up_to_date(tmp_path):
    make_table(tmp_path)
    with reusing_tables(tmp_path):
        first = open_table(tmp_path, "t")
        append_elsewhere(tmp_path)
        again = open_table(tmp_path, "t")
        assert again is first
        assert again.version() == 1
        assert sorted(pl.scan_delta(again).collect()["x"]) == [1, 2]


def test_outside_the_block_and_for_an_older_version_tables_are_opened_afresh(tmp_path):
    make_table(tmp_path)
    with reusing_tables(tmp_path):
        latest = open_table(tmp_path, "t")
        append_elsewhere(tmp_path)
        old = open_table(tmp_path, "t", version=0)
        assert old is not latest and old.version() == 0
        with reusing_tables(tmp_path):   # nested: still the same objects
            assert open_table(tmp_path, "t") is latest
    assert open_table(tmp_path, "t") is not open_table(tmp_path, "t")
    with reusing_tables(tmp_path):
        assert open_table(tmp_path, "t") is not latest   # a new block starts afresh


def test_a_missing_table_is_none_until_it_exists(tmp_path):
    with reusing_tables(tmp_path):
        assert open_table(tmp_path, "t") is None
        make_table(tmp_path)
        assert open_table(tmp_path, "t").version() == 0


def test_walking_a_tables_versions_leaves_the_reused_one_at_its_latest(tmp_path):
    make_table(tmp_path)
    append_elsewhere(tmp_path)
    with reusing_tables(tmp_path):
        reused = open_table(tmp_path, "t")
        walked = open_table(tmp_path, "t", own=True)   # as warehouse/history.py walks versions
        walked.load_as_version(0)
        assert walked is not reused
        assert walked.version() == 0 and reused.version() == 1
