"""What a Delta table's log says of its data files: their sizes, rows and partitions."""
from __future__ import annotations

from urllib.parse import unquote, urlparse

import polars as pl
from deltalake import DeltaTable

from warehouse.partitions import BUCKET, bucket_lengths, buckets_of


def local_files(table: DeltaTable) -> list[str]:
    """The paths of a local table's current files as the file system names them: delta-rs gives
    them as URIs, its folder percent-encoded (a space as %20), which DuckDB and pyarrow would
    take literally."""
    encoded, decoded = urlparse(table.table_uri).path.rstrip("/") + "/", folder(table)
    return [decoded + uri[len(encoded):] if uri.startswith(encoded) else uri for uri in table.file_uris()]


def folder(table: DeltaTable) -> str:
    """A local table's folder as the file system names it, with a trailing slash."""
    return unquote(urlparse(table.table_uri).path).rstrip("/") + "/"


def scan(table: DeltaTable, partitions: pl.Expr | None = None) -> pl.LazyFrame | None:
    """The table's current files as one scan, only those of the partitions `partitions` picks (an
    expression over key_bucket), None when there are none. Local files go by their paths: polars'
    scan_delta takes delta-rs's percent-encoded URIs for paths (pola-rs/polars#20944), which fails
    under a folder whose name has a space or an accent."""
    if urlparse(table.table_uri).scheme != "file":
        return pl.scan_delta(table) if partitions is None else pl.scan_delta(table).filter(partitions)
    actions = data_files(table)
    if partitions is not None and not actions.is_empty():
        actions = actions.with_columns(pl.col(f"partition.{BUCKET}").alias(BUCKET)).filter(partitions)
    if actions.is_empty():
        return None
    return pl.scan_parquet([folder(table) + unquote(path) for path in actions["path"]], hive_partitioning=False)


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
