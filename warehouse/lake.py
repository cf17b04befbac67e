"""The Parquet lake: one folder per table under `<home>/lake/`, committed by a manifest.

A run writes its new files first, then replaces `_manifest.json` atomically: that replace is the
commit. Files the manifest doesn't name (superseded versions, leftovers of a crashed run, a run's
scratch folder `_work/`) are deleted after the commit and before the next run, so readers of the
manifest never see them.

Append tables gain files. The big mutable tables are split into BUCKETS by the first hex digit
of their key, and a bucket is a base file (`papers/b3-<run>.parquet`) followed, in manifest order,
by delta files (`papers/b3-<run>.delta.parquet`) holding the current rows of the keys later runs
changed: a key's rows are those of the last file of its bucket that holds it. So a small run writes
and loads rows in proportion to what it changed, not to the table (flows/merge.py decides when a
bucket's deltas are folded or the bucket rewritten whole). The small tables (profiles, runs) are
one file each. Read a table with read_table (or the warehouse), not by globbing its folder.

The lake may be an fsspec URL (`s3://bucket/lake`, see flows/storage.py). An object store has no
atomic rename, but a PUT is atomic: there the commit is the single PUT of `_manifest.json`, with the
same order (data files before it, unlisted files removed after it) and nothing to fsync.
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import polars as pl

from flows import storage
from flows.faults import checkpoint
from flows.settings import UserError
from schemas.tables import TABLES, empty_frame

MANIFEST = "_manifest.json"
APPEND_TABLES = ("dumps", "profile_snapshots", "listings", "rejects")
REPLACE_TABLES = ("papers", "authors", "paper_authors", "profiles", "runs")
BUCKET_KEYS = {"papers": "paper_id", "paper_authors": "paper_id", "authors": "author_id"}
BUCKETS = "0123456789abcdef"
DELTA_SUFFIX = ".delta.parquet"
WORK = "_work"


class LakeError(RuntimeError):
    """The lake can't be committed as asked (not an I/O error: retrying won't help)."""


def check_layout(lake: storage.Location) -> None:
    """Refuse a lake whose mutable tables are not in buckets (written before they were)."""
    manifest = read_manifest(lake)
    if any(bucket_of(rel) is None for name in BUCKET_KEYS for rel in manifest["tables"].get(name, [])):
        raise UserError(f"the lake at {lake} was written by an earlier version of profile-etl (its papers and "
                        "authors are not split into buckets): run `profile-etl rebuild --from-raw` once")


def read_manifest(lake: storage.Location) -> dict:
    path = lake / MANIFEST
    if not storage.exists(path):
        return {"version": 0, "tables": {name: [] for name in TABLES}}
    try:
        return json.loads(storage.read_bytes(path))
    except ValueError as exc:
        raise UserError(f"{path} is not a lake manifest ({exc}); it is written only by profile-etl: restore it "
                        "from a backup, or run `profile-etl rebuild --from-raw` to make the lake again") from None


def table_files(lake: storage.Location, name: str, manifest: dict | None = None) -> list[storage.Location]:
    manifest = manifest or read_manifest(lake)
    return [lake / rel for rel in manifest["tables"].get(name, [])]


def bucket_of(rel: str) -> str | None:
    """The bucket a bucketed table's file holds (its name is `b<bucket>-<run>.parquet`)."""
    name = Path(rel).name
    return name[1] if name.startswith("b") and name[2:3] == "-" else None


def bucket_files(name: str, bucket: str, manifest: dict) -> list[str]:
    """A bucket's files in commit order: its base, then its deltas."""
    return [rel for rel in manifest["tables"].get(name, []) if bucket_of(rel) == bucket]


def bucket_file(name: str, bucket: str, run_id: str, delta: bool) -> str:
    return f"{name}/b{bucket}-{run_id}{DELTA_SUFFIX if delta else '.parquet'}"


def is_delta(rel: str | storage.Location) -> bool:
    return str(rel).endswith(DELTA_SUFFIX)


def row_count(file: storage.Location) -> int:
    """From the Parquet footer alone."""
    import pyarrow.parquet as pq   # here: most processes never count rows, and the import costs 50 ms
    if not storage.is_url(file):
        return pq.read_metadata(file).num_rows
    with storage.open_read(file) as handle:
        return pq.ParquetFile(handle).metadata.num_rows


def read_files(name: str, files: list[storage.Location]) -> pl.DataFrame:
    if not files:
        return empty_frame(TABLES[name])
    return _read_parquet(files).select(empty_frame(TABLES[name]).columns)


