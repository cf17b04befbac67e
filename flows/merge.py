"""Merge a run's observations into the mutable tables of the lake, one bucket at a time.

A bucket's merge reads that bucket's current rows and the run's observations of its key range,
so memory follows the largest bucket, not the table, untouched buckets are not rewritten, and
buckets merge in parallel (worker processes, or a Dask cluster). Writes files the commit then
lists; no prefect, no duckdb.
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


@dataclass
class BucketJob:
    """One bucket's merge: its current files and the run's observation files (of every key range)."""
    lake_dir: Path
    run_id: str
    bucket: str
    current: dict[str, list[Path]]
    observed: dict[str, list[Path]]


@dataclass
class BucketResult:
    staged: dict[str, str] = field(default_factory=dict)
    rows_added: dict[str, int] = field(default_factory=dict)


def key_range(key: str, bucket: str) -> pl.Expr:
    """Keys of a bucket: those starting with its hex digit (a range, so Parquet statistics prune)."""
    following = lake.BUCKETS[lake.BUCKETS.index(bucket) + 1] if bucket != lake.BUCKETS[-1] else "g"
    return (pl.col(key) >= bucket) & (pl.col(key) < following)


def observed_in(paths: list[Path], key: str, bucket: str) -> pl.DataFrame | None:
    if not paths:
        return None
    frame = lake.scan_scratch(paths).filter(key_range(key, bucket)).collect()
    return frame if frame.height else None


def bucket_jobs(lake_dir: Path, run_id: str, observed: dict[str, list[Path]]) -> list[BucketJob]:
    manifest = lake.read_manifest(lake_dir)
    return [BucketJob(lake_dir, run_id, bucket,
                      {name: lake.bucket_files(lake_dir, name, bucket, manifest) for name in lake.BUCKET_KEYS},
                      {name: observed.get(name, []) for name in ("papers", "authors")})
            for bucket in lake.BUCKETS]


def merge_buckets(jobs: list[BucketJob]) -> list[BucketResult]:
    return [merge_bucket(job) for job in jobs]


def merge_bucket(job: BucketJob) -> BucketResult:
    """New files of one bucket of papers, paper_authors and authors (those the run touched)."""
    result = BucketResult()
    if (observed := observed_in(job.observed["papers"], "paper_id", job.bucket)) is not None:
        current = lake.read_files("papers", job.current["papers"])
        papers = merge_papers(current, observed)
        write_bucket(job, "papers", current, papers.drop("author_ids"), result)
        if papers["author_ids"].is_not_null().any():
            current = lake.read_files("paper_authors", job.current["paper_authors"])
            write_bucket(job, "paper_authors", current, merge_paper_authors(current, papers), result)
    if (observed := observed_in(job.observed["authors"], "author_id", job.bucket)) is not None:
        current = lake.read_files("authors", job.current["authors"])
        write_bucket(job, "authors", current, merge_authors(current, observed), result)
    return result


def write_bucket(job: BucketJob, name: str, current: pl.DataFrame, new: pl.DataFrame, result: BucketResult) -> None:
    """Papers and authors rows were validated as observations; paper_authors rows are made here."""
    checked = TABLES[name].validate(new, lazy=True) if name == "paper_authors" else new
    result.staged[name] = lake.write_table_file(job.lake_dir, f"{name}/b{job.bucket}-{job.run_id}.parquet", name,
                                                checked)
    result.rows_added[name] = checked.height - current.height


def merge_profile_table(lake_dir: Path, observed: list[Path]) -> tuple[pl.DataFrame, int]:
    """The new profiles table (small: one row per profile) and how many rows it gained."""
    current = lake.read_table(lake_dir, "profiles")
    merged = merge_profiles(current, lake.scan_scratch(observed).collect())
    return TABLES["profiles"].validate(merged, lazy=True), merged.height - current.height


def combine(results: list[BucketResult], profiles: tuple[pl.DataFrame, int] | None) -> Merged:
    merged = Merged({name: [] for name in lake.BUCKET_KEYS}, rows_added=dict.fromkeys(lake.BUCKET_KEYS, 0))
    for result in results:
        for name, rel in result.staged.items():
            merged.staged[name].append(rel)
            merged.rows_added[name] += result.rows_added[name]
    if profiles is not None:
        merged.profiles, merged.rows_added["profiles"] = profiles
    return merged
