"""Lake maintenance (SPEC §5 `maintain`; §8): split outgrown partitions, compact, checkpoint and
vacuum each table. Vacuum keeps every file of the table's retention period (warehouse/retention.py;
a reader that started earlier still finds its files), and the files of the latest run's versions
and of those a rollback of it restores (warehouse/history.py), however old that run is; the log
such a rollback reads is kept for delta.logRetentionDuration (30 days), as Delta keeps it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import DeltaError

from schemas.tables import TABLES
from store import storage
from store.errors import UserError
from warehouse import lake as lake_mod
from warehouse import recovery, retention
from warehouse import log_checkpoints, partitions
from warehouse.history import recorded_versions, require_lake, restore_targets, runs_in_order
from warehouse.lake_files import data_files, scan

# A merge rewrites whole partition files, so a table whose partitions average more rows or bytes
# than these gets one more hex digit of the key per partition (16 times as many, a sixteenth the
# size); not past 3 digits, as 65,536 partitions would make every whole read and big run slow.
SPLIT_ROWS = 2048
SPLIT_BYTES = 512 * 2**10
MAX_BUCKET_CHARS = 3


@dataclass
class Maintained:
    table: str
    compacted: int   # small files compaction replaced
    written: int     # files it wrote in their place
    removed: int     # files vacuum deleted (replaced, or change-feed files written, longer ago than the retention)
    retention: float  # the table's retention in hours
    files: int       # data files the table holds now
    split: int = 0   # hex digits of the key its partitions were split to (0: not split)


def maintain(lake: storage.Location, retention_days: int | None = None,
             guard: Callable | None = None, home: Path | None = None) -> list[Maintained]:
    """Compact, checkpoint and vacuum every table past its retention (the caller holds the run
    lock); retention_days, if given, becomes every table's retention first. guard: see
    lake.ensure_tables; home: the one a refusal names."""
    if retention_days is not None:
        retention.check_days(retention_days)
    require_lake(lake, home)
    recovery.recover(lake, guard, home)   # a dead run's commits are undone, not compacted into the tables
    keep, committed = kept_versions(lake), lake_mod.run_of(lake_mod.open_table(lake, "runs"))
    return [maintain_table(lake, name, retention_days, keep.get(name, []), committed) for name in TABLES]


def kept_versions(lake: storage.Location) -> dict[str, list[int]]:
    """The versions vacuum keeps whatever their age, since runs may be rarer than the retention
    period: those a rollback of the latest run restores (the run most likely to need undoing), and
    those the latest runs row records, at which docs/lake.md has other engines read."""
    runs = runs_in_order(lake)
    if runs.is_empty():
        return {}
    try:
        rollback = restore_targets(lake, runs, runs["run_id"][-1])
    # before a rebuild from raw/, or its log is gone: nothing to keep for it, and maintenance goes on
    except (UserError, DeltaError, OSError, LookupError):
        rollback = {}
    recorded = recorded_versions(runs) or {}
    return {name: [v for v in sorted({rollback.get(name), recorded.get(name)} - {None}) if still_logged(lake, name, v)]
            for name in TABLES}


def still_logged(lake: storage.Location, name: str, version: int) -> bool:
    """Does the table's log still find that version? (Past delta.logRetentionDuration it is cleaned,
    and vacuum refuses to keep a version it can't load.)"""
    try:
        return lake_mod.open_table(lake, name, version) is not None
    except (DeltaError, OSError):
        return False


def maintain_table(lake: storage.Location, name: str, retention_days: int | None, keep: list[int],
                   committed: int) -> Maintained:
    """Compact, then checkpoint: readers start from the checkpoint instead of replaying every commit,
    and the log cleanup only removes log files older than one. Vacuum goes by the table's own
    retention, which retention_days (if given) sets first."""
    table = lake_mod.open_table(lake, name)
    if retention_days is not None and retention.hours(table) != retention_days * 24:
        retention.keep(table, retention.interval(retention_days), lake_mod.noted("maintain --retention-days"))
    # a table a dead run's commits were undone in keeps that run's tag until the next run commits to it,
    # and recover would undo any commit after its restore: it is split after that run
    restored = lake_mod.run_of(table) > committed
    split = split_partitions(lake, name, table) if outgrown(table) and not restored else 0
    if split:
        table = lake_mod.open_table(lake, name)
    metrics = table.optimize.compact()
    table.create_checkpoint()
    # full: the change feed's files (never tombstoned) and a dead write's go too once past the retention
    removed = table.vacuum(retention_hours=None, dry_run=False, enforce_retention_duration=True,   # the table's own
                           keep_versions=keep or None, full=True)
    # Log files older than delta.logRetentionDuration (30 days by default) and before the
    # checkpoint go, as delta-rs's own post-commit cleanup does: opening a table lists fewer files.
    table.cleanup_metadata()
    log_checkpoints.prune_checkpoints(lake, name, table, keep)   # and checkpoints past the table's retention
    return Maintained(name, metrics.get("numFilesRemoved", 0), metrics.get("numFilesAdded", 0), len(removed),
                      retention.hours(table), len(data_files(table)), split)


