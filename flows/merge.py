"""Merge a run's observations into the mutable tables of the lake.

A table's merge reads the run's observations of it and, of the table, only the current rows of the
keys observed (warehouse/lake.py reads only the partitions holding them). It merges them by
flows/normalise.py's rules and writes the rows that changed as one Delta merge, so a small run
costs what it changed. papers and their paper_authors merge in one task, authors and profiles in
one each, in parallel. No prefect, no duckdb.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from flows.normalise import merge_authors, merge_paper_authors, merge_papers, merge_profiles
from schemas.tables import TABLES
from warehouse import lake

MERGES = {"papers": merge_papers, "authors": merge_authors, "profiles": merge_profiles}


@dataclass
class TableMerge:
    """One merge task: the observations of `table` (papers brings paper_authors along)."""
    lake_dir: Path
    table: str
    observed: list[Path]
    seq: int


def changed(merged: pl.DataFrame, current: pl.DataFrame) -> pl.DataFrame:
    """The merged rows that differ from the current ones (unchanged rows need no write)."""
    return merged.join(current, on=current.columns, how="anti", nulls_equal=True)


def merge_table(job: TableMerge) -> dict[str, int]:
    """Merge the observations into the table; returns the rows each table gained."""
    name, key = job.table, lake.MERGE_KEYS[job.table][0]
    observed = lake.read_scratch(job.observed)
    current = lake.read_keys(job.lake_dir, name, observed[key])
    merged = MERGES[name](current, observed)
    rows = merged.drop("author_ids", strict=False)
    # papers, authors and profiles rows were validated as observations; a merge picks among them
    checked = TABLES[name].validate(rows, lazy=True) if name == "profiles" else rows
    lake.upsert(job.lake_dir, name, changed(checked, current), job.seq, new_keys_only=current.is_empty())
    gained = {name: rows.height - current.height}
    return gained | ({"paper_authors": merge_authorship(job, merged)} if name == "papers" else {})


def merge_authorship(job: TableMerge, papers: pl.DataFrame) -> int:
    """paper_authors of the papers whose winning capture is new: their rows are replaced by that
    capture's authors (a capture always names one), and positions it no longer has are deleted."""
    won = papers.filter(pl.col("author_ids").is_not_null())["paper_id"]
    current = lake.read_keys(job.lake_dir, "paper_authors", won)
    fresh = TABLES["paper_authors"].validate(merge_paper_authors(current, papers.filter(
        pl.col("paper_id").is_in(won.implode()))), lazy=True)
    lost = current.join(fresh, on=lake.MERGE_KEYS["paper_authors"], how="anti")
    lake.upsert(job.lake_dir, "paper_authors", changed(fresh, current), job.seq, gone=lost,
                new_keys_only=current.is_empty())
    return fresh.height - current.height
