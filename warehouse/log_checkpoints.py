"""Old log checkpoints removed once the table's retention has passed them (`maintain`).

A checkpoint (one every 10 commits, `delta.checkpointInterval`) lists the table's files and every
file it removed within its retention (tombstones, kept for vacuum), and Delta keeps the log's files,
checkpoints too, for `delta.logRetentionDuration` (30 days). A merge of a few dumps removes about 70
files of `papers`, so with a run every few minutes each checkpoint holds tens of thousands of
tombstones, and 30 days of them weigh more than the data: growth that `maintain --retention-days`
did not bound. A version older than the retention has lost its replaced files to vacuum, so a
checkpoint older than that serves no reader; the commits themselves (`DESCRIBE HISTORY`, what a
rollback looks up) stay for the log's retention, as Delta keeps them.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

from deltalake import DeltaTable

from store import storage
from warehouse import retention

CHECKPOINT = re.compile(r"(\d{20})\.checkpoint(\.[^/]+)?\.parquet")   # one file, or a part of a multi-part one


def checkpoint_files(log: storage.Location) -> list[tuple[int, storage.Location, float]]:
    """(version, file, modified at, in seconds) of each checkpoint file of a table's log."""
    if storage.is_url(log):
        listed = [(url, mtime_ns / 1e9) for url, _, mtime_ns in storage.list_files(log)]
    else:
        listed = [(Path(entry.path), entry.stat().st_mtime) for entry in os.scandir(log)] if log.is_dir() else []
    return [(int(found[1]), path, modified) for path, modified in listed
            if (found := CHECKPOINT.fullmatch(str(path).rsplit("/", 1)[-1]))]


def prune_checkpoints(lake: storage.Location, name: str, table: DeltaTable, keep: list[int]) -> int:
    """Remove the checkpoints written longer ago than the table's retention, but the newest of them
    (the versions after it load from it) and the newest at or before each version in `keep` (which
    vacuum keeps the files of); returns the checkpoint files removed."""
    found = checkpoint_files(lake / name / "_delta_log")
    cutoff = time.time() - retention.hours(table) * 3600
    old = {version for version, _, modified in found if modified < cutoff}
    if not old:
        return 0
    needed = {max(old)} | {max((v for v, _, _ in found if v <= kept), default=-1) for kept in keep}
    gone = [path for version, path, _ in found if version in old - needed]
    for path in gone:
        storage.remove_file(path)
    return len(gone)
