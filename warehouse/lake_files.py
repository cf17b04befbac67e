"""What a Delta table's log says of its data files: their sizes, rows and partitions."""
from __future__ import annotations

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

from warehouse.partitions import BUCKET, bucket_lengths, buckets_of


def data_files(table: DeltaTable) -> pa.Table:
    return pa.table(table.get_add_actions(flatten=True))


def stored_size(table: DeltaTable) -> tuple[int, int]:
    """(bytes, rows) of the table's current files, from its log."""
    actions = pa.table(table.get_add_actions(flatten=True))
    return pc.sum(actions["size_bytes"]).as_py() or 0, pc.sum(actions["num_records"]).as_py() or 0


def partition_bytes(table: DeltaTable, keys: pl.Series) -> int:
    """Stored bytes of the table's partitions that hold the keys."""
    actions = pl.from_arrow(pa.table(table.get_add_actions(flatten=True)))
    if actions.is_empty():
        return 0
    buckets = buckets_of(keys, bucket_lengths(table)).implode()
    return int(actions.filter(pl.col(f"partition.{BUCKET}").is_in(buckets))["size_bytes"].sum())
