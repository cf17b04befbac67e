"""What a Delta table's log says of its data files: their sizes, rows and partitions."""
from __future__ import annotations

import polars as pl
from deltalake import DeltaTable

from warehouse.partitions import BUCKET, bucket_lengths, buckets_of


def data_files(table: DeltaTable) -> pl.DataFrame:
    """One row per current data file: path, size_bytes, num_records, partition.<column>, statistics."""
    return pl.DataFrame(table.get_add_actions(flatten=True))


def stored_size(table: DeltaTable) -> tuple[int, int]:
    """(bytes, rows) of the table's current files, from its log."""
    actions = data_files(table)
    return int(actions["size_bytes"].sum()), int(actions["num_records"].sum())


def partition_bytes(table: DeltaTable, keys: pl.Series) -> int:
    """Stored bytes of the table's partitions that hold the keys."""
    actions = data_files(table)
    if actions.is_empty():
        return 0
    buckets = buckets_of(keys, bucket_lengths(table)).implode()
    return int(actions.filter(pl.col(f"partition.{BUCKET}").is_in(buckets))["size_bytes"].sum())
