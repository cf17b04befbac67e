"""How the big mutable tables of the lake are partitioned: by `key_bucket`, the first hex digits of
their key (docs/lake.md). A table starts with two digits; warehouse/maintenance.py gives it one
more when its partitions outgrow their size, group by group, so a table may hold two lengths
for a while, and reads and merges name a key's partitions of both.
"""
from __future__ import annotations

import polars as pl
from deltalake import DeltaTable

from schemas.tables import MERGE_KEYS, REGISTRY, TABLES, polars_schema

# Delta rewrites every file holding a row a merge changes, so the big mutable tables are
# partitioned by the first hex digits of their key: a small run rewrites the partitions it touched.
PARTITIONED = {name: table.bucket_of for name, table in REGISTRY.items() if table.bucket_of}
BUCKET = "key_bucket"
FIRST_BUCKET_CHARS = 2


def bucket_description(name: str) -> str:
    return (f"Lake only, the table's partition: the first {FIRST_BUCKET_CHARS} hex digits of {PARTITIONED[name]} "
            "(one more once `maintain` has split grown partitions)")

# A partitioned table's log keeps file statistics of its key only: every column's statistics make
# each open of it about twice as slow.
STATS_COLUMNS = "delta.dataSkippingStatsColumns"


def stats_columns(name: str) -> str:
    return ",".join(MERGE_KEYS[name])


def bucket_lengths(table: DeltaTable | None) -> set[int]:
    """How many hex digits of the key name the table's partitions (two lengths while a split is under
    way: warehouse/maintenance.py splits a table group by group)."""
    if table is None or BUCKET not in table.metadata().partition_columns:
        return {FIRST_BUCKET_CHARS}
    values = pl.DataFrame(table.get_add_actions(flatten=True))[f"partition.{BUCKET}"]
    return set(values.str.len_chars().unique().to_list()) or {FIRST_BUCKET_CHARS}


def bucket_chars(table: DeltaTable | None) -> int:
    """The digits a new row's partition takes: the finest the table has."""
    return max(bucket_lengths(table))


def buckets_of(keys: pl.Series, lengths: set[int]) -> pl.Series:
    """The partitions that may hold the keys: their prefixes of every length the table uses."""
    return pl.concat([keys.str.slice(0, n) for n in sorted(lengths)]).unique()


def with_bucket(name: str, frame: pl.DataFrame, chars: int = FIRST_BUCKET_CHARS) -> pl.DataFrame:
    """The frame as the lake stores it: the model's columns, and the partition column if any (the
    first `chars` hex digits of the key: the table's bucket_chars)."""
    frame = frame.select(list(polars_schema(TABLES[name])))
    if name not in PARTITIONED:
        return frame
    return frame.with_columns(pl.col(PARTITIONED[name]).str.slice(0, chars).alias(BUCKET))
