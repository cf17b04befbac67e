"""Merge a run's observations into the mutable tables of the lake.

A table's merge reads the run's observations of it and, of the table, only the current rows of the
keys observed (warehouse/lake.py reads only the partitions holding them). It merges them by
core/normalise.py's rules and writes the rows that changed as one Delta merge, so a small run
costs what it changed. papers and their paper_authors merge in one task (paper_authors in a thread
beside papers' own commit), authors and profiles in one each, in parallel. No prefect, no duckdb.

A merge holds its observations, the current rows and their merge in memory, and Delta rewrites the
partitions it touches; so past PART_BYTES of those a table merges in parts, ranges of key buckets
of one commit each (tagged with the part, so a retried run skips the parts that committed), and a
run's memory follows a part, not the size of the run or of the lake.
"""
from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from core.normalise import merge_authors, merge_paper_authors, merge_papers, merge_profiles
from schemas.tables import MERGE_KEYS, TABLES
from store import scratch, storage
from warehouse import lake, lake_files, partitions, recovery

MERGES = {"papers": merge_papers, "authors": merge_authors, "profiles": merge_profiles}
# Scratch bytes per part: a part's merge holds about 20 times its observations' scratch bytes in
# memory; the partitions it touches count a quarter of their stored bytes, as delta-rs streams them.
PART_BYTES = 16 * 2**20
STORED_WEIGHT = 0.25
PART_CHARS = 2   # parts are ranges of the keys' first two hex digits, whatever a table's partitions
BUCKETS = 16 ** PART_CHARS


@dataclass
class TableMerge:
    """One merge task: the observations of `table` (papers brings paper_authors along)."""
    lake_dir: Path
    table: str
    observed: list[Path]
    seq: int
    by: str                 # the run id its commits carry
    emptied: bool = False   # the table was emptied by this seq (a rebuild in place): nothing stored to plan on


@dataclass(frozen=True)
class Part:
    """The `index`-th of `count` equal ranges of key buckets (one part: the whole table)."""
    index: int = 0
    count: int = 1

    @property
    def app_id(self) -> str:
        return f"{lake.APP_ID}/{self.count}.{self.index}"

    def holds(self, column: str) -> pl.Expr | None:
        """Which rows of a key column fall in the part (None: all)."""
        if self.count == 1:
            return None
        low, high = (f"{i * BUCKETS // self.count:0{PART_CHARS}x}" for i in (self.index, self.index + 1))
        return (pl.col(column) >= low) & (pl.col(column) < high) if self.index + 1 < self.count else pl.col(column) >= low


def plan_parts(job: TableMerge) -> list[Part]:
    """As many parts (a power of two) as keep each under PART_BYTES of scratch and touched partitions."""
    if job.table not in partitions.PARTITIONED:
        return [Part()]
    keys = scratch.read_scratch(job.observed, columns=MERGE_KEYS[job.table][:1]).to_series()
    total, count = stored_bytes(job, keys) * STORED_WEIGHT + sum(storage.size(f) for f in job.observed), 1
    while count < BUCKETS and total / count > PART_BYTES:
        count *= 2
    return [Part(i, count) for i in range(count)]


def stored_bytes(job: TableMerge, keys: pl.Series) -> int:
    """Bytes of the partitions holding the keys; a retry counts them on the table before the run, as
    its first try did."""
    if job.emptied:
        return 0
    table = lake.open_table(job.lake_dir, job.table)
    if lake.run_of(table) >= job.seq:
        table = lake.open_table(job.lake_dir, job.table, recovery.committed_version(job.lake_dir, job.table, table, job.seq - 1))
    return lake_files.partition_bytes(table, keys)


def changed(merged: pl.DataFrame, current: pl.DataFrame) -> pl.DataFrame:
    """The merged rows that differ from the current ones (unchanged rows need no write)."""
    if current.is_empty():   # a first merge of these keys: polars would still hash every column
        return merged
    return merged.join(current, on=current.columns, how="anti", nulls_equal=True)


def merge_table(job: TableMerge) -> dict[str, int]:
    """Merge the observations into the table, part by part; returns the rows each table gained."""
    gained: Counter = Counter()
    parts = plan_parts(job)
    # on object storage each scratch read downloads the files whole: read them once, split in memory
    read_once = scratch.read_scratch(job.observed) if len(parts) > 1 and storage.is_url(job.observed[0]) else None
    for part in parts:
        gained.update(merge_part(job, part, read_once))
    return dict(gained)


def merge_part(job: TableMerge, part: Part, read_once: pl.DataFrame | None = None) -> dict[str, int]:
    name, key = job.table, MERGE_KEYS[job.table][0]
    where = part.holds(key)
    if read_once is None:
        observed = scratch.read_scratch(job.observed, where=where)
    else:
        observed = read_once if where is None else read_once.filter(where)
    if observed.is_empty():
        return {}
    current = lake.read_keys(job.lake_dir, name, observed[key])
    merged = MERGES[name](current, observed)
    rows = merged.drop("author_ids", strict=False)
    # papers, authors and profiles rows were validated as observations; a merge picks among them
    checked = TABLES[name].validate(rows, lazy=True) if name == "profiles" else rows
    with ThreadPoolExecutor(max_workers=1) as pool:   # papers' paper_authors merge beside their own commit
        authorship = pool.submit(merge_authorship, job, merged, part) if name == "papers" else None
        retried = lake.upsert(job.lake_dir, name, changed(checked, current), job.seq, job.by,
                              new_keys_only=current.is_empty(), part=part.app_id)
        gained = {name: rows.height - held_before_run(job, name, observed[key], current, retried)}
        return gained | ({"paper_authors": authorship.result()} if authorship else {})


def merge_authorship(job: TableMerge, papers: pl.DataFrame, part: Part) -> int:
    """paper_authors of the papers whose winning capture is new: their rows are replaced by that
    capture's authors (a capture always names one), and positions it no longer has are deleted."""
    won = papers.filter(pl.col("author_ids").is_not_null())["paper_id"]
    current = lake.read_keys(job.lake_dir, "paper_authors", won)
    fresh = TABLES["paper_authors"].validate(merge_paper_authors(current, papers.filter(
        pl.col("paper_id").is_in(won.implode()))), lazy=True)
    lost = current.join(fresh, on=MERGE_KEYS["paper_authors"], how="anti")
    retried = lake.upsert(job.lake_dir, "paper_authors", changed(fresh, current), job.seq, job.by, gone=lost,
                          new_keys_only=current.is_empty(), part=part.app_id)
    return fresh.height - held_before_run(job, "paper_authors", won, current, retried)


def held_before_run(job: TableMerge, name: str, keys: pl.Series, current: pl.DataFrame, retried: bool) -> int:
    """Rows of `keys` the table held before the run: `current`'s, unless a first try of this task
    committed the part already (`retried`: the retry wrote nothing, but the run gained what that try wrote)."""
    if not retried:
        return current.height
    table = lake.open_table(job.lake_dir, name)
    before = recovery.committed_version(job.lake_dir, name, table, job.seq - 1)
    return lake.read_keys(job.lake_dir, name, keys, before).height
