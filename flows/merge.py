"""Merge a run's observations into the mutable tables of the lake, one bucket at a time.

A bucket's merge reads the run's observations of its key range and, of the bucket's current rows,
only those of the keys observed. It writes their merged rows as a delta file, so a small run costs
what it changed, not what the table holds. A bucket's deltas are folded into one past MAX_DELTAS
(so a read opens few files), and the bucket is rewritten whole as a new base once its deltas would
hold more than COMPACT_SHARE of the base's rows (so deltas stay small next to it). Buckets merge in
parallel (the flow's task threads, or a Dask cluster). Writes files the commit then lists; no prefect, no
duckdb.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from flows.normalise import merge_authors, merge_paper_authors, merge_papers, merge_profiles
from schemas.tables import TABLES
from warehouse import lake

MAX_DELTAS = 4
COMPACT_SHARE = 0.25
GROUP_SIZE = 4     # buckets per merge task: 4 tasks of 4 on 16 buckets


@dataclass
class Merged:
    staged: dict[str, list[str]] = field(default_factory=dict)      # bucketed table -> new files
    replaced: dict[str, list[str]] = field(default_factory=dict)    # bucketed table -> files they supersede
    profiles: pl.DataFrame | None = None                             # the whole new profiles table
    rows_added: dict[str, int] = field(default_factory=dict)


@dataclass
class BucketJob:
    """One bucket's merge: its current files (lake-relative, commit order) and the run's observation
    files (of every key range)."""
    lake_dir: Path
    run_id: str
    bucket: str
    current: dict[str, list[str]]
    observed: dict[str, list[Path]]

    def files(self, rels: list[str]) -> list[Path]:
        return [self.lake_dir / rel for rel in rels]


@dataclass
class BucketResult:
    staged: dict[str, str] = field(default_factory=dict)
    replaced: dict[str, list[str]] = field(default_factory=dict)
    rows_added: dict[str, int] = field(default_factory=dict)


@dataclass
class Plan:
    """How a bucket's new rows are written: as its new base (the whole bucket) or as a delta, and
    which of its files the new one supersedes."""
    base: bool
    replaced: list[str]


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
                      {name: lake.bucket_files(name, bucket, manifest) for name in lake.BUCKET_KEYS},
                      {name: observed.get(name, []) for name in ("papers", "authors")})
            for bucket in lake.BUCKETS]


class BucketGroup:
    """The buckets one merge task merges (a plain class: Prefect passes it as it is)."""

    def __init__(self, jobs: list[BucketJob]):
        self.jobs = jobs


class ProfileMerge:
    """The profiles table's merge: the current table and the run's observations of it."""

    def __init__(self, lake_dir: Path, observed: list[Path]):
        self.lake_dir, self.observed = lake_dir, observed


class MergePlan:
    """A run's merges, made from its batches' observation files: the profiles table's, if the run
    observed profiles, and the bucket groups'."""

    def __init__(self, lake_dir: Path, run_id: str, observed: dict[str, list[Path]]):
        self.profiles = ProfileMerge(lake_dir, observed["profiles"]) if observed["profiles"] else None
        jobs = bucket_jobs(lake_dir, run_id, observed)
        # sliced here: flows/stages.py (chunks) imports this module
        self.groups = [BucketGroup(jobs[i:i + GROUP_SIZE]) for i in range(0, len(jobs), GROUP_SIZE)]


def merge_buckets(jobs: list[BucketJob]) -> list[BucketResult]:
    return [merge_bucket(job) for job in jobs]


def merge_group(group: BucketGroup) -> list[BucketResult]:
    return merge_buckets(group.jobs)


def merge_bucket(job: BucketJob) -> BucketResult:
    """New files of one bucket of papers, paper_authors and authors (those the run touched).
    A winning capture always names an author (the raw schema refuses an entry without), so a paper
    whose authors a delta rewrites has rows in that delta."""
    result = BucketResult()
    if (observed := observed_in(job.observed["papers"], "paper_id", job.bucket)) is not None:
        papers = update(job, "papers", observed["paper_id"], lambda current: merge_papers(current, observed), result)
        won = papers.filter(pl.col("author_ids").is_not_null())["paper_id"]
        if won.len():
            update(job, "paper_authors", won, lambda current: merge_paper_authors(current, papers), result)
    if (observed := observed_in(job.observed["authors"], "author_id", job.bucket)) is not None:
        update(job, "authors", observed["author_id"], lambda current: merge_authors(current, observed), result)
    return result


def plan(job: BucketJob, name: str, changing: int) -> Plan:
    """A delta, unless the bucket is new, or its deltas would outgrow COMPACT_SHARE of its base
    (rewrite it whole), or there are MAX_DELTAS already (fold them into the new one)."""
    files = job.current[name]
    deltas = [rel for rel in files if lake.is_delta(rel)]
    bases = [rel for rel in files if not lake.is_delta(rel)]
    if not bases:
        return Plan(True, files)
    pending = changing + sum(lake.row_count(path) for path in job.files(deltas))
    if pending > COMPACT_SHARE * lake.row_count(job.lake_dir / bases[0]):
        return Plan(True, files)
    return Plan(False, deltas if len(deltas) >= MAX_DELTAS else [])


def update(job: BucketJob, name: str, keys: pl.Series, merge: Callable[[pl.DataFrame], pl.DataFrame],
           result: BucketResult) -> pl.DataFrame:
    """Merge the bucket's rows of `keys` (and of the deltas being folded) and write them as planned;
    returns the merged rows (papers keep their `author_ids`)."""
    how = plan(job, name, keys.len())
    if how.base:
        current = lake.read_bucketed(name, job.files(job.current[name]))
    else:
        folded = lake.read_bucketed(name, job.files(how.replaced))[lake.BUCKET_KEYS[name]]
        current = lake.read_bucketed(name, job.files(job.current[name]), pl.concat([keys, folded]).unique())
    merged = merge(current)
    table = merged.drop("author_ids", strict=False)
    # papers and authors rows were validated as observations; paper_authors rows are made here
    checked = TABLES[name].validate(table, lazy=True) if name == "paper_authors" else table
    rel = lake.bucket_file(name, job.bucket, job.run_id, delta=not how.base)
    result.staged[name] = lake.write_table_file(job.lake_dir, rel, name, checked)
    result.replaced[name] = how.replaced
    result.rows_added[name] = checked.height - current.height
    return merged


def merge_profile_table(job: ProfileMerge) -> tuple[pl.DataFrame, int]:
    """The new profiles table (small: one row per profile) and how many rows it gained."""
    current = lake.read_table(job.lake_dir, "profiles")
    merged = merge_profiles(current, lake.scan_scratch(job.observed).collect())
    return TABLES["profiles"].validate(merged, lazy=True), merged.height - current.height


def combine(results: list[BucketResult], profiles: tuple[pl.DataFrame, int] | None) -> Merged:
    merged = Merged({name: [] for name in lake.BUCKET_KEYS}, {name: [] for name in lake.BUCKET_KEYS},
                    rows_added=dict.fromkeys(lake.BUCKET_KEYS, 0))
    for result in results:
        for name, rel in result.staged.items():
            merged.staged[name].append(rel)
            merged.replaced[name] += result.replaced[name]
            merged.rows_added[name] += result.rows_added[name]
    if profiles is not None:
        merged.profiles, merged.rows_added["profiles"] = profiles
    return merged
