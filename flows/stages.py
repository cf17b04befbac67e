"""Composite pure stages the flow's tasks call: raw batches to validated tables, run bookkeeping."""
from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path

import polars as pl

from store import extract
from core import identity
from store.faults import checkpoint
from core.normalise import merge_tables, normalise_batch
from core.validate import RawFrames, combine, to_frames, validate_dumps, validate_entries
from schemas.tables import APPEND_TABLES, TABLES, empty_frame
from warehouse import lake
from store.scratch import read_scratch


def extract_frames(sources: list[extract.SourceFile], known: set[str], raw_dir: Path, max_bytes: int,
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


def new_run_id(started_at: dt.datetime) -> str:
    return f"{started_at:%Y%m%dT%H%M%S}Z-{uuid.uuid4().hex[:8]}"


def run_row(run_id: str, started_at: dt.datetime, status: str, dumps_seen: int, new_dumps: pl.DataFrame) -> dict:
    statuses = new_dumps["status"].value_counts() if not new_dumps.is_empty() else None
    counts = dict(statuses.iter_rows()) if statuses is not None else {}
    return {"run_id": run_id, "started_at": started_at, "finished_at": dt.datetime.now(dt.timezone.utc),
            "status": status, "dumps_seen": dumps_seen, "dumps_new": new_dumps.height,
            "dumps_loaded": counts.get("loaded", 0), "dumps_partial": counts.get("partial", 0),
            "dumps_quarantined": counts.get("quarantined", 0)}


def chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def commit_appends(lake_dir: Path, seq: int, scratch: dict[str, list[Path]], retried: set[str]) -> dict[str, int]:
    """The batches' rows of each append table, appended in one commit per table. In a reprocessing
    run, the retried dumps' rows of dumps and rejects give way to those of their new reading (same
    dump_id, or the same source under a new one: a refused .gz). Returns the rows each table lost."""
    rows = {name: read_scratch(scratch[name]) if scratch.get(name) else empty_frame(TABLES[name])
            for name in APPEND_TABLES}
    gone = replaced_dumps(lake.read_table(lake_dir, "dumps"), rows["dumps"], retried) if retried else set()
    lost = {}
    for name in APPEND_TABLES:
        if gone and name in REPROCESSED_TABLES:
            lost[name] = lake.read_table(lake_dir, name).filter(pl.col("dump_id").is_in(list(gone))).height
            lake.replace_dumps(lake_dir, name, rows[name], gone | set(rows[name]["dump_id"]), seq)
        else:
            lake.append(lake_dir, name, rows[name], seq)
    return lost


def replaced_dumps(current: pl.DataFrame, fresh: pl.DataFrame, retried: set[str]) -> set[str]:
    """The retried dumps whose rows give way: read again under the same dump_id, or their source
    read under a new one."""
    replaced = current.filter(pl.col("dump_id").is_in(list(retried)) & (
        pl.col("dump_id").is_in(fresh["dump_id"].implode()) | pl.col("source_path").is_in(fresh["source_path"].implode())))
    return set(replaced["dump_id"])


def describe(summary: dict, seconds: float | None = None) -> str:
    """One human line for a run summary; seconds: the run's wall time as its caller waited for it
    (default: the flow's own, from its start to its runs row)."""
    if seconds is None:
        seconds = (summary["finished_at"] - summary["started_at"]).total_seconds()
    ignored = f", {summary['ignored']} other files ignored (not dumps)" if summary.get("ignored") else ""
    if summary.get("unreadable"):
        ignored += f", {summary['unreadable']} unreadable (tried again next run)"
    return "".join(f"{note}\n" for note in summary.get("notes", [])) + _describe(summary, seconds, ignored)


def _describe(summary: dict, seconds: float, ignored: str) -> str:
    if not summary["dumps_new"]:
        return (f"nothing new: {summary['dumps_seen']} dump files already loaded, "
                f"{summary['waiting']} still being written{ignored}; only a runs row added ({seconds:.1f} s)")
    mb = summary["bytes_new"] / 1e6
    profiles = summary.get("rows_added", {}).get("profiles", 0)
    return (f"{summary['dumps_new']} new dumps ({mb:.1f} MB): {summary['dumps_loaded']} loaded, "
            f"{summary['dumps_partial']} partial, {summary['dumps_quarantined']} quarantined, "
            f"{profiles} new profile{'' if profiles == 1 else 's'}; "
            f"{summary['dumps_seen']} seen, {summary['waiting']} still being written{ignored} "
            f"({seconds:.1f} s, {mb / max(seconds, 1e-9):.1f} MB/s)")


REPROCESSED_TABLES = frozenset({"dumps", "rejects"})