def outgrown(table: DeltaTable) -> bool:
    """Do the table's partitions hold more than SPLIT_ROWS or SPLIT_BYTES each on average (or did a
    split stop part way)?"""
    files, partition = data_files(table), f"partition.{partitions.BUCKET}"
    if partition not in files.columns or files.is_empty():
        return False
    lengths = set(files[partition].str.len_chars().unique().to_list())
    if len(lengths) > 1 or max(lengths) >= MAX_BUCKET_CHARS:
        return len(lengths) > 1
    held = files[partition].n_unique()
    return files["num_records"].sum() / held > SPLIT_ROWS or files["size_bytes"].sum() / held > SPLIT_BYTES


def split_partitions(lake: storage.Location, name: str, table: DeltaTable) -> int:
    """Rewrite the table with one more hex digit of the key per partition (or finish a split that
    stopped part way); returns the digits. One overwrite commit per first hex digit, so a split holds
    a sixteenth of the table in memory; between two, reads and merges find a key in either partition
    (partitions.buckets_of), and each commit leaves every row once."""
    lengths = partitions.bucket_lengths(table)
    chars = max(lengths) + (len(lengths) == 1)
    if partitions.STATS_COLUMNS not in table.metadata().configuration:   # a table made before they were set
        table.alter.set_table_properties({partitions.STATS_COLUMNS: partitions.stats_columns(name)})
        table = lake_mod.open_table(lake, name)
    held = set(data_files(table)[f"partition.{partitions.BUCKET}"].to_list())
    for digit in "0123456789abcdef":
        if any(bucket.startswith(digit) and len(bucket) < chars for bucket in held):
            split_group(lake, name, digit, chars)
    return chars


def split_group(lake: storage.Location, name: str, digit: str, chars: int) -> None:
    """The partitions whose keys start with `digit`, rewritten at `chars` digits in one commit."""
    table = lake_mod.open_table(lake, name)
    column = partitions.BUCKET
    within = f"{column} >= '{digit}'" + (f" AND {column} < '{int(digit, 16) + 1:x}'" if digit != "f" else "")
    rows = scan(table, pl.col(partitions.BUCKET).str.starts_with(digit))
    if rows is None:
        return
    frame = partitions.with_bucket(name, lake_mod.to_frame(name, lake_mod.collect_rows(
        name, rows.select(lake_mod.columns(name))).to_arrow()), chars)
    write_deltalake(table, frame.to_arrow(), mode="overwrite", predicate=within,
                    commit_properties=CommitProperties(custom_metadata={"profile-etl": f"split to {chars} digits"}))


def surplus_files(table: DeltaTable) -> int:
    """Data files beyond one per partition: a partitioned table holds at least one per bucket, so
    the total alone would call a compacted big table due."""
    files = data_files(table)
    partition = f"partition.{partitions.BUCKET}"
    held = files[partition].n_unique() if partition in files.columns else min(files.height, 1)
    return files.height - held


def maintenance_due(lake: storage.Location, max_files: int) -> bool:
    """Does any table hold more than max_files surplus data files? Each run adds files to the tables
    it changes; a run can call `maintain` past this threshold."""
    return any(surplus_files(table) > max_files or outgrown(table)
               for name in TABLES if (table := lake_mod.open_table(lake, name)) is not None)


def describe_maintenance(done: list[Maintained]) -> str:
    lines = [(f"{m.table}: partitions split by {m.split} hex digits of the key, " if m.split else f"{m.table}: ")
             + f"compacted {m.compacted} files into {m.written}, vacuum removed {m.removed} "
             f"(replaced more than {retention.shown(m.retention)} ago), {m.files} data files now" for m in done]
    return "\n".join(lines)
