"""One batch of dump files, start to finish where it runs (a task's thread, or a Dask worker):
read, validate, normalise, and write the batch's rows to the run's scratch folder, from which the
run's commits write them into the lake's tables.

The result is small (the batch's dump rows and file names): once a batch is done, the flow holds
its metadata, never its entries. No prefect, no duckdb.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from core import identity
from core.normalise import merge_tables, normalise_batch
from core.records import SourceFile
from core.validate import RawFrames, combine, to_frames, validate_dumps, validate_entries
from schemas.tables import APPEND_TABLES, OBSERVED_TABLES, TABLES
from store import extract, scratch
from store.faults import checkpoint
from warehouse import partitions


class BatchJob:
    """What a worker needs for one batch (a plain class: Prefect doesn't walk its big `known` set)."""

    def __init__(self, index: int, sources: list, known: set[str], raw_dir: Path, lake_dir: Path, max_bytes: int,
                 run_id: str, ingested_at: dt.datetime, key_pattern: str = identity.DEFAULT_KEY_PATTERN):
        self.index, self.sources, self.known = index, sources, known
        self.raw_dir, self.lake_dir, self.max_bytes = raw_dir, lake_dir, max_bytes
        self.run_id, self.ingested_at, self.key_pattern = run_id, ingested_at, key_pattern

    @property
    def label(self) -> str:
        """What the batch reads, as its task run's name shows it: its number, file count, first and last file."""
        names = [identity.shown(str(source.path).rsplit("/", 1)[-1]) for source in self.sources]
        shown = ", ".join(names) if len(names) <= 2 else f"{names[0]} … {names[-1]}"
        return f"{self.index}: {len(names)} file{'s' if len(names) != 1 else ''}, {shown}"

    def without(self, dump_ids: set[str]) -> "BatchJob":
        """The same batch, treating dump_ids as already loaded (a first reading elsewhere won)."""
        return BatchJob(self.index, self.sources, self.known | dump_ids, self.raw_dir, self.lake_dir,
                        self.max_bytes, self.run_id, self.ingested_at, self.key_pattern)


@dataclass
class BatchResult:
    index: int
    files: pl.DataFrame                     # file index rows: (path, size, mtime_ns, dump_id)
    dumps: pl.DataFrame                     # the batch's rows of the dumps table
    scratch: dict[str, Path] = field(default_factory=dict)   # table -> the batch's rows (append tables)
                                                             # or observations (mutable ones)
    rows: dict[str, int] = field(default_factory=dict)       # rows per append table
    unread: list[str] = field(default_factory=list)          # "path: why" of files to try again next run
    unread_keys: list[tuple] = field(default_factory=list)   # (sidecar, its keys nothing reads)


def plan_jobs(sources: list, known: set[str], settings, run_id: str, started_at: dt.datetime) -> list[BatchJob]:
    return [BatchJob(i, chunk, known, settings.raw, settings.lake, settings.max_dump_bytes, run_id, started_at,
                     settings.profile_key_pattern)
            for i, chunk in enumerate(chunks(sources, settings.batch_size))]


def process_batch(job: BatchJob) -> BatchResult:
    stamp = {"run_id": job.run_id, "ingested_at": job.ingested_at}
    frames = extract_frames(job.sources, job.known, job.raw_dir, job.max_bytes, stamp, job.index,
                                   identity.key_pattern(job.key_pattern))
    result = write_batch(scratch.work_dir(job.lake_dir, job.run_id), job.index, frames.files, normalise_frames(frames))
    result.unread, result.unread_keys = frames.unread, frames.unread_keys
    return result


def process_copies(index: int, copies: list[tuple[SourceFile, dict]], seen: set[str], work: Path, max_bytes: int,
                   key_pattern: re.Pattern) -> BatchResult:
    """A batch of raw/ copies read again (a rebuild, store/extract.py's raw_copies), as process_batch
    reads a batch of files: each copy with its own ingestion's stamps, and nothing written to raw/."""
    frames = to_frames(extract.extract_copies(copies, seen, max_bytes, key_pattern))
    result = write_batch(work, index, frames.files, normalise_frames(frames))
    result.unread, result.unread_keys = frames.unread, frames.unread_keys
    return result


def write_batch(work: Path, index: int, files: pl.DataFrame, tables: dict[str, pl.DataFrame]) -> BatchResult:
    """The batch's rows to scratch files in `work`."""
    result = BatchResult(index, files, tables["dumps"])
    for name in (*APPEND_TABLES, *OBSERVED_TABLES):
        result.rows[name] = tables[name].height
        if tables[name].height:
            result.scratch[name] = work / f"{index:05d}-{name}.parquet"
            write_observations(tables[name], name, result.scratch[name])
    return result


def write_observations(frame: pl.DataFrame, name: str, target: Path) -> None:
    """A mutable table's observations sorted by key in row groups of 1/16: a merge in parts then
    reads only the row groups of its part's keys."""
    if name not in partitions.PARTITIONED:
        scratch.write_scratch(frame, target)
        return
    scratch.write_scratch(frame.sort(partitions.PARTITIONED[name]), target, row_group_size=max(frame.height // 16, 1024))


def describe(result: BatchResult) -> str:
    """The batch's new dumps by status, for its task's log."""
    counts = dict(result.dumps["status"].value_counts().iter_rows()) if result.dumps.height else {}
    return f"{result.dumps.height} new dumps ({', '.join(f'{n} {s}' for s, n in sorted(counts.items())) or 'none'})"


def repeated_dumps(results: list[BatchResult]) -> dict[int, set[str]]:
    """Dumps read again by a later batch of the run (the same bytes under another name), by batch
    index: only their first reading (in batch order) may load."""
    seen: set[str] = set()
    repeats: dict[int, set[str]] = {}
    for result in sorted(results, key=lambda r: r.index):
        ids = set(result.dumps["dump_id"])
        if ids & seen:
            repeats[result.index] = ids & seen
        seen |= ids
    return repeats


def scratch_files(results: list[BatchResult]) -> dict[str, list[Path]]:
    """The run's scratch files of each table (results in batch order): what its commits read."""
    return {name: [r.scratch[name] for r in results if name in r.scratch] for name in (*APPEND_TABLES, *OBSERVED_TABLES)}


def chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def extract_frames(sources: list[SourceFile], known: set[str], raw_dir: Path, max_bytes: int,
                   stamp: dict, batch_index: int, key_pattern: re.Pattern = identity.DEFAULT_KEY) -> RawFrames:
    """Raw records of a batch of files, as DataFrames."""
    batch = extract.extract_batch(sources, known, raw_dir, max_bytes, stamp, batch_index, key_pattern)
    checkpoint("extract:batch-read")
    return to_frames(batch)


def normalise_frames(frames: RawFrames) -> dict[str, pl.DataFrame]:
    """Validate a batch's raw records, normalise them, and validate every row on the way out: the append
    tables' rows, and the observations of the mutable tables (a merge only picks among validated rows)."""
    dumps = validate_dumps(frames.dumps)
    entries, entry_rejects = validate_entries(frames.entries)
    checkpoint("validate:raw-validated")
    tables = normalise_batch(dumps, entries, frames.problems, entry_rejects)
    checkpoint("normalise:tables-built")
    return {name: TABLES[name].validate(frame, lazy=True) for name, frame in tables.items()}


def transform(parts: list[RawFrames], current: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """All of it in memory: raw batches and the current mutable tables to validated tables."""
    tables = normalise_frames(combine(parts))
    merged = merge_tables(current, tables)
    return {**{name: tables[name] for name in APPEND_TABLES},
            **{name: TABLES[name].validate(frame, lazy=True) for name, frame in merged.items()}}