def read_bucketed(name: str, files: list[storage.Location], keys: pl.Series | None = None) -> pl.DataFrame:
    """A bucketed table's current rows from its files in commit order: a key's rows are those of the
    last file that holds the key. With `keys`, only their rows are read (the key column is decoded
    first, so the rest of a file costs nothing)."""
    if not files:
        return empty_frame(TABLES[name])
    key = BUCKET_KEYS[name]
    parts = [_read_keys(file, key, keys).with_columns(_file=pl.lit(i, pl.Int32)) for i, file in enumerate(files)]
    rows = pl.concat(parts, how="vertical_relaxed")
    if len(files) > 1:
        rows = rows.filter(pl.col("_file") == pl.col("_file").max().over(key))
    return rows.select(empty_frame(TABLES[name]).columns)


def _read_keys(file: storage.Location, key: str, keys: pl.Series | None) -> pl.DataFrame:
    if keys is None:
        return _read_parquet([file])
    wanted = pl.col(key).is_in(keys.implode())
    if storage.is_url(file):
        return _read_parquet([file]).filter(wanted)
    return pl.scan_parquet(file).filter(wanted).collect()


def read_table(lake: storage.Location, name: str, manifest: dict | None = None) -> pl.DataFrame:
    files = table_files(lake, name, manifest)
    return read_bucketed(name, files) if name in BUCKET_KEYS else read_files(name, files)


def known_dump_ids(lake: storage.Location) -> set[str]:
    files = table_files(lake, "dumps")
    return set(_read_parquet(files, ["dump_id"])["dump_id"]) if files else set()


def _read_parquet(files: list[storage.Location], columns: list[str] | None = None) -> pl.DataFrame:
    """Remote files are read through fsspec, so polars uses the same credentials as everything else."""
    if not files or not storage.is_url(files[0]):
        return pl.read_parquet(files, columns=columns)
    handles = [storage.open_read(f) for f in files]
    try:
        return pl.read_parquet(handles, columns=columns)
    finally:
        for handle in handles:
            handle.close()


def _write_parquet(frame: pl.DataFrame, target: storage.Location, **options) -> None:
    """Made durable by the os.sync() before the manifest names it: one sync per run, not per file."""
    options = {"compression": "zstd", "statistics": True} | options
    if storage.is_url(target):  # the object appears when the handle closes; a failed write leaves
        # at most an object the manifest doesn't name, removed like any crashed run's leftovers
        with storage.filesystem(target).open(target, "wb") as handle:
            frame.write_parquet(handle, **options)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(target, **options)


def write_table_file(lake: storage.Location, rel: str, name: str, frame: pl.DataFrame) -> str:
    """A data file of table `name`, not yet part of the lake: the commit that lists it adds it."""
    _write_parquet(frame.select(empty_frame(TABLES[name]).columns), lake / rel)
    checkpoint(f"lake:file-written:{name}")
    return rel


def work_dir(lake: storage.Location, run_id: str) -> storage.Location:
    """A run's scratch folder in the lake (so cluster workers that share the lake share it)."""
    return lake / WORK / run_id


def write_scratch(frame: pl.DataFrame, target: storage.Location, row_group_size: int) -> None:
    """Intermediate data of a run (fast to write; the run deletes it)."""
    _write_parquet(frame, target, compression="lz4", row_group_size=row_group_size)


def scan_scratch(files: list[storage.Location]) -> pl.LazyFrame:
    """Local scratch files are scanned lazily, so filters skip row groups; remote ones are read."""
    if files and storage.is_url(files[0]):
        return _read_parquet(files).lazy()
    return pl.scan_parquet(files)


