"""Bucket merges on tiny frames: a small run writes a delta of what it changed, deltas are folded
past MAX_DELTAS, a bucket is rewritten whole when its deltas grow; the table always reads the same
as one merge of everything."""
from __future__ import annotations

import datetime as dt

import polars as pl

from flows import merge
from flows.normalise import (author_observations, merge_authors, merge_paper_authors, merge_papers,
                             paper_observations, reduce_authors, reduce_papers)
from schemas.tables import Authors, PaperAuthors, Papers, empty_frame
from tests.test_normalise import observations
from warehouse import lake

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
PAPERS = [f"a{i:015x}" for i in range(40)]     # all in bucket "a"


def ingest(lake_dir, run: int, rows: list[tuple]) -> None:
    """One run's merge and commit, as the flow does it (without the append tables)."""
    obs = observations(*rows)
    scratch = lake_dir.parent / f"scratch-{run}"
    scratch.mkdir()
    reduce_papers(paper_observations(obs)).write_parquet(scratch / "papers.parquet")
    reduce_authors(author_observations(obs)).write_parquet(scratch / "authors.parquet")
    jobs = merge.bucket_jobs(lake_dir, f"r{run:03d}", {"papers": [scratch / "papers.parquet"],
                                                       "authors": [scratch / "authors.parquet"]})
    merged = merge.combine(merge.merge_buckets(jobs), None)
    lake.commit(lake_dir, f"r{run:03d}", {}, staged={k: v for k, v in merged.staged.items() if v},
                replaced=merged.replaced)


def capture(run: int, papers: list[str]) -> list[tuple]:
    """A dump of run `run` listing `papers`, each with two authors, one of them new in this run."""
    return [(p, f"d{run}", T0 + dt.timedelta(days=run), run % 2 == 0, ["Ada", f"Author {run}"]) for p in papers]


def expected(all_rows: list[tuple]) -> dict[str, pl.DataFrame]:
    obs = observations(*all_rows)
    papers = merge_papers(empty_frame(Papers), reduce_papers(paper_observations(obs)))
    return {"papers": papers.drop("author_ids"),
            "paper_authors": merge_paper_authors(empty_frame(PaperAuthors), papers),
            "authors": merge_authors(empty_frame(Authors), reduce_authors(author_observations(obs)))}


def bucket_a(lake_dir) -> list[str]:
    return [rel.split("/")[1] for rel in lake.read_manifest(lake_dir)["tables"]["papers"] if "/ba-" in rel]


def assert_tables_equal(lake_dir, all_rows):
    for name, frame in expected(all_rows).items():
        key = [lake.BUCKET_KEYS[name]] + (["position"] if name == "paper_authors" else [])
        assert lake.read_table(lake_dir, name).sort(key).equals(frame.sort(key)), name


def test_small_runs_write_deltas_then_fold_them_and_read_as_one_merge(tmp_path):
    lake_dir, all_rows = tmp_path / "lake", capture(0, PAPERS)
    ingest(lake_dir, 0, all_rows)
    assert bucket_a(lake_dir) == ["ba-r000.parquet"]
    for run in range(1, merge.MAX_DELTAS + 2):
        rows = capture(run, PAPERS[run:run + 2])      # 2 of 40 papers change: below COMPACT_SHARE
        ingest(lake_dir, run, rows)
        all_rows += rows
        assert_tables_equal(lake_dir, all_rows)
    deltas = [f"ba-r{run:03d}.delta.parquet" for run in range(1, merge.MAX_DELTAS + 1)]
    assert bucket_a(lake_dir) == ["ba-r000.parquet", f"ba-r{merge.MAX_DELTAS + 1:03d}.delta.parquet"], \
        f"the deltas {deltas} were folded into one"
    folded = lake.read_table(lake_dir, "papers").filter(pl.col("paper_id").is_in(PAPERS[1:merge.MAX_DELTAS + 3]))
    assert lake.row_count(lake_dir / "papers" / bucket_a(lake_dir)[-1]) == folded.height


def test_a_delta_holds_only_the_rows_of_the_keys_the_run_changed(tmp_path):
    lake_dir = tmp_path / "lake"
    ingest(lake_dir, 0, capture(0, PAPERS))
    ingest(lake_dir, 1, capture(1, PAPERS[:3]))
    delta = pl.read_parquet(lake_dir / "papers" / "ba-r001.delta.parquet")
    assert sorted(delta["paper_id"]) == PAPERS[:3]
    authors = pl.read_parquet(lake_dir / "paper_authors" / "ba-r001.delta.parquet")
    assert sorted(set(authors["paper_id"])) == PAPERS[:3] and authors.height == 6


def test_a_bucket_is_rewritten_whole_once_its_deltas_outgrow_a_share_of_its_base(tmp_path):
    lake_dir, all_rows = tmp_path / "lake", capture(0, PAPERS)
    ingest(lake_dir, 0, all_rows)
    many = PAPERS[:int(len(PAPERS) * merge.COMPACT_SHARE) + 1]
    rows = capture(1, many)
    ingest(lake_dir, 1, rows)
    assert bucket_a(lake_dir) == ["ba-r001.parquet"]
    assert_tables_equal(lake_dir, all_rows + rows)
