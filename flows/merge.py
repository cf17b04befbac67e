"""Merge a run's observations into the mutable tables of the lake, one bucket at a time.

A bucket's merge reads that bucket's current rows and the run's observations of its key range,
so memory follows the largest bucket, not the table, and untouched buckets are not rewritten.
Writes files the commit then lists; no prefect, no duckdb.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from flows.normalise import merge_authors, merge_paper_authors, merge_papers, merge_profiles
from schemas.tables import TABLES
from warehouse import lake


@dataclass
class Merged:
    staged: dict[str, list[str]] = field(default_factory=dict)      # bucketed table -> new bucket files
    profiles: pl.DataFrame | None = None                             # the whole new profiles table
    rows_added: dict[str, int] = field(default_factory=dict)


def key_range(key: str, bucket: str) -> pl.Expr:
    """Keys of a bucket: those starting with its hex digit (a range, so Parquet statistics prune)."""
    following = lake.BUCKETS[lake.BUCKETS.index(bucket) + 1] if bucket != lake.BUCKETS[-1] else "g"
    return (pl.col(key) >= bucket) & (pl.col(key) < following)


def observed_in(paths: list[Path], key: str, bucket: str) -> pl.DataFrame | None:
    if not paths:
        return None
    frame = pl.scan_parquet(paths).filter(key_range(key, bucket)).collect()
    return frame if frame.height else None


def merge_run(lake_dir: Path, run_id: str, observed: dict[str, list[Path]]) -> Merged:
    """New bucket files for every bucket the run observed, and the new profiles table."""
    manifest = lake.read_manifest(lake_dir)
    merged = Merged({"papers": [], "paper_authors": [], "authors": []},
                    rows_added=dict.fromkeys(["papers", "paper_authors", "authors", "profiles"], 0))
    for bucket in lake.BUCKETS:
        if (papers := observed_in(observed.get("papers", []), "paper_id", bucket)) is not None:
            merge_papers_bucket(lake_dir, manifest, run_id, bucket, papers, merged)
        if (authors := observed_in(observed.get("authors", []), "author_id", bucket)) is not None:
            current = current_bucket(lake_dir, manifest, "authors", bucket)
            write_bucket(lake_dir, run_id, bucket, "authors", current, merge_authors(current, authors), merged)
    if observed.get("profiles"):
        current = lake.read_table(lake_dir, "profiles", manifest)
        merged.profiles = TABLES["profiles"].validate(merge_profiles(current, pl.read_parquet(observed["profiles"])),
                                                      lazy=True)
        merged.rows_added["profiles"] = merged.profiles.height - current.height
    return merged


def current_bucket(lake_dir: Path, manifest: dict, name: str, bucket: str) -> pl.DataFrame:
    return lake.read_files(name, lake.bucket_files(lake_dir, name, bucket, manifest))


def merge_papers_bucket(lake_dir: Path, manifest: dict, run_id: str, bucket: str, observed: pl.DataFrame,
                        merged: Merged) -> None:
    current = current_bucket(lake_dir, manifest, "papers", bucket)
    papers = merge_papers(current, observed)
    write_bucket(lake_dir, run_id, bucket, "papers", current, papers.drop("authors"), merged)
    if papers["authors"].is_not_null().any():
        current = current_bucket(lake_dir, manifest, "paper_authors", bucket)
        write_bucket(lake_dir, run_id, bucket, "paper_authors", current, merge_paper_authors(current, papers), merged)


def write_bucket(lake_dir: Path, run_id: str, bucket: str, name: str, current: pl.DataFrame, new: pl.DataFrame,
                 merged: Merged) -> None:
    checked = TABLES[name].validate(new, lazy=True)
    rel = lake.write_table_file(lake_dir, f"{name}/b{bucket}-{run_id}.parquet", name, checked)
    merged.staged[name].append(rel)
    merged.rows_added[name] += checked.height - current.height
