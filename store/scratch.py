"""A run's scratch: the batches' rows, written where the run's commits (and cluster workers that
share the lake) read them, under `<lake>/_work/<run id>/`; recovery and the run's end remove it."""
from __future__ import annotations

import polars as pl

from store import storage

WORK = "_work"   # <lake>/_work/: runs' scratch, never a table


def work_dir(lake: storage.Location, run_id: str) -> storage.Location:
    """A run's scratch folder in the lake (so cluster workers that share the lake share it)."""
    return lake / WORK / run_id


def write_scratch(frame: pl.DataFrame, target: storage.Location, row_group_size: int | None = None) -> None:
    """Intermediate data of a run (fast to write; the run deletes it)."""
    options = {"compression": "lz4", "row_group_size": row_group_size}
    if storage.is_url(target):
        with storage.filesystem(target).open(target, "wb") as handle:
            frame.write_parquet(handle, **options)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(target, **options)


def read_scratch(files: list[storage.Location], columns: list[str] | None = None,
                 where: pl.Expr | None = None) -> pl.DataFrame:
    """Scratch rows (their `columns`, those `where` holds: row groups outside it are skipped).
    Remote scratch is read through fsspec, with the same credentials as everything else."""
    if not files:
        raise ValueError("no scratch files to read")
    if not storage.is_url(files[0]):
        scan = pl.scan_parquet(files)
        scan = scan if where is None else scan.filter(where)
        return (scan if columns is None else scan.select(columns)).collect(engine="streaming")   # filtered as it streams
    handles = [storage.open_read(f) for f in files]
    try:
        frame = pl.read_parquet(handles)
    finally:
        for handle in handles:
            handle.close()
    frame = frame if where is None else frame.filter(where)
    return frame if columns is None else frame.select(columns)
