"""The lake's commit rules, on tiny frames in tmp_path."""
from __future__ import annotations

import json

import polars as pl
import pytest

from flows.settings import UserError
from schemas.tables import TABLES, empty_frame
from warehouse import lake


def test_a_bucketed_table_is_written_per_bucket_and_a_staged_file_replaces_only_what_it_names(tmp_path):
    frame = empty_frame(TABLES["papers"]).vstack(
        pl.DataFrame({c: [None] * 3 for c in TABLES["papers"].to_schema().columns}).with_columns(
            paper_id=pl.Series(["0aaa", "0bbb", "f111"])).cast(empty_frame(TABLES["papers"]).schema))
    first = lake.commit(tmp_path, "r1", {"papers": frame})
    assert first["tables"]["papers"] == ["papers/b0-r1.parquet", "papers/bf-r1.parquet"]
    staged = lake.write_table_file(tmp_path, "papers/bf-r2.parquet", "papers", frame.filter(pl.col("paper_id") == "f111"))
    second = lake.commit(tmp_path, "r2", {}, staged={"papers": [staged]}, replaced={"papers": ["papers/bf-r1.parquet"]})
    assert second["tables"]["papers"] == ["papers/b0-r1.parquet", "papers/bf-r2.parquet"]
    assert not (tmp_path / "papers/bf-r1.parquet").exists()
    assert sorted(lake.read_table(tmp_path, "papers")["paper_id"]) == ["0aaa", "0bbb", "f111"]


def papers(*rows: tuple[str, str]) -> pl.DataFrame:
    """Papers rows (paper_id, title), the other columns null."""
    frame = pl.DataFrame({c: [None] * len(rows) for c in TABLES["papers"].to_schema().columns})
    return frame.with_columns(paper_id=pl.Series([r[0] for r in rows]), title=pl.Series([r[1] for r in rows])).cast(
        empty_frame(TABLES["papers"]).schema)


def test_a_key_takes_its_rows_from_the_last_file_of_its_bucket_that_holds_it(tmp_path):
    lake.commit(tmp_path, "r1", {"papers": papers(("0aaa", "old a"), ("0bbb", "old b"), ("f111", "old f"))})
    for run, rows in [("r2", [("0aaa", "newer a")]), ("r3", [("0aaa", "newest a"), ("0ccc", "new c")])]:
        rel = lake.write_table_file(tmp_path, lake.bucket_file("papers", "0", run, delta=True), "papers", papers(*rows))
        lake.commit(tmp_path, run, {}, staged={"papers": [rel]})
    assert lake.read_manifest(tmp_path)["tables"]["papers"][-2:] == ["papers/b0-r2.delta.parquet",
                                                                   "papers/b0-r3.delta.parquet"]
    table = lake.read_table(tmp_path, "papers").sort("paper_id")
    assert table.select("paper_id", "title").rows() == [("0aaa", "newest a"), ("0bbb", "old b"), ("0ccc", "new c"),
                                                        ("f111", "old f")]
    files = lake.table_files(tmp_path, "papers")
    assert lake.read_bucketed("papers", files, pl.Series(["0aaa"]))["title"].to_list() == ["newest a"]


def test_a_commit_never_names_a_staged_file_that_is_gone(tmp_path):
    """A retried commit after the failed try cleaned up must fail, not commit names without files."""
    before = lake.commit(tmp_path, "r1", {"runs": empty_frame(TABLES["runs"])})
    with pytest.raises(lake.LakeError, match="gone"):
        lake.commit(tmp_path, "r2", {}, staged={"listings": ["listings/r2-00000.parquet"]})
    assert lake.read_manifest(tmp_path) == before


def test_a_lake_from_before_buckets_is_refused_with_the_way_out(tmp_path):
    (tmp_path / lake.MANIFEST).write_text(json.dumps({"version": 3, "run_id": "old",
                                                      "tables": {"papers": ["papers/old.parquet"]}}))
    with pytest.raises(UserError, match="rebuild --from-raw"):
        lake.check_layout(tmp_path)