def split_buckets(name: str, frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """A bucketed table's rows by bucket (only the buckets that have rows)."""
    keyed = frame.with_columns(_bucket=pl.col(BUCKET_KEYS[name]).str.slice(0, 1))
    return {bucket: part.drop("_bucket") for (bucket,), part in keyed.partition_by("_bucket", as_dict=True).items()}


def _write_manifest(lake: storage.Location, manifest: dict) -> None:
    if storage.is_url(lake):  # one PUT, atomic: the commit
        checkpoint("lake:manifest-written")
        storage.write_bytes(lake / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
        return
    tmp = lake / f".{MANIFEST}.tmp"
    with open(tmp, "w") as handle:
        json.dump(manifest, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    checkpoint("lake:manifest-written")
    os.replace(tmp, lake / MANIFEST)
    fsync_dir(lake)


def fsync_dir(folder: Path) -> None:
    """Make a rename in folder durable before anything it supersedes is deleted."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(lake: Path, run_id: str, tables: dict[str, pl.DataFrame], rewrite: frozenset[str] = frozenset(),
           staged: dict[str, list[str]] | None = None, replaced: dict[str, list[str]] | None = None,
           new_lake: bool = False) -> dict:
    """Write the run's frames and commit them with the files already staged (written by workers or
    bucket merges): a table gains its staged files, which supersede its `replaced` ones (a bucket's
    new base replaces its files, a folded delta its deltas); a frame given for a replace table (or
    for an append table named in `rewrite`) is the whole table. If anything fails before the
    manifest is replaced, the files written so far are removed. The manifest's `lake_id` names the
    lake's lineage: it is new when a lake is created, or (`new_lake`) rebuilt from raw/, so a
    warehouse file loaded from another lineage knows to start over."""
    storage.makedirs(lake)
    manifest = read_manifest(lake)
    if manifest.get("run_id") == run_id:  # a retry after the commit went through
        remove_unlisted(lake, manifest)
        return manifest
    try:
        manifest = _write_version(lake, manifest, run_id, tables, rewrite, staged or {}, replaced or {}, new_lake)
    except Exception:
        remove_unlisted(lake)
        raise
    checkpoint("lake:committed")
    remove_unlisted(lake, manifest)
    checkpoint("lake:stale-removed")
    return manifest


def _frame_files(lake: Path, run_id: str, name: str, frame: pl.DataFrame) -> list[str]:
    if name in BUCKET_KEYS:
        return [write_table_file(lake, bucket_file(name, bucket, run_id, delta=False), name, part)
                for bucket, part in sorted(split_buckets(name, frame).items())]
    return [write_table_file(lake, f"{name}/{run_id}.parquet", name, frame)]


def _next_files(files: list[str], new: list[str], whole: bool, replaced: frozenset[str] = frozenset()) -> list[str]:
    """New files go last: a bucketed table's reads rely on that order."""
    return new if whole else [rel for rel in files if rel not in replaced] + new


def with_staged(files: dict[str, list[str]], staged: dict[str, list[str]],
                replaced: dict[str, list[str]]) -> dict[str, list[str]]:
    """The file lists of the staged tables once a commit adds their staged files (which supersede
    their `replaced` ones)."""
    return {name: _next_files(files.get(name, []), rels, whole=False, replaced=frozenset(replaced.get(name, ())))
            for name, rels in staged.items()}


def _write_version(lake: Path, manifest: dict, run_id: str, tables: dict[str, pl.DataFrame],
                   rewrite: frozenset[str], staged: dict[str, list[str]], replaced: dict[str, list[str]],
                   new_lake: bool) -> dict:
    files = {name: list(manifest["tables"].get(name, [])) for name in TABLES}
    for name, frame in tables.items():
        appended = name in APPEND_TABLES and name not in rewrite
        if appended and frame.is_empty():
            continue
        files[name] = _next_files(files[name], _frame_files(lake, run_id, name, frame), whole=not appended)
    files |= with_staged(files, staged, replaced)
    if missing := [rel for rels in staged.values() for rel in rels if not storage.exists(lake / rel)]:
        # e.g. a retried commit after the failed try removed them: never name a file that isn't there
        raise LakeError(f"{len(missing)} files this run wrote are gone (first: {missing[0]}); run again")
    os.sync()  # the files named below, raw/ copies and their meta files are on disk before the manifest names them
    lake_id = uuid.uuid4().hex if new_lake or "lake_id" not in manifest else manifest["lake_id"]
    manifest = {"version": manifest["version"] + 1, "run_id": run_id, "tables": files, "lake_id": lake_id}
    _write_manifest(lake, manifest)
    return manifest


def remove_unlisted(lake: storage.Location, manifest: dict | None = None) -> list[storage.Location]:
    """Delete data files the manifest doesn't name: leftovers of superseded versions or crashed runs."""
    manifest = manifest or read_manifest(lake)
    listed = {without_scheme(lake / rel) for rels in manifest["tables"].values() for rel in rels}
    stale = [p for p in _data_files(lake) if without_scheme(p) not in listed]
    stale += [] if storage.is_url(lake) else list(lake.glob(f".{MANIFEST}.tmp"))
    for path in stale:
        storage.remove(path)
    storage.remove_tree(lake / WORK)
    return stale


def without_scheme(location: storage.Location | str) -> str:
    """A file's name without its URL scheme (a listing may say s3:// where the lake says s3a://)."""
    return str(location).split("://", 1)[-1]


def _data_files(lake: storage.Location) -> list[storage.Location]:
    """The `<table>/<file>.parquet` files of the lake, listed or not."""
    if not storage.is_url(lake):
        return list(lake.glob("*/*.parquet"))
    prefix = without_scheme(lake).rstrip("/") + "/"
    return [url for url, _, _ in storage.list_files(lake)
            if url.endswith(".parquet") and without_scheme(url).removeprefix(prefix).count("/") == 1]
